"""The one-block GEMM search (euclidean): candidates from matrix products with a
proven error bound, then ranked by exact distances (the argument below), and
``BruteIndex``, the centred and scaled training rows it and the symmetric search
read.

NumPy and Numba only (BLAS through NumPy's matmul)."""

import threading
from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from .._config import jit, jit_inline, jit_parallel, setting
from ._distances import (EUCLIDEAN, _KernelPair, _MAX_TASKS, _heap_arrays, _heap_offer,
                         _heap_reset, _heap_sort, _rdist, _write_row)


# ---------------------------------------------------------------------------
# brute force, GEMM candidates (euclidean)
#
# For a block of queries, G = Qc @ Yc.T gives A_ij = |q_i|^2 + |y_j|^2 - 2 G_ij, an
# approximation of the squared distance D_ij with |A_ij - D_ij| <= m_ij, where
# m_ij = c (|q_i|^2 + |y_j|^2) + c_abs bounds every rounding (the products, in
# float32 or float64, the centering, and D's own). With T_i the K-th smallest
# A_ij + m_ij, every true neighbour has A_ij - m_ij <= D_ij <= D_(K) <= T_i: the rows
# passing that test are candidates, whose exact rdist is recomputed by ``_rdist``
# from the raw rows and ranked. The constant |q_i|^2 is left out of both sides.


# Written out beside _distances._sift_down: values only, without the (rdist, index)
# pairs and the index tie-break that _sift_down orders by.
@jit_inline
def _sift_value(heap, size, value):
    """Max-heap of values only: put ``value`` at the root, restore, return the root."""
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and heap[right] > heap[child]:
            child = right
        if heap[child] > value:
            heap[pos] = heap[child]
            pos = child
        else:
            break
    heap[pos] = value
    return heap[0]


#: Products scanned per chunk by the GEMM brute force's filter.
_SCAN_CHUNK = np.uint64(32)


@jit
def _gemm_select(G, row0, Q, exclude_self, Y, up_norms, lo_norms, q_norms, c, c_abs, K,
                 out_dist, out_ind):
    """Neighbours of queries ``row0 + b`` for the rows b of the block ``G`` (float32 or
    float64; ``q_norms`` indexed by block row). Returns the number of exact distances
    computed (about K per row when the bound is tight).

    Per row, with U_j and L_j the upper and lower bounds of the squared distance to
    training row j (both without the query's own norm):

    1. tau = the r-th smallest U_j over every 16th row: an estimate from above of
       T, the K-th smallest U_j, expected to have ~3K rows below it;
    2. one pass keeps the rows with L_j <= tau + slack (a loop simple enough to
       run at streaming speed): every row with U_j <= tau is among them;
    3. if at least K kept rows have U_j < tau, T is the K-th smallest U_j among the
       kept rows; otherwise tau grows (to infinity at worst) and 2 is repeated;
    4. rows with L_j <= T + slack are the candidates; their exact distances decide.
    """
    heaps, heaps_ind, heap_dist, heap_ind = _heap_arrays(K)
    n_train = Y.shape[0]
    stride = 16 if n_train >= 32 * K else 1
    r_first = K // 8 + 2 if stride > 1 else K
    sample = np.empty(max(r_first * 64, K), dtype=np.float64)
    upper = np.empty(K, dtype=np.float64)
    kept = np.empty(n_train, dtype=np.int64)
    w = np.empty(0, dtype=np.float64)
    n_exact = 0
    n_rows = np.uint64(n_train)
    n_chunked = n_rows - n_rows % _SCAN_CHUNK
    for b in range(G.shape[0]):
        ub = np.uint64(b)
        t = row0 + b
        slack = 2.0 * c * q_norms[b] + 2.0 * c_abs
        r = r_first
        while True:
            tau = np.inf
            if stride > 1 and r <= min(n_train // stride, sample.shape[0]):
                for s in range(r):
                    sample[s] = np.inf
                for j in range(0, n_train, stride):
                    u = up_norms[j] - 2.0 * np.float64(G[b, j])
                    if u < tau:
                        tau = _sift_value(sample, r, u)
            limit = tau + slack
            n_kept = 0
            # by chunks: a chunk's count vectorises, and most chunks keep nothing
            for j0 in range(np.uint64(0), n_chunked, _SCAN_CHUNK):
                hits = 0
                for e in range(_SCAN_CHUNK):
                    hits += lo_norms[j0 + e] - 2.0 * np.float64(G[ub, j0 + e]) <= limit
                if hits > 0:
                    for j in range(j0, j0 + _SCAN_CHUNK):
                        if lo_norms[j] - 2.0 * np.float64(G[ub, j]) <= limit:
                            kept[n_kept] = j
                            n_kept += 1
            for j in range(n_chunked, n_rows):
                if lo_norms[j] - 2.0 * np.float64(G[ub, j]) <= limit:
                    kept[n_kept] = j
                    n_kept += 1
            for s in range(K):
                upper[s] = np.inf
            top = np.inf
            below = 0
            for s in range(n_kept):
                j = kept[s]
                u = up_norms[j] - 2.0 * np.float64(G[b, j])
                below += u < tau
                if u < top:
                    top = _sift_value(upper, K, u)
            if below >= K or tau == np.inf:
                break
            r *= 4
        limit = top + slack
        _heap_reset(heap_dist, heap_ind, K)
        for s in range(n_kept):
            j = kept[s]
            if lo_norms[j] - 2.0 * np.float64(G[b, j]) <= limit:
                n_exact += 1
                _heap_offer(heap_dist, heap_ind, K, _rdist(Q, t, Y, j, EUCLIDEAN, 2.0, w),
                            j)
        _heap_sort(heap_dist, heap_ind, K)
        _write_row(heaps, heaps_ind, 0, K, t if exclude_self else -1,
                   out_dist, out_ind, t, EUCLIDEAN, 2.0)
    return n_exact


@jit_parallel
def _gemm_select_parallel(G, row0, Q, exclude_self, Y, up_norms, lo_norms, q_norms, c,
                          c_abs, K, out_dist, out_ind):
    """``_gemm_select`` over tasks of block rows on Numba's threads."""
    n = G.shape[0]
    n_tasks = min(n, _MAX_TASKS)
    counts = np.zeros(n_tasks, dtype=np.int64)
    for s in prange(n_tasks):
        lo = s * n // n_tasks
        hi = (s + 1) * n // n_tasks
        counts[s] = _gemm_select(G[lo:hi], row0 + lo, Q, exclude_self, Y, up_norms,
                                 lo_norms, q_norms[lo:hi], c, c_abs, K, out_dist, out_ind)
    return counts.sum()


#: Rows with a coordinate beyond this bound skip the matrix products: their squared
#: distances could overflow, and the candidates' exact distances must stay finite
#: for the bound on the products' error to hold.
_GEMM_MAX_ABS = 2.0**500


#: Queries whose scaled coordinates exceed this use float64 products (float32 ones
#: could overflow); training rows are within 1 once scaled.
_FLOAT32_MAX_SCALED = 2.0**40


@jit
def _max_abs(A):
    """max |A| of a 2-D array (NaN-free: validated input), without temporaries."""
    out = 0.0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            out = max(out, abs(A[i, j]))
    return out


def _gemm_safe_max(max_abs, n_features):
    return max_abs * 2.0 * np.sqrt(n_features) <= _GEMM_MAX_ABS


def _gemm_safe(A, n_features):
    return _gemm_safe_max(_max_abs(A), n_features)


class BruteIndex(NamedTuple):
    """Training rows prepared for the GEMM brute force (euclidean only).

    ``centered = (X - mean) * scale`` (float64), ``centered32`` the same in float32
    and ``sq_norms`` its squared row norms. Centering and a power-of-two scale to max
    |value| ~ 1 keep the matrix products accurate; the products only pick
    candidates, whose exact distances are recomputed from the raw rows. ``bounds``
    maps each product dtype to (c, c_abs, upper norms, lower norms) of the error
    bound below.
    """

    mean: np.ndarray
    scale: float
    centered: np.ndarray
    centered32: np.ndarray
    sq_norms: np.ndarray
    bounds: dict


def _index_sums(X):
    """(column sums, max |X|) of the rows, over row chunks (threads under
    ``jit_parallel``)."""
    n, d = X.shape
    n_tasks = max(1, min(n, _MAX_TASKS))
    sums = np.zeros((n_tasks, d))
    highs = np.zeros(n_tasks)
    for t in prange(n_tasks):
        high = 0.0
        for i in range(t * n // n_tasks, (t + 1) * n // n_tasks):
            for f in range(d):
                x = X[i, f]
                sums[t, f] += x
                high = max(high, abs(x))
        highs[t] = high
    total = np.zeros(d)
    for t in range(n_tasks):
        for f in range(d):
            total[f] += sums[t, f]
    return total, highs.max()


def _index_center(X, mean, out):
    """``out = X - mean``; returns max |out|."""
    n, d = X.shape
    n_tasks = max(1, min(n, _MAX_TASKS))
    highs = np.zeros(n_tasks)
    for t in prange(n_tasks):
        high = 0.0
        for i in range(t * n // n_tasks, (t + 1) * n // n_tasks):
            for f in range(d):
                c = X[i, f] - mean[f]
                out[i, f] = c
                high = max(high, abs(c))
        highs[t] = high
    return highs.max()


def _index_scale(C, scale, C32, sq_norms):
    """``C *= scale`` (a power of two: exact), its float32 copy and squared row
    norms (in feature order)."""
    n, d = C.shape
    for i in prange(n):
        acc = 0.0
        for f in range(d):
            c = C[i, f] * scale
            C[i, f] = c
            C32[i, f] = np.float32(c)
            acc += c * c
        sq_norms[i] = acc


_INDEX_SUMS = _KernelPair(jit_parallel(_index_sums), jit(_index_sums))
_INDEX_CENTER = _KernelPair(jit_parallel(_index_center), jit(_index_center))
_INDEX_SCALE = _KernelPair(jit_parallel(_index_scale), jit(_index_scale))


def build_brute_index(X):
    """Prepare the training rows for the GEMM brute force, or None when their
    magnitude does not allow it (then the direct brute force runs). Three passes
    over the rows, on Numba's threads where more than one is set (the caller's
    ``num_threads``)."""
    n_features = X.shape[1]
    if X.size == 0:
        return None
    X = np.ascontiguousarray(X, dtype=np.float64)
    par = numba.get_num_threads() > 1 and X.shape[0] >= 1024
    pick = (lambda pair: pair.parallel) if par else (lambda pair: pair.serial)
    sums, x_max_abs = pick(_INDEX_SUMS)(X)
    if not _gemm_safe_max(x_max_abs, n_features):
        return None
    mean = sums / X.shape[0]
    centered = np.empty_like(X)
    max_abs = float(pick(_INDEX_CENTER)(X, mean, centered))
    # A power of two: scaling is exact and makes max |value| about 1.
    scale = float(np.ldexp(1.0, -int(np.frexp(max_abs)[1]))) if max_abs > 0 else 1.0
    centered32 = np.empty(X.shape, dtype=np.float32)
    sq_norms = np.empty(X.shape[0])
    pick(_INDEX_SCALE)(centered, scale, centered32, sq_norms)
    bounds = {}
    for dtype in ("float32", "float64", "bfloat16"):
        c, c_abs = _gemm_margins(n_features, scale,
                                 dtype if dtype == "bfloat16" else np.dtype(dtype))
        bounds[dtype] = (c, c_abs, sq_norms * (1.0 + c) + c_abs, sq_norms * (1.0 - c))
    return BruteIndex(mean, scale, centered, centered32, sq_norms, bounds)


def _gemm_margins(n_features, scale, dtype):
    """(c, c_abs) of the error bound m_ij = c (|q|^2 + |y|^2) + c_abs, in the scaled
    units of the products, for products in ``dtype`` (or ``"bfloat16"``: float32
    sums of the rows rounded to bfloat16); generous (about 4x the
    rounding bound). ``c_abs`` covers underflow: of the products, and of the exact
    distances, whose absolute error of 2**-1074 per operation grows by scale**2 in
    scaled units (for data of tiny magnitude every row becomes a candidate, as
    every distance may then be a tie at 0)."""
    exponent = -1074 + 2 * int(np.frexp(scale)[1]) + int(np.ceil(np.log2(4 * n_features)))
    if isinstance(dtype, str) and dtype == "bfloat16":
        # float32 rows rounded to bfloat16 (AMX tiles, ``_simd.gemm``), float32
        # sums: each input off by e <= 2**-9 + 2**-24 (two roundings), each product
        # by (2 e + e**2) |q_f y_f|, the sum of |q_f y_f| at most (|q|^2 + |y|^2) / 2;
        # twice that, and the float32 sums' share as for float32 products. Tiny
        # values: the tiles flush to zero below 2**-126, within c_abs's 2**-120.
        u = float(np.finfo(np.float32).eps / 2)
        e = 2.0**-9 + u * (1.0 + 2.0**-9)
        dtype = np.float32
        c_in = 2.0 * e + e * e
    else:
        c_in = 0.0
    u = np.finfo(dtype).eps / 2
    tiny = 2.0**-120 if dtype == np.float32 else 2.0**-1000
    c_abs = float(n_features) * tiny
    c_abs += np.inf if exponent > 1000 else float(np.ldexp(1.0, exponent))
    return c_in + 8.0 * (n_features + 8) * float(u), c_abs


def _threadpool_limits():
    """threadpoolctl's ``threadpool_limits`` when installed, else None.

    With it, the brute force runs its blocks on its own threads, each with a
    one-thread BLAS: OpenBLAS threads left spinning after each product otherwise
    steal the cores from the scans (measured: 1.4x slower on two cores).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits


class _GemmSearch:
    """One brute-force search: blocks of queries, a product and a scan per block."""

    def __init__(self, Y, Q, K, index, exclude_self, out_dist, out_ind, Q_scaled=None,
                 q_max_abs=0.0):
        self.Y, self.Q, self.K, self.index = Y, Q, K, index
        self.exclude_self = exclude_self
        self.query_is_train = Q is Y
        self.Q_scaled = index.centered if self.query_is_train else Q_scaled
        self.out_dist, self.out_ind = out_dist, out_ind
        n_train = Y.shape[0]
        # float32 products (twice as fast) until the candidates show that the data
        # need float64's tighter bound (then every later block uses float64); float64
        # from the start for queries far outside the training rows' range
        self.dtype = np.float32 if q_max_abs <= _FLOAT32_MAX_SCALED else np.float64
        # the gemm_block setting: elements of products one thread holds at once
        self.block = max(1, min(Q.shape[0], setting("gemm_block") // max(n_train, 1)))
        self._buffers = threading.local()  # one block of products per thread

    def _products(self, rows, dtype):
        """A (rows, n_train) array of ``dtype`` owned by the calling thread."""
        name = dtype.__name__
        buf = getattr(self._buffers, name, None)
        if buf is None:
            buf = np.empty((self.block, self.Y.shape[0]), dtype=dtype)
            setattr(self._buffers, name, buf)
        return buf[:rows]

    def starts(self):
        return range(0, self.Q.shape[0], self.block)

    def run_block(self, start, parallel):
        index, K = self.index, self.K
        dtype = self.dtype
        stop = min(start + self.block, self.Q.shape[0])
        Qc64 = self.Q_scaled[start:stop]
        if self.query_is_train:
            q_norms = index.sq_norms[start:stop]
        else:
            q_norms = np.einsum("ij,ij->i", Qc64, Qc64)
        G = self._products(stop - start, dtype)
        if dtype == np.float32:
            Qc = index.centered32[start:stop] if self.query_is_train else Qc64.astype(
                np.float32)
            np.dot(Qc, index.centered32.T, out=G)
        else:
            np.dot(Qc64, index.centered.T, out=G)
        c, c_abs, up_norms, lo_norms = index.bounds[dtype.__name__]
        kernel = _gemm_select_parallel if parallel else _gemm_select
        n_exact = kernel(G, start, self.Q, self.exclude_self, self.Y, up_norms, lo_norms,
                         np.ascontiguousarray(q_norms), c, c_abs, K, self.out_dist,
                         self.out_ind)
        if dtype == np.float32 and n_exact > (stop - start) * (4 * K + 64):
            self.dtype = np.float64

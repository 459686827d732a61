"""Exact k-nearest-neighbour search in Numba: a flat kd-tree and a blocked brute force.

This module imports NumPy and Numba only and takes plain arrays and scalars.

Which neighbours
----------------
The ``K`` neighbours of a query are the ``K`` smallest ``(rdist, index)`` pairs in
lexicographic order: a tie in distance goes to the smaller training index. ``rdist``
is the *reduced* distance (the sum of squares for euclidean, ``sum w |d| ** p`` for
Minkowski, ...), always computed by ``_rdist`` summing over features in order, so
the kd-tree, both brute forces and the reference twin agree to the last bit on the
neighbour sets, their order and their distances.

``exclude_self`` reproduces scikit-learn's rule for ``kneighbors(X=None)``: ``K``
(= ``n_neighbors + 1``) neighbours are searched, then the query's own index is
dropped, or, when ``K`` duplicates with smaller indices crowd it out, the first one.

Layout of a kd-tree (scikit-learn's: a complete binary tree in an array)
-------------------------------------------------------------------------
- ``data``       (n, d) float64, the training rows in tree order
- ``idx``        (n,) int64, ``data[t] == X[idx[t]]``
- ``node_start``, ``node_end`` (n_nodes,) int64, node ``i`` holds ``data[start:end]``
- ``bound_lo``, ``bound_hi`` (n_nodes, d) float64, the node's bounding box
Node ``i`` has children ``2i + 1`` and ``2i + 2``; nodes ``>= n_nodes // 2`` are
leaves, each holding at most ``leaf_size`` rows. Splits are at the median of the
widest feature.
"""

from typing import NamedTuple

import numpy as np
from numba import prange

from ._config import jit, jit_inline, jit_parallel

__all__ = [
    "EUCLIDEAN",
    "MANHATTAN",
    "CHEBYSHEV",
    "MINKOWSKI",
    "PRECOMPUTED",
    "KDTree",
    "BruteIndex",
    "build_kdtree",
    "build_brute_index",
    "kneighbors_kdtree",
    "kneighbors_brute",
    "kneighbors_precomputed",
    "rdist_to_dist",
]

#: Metric codes. ``rdist`` -> distance: sqrt for EUCLIDEAN, ``** (1 / p)`` for
#: MINKOWSKI, the identity otherwise.
EUCLIDEAN = 0
MANHATTAN = 1
CHEBYSHEV = 2
MINKOWSKI = 3
PRECOMPUTED = 4

#: Index of an empty heap slot: larger than any training index, so a real
#: neighbour at the same (infinite) distance still wins the tie.
_NO_INDEX = np.iinfo(np.int64).max
#: Queries per task handed to a thread (heaps are allocated once per task).
_MAX_TASKS = 256
#: Elements of the distance block held at once by the GEMM brute force (32 MiB
#: of float64): never an n x n matrix.
_BLOCK_ELEMENTS = 1 << 22


class KDTree(NamedTuple):
    """A kd-tree as flat arrays (see the module docstring)."""

    data: np.ndarray
    idx: np.ndarray
    node_start: np.ndarray
    node_end: np.ndarray
    bound_lo: np.ndarray
    bound_hi: np.ndarray


class BruteIndex(NamedTuple):
    """Training rows prepared for the GEMM brute force (euclidean only).

    ``centered = (X - mean) * scale`` in ``centered.dtype`` (float64), ``sq_norms`` its
    squared row norms. Centering and a power-of-two scale to max |value| ~ 1 keep the
    matrix products accurate; they only pick candidates, whose exact distances are
    recomputed from the raw rows.
    """

    mean: np.ndarray
    scale: float
    centered: np.ndarray
    sq_norms: np.ndarray


# ---------------------------------------------------------------------------
# distances


@jit_inline
def _rdist(A, i, B, j, metric, p, w):
    """Reduced distance between rows ``A[i]`` and ``B[j]``, summed in feature order."""
    n_features = A.shape[1]
    acc = 0.0
    if metric == EUCLIDEAN:
        for f in range(n_features):
            t = A[i, f] - B[j, f]
            acc += t * t
    elif metric == MANHATTAN:
        for f in range(n_features):
            acc += abs(A[i, f] - B[j, f])
    elif metric == CHEBYSHEV:
        for f in range(n_features):
            t = abs(A[i, f] - B[j, f])
            if t > acc:
                acc = t
    else:
        for f in range(n_features):
            acc += w[f] * abs(A[i, f] - B[j, f]) ** p
    return acc


@jit_inline
def _rdist_bounded(A, i, B, j, metric, p, w, bound):
    """``_rdist``, or any value above ``bound`` as soon as the partial sum exceeds it.

    Exact: a floating-point sum of non-negative terms never decreases, and when it
    does not stop early it adds the same terms in the same order as ``_rdist``.
    """
    n_features = A.shape[1]
    acc = 0.0
    if metric == EUCLIDEAN:
        for f in range(n_features):
            t = A[i, f] - B[j, f]
            acc += t * t
            if acc > bound:
                return acc
    elif metric == MANHATTAN:
        for f in range(n_features):
            acc += abs(A[i, f] - B[j, f])
            if acc > bound:
                return acc
    elif metric == CHEBYSHEV:
        for f in range(n_features):
            t = abs(A[i, f] - B[j, f])
            if t > acc:
                acc = t
                if acc > bound:
                    return acc
    else:
        for f in range(n_features):
            acc += w[f] * abs(A[i, f] - B[j, f]) ** p
            if acc > bound:
                return acc
    return acc


@jit_inline
def _to_dist(r, metric, p):
    if metric == EUCLIDEAN:
        return np.sqrt(r)
    if metric == MINKOWSKI:
        return r ** (1.0 / p)
    return r


@jit
def rdist_to_dist(rdist, metric, p):
    """Distances from reduced distances (an array of any shape), as the kernels do."""
    out = np.empty_like(rdist)
    flat_in = rdist.ravel()
    flat_out = out.ravel()
    for t in range(flat_in.shape[0]):
        flat_out[t] = _to_dist(flat_in[t], metric, p)
    return out


@jit_inline
def _min_rdist_box(Q, qi, bound_lo, bound_hi, node, metric, p, w):
    """Reduced distance from ``Q[qi]`` to the node's box: never above ``_rdist`` to a
    row inside it (rounding is monotone), so pruning on it is exact."""
    n_features = Q.shape[1]
    acc = 0.0
    for f in range(n_features):
        q = Q[qi, f]
        g = max(bound_lo[node, f] - q, q - bound_hi[node, f])
        if g > 0.0:
            if metric == EUCLIDEAN:
                acc += g * g
            elif metric == MANHATTAN:
                acc += g
            elif metric == CHEBYSHEV:
                if g > acc:
                    acc = g
            else:
                acc += w[f] * g ** p
    return acc


# ---------------------------------------------------------------------------
# a bounded max-heap of (rdist, index), largest pair at the root


@jit_inline
def _sift_down(heap_dist, heap_ind, size, dist, ind):
    """Put (dist, ind) at the root of the heap ``[0, size)`` and restore the order."""
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and (
            heap_dist[right] > heap_dist[child]
            or (heap_dist[right] == heap_dist[child] and heap_ind[right] > heap_ind[child])
        ):
            child = right
        if heap_dist[child] > dist or (heap_dist[child] == dist and heap_ind[child] > ind):
            heap_dist[pos] = heap_dist[child]
            heap_ind[pos] = heap_ind[child]
            pos = child
        else:
            break
    heap_dist[pos] = dist
    heap_ind[pos] = ind


@jit_inline
def _heap_reset(heap_dist, heap_ind, K):
    for t in range(K):
        heap_dist[t] = np.inf
        heap_ind[t] = _NO_INDEX


@jit_inline
def _heap_offer(heap_dist, heap_ind, K, dist, ind):
    if dist < heap_dist[0] or (dist == heap_dist[0] and ind < heap_ind[0]):
        _sift_down(heap_dist, heap_ind, K, dist, ind)


@jit_inline
def _heap_sort(heap_dist, heap_ind, K):
    """Sort the heap in place into ascending (rdist, index) order."""
    for end in range(K - 1, 0, -1):
        d = heap_dist[end]
        i = heap_ind[end]
        heap_dist[end] = heap_dist[0]
        heap_ind[end] = heap_ind[0]
        _sift_down(heap_dist, heap_ind, end, d, i)


@jit_inline
def _write_row(heap_dist, heap_ind, K, self_index, out_dist, out_ind, row, metric, p):
    """Write the sorted heap to ``out[row]``; with ``self_index >= 0`` drop that index,
    or the first neighbour when it is absent (scikit-learn's ``kneighbors(None)``)."""
    skip = -1
    if self_index >= 0:
        skip = 0
        for t in range(K):
            if heap_ind[t] == self_index:
                skip = t
                break
    c = 0
    for t in range(K):
        if t == skip:
            continue
        out_ind[row, c] = heap_ind[t]
        out_dist[row, c] = _to_dist(heap_dist[t], metric, p)
        c += 1


# ---------------------------------------------------------------------------
# kd-tree


def kdtree_n_levels(n_samples, leaf_size):
    """Levels of the complete tree whose leaves hold at most ``leaf_size`` rows (and
    more than ``leaf_size // 2 - 1``: median splits halve a node to within one row)."""
    n_levels = 1
    while n_samples > leaf_size * (1 << (n_levels - 1)):
        n_levels += 1
    return n_levels


@jit
def _select(X, idx, start, end, kth, dim):
    """Reorder ``idx[start:end]`` so that ``X[idx[kth], dim]`` is in sorted position
    (Hoare partition around a median-of-three; equal keys split evenly)."""
    lo = start
    hi = end - 1
    while hi > lo:
        mid = (lo + hi) >> 1
        a = X[idx[lo], dim]
        b = X[idx[mid], dim]
        c = X[idx[hi], dim]
        if a > b:
            a, b = b, a
        if b > c:
            b = c
        pivot = a if a > b else b
        i = lo
        j = hi
        while i <= j:
            while X[idx[i], dim] < pivot:
                i += 1
            while X[idx[j], dim] > pivot:
                j -= 1
            if i <= j:
                tmp = idx[i]
                idx[i] = idx[j]
                idx[j] = tmp
                i += 1
                j -= 1
        if kth <= j:
            hi = j
        elif kth >= i:
            lo = i
        else:
            return


@jit
def _node_bounds(X, idx, start, end, node, bound_lo, bound_hi):
    n_features = X.shape[1]
    for f in range(n_features):
        bound_lo[node, f] = np.inf
        bound_hi[node, f] = -np.inf
    for t in range(start, end):
        i = idx[t]
        for f in range(n_features):
            v = X[i, f]
            if v < bound_lo[node, f]:
                bound_lo[node, f] = v
            if v > bound_hi[node, f]:
                bound_hi[node, f] = v


@jit_parallel
def _build_kdtree(X, idx, n_levels, node_start, node_end, bound_lo, bound_hi):
    """Fill the node arrays level by level (nodes of a level in parallel)."""
    n_samples, n_features = X.shape
    node_start[0] = 0
    node_end[0] = n_samples
    for level in range(n_levels):
        first = (1 << level) - 1
        for t in prange(1 << level):
            node = first + t
            start = node_start[node]
            end = node_end[node]
            _node_bounds(X, idx, start, end, node, bound_lo, bound_hi)
            if level + 1 < n_levels:
                dim = 0
                widest = -1.0
                for f in range(n_features):
                    spread = bound_hi[node, f] - bound_lo[node, f]
                    if spread > widest:
                        widest = spread
                        dim = f
                mid = start + (end - start) // 2
                _select(X, idx, start, end, mid, dim)
                node_start[2 * node + 1] = start
                node_end[2 * node + 1] = mid
                node_start[2 * node + 2] = mid
                node_end[2 * node + 2] = end


def build_kdtree(X, leaf_size):
    """Build a kd-tree on ``X`` (float64, C-contiguous); returns a ``KDTree``."""
    n_samples, n_features = X.shape
    n_levels = kdtree_n_levels(n_samples, leaf_size)
    n_nodes = (1 << n_levels) - 1
    idx = np.arange(n_samples, dtype=np.int64)
    node_start = np.zeros(n_nodes, dtype=np.int64)
    node_end = np.zeros(n_nodes, dtype=np.int64)
    bound_lo = np.empty((n_nodes, n_features), dtype=np.float64)
    bound_hi = np.empty((n_nodes, n_features), dtype=np.float64)
    _build_kdtree(X, idx, n_levels, node_start, node_end, bound_lo, bound_hi)
    data = np.ascontiguousarray(X[idx])
    return KDTree(data, idx, node_start, node_end, bound_lo, bound_hi)


@jit_inline
def _kdtree_query_one(Q, qi, data, idx, node_start, node_end, bound_lo, bound_hi,
                      metric, p, w, K, heap_dist, heap_ind, stack_node, stack_dist):
    """Fill the heap with the K nearest (rdist, index) pairs of ``Q[qi]``.

    Depth first, nearer child first; a node is skipped only when its box is strictly
    farther than the current K-th pair, so ties are resolved exactly by index.
    """
    _heap_reset(heap_dist, heap_ind, K)
    n_internal = node_start.shape[0] // 2
    stack_node[0] = 0
    stack_dist[0] = _min_rdist_box(Q, qi, bound_lo, bound_hi, 0, metric, p, w)
    top = 1
    while top > 0:
        top -= 1
        node = stack_node[top]
        if stack_dist[top] > heap_dist[0]:
            continue
        if node >= n_internal:
            for t in range(node_start[node], node_end[node]):
                r = _rdist(Q, qi, data, t, metric, p, w)
                j = idx[t]
                if r < heap_dist[0] or (r == heap_dist[0] and j < heap_ind[0]):
                    _sift_down(heap_dist, heap_ind, K, r, j)
        else:
            left = 2 * node + 1
            right = left + 1
            d_left = _min_rdist_box(Q, qi, bound_lo, bound_hi, left, metric, p, w)
            d_right = _min_rdist_box(Q, qi, bound_lo, bound_hi, right, metric, p, w)
            if d_left <= d_right:
                near, far, d_near, d_far = left, right, d_left, d_right
            else:
                near, far, d_near, d_far = right, left, d_right, d_left
            if d_far <= heap_dist[0]:
                stack_node[top] = far
                stack_dist[top] = d_far
                top += 1
            if d_near <= heap_dist[0]:
                stack_node[top] = near
                stack_dist[top] = d_near
                top += 1


@jit_inline
def _kdtree_rows(Q, q_rows, exclude_self, start, stop, data, idx, node_start, node_end,
                 bound_lo, bound_hi, metric, p, w, K, out_dist, out_ind):
    """Queries ``start:stop`` (``Q[t]`` answers to ``out[q_rows[t]]``)."""
    heap_dist = np.empty(K, dtype=np.float64)
    heap_ind = np.empty(K, dtype=np.int64)
    depth = 2
    n = node_start.shape[0]
    while n > 0:
        n >>= 1
        depth += 1
    stack_node = np.empty(depth, dtype=np.int64)
    stack_dist = np.empty(depth, dtype=np.float64)
    for t in range(start, stop):
        _kdtree_query_one(Q, t, data, idx, node_start, node_end, bound_lo, bound_hi,
                          metric, p, w, K, heap_dist, heap_ind, stack_node, stack_dist)
        _heap_sort(heap_dist, heap_ind, K)
        row = q_rows[t]
        _write_row(heap_dist, heap_ind, K, row if exclude_self else -1,
                   out_dist, out_ind, row, metric, p)


# brute force, direct (any metric; each distance stops once it exceeds the K-th)
@jit_inline
def _brute_rows(Q, exclude_self, start, stop, Y, metric, p, w, K, out_dist, out_ind):
    """Queries ``start:stop`` against every row of ``Y``."""
    heap_dist = np.empty(K, dtype=np.float64)
    heap_ind = np.empty(K, dtype=np.int64)
    n_train = Y.shape[0]
    for t in range(start, stop):
        _heap_reset(heap_dist, heap_ind, K)
        for j in range(n_train):
            r = _rdist_bounded(Q, t, Y, j, metric, p, w, heap_dist[0])
            _heap_offer(heap_dist, heap_ind, K, r, j)
        _heap_sort(heap_dist, heap_ind, K)
        _write_row(heap_dist, heap_ind, K, t if exclude_self else -1,
                   out_dist, out_ind, t, metric, p)


class _MetricKernels(NamedTuple):
    kdtree: object
    kdtree_serial: object
    brute: object
    brute_serial: object


def _specialize(metric):
    """The query kernels with ``metric`` fixed at compile time.

    ``metric`` is a closure constant and the row loops are inlined, so every
    ``if metric == ...`` folds away: about twice as fast as a runtime argument
    (measured on the kd-tree). Each kernel compiles on first use only.
    """

    @jit_parallel
    def kdtree(Q, q_rows, exclude_self, data, idx, node_start, node_end, bound_lo,
               bound_hi, p, w, K, out_dist, out_ind):
        n = Q.shape[0]
        n_tasks = min(n, _MAX_TASKS)
        for c in prange(n_tasks):
            _kdtree_rows(Q, q_rows, exclude_self, c * n // n_tasks,
                         (c + 1) * n // n_tasks, data, idx, node_start, node_end,
                         bound_lo, bound_hi, metric, p, w, K, out_dist, out_ind)

    # A separate serial kernel: a prange loop costs tens of microseconds per call
    # even on one thread, which would dominate one-row queries.
    @jit
    def kdtree_serial(Q, q_rows, exclude_self, data, idx, node_start, node_end,
                      bound_lo, bound_hi, p, w, K, out_dist, out_ind):
        _kdtree_rows(Q, q_rows, exclude_self, 0, Q.shape[0], data, idx, node_start,
                     node_end, bound_lo, bound_hi, metric, p, w, K, out_dist, out_ind)

    @jit_parallel
    def brute(Q, exclude_self, Y, p, w, K, out_dist, out_ind):
        n = Q.shape[0]
        n_tasks = min(n, _MAX_TASKS)
        for c in prange(n_tasks):
            _brute_rows(Q, exclude_self, c * n // n_tasks, (c + 1) * n // n_tasks, Y,
                        metric, p, w, K, out_dist, out_ind)

    @jit
    def brute_serial(Q, exclude_self, Y, p, w, K, out_dist, out_ind):
        _brute_rows(Q, exclude_self, 0, Q.shape[0], Y, metric, p, w, K, out_dist,
                    out_ind)

    names = ("kdtree", "kdtree_serial", "brute", "brute_serial")
    for name, kernel in zip(names, (kdtree, kdtree_serial, brute, brute_serial)):
        # distinct names for profiles and for Numba's on-disk cache files
        py_func = getattr(kernel, "py_func", kernel)
        py_func.__qualname__ = py_func.__name__ = f"_{name}_metric{metric}"
    return _MetricKernels(kdtree, kdtree_serial, brute, brute_serial)


#: Query kernels by metric code (PRECOMPUTED has its own).
_KERNELS = {m: _specialize(m) for m in (EUCLIDEAN, MANHATTAN, CHEBYSHEV, MINKOWSKI)}


def kneighbors_kdtree(tree, Q, K, *, metric, p=2.0, w=None, exclude_self=False,
                      parallel=True):
    """Exact K nearest training rows of each row of ``Q`` with a ``KDTree``.

    Parameters
    ----------
    tree : KDTree
    Q : ndarray of float64, shape (m, d), C-contiguous, or None
        None queries the training rows themselves (in tree order, for locality) and
        applies ``exclude_self``.
    K : int
        Neighbours searched; ``K - 1`` are returned with ``exclude_self``.
    metric : int
        EUCLIDEAN, MANHATTAN, CHEBYSHEV or MINKOWSKI (with ``p`` and weights ``w``).
    parallel : bool
        Run on Numba's threads (the caller sets their number).

    Returns
    -------
    dist, ind : ndarrays of shape (m, K or K - 1), float64 and int64
    """
    w = _weights(w, tree.data.shape[1])
    if Q is None:
        Q, q_rows = tree.data, tree.idx
    else:
        q_rows = np.arange(Q.shape[0], dtype=np.int64)
        exclude_self = False
    k_out = K - 1 if exclude_self else K
    out_dist = np.empty((Q.shape[0], k_out), dtype=np.float64)
    out_ind = np.empty((Q.shape[0], k_out), dtype=np.int64)
    kernels = _KERNELS[metric]
    kernel = kernels.kdtree if parallel else kernels.kdtree_serial
    kernel(Q, q_rows, bool(exclude_self), tree.data, tree.idx, tree.node_start,
           tree.node_end, tree.bound_lo, tree.bound_hi, float(p), w, K, out_dist,
           out_ind)
    return out_dist, out_ind


def _weights(w, n_features):
    if w is None:
        return np.ones(n_features, dtype=np.float64)
    return np.ascontiguousarray(w, dtype=np.float64)


# ---------------------------------------------------------------------------
# brute force, GEMM candidates (euclidean)
#
# For a block of queries, G = Qc @ Yc.T gives A_ij = |q_i|^2 + |y_j|^2 - 2 G_ij, an
# approximation of the squared distance D_ij with |A_ij - D_ij| <= m_ij, where
# m_ij = c (|q_i|^2 + |y_j|^2) + c_abs bounds every rounding (the products, the
# norms, the centering, and D's own). With T_i the K-th smallest A_ij + m_ij, every
# true neighbour has A_ij - m_ij <= D_ij <= D_(K) <= T_i: the rows passing that test
# are candidates, whose exact rdist is recomputed by ``_rdist`` and ranked. The
# constant |q_i|^2 is left out of both sides below.


@jit
def _gemm_rows(G, row0, start, stop, Q, exclude_self, Y, up_norms, lo_norms, q_norms,
               c, c_abs, K, out_dist, out_ind):
    """Rows ``start:stop`` of the block ``G`` (query ``row0 + b``; ``q_norms`` is
    indexed by block row)."""
    heap_dist = np.empty(K, dtype=np.float64)
    heap_ind = np.empty(K, dtype=np.int64)
    upper = np.empty(K, dtype=np.float64)
    upper_ind = np.zeros(K, dtype=np.int64)
    n_train = Y.shape[0]
    w = np.empty(0, dtype=np.float64)
    for b in range(start, stop):
        t = row0 + b
        # pass 1: K-th smallest upper bound
        for s in range(K):
            upper[s] = np.inf
        for j in range(n_train):
            u = up_norms[j] - 2.0 * G[b, j]
            if u < upper[0]:
                _sift_down(upper, upper_ind, K, u, 0)
        threshold = upper[0] + 2.0 * c * q_norms[b] + 2.0 * c_abs
        # pass 2: exact distances of the candidates
        _heap_reset(heap_dist, heap_ind, K)
        for j in range(n_train):
            if lo_norms[j] - 2.0 * G[b, j] <= threshold:
                r = _rdist(Q, t, Y, j, EUCLIDEAN, 2.0, w)
                _heap_offer(heap_dist, heap_ind, K, r, j)
        _heap_sort(heap_dist, heap_ind, K)
        _write_row(heap_dist, heap_ind, K, t if exclude_self else -1,
                   out_dist, out_ind, t, EUCLIDEAN, 2.0)


@jit_parallel
def _gemm_block(G, row0, Q, exclude_self, Y, up_norms, lo_norms, q_norms, c, c_abs, K,
                out_dist, out_ind):
    n = G.shape[0]
    n_tasks = min(n, _MAX_TASKS)
    for s in prange(n_tasks):
        _gemm_rows(G, row0, s * n // n_tasks, (s + 1) * n // n_tasks, Q, exclude_self,
                   Y, up_norms, lo_norms, q_norms, c, c_abs, K, out_dist, out_ind)


@jit
def _gemm_block_serial(G, row0, Q, exclude_self, Y, up_norms, lo_norms, q_norms, c,
                       c_abs, K, out_dist, out_ind):
    _gemm_rows(G, row0, 0, G.shape[0], Q, exclude_self, Y, up_norms, lo_norms, q_norms,
               c, c_abs, K, out_dist, out_ind)


def build_brute_index(X):
    """Prepare the training rows for the GEMM brute force, or None when the data are
    too large in magnitude for the products to be trusted (then the direct brute
    force runs)."""
    mean = X.mean(axis=0)
    centered = X - mean
    max_abs = float(np.max(np.abs(centered))) if centered.size else 0.0
    if not np.isfinite(max_abs) or not np.all(np.isfinite(mean)):
        return None
    # A power of two: scaling is exact and makes max |value| about 1.
    scale = float(2.0 ** -np.frexp(max_abs)[1]) if max_abs > 0 else 1.0
    if not np.isfinite(scale) or scale == 0.0:
        return None
    centered *= scale
    sq_norms = np.einsum("ij,ij->i", centered, centered)
    return BruteIndex(mean, scale, centered, sq_norms)


def _gemm_margins(n_features):
    """(c, c_abs) of the error bound m_ij; generous (about 4x the derived bound)."""
    u = np.finfo(np.float64).eps / 2
    return 8.0 * (n_features + 8) * u, float(n_features) * 2.0**-1000


def kneighbors_brute(Y, Q, K, *, metric, p=2.0, w=None, index=None, exclude_self=False,
                     parallel=True):
    """Exact K nearest rows of ``Y`` for each row of ``Q`` by brute force.

    Euclidean with an ``index`` (``build_brute_index(Y)``) takes the GEMM path;
    anything else the direct one. ``Q=None`` queries ``Y`` itself with
    ``exclude_self``. Blocks of queries bound the memory: never an (m, n) matrix.

    Returns
    -------
    dist, ind : ndarrays of shape (m, K or K - 1), float64 and int64
    """
    if Q is None:
        Q = Y
        query_is_train = True
    else:
        query_is_train = False
        exclude_self = False
    m = Q.shape[0]
    n_train, n_features = Y.shape
    k_out = K - 1 if exclude_self else K
    out_dist = np.empty((m, k_out), dtype=np.float64)
    out_ind = np.empty((m, k_out), dtype=np.int64)
    if metric != EUCLIDEAN or index is None:
        kernels = _KERNELS[metric]
        kernel = kernels.brute if parallel else kernels.brute_serial
        kernel(Q, bool(exclude_self), Y, float(p), _weights(w, n_features), K,
               out_dist, out_ind)
        return out_dist, out_ind

    c, c_abs = _gemm_margins(n_features)
    up_norms = index.sq_norms * (1.0 + c) + c_abs
    lo_norms = index.sq_norms * (1.0 - c)
    block = max(1, min(m, _BLOCK_ELEMENTS // max(n_train, 1)))
    kernel = _gemm_block if parallel else _gemm_block_serial
    G = np.empty((block, n_train), dtype=np.float64)
    for start in range(0, m, block):
        stop = min(start + block, m)
        if query_is_train:
            Qc = index.centered[start:stop]
            q_norms = index.sq_norms[start:stop]
        else:
            Qc = (Q[start:stop] - index.mean) * index.scale
            q_norms = np.einsum("ij,ij->i", Qc, Qc)
        Gb = G[: stop - start]
        np.dot(Qc, index.centered.T, out=Gb)
        kernel(Gb, start, Q, bool(exclude_self), Y, up_norms, lo_norms,
               np.ascontiguousarray(q_norms), c, c_abs, K, out_dist, out_ind)
    return out_dist, out_ind


# ---------------------------------------------------------------------------
# precomputed distances


@jit
def _precomputed_rows(D, exclude_self, start, stop, K, out_dist, out_ind):
    heap_dist = np.empty(K, dtype=np.float64)
    heap_ind = np.empty(K, dtype=np.int64)
    n_train = D.shape[1]
    for t in range(start, stop):
        _heap_reset(heap_dist, heap_ind, K)
        for j in range(n_train):
            _heap_offer(heap_dist, heap_ind, K, D[t, j], j)
        _heap_sort(heap_dist, heap_ind, K)
        _write_row(heap_dist, heap_ind, K, t if exclude_self else -1,
                   out_dist, out_ind, t, PRECOMPUTED, 1.0)


@jit_parallel
def _kneighbors_precomputed(D, exclude_self, K, out_dist, out_ind):
    n = D.shape[0]
    n_tasks = min(n, _MAX_TASKS)
    for c in prange(n_tasks):
        _precomputed_rows(D, exclude_self, c * n // n_tasks, (c + 1) * n // n_tasks, K,
                          out_dist, out_ind)


@jit
def _kneighbors_precomputed_serial(D, exclude_self, K, out_dist, out_ind):
    _precomputed_rows(D, exclude_self, 0, D.shape[0], K, out_dist, out_ind)


def kneighbors_precomputed(D, K, *, exclude_self=False, parallel=True):
    """K smallest entries of each row of the distance matrix ``D`` (float64, (m, n)),
    by (value, column); ``exclude_self`` treats row i as training row i."""
    k_out = K - 1 if exclude_self else K
    out_dist = np.empty((D.shape[0], k_out), dtype=np.float64)
    out_ind = np.empty((D.shape[0], k_out), dtype=np.int64)
    kernel = _kneighbors_precomputed if parallel else _kneighbors_precomputed_serial
    kernel(D, bool(exclude_self), K, out_dist, out_ind)
    return out_dist, out_ind

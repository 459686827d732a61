"""The brute forces that are not the GEMM search: direct (any metric, each
distance stopping once it exceeds the K-th), and over a precomputed distance
matrix; and ``kneighbors_brute``, which picks among the direct search, the
one-block GEMM search (``_gemm``) and the symmetric search (``_symmetric``).

NumPy and Numba only."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import prange

from .._config import _variant, jit, jit_inline, jit_parallel, setting
from ._distances import (CHEBYSHEV, EUCLIDEAN, MANHATTAN, MINKOWSKI, PRECOMPUTED,
                         _KernelPair, _MAX_TASKS, _heap_arrays, _heap_offer, _heap_reset,
                         _heap_sort, _rdist_bounded, _weights, _write_row)
from ._gemm import _GemmSearch, _gemm_safe, _gemm_safe_max, _max_abs, _threadpool_limits
from ._symmetric import DEFAULT_PARAMS, kneighbors_symmetric


# ---------------------------------------------------------------------------
# brute force, direct (any metric; each distance stops once it exceeds the K-th)


@jit_inline
def _brute_rows(Q, exclude_self, start, stop, Y, metric, p, w, K, out_dist, out_ind):
    """Queries ``start:stop`` against every row of ``Y``."""
    heaps, heaps_ind, heap_dist, heap_ind = _heap_arrays(K)
    n_train = Y.shape[0]
    for t in range(start, stop):
        _heap_reset(heap_dist, heap_ind, K)
        for j in range(n_train):
            r = _rdist_bounded(Q, t, Y, j, metric, p, w, heap_dist[0])
            _heap_offer(heap_dist, heap_ind, K, r, j)
        _heap_sort(heap_dist, heap_ind, K)
        _write_row(heaps, heaps_ind, 0, K, t if exclude_self else -1,
                   out_dist, out_ind, t, metric, p)

# Bound per variant by ``_specialize_brute``; the templates below are never compiled
# as they stand.
_METRIC = 0


def _brute_parallel(Q, exclude_self, Y, p, w, K, out_dist, out_ind):
    n = Q.shape[0]
    n_tasks = min(n, _MAX_TASKS)
    for c in prange(n_tasks):
        _brute_rows(Q, exclude_self, c * n // n_tasks, (c + 1) * n // n_tasks, Y,
                    _METRIC, p, w, K, out_dist, out_ind)


def _brute_serial(Q, exclude_self, Y, p, w, K, out_dist, out_ind):
    """A separate serial kernel: a prange loop costs tens of microseconds per call
    even on one thread, which would dominate one-row queries."""
    _brute_rows(Q, exclude_self, 0, Q.shape[0], Y, _METRIC, p, w, K, out_dist, out_ind)


def _specialize_brute(metric):
    """The direct brute-force kernels with ``metric`` fixed at compile time
    (``_config._variant`` with it bound).

    The row loops are inlined, so every ``if metric == ...`` folds away: about
    twice as fast as a runtime argument (measured on the kd-tree). Each kernel
    compiles on first use only.
    """
    bound = dict(globals(), _METRIC=metric)
    suffix = f"__brute_metric{metric}"
    return _KernelPair(jit_parallel(_variant(_brute_parallel, suffix, bound)),
                       jit(_variant(_brute_serial, suffix, bound)))


_BRUTE_KERNELS = {m: _specialize_brute(m)
                  for m in (EUCLIDEAN, MANHATTAN, CHEBYSHEV, MINKOWSKI)}

#: Up to this many features the euclidean and manhattan kd-tree kernels are
#: compiled for the exact count: a row's distance is then unrolled and the loop over
#: a leaf's rows vectorises (measured 20% faster on 5 features than the loop by
#: feature). Each variant costs ~10 s of compilation on first use, so the slower
#: metrics (a power or a max per feature) keep one kernel for every count.

def kneighbors_brute(Y, Q, K, *, metric, p=2.0, w=None, index=None, exclude_self=False,
                     n_threads=1, sym_params=DEFAULT_PARAMS):
    """Exact K nearest rows of ``Y`` for each row of ``Q`` by brute force.

    Euclidean with an ``index`` (``build_brute_index(Y)``) takes the GEMM path
    (``Q=None`` with ``exclude_self``: its symmetric search over the lower
    triangle, ``_symmetric.SymmetricSearch``, sized by ``sym_params``); anything
    else the direct one. ``Q=None`` queries ``Y`` itself with ``exclude_self``.
    Blocks of queries bound the memory: never an (m, n) matrix.
    ``n_threads > 1`` runs on that many threads (Numba's, set by the caller, and,
    on the GEMM path, Python threads with the BLAS limited to one thread when
    threadpoolctl is installed).

    Returns
    -------
    dist, ind : ndarrays of shape (m, K or K - 1), float64 and int64
    """
    if Q is None:
        Q = Y
    else:
        exclude_self = False
    m = Q.shape[0]
    n_features = Y.shape[1]
    k_out = K - 1 if exclude_self else K
    out_dist = np.empty((m, k_out), dtype=np.float64)
    out_ind = np.empty((m, k_out), dtype=np.int64)
    Q_scaled, q_max_abs = None, 0.0
    gemm = metric == EUCLIDEAN and index is not None
    if gemm and Q is not Y:
        gemm = _gemm_safe(Q, n_features)
        if gemm:
            Q_scaled = (Q - index.mean) * index.scale
            q_max_abs = _max_abs(Q_scaled)
            gemm = _gemm_safe_max(q_max_abs, n_features)
    if not gemm:
        kernels = _BRUTE_KERNELS[metric]
        kernel = kernels.parallel if n_threads > 1 else kernels.serial
        kernel(Q, bool(exclude_self), Y, float(p), _weights(w, n_features), K,
               out_dist, out_ind)
        return out_dist, out_ind

    if Q is Y and exclude_self and setting("lof_symmetric"):
        if kneighbors_symmetric(Y, K, index, out_dist, out_ind, n_threads, kneighbors_brute,
                                sym_params):
            return out_dist, out_ind
    search = _GemmSearch(Y, Q, K, index, bool(exclude_self), out_dist, out_ind,
                         Q_scaled, q_max_abs)
    starts = search.starts()
    limits = _threadpool_limits() if n_threads > 1 and len(starts) > 1 else None
    if limits is None:
        for start in starts:
            search.run_block(start, parallel=n_threads > 1)
    else:
        # each thread: one product on a one-thread BLAS, then a serial scan (the
        # kernels release the GIL)
        with limits(limits=1, user_api="blas"), ThreadPoolExecutor(n_threads) as pool:
            for _ in pool.map(lambda start: search.run_block(start, False), starts):
                pass
    return out_dist, out_ind


# ---------------------------------------------------------------------------
# precomputed distances


@jit
def _precomputed_rows(D, exclude_self, start, stop, K, out_dist, out_ind):
    heaps, heaps_ind, heap_dist, heap_ind = _heap_arrays(K)
    n_train = D.shape[1]
    for t in range(start, stop):
        _heap_reset(heap_dist, heap_ind, K)
        for j in range(n_train):
            _heap_offer(heap_dist, heap_ind, K, D[t, j], j)
        _heap_sort(heap_dist, heap_ind, K)
        _write_row(heaps, heaps_ind, 0, K, t if exclude_self else -1,
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


def kneighbors_precomputed(D, K, *, exclude_self=False, n_threads=1):
    """K smallest entries of each row of the distance matrix ``D`` (float64, (m, n)),
    by (value, column); ``exclude_self`` treats row i as training row i."""
    k_out = K - 1 if exclude_self else K
    out_dist = np.empty((D.shape[0], k_out), dtype=np.float64)
    out_ind = np.empty((D.shape[0], k_out), dtype=np.int64)
    kernel = _kneighbors_precomputed if n_threads > 1 else _kneighbors_precomputed_serial
    kernel(D, bool(exclude_self), K, out_dist, out_ind)
    return out_dist, out_ind

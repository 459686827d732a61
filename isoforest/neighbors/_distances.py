"""What every neighbour search shares: the metric codes, the reduced distance
(``_rdist``: accumulated over features in order with the same operations wherever
it is computed, so every search agrees to the last bit), the bounded max-heap of
``(rdist, index)`` pairs, and how kernels are compiled twice (threads, calling
thread) and named.

NumPy and Numba only; see ``_kernels`` for which neighbours are searched."""

from typing import NamedTuple

import numba
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from .._config import jit_inline


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

if numba.config.DISABLE_JIT:
    def _trailing_zeros(x):
        return np.uint64((int(x) & -int(x)).bit_length() - 1)
else:
    _trailing_zeros = trailing_zeros  # LLVM's cttz

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


# Written out beside _rdist: the early exit sits in each metric's loop, and _rdist's
# loops stay free of the bound test.
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


# ---------------------------------------------------------------------------
# a bounded max-heap of (rdist, index), largest pair at the root, for the brute
# forces (the kd-tree keeps sorted arrays, ``_insert_sorted``: with its leaves
# visited nearest first, insertions are few and land near the end, and no final
# sort is needed; there it measured ~15% faster than the heap)


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
def _write_row(a, ai, g, K, self_index, out_dist, out_ind, row, metric, p):
    """Write row ``g`` of the ascending (rdist, index) arrays to ``out[row]``; with
    ``self_index >= 0`` drop that index, or the first neighbour when it is absent
    (scikit-learn's ``kneighbors(None)``)."""
    skip = -1
    if self_index >= 0:
        skip = 0
        for t in range(K):
            if ai[g, t] == self_index:
                skip = t
                break
    c = 0
    for t in range(K):
        if t == skip:
            continue
        out_ind[row, c] = ai[g, t]
        out_dist[row, c] = _to_dist(a[g, t], metric, p)
        c += 1


@jit_inline
def _heap_arrays(K):
    """A heap of K (rdist, index) pairs, as rows of two (1, K) arrays (the shape
    ``_write_row`` takes) and the 1-D views the heap functions take."""
    heaps = np.empty((1, K), dtype=np.float64)
    heaps_ind = np.empty((1, K), dtype=np.int64)
    return heaps, heaps_ind, heaps[0], heaps_ind[0]


class _KernelPair(NamedTuple):
    """A kernel compiled twice: on Numba's threads, and on the calling thread."""

    parallel: object
    serial: object


def _weights(w, n_features):
    if w is None:
        return np.ones(n_features, dtype=np.float64)
    return np.ascontiguousarray(w, dtype=np.float64)

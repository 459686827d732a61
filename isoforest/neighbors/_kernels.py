"""Exact k-nearest-neighbour search in Numba: a flat kd-tree and a blocked brute force.

This module imports NumPy and Numba only and takes plain arrays and scalars.

Which neighbours
----------------
The ``K`` neighbours of a query are the ``K`` smallest ``(rdist, index)`` pairs in
lexicographic order: a tie in distance goes to the smaller training index. ``rdist``
is the *reduced* distance (the sum of squares for euclidean, ``sum w |d| ** p`` for
Minkowski, ...), always accumulated over features in order with the same operations
(``_rdist``, or ``_leaf_rdist`` vectorised across a leaf's rows), so the kd-tree,
both brute forces and the reference twin agree to the last bit on the neighbour
sets, their order and their distances.

``exclude_self`` reproduces scikit-learn's rule for ``kneighbors(X=None)``: ``K``
(= ``n_neighbors + 1``) neighbours are searched, then the query's own index is
dropped, or, when ``K`` duplicates with smaller indices crowd it out, the first one.

Layout of a kd-tree (scikit-learn's: a complete binary tree in an array)
-------------------------------------------------------------------------
- ``data_T``     (d, n) float64, the training rows in tree order, one feature per
  row (a leaf's rows are contiguous per feature: its distances vectorise)
- ``idx``        (n,) int64, ``data_T[:, t] == X[idx[t]]``
- ``node_start``, ``node_end`` (n_nodes,) int64, node ``i`` holds rows
  ``start:end`` of the tree order
- ``bound_lo``, ``bound_hi`` (n_nodes, d) float64, the node's bounding box
Node ``i`` has children ``2i + 1`` and ``2i + 2``; nodes ``>= n_nodes // 2`` are
leaves, holding ``leaf_size`` to ``2 * leaf_size`` rows (scikit-learn's layout).
Splits are at the median of the widest feature.

Querying the training rows (``fit``), a leaf's rows (or a small subtree's, when the
leaves are small: ``_GROUP_ROWS_MAX``) form a group that walks the tree once
(``_kdtree_group``); other queries walk it one by one, or, from
``_GROUP_QUERIES_MIN`` rows, as the groups of a kd-tree built over them. Either way
each query prunes with its own K-th pair, so the results do not depend on the
grouping, the leaf size or the thread count.
"""

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numba
import numpy as np
from numba import prange
from numba.cpython.unsafe.numbers import trailing_zeros

from .._config import jit, jit_contract, jit_inline, jit_parallel, setting
from ..stats._kernels import pairwise_sum
from . import _gemm_simd

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
    "OneRowCodes",
    "build_one_row_codes",
    "kneighbors_kdtree",
    "kneighbors_brute",
    "kneighbors_precomputed",
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
#: Elements of a block of products held at once by one thread of the GEMM brute
#: force (4 MiB in float32, so that two threads' blocks stay in the cache between
#: the product and the scan): never an n x n matrix.
_BLOCK_ELEMENTS = 1 << 20


if numba.config.DISABLE_JIT:
    def _trailing_zeros(x):
        return np.uint64((int(x) & -int(x)).bit_length() - 1)
else:
    _trailing_zeros = trailing_zeros  # LLVM's cttz

#: The own leaf of a group of training rows is ranked in one go (every pair of its
#: rows compared, branch-free) up to this many rows; larger leaves are walked like
#: any other.
_RANK_OWN_LEAF_MAX = 64


class KDTree(NamedTuple):
    """A kd-tree as flat arrays (see the module docstring)."""

    data_T: np.ndarray
    idx: np.ndarray
    node_start: np.ndarray
    node_end: np.ndarray
    bound_lo: np.ndarray
    bound_hi: np.ndarray


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


# ---------------------------------------------------------------------------
# kd-tree


def kdtree_n_levels(n_samples, leaf_size):
    """Levels of scikit-learn's tree layout: leaves hold between ``leaf_size`` and
    ``2 * leaf_size`` rows (fewer only when there are fewer rows in all)."""
    return int(np.log2(max(1, (n_samples - 1) / leaf_size)) + 1)


@jit
def _select(key, idx, start, end, kth):
    """Reorder ``key[start:end]``, and ``idx`` alongside, so that ``key[kth]`` is in
    sorted position (Hoare partition around a median-of-three; equal keys split
    evenly). The keys are a contiguous copy of the split feature: partitioning
    through ``X[idx[i], dim]`` gathered every comparison from a random row."""
    lo = start
    hi = end - 1
    while hi > lo:
        mid = (lo + hi) >> 1
        a = key[lo]
        b = key[mid]
        c = key[hi]
        if a > b:
            a, b = b, a
        if b > c:
            b = c
        pivot = a if a > b else b
        i = lo
        j = hi
        while i <= j:
            while key[i] < pivot:
                i += 1
            while key[j] > pivot:
                j -= 1
            if i <= j:
                tmp = idx[i]
                idx[i] = idx[j]
                idx[j] = tmp
                v = key[i]
                key[i] = key[j]
                key[j] = v
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
def _build_kdtree(X, idx, n_levels, node_start, node_end, bound_lo, bound_hi, key):
    """Fill the node arrays level by level (nodes of a level in parallel); ``key``
    (n_samples,) is scratch for the split feature's values."""
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
                for i in range(start, end):
                    key[i] = X[idx[i], dim]
                _select(key, idx, start, end, mid)
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
    _build_kdtree(X, idx, n_levels, node_start, node_end, bound_lo, bound_hi,
                  np.empty(n_samples, dtype=np.float64))
    data_T = np.ascontiguousarray(X[idx].T)
    return KDTree(data_T, idx, node_start, node_end, bound_lo, bound_hi)


@jit_inline
def _insert_sorted(a, ai, g, K, r, j):
    """Insert (r, j) into row ``g`` of the ascending (rdist, index) arrays ``a``,
    ``ai``, dropping the last pair; the caller knows (r, j) is below that pair.

    From the end: a new pair rarely goes far, and the loop exits on one
    mispredicted branch (a heap's sift mispredicts on every level, and the sorted
    arrays need no final sort).
    """
    s = K - 1
    while s > 0:
        prev = a[g, s - 1]
        if prev > r or (prev == r and ai[g, s - 1] > j):
            a[g, s] = prev
            ai[g, s] = ai[g, s - 1]
            s -= 1
        else:
            break
    a[g, s] = r
    ai[g, s] = j


@jit_inline
def _leaf_rdist(QT, g, data_T, start, m, n_features, by_point, metric, p, w, buf,
                bound):
    """``buf[t]`` = rdist from query ``QT[:, g]`` to tree row ``start + t``, t < m
    (at most 64); returns the mask of the rows with ``buf[t] <= bound``.

    Each row accumulates its features in order with ``_rdist``'s operations, so the
    values are ``_rdist``'s to the last bit. ``by_point`` (a compile-time constant,
    with ``n_features`` one too) sums a row's features in one go: unrolled, and the
    loop over rows, mask included, vectorises; otherwise feature by feature over
    the leaf's contiguous rows (the inner loop vectorises whatever the feature
    count), then the mask.
    """
    s0 = np.uint64(start)
    mask = np.uint64(0)
    if by_point:
        for t in range(m):
            u = s0 + t
            acc = 0.0
            for f in range(n_features):
                d = QT[f, g] - data_T[f, u]
                if metric == EUCLIDEAN:
                    acc += d * d
                elif metric == MANHATTAN:
                    acc += abs(d)
                elif metric == CHEBYSHEV:
                    acc = max(acc, abs(d))
                else:
                    acc += w[f] * abs(d) ** p
            buf[t] = acc
            mask |= np.uint64(acc <= bound) << t
        return mask
    for t in range(m):
        buf[t] = 0.0
    for f in range(np.uint64(n_features)):
        q = QT[f, g]
        if metric == EUCLIDEAN:
            for t in range(m):
                d = q - data_T[f, s0 + t]
                buf[t] += d * d
        elif metric == MANHATTAN:
            for t in range(m):
                buf[t] += abs(q - data_T[f, s0 + t])
        elif metric == CHEBYSHEV:
            for t in range(m):
                d = abs(q - data_T[f, s0 + t])
                if d > buf[t]:
                    buf[t] = d
        else:
            wf = w[f]
            for t in range(m):
                buf[t] += wf * abs(q - data_T[f, s0 + t]) ** p
    for t in range(m):
        mask |= np.uint64(buf[t] <= bound) << t
    return mask


@jit_inline
def _rank_own_leaf(QT, G, data_T, idx, start, n_features, by_point, metric, p, w, K,
                   A, AI, thr, buf):
    """Fill the arrays of each query of a group with its nearest pairs among the
    group's own rows (tree rows ``start:start + G``): the rank of each pair is the
    number of smaller (rdist, index) pairs, and the pair lands at that position (or
    in the spare column ``K``). Branch-free, where inserting one by one mispredicts
    on almost every row of the first leaf. The counts compare rdists only (two
    counts, < and <=, show whether the row ties another); a tie, rare, recounts
    with the indices."""
    s0 = np.uint64(start)
    m = np.uint64(G)
    for g in range(G):
        _leaf_rdist(QT, g, data_T, start, m, n_features, by_point, metric, p, w, buf,
                    np.inf)
        for t in range(m):
            r = buf[t]
            j = idx[s0 + t]
            below = 0
            at_most = 0
            for s in range(m):
                rs = buf[s]
                below += rs < r
                at_most += rs <= r
            if at_most != below + 1:  # tied with another row: ties go by index
                below = 0
                for s in range(m):
                    rs = buf[s]
                    below += (rs < r) | ((rs == r) & (idx[s0 + s] < j))
            rank = min(below, K)
            A[g, rank] = r
            AI[g, rank] = j
        A[g, K] = np.inf
        AI[g, K] = _NO_INDEX
        thr[g] = A[g, K - 1]


@jit_inline
def _box_gap_sq(lo_a, hi_a, lo_b, hi_b):
    g = max(lo_b - hi_a, lo_a - hi_b, 0.0)
    return g * g


@jit_inline
def _kdtree_group(QT, G, glo, ghi, own_leaf, data_T, idx, node_start, node_end,
                  bound_lo, bound_hi, n_features, by_point, metric, p, w, K, A, AI, thr,
                  bd, act, stack, stack_depth, frame_ids, frame_q, frame_n, buf):
    """The K nearest (rdist, index) pairs of each query ``QT[:, g]``, g < G, sorted
    into rows of ``A``, ``AI``.

    The group (a node's rows, or one query) walks the tree once, depth first,
    nearer child first by the distance from the group's box ``glo``, ``ghi``; at
    each node the box rdist of every query of the group is computed (a loop over
    the group, which vectorises), and the node is skipped for the queries whose
    K-th pair is strictly nearer, for all of them when none is left. Per query this
    visits what a query walking alone would visit (its own bound prunes), while
    the branches and the box arithmetic are paid once per group. Ties are resolved
    exactly by index. ``own_leaf`` (-1: none) is the group's node (a leaf, or a
    subtree of small leaves) when it holds the group's queries: its rows are ranked
    first (``_rank_own_leaf``) when few enough, and the walk skips it.
    ``A``, ``AI`` have a spare column ``K``.
    """
    for g in range(G):
        thr[g] = np.inf
        for s in range(K + 1):
            A[g, s] = np.inf
            AI[g, s] = _NO_INDEX
    if own_leaf >= 0 and G <= _RANK_OWN_LEAF_MAX:
        _rank_own_leaf(QT, G, data_T, idx, node_start[own_leaf], n_features, by_point,
                       metric, p, w, K, A, AI, thr, buf)
    else:
        own_leaf = -1
    n_internal = node_start.shape[0] // 2
    # frame d: the queries still active at the node of depth d - 1 on the current
    # path (ids, and their coordinates, contiguous), which its children test
    for g in range(G):
        frame_ids[0, g] = g
        for f in range(n_features):
            frame_q[0, f, g] = QT[f, g]
    frame_n[0] = G
    stack[0] = 0
    stack_depth[0] = 0
    top = 1
    while top > 0:
        top -= 1
        node = stack[top]
        depth = stack_depth[top]
        if node == own_leaf:
            continue
        un = np.uint64(node)
        n_parent = frame_n[depth]
        for c in range(n_parent):
            bd[c] = 0.0
        for f in range(n_features):
            lo = bound_lo[un, f]
            hi = bound_hi[un, f]
            for c in range(n_parent):
                q = frame_q[depth, f, c]
                gap = max(lo - q, q - hi, 0.0)
                if metric == EUCLIDEAN:
                    bd[c] += gap * gap
                elif metric == MANHATTAN:
                    bd[c] += gap
                elif metric == CHEBYSHEV:
                    bd[c] = max(bd[c], gap)
                else:
                    bd[c] += w[f] * gap ** p
        n_active = 0
        for c in range(n_parent):
            g = frame_ids[depth, c]
            act[n_active] = g
            n_active += bd[c] <= thr[g]
        if n_active == 0:
            continue
        if node >= n_internal:
            start = np.uint64(node_start[un])
            stop = np.uint64(node_end[un])
            for c in range(n_active):
                g = act[c]
                bound = thr[g]
                s0 = start
                while s0 < stop:  # by 64 rows (a leaf of 30 to 60 rows: once)
                    mask = _leaf_rdist(QT, g, data_T, s0, min(stop - s0, np.uint64(64)),
                                       n_features, by_point, metric, p, w, buf, bound)
                    while mask != 0:  # the rows at or below the bound, in order
                        t = _trailing_zeros(mask)
                        mask &= mask - np.uint64(1)
                        r = buf[t]
                        if r <= bound:
                            j = idx[s0 + t]
                            if r < bound or j < AI[g, K - 1]:
                                _insert_sorted(A, AI, g, K, r, j)
                                bound = A[g, K - 1]
                    s0 += np.uint64(64)
                thr[g] = bound
        else:
            # the children test only the queries active here
            for c in range(n_active):
                g = act[c]
                frame_ids[depth + 1, c] = g
                for f in range(n_features):
                    frame_q[depth + 1, f, c] = QT[f, g]
            frame_n[depth + 1] = n_active
            left = 2 * node + 1
            right = left + 1
            d_left = 0.0
            d_right = 0.0
            for f in range(n_features):
                d_left += _box_gap_sq(glo[f], ghi[f], bound_lo[left, f], bound_hi[left, f])
                d_right += _box_gap_sq(glo[f], ghi[f], bound_lo[right, f],
                                       bound_hi[right, f])
            if d_left <= d_right:
                stack[top] = right
                stack[top + 1] = left
            else:
                stack[top] = left
                stack[top + 1] = right
            stack_depth[top] = depth + 1
            stack_depth[top + 1] = depth + 1
            top += 2


@jit_inline
def _kdtree_rows(Q, group_first, own, start, stop, src_T, src_idx, src_start, src_end,
                 src_lo, src_hi, data_T, idx, node_start, node_end, bound_lo, bound_hi,
                 n_features, by_point, metric, p, w, K, out_dist, out_ind):
    """With ``group_first >= 0``, the rows of the group nodes
    ``group_first + start:stop`` of a source tree (``src_*``, as ``KDTree``) as
    groups, each row answering to ``out[src_idx[t]]``: the training tree itself with
    ``own`` (each row without itself, the group's own node ranked first), or a tree
    over the queries. Otherwise the rows ``start:stop`` of ``Q``, one at a time
    (answers in the same rows of ``out``)."""
    n_nodes = node_start.shape[0]
    grouped = group_first >= 0
    group = 1
    if grouped:
        for node in range(group_first + start, group_first + stop):
            group = max(group, src_end[node] - src_start[node])
    depth = 2
    n = n_nodes
    while n > 0:
        n >>= 1
        depth += 1
    stack = np.empty(2 * depth, dtype=np.int64)
    stack_depth = np.empty(2 * depth, dtype=np.int64)
    frame_ids = np.empty((depth, group), dtype=np.int64)
    frame_q = np.empty((depth, n_features, group), dtype=np.float64)
    frame_n = np.empty(depth, dtype=np.int64)
    A = np.empty((group, K + 1), dtype=np.float64)
    AI = np.empty((group, K + 1), dtype=np.int64)
    QT = np.empty((n_features, group), dtype=np.float64)
    thr = np.empty(group, dtype=np.float64)
    bd = np.empty(group, dtype=np.float64)
    act = np.empty(group, dtype=np.int64)
    glo = np.empty(n_features, dtype=np.float64)
    ghi = np.empty(n_features, dtype=np.float64)
    buf = np.empty(max(group, 64), dtype=np.float64)
    for t in range(start, stop):
        own_leaf = -1
        if grouped:
            node = group_first + t
            if own:
                own_leaf = node
            first = src_start[node]
            G = src_end[node] - first
            for f in range(n_features):
                glo[f] = src_lo[node, f]
                ghi[f] = src_hi[node, f]
                for g in range(G):
                    QT[f, g] = src_T[f, first + g]
        else:
            G = 1
            for f in range(n_features):
                QT[f, 0] = Q[t, f]
                glo[f] = Q[t, f]
                ghi[f] = Q[t, f]
        _kdtree_group(QT, G, glo, ghi, own_leaf, data_T, idx,
                      node_start, node_end, bound_lo, bound_hi, n_features, by_point,
                      metric, p, w, K, A, AI, thr, bd, act, stack, stack_depth,
                      frame_ids, frame_q, frame_n, buf)
        for g in range(G):
            if grouped:
                row = src_idx[first + g]
                _write_row(A, AI, g, K, row if own else -1, out_dist, out_ind, row,
                           metric, p)
            else:
                _write_row(A, AI, g, K, -1, out_dist, out_ind, t, metric, p)


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


# ---------------------------------------------------------------------------
# the query kernels, one set per metric


class _KernelPair(NamedTuple):
    """A kernel compiled twice: on Numba's threads, and on the calling thread."""

    parallel: object
    serial: object


class _TreeKernels(NamedTuple):
    """The kd-tree query kernels of one (metric, feature count): ``_KernelPair``'s
    two, and ``rows`` for the rows of a few queries on the calling thread."""

    parallel: object
    serial: object
    rows: object


def _name_kernels(kernels, suffix):
    for name, kernel in kernels._asdict().items():
        # distinct names for profiles and for Numba's on-disk cache files
        py_func = getattr(kernel, "py_func", kernel)
        py_func.__qualname__ = py_func.__name__ = f"_{suffix}_{name}"
    return kernels


def _specialize_brute(metric):
    """The direct brute-force kernels with ``metric`` fixed at compile time.

    ``metric`` is a closure constant and the row loops are inlined, so every
    ``if metric == ...`` folds away: about twice as fast as a runtime argument
    (measured on the kd-tree). Each kernel compiles on first use only.
    """

    @jit_parallel
    def parallel(Q, exclude_self, Y, p, w, K, out_dist, out_ind):
        n = Q.shape[0]
        n_tasks = min(n, _MAX_TASKS)
        for c in prange(n_tasks):
            _brute_rows(Q, exclude_self, c * n // n_tasks, (c + 1) * n // n_tasks, Y,
                        metric, p, w, K, out_dist, out_ind)

    # A separate serial kernel: a prange loop costs tens of microseconds per call
    # even on one thread, which would dominate one-row queries.
    @jit
    def serial(Q, exclude_self, Y, p, w, K, out_dist, out_ind):
        _brute_rows(Q, exclude_self, 0, Q.shape[0], Y, metric, p, w, K, out_dist,
                    out_ind)

    return _name_kernels(_KernelPair(parallel, serial), f"brute_metric{metric}")


#: Direct brute-force kernels by metric code (PRECOMPUTED has its own).
_BRUTE_KERNELS = {m: _specialize_brute(m)
                  for m in (EUCLIDEAN, MANHATTAN, CHEBYSHEV, MINKOWSKI)}

#: Up to this many features the euclidean and manhattan kd-tree kernels are
#: compiled for the exact count: a row's distance is then unrolled and the loop over
#: a leaf's rows vectorises (measured 20% faster on 5 features than the loop by
#: feature). Each variant costs ~10 s of compilation on first use, so the slower
#: metrics (a power or a max per feature) keep one kernel for every count.
_FIXED_FEATURES_MAX = 8
_TREE_KERNELS = {}


def _specialize_tree(metric, n_fixed):
    """kd-tree query kernels for ``metric``, and for exactly ``n_fixed`` features
    (0: any count, read from the tree), both compile-time constants.

    ``serial`` answers the tasks ``start:stop`` (groups of training rows, or query
    rows); the parallel kernel calls it per chunk of tasks rather than inlining the
    walk, so each variant compiles the walk once (a second inlined copy in the
    parallel kernel doubled the compile time, ~20 s per variant).
    """
    by_point = n_fixed > 0

    @jit
    def serial(Q, group_first, own, start, stop, src_T, src_idx, src_start, src_end,
               src_lo, src_hi, data_T, idx, node_start, node_end, bound_lo, bound_hi, p,
               w, K, out_dist, out_ind):
        n_features = n_fixed if by_point else data_T.shape[0]
        _kdtree_rows(Q, group_first, own, start, stop, src_T, src_idx, src_start,
                     src_end, src_lo, src_hi, data_T, idx, node_start, node_end,
                     bound_lo, bound_hi, n_features, by_point, metric, p, w, K,
                     out_dist, out_ind)

    @jit_parallel
    def parallel(Q, group_first, own, n, src_T, src_idx, src_start, src_end, src_lo,
                 src_hi, data_T, idx, node_start, node_end, bound_lo, bound_hi, p, w, K,
                 out_dist, out_ind):
        n_tasks = min(n, _MAX_TASKS)
        for c in prange(n_tasks):
            serial(Q, group_first, own, c * n // n_tasks, (c + 1) * n // n_tasks, src_T,
                   src_idx, src_start, src_end, src_lo, src_hi, data_T, idx, node_start,
                   node_end, bound_lo, bound_hi, p, w, K, out_dist, out_ind)

    # One-row queries: six arrays fewer to unbox per call (a few microseconds). The
    # scalars passed on are runtime values: literals would compile the walk again.
    @jit
    def rows(Q, data_T, idx, node_start, node_end, bound_lo, bound_hi, p, w, K,
             out_dist, out_ind):
        n = Q.shape[0]
        zero = n - n
        serial(Q, zero - 1, zero != 0, zero, n, data_T, idx, node_start, node_end,
               bound_lo, bound_hi, data_T, idx, node_start, node_end, bound_lo,
               bound_hi, p, w, K, out_dist, out_ind)

    return _name_kernels(_TreeKernels(parallel, serial, rows),
                         f"kdtree_metric{metric}_features{n_fixed}")


def _tree_kernels(metric, n_features):
    """The kd-tree kernels for ``metric`` and ``n_features``, compiled on first use."""
    fixed = n_features <= _FIXED_FEATURES_MAX and metric in (EUCLIDEAN, MANHATTAN)
    key = (metric, n_features if fixed else 0)
    kernels = _TREE_KERNELS.get(key)
    if kernels is None:
        kernels = _TREE_KERNELS[key] = _specialize_tree(*key)
    return kernels


def _group_level(tree, group_max):
    """(first node, node count) of the shallowest tree level whose nodes hold at
    most ``group_max`` rows (the leaves if none does)."""
    n_nodes = tree.node_start.shape[0]
    first = n_nodes // 2
    while first > 0:
        up = (first + 1) // 2 - 1
        sizes = tree.node_end[up:first] - tree.node_start[up:first]
        if sizes.max() > group_max:
            break
        first = up
    return first, first + 1


#: Training rows walk the tree in groups: the nodes of the shallowest level that
#: hold at most this many rows, or the leaves when these are larger (leaf_size 30:
#: leaves of ~49 rows, each its own group). Small leaves gain: on 100,000 x 5,
#: leaf_size 4 took 534 ms in groups of up to 32 rows and 709 ms leaf by leaf;
#: leaf_size 8 the same either way, 447 ms with groups of up to 64.
_GROUP_ROWS_MAX = 32
#: From this many rows, queries that are not training rows are grouped too: a
#: kd-tree is built over them (leaf size ``_QUERY_LEAF_SIZE``, like the training
#: tree's default) and its leaves walk the training tree as groups.
_GROUP_QUERIES_MIN = 256
_QUERY_LEAF_SIZE = 30


def kneighbors_kdtree(tree, Q, K, *, metric, p=2.0, w=None, exclude_self=False,
                      n_threads=1, group_max=_GROUP_ROWS_MAX, group_queries=None):
    """Exact K nearest training rows of each row of ``Q`` with a ``KDTree``.

    Parameters
    ----------
    tree : KDTree
    Q : ndarray of float64, shape (m, d), C-contiguous, or None
        None queries the training rows themselves, by groups of rows
        (``_kdtree_group``; see ``group_max``), each leaving itself out when
        ``exclude_self``.
    K : int
        Neighbours searched; ``K - 1`` are returned with ``exclude_self``.
    metric : int
        EUCLIDEAN, MANHATTAN, CHEBYSHEV or MINKOWSKI (with ``p`` and weights ``w``).
    n_threads : int
        Above 1, run in parallel on Numba's threads (the caller sets their number).
    group_max : int
        The groups are the nodes of the shallowest tree level whose nodes hold at
        most this many rows (the leaves if none does): of the training tree with
        ``Q=None``, of a tree built over ``Q`` when its rows are grouped.
    group_queries : bool or None
        Whether the rows of ``Q`` walk the tree in groups (the leaves of a kd-tree
        over them) rather than one by one; None: from ``_GROUP_QUERIES_MIN`` rows.
        Any grouping gives the same answers.

    Returns
    -------
    dist, ind : ndarrays of shape (m, K or K - 1), float64 and int64
    """
    n_features, n_train = tree.data_T.shape
    w = _weights(w, n_features)
    query_is_train = Q is None
    source = tree  # where the groups' rows come from
    if query_is_train:
        if not exclude_self:
            raise ValueError("training rows are queried without themselves")
        n_queries = n_train
        Q = np.empty((0, n_features), dtype=np.float64)
        group_first, n_tasks = _group_level(tree, group_max)
    else:
        n_queries = Q.shape[0]
        if group_queries is None:
            group_queries = n_queries >= _GROUP_QUERIES_MIN
        if group_queries and n_queries > 0:
            source = build_kdtree(Q, _QUERY_LEAF_SIZE)
            group_first, n_tasks = _group_level(source, group_max)
        else:
            group_first, n_tasks = -1, n_queries  # Q's rows, one by one
    k_out = K - 1 if query_is_train else K
    out_dist = np.empty((n_queries, k_out), dtype=np.float64)
    out_ind = np.empty((n_queries, k_out), dtype=np.int64)
    kernels = _tree_kernels(metric, n_features)
    tree_args = (tree.data_T, tree.idx, tree.node_start, tree.node_end, tree.bound_lo,
                 tree.bound_hi, float(p), w, K, out_dist, out_ind)
    source_args = (source.data_T, source.idx, source.node_start, source.node_end,
                   source.bound_lo, source.bound_hi)
    if n_threads > 1:
        kernels.parallel(Q, group_first, query_is_train, n_tasks, *source_args,
                         *tree_args)
    elif group_first < 0:
        kernels.rows(Q, *tree_args)
    else:
        kernels.serial(Q, group_first, query_is_train, 0, n_tasks, *source_args,
                       *tree_args)
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
# m_ij = c (|q_i|^2 + |y_j|^2) + c_abs bounds every rounding (the products, in
# float32 or float64, the centering, and D's own). With T_i the K-th smallest
# A_ij + m_ij, every true neighbour has A_ij - m_ij <= D_ij <= D_(K) <= T_i: the rows
# passing that test are candidates, whose exact rdist is recomputed by ``_rdist``
# from the raw rows and ranked. The constant |q_i|^2 is left out of both sides.


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
        # float32 rows rounded to bfloat16 (AMX tiles, ``_gemm_simd``), float32
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
        self.block = max(1, min(Q.shape[0], _BLOCK_ELEMENTS // max(n_train, 1)))
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


# ---------------------------------------------------------------------------
# brute force, GEMM candidates over the lower triangle (the training rows queried)
#
# When the queries are the training rows, G_ij = G_ji: each block pair (I, J),
# I >= J, of the float32 product is computed once (BLAS, one thread each) and
# scanned while in cache for both sides, row by row for the queries of I and
# column by column for those of J (``_sym_scan``). Half the products of the
# one-block search above, and no (queries x n) block written and read back.
#
# Without the whole row of products at hand, each query i keeps
#
# - tau_i, an estimate from above of T_i: the r-th smallest U over a sample of
#   every 16th row (``_sym_seed``; infinite below 32 K rows);
# - a max-heap of the K smallest U_ij seen so far, root R_i;
# - lim_i = min(tau_i, R_i) + slack_i, which only decreases;
# - a list of the rows j seen with L_ij <= lim_i at the time, as (j, G_ij) (L and
#   U are recomputed from them by the same operations), compacted with the
#   current lim when it fills up.
#
# Every row with U_ij < tau_i reaches the heap (its L <= U < lim at its time). So
# if the final root R_i < tau_i, R_i is the K-th smallest U_ij over all rows, the
# T of the one-block search, and every row with L_ij <= T + slack_i passed its
# test of the time (lim was never below T + slack_i): the lists filtered by the
# final lim are the candidates of the one-block search, the same exact distances
# rank them, and the neighbours are the same to the last bit whatever the order
# of the blocks or the threads. A query whose root is not below tau (fewer than K
# rows under it), or whose list stays more than half full after a compaction
# (ties; float32 too coarse for the data), goes to the one-block search as a new
# query, its own row then dropped by scikit-learn's rule; when too many do, the
# one-block search answers every row (it moves on to float64 products).
#
# Pairs run in rounds of tasks over disjoint groups of blocks (``_group_rounds``),
# a round's tasks on Python threads at once: no two threads touch the same
# query's state. A task's pairs go row block by row block, its queries' state
# staying in cache (on 20,000 x 50: 180 -> 163 ms for fit_predict, against 43
# rounds of single pairs).

#: Rows per block of the symmetric search (a float32 block pair: 1 MiB; 256 and
#: 384 measured 18% and 8% slower on 20,000 x 50, 768 no faster).
_SYM_BLOCK = 512
#: The training rows take the symmetric search unless the ``lof_symmetric`` setting
#: is off; its block products use the AVX-512 tiles (``_gemm_simd``) where available
#: unless ``lof_tiles`` is off, on blocks of a multiple of 48 for 8 x 48 tiles
#: (480 and 512 measured alike with BLAS here, 640-768 4% faster, within the noise);
#: and AMX bfloat16 tiles instead where available unless ``amx`` is off (blocks a
#: multiple of 32; ``_gemm_margins`` widens the bound to bfloat16's), computing and
#: scanning ``_SYM_STRIP`` rows of a pair at a time (a multiple of 32).
_SYM_BLOCK_TILES = 480
_SYM_STRIP = 96
#: A query's list holds up to this many entries per neighbour, plus the extra.
_SYM_CAP_PER_K = 3
_SYM_CAP_EXTRA = 32
#: Every this many rows form the sample that seeds each query's tau.
_SYM_STRIDE = 16
#: Queries per product of the seed on the AMX tiles (where it divides the block;
#: else the block).
_SEED_ROWS = 96


@jit
def _sym_seed(P, i0, sample_up, r, slack, tau, lim):
    """tau of queries ``i0 + a``: the r-th smallest upper bound U over the sample
    rows (``P`` their products with the block's queries), and lim = tau + slack.

    An estimate from above of T (about ``16 r`` rows below it for a sample of
    every 16th row): the scan keeps from the start only what could matter. It is
    checked at the end (``_sym_finish_rows``): where fewer than K rows fall below
    tau, the query is answered by the one-block search.
    """
    heap = np.empty(r, dtype=np.float64)
    for a in range(P.shape[0]):
        for t in range(r):
            heap[t] = np.inf
        top = np.inf
        row = P[a]
        for s in range(P.shape[1]):
            u = sample_up[s] - 2.0 * np.float64(row[s])
            if u < top:
                # _sift_value written out: an inlined helper taking an array costs
                # ~50 ns a call (reference counting), paid on every heap update
                pos = 0
                while True:
                    child = 2 * pos + 1
                    if child >= r:
                        break
                    right = child + 1
                    if right < r and heap[right] > heap[child]:
                        child = right
                    if heap[child] > u:
                        heap[pos] = heap[child]
                        pos = child
                    else:
                        break
                heap[pos] = u
                top = heap[0]
        tau[i0 + a] = top
        lim[i0 + a] = top + slack[i0 + a]


@jit
def _sym_compact(i, lo_norms, lim, cand, candf, ncand, overflow):
    """Query ``i``'s list is full: drop the rows above its lim; a list still more
    than half full marks the query for the one-block search."""
    cap = cand.shape[1]
    limit = lim[i]
    n = 0
    for s in range(cap):
        if lo_norms[cand[i, s, 0]] - 2.0 * np.float64(candf[i, s, 1]) <= limit:
            cand[i, n, 0] = cand[i, s, 0]
            cand[i, n, 1] = cand[i, s, 1]
            n += 1
    if 2 * n > cap:
        # nothing more to keep (the scan writes at ncand, kept below cap)
        overflow[i] = True
        lim[i] = -np.inf
        n = 0
    ncand[i] = n


@jit_inline
def _lim32(lim, margin):
    """A float32 at or above ``lim`` plus the first pass's margin (``_sym_margin``)
    and twice float32's rounding of ``lim``; infinite limits as they are."""
    if not np.isfinite(lim):
        return np.float32(lim)
    x = lim + margin + _U32_2 * abs(lim)
    # rounding to nearest moves x by at most |x| 2**-24: nudged up by 2**-23 first
    return np.float32(x + abs(x) * 2.0**-23)


#: Twice float32's unit roundoff.
_U32_2 = float(np.finfo(np.float32).eps)


def _sym_margin(lo_norms, up_norms, n_features):
    """(lo32, margin) of the scan's first pass in float32: ``lo32`` the lower norms
    rounded down to float32, and a margin M such that every entry whose float64
    test ``lo - 2 g <= lim`` passes has ``fl32(lo32 - 2 g) <= _lim32(lim, M)``:
    the float32 subtraction errs by at most u (|lo| + |2 g|), the float64 one by
    much less, and |2 g| <= 2 max U (1 + 2 d u) (Cauchy-Schwarz and the product's
    own rounding). The first pass then marks a superset of what the float64 tests
    pass, and the second one decides with them: the candidates are unchanged."""
    lo32 = lo_norms.astype(np.float32)
    high = lo32.astype(np.float64) > lo_norms
    lo32[high] = np.nextafter(lo32[high], np.float32(-np.inf))
    lo_max = float(np.max(lo_norms, initial=0.0))
    up_max = float(np.max(up_norms, initial=0.0))
    u = _U32_2 / 2
    margin = 2.0 * _U32_2 * (lo_max + 2.0 * up_max * (1.0 + 2.0 * n_features * u))
    return lo32, margin + 2.0**-120


@jit
def _sym_scan(G, Gu, P, Q, R, n_a, n_b, i0, j0, diagonal, marks, up_norms, lo_norms, lo32,
              margin, slack, uheap, lim, cand, candf, ncand, overflow, K):
    """Offer the products (rows ``i0 + a``, columns ``j0 + b``, a < n_a, b < n_b;
    ``G`` flat, the product of (a, b) at ``(a >> 4) P + (a & 15) Q + (b >> 4) R +
    (b & 15)``, ``Gu`` its bits as uint32) to the queries of both sides;
    ``diagonal``: rows of a diagonal block, each row to its own query only (every
    pair once, the query's own row included).

    A list entry is (row, product) in 8 bytes, L and U recomputed from them with
    the same operations. Per block row, a first pass marks the entries that may
    pass either side's test, in float32 with a margin (``_sym_margin``; a loop
    that vectorises over twice the lanes of float64; chunked counts did not), a
    second one offers them to the float64 tests, eight marks at a time read as
    one word. The heap and the appends are written out twice rather than called:
    an inlined helper taking the arrays cost ~50 ns a call here (reference counts),
    and so do row views (``G[a]``: 11% of the scan, measured), hence flat offsets.

    With ``marks`` (uint16, (>= n_a, ldo); shape (0, 0): none), the first pass
    runs for all the rows at once as bits (``_gemm_simd.sym_marks``: the same
    float32 tests, with the limits of the call's start, which only fall after:
    still every entry a float64 test passes), 64 marks a word; ``lo32`` must then
    be readable up to ``j0 + n_b`` rounded up to 16. Without, the layout must be
    row-major (``_gemm_simd.row_major_layout``).
    """
    cap = cand.shape[1]
    use_marks = marks.shape[0] > 0
    n_words = 0 if use_marks else (n_b + 7) // 8  # the inline pass's byte marks
    mask = np.zeros(8 * n_words, dtype=np.uint8)
    words = mask.view(np.uint64)
    lo_J = lo_norms[j0:j0 + n_b]
    up_J = up_norms[j0:j0 + n_b]
    lim_J = lim[j0:j0 + n_b]
    reach = -(-n_b // 16) * 16
    lo32_J = lo32[j0:j0 + (reach if use_marks else n_b)]
    # the columns' limits in float32, kept at or above lim_J + margin: lowered
    # where the second pass lowers lim_J (for the inline pass's later rows),
    # stale (higher) only where a compaction set it to -inf
    lim32_J = np.full(reach, -np.inf, dtype=np.float32)
    for b in range(n_b):
        lim32_J[b] = _lim32(lim_J[b], margin)
    if use_marks:
        lim32_I = np.empty(n_a, dtype=np.float32)
        for a in range(n_a):
            lim32_I[a] = _lim32(lim[i0 + a], margin)
        _gemm_simd.sym_marks(G, P, Q, R, n_a, n_b, lo32_J, lim32_J, lo32[i0:i0 + n_a],
                             lim32_I, diagonal, marks)
        marks64 = marks.view(np.uint64)
        n_row_words = (reach + 63) // 64
        per_word = 64
        tz_shift = np.uint64(0)
    else:
        marks64 = words.reshape(1, n_words)
        n_row_words = n_words
        per_word = 8
        tz_shift = np.uint64(3)
    for a in range(n_a):
        i = i0 + a
        lo_i = lo_norms[i]
        up_i = up_norms[i]
        lo32_i = lo32[i]
        lim32_i = _lim32(lim[i], margin)
        row = a if use_marks else 0
        row_at = (a >> 4) * P + (a & 15) * Q
        if not use_marks:
            # row-major here (R == 16): the row's products side by side. No
            # running "any hit" in these loops: it halved their vector width
            if diagonal:
                for b in range(n_b):
                    mask[b] = lo32_J[b] - np.float32(2.0) * G[row_at + b] <= lim32_i
            else:
                for b in range(n_b):
                    g2 = np.float32(2.0) * G[row_at + b]
                    mask[b] = (lo32_J[b] - g2 <= lim32_i) | (lo32_i - g2 <= lim32_J[b])
        any_hit = np.uint64(0)
        for w in range(n_row_words):
            any_hit |= marks64[row, w]
        if any_hit == 0:
            continue
        for w in range(n_row_words):
            word = marks64[row, w]
            while word != 0:
                b = per_word * w + np.int64(_trailing_zeros(word) >> tz_shift)
                word &= word - np.uint64(1)
                at = row_at + (b >> 4) * R + (b & 15)
                g2 = 2.0 * np.float64(G[at])
                for side in range(1 if diagonal else 2):
                    if side == 0:
                        q = i
                        r = j0 + b
                        l = lo_J[b] - g2
                        u = up_J[b] - g2
                    else:
                        q = j0 + b
                        r = i
                        l = lo_i - g2
                        u = up_i - g2
                    if l > lim[q]:
                        continue
                    if u < uheap[q, 0]:
                        # replace the root of q's max-heap of upper bounds
                        pos = 0
                        while True:
                            child = 2 * pos + 1
                            if child >= K:
                                break
                            right = child + 1
                            if right < K and uheap[q, right] > uheap[q, child]:
                                child = right
                            if uheap[q, child] > u:
                                uheap[q, pos] = uheap[q, child]
                                pos = child
                            else:
                                break
                        uheap[q, pos] = u
                        lim[q] = min(lim[q], uheap[q, 0] + slack[q])
                        if side == 1 and not use_marks:
                            lim32_J[b] = _lim32(lim[q], margin)
                        if l > lim[q]:
                            continue
                    n = ncand[q]
                    cand[q, n, 0] = r
                    cand[q, n, 1] = Gu[at]
                    ncand[q] = n + 1
                    if n + 1 == cap:
                        _sym_compact(q, lo_norms, lim, cand, candf, ncand, overflow)


@jit
def _sym_task_amx(pairs, block, strip, n, A16, B16, G, up_norms, lo_norms, lo32, margin,
                  slack, uheap, lim, cand, candf, ncand, overflow, K):
    """The block pairs ``pairs`` ((i, j) block numbers) on the AMX tiles, in one
    call: each pair's products ``strip`` rows at a time into ``G`` (strip *
    block float32, whole tiles: ``_gemm_simd.amx_products_tiled``), each strip
    scanned (``_sym_scan``) while it is in cache.
    ``A16``, ``B16``: ``_gemm_simd.bf16_rows`` and ``amx_layout`` of the rows
    padded to whole blocks; ``strip`` a multiple of 32 dividing ``block``."""
    Gu = G.view(np.uint32)
    tiles = block // _gemm_simd.AMX_TILE
    P, Q, R = _gemm_simd.tiled_layout(block)
    # a row's marks: whole 64-bit words
    marks = np.zeros((strip, -(-block // 64) * 4), dtype=np.uint16)
    for p in range(pairs.shape[0]):
        i0 = pairs[p, 0] * block
        j0 = pairs[p, 1] * block
        n_a = min(block, n - i0)
        n_b = min(block, n - j0)
        B = B16[j0 // _gemm_simd.AMX_TILE:j0 // _gemm_simd.AMX_TILE + tiles]
        for a0 in range(0, n_a, strip):
            _gemm_simd.amx_products_tiled(A16[i0 + a0:i0 + a0 + strip], B, G, strip,
                                          block)
            _sym_scan(G, Gu, P, Q, R, min(strip, n_a - a0), n_b, i0 + a0, j0, i0 == j0,
                      marks, up_norms, lo_norms, lo32, margin, slack, uheap, lim, cand,
                      candf, ncand, overflow, K)


@jit_inline
def _sym_finish_rows(Y, start, stop, K, lo_norms, uheap, tau, lim, cand, candf, ncand,
                     overflow, out_dist, out_ind):
    """Rows ``start:stop``: their candidates' exact rdists (``_rdist``'s operations
    in its order, four candidates at a time for the independent sums), ranked by
    (rdist, index) (counted ranks), then written as ``_write_row`` does. The heap
    and row helpers are not called: inlined helpers taking arrays cost ~50 ns a
    call here."""
    n_features = Y.shape[1]
    cap = cand.shape[1]
    js = np.empty(cap, dtype=np.int64)
    rs = np.empty(cap, dtype=np.float64)
    sr = np.empty(K, dtype=np.float64)
    sj = np.empty(K, dtype=np.int64)
    for i in range(start, stop):
        # left to the caller where the list overflowed, or where fewer than K rows
        # fell below tau (then T may be above tau, and rows between were missed)
        if overflow[i] or not uheap[i, 0] < tau[i]:
            overflow[i] = True
            continue
        limit = lim[i]
        m = 0
        for s in range(ncand[i]):
            # branch-free: about half the entries pass (-15% of the finish)
            j = np.int64(cand[i, s, 0])
            js[m] = j
            m += lo_norms[j] - 2.0 * np.float64(candf[i, s, 1]) <= limit
        if m < K:  # cannot happen (the K nearest are candidates); be safe
            overflow[i] = True
            continue
        m4 = m - m % 4
        for t in range(0, m4, 4):
            j0 = js[t]
            j1 = js[t + 1]
            j2 = js[t + 2]
            j3 = js[t + 3]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            for f in range(n_features):
                x = Y[i, f]
                d0 = x - Y[j0, f]
                d1 = x - Y[j1, f]
                d2 = x - Y[j2, f]
                d3 = x - Y[j3, f]
                a0 += d0 * d0
                a1 += d1 * d1
                a2 += d2 * d2
                a3 += d3 * d3
            rs[t] = a0
            rs[t + 1] = a1
            rs[t + 2] = a2
            rs[t + 3] = a3
        for t in range(m4, m):
            j0 = js[t]
            a0 = 0.0
            for f in range(n_features):
                d0 = Y[i, f] - Y[j0, f]
                a0 += d0 * d0
            rs[t] = a0
        # each candidate's rank by (rdist, index), counted branch-free (a loop
        # that vectorises; the pairs are distinct), the K first placed in order:
        # the insertion sort's order, without its mispredicted branches
        for t in range(m):
            r = rs[t]
            j = js[t]
            rank = 0
            for u in range(m):
                rank += (rs[u] < r) | ((rs[u] == r) & (js[u] < j))
            if rank < K:
                sr[rank] = r
                sj[rank] = j
        for t in range(K):
            rs[t] = sr[t]
            js[t] = sj[t]
        skip = 0
        for t in range(K):
            if js[t] == i:
                skip = t
                break
        c = 0
        for t in range(K):
            if t != skip:
                out_ind[i, c] = js[t]
                out_dist[i, c] = np.sqrt(rs[t])
                c += 1
    return 0


def _sym_finish(Y, K, lo_norms, uheap, tau, lim, cand, candf, ncand, overflow, out_dist,
                out_ind):
    """Each training row's neighbours from its candidates (exact distances),
    without itself; rows that cannot be answered so are marked in ``overflow``."""
    n = Y.shape[0]
    n_tasks = min(n, _MAX_TASKS)
    counts = np.zeros(max(n_tasks, 1), dtype=np.int64)
    for s in prange(n_tasks):
        counts[s] = _sym_finish_rows(Y, s * n // n_tasks, (s + 1) * n // n_tasks, K,
                                     lo_norms, uheap, tau, lim, cand, candf, ncand,
                                     overflow, out_dist, out_ind)
    return counts.sum()


SYM_FINISH = _KernelPair(jit_parallel(_sym_finish), jit(_sym_finish))


def _round_robin(n_blocks):
    """Rounds of block pairs (i, j), i >= j, each block at most once per round (so
    a round's pairs run on threads at once without sharing a query): the diagonal
    blocks, then the circle method. Every pair appears once."""
    rounds = [[(b, b) for b in range(n_blocks)]]
    m = n_blocks + (n_blocks % 2)
    ring = list(range(m))
    for _ in range(m - 1):
        pairs = []
        for t in range(m // 2):
            a, b = ring[t], ring[m - 1 - t]
            if a < n_blocks and b < n_blocks:
                pairs.append((max(a, b), min(a, b)))
        if pairs:
            rounds.append(pairs)
        ring = [ring[0]] + [ring[-1]] + ring[1:-1]
    return rounds


def _group_rounds(n_blocks, n_groups):
    """Rounds of tasks, each task a run of block pairs (i, j), i >= j, for one
    thread: the blocks split into ``n_groups`` contiguous groups, ``_round_robin``
    over the groups, each pair of groups (g, h) one task holding its block pairs
    row block by row block (a row block's queries stay in cache for the group's
    column blocks). A round's tasks share no block; every pair appears once.
    Fewer, longer rounds than ``_round_robin`` over the blocks: fewer waits."""
    n_groups = max(1, min(n_groups, n_blocks))
    bounds = [g * n_blocks // n_groups for g in range(n_groups + 1)]
    rounds = []
    for pairs in _round_robin(n_groups):
        tasks = []
        for g, h in pairs:
            task = []
            for i in range(bounds[g], bounds[g + 1]):
                for j in range(bounds[h], min(bounds[h + 1], i + 1)):
                    task.append((i, j))
            tasks.append(tuple(task))
        rounds.append(tasks)
    return rounds


#: Groups of blocks per thread for ``_group_rounds`` (more: better balance, less
#: reuse of a row block's queries).
_SYM_GROUPS_PER_THREAD = 4

#: Above this fraction of overflowed lists the symmetric search gives way to the
#: one-block search (which moves on to float64 products).
_SYM_MAX_OVERFLOW = 1 / 32


def _kneighbors_sym(Y, K, index, out_dist, out_ind, n_threads, block=None):
    """The training rows' K nearest (self dropped) by the symmetric GEMM search;
    returns False (outputs untouched) when the float32 products are too coarse for
    the data."""
    n = Y.shape[0]
    tiles = _gemm_simd.available() and setting("lof_tiles")
    block = block or (_SYM_BLOCK_TILES if tiles else _SYM_BLOCK)
    amx = tiles and block % 32 == 0 and _gemm_simd.amx_available()
    vectors = _gemm_simd.vectors_for(block) if tiles and not amx else 0
    C32 = index.centered32
    # the tiles read whole blocks: rows padded with zeros to a multiple of the
    # block (their products are computed and never read)
    n_pad = -(-n // block) * block
    if amx:
        A16, B16 = _gemm_simd.bf16_tiles(C32, n_pad)
    elif vectors:
        A_pad = np.zeros((n_pad, C32.shape[1]), dtype=np.float32)
        A_pad[:n] = C32
        BT_pad = np.zeros((C32.shape[1], n_pad), dtype=np.float32)
        BT_pad[:, :n] = C32.T
    # the products' own bound (bfloat16's on the AMX tiles) for the scan and
    # the lists; the seed's float32 products are bounded within it
    c, c_abs, up_norms, lo_norms = index.bounds["bfloat16" if amx else "float32"]
    slack = 2.0 * c * index.sq_norms + 2.0 * c_abs
    uheap = np.full((n, K), np.inf)
    lim = np.full(n, np.inf)
    cap = _SYM_CAP_PER_K * K + _SYM_CAP_EXTRA
    cand = np.empty((n, cap, 2), dtype=np.uint32)  # (row, float32 product bits)
    candf = cand.view(np.float32)
    ncand = np.zeros(n, dtype=np.int64)
    overflow = np.zeros(n, dtype=np.bool_)
    starts = list(range(0, n, block))
    lo32, margin = _sym_margin(lo_norms, up_norms, Y.shape[1])
    if amx or vectors:
        # the marks' kernel reads whole 16-column chunks of the padded blocks
        lo32 = np.r_[lo32, np.full(n_pad - n, np.inf, dtype=np.float32)]
    no_marks = np.zeros((0, 0), dtype=np.uint16)
    state = (up_norms, lo_norms, lo32, margin, slack, uheap, lim, cand, candf, ncand,
             overflow, K)
    buffers = threading.local()

    def run_pair(pair):
        bi, bj = pair
        i0, j0 = starts[bi], starts[bj]
        i1, j1 = min(i0 + block, n), min(j0 + block, n)
        buf = getattr(buffers, "G", None)
        if buf is None:
            buf = buffers.G = np.empty(block * block, dtype=np.float32)
        if vectors:
            # the whole padded block, its first pass as bits (as on the AMX tiles:
            # 20,000 x 50 on these tiles, fit_predict 209 -> 188 ms)
            G = buf.reshape(block, block)
            _gemm_simd.block_products(A_pad[i0:i0 + block], BT_pad[:, j0:j0 + block], G,
                                      vectors)
            marks = getattr(buffers, "marks", None)
            if marks is None:
                marks = buffers.marks = np.zeros((block, -(-block // 64) * 4),
                                                 dtype=np.uint16)
            _sym_scan(buf, buf.view(np.uint32), *_gemm_simd.row_major_layout(block),
                      i1 - i0, j1 - j0, i0, j0, i0 == j0, marks, *state)
            return
        G = buf[:(i1 - i0) * (j1 - j0)]
        np.dot(C32[i0:i1], C32[j0:j1].T, out=G.reshape(i1 - i0, j1 - j0))
        _sym_scan(G, G.view(np.uint32), *_gemm_simd.row_major_layout(j1 - j0), i1 - i0,
                  j1 - j0, i0, j0, i0 == j0, no_marks, *state)

    tau = np.full(n, np.inf)
    seeded = n >= 32 * K  # else too few sample rows: every row is kept at first
    if seeded:
        sample = np.ascontiguousarray(C32[::_SYM_STRIDE])
        sample_up = np.ascontiguousarray(up_norms[::_SYM_STRIDE])
        # about 16 r rows below tau, each one a hit of the scan until the heap
        # is full. The count of rows below the r-th sample is about Gamma(r, 16):
        # fewer than K (the row then goes to the one-block search) with the
        # probability that Poisson(K / 16) >= r: 4.4% for K // 8 + 2 (the one-block
        # search's first guess), 0.3% for K // 8 + 4 (K = 21), 5e-5 for K // 4 + 4,
        # which was 7-11% slower on 20,000 x 50 here (two threads, fewer hits)
        r = K // 8 + 4
        if amx:
            # the sample on the tiles too, its columns padded to 32 with upper
            # bounds of +inf (never below a heap's top)
            n_s = sample.shape[0]
            n_s_pad = -(-n_s // 32) * 32
            S16 = _gemm_simd.bf16_tiles(sample, n_s_pad)[1]
            sample_up = np.r_[sample_up, np.full(n_s_pad - n_s, np.inf)]

    def seed(start):
        stop = min(start + block, n)
        if not amx:
            P = np.dot(C32[start:stop], sample.T)
            _sym_seed(P, start, sample_up, r, slack, tau, lim)
            return
        # a buffer per thread, as for the pairs, of 96 rows: written and read
        # in L2 (a block's 2.4 MB on 20,000 rows went out to L3, and fresh pages
        # cost more than the products)
        rows = _SEED_ROWS if block % _SEED_ROWS == 0 else block
        P = getattr(buffers, "P", None)
        if P is None:
            P = buffers.P = np.empty((rows, n_s_pad), dtype=np.float32)
        for s0 in range(start, stop, rows):
            _gemm_simd.amx_products(A16[s0:s0 + rows], S16, P)
            _sym_seed(P[:min(rows, stop - s0)], s0, sample_up, r, slack, tau, lim)

    rounds = ([[((start,),) for start in starts]] if seeded else []) + _group_rounds(
        len(starts), _SYM_GROUPS_PER_THREAD * max(n_threads, 1))

    strip = _SYM_STRIP if block % _SYM_STRIP == 0 else block

    def run(task):
        if len(task) == 1 and len(task[0]) == 1:
            seed(task[0][0])
        elif amx:
            # the task's pairs in one call, a strip of products at a time
            G = getattr(buffers, "strip", None)
            if G is None:
                G = buffers.strip = np.empty(strip * block, dtype=np.float32)
            _sym_task_amx(np.array(task, dtype=np.int64).reshape(-1, 2), block, strip, n,
                          A16, B16, G, *state)
        else:
            for pair in task:
                run_pair(pair)

    limits = _threadpool_limits()
    # a one-thread BLAS on every path, the rows left over included: threads of
    # its own spin after each product (~0.1 s of a core after the last one,
    # measured) and take the cores from the scans, or from whatever runs next
    # (without threadpoolctl, the pairs run on the calling thread and the BLAS
    # keeps its threads)
    with limits(limits=1, user_api="blas") if limits else contextlib.nullcontext():
        if n_threads > 1 and len(starts) > 1 and limits is not None:
            with ThreadPoolExecutor(n_threads) as pool:
                for tasks in rounds:
                    for _ in pool.map(run, tasks):
                        pass
        else:
            for tasks in rounds:
                for task in tasks:
                    run(task)
        if overflow.sum() > max(64, n * _SYM_MAX_OVERFLOW):
            return False
        kernels = SYM_FINISH.parallel if n_threads > 1 else SYM_FINISH.serial
        kernels(Y, K, lo_norms, uheap, tau, lim, cand, candf, ncand, overflow, out_dist,
                out_ind)
        rest = np.flatnonzero(overflow)
        if rest.size:
            # as new queries (the one-block search: the same distances, bit for
            # bit), then scikit-learn's rule: drop the row itself, or the first
            # neighbour when K duplicates with smaller indices crowd it out
            dist, ind = kneighbors_brute(Y, np.ascontiguousarray(Y[rest]), K,
                                         metric=EUCLIDEAN, index=index,
                                         n_threads=n_threads)
            for t, i in enumerate(rest):
                hit = np.flatnonzero(ind[t] == i)
                keep = np.ones(K, dtype=bool)
                keep[hit[0] if hit.size else 0] = False
                out_dist[i] = dist[t, keep]
                out_ind[i] = ind[t, keep]
    return True


def kneighbors_brute(Y, Q, K, *, metric, p=2.0, w=None, index=None, exclude_self=False,
                     n_threads=1):
    """Exact K nearest rows of ``Y`` for each row of ``Q`` by brute force.

    Euclidean with an ``index`` (``build_brute_index(Y)``) takes the GEMM path
    (``Q=None`` with ``exclude_self``: its symmetric search over the lower
    triangle, ``_kneighbors_sym``); anything else the direct one. ``Q=None``
    queries ``Y`` itself with ``exclude_self``. Blocks of queries bound the memory: never an (m, n) matrix.
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
        if _kneighbors_sym(Y, K, index, out_dist, out_ind, n_threads):
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


# ---------------------------------------------------------------------------
# LOF from the neighbours, with NumPy's arithmetic (scikit-learn computes these
# with NumPy: ``np.mean(..., axis=1)`` of a C-contiguous row is ``0.0`` plus the
# pairwise sum of the row, divided by its length)


@jit_inline
def _row_mean(buf, k):
    return (0.0 + pairwise_sum(buf, 0, k)) / k


def _local_reachability_density(distances, indices, k_distance, out):
    """``out[i] = 1 / (mean_j max(distances[i, j], k_distance[indices[i, j]]) + 1e-10)``
    with ``k_distance`` the training rows' distances to their k-th neighbour (the
    last column of their ``distances``, contiguous: a gather from the whole matrix
    touches a cache line per neighbour): scikit-learn's
    ``_local_reachability_density``, bit for bit (float64)."""
    n, k = indices.shape
    n_tasks = min(n, _MAX_TASKS)
    for c in prange(n_tasks):
        buf = np.empty(k, dtype=np.float64)
        for i in range(c * n // n_tasks, (c + 1) * n // n_tasks):
            for j in range(k):
                buf[j] = max(distances[i, j], k_distance[indices[i, j]])
            out[i] = 1.0 / (_row_mean(buf, k) + 1e-10)


def _negative_outlier_factor(fit_lrd, indices, lrd, out):
    """``out[i] = -mean_j (fit_lrd[indices[i, j]] / lrd[i])``: scikit-learn's
    ``-np.mean(lrd_ratios_array, axis=1)``, bit for bit (float64)."""
    n, k = indices.shape
    n_tasks = min(n, _MAX_TASKS)
    for c in prange(n_tasks):
        buf = np.empty(k, dtype=np.float64)
        for i in range(c * n // n_tasks, (c + 1) * n // n_tasks):
            for j in range(k):
                buf[j] = fit_lrd[indices[i, j]] / lrd[i]
            out[i] = -_row_mean(buf, k)


# parallel for many rows; serial for a few (no thread-pool launch: one-row latency)
LOCAL_REACHABILITY_DENSITY = _KernelPair(jit_parallel(_local_reachability_density),
                                            jit(_local_reachability_density))
NEGATIVE_OUTLIER_FACTOR = _KernelPair(jit_parallel(_negative_outlier_factor),
                                         jit(_negative_outlier_factor))
local_reachability_density = LOCAL_REACHABILITY_DENSITY.parallel
negative_outlier_factor = NEGATIVE_OUTLIER_FACTOR.parallel


# ---------------------------------------------------------------------------
# one query row against the GEMM index, product and scores in one call
#
# The one-row path reads every training row once per call, so its products are
# bound by memory: it reads an int8 copy of the scaled rows (a quarter of the
# float32 rows' bytes; 1 MB for 20,000 x 50, which stays in a core's L2), each
# feature quantised on its own step, and folds the quantisation error into the
# candidates' bound. With q the scaled query, k_jf the codes, s_f the steps,
# e_f = max_j |C_jf - s_f k_jf| and q'_f = fl32(q_f s_f), the float32 sums
# P_j = fl32(sum_f q'_f k_jf) (any order, FMA or not) satisfy
#
#     |q . C_j - P_j| <= sum_f |q_f| e_f + gamma_{d+3} sum_f |q_f| max_j |C_jf| = E
#
# (gamma_n = n u / (1 - n u), u of float32: rounding q'_f and the d products and
# sums of each P_j; |k_jf| s_f <= max_j |C_jf|). ``_gemm_select`` then runs on the
# P_j as on float32 products with its margin widened by 2 E on each side of the
# products' part: the candidates still hold every row its exact ranking needs, and
# the neighbours and the scores are those of the generic path to the last bit.


class OneRowCodes(NamedTuple):
    """The one-row path's copy of the scaled training rows (``BruteIndex.centered``):
    ``codes`` (n_features, n_samples) int8, one feature per row (its products
    vectorise across training rows), ``step`` the features' quantisation steps and
    ``qerr`` their coefficients in the error bound E = sum_f |q_f| qerr_f."""

    codes: np.ndarray
    step: np.ndarray
    qerr: np.ndarray


#: The largest code: symmetric, so that a feature's range maps onto [-127, 127].
_CODE_MAX = 127


def build_one_row_codes(index):
    """Quantise ``index.centered`` feature by feature for the one-row path."""
    C = index.centered
    n_features = C.shape[1]
    u = float(np.finfo(np.float32).eps) / 2
    n_ops = (n_features + 3) * u
    if n_ops >= 0.5:
        return None
    gamma = n_ops / (1.0 - n_ops)
    max_abs = np.abs(C).max(axis=0)
    step = max_abs / _CODE_MAX
    safe = np.where(step > 0, step, 1.0)
    codes = np.clip(np.rint(C / safe), -_CODE_MAX, _CODE_MAX)
    err = np.abs(C - codes * step).max(axis=0)
    # err is computed in float64 (relative error ~1e-16): widened, as gamma is
    qerr = err * (1.0 + 2.0**-20) + step * 2.0**-40 + 1.01 * gamma * max_abs
    return OneRowCodes(np.ascontiguousarray(codes.T.astype(np.int8)), step, qerr)


#: Training rows per chunk of the one-row product (8 KiB of float32 sums).
_ONE_ROW_CHUNK = 2048
_lrd_serial = LOCAL_REACHABILITY_DENSITY.serial
_nof_serial = NEGATIVE_OUTLIER_FACTOR.serial


@jit_contract
def _one_row_products(qs, codes, out):
    """out[j] = sum_f qs[f] * codes[f, j] in float32, by chunks of training rows
    whose sums stay in L1 while every feature is added, four features a pass (one
    load and store of the sums per four products); 1-D slices, which the loops
    vectorise over (indexing the whole rows from j0 to j1 did not: 8x slower)."""
    n_features, n_train = codes.shape
    n_four = n_features - n_features % 4
    for j0 in range(0, n_train, _ONE_ROW_CHUNK):
        j1 = min(j0 + _ONE_ROW_CHUNK, n_train)
        m = j1 - j0
        acc = out[j0:j1]
        for j in range(m):
            acc[j] = 0.0
        for f in range(0, n_four, 4):
            q0 = qs[f]
            q1 = qs[f + 1]
            q2 = qs[f + 2]
            q3 = qs[f + 3]
            c0 = codes[f, j0:j1]
            c1 = codes[f + 1, j0:j1]
            c2 = codes[f + 2, j0:j1]
            c3 = codes[f + 3, j0:j1]
            for j in range(m):
                acc[j] += ((q0 * np.float32(c0[j]) + q1 * np.float32(c1[j]))
                           + (q2 * np.float32(c2[j]) + q3 * np.float32(c3[j])))
        for f in range(n_four, n_features):
            q = qs[f]
            col = codes[f, j0:j1]
            for j in range(m):
                acc[j] += q * np.float32(col[j])


@jit
def _one_row_lof(X, mean, scale, codes, step, qerr, Y, up_norms, lo_norms, c, c_abs, K,
                 k_distance, fit_lrd, G, out_dist, out_ind):
    """``score_samples`` (minus the local outlier factor) of the one row of ``X``
    against the training rows ``Y`` (``codes``, ``step`` and ``qerr`` their
    ``OneRowCodes``), or NaN when the row needs the generic path (non-finite, or
    too large for the float32 products).

    The products are accumulated feature by feature across a block of training
    rows held in ``G`` (no BLAS: its threads, woken for one product, cost
    milliseconds on a busy machine); their error is within the bound E above, and
    the exact distances, the neighbours and the scores are those of the generic
    path, bit for bit.
    """
    n_features = X.shape[1]
    qs = np.empty(n_features, dtype=np.float64)
    max_abs = 0.0
    for f in range(n_features):
        v = X[0, f]
        if not np.isfinite(v):
            return np.nan
        max_abs = max(max_abs, abs(v))
    if max_abs * 2.0 * np.sqrt(n_features) > _GEMM_MAX_ABS:
        return np.nan
    q_max = 0.0
    q_norm = 0.0
    bound = 0.0
    for f in range(n_features):
        qs[f] = (X[0, f] - mean[f]) * scale
        q_max = max(q_max, abs(qs[f]))
        q_norm += qs[f] * qs[f]
        bound += abs(qs[f]) * qerr[f]
    if q_max > _FLOAT32_MAX_SCALED or q_max * 2.0 * np.sqrt(n_features) > _GEMM_MAX_ABS:
        return np.nan
    q32 = np.empty(n_features, dtype=np.float32)
    for f in range(n_features):
        q32[f] = qs[f] * step[f]
    _one_row_products(q32, codes, G[0])
    # E, widened for its own float64 rounding and for underflow in the products
    bound = bound * (1.0 + 2.0**-20) + n_features * 2.0**-120
    q_norms = np.empty(1, dtype=np.float64)
    q_norms[0] = q_norm
    _gemm_select(G, 0, X, False, Y, up_norms, lo_norms, q_norms, c, c_abs + 2.0 * bound,
                 K, out_dist, out_ind)
    lrd = np.empty(1, dtype=np.float64)
    _lrd_serial(out_dist, out_ind, k_distance, lrd)
    nof = np.empty(1, dtype=np.float64)
    _nof_serial(fit_lrd, out_ind, lrd, nof)
    return nof[0]


def one_row_lof(X, mean, scale, codes, Y, up_norms, lo_norms, c, c_abs, K, k_distance,
                fit_lrd, G, out_dist, out_ind):
    """``_one_row_lof`` (see there); the caller validates the shapes: X (1, d)
    float64 C-contiguous, ``codes`` the ``OneRowCodes`` of Y (n, d), G (1, n)
    float32, the outputs (1, K)."""
    return _one_row_lof(X, mean, scale, codes.codes, codes.step, codes.qerr, Y, up_norms,
                        lo_norms, c, c_abs, K, k_distance, fit_lrd, G, out_dist, out_ind)

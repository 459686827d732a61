"""The flat kd-tree (scikit-learn's layout, see ``_kernels``): building it, and
querying it by groups of rows (a leaf's training rows walk the tree once) or one
query at a time, each query pruning with its own K-th pair, with kernels
specialised per metric and feature count.

NumPy and Numba only."""

from typing import NamedTuple

import numpy as np
from numba import prange

from .._config import _variant, jit, jit_inline, jit_parallel
from ._distances import (CHEBYSHEV, EUCLIDEAN, MANHATTAN, _MAX_TASKS, _NO_INDEX,
                         _trailing_zeros, _weights, _write_row)


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
                # idx and key swapped together, like the swap in the isolation tree's
                # partition (forest/_kernels.py): only the swap is alike, not the scheme
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

class _TreeKernels(NamedTuple):
    """The kd-tree query kernels of one (metric, feature count): ``_KernelPair``'s
    two, and ``rows`` for the rows of a few queries on the calling thread."""

    parallel: object
    serial: object
    rows: object

_FIXED_FEATURES_MAX = 8
_TREE_KERNELS = {}


# Bound per variant by ``_specialize_tree`` (each compiled copy of the templates
# below sees its own values): the metric, the fixed feature count (0: any, read
# from the tree) and the variant's serial kernel. The templates are never compiled
# as they stand.
_METRIC = _N_FIXED = 0
_SERIAL = None


def _tree_serial(Q, group_first, own, start, stop, src_T, src_idx, src_start, src_end,
                 src_lo, src_hi, data_T, idx, node_start, node_end, bound_lo, bound_hi, p,
                 w, K, out_dist, out_ind):
    """The tasks ``start:stop`` (groups of training rows, or query rows)."""
    n_features = _N_FIXED if _N_FIXED > 0 else data_T.shape[0]
    _kdtree_rows(Q, group_first, own, start, stop, src_T, src_idx, src_start,
                 src_end, src_lo, src_hi, data_T, idx, node_start, node_end,
                 bound_lo, bound_hi, n_features, _N_FIXED > 0, _METRIC, p, w, K,
                 out_dist, out_ind)


def _tree_parallel(Q, group_first, own, n, src_T, src_idx, src_start, src_end, src_lo,
                   src_hi, data_T, idx, node_start, node_end, bound_lo, bound_hi, p, w, K,
                   out_dist, out_ind):
    n_tasks = min(n, _MAX_TASKS)
    for c in prange(n_tasks):
        _SERIAL(Q, group_first, own, c * n // n_tasks, (c + 1) * n // n_tasks, src_T,
                src_idx, src_start, src_end, src_lo, src_hi, data_T, idx, node_start,
                node_end, bound_lo, bound_hi, p, w, K, out_dist, out_ind)


def _tree_rows(Q, data_T, idx, node_start, node_end, bound_lo, bound_hi, p, w, K,
               out_dist, out_ind):
    """One-row queries: six arrays fewer to unbox per call (a few microseconds). The
    scalars passed on are runtime values: literals would compile the walk again."""
    n = Q.shape[0]
    zero = n - n
    _SERIAL(Q, zero - 1, zero != 0, zero, n, data_T, idx, node_start, node_end,
            bound_lo, bound_hi, data_T, idx, node_start, node_end, bound_lo,
            bound_hi, p, w, K, out_dist, out_ind)


def _specialize_tree(metric, n_fixed):
    """kd-tree query kernels for ``metric``, and for exactly ``n_fixed`` features
    (0: any count, read from the tree), both compile-time constants (the package's
    one way of specialising: ``_config._variant`` with the values bound).

    The parallel kernel calls ``serial`` per chunk of tasks rather than inlining the
    walk, so each variant compiles the walk once (a second inlined copy in the
    parallel kernel doubled the compile time, ~20 s per variant).
    """
    suffix = f"__kdtree_metric{metric}_features{n_fixed}"
    bound = dict(globals(), _METRIC=metric, _N_FIXED=n_fixed)
    serial = jit(_variant(_tree_serial, suffix, bound))
    calls = dict(bound, _SERIAL=serial)
    return _TreeKernels(jit_parallel(_variant(_tree_parallel, suffix, calls)), serial,
                        jit(_variant(_tree_rows, suffix, calls)))


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

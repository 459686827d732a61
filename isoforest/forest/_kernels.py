"""Numba kernels for Isolation Forest: tree building and path-length scoring.

This module imports NumPy and Numba only and takes plain arrays and scalars. Every
arithmetic step that decides a split is written in the order scikit-learn 1.9.1's
Cython performs it (``reference/iforest_naive.py`` is the readable twin, step by
step; docs/parity.md states what is identical), so the trees come out identical.

Why one module of about a thousand lines: building and scoring share the flat
layout below, the split rules and the bagging draws, and the scoring kernels are
specialised per tree depth and layout in the same place as the walks they compile,
so the parity argument reads in one file.

Layout of a fitted forest (all arrays flat, trees concatenated; ``tree_offsets[t]``
is the first node of tree ``t``, node ids inside a tree are local):

- ``feature``        int64, feature id *within the tree's feature subset*, -2 at leaves
- ``threshold``      float64, go left when ``float32(x[feature]) <= threshold``; -2 at leaves
- ``children_left``  int64, local id of the left child, -1 at leaves
- ``children_right`` int64, local id of the right child, -1 at leaves
- ``n_node_samples`` int64, distinct training rows reaching the node
- ``weighted_n_node_samples`` float64, drawn rows (with repeats) reaching the node
- ``impurity``       float64, variance of the dummy target (scikit-learn's tree field)
- ``missing_go_to_left`` uint8, where a NaN goes at that split
"""

import hashlib

import numba
import numpy as np
from numba import prange

from .._simd import forest_walk as _simd
from .._config import _variant, jit, jit_inline, jit_parallel, njit_options
from ._mt19937 import (
    STATE_SIZE,
    bounded_many,
    mt_seed,
    popcount64,
    sample_without_replacement,
    seed_from,
    uniform_bits,
)

#: ``DBL_EPSILON``: scikit-learn's leaf tests add it to impurities.
EPSILON = np.finfo(np.float64).eps
#: Largest value the trees' xorshift returns (``RAND_R_MAX``).
RAND_R_MAX = 0x7FFFFFFF
#: Features whose max - min is at most this (in float32) are constant at a node.
FEATURE_THRESHOLD = np.float32(1e-7)
TREE_LEAF = -1
TREE_UNDEFINED = -2


@jit
def _rand_r(state):
    """One step of scikit-learn's 32-bit xorshift; returns (new_state, value)."""
    if state == 0:
        state = 1
    state ^= (state << 13) & 0xFFFFFFFF
    state ^= state >> 17
    state ^= (state << 5) & 0xFFFFFFFF
    return state, state & RAND_R_MAX


@jit
def _node_stats(y, w, samples, start, end):
    """Sequential sums over the node's rows in their current order: S, Q, W."""
    s = 0.0
    q = 0.0
    wsum = 0.0
    for p in range(start, end):
        i = samples[p]
        wy = w[i] * y[i]
        s += wy
        q += wy * y[i]
        wsum += w[i]
    return s, q, wsum


@jit
def _build_tree(X, y, w, rand_r_state, max_depth, feature, threshold, children_left,
                children_right, n_node_samples, weighted_n_node_samples, impurity_out,
                missing_go_to_left):
    """Grow one isolation tree depth first; return its node count.

    ``X`` (float32, rows x features of this tree's subset), ``y`` and ``w`` hold the
    tree's distinct rows in increasing original order. Output arrays need room for
    ``2 * len(X) - 1`` nodes.
    """
    m, n_features = X.shape
    samples = np.arange(m)
    feature_values = np.empty(m, dtype=np.float32)
    features = np.arange(n_features)
    constant_features = np.zeros(n_features, dtype=np.int64)
    state = rand_r_state

    weighted_n_samples = 0.0
    for i in range(m):
        weighted_n_samples += w[i]

    # LIFO stack of pending nodes; never deeper than max_depth + 2 entries.
    cap = 2 * max_depth + 4
    st_start = np.empty(cap, dtype=np.int64)
    st_end = np.empty(cap, dtype=np.int64)
    st_depth = np.empty(cap, dtype=np.int64)
    st_parent = np.empty(cap, dtype=np.int64)
    st_is_left = np.empty(cap, dtype=np.int64)
    st_impurity = np.empty(cap, dtype=np.float64)
    st_n_const = np.empty(cap, dtype=np.int64)
    top = 0
    st_start[0] = 0
    st_end[0] = m
    st_depth[0] = 0
    st_parent[0] = -1
    st_is_left[0] = 0
    st_impurity[0] = np.inf
    st_n_const[0] = 0
    top = 1
    first = True
    node_count = 0

    while top > 0:
        top -= 1
        start = st_start[top]
        end = st_end[top]
        depth = st_depth[top]
        parent = st_parent[top]
        is_left = st_is_left[top]
        node_impurity = st_impurity[top]
        n_known_constants = st_n_const[top]

        n_node = end - start
        sum_total, sq_sum_total, weighted_n_node = _node_stats(y, w, samples, start, end)

        is_leaf = depth >= max_depth or n_node < 2
        if first:
            mean = sum_total / weighted_n_node
            node_impurity = sq_sum_total / weighted_n_node - mean * mean
            first = False
        is_leaf = is_leaf or node_impurity <= EPSILON

        best_pos = end
        best_feature = TREE_UNDEFINED
        best_threshold = -2.0
        best_mgl = 0
        impurity_left = np.inf
        impurity_right = np.inf
        n_total_constants = n_known_constants

        if not is_leaf:
            # ---- scikit-learn's node_split_random with max_features = 1 ----------
            f_i = n_features
            n_found_constants = 0
            n_drawn_constants = 0
            n_visited = 0
            current_feature = -1
            while f_i > n_total_constants and (
                n_visited < 1 or n_visited <= n_found_constants + n_drawn_constants
            ):
                n_visited += 1
                state, r = _rand_r(state)
                f_j = n_drawn_constants + r % (f_i - n_found_constants - n_drawn_constants)
                if f_j < n_known_constants:
                    tmp = features[n_drawn_constants]
                    features[n_drawn_constants] = features[f_j]
                    features[f_j] = tmp
                    n_drawn_constants += 1
                    continue
                f_j += n_found_constants
                current_feature = features[f_j]

                # min and max over the node's rows (NaN counted apart)
                n_missing = 0
                seen = False
                min_v = np.float32(np.inf)
                max_v = np.float32(-np.inf)
                for p in range(start, end):
                    v = X[samples[p], current_feature]
                    feature_values[p] = v
                    if np.isnan(v):
                        n_missing += 1
                    elif not seen:
                        min_v = v
                        max_v = v
                        seen = True
                    elif v < min_v:
                        min_v = v
                    elif v > max_v:
                        max_v = v

                # The constant test is done in float32, as in scikit-learn.
                if n_node == n_missing or (
                    max_v <= min_v + FEATURE_THRESHOLD and n_missing == 0
                ):
                    features[f_j] = features[n_total_constants]
                    features[n_total_constants] = current_feature
                    n_found_constants += 1
                    n_total_constants += 1
                    continue

                f_i -= 1
                features[f_j] = features[f_i]
                features[f_i] = current_feature
                has_missing = n_missing != 0

                lo = np.float64(min_v)
                hi = np.float64(max_v)
                state, r = _rand_r(state)
                thr = ((hi - lo) * np.float64(r) / np.float64(RAND_R_MAX)) + lo
                mgl = 0
                if has_missing:
                    state, r = _rand_r(state)
                    mgl = r % 2
                if thr == hi:
                    thr = lo

                # partition samples[start:end] in place, two pointers
                ps = start
                pe = end
                while ps < pe:
                    v = feature_values[ps]
                    if np.isnan(v):
                        go_left = mgl == 1
                    else:
                        go_left = np.float64(v) <= thr
                    if go_left:
                        ps += 1
                    else:
                        pe -= 1
                        tv = feature_values[ps]
                        feature_values[ps] = feature_values[pe]
                        feature_values[pe] = tv
                        ts = samples[ps]
                        samples[ps] = samples[pe]
                        samples[pe] = ts
                pos = pe
                n_left = pos - start
                n_right = end - pos
                if n_left < 1 or n_right < 1:
                    continue
                # A positive-weight split always beats the initial -inf proxy
                # improvement, so the first valid split is the best one.
                best_pos = pos
                best_feature = current_feature
                best_threshold = thr
                if has_missing:
                    best_mgl = mgl
                else:
                    best_mgl = 1 if n_left > n_right else 0

            if best_pos < end:
                # criterion.reset(); criterion.update(pos): forward sum when the left
                # side is the shorter one, else subtract from the totals backwards.
                if (best_pos - start) <= (end - best_pos):
                    sum_left = 0.0
                    w_left = 0.0
                    for p in range(start, best_pos):
                        i = samples[p]
                        sum_left += w[i] * y[i]
                        w_left += w[i]
                else:
                    sum_left = sum_total
                    w_left = weighted_n_node
                    for p in range(end - 1, best_pos - 1, -1):
                        i = samples[p]
                        sum_left -= w[i] * y[i]
                        w_left -= w[i]
                w_right = weighted_n_node - w_left
                sum_right = sum_total - sum_left

                sq_sum_left = 0.0
                for p in range(start, best_pos):
                    i = samples[p]
                    sq_sum_left += w[i] * y[i] * y[i]
                sq_sum_right = sq_sum_total - sq_sum_left
                m_l = sum_left / w_left
                m_r = sum_right / w_right
                impurity_left = sq_sum_left / w_left - m_l * m_l
                impurity_right = sq_sum_right / w_right - m_r * m_r
                improvement = (weighted_n_node / weighted_n_samples) * (
                    node_impurity
                    - (w_right / weighted_n_node * impurity_right)
                    - (w_left / weighted_n_node * impurity_left)
                )
            else:
                improvement = -np.inf

            # restore the shared feature order, then record constants for children
            for k in range(n_known_constants):
                features[k] = constant_features[k]
            for k in range(n_known_constants, n_known_constants + n_found_constants):
                constant_features[k] = features[k]

            is_leaf = best_pos >= end or (improvement + EPSILON < 0.0)

        node_id = node_count
        node_count += 1
        if parent >= 0:
            if is_left:
                children_left[parent] = node_id
            else:
                children_right[parent] = node_id
        n_node_samples[node_id] = n_node
        weighted_n_node_samples[node_id] = weighted_n_node
        impurity_out[node_id] = node_impurity
        if is_leaf:
            feature[node_id] = TREE_UNDEFINED
            threshold[node_id] = -2.0
            children_left[node_id] = TREE_LEAF
            children_right[node_id] = TREE_LEAF
            missing_go_to_left[node_id] = 0
        else:
            feature[node_id] = best_feature
            threshold[node_id] = best_threshold
            missing_go_to_left[node_id] = best_mgl
            # right first, so the left subtree is built first (LIFO)
            st_start[top] = best_pos
            st_end[top] = end
            st_depth[top] = depth + 1
            st_parent[top] = node_id
            st_is_left[top] = 0
            st_impurity[top] = impurity_right
            st_n_const[top] = n_total_constants
            top += 1
            # the left child's push, written out as the right's: the entries differ in range,
            # side and impurity
            st_start[top] = start
            st_end[top] = best_pos
            st_depth[top] = depth + 1
            st_parent[top] = node_id
            st_is_left[top] = 1
            st_impurity[top] = impurity_left
            st_n_const[top] = n_total_constants
            top += 1
    return node_count


def _build_forest_py(X_all, y_all, w_all, row_offsets, rand_r_states, max_depth,
                     node_offsets, feature, threshold, children_left, children_right,
                     n_node_samples, weighted_n_node_samples, impurity,
                     missing_go_to_left, node_counts):
    """Build every tree; tree ``t`` uses rows ``row_offsets[t]:row_offsets[t+1]``
    of the stacked inputs and writes nodes from ``node_offsets[t]``."""
    n_trees = rand_r_states.shape[0]
    for t in prange(n_trees):
        r0 = row_offsets[t]
        r1 = row_offsets[t + 1]
        n0 = node_offsets[t]
        n1 = node_offsets[t + 1]
        node_counts[t] = _build_tree(
            X_all[r0:r1], y_all[r0:r1], w_all[r0:r1], rand_r_states[t], max_depth,
            feature[n0:n1], threshold[n0:n1], children_left[n0:n1],
            children_right[n0:n1], n_node_samples[n0:n1],
            weighted_n_node_samples[n0:n1], impurity[n0:n1],
            missing_go_to_left[n0:n1],
        )


_build_forest = jit_parallel(_build_forest_py)
_build_forest_serial = jit(_build_forest_py)


@jit
def compact_nodes(src, src_offsets, dst_offsets, dst):
    """Copy tree ``t``'s nodes from ``src[src_offsets[t]:]`` to
    ``dst[dst_offsets[t]:dst_offsets[t + 1]]``."""
    for t in range(dst_offsets.shape[0] - 1):
        s0 = src_offsets[t]
        d0 = dst_offsets[t]
        for i in range(dst_offsets[t + 1] - d0):
            dst[d0 + i] = src[s0 + i]


@jit
def global_features(feature, features, tree_offsets):
    """``feature`` (a column of the tree's subset, -2 at leaves) mapped to columns
    of X through ``features[t]``."""
    out = np.empty(feature.shape[0], dtype=np.int64)
    for t in range(tree_offsets.shape[0] - 1):
        for node in range(tree_offsets[t], tree_offsets[t + 1]):
            f = feature[node]
            out[node] = features[t, f] if f >= 0 else TREE_UNDEFINED
    return out


@jit
def node_depths(children_left, children_right, tree_offsets):
    """Depth of every node, the root counting as 1 (``Tree.compute_node_depths``)."""
    depths = np.zeros(children_left.shape[0], dtype=np.int64)
    for t in range(tree_offsets.shape[0] - 1):
        base = tree_offsets[t]
        depths[base] = 1
        for node in range(base, tree_offsets[t + 1]):
            left = children_left[node]
            if left != TREE_LEAF:
                d = depths[node] + 1
                depths[base + left] = d
                depths[base + children_right[node]] = d
    return depths


@jit_inline
def route(v, threshold, left, right, nan_left):
    """The child (``left`` or ``right``) a row goes to at a split on ``threshold``,
    its value there rounded to float32 as ``v``: the one routing rule of every walk
    over the node arrays. A NaN follows ``nan_left``, otherwise ``v <= threshold``
    goes left (scikit-learn's trees see float32 data).

    Scalars only, inlined at Numba's IR level: no call and no reference counting
    per node.
    """
    if np.isnan(v):
        return left if nan_left else right
    return left if np.float64(v) <= threshold else right


@jit
def _find_leaf(x, base, feature, threshold, children_left, children_right,
               missing_go_to_left):
    """Walk one row down the tree rooted at flat node ``base``; return the flat leaf.

    ``feature`` here holds *global* column ids; each step is ``route``.
    """
    node = base
    while children_left[node] != TREE_LEAF:
        node = base + route(np.float32(x[feature[node]]), threshold[node],
                            children_left[node], children_right[node],
                            missing_go_to_left[node])
    return node


def _path_length_sum_py(X, tree_offsets, feature, threshold, children_left,
                        children_right, missing_go_to_left, leaf_value, out):
    """``out[i] = sum over trees, in tree order, of leaf_value[leaf of row i]``.

    ``leaf_value`` is ``depth + c(n_node_samples) - 1`` (precomputed with NumPy);
    summing per tree in tree order keeps the total identical to scikit-learn's.
    """
    n_trees = tree_offsets.shape[0] - 1
    for i in prange(X.shape[0]):
        x = X[i]
        total = 0.0
        for t in range(n_trees):
            leaf = _find_leaf(x, tree_offsets[t], feature, threshold, children_left,
                              children_right, missing_go_to_left)
            total += leaf_value[leaf]
        out[i] = total


path_length_sum = jit_parallel(_path_length_sum_py)
path_length_sum_serial = jit(_path_length_sum_py)


def _apply_py(X, tree_offsets, feature, threshold, children_left, children_right,
              missing_go_to_left, out):
    """``out[i, t]`` = tree-local id of the leaf row ``i`` reaches in tree ``t``."""
    n_trees = tree_offsets.shape[0] - 1
    for i in prange(X.shape[0]):
        x = X[i]
        for t in range(n_trees):
            base = tree_offsets[t]
            out[i, t] = _find_leaf(x, base, feature, threshold, children_left,
                                   children_right, missing_go_to_left) - base


apply_forest = jit_parallel(_apply_py)


# ---------------------------------------------------------------------------
# Scoring on a complete-tree layout
#
# Each tree is padded to a complete binary tree of depth ``depth`` (the deepest
# leaf of the forest): internal slot k has children 2k+1 and 2k+2, and a leaf
# shallower than ``depth`` becomes a chain of pass-through slots (threshold +inf:
# everything goes left) ending at a leaf slot that holds its value. Every row then
# takes exactly ``depth`` branch-free steps per tree. Thresholds are stored as the
# largest float32 <= the float64 threshold, which decides ``float32(x) <= t``
# identically while halving the memory the walk touches.

COMPLETE_MAX_DEPTH = 10
#: Rows cast to float32 and scored together; every tree is walked for the whole
#: block while its few kilobytes sit in L1.
_BLOCK = 256


@jit
def to_complete_layout(tree_offsets, children_left, children_right, global_feature,
                       threshold32, missing_go_to_left, leaf_value, node_depth, depth,
                       feat_out, thr_out, nan_right_out, leaf_out):
    """Fill the complete-tree arrays (see the comment above) from the node arrays."""
    n_trees = tree_offsets.shape[0] - 1
    n_internal = (1 << depth) - 1
    n_leaves = 1 << depth
    stack_node = np.empty(2 * depth + 4, dtype=np.int64)
    stack_slot = np.empty(2 * depth + 4, dtype=np.int64)
    for t in range(n_trees):
        base = tree_offsets[t]
        ib = t * n_internal
        lb = t * n_leaves
        top = 1
        stack_node[0] = 0
        stack_slot[0] = 0
        while top > 0:
            top -= 1
            node = stack_node[top]
            k = stack_slot[top]
            g = base + node
            if children_left[g] == TREE_LEAF:
                kk = k
                for _ in range(depth - (node_depth[g] - 1)):
                    feat_out[ib + kk] = 0
                    thr_out[ib + kk] = np.float32(np.inf)
                    nan_right_out[ib + kk] = 0
                    kk = 2 * kk + 1
                leaf_out[lb + kk - n_internal] = leaf_value[g]
            else:
                feat_out[ib + k] = global_feature[g]
                thr_out[ib + k] = threshold32[g]
                nan_right_out[ib + k] = 1 - missing_go_to_left[g]
                stack_node[top] = children_left[g]
                stack_slot[top] = 2 * k + 1
                top += 1
                stack_node[top] = children_right[g]
                stack_slot[top] = 2 * k + 2
                top += 1


_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U2 = np.uint64(2)


@jit_inline
def _step(xb, base, feat, thr, ib, k):
    """Child slot of slot ``k`` of the tree starting at ``ib``, for the row starting
    at ``xb[base]`` (a block without NaN).

    Right when ``not (x <= t)``: a NaN threshold (an inf - inf draw that
    scikit-learn keeps when NaN rows went left) sends every number right, as the
    ``<=`` test does in scikit-learn. Unsigned indices spare Numba's negative-index
    fix-ups on this hot path.
    """
    j = ib + k
    return _U2 * k + _U1 + np.uint64(not (xb[base + feat[j]] <= thr[j]))


@jit_inline
def _step_nan(xb, base, feat, thr, nan_right, ib, k):
    """As ``_step``, but a NaN value goes where the split sent training NaNs."""
    j = ib + k
    v = xb[base + feat[j]]
    go_right = np.uint64(not (v <= thr[j]))
    # for NaN, not (v <= t) is 1; flip it to nan_right
    go_right ^= np.uint64(v != v) & (_U1 ^ np.uint64(nan_right[j]))
    return _U2 * k + _U1 + go_right


@jit
def _score_rows(X, lo, hi, depth, feat, thr, nan_right, leaf, n_trees, out):
    """Score rows ``lo:hi`` into ``out``, a block at a time, with buffers allocated
    once (per thread): buffers allocated per block could share cache lines with
    another thread's and the writes to them then crawled."""
    n_features = X.shape[1]
    xb = np.empty(_BLOCK * n_features + 64, dtype=np.float32)
    acc = np.zeros(_BLOCK + 16)
    for r0 in range(lo, hi, _BLOCK):
        _score_block(X, r0, min(_BLOCK, hi - r0), depth, feat, thr, nan_right, leaf,
                     n_trees, out, xb, acc)


@jit
def _score_block(X, r0, m, depth, feat, thr, nan_right, leaf, n_trees, out, xb, acc):
    """Score rows ``r0 : r0 + m`` (m <= _BLOCK) into ``out`` (see ``score_complete``)."""
    n_features = X.shape[1]
    n_internal = (1 << depth) - 1
    n_leaves = 1 << depth
    u_internal = np.uint64(n_internal)
    uf = np.uint64(n_features)
    has_nan = False
    for i in range(m):
        for j in range(n_features):
            v = np.float32(X[r0 + i, j])
            xb[i * n_features + j] = v
            if v != v:
                has_nan = True
    acc[:] = 0.0
    for t in range(n_trees):
        # Offsets, not slices: a slice per tree would touch the shared arrays'
        # reference counts, and those atomics made threads slower than one.
        ib = np.uint64(t * n_internal)
        lb = np.uint64(t * n_leaves)
        i = 0
        if not has_nan:
            while i + 8 <= m:
                b0 = np.uint64(i) * uf
                b1 = b0 + uf
                b2 = b1 + uf
                b3 = b2 + uf
                b4 = b3 + uf
                b5 = b4 + uf
                b6 = b5 + uf
                b7 = b6 + uf
                k0 = _U0
                k1 = _U0
                k2 = _U0
                k3 = _U0
                k4 = _U0
                k5 = _U0
                k6 = _U0
                k7 = _U0
                for _ in range(depth):
                    k0 = _step(xb, b0, feat, thr, ib, k0)
                    k1 = _step(xb, b1, feat, thr, ib, k1)
                    k2 = _step(xb, b2, feat, thr, ib, k2)
                    k3 = _step(xb, b3, feat, thr, ib, k3)
                    k4 = _step(xb, b4, feat, thr, ib, k4)
                    k5 = _step(xb, b5, feat, thr, ib, k5)
                    k6 = _step(xb, b6, feat, thr, ib, k6)
                    k7 = _step(xb, b7, feat, thr, ib, k7)
                acc[i] += leaf[lb + (k0 - u_internal)]
                acc[i + 1] += leaf[lb + (k1 - u_internal)]
                acc[i + 2] += leaf[lb + (k2 - u_internal)]
                acc[i + 3] += leaf[lb + (k3 - u_internal)]
                acc[i + 4] += leaf[lb + (k4 - u_internal)]
                acc[i + 5] += leaf[lb + (k5 - u_internal)]
                acc[i + 6] += leaf[lb + (k6 - u_internal)]
                acc[i + 7] += leaf[lb + (k7 - u_internal)]
                i += 8
        while i < m:
            b0 = np.uint64(i) * uf
            k0 = _U0
            for _ in range(depth):
                k0 = _step_nan(xb, b0, feat, thr, nan_right, ib, k0)
            acc[i] += leaf[lb + (k0 - u_internal)]
            i += 1
    for i in range(m):
        out[r0 + i] = acc[i]


@jit_parallel
def score_complete(X, depth, feat, thr, nan_right, leaf, n_trees, out):
    """``out[i]`` = sum over trees, in tree order, of the leaf value row i reaches.

    Rows are cast to float32 a block at a time (scikit-learn compares float32
    values); within a block every tree is walked by eight rows in lockstep, so their
    dependent load chains overlap. Blocks without NaN take the shorter step.
    Parallel over chunks of blocks.
    """
    n = X.shape[0]
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    n_chunks = min(n_blocks, 64)
    for c in prange(n_chunks):
        lo = (c * n_blocks // n_chunks) * _BLOCK
        hi = min(((c + 1) * n_blocks // n_chunks) * _BLOCK, n)
        _score_rows(X, lo, hi, depth, feat, thr, nan_right, leaf, n_trees, out)


@jit
def score_complete_serial(X, depth, feat, thr, nan_right, leaf, n_trees, out):
    """``score_complete`` on the calling thread (a separate function: a ``prange``
    loop costs ~50 us per call even when compiled without ``parallel``, which
    dominated the one-row, real-time case)."""
    _score_rows(X, 0, X.shape[0], depth, feat, thr, nan_right, leaf, n_trees, out)


# ---------------------------------------------------------------------------
# A few rows (the one-row, real-time case): walk several trees at once for one
# row, so their dependent load chains overlap, and divide by the denominator here.


@jit_inline
def _step_row(xb, feat, thr, nan_right, j, k, with_nan):
    """Child slot of slot ``k`` (flat internal slot ``j``) for the float32 row
    ``xb``: ``_step``, or with ``with_nan`` (the row holds a NaN) ``_step_nan``."""
    v = xb[feat[j]]
    go_right = np.uint64(not (v <= thr[j]))
    if with_nan:
        go_right ^= np.uint64(v != v) & (_U1 ^ np.uint64(nan_right[j]))
    return _U2 * k + _U1 + go_right


#: Trees walked side by side for one row by ``score_few_complete``.
_ROW_TREES = 16


@jit_inline
def _row_total(xb, depth, feat, thr, nan_right, leaf, n_trees, with_nan, ks):
    """Sum, in tree order, of the leaf values the float32 row ``xb`` reaches.

    ``_ROW_TREES`` trees are walked side by side (their slots in ``ks``), so their
    dependent load chains, mostly from L2 for a forest of 100 trees, overlap.
    """
    n_internal = (1 << depth) - 1
    n_leaves = 1 << depth
    ui = np.uint64(n_internal)
    total = 0.0
    t = 0
    while t + _ROW_TREES <= n_trees:
        # a constant trip count, so the group's loops unroll
        for g in range(_ROW_TREES):
            ks[g] = _U0
        for _ in range(depth):
            for g in range(_ROW_TREES):
                k = ks[g]
                ks[g] = _step_row(xb, feat, thr, nan_right,
                                  np.uint64((t + g) * n_internal) + k, k, with_nan)
        # ks[g] - ui: the leaf's index among its tree's leaves; added in tree order
        for g in range(_ROW_TREES):
            total += leaf[np.uint64((t + g) * n_leaves) + (ks[g] - ui)]
        t += _ROW_TREES
    while t < n_trees:
        ib = np.uint64(t * n_internal)
        k = _U0
        for _ in range(depth):
            k = _step_row(xb, feat, thr, nan_right, ib + k, k, with_nan)
        total += leaf[np.uint64(t * n_leaves) + (k - ui)]
        t += 1
    return total


@jit
def score_few_complete(X, depth, feat, thr, nan_right, leaf, n_trees, denominator, out):
    """``out[i] = -(total / denominator)`` (-1 where ``denominator`` is 0), ``total``
    the sum, in tree order, of the leaf values row ``i`` reaches (what
    ``score_complete`` writes), for a few rows: each row is cast to float32 once and
    walks ``_ROW_TREES`` trees at a time. The caller then applies ``-(2 ** out)`` with
    NumPy's ufuncs, as ``IsolationForest._score`` does."""
    n_features = X.shape[1]
    xb = np.empty(n_features, dtype=np.float32)
    ks = np.empty(_ROW_TREES, dtype=np.uint64)
    for i in range(X.shape[0]):
        has_nan = False
        for j in range(n_features):
            v = np.float32(X[i, j])
            xb[j] = v
            if v != v:
                has_nan = True
        if has_nan:
            total = _row_total(xb, depth, feat, thr, nan_right, leaf, n_trees, True, ks)
        else:
            total = _row_total(xb, depth, feat, thr, nan_right, leaf, n_trees, False, ks)
        if denominator != 0.0:
            out[i] = -(total / denominator)
        else:
            out[i] = -1.0


@jit
def score_few_nodes(X, tree_offsets, feature, threshold, children_left, children_right,
                    missing_go_to_left, leaf_value, denominator, out):
    """``score_few_complete`` on the node arrays (forests too deep for the complete
    layout): ``-(total / denominator)`` with ``total`` what ``path_length_sum``
    writes."""
    n_trees = tree_offsets.shape[0] - 1
    for i in range(X.shape[0]):
        x = X[i]
        total = 0.0
        for t in range(n_trees):
            total += leaf_value[_find_leaf(x, tree_offsets[t], feature, threshold,
                                           children_left, children_right,
                                           missing_go_to_left)]
        if denominator != 0.0:
            out[i] = -(total / denominator)
        else:
            out[i] = -1.0


# Bound per variant by ``simd_score_kernels`` (each compiled copy of the templates
# below sees its own values); the templates are never compiled as they stand.
_WALK = _DEPTH = _N_VEC = _ROWS = None


def _score_rows_simd(X, lo, hi, feat, thr, nan_right, leaf, n_trees, out):
    """``_score_rows`` on the AVX-512 walk of ``isoforest._simd.forest_walk``; a template,
    compiled per (depth, feature count) by ``simd_score_kernels`` with the globals
    ``_WALK``, ``_DEPTH`` and ``_N_VEC`` bound.

    Each block is cast to float32 and laid out feature-major in groups of 16 rows
    (one vector per feature; ``_N_VEC`` is the feature count, or 0 where it is over
    ``_simd.MAX_SELECT_FEATURES`` and the walk gathers); a block holding a NaN
    takes the scalar path. ``feat`` and ``thr`` carry ``_simd.PAD`` spare entries.
    """
    n_features = X.shape[1]
    n_vec = _N_VEC if _N_VEC > 0 else n_features
    lanes = _simd.LANES
    xt = np.zeros((_BLOCK // lanes) * n_vec * lanes, dtype=np.float32)
    xb = np.empty(0, dtype=np.float32)  # the scalar path's buffer, made on first NaN
    acc = np.zeros(_BLOCK + 16)
    for r0 in range(lo, hi, _BLOCK):
        m = min(_BLOCK, hi - r0)
        n_groups = (m + lanes - 1) // lanes
        has_nan = False
        for i in range(n_groups * lanes):
            g = i // lanes
            base = g * n_vec * lanes + (i - g * lanes)
            if i < m:
                for j in range(n_features):
                    v = np.float32(X[r0 + i, j])
                    xt[base + j * lanes] = v
                    if v != v:
                        has_nan = True
            else:  # lanes past the last row: any number, never read back
                for j in range(n_features):
                    xt[base + j * lanes] = 0.0
        if has_nan:
            if xb.shape[0] == 0:
                xb = np.empty(_BLOCK * n_features + 64, dtype=np.float32)
            _score_block(X, r0, m, _DEPTH, feat, thr, nan_right, leaf, n_trees, out, xb, acc)
            continue
        acc[:] = 0.0
        _WALK(xt, n_groups, feat, thr, leaf, n_trees, n_vec, acc)
        for i in range(m):
            out[r0 + i] = acc[i]


@jit
def check_complete_walk(X, depth, feat, thr, leaf, n_trees, out):
    """Raise ValueError unless the vector walk (``_simd``) stays inside its arrays
    for ``n_trees`` complete trees of ``depth``: ``feat`` and ``thr`` hold
    ``n_trees * (2**depth - 1)`` nodes plus ``_simd.PAD`` spare entries (all of them
    loaded), every one a column of X, ``leaf`` holds ``n_trees * 2**depth`` values
    and ``out`` a slot per row. Bounds checking cannot reach into IR, so the
    scoring kernels call this first (a vectorised pass over ``feat``: ~1 us for
    100 trees of depth 8)."""
    if depth < 1 or depth > _simd.MAX_DEPTH or n_trees < 0:
        raise ValueError("the vector walk's depth or tree count is out of range")
    loaded = n_trees * ((1 << depth) - 1) + _simd.PAD
    if (feat.shape[0] < loaded or thr.shape[0] < loaded
            or leaf.shape[0] < n_trees * (1 << depth) or out.shape[0] < X.shape[0]):
        raise ValueError("the vector walk's arrays are too short")
    top = np.uint32(0)
    for i in range(loaded):
        top = max(top, feat[i])
    if top >= X.shape[1]:
        raise ValueError("a node of the vector walk tests a column X does not have")


# score_complete's chunking, written out in this template: it calls the per-variant
# ``_ROWS`` bound into its globals, where score_complete calls _score_rows.
def _score_simd_parallel(X, feat, thr, nan_right, leaf, n_trees, out):
    check_complete_walk(X, _DEPTH, feat, thr, leaf, n_trees, out)
    n = X.shape[0]
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    n_chunks = min(n_blocks, 64)
    for c in prange(n_chunks):
        lo = (c * n_blocks // n_chunks) * _BLOCK
        hi = min(((c + 1) * n_blocks // n_chunks) * _BLOCK, n)
        _ROWS(X, lo, hi, feat, thr, nan_right, leaf, n_trees, out)


def _score_simd_serial(X, feat, thr, nan_right, leaf, n_trees, out):
    check_complete_walk(X, _DEPTH, feat, thr, leaf, n_trees, out)
    _ROWS(X, 0, X.shape[0], feat, thr, nan_right, leaf, n_trees, out)


_SIMD_KERNELS = {}


def simd_score_kernels(depth, n_features):
    """``(parallel, serial)`` scoring kernels on the AVX-512 walk for complete trees
    of ``depth`` (1.._simd.MAX_DEPTH) and data of ``n_features`` columns; each is
    called as ``kernel(X, feat, thr, nan_right, leaf, n_trees, out)`` and writes what
    ``score_complete`` writes, bit for bit. Compiled on first use, cached on disk
    under a name per variant."""
    n_select = n_features if n_features <= _simd.MAX_SELECT_FEATURES else 0
    key = (int(depth), n_select)
    if key not in _SIMD_KERNELS:
        # Numba's cache checks only this file's time stamp: the IR's own hash in the
        # name keeps a kernel compiled from older IR (_simd.py edited) from loading.
        digest = hashlib.sha1(_simd.ir_text(*key).encode()).hexdigest()[:12]
        suffix = f"__simd_d{key[0]}_s{key[1]}_{digest}"
        bound = dict(globals(), _WALK=_simd.walk_intrinsic(*key), _DEPTH=key[0],
                     _N_VEC=n_select)
        rows = numba.njit(**njit_options)(_variant(_score_rows_simd, suffix, bound))
        outer = dict(globals(), _ROWS=rows, _DEPTH=key[0])
        parallel = numba.njit(parallel=True, **njit_options)(
            _variant(_score_simd_parallel, suffix + "__parallel", outer))
        serial = numba.njit(**njit_options)(_variant(_score_simd_serial, suffix, outer))
        _SIMD_KERNELS[key] = (parallel, serial)
    return _SIMD_KERNELS[key]


# ---------------------------------------------------------------------------
# Drawing and building every tree inside Numba (no sample_weight)


@jit
def radix_sort(a, max_value):
    """Sort ``a`` (int64 in ``[0, max_value]``) in place: LSD radix, a byte per pass.

    A tree's 256 drawn rows sort in about a microsecond, eight times faster than
    Numba's ``ndarray.sort`` (a generic quicksort) here.
    """
    n = a.shape[0]
    tmp = np.empty(n, dtype=np.int64)
    count = np.empty(257, dtype=np.int64)
    src, dst = a, tmp
    shift = 0
    passes = 0
    while shift < 64 and (max_value >> shift) > 0:
        count[:] = 0
        for i in range(n):
            count[((src[i] >> shift) & 255) + 1] += 1
        for d in range(256):
            count[d + 1] += count[d]
        for i in range(n):
            d = (src[i] >> shift) & 255
            dst[count[d]] = src[i]
            count[d] += 1
        src, dst = dst, src
        shift += 8
        passes += 1
    if passes % 2 == 1:
        a[:] = tmp


def _draw_trees_py(seeds, n_samples, n_features, max_samples, max_features, bootstrap,
                   features_out, rows_out, counts_out, n_rows_out, tree_seeds_out,
                   rand_r_states_out):
    """Replay scikit-learn's bagging draws for each tree seed.

    ``RandomState(seed)`` draws the feature subset, then the rows (``randint`` with
    bootstrap, else ``sample_without_replacement``). Rows come out distinct and
    increasing in ``rows_out[t, :n_rows_out[t]]`` with their multiplicities in
    ``counts_out``. The tree's xorshift seed is two more
    ``RandomState(...).randint(2**31 - 1)`` steps away.
    """
    for t in prange(seeds.shape[0]):
        state = np.empty(STATE_SIZE, dtype=np.int64)
        mt_seed(state, seeds[t])
        sample_without_replacement(state, n_features, max_features, features_out[t])
        idx = np.empty(max_samples, dtype=np.int64)
        if bootstrap:
            bounded_many(state, n_samples - 1, idx)
        else:
            sample_without_replacement(state, n_samples, max_samples, idx)
        radix_sort(idx, n_samples - 1)
        m = 0
        for i in range(max_samples):
            if m > 0 and rows_out[t, m - 1] == idx[i]:
                counts_out[t, m - 1] += 1.0
            else:
                rows_out[t, m] = idx[i]
                counts_out[t, m] = 1.0
                m += 1
        n_rows_out[t] = m
        tree_seed = seed_from(seeds[t])
        tree_seeds_out[t] = tree_seed
        rand_r_states_out[t] = seed_from(tree_seed)


draw_trees = jit_parallel(_draw_trees_py)
draw_trees_serial = jit(_draw_trees_py)


@jit
def mark_rows(rows, n_rows, bits, prefix):
    """Set bit ``r`` of ``bits`` (uint64 words, zeroed) for every row drawn by any
    tree, and ``prefix[w]`` = set bits in ``bits[:w]``: a row's rank among the drawn
    rows is then ``prefix[r >> 6]`` plus the set bits below it in its word."""
    for t in range(rows.shape[0]):
        for i in range(n_rows[t]):
            r = rows[t, i]
            bits[r >> 6] |= _U1 << np.uint64(r & 63)
    total = 0
    for w in range(bits.shape[0]):
        prefix[w] = total
        total += popcount64(bits[w])
    return total


@jit
def drawn_rows(bits, n_drawn):
    """The ``n_drawn`` rows marked in ``bits`` (see ``mark_rows``), increasing."""
    out = np.empty(n_drawn, dtype=np.int64)
    k = 0
    for w in range(bits.shape[0]):
        word = bits[w]
        if word == _U0:
            continue
        for b in range(64):
            if (word >> np.uint64(b)) & _U1:
                out[k] = w * 64 + b
                k += 1
    return out


@jit
def rank_rows(rows, n_rows, bits, prefix, ranks):
    """``ranks[t, i]`` = rank of row ``rows[t, i]`` among all drawn rows (its index
    in ``drawn_rows(bits, ...)``), for ``i < n_rows[t]``; 0 past them."""
    for t in range(rows.shape[0]):
        for i in range(rows.shape[1]):
            if i < n_rows[t]:
                r = rows[t, i]
                w = r >> 6
                below = bits[w] & ((_U1 << np.uint64(r & 63)) - _U1)
                ranks[t, i] = prefix[w] + popcount64(below)
            else:
                ranks[t, i] = 0


@jit
def _gather_tree(X, features, rows, n_rows, t, Xt):
    """``Xt[r, j] = float32(X[rows[t, r], features[t, j]])`` for tree ``t``."""
    max_features = features.shape[1]
    last = X.shape[1] - 1
    m = n_rows[t]
    # Touch the tree's rows first: a loop this short keeps many cache misses in
    # flight (X is usually far larger than the caches), where the copy would wait
    # for a few at a time.
    touched = 0.0
    for r in range(m):
        touched += X[rows[t, r], 0] + X[rows[t, r], last]
    Xt[0, 0] = touched  # keeps the loads; overwritten below
    for r in range(m):
        row = rows[t, r]
        for j in range(max_features):
            Xt[r, j] = np.float32(X[row, features[t, j]])


def _prepare_trees_py(X, features, rows, n_rows, Xall, gather, seed, bits, y_drawn):
    """Two independent jobs, run side by side when two threads are allowed:

    * ``y_drawn[k]`` = the ``k``-th drawn row's value of scikit-learn's dummy target
      ``RandomState(seed).uniform(size=n)`` (skipped when ``seed < 0``): a serial
      random stream;
    * with ``gather``, ``Xall[t, r, j] = float32(X[rows[t, r], features[t, j]])``:
      memory bound, as drawn rows are scattered over X.
    """
    for job in prange(2):
        if job == 0:
            if seed >= 0:
                uniform_bits(seed, bits, y_drawn)
        elif gather:
            for t in range(rows.shape[0]):
                _gather_tree(X, features, rows, n_rows, t, Xall[t])


prepare_trees = jit_parallel(_prepare_trees_py)
prepare_trees_serial = jit(_prepare_trees_py)


def _build_trees_py(X, Xall, gathered, y, ranked, bits, prefix, features, rows, xrows,
                    counts, n_rows, rand_r_states, max_depth, capacity, feature, threshold,
                    children_left, children_right, n_node_samples,
                    weighted_n_node_samples, impurity, missing_go_to_left, node_counts):
    """Build tree ``t`` from its drawn rows: ``Xall[t]`` if ``gathered`` (see
    ``prepare_trees``), else gathered here from ``X`` at rows ``xrows[t]`` (``rows``
    itself for the full X, or the ranks of the rows for a matrix of the drawn rows
    only, see ``rank_rows``). Its nodes go from ``t * capacity``
    (``capacity >= 2 * max_samples - 1``).

    The dummy target of row ``r = rows[t, i]`` (an original row id) is ``y[r]``, or
    with ``ranked`` ``y[rank of r among the drawn rows]`` (``bits`` / ``prefix``
    from ``mark_rows``).
    """
    for t in prange(rows.shape[0]):
        m = n_rows[t]
        if gathered:
            Xt = Xall[t]
        else:
            Xt = np.empty((m, features.shape[1]), dtype=np.float32)
            _gather_tree(X, features, xrows, n_rows, t, Xt)
        yt = np.empty(m, dtype=np.float64)
        for r in range(m):
            row = rows[t, r]
            if ranked:
                w = row >> 6
                below = bits[w] & ((_U1 << np.uint64(row & 63)) - _U1)
                yt[r] = y[prefix[w] + popcount64(below)]
            else:
                yt[r] = y[row]
        n0 = t * capacity
        n1 = n0 + capacity
        node_counts[t] = _build_tree(
            Xt[:m], yt, counts[t, :m], rand_r_states[t], max_depth, feature[n0:n1],
            threshold[n0:n1], children_left[n0:n1], children_right[n0:n1],
            n_node_samples[n0:n1], weighted_n_node_samples[n0:n1], impurity[n0:n1],
            missing_go_to_left[n0:n1],
        )


build_trees = jit_parallel(_build_trees_py)
build_trees_serial = jit(_build_trees_py)

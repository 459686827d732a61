"""Numba kernels for DIFFI (Carletti, Terzi & Susto 2023) over the flat forest arrays.

This module imports NumPy, Numba, ``isoforest._config`` and the routing rule of
``isoforest.forest._kernels`` only; the caller
(``isoforest.explain._diffi``) validates every argument. Arrays are those of
``isoforest.forest._arrays.ForestArrays``: ``tree_offsets``, ``global_feature``
(column of X, -2 at leaves), ``threshold``, ``children_left`` / ``children_right``
(tree-local ids, -1 at leaves) and ``missing_go_to_left``; ``max_path`` is the
largest node depth of the forest (root = 1), the length of a path buffer.

Rows are routed by ``isoforest.forest._kernels.route``, as ``_find_leaf``
routes them (:func:`_path` walks with it and records the nodes visited):
the value is rounded to float32, NaN follows ``missing_go_to_left``, otherwise
``float32(x) <= threshold`` goes left. Every sum is a running sum in the order the
authors' reference code adds its terms (trees in order, rows in order, the nodes of a
path from the root down), so results do not depend on the thread count.
"""

import numpy as np
from numba import prange

from .._config import jit, jit_inline, jit_parallel
from ..forest._kernels import TREE_LEAF, route

#: Rows handled by one parallel task of the local kernel (one scratch array each).
_ROW_BLOCK = 64
#: ``_get_iic``'s marker for "no coefficient" (a leaf, or a node holding < 2 rows).
IIC_UNDEFINED = -1.0


@jit
def _path(x, base, feature, threshold, children_left, children_right,
          missing_go_to_left, path):
    """Walk row ``x`` down the tree rooted at flat node ``base``, writing the flat ids
    of the nodes it visits (root first, leaf last) into ``path``; return their number.

    One call per row and tree; the routing step (``route``) is inlined at Numba's
    IR level: a real call per node costs several times the walk itself (array
    arguments are reference-counted at each call). ``path`` must hold the forest's largest depth (root = 1).
    """
    node = base
    k = 0
    while children_left[node] != TREE_LEAF:
        path[k] = node
        k += 1
        node = base + route(np.float32(x[feature[node]]), threshold[node],
                            children_left[node], children_right[node],
                            missing_go_to_left[node])
    path[k] = node
    return k + 1


def _local_diffi_py(X, tree_offsets, feature, threshold, children_left, children_right,
                    missing_go_to_left, max_path, tree_max_depth, out):
    """Local DIFFI of every row of ``X`` into ``out`` (n_rows, n_features), zeroed.

    For tree ``t`` with the row's leaf at ``h`` edges from the root, every internal
    node on the path credits its split column with ``1/h - 1/tree_max_depth[t]``
    (and one count); ``out[i, j]`` = credits / counts (0 for a column never split).
    ``max_path`` is the forest's largest node depth (root = 1).
    """
    n_rows = X.shape[0]
    n_features = X.shape[1]
    n_trees = tree_offsets.shape[0] - 1
    n_blocks = (n_rows + _ROW_BLOCK - 1) // _ROW_BLOCK
    for b in prange(n_blocks):
        counter = np.zeros(n_features, dtype=np.int64)
        path = np.empty(max_path, dtype=np.int64)
        for i in range(b * _ROW_BLOCK, min((b + 1) * _ROW_BLOCK, n_rows)):
            x = X[i]
            counter[:] = 0
            for t in range(n_trees):
                k = _path(x, tree_offsets[t], feature, threshold, children_left,
                          children_right, missing_go_to_left, path)
                leaf_depth = k - 1  # edges from the root
                if leaf_depth == 0:
                    continue  # the root is a leaf: no split on the path
                # (1 / leaf_depth) - (1 / max_depth), in the reference's order
                credit = 1.0 / leaf_depth - 1.0 / tree_max_depth[t]
                for q in range(leaf_depth):
                    j = feature[path[q]]
                    out[i, j] += credit
                    counter[j] += 1
            for j in range(n_features):
                if counter[j] != 0:
                    out[i, j] = out[i, j] / counter[j]
                else:
                    out[i, j] = 0.0


local_diffi = jit_parallel(_local_diffi_py)
local_diffi_serial = jit(_local_diffi_py)


@jit_inline
def _iic(n, n_left, n_right):
    """Induced imbalance coefficient of a split node holding ``n`` rows of a subset,
    ``n_left`` / ``n_right`` of them in its children (``_get_iic``, adjust_iic=True)."""
    if n == 0 or n == 1:
        return IIC_UNDEFINED
    if n_left == 0 or n_right == 0:
        return 0.0  # a useless split: epsilon = 0
    if n % 2 == 0:
        current_min = 0.5
    else:
        current_min = ((n + 1) // 2) / n  # ceil(n / 2) / n
    current_max = (n - 1) / n
    tmp = max(n_left, n_right) / n
    if current_min != current_max:
        # desired_max - desired_min = 0.5, desired_min = 0.5
        return ((tmp - current_min) / (current_max - current_min)) * 0.5 + 0.5
    return tmp


def _diffi_subsets_py(X, sample_index, sample_offsets, tree_offsets, feature, threshold,
                      children_left, children_right, missing_go_to_left, max_path,
                      node_class, leaves, n_out, n_in, iic_out, iic_in):
    """Per tree: route its in-bag rows, count them per node by class, make the IICs.

    ``sample_index[sample_offsets[t]:sample_offsets[t + 1]]`` are tree ``t``'s in-bag
    rows of X (repeats included); ``node_class[leaf]`` is -1 where the tree alone
    calls a row ending there an outlier, +1 an inlier, 0 neither (decision exactly 0).
    Writes ``leaves`` (flat leaf per in-bag row), ``n_out`` / ``n_in`` (rows of each
    subset reaching each node) and ``iic_out`` / ``iic_in`` (per node, -1 = none).
    Trees are independent (disjoint node and row ranges), hence run in parallel.
    """
    n_trees = tree_offsets.shape[0] - 1
    for t in prange(n_trees):
        base = tree_offsets[t]
        path = np.empty(max_path, dtype=np.int64)
        for r in range(sample_offsets[t], sample_offsets[t + 1]):
            k = _path(X[sample_index[r]], base, feature, threshold, children_left,
                      children_right, missing_go_to_left, path)
            leaf = path[k - 1]
            leaves[r] = leaf
            c = node_class[leaf]
            if c < 0:
                for q in range(k):
                    n_out[path[q]] += 1
            elif c > 0:
                for q in range(k):
                    n_in[path[q]] += 1
        for node in range(base, tree_offsets[t + 1]):
            if children_left[node] == TREE_LEAF:
                iic_out[node] = IIC_UNDEFINED
                iic_in[node] = IIC_UNDEFINED
            else:
                left = base + children_left[node]
                right = base + children_right[node]
                iic_out[node] = _iic(n_out[node], n_out[left], n_out[right])
                iic_in[node] = _iic(n_in[node], n_in[left], n_in[right])


diffi_subsets = jit_parallel(_diffi_subsets_py)
diffi_subsets_serial = jit(_diffi_subsets_py)


@jit
def diffi_accumulate(X, sample_index, sample_offsets, tree_offsets, feature, threshold,
                     children_left, children_right, missing_go_to_left, max_path,
                     node_class, leaves, n_out, n_in, iic_out, iic_in,
                     cfi_out, cfi_in, count_out, count_in):
    """Cumulative importances and counts of both subsets (``diffi_ib``'s loops).

    A tree whose in-bag rows are all outliers or all inliers is skipped. For every
    row of a subset, every node on its path with a defined IIC adds
    ``(1 / h) * iic`` to its split column (h = edges from the root to the leaf) and
    one count. One running sum per column in tree, row and path order: serial on
    purpose, so the result is the same bits for any thread count.
    """
    n_trees = tree_offsets.shape[0] - 1
    path = np.empty(max_path, dtype=np.int64)
    for t in range(n_trees):
        base = tree_offsets[t]
        if n_out[base] == 0 or n_in[base] == 0:
            continue
        for r in range(sample_offsets[t], sample_offsets[t + 1]):
            c = node_class[leaves[r]]
            if c == 0:
                continue
            k = _path(X[sample_index[r]], base, feature, threshold, children_left,
                      children_right, missing_go_to_left, path)
            h = k - 1
            for q in range(h):  # the leaf (last) has no IIC
                node = path[q]
                j = feature[node]
                if c < 0:
                    lam = iic_out[node]
                    if lam != IIC_UNDEFINED:
                        cfi_out[j] += (1.0 / h) * lam
                        count_out[j] += 1
                else:
                    lam = iic_in[node]
                    if lam != IIC_UNDEFINED:
                        cfi_in[j] += (1.0 / h) * lam
                        count_in[j] += 1

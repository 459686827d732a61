"""Numba kernels of the Extended Isolation Forest (Hariri, Kind & Brunner 2021).

Building: one tree per bagging draw, parallel over trees, each tree drawing from its
own MT19937 state (``_mt19937``, a replica of NumPy's legacy ``RandomState``), so a
plain-Python twin with ``np.random.RandomState(tree_seed)`` replays the same stream
(``reference/eif_naive.py``). Scoring: parallel over rows, trees summed in order.

Per internal node, in preorder (a node, then its left subtree, then its right), the
draws are: ``standard_normal(n_features)`` (legacy polar method, whose cached second
value carries over between nodes as in ``RandomState``), then, when ``n_zero > 0``,
``permutation(n_features)[:n_zero]`` (those coordinates of the normal set to 0),
then ``uniform(mins, maxs)`` (one ``random_sample`` per feature, in feature order) for
the intercept point ``p``. Leaves draw nothing.

The split stored is ``intercept = sum_j p[j] * normal[j]`` (summed in feature order,
float64) and a row goes left when ``sum_j x[j] * normal[j] <= intercept`` (same
order). Training rows are partitioned with that same test, so they reach the leaves
that scoring sends them to (``(x - p) . n <= 0`` would differ in the last bits).
"""

import hashlib
import math

import numba
import numpy as np

from .._simd import eif_walk as _eif_simd
from .._config import _variant, jit, jit_parallel, njit_options
from ._mt19937 import STATE_SIZE, legacy_permutation_prefix, mt_double, mt_seed

__all__ = ["build_forest", "build_forest_serial", "path_length_sum",
           "path_length_sum_serial", "apply_forest", "tree_capacity"]


def tree_capacity(n_rows, max_depth):
    """An upper bound on the nodes of one tree.

    A complete binary tree of depth ``max_depth`` has ``2 ** (max_depth + 1) - 1``
    nodes; also, internal nodes at one depth hold disjoint sets of at least 2 rows,
    so there are at most ``n_rows // 2`` of them per depth and
    ``2 * max_depth * (n_rows // 2) + 1`` nodes in all.
    """
    return int(min(2 ** (max_depth + 1) - 1, 2 * max_depth * (n_rows // 2) + 1))


@jit
def legacy_gauss(state, gauss):
    """Legacy ``RandomState.standard_normal()``; ``gauss = [has_gauss, value]``."""
    if gauss[0] != 0.0:
        gauss[0] = 0.0
        v = gauss[1]
        gauss[1] = 0.0
        return v
    while True:
        x1 = 2.0 * mt_double(state) - 1.0
        x2 = 2.0 * mt_double(state) - 1.0
        r2 = x1 * x1 + x2 * x2
        if r2 < 1.0 and r2 != 0.0:
            break
    f = math.sqrt(-2.0 * math.log(r2) / r2)
    gauss[0] = 1.0
    gauss[1] = f * x1
    return f * x2


@jit
def _build_tree(X, rows, tree_seed, n_zero, max_depth, base, children_left,
                children_right, n_node_samples, depth, normal, intercept):
    """Grow one tree on ``X[rows]`` into nodes ``base:``; returns its node count.

    ``depth`` counts the root as 1; a leaf is a node with fewer than 2 rows, at
    depth ``max_depth + 1``, or whose rows are all identical.
    """
    n_features = X.shape[1]
    state = np.empty(STATE_SIZE, dtype=np.int64)
    mt_seed(state, tree_seed)
    gauss = np.zeros(2, dtype=np.float64)
    zero = np.empty(max(n_zero, 1), dtype=np.int64)
    mins = np.empty(n_features, dtype=np.float64)
    maxs = np.empty(n_features, dtype=np.float64)
    p = np.empty(n_features, dtype=np.float64)
    n = rows.shape[0]
    # LIFO stack of pending nodes, one row each: start, end, depth, parent, is_left
    stack = np.empty((2 * (max_depth + 2), 5), dtype=np.int64)
    stack[0, 0] = 0
    stack[0, 1] = n
    stack[0, 2] = 1
    stack[0, 3] = -1
    stack[0, 4] = 0
    top = 1
    n_nodes = 0
    while top > 0:
        top -= 1
        start = stack[top, 0]
        end = stack[top, 1]
        d = stack[top, 2]
        parent = stack[top, 3]
        is_left = stack[top, 4]
        node = n_nodes
        n_nodes += 1
        g = base + node
        if parent >= 0:
            if is_left:
                children_left[base + parent] = node
            else:
                children_right[base + parent] = node
        n_node_samples[g] = end - start
        depth[g] = d
        children_left[g] = -1
        children_right[g] = -1
        intercept[g] = 0.0
        for j in range(n_features):
            normal[g, j] = 0.0
        if end - start < 2 or d > max_depth:
            continue
        for j in range(n_features):
            mins[j] = X[rows[start], j]
            maxs[j] = X[rows[start], j]
        for i in range(start + 1, end):
            r = rows[i]
            for j in range(n_features):
                v = X[r, j]
                if v < mins[j]:
                    mins[j] = v
                if v > maxs[j]:
                    maxs[j] = v
        spread = False
        for j in range(n_features):
            if maxs[j] > mins[j]:
                spread = True
        if not spread:
            continue
        for j in range(n_features):
            normal[g, j] = legacy_gauss(state, gauss)
        if n_zero > 0:
            legacy_permutation_prefix(state, n_features, n_zero, zero)
            for k in range(n_zero):
                normal[g, zero[k]] = 0.0
        for j in range(n_features):
            p[j] = mins[j] + (maxs[j] - mins[j]) * mt_double(state)
        b = 0.0
        for j in range(n_features):
            b += p[j] * normal[g, j]
        intercept[g] = b
        # partition: rows with x . n <= b first
        lo = start
        hi = end - 1
        while lo <= hi:
            r = rows[lo]
            s = 0.0
            for j in range(n_features):
                s += X[r, j] * normal[g, j]
            if s <= b:
                lo += 1
            else:
                rows[lo] = rows[hi]
                rows[hi] = r
                hi -= 1
        # right pushed first so the left subtree is numbered (and drawn) first
        for side in range(2):  # 0: right, 1: left
            stack[top, 0] = start if side else lo
            stack[top, 1] = lo if side else end
            stack[top, 2] = d + 1
            stack[top, 3] = node
            stack[top, 4] = side
            top += 1
    return n_nodes


def _build_forest_impl(X, rows, row_offsets, tree_seeds, n_zero, max_depth,
                       node_offsets, children_left, children_right, n_node_samples,
                       depth, normal, intercept, node_counts):
    """Grow tree ``t`` on ``X[rows[row_offsets[t]:row_offsets[t+1]]]`` into nodes
    ``node_offsets[t]:``. ``rows`` is reordered in place."""
    for t in numba.prange(tree_seeds.shape[0]):
        node_counts[t] = _build_tree(
            X, rows[row_offsets[t]:row_offsets[t + 1]], tree_seeds[t], n_zero,
            max_depth, node_offsets[t], children_left, children_right,
            n_node_samples, depth, normal, intercept)


build_forest = jit_parallel(_build_forest_impl)
build_forest_serial = jit(_build_forest_impl)


@jit
def _walk(X, i, off, children_left, children_right, normal, intercept):
    node = 0
    n_features = X.shape[1]
    while children_left[off + node] != -1:
        g = off + node
        s = 0.0
        for j in range(n_features):
            s += X[i, j] * normal[g, j]
        if s <= intercept[g]:
            node = children_left[g]
        else:
            node = children_right[g]
    return node


def _path_length_sum_impl(X, tree_offsets, children_left, children_right, normal,
                          intercept, leaf_value, out):
    """``out[i] += leaf_value`` of the leaf row ``i`` reaches, tree by tree in order."""
    n_trees = tree_offsets.shape[0] - 1
    for i in numba.prange(X.shape[0]):
        total = 0.0
        for t in range(n_trees):
            off = tree_offsets[t]
            node = _walk(X, i, off, children_left, children_right, normal, intercept)
            total += leaf_value[off + node]
        out[i] += total


path_length_sum = jit_parallel(_path_length_sum_impl)
path_length_sum_serial = jit(_path_length_sum_impl)


@jit_parallel
def apply_forest(X, tree_offsets, children_left, children_right, normal, intercept,
                 out):
    """``out[i, t]``: tree-local id of the leaf row ``i`` reaches in tree ``t``."""
    n_trees = tree_offsets.shape[0] - 1
    for i in numba.prange(X.shape[0]):
        for t in range(n_trees):
            out[i, t] = _walk(X, i, tree_offsets[t], children_left, children_right,
                              normal, intercept)


#: Rows walked together through a tree: independent dot products keep the floating
#: point units busy (one row's sum is a chain of dependent adds).
BLOCK = 8
#: Rows that visit a tree before the next tree: its normals stay in cache.
TILE = 256


def _path_length_sum_blocked_impl(X, tree_offsets, next_left, next_right, normal,
                                  intercept, leaf_value, n_levels, out):
    """``path_length_sum`` in tiles of ``TILE`` rows, ``BLOCK`` rows walking each
    tree in lock step.

    ``next_left`` / ``next_right`` are global node ids whose leaves point to
    themselves, and leaves have a zero normal and intercept (0 <= 0 goes "left",
    i.e. stays), so ``n_levels`` (the deepest leaf's depth, root at 0) steps end
    every walk at its leaf. Each row's dot product is summed in feature order, as
    in ``_walk``, and its trees are added in order: the results are the same bits.
    """
    n = X.shape[0]
    n_features = X.shape[1]
    n_trees = tree_offsets.shape[0] - 1
    n_tiles = (n + TILE - 1) // TILE
    for tile in numba.prange(n_tiles):
        lo = tile * TILE
        hi = min(lo + TILE, n)
        total = np.zeros(TILE, dtype=np.float64)
        # the tile transposed (feature-major, padded with its last row): each step
        # reads BLOCK consecutive values of a feature
        xt = np.empty((n_features, TILE), dtype=np.float64)
        for i in range(TILE):
            src = min(lo + i, hi - 1)
            for j in range(n_features):
                xt[j, i] = X[src, j]
        node = np.empty(BLOCK, dtype=np.int64)
        acc = np.empty(BLOCK, dtype=np.float64)
        for t in range(n_trees):
            root = tree_offsets[t]
            for b in range(lo, hi, BLOCK):
                for k in range(BLOCK):
                    node[k] = root
                for _ in range(n_levels):
                    for k in range(BLOCK):
                        acc[k] = 0.0
                    for j in range(n_features):
                        for k in range(BLOCK):
                            acc[k] += xt[j, b - lo + k] * normal[node[k], j]
                    for k in range(BLOCK):
                        g = node[k]
                        node[k] = next_left[g] if acc[k] <= intercept[g] else next_right[g]
                for k in range(BLOCK):
                    if b + k < hi:
                        total[b + k - lo] += leaf_value[node[k]]
        for i in range(lo, hi):
            out[i] += total[i - lo]


path_length_sum_blocked = jit_parallel(_path_length_sum_blocked_impl)
path_length_sum_blocked_serial = jit(_path_length_sum_blocked_impl)


#: Rows of a tile in the vector walk: 128 rows of 16 slots (10 features) are 16 KiB,
#: beside one tree's node rows in L1.
SIMD_TILE = 128

# Bound per variant by ``simd_path_length_kernels``; the template below is never
# compiled as it stands.
_EIF_WALK = _EIF_WIDTH = None


@jit
def check_simd_table(table, n_features):
    """Raise ValueError unless every offset of the vector walk's node rows
    (``EIFArrays.simd_table``, slots ``n_features + 1`` and ``+ 2``) is a whole row
    of ``table``: the walk follows them without a check of its own (bounds
    checking cannot reach into IR). Run once, when the table is made."""
    n_nodes, width = table.shape
    if n_features < 1 or n_features + 4 > width:
        raise ValueError("the vector walk's table is narrower than its features")
    end = float(n_nodes * width)
    for i in range(n_nodes):
        for slot in range(n_features + 1, n_features + 3):
            v = table[i, slot]
            if not (v >= 0.0 and v < end) or v % width != 0.0:
                raise ValueError("an offset of the vector walk's table is not a row of it")


@jit
def check_simd_walk(X, table, tree_offsets, n_levels, out, width):
    """Raise ValueError unless the walk over ``table`` (rows of ``width`` slots,
    checked by ``check_simd_table``) starts every tree inside it and fits X's
    features and ``out``: the constant-time half of the checks, on every call."""
    n_trees = tree_offsets.shape[0] - 1
    if (table.shape[1] != width or X.shape[1] + 4 > width or n_levels < 0
            or out.shape[0] < X.shape[0] or n_trees < 0):
        raise ValueError("the vector walk's arrays do not fit")
    for t in range(n_trees):
        if tree_offsets[t] < 0 or tree_offsets[t] >= table.shape[0]:
            raise ValueError("a tree of the vector walk starts outside its table")


def _path_length_sum_simd_impl(X, table, tree_offsets, n_levels, out):
    """``path_length_sum`` on the vector walk of ``isoforest._simd.eif_walk``; a
    template compiled per feature count with ``_EIF_WALK`` and ``_EIF_WIDTH`` bound.

    ``table`` holds the node rows (``EIFArrays.simd_table``). Each tile of rows is
    copied into rows of ``_EIF_WIDTH`` slots, 1.0 past the features (padded with its
    last row), and visits every tree in order: same bits as the plain walk.
    """
    check_simd_walk(X, table, tree_offsets, n_levels, out, _EIF_WIDTH)
    n = X.shape[0]
    n_features = X.shape[1]
    width = _EIF_WIDTH
    rows = _eif_simd.ROWS
    n_trees = tree_offsets.shape[0] - 1
    n_tiles = (n + SIMD_TILE - 1) // SIMD_TILE
    for tile in numba.prange(n_tiles):
        lo = tile * SIMD_TILE
        hi = min(lo + SIMD_TILE, n)
        n_sets = (hi - lo + rows - 1) // rows
        xr = np.empty(n_sets * rows * width, dtype=np.float64)
        for i in range(n_sets * rows):
            src = min(lo + i, hi - 1)
            for j in range(n_features):
                xr[i * width + j] = X[src, j]
            for j in range(n_features, width):
                xr[i * width + j] = 1.0
        total = np.zeros(n_sets * rows, dtype=np.float64)
        for t in range(n_trees):
            _EIF_WALK(xr, n_sets, table, tree_offsets[t] * width, n_levels, total)
        for i in range(lo, hi):
            out[i] += total[i - lo]


_SIMD_KERNELS = {}


def simd_path_length_kernels(n_features):
    """``(parallel, serial)`` kernels ``kernel(X, table, tree_offsets, n_levels, out)``
    on the vector walk for data of ``n_features`` columns (1.._eif_simd.MAX_FEATURES),
    writing what ``path_length_sum`` writes, bit for bit. Compiled on first use,
    cached on disk under a name per variant (the IR's hash in it: Numba's cache
    checks only this file's time stamp)."""
    key = int(n_features)
    if key not in _SIMD_KERNELS:
        digest = hashlib.sha1(_eif_simd.ir_text(key).encode()).hexdigest()[:12]
        suffix = f"__simd_f{key}_{digest}"
        bound = dict(globals(), _EIF_WALK=_eif_simd.walk_intrinsic(key),
                     _EIF_WIDTH=_eif_simd.width(key))
        parallel = numba.njit(parallel=True, **njit_options)(
            _variant(_path_length_sum_simd_impl, suffix + "__parallel", bound))
        serial = numba.njit(**njit_options)(
            _variant(_path_length_sum_simd_impl, suffix, bound))
        _SIMD_KERNELS[key] = (parallel, serial)
    return _SIMD_KERNELS[key]

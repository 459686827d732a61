"""Numba kernels for path-dependent TreeSHAP on a flat Isolation Forest.

This module imports NumPy, Numba and ``isoforest._config`` only. The callers in
``isoforest/explain/_treeshap.py`` validate every array; these kernels index raw
memory.

How the values are computed (Fast TreeSHAP v2, Yang 2021, arXiv:2109.09847, with the
integral form of Linear TreeSHAP, Yu et al. 2022, NeurIPS). For one leaf ``l`` of
value ``v`` whose root path splits on the ``k`` distinct features ``F`` (its *slots*,
numbered by first appearance on the path), path-dependent TreeSHAP (Lundberg et al.
2018, Algorithm 1) is the Shapley value of the product game
``v(S) = v * prod_{j in S} o_j * prod_{j in F - S} z_j``, where ``z_j`` is the product
of the cover ratios ``cover(child) / cover(parent)`` along the path's edges on
feature ``j`` and ``o_j`` is 1 when the row satisfies all of them, else 0. That
Shapley value is

    phi_i = v (o_i - z_i) * integral_0^1 prod_{j in F, j != i} (t o_j + (1 - t) z_j) dt,

a polynomial of degree ``k - 1`` in ``t``, integrated exactly by Gauss-Legendre
quadrature with ``ceil(k / 2)`` nodes. Since ``o`` is a bit per slot, a leaf's ``k``
values depend on the row only through the *fail mask* (the slots whose conditions
the row breaks): ``leaf_phi`` fills, once per forest, a table of ``2**k`` rows of
``k`` values per leaf. Two sibling leaves share their slots, and their masks follow
from the parent's mask and the side the row takes there, so a pair gets one table
of ``2**(kp + 1)`` rows holding both leaves' values summed (``kp`` = the parent's
slot count): about 40% fewer table rows to add and 30% less memory for 256-row
trees. Units with too many slots for the memory budget are computed per row
instead, by the same function. Explaining a row is then, per tree, one pass over
the internal nodes to give every node its fail mask (parents come before children
in scikit-learn's node order) and one table row added per unit: O(T L D) per row,
without the O(D^2) path unwinding of the original algorithm.

The per-tree arrays are laid out for that pass: ``int_*`` for internal nodes in
node order and ``unit_*`` for units sorted by slot count, delimited per tree by
``int_start`` / ``unit_start``; node ids in ``int_node``, ``int_left``,
``int_right`` and ``unit_node`` are tree-local.
"""

import numpy as np
from numba import prange

from .._config import jit, jit_parallel

@jit
def path_slots(tree_offsets, global_feature, children_left, children_right, max_depth,
               node_bit, node_k):
    """Walk every tree depth first; per internal node, ``node_bit = 1 << slot`` of its
    feature on the node's root path (the next free slot if the feature is new there);
    per node, ``node_k`` = the number of distinct features on its root path. Returns
    0, or 1 if a child id is not larger than its parent's (the order the fail-mask
    pass needs)."""
    path_feat = np.empty((max_depth + 1, max_depth + 1), dtype=np.int64)
    path_k = np.zeros(max_depth + 1, dtype=np.int64)
    stack_node = np.empty(2 * max_depth + 2, dtype=np.int64)
    stack_depth = np.empty(2 * max_depth + 2, dtype=np.int64)
    stack_parent = np.empty(2 * max_depth + 2, dtype=np.int64)
    for t in range(tree_offsets.shape[0] - 1):
        base = tree_offsets[t]
        top = 1
        stack_node[0] = 0
        stack_depth[0] = 0
        stack_parent[0] = -1
        while top > 0:
            top -= 1
            node = stack_node[top]
            d = stack_depth[top]
            parent = stack_parent[top]
            k = 0
            if parent >= 0:
                # state at depth d: the parent's (depth d - 1) plus the parent's feature
                k = path_k[d - 1]
                for s in range(k):
                    path_feat[d, s] = path_feat[d - 1, s]
                f = global_feature[base + parent]
                new = True
                for s in range(k):
                    if path_feat[d, s] == f:
                        new = False
                if new:
                    path_feat[d, k] = f
                    k += 1
            path_k[d] = k
            node_k[base + node] = k
            left = children_left[base + node]
            if left == -1:
                continue
            right = children_right[base + node]
            if left <= node or right <= node:
                return 1
            f = global_feature[base + node]
            slot = k
            for s in range(k):
                if path_feat[d, s] == f:
                    slot = s
            node_bit[base + node] = np.int64(1) << slot
            stack_node[top] = right
            stack_depth[top] = d + 1
            stack_parent[top] = node
            stack_node[top + 1] = left
            stack_depth[top + 1] = d + 1
            stack_parent[top + 1] = node
            top += 2
    return 0


@jit
def leaf_phi(k, z, s0, mask, value, tq, wq, g, pre, suf, out):
    """The ``k`` TreeSHAP values of one leaf for the fail mask ``mask``, into
    ``out[:k]``: ``value * (o_s - z_s) * sum_q wq[q] prod_{j != s} g_j(tq[q])`` with
    ``g_j(t) = z_j + t (1 - z_j)`` where slot j holds (bit clear) and ``(1 - t) z_j``
    where it fails. ``z[s0:s0 + k]`` are the leaf's zero fractions; ``g``, ``pre``
    (k x Q) and ``suf`` (Q) are scratch. Products are prefix times suffix, so no
    division is ever made."""
    n_q = tq.shape[0]
    for s in range(k):
        zs = z[s0 + s]
        if (mask >> s) & 1:
            for q in range(n_q):
                g[s, q] = (1.0 - tq[q]) * zs
        else:
            for q in range(n_q):
                g[s, q] = zs + tq[q] * (1.0 - zs)
    for q in range(n_q):
        acc = 1.0
        for s in range(k):
            pre[s, q] = acc
            acc *= g[s, q]
        suf[q] = 1.0
    for s in range(k - 1, -1, -1):
        total = 0.0
        for q in range(n_q):
            total += wq[q] * (pre[s, q] * suf[q])
        for q in range(n_q):
            suf[q] *= g[s, q]
        o = 0.0 if (mask >> s) & 1 else 1.0
        out[s] = value * (o - z[s0 + s]) * total


# Written out beside path_slots: the same depth-first walk, with other per-node work
# (zero fractions, leaf records) interleaved with the walk's stack; trees in parallel.
def _leaf_slots_py(tree_offsets, global_feature, children_left, children_right, cover,
                   leaf_value, max_depth, leaf_of_node, leaf_slot, slot_feature, slot_z,
                   tree_base):
    """Per leaf: its slot features and zero fractions (products of the cover ratios
    on each feature's edges, root to leaf); per tree, ``tree_base`` = the cover-
    weighted mean of its leaf values, ``v({})``. Trees run in parallel."""
    for t in prange(tree_offsets.shape[0] - 1):
        base = tree_offsets[t]
        path_feat = np.empty((max_depth + 1, max_depth + 1), dtype=np.int64)
        path_z = np.empty((max_depth + 1, max_depth + 1), dtype=np.float64)
        path_k = np.zeros(max_depth + 1, dtype=np.int64)
        stack_node = np.empty(2 * max_depth + 2, dtype=np.int64)
        stack_depth = np.empty(2 * max_depth + 2, dtype=np.int64)
        stack_parent = np.empty(2 * max_depth + 2, dtype=np.int64)
        e = 0.0
        top = 1
        stack_node[0] = 0
        stack_depth[0] = 0
        stack_parent[0] = -1
        while top > 0:
            top -= 1
            node = stack_node[top]
            d = stack_depth[top]
            parent = stack_parent[top]
            k = 0
            if parent >= 0:
                k = path_k[d - 1]
                for s in range(k):
                    path_feat[d, s] = path_feat[d - 1, s]
                    path_z[d, s] = path_z[d - 1, s]
                f = global_feature[base + parent]
                ratio = cover[base + node] / cover[base + parent]
                new = True
                for s in range(k):
                    if path_feat[d, s] == f:
                        path_z[d, s] *= ratio
                        new = False
                if new:
                    path_feat[d, k] = f
                    path_z[d, k] = ratio
                    k += 1
            path_k[d] = k
            left = children_left[base + node]
            if left == -1:
                leaf = leaf_of_node[base + node]
                s0 = leaf_slot[leaf]
                p = leaf_value[base + node]
                for s in range(k):
                    slot_feature[s0 + s] = path_feat[d, s]
                    slot_z[s0 + s] = path_z[d, s]
                    p *= path_z[d, s]
                e += p
                continue
            stack_node[top] = children_right[base + node]
            stack_depth[top] = d + 1
            stack_parent[top] = node
            stack_node[top + 1] = left
            stack_depth[top + 1] = d + 1
            stack_parent[top + 1] = node
            top += 2
        tree_base[t] = e


leaf_slots = jit_parallel(_leaf_slots_py)
leaf_slots_serial = jit(_leaf_slots_py)


def _fill_tables_py(unit_leaf_a, unit_leaf_b, unit_bit, unit_kp, unit_table, leaf_k,
                    leaf_slot, leaf_value, slot_z, table, tq, wq, max_k):
    """The table of every tabulated unit (``unit_table >= 0``), from ``leaf_phi``.

    A single leaf ``a`` (``unit_leaf_b < 0``) has ``2**k`` rows, one per fail mask.
    A pair of sibling leaves ``a`` (left), ``b`` (right) under a parent with
    ``kp`` path features and split bit ``bit`` has ``2**(kp + 1)`` rows, row
    ``2 m + right`` for the parent's fail mask ``m`` and the parent's direction:
    the left leaf's values for mask ``m | bit * right`` plus the right leaf's for
    ``m | bit * (1 - right)``. Units run in parallel.
    """
    n_q = tq.shape[0]
    for u in prange(unit_leaf_a.shape[0]):
        off = unit_table[u]
        if off < 0:
            continue
        a = unit_leaf_a[u]
        b = unit_leaf_b[u]
        k = leaf_k[a]
        g = np.empty((max_k + 1, n_q))
        pre = np.empty((max_k + 1, n_q))
        suf = np.empty(n_q)
        ea = np.empty(max_k + 1)
        eb = np.empty(max_k + 1)
        if b < 0:
            for mask in range(1 << k):
                leaf_phi(k, slot_z, leaf_slot[a], mask, leaf_value[a], tq, wq, g, pre, suf,
                         ea)
                for s in range(k):
                    table[off + mask * k + s] = ea[s]
            continue
        bit = unit_bit[u]
        for m in range(1 << unit_kp[u]):
            for right in range(2):
                leaf_phi(k, slot_z, leaf_slot[a], m | (bit * right), leaf_value[a], tq, wq,
                         g, pre, suf, ea)
                leaf_phi(k, slot_z, leaf_slot[b], m | (bit * (1 - right)), leaf_value[b],
                         tq, wq, g, pre, suf, eb)
                row = off + (2 * m + right) * k
                for s in range(k):
                    table[row + s] = ea[s] + eb[s]


fill_tables = jit_parallel(_fill_tables_py)
fill_tables_serial = jit(_fill_tables_py)


def _tree_shap_py(X, int_start, int_node, int_feature, int_threshold, int_nan_left,
                  int_bit, int_left, int_right, unit_start, unit_node, unit_k, unit_slot,
                  unit_table, unit_value, slot_feature, slot_z, table, tq, wq, max_nodes,
                  max_k, block_rows, out):
    """``out[i, f] = sum over trees, in tree order, of feature f's TreeSHAP value``
    (unscaled: the caller divides by the number of trees).

    The internal-node pass leaves in ``fail`` each leaf's fail mask and, at each
    internal node, ``2 * (its fail mask) + (1 if the row goes right)``: the row
    index of a unit made of that node's two leaves. A tree's units come sorted by
    slot count, so the loop over a unit's ``k`` values keeps the same length for
    long runs. Rows are split into blocks of ``block_rows``, each tree walked for
    the whole block while its tables sit in cache; each row's sums run in the same
    order whatever the block size or thread count.
    """
    n, n_features = X.shape
    n_trees = int_start.shape[0] - 1
    n_q = tq.shape[0]
    n_blocks = (n + block_rows - 1) // block_rows
    for b in prange(n_blocks):
        r0 = b * block_rows
        r1 = min(n, r0 + block_rows)
        m = r1 - r0
        xb = np.empty((m, n_features), dtype=np.float32)
        for r in range(m):
            for j in range(n_features):
                xb[r, j] = np.float32(X[r0 + r, j])
        acc = np.zeros((m, n_features))
        fail = np.zeros(max_nodes, dtype=np.int64)
        g = np.empty((max_k + 1, n_q))
        pre = np.empty((max_k + 1, n_q))
        suf = np.empty(n_q)
        entries = np.zeros(max_k + 1)
        for t in range(n_trees):
            i0 = int_start[t]
            i1 = int_start[t + 1]
            u0 = unit_start[t]
            u1 = unit_start[t + 1]
            for r in range(m):
                x = xb[r]
                a = acc[r]
                fail[0] = 0
                for j in range(i0, i1):
                    v = x[int_feature[j]]
                    # the scoring kernel's test: NaN goes where training NaNs went;
                    # a NaN threshold sends every number right
                    if np.isnan(v):
                        right = np.int64(int_nan_left[j] == 0)
                    else:
                        right = np.int64(not (np.float64(v) <= int_threshold[j]))
                    node = int_node[j]
                    fm = fail[node]
                    bit = int_bit[j]
                    fail[int_left[j]] = fm | (bit * right)
                    fail[int_right[j]] = fm | (bit * (1 - right))
                    # the children are done with it: keep the pair row index
                    fail[node] = (fm << 1) | right
                for u in range(u0, u1):
                    k = unit_k[u]
                    key = fail[unit_node[u]]
                    s0 = unit_slot[u]
                    off = unit_table[u]
                    if off >= 0:
                        off += key * k
                        for s in range(k):
                            a[slot_feature[s0 + s]] += table[off + s]
                    else:  # a single leaf, not tabulated
                        leaf_phi(k, slot_z, s0, key, unit_value[u], tq, wq, g, pre, suf,
                                 entries)
                        for s in range(k):
                            a[slot_feature[s0 + s]] += entries[s]
        for r in range(m):
            for j in range(n_features):
                out[r0 + r, j] = acc[r, j]


tree_shap = jit_parallel(_tree_shap_py)
tree_shap_serial = jit(_tree_shap_py)

"""Path-dependent TreeSHAP for isoforest's IsolationForest: per-forest tables, cached.

``tree_shap_values(model, X, n_jobs)`` explains validated rows; the kernels are in
``_treeshap_kernels.py`` (the method is described there) and the naive twin in
``reference/treeshap_naive.py``.
"""

import numpy as np

from .._config import effective_n_jobs, num_threads
from . import _treeshap_kernels as kernels

__all__ = ["TreeShapTables", "tables_for", "tree_shap_values"]

#: Largest number of table entries (float64) kept per forest: 64 MiB. Leaves whose
#: ``2**k x k`` tables do not fit are computed per row (same arithmetic, slower).
TABLE_BUDGET = 1 << 23
#: Leaves with more distinct path features than this are never tabulated.
MAX_TABLE_SLOTS = 12
#: The fail masks are int64 bit sets.
MAX_SLOTS = 62
#: Rows from which the parallel kernel is used when n_jobs asks for threads.
PARALLEL_MIN_ROWS = 64


def block_rows(n_rows, n_features, n_threads):
    """Rows explained together by one thread (see ``_treeshap_kernels``).

    Large blocks let each tree's tables (about 150 KiB for 256-row trees) serve
    many rows while in cache (measured: 32 rows per block 3x slower than 1024);
    the bounds keep a block's accumulators within about 1 MiB and give every
    thread about four blocks. The block size never changes a result.
    """
    per_thread = -(-n_rows // (4 * max(n_threads, 1)))
    cap = max(32, (1 << 17) // max(n_features, 1))
    return int(max(32, min(per_thread, 1024, cap)))


def gauss_legendre_01(n):
    """Nodes and weights of the ``n``-point Gauss-Legendre rule on [0, 1]: exact for
    polynomials of degree up to ``2 n - 1``."""
    x, w = np.polynomial.legendre.leggauss(n)
    return np.ascontiguousarray((x + 1.0) / 2.0), np.ascontiguousarray(w / 2.0)


class TreeShapTables:
    """What explaining a row needs from one forest, computed once.

    Attributes
    ----------
    forest : ForestArrays
        The forest these tables were made from (the cache is valid while the model
        still holds this very object).
    base_value : float
        ``v({})`` of the mean path length: the cover-weighted mean over leaves,
        averaged over trees.
    n_units, n_pairs : int
        Units explained per row (a pair of sibling leaves or a single leaf) and how
        many of them are pairs.
    k_table : int
        Units with at most this many path features are tabulated; the others
        (beyond ``TABLE_BUDGET``) are computed per row.
    n_table_entries : int
        Size of ``table`` (float64 entries).
    """

    def __init__(self, forest, n_features, n_jobs=None):
        self.forest = forest
        self.n_features = int(n_features)
        f = forest
        n_trees = f.n_trees
        offsets = f.tree_offsets
        internal = f.children_left != -1
        max_depth = int(f.depth.max()) - 1 if f.n_nodes else 0
        node_bit = np.zeros(f.n_nodes, dtype=np.int64)
        node_k = np.zeros(f.n_nodes, dtype=np.int64)
        bad = kernels.path_slots(offsets, f.global_feature, f.children_left, f.children_right,
                                 max_depth, node_bit, node_k)
        if bad:
            raise ValueError("The forest's nodes are not in depth-first order "
                             "(a child id below its parent's); cannot explain it.")
        tree_of = np.repeat(np.arange(n_trees), np.diff(offsets))
        local = np.arange(f.n_nodes) - offsets[tree_of]

        ints = np.flatnonzero(internal)
        self.int_start = np.searchsorted(ints, offsets).astype(np.int64)
        self.int_node = np.ascontiguousarray(local[ints])
        self.int_feature = np.ascontiguousarray(f.global_feature[ints])
        self.int_threshold = np.ascontiguousarray(f.threshold[ints])
        self.int_nan_left = np.ascontiguousarray(f.missing_go_to_left[ints])
        self.int_bit = np.ascontiguousarray(node_bit[ints])
        self.int_left = np.ascontiguousarray(f.children_left[ints])
        self.int_right = np.ascontiguousarray(f.children_right[ints])

        # Leaves in node order, with their slots (features and zero fractions).
        leaves = np.flatnonzero(~internal)
        leaf_k = node_k[leaves]
        leaf_value = np.ascontiguousarray(f.leaf_value[leaves])
        leaf_of_node = np.full(f.n_nodes, -1, dtype=np.int64)
        leaf_of_node[leaves] = np.arange(leaves.size)
        self.max_k = int(leaf_k.max()) if leaves.size else 0
        if self.max_k > MAX_SLOTS:
            raise ValueError(f"A root path splits on {self.max_k} distinct features; "
                             f"TreeSHAP here handles at most {MAX_SLOTS}.")
        leaf_slot = np.zeros(leaves.size, dtype=np.int64)
        np.cumsum(leaf_k[:-1], out=leaf_slot[1:])
        self.slot_feature = np.zeros(int(leaf_k.sum()), dtype=np.int64)
        self.slot_z = np.zeros(self.slot_feature.size, dtype=np.float64)
        tree_base = np.zeros(n_trees, dtype=np.float64)
        with num_threads(n_jobs):
            (kernels.leaf_slots if n_trees > 1 else kernels.leaf_slots_serial)(
                offsets, f.global_feature, f.children_left, f.children_right,
                f.weighted_n_node_samples, f.leaf_value, max_depth, leaf_of_node, leaf_slot,
                self.slot_feature, self.slot_z, tree_base)

        # Units: each pair of sibling leaves, and every other leaf alone.
        left = np.where(internal, f.children_left + offsets[tree_of], 0)
        right = np.where(internal, f.children_right + offsets[tree_of], 0)
        pair = internal & ~internal[left] & ~internal[right]
        parents = np.flatnonzero(pair)
        paired = np.zeros(f.n_nodes, dtype=bool)
        paired[left[parents]] = True
        paired[right[parents]] = True
        singles = np.flatnonzero(~internal & ~paired)
        u_node = np.concatenate([singles, parents])
        u_a = np.concatenate([leaf_of_node[singles], leaf_of_node[left[parents]]])
        u_b = np.concatenate([np.full(singles.size, -1, dtype=np.int64),
                              leaf_of_node[right[parents]]])
        u_k = leaf_k[u_a]
        u_kp = np.concatenate([u_k[:singles.size], node_k[parents]])
        u_bit = np.concatenate([np.zeros(singles.size, dtype=np.int64), node_bit[parents]])

        # Tabulate the units with the fewest slots first, as far as the budget goes;
        # a pair beyond it is explained as two single leaves.
        is_pair = u_b >= 0
        rows = np.where(is_pair, np.int64(2) << np.minimum(u_kp, MAX_TABLE_SLOTS),
                        np.int64(1) << np.minimum(u_k, MAX_TABLE_SLOTS))
        size = np.where(u_k <= MAX_TABLE_SLOTS, rows * u_k, 0)
        per_k = np.bincount(u_k, weights=size, minlength=MAX_SLOTS + 1)
        k_table = -1
        while k_table < MAX_TABLE_SLOTS and per_k[: k_table + 2].sum() <= TABLE_BUDGET:
            k_table += 1
        self.k_table = k_table
        split = is_pair & (u_k > k_table)
        if split.any():
            keep = ~split
            extra = leaf_of_node[right[u_node[split]]]
            u_a = np.concatenate([u_a[keep], u_a[split], extra])
            u_node = np.concatenate([u_node[keep], left[u_node[split]], right[u_node[split]]])
            u_b = np.concatenate([u_b[keep], np.full(2 * split.sum(), -1, dtype=np.int64)])
            u_kp = np.concatenate([u_kp[keep], leaf_k[u_a[keep.sum():]]])
            u_bit = np.concatenate([u_bit[keep], np.zeros(2 * split.sum(), dtype=np.int64)])
            size = np.concatenate([size[keep], np.zeros(2 * split.sum(), dtype=np.int64)])
            u_k = leaf_k[u_a]
        tabulated = u_k <= k_table
        # sorted by tree, then slot count, then node
        order = np.lexsort((u_node, u_k, tree_of[u_node]))
        u_node, u_a, u_b, u_k = u_node[order], u_a[order], u_b[order], u_k[order]
        u_kp, u_bit = u_kp[order], u_bit[order]
        sizes = np.where(tabulated, size, 0)[order].astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.unit_table = np.where(tabulated[order], starts, -1).astype(np.int64)
        self.unit_start = np.searchsorted(tree_of[u_node], np.arange(n_trees + 1))
        self.unit_start = self.unit_start.astype(np.int64)
        self.unit_node = np.ascontiguousarray(local[u_node])
        self.unit_k = np.ascontiguousarray(u_k)
        self.unit_slot = np.ascontiguousarray(leaf_slot[u_a])
        self.unit_value = np.ascontiguousarray(leaf_value[u_a])
        self.n_units = int(u_node.size)
        self.n_pairs = int((u_b >= 0).sum())
        self.n_table_entries = int(sizes.sum())

        # The integrand has degree k - 1 <= max_k - 1.
        self.tq, self.wq = gauss_legendre_01(max(1, (self.max_k + 1) // 2))
        self.table = np.zeros(self.n_table_entries, dtype=np.float64)
        with num_threads(n_jobs):
            (kernels.fill_tables if self.n_units > 1 else kernels.fill_tables_serial)(
                u_a, u_b, u_bit, u_kp, self.unit_table, leaf_k, leaf_slot, leaf_value,
                self.slot_z, self.table, self.tq, self.wq, self.max_k)
        self.tree_base = tree_base
        self.base_value = float(tree_base.sum() / n_trees) if n_trees else 0.0
        self.max_nodes = int(np.diff(offsets).max()) if n_trees else 1

    def values(self, X, n_jobs):
        """TreeSHAP values of the mean path length for validated float rows ``X``."""
        X = np.ascontiguousarray(X)
        n_trees = self.forest.n_trees
        out = np.zeros(X.shape, dtype=np.float64)
        if X.shape[0] == 0 or n_trees == 0:
            return out
        args = (X, self.int_start, self.int_node, self.int_feature, self.int_threshold,
                self.int_nan_left, self.int_bit, self.int_left, self.int_right,
                self.unit_start, self.unit_node, self.unit_k, self.unit_slot,
                self.unit_table, self.unit_value, self.slot_feature, self.slot_z,
                self.table, self.tq, self.wq, self.max_nodes, self.max_k)
        threads = effective_n_jobs(n_jobs)
        if threads > 1 and X.shape[0] >= PARALLEL_MIN_ROWS:
            with num_threads(n_jobs):
                kernels.tree_shap(*args, block_rows(X.shape[0], X.shape[1], threads), out)
        else:
            kernels.tree_shap_serial(*args, block_rows(X.shape[0], X.shape[1], 1), out)
        # the forest's output is the mean over trees
        out /= n_trees
        return out


def tables_for(model, n_jobs=None):
    """The model's TreeShapTables, made on first use and cached on the model (the
    cache is dropped when pickling and rebuilt when the forest changes)."""
    forest = model._forest
    cache = getattr(model, "_treeshap_cache", None)
    if cache is None or cache.forest is not forest:
        cache = TreeShapTables(forest, model.n_features_in_, n_jobs)
        model._treeshap_cache = cache
    return cache


def tree_shap_values(model, X, n_jobs=None):
    """``(values, base_value)`` for a fitted isoforest IsolationForest and validated,
    dense float rows ``X``."""
    tables = tables_for(model, n_jobs)
    return tables.values(X, n_jobs), tables.base_value

"""Path-dependent TreeSHAP for isoforest's IsolationForest: per-forest tables, cached.

``tree_shap_values(model, X, n_jobs)`` explains validated rows; the kernels are in
``_treeshap_kernels.py`` (the method is described there) and the naive twin in
``reference/treeshap_naive.py``.
"""

import numpy as np

from .._config import effective_n_jobs, num_threads
from . import _treeshap_kernels as K

__all__ = ["TreeShapTables", "tables_for", "tree_shap_values"]

#: Largest number of table entries (float64) kept per forest: 64 MiB. Leaves whose
#: ``2**k x k`` tables do not fit are computed per row (same arithmetic, slower).
TABLE_BUDGET = 1 << 23
#: Leaves with more distinct path features than this are never tabulated.
MAX_TABLE_SLOTS = 12
#: The fail masks are int64 bit sets.
MAX_SLOTS = 62
#: Rows from which the parallel kernel is used when n_jobs asks for threads.
PARALLEL_MIN_ROWS = 2 * K.BLOCK_ROWS


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
    n_table_entries : int
        Size of ``table`` (float64 entries).
    """

    def __init__(self, forest, n_features, n_jobs=None):
        self.forest = forest
        f = forest
        n_trees = f.n_trees
        offsets = f.tree_offsets
        internal = f.children_left != -1
        max_depth = int(f.depth.max()) - 1 if f.n_nodes else 0
        node_bit = np.zeros(f.n_nodes, dtype=np.int64)
        node_k = np.zeros(f.n_nodes, dtype=np.int64)
        bad = K.path_slots(offsets, f.global_feature, f.children_left, f.children_right,
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

        leaves = np.flatnonzero(~internal)
        self.leaf_start = np.searchsorted(leaves, offsets).astype(np.int64)
        self.leaf_node = np.ascontiguousarray(local[leaves])
        self.leaf_k = np.ascontiguousarray(node_k[leaves])
        self.leaf_values = np.ascontiguousarray(f.leaf_value[leaves])
        leaf_of_node = np.full(f.n_nodes, -1, dtype=np.int64)
        leaf_of_node[leaves] = np.arange(leaves.size)
        self.max_k = int(self.leaf_k.max()) if leaves.size else 0
        if self.max_k > MAX_SLOTS:
            raise ValueError(f"A root path splits on {self.max_k} distinct features; "
                             f"TreeSHAP here handles at most {MAX_SLOTS}.")
        # Every leaf gets ``width`` slots; unused ones name dummy columns past
        # ``n_features`` and hold zeros.
        self.width = width = max(self.max_k, 1)
        self.n_features = int(n_features)

        # Tabulate the leaves with the fewest slots first, as far as the budget goes.
        k_capped = np.minimum(self.leaf_k, MAX_TABLE_SLOTS)
        size = np.where(self.leaf_k <= MAX_TABLE_SLOTS, (np.int64(1) << k_capped) * width, 0)
        per_k = np.bincount(self.leaf_k, weights=size, minlength=MAX_SLOTS + 1)
        k_table = -1
        while k_table < MAX_TABLE_SLOTS and per_k[: k_table + 2].sum() <= TABLE_BUDGET:
            k_table += 1
        tabulated = self.leaf_k <= k_table
        sizes = np.where(tabulated, size, 0)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.leaf_table = np.where(tabulated, starts, -1).astype(np.int64)
        self.n_table_entries = int(sizes.sum())
        self.k_table = k_table

        # The integrand has degree k - 1 <= max_k - 1.
        self.tq, self.wq = gauss_legendre_01(max(1, (self.max_k + 1) // 2))
        # padding slot s names dummy column n_features + s: one dummy for all would
        # chain every add through the same memory word
        self.slot_feature = np.tile(self.n_features + np.arange(width, dtype=np.int64),
                                    leaves.size)
        self.slot_z = np.zeros(leaves.size * width, dtype=np.float64)
        self.table = np.zeros(self.n_table_entries, dtype=np.float64)
        tree_base = np.zeros(n_trees, dtype=np.float64)
        fill = K.fill_tables if n_trees > 1 else K.fill_tables_serial
        # Each tree is filled by one thread on its own; the thread count changes
        # nothing in the tables.
        with num_threads(n_jobs):
            fill(offsets, f.global_feature, f.children_left, f.children_right,
                 f.weighted_n_node_samples, f.leaf_value, max_depth, leaf_of_node,
                 self.leaf_table, self.slot_feature, self.slot_z, width, self.table,
                 self.tq, self.wq, tree_base)
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
                self.leaf_start, self.leaf_node, self.leaf_k, self.leaf_table,
                self.leaf_values, self.slot_feature, self.slot_z, self.width, self.table,
                self.tq, self.wq, self.max_nodes, out)
        if effective_n_jobs(n_jobs) > 1 and X.shape[0] >= PARALLEL_MIN_ROWS:
            with num_threads(n_jobs):
                K.tree_shap(*args)
        else:
            K.tree_shap_serial(*args)
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

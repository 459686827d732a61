"""The fitted forest as a handful of flat arrays, and read-only per-tree views.

Keeping the model as plain contiguous NumPy arrays (never Numba typed containers)
is what makes pickling, ``clone``, read-only memory maps and the safe model file
format work without special cases.
"""

import numpy as np

from ._kernels import (
    COMPLETE_MAX_DEPTH,
    global_features,
    node_depths,
    to_complete_layout,
)
from .._simd.forest_walk import PAD

__all__ = ["FlatForest", "ForestArrays", "TreeView", "IsolationTree", "average_path_length",
           "leaf_values"]

#: Names, dtypes and meaning of the per-node arrays (concatenated over trees).
NODE_FIELDS = (
    ("feature", np.int64, "feature id within the tree's feature subset; -2 at leaves"),
    ("threshold", np.float64, "go left when float32(x[feature]) <= threshold; -2 at leaves"),
    ("children_left", np.int64, "tree-local id of the left child; -1 at leaves"),
    ("children_right", np.int64, "tree-local id of the right child; -1 at leaves"),
    ("n_node_samples", np.int64, "distinct training rows that reach the node"),
    ("weighted_n_node_samples", np.float64, "drawn rows (repeats counted) that reach the node"),
    ("impurity", np.float64, "variance of scikit-learn's dummy target at the node"),
    ("missing_go_to_left", np.uint8, "1 if a NaN goes left at this split"),
)


def average_path_length(n_samples_leaf):
    """c(n): average path length of an unsuccessful BST search among n points.

    ``c(n) = 2 (ln(n - 1) + gamma) - 2 (n - 1) / n`` for n > 2, 1 for n = 2 and 0
    for n <= 1 (Liu, Ting & Zhou 2008, eq. 1). Computed with NumPy array operations
    in scikit-learn's order so the last bit matches its scores.
    """
    n = np.asarray(n_samples_leaf)
    shape = n.shape
    n = n.reshape((1, -1))
    out = np.zeros(n.shape)
    mask_1 = n <= 1
    mask_2 = n == 2
    not_mask = ~np.logical_or(mask_1, mask_2)
    out[mask_1] = 0.0
    out[mask_2] = 1.0
    out[not_mask] = (
        2.0 * (np.log(n[not_mask] - 1.0) + np.euler_gamma)
        - 2.0 * (n[not_mask] - 1.0) / n[not_mask]
    )
    return out.reshape(shape)


def leaf_values(depth, n_node_samples):
    """``depth + c(n_node_samples) - 1`` per node: what a row ending at that leaf adds
    to its total path length (``depth`` counts the root as 1).

    c(n) is computed once for each distinct count, then looked up: NumPy computes
    each element alone, so the values are the ones ``c(n_node_samples)`` would give,
    and memory follows the number of nodes, not the largest count (a model file may
    hold any count).
    """
    counts, where = np.unique(n_node_samples, return_inverse=True)
    return (depth + average_path_length(counts)[where.reshape(-1)]) - 1.0


class FlatForest:
    """The flat layout both forests share: ``tree_offsets``, per-node arrays
    concatenated over trees, and one more stored array (``_EXTRA``); everything
    else is derived by ``_derive`` when the forest is made or unpickled.

    A subclass sets ``_NODE_FIELDS`` (name, dtype, meaning of each per-node array),
    ``_EXTRA = (name, dtype, per_node)`` (its second constructor argument, joined
    along its first axis; ``per_node`` when it has a row per node) and ``_derive``.
    Pickles hold exactly the stored arrays, by name.
    """

    __slots__ = ("tree_offsets",)
    _NODE_FIELDS = ()
    _EXTRA = (None, None, False)

    def __init__(self, tree_offsets, extra, **nodes):
        self.tree_offsets = np.ascontiguousarray(tree_offsets, dtype=np.int64)
        name, dtype, _ = self._EXTRA
        setattr(self, name, np.ascontiguousarray(extra, dtype=dtype))
        for name, dtype, _ in self._NODE_FIELDS:
            setattr(self, name, np.ascontiguousarray(nodes[name], dtype=dtype))
        self._derive()

    def _derive(self):
        raise NotImplementedError

    @property
    def n_trees(self):
        return self.tree_offsets.shape[0] - 1

    @property
    def n_nodes(self):
        return int(self.tree_offsets[-1])

    def node_arrays(self):
        """The stored per-node arrays, by name (derived arrays excluded)."""
        out = {name: getattr(self, name) for name, _, _ in self._NODE_FIELDS}
        name, _, per_node = self._EXTRA
        if per_node:
            out[name] = getattr(self, name)
        return out

    @classmethod
    def concatenate(cls, parts):
        """Join forests trained on the same columns (used by ``warm_start``)."""
        parts = [p for p in parts if p is not None and p.n_trees > 0]
        if len(parts) == 1:
            return parts[0]
        offsets = [0]
        for p in parts:
            offsets.extend(offsets[-1] + p.tree_offsets[1:])
        nodes = {name: np.concatenate([getattr(p, name) for p in parts])
                 for name, _, _ in cls._NODE_FIELDS}
        extra = np.concatenate([getattr(p, cls._EXTRA[0]) for p in parts], axis=0)
        return cls(np.asarray(offsets), extra, **nodes)

    def stored_arrays(self):
        """Every stored array, by name: ``tree_offsets``, a per-tree ``_EXTRA``, then
        the per-node arrays (what pickles and model files hold)."""
        out = {"tree_offsets": self.tree_offsets}
        name, _, per_node = self._EXTRA
        if not per_node:
            out[name] = getattr(self, name)
        out.update(self.node_arrays())
        return out

    def __getstate__(self):
        return self.stored_arrays()

    def __setstate__(self, state):
        state = dict(state)
        self.__init__(state.pop("tree_offsets"), state.pop(self._EXTRA[0]), **state)


class ForestArrays(FlatForest):
    """All trees of a fitted forest, stored flat.

    Attributes
    ----------
    tree_offsets : ndarray of int64, shape (n_trees + 1,)
        Nodes of tree ``t`` are ``tree_offsets[t]:tree_offsets[t + 1]``.
    feature, threshold, children_left, children_right, n_node_samples,
    weighted_n_node_samples, impurity, missing_go_to_left : ndarray, shape (n_nodes,)
        Per-node arrays; see ``NODE_FIELDS`` for each meaning.
    features : ndarray of int64, shape (n_trees, max_features)
        Column subset of each tree (``estimators_features_``).
    depth : ndarray of int64, shape (n_nodes,)
        Node depth, the root counting as 1.
    leaf_value : ndarray of float64, shape (n_nodes,)
        ``depth + c(n_node_samples) - 1``: what a row ending at that leaf adds to its
        total path length.
    global_feature : ndarray of int64, shape (n_nodes,)
        ``feature`` mapped to columns of X (-2 at leaves): what scoring reads.
    """

    __slots__ = tuple(name for name, _, _ in NODE_FIELDS) + (
        "features",
        "depth",
        "leaf_value",
        "global_feature",
        "complete",
    )
    _NODE_FIELDS = NODE_FIELDS
    _EXTRA = ("features", np.int64, False)

    def _derive(self):
        self.depth = node_depths(self.children_left, self.children_right, self.tree_offsets)
        self.leaf_value = leaf_values(self.depth, self.n_node_samples)
        self.global_feature = global_features(self.feature, self.features,
                                              self.tree_offsets)
        self.complete = self._complete_layout()

    def _complete_layout(self):
        """The padded, branch-free layout used for fast scoring (None if too deep).

        Returns ``(depth, feature, threshold32, nan_right, leaf)``: see
        ``isoforest.forest._kernels.score_complete``.
        """
        if self.n_trees == 0:
            return None
        depth = int(self.depth.max()) - 1
        if depth > COMPLETE_MAX_DEPTH:
            return None
        depth = max(depth, 0)
        # The largest float32 <= each threshold: float32(x) <= t  <=>  x32 <= t32.
        thr32 = self.threshold.astype(np.float32)
        above = thr32.astype(np.float64) > self.threshold
        thr32[above] = np.nextafter(thr32[above], np.float32(-np.inf))
        n_internal = (1 << depth) - 1
        # spare entries after the last tree: the vector walk loads whole tables
        feat = np.zeros(self.n_trees * n_internal + PAD, dtype=np.uint32)
        thr = np.full(self.n_trees * n_internal + PAD, np.inf, dtype=np.float32)
        nan_right = np.zeros(self.n_trees * n_internal, dtype=np.uint8)
        leaf = np.zeros(self.n_trees * (1 << depth), dtype=np.float64)
        to_complete_layout(self.tree_offsets, self.children_left, self.children_right,
                           self.global_feature, thr32, self.missing_go_to_left,
                           self.leaf_value, self.depth, depth, feat, thr, nan_right, leaf)
        return depth, feat, thr, nan_right, leaf


class TreeView:
    """One tree's arrays, named as scikit-learn's ``Tree`` names them (read-only views).

    Attributes
    ----------
    node_count : int
    max_depth : int
        Depth of the deepest leaf (root at depth 0, as in scikit-learn).
    feature, threshold, children_left, children_right, n_node_samples,
    weighted_n_node_samples, impurity, missing_go_to_left : ndarray
        See ``isoforest.forest._arrays.NODE_FIELDS``.
    """

    def __init__(self, forest, index):
        lo, hi = forest.tree_offsets[index], forest.tree_offsets[index + 1]
        for name, _, _ in NODE_FIELDS:
            arr = getattr(forest, name)[lo:hi].view()
            arr.flags.writeable = False
            setattr(self, name, arr)
        depth = forest.depth[lo:hi].view()
        depth.flags.writeable = False
        self._depths = depth
        self.node_count = int(hi - lo)
        self.max_depth = int(depth.max()) - 1 if self.node_count else 0
        self.n_features = int(forest.features.shape[1])

    def compute_node_depths(self):
        """Depth of each node, the root counting as 1 (scikit-learn's convention)."""
        return self._depths.copy()

    def __repr__(self):
        return f"TreeView(node_count={self.node_count}, max_depth={self.max_depth})"


class IsolationTree:
    """A fitted isolation tree of an :class:`isoforest.IsolationForest`.

    Mirrors the parts of scikit-learn's ``ExtraTreeRegressor`` that people inspect:
    ``tree_`` (the node arrays), ``max_depth`` (the depth limit it was grown with),
    ``random_state`` (the seed scikit-learn would have given it) and
    ``n_features_in_``.
    """

    def __init__(self, owner, index, max_depth, random_state):
        self._owner = owner
        self._index = index
        self.max_depth = max_depth
        self.random_state = random_state

    @property
    def tree_(self):
        return TreeView(self._owner._forest, self._index)

    @property
    def n_features_in_(self):
        return int(self._owner._forest.features.shape[1])

    def __repr__(self):
        return f"IsolationTree(max_depth={self.max_depth}, random_state={self.random_state})"

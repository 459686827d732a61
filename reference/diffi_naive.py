"""DIFFI the slow way: a teaching twin of ``isoforest.explain._diffi``.

Carletti, Terzi & Susto (2023), "Interpretable Anomaly Detection with DIFFI:
Depth-based Feature Importance of Isolation Forest" (Engineering Applications of
AI 119, 105730; arXiv:2007.11117), as their reference code (``local_diffi``,
``diffi_ib`` and ``_get_iic`` in github.com/mattiacarletti/DIFFI) computes it,
written again from those definitions over scikit-learn-style per-tree arrays:
``model.estimators_[t].tree_`` (feature, threshold, children, n_node_samples,
missing_go_to_left), ``model.estimators_features_`` (tree feature -> column of X),
``model.estimators_samples_`` (in-bag rows), ``offset_`` and ``max_samples_``. It
works on an ``isoforest.IsolationForest`` and on a fitted
``sklearn.ensemble.IsolationForest`` alike. Plain Python loops, one row and one node
at a time; the tests compare the Numba kernels against it.

Numbers: rows are rounded to float32 (trees compare float32 values with float64
thresholds); every sum is one running Python-float sum in the reference's order
(trees, then rows, then the path from the root), so it rounds as the reference does.
"""

import math

import numpy as np

from .iforest_naive import c

__all__ = [
    "node_depths",
    "decision_path",
    "tree_max_depth",
    "induced_imbalance_coefficients",
    "local_diffi",
    "diffi_global",
]

TREE_LEAF = -1


def node_depths(tree):
    """Depth of every node in edges from the root (the reference's ``node_depth``)."""
    depth = [0] * tree.node_count
    stack = [(0, 0)]
    while stack:
        node, d = stack.pop()
        depth[node] = d
        if tree.children_left[node] != TREE_LEAF:
            stack.append((int(tree.children_left[node]), d + 1))
            stack.append((int(tree.children_right[node]), d + 1))
    return depth


def decision_path(tree, features, x32):
    """Nodes from the root to the leaf that row ``x32`` (float32 values of all columns
    of X) reaches; tree feature ``f`` reads column ``features[f]``. NaN follows
    ``missing_go_to_left``; otherwise ``x <= threshold`` goes left."""
    node = 0
    path = [0]
    while tree.children_left[node] != TREE_LEAF:
        v = x32[features[tree.feature[node]]]
        if np.isnan(v):
            go_left = bool(tree.missing_go_to_left[node])
        else:
            go_left = float(v) <= float(tree.threshold[node])
        node = int(tree.children_left[node] if go_left else tree.children_right[node])
        path.append(node)
    return path


def tree_max_depth(estimator):
    """h_max: the height limit the tree was grown with, ``ceil(log2(max_samples))``
    (scikit-learn stores it on each tree)."""
    return int(estimator.max_depth)


def _as_float32(X):
    return np.asarray(X, dtype=np.float64).astype(np.float32)


def local_diffi(model, X):
    """Local DIFFI of every row (authors' ``local_diffi``, one row at a time).

    Each internal node on a row's path in tree t credits its split column with
    ``1/h_t(x) - 1/h_max`` (h_t(x): leaf depth in edges) and one count; the result
    is credits / counts, 0 for a column with no count.
    """
    X32 = _as_float32(X)
    n_features = X32.shape[1]
    trees = [(est.tree_, np.asarray(feats), tree_max_depth(est))
             for est, feats in zip(model.estimators_, model.estimators_features_)]
    depths = [node_depths(tree) for tree, _, _ in trees]
    out = np.zeros((X32.shape[0], n_features))
    for i in range(X32.shape[0]):
        cfi = [0.0] * n_features
        counter = [0] * n_features
        for (tree, feats, h_max), depth in zip(trees, depths):
            path = decision_path(tree, feats, X32[i])
            leaf_depth = depth[path[-1]]
            for node in path[:-1]:  # internal nodes only
                j = int(feats[tree.feature[node]])
                cfi[j] += (1 / leaf_depth) - (1 / h_max)
                counter[j] += 1
        for j in range(n_features):
            out[i, j] = cfi[j] / counter[j] if counter[j] else 0.0
    return out


def induced_imbalance_coefficients(tree, paths):
    """IIC lambda(v) of every node for one subset of rows (authors' ``_get_iic``,
    ``adjust_iic=True``); ``paths`` are the subset's decision paths.

    -1 (undefined) at leaves and at nodes reached by fewer than two rows; 0 for a
    split that sends every row of the subset to one side; otherwise the share of
    the larger side, ``max(n_l, n_r) / n``, mapped linearly from its feasible range
    ``[ceil(n/2)/n, (n-1)/n]`` onto ``[0.5, 1]`` (left as is when that range is a
    single point, n = 2 or 3).
    """
    n = [0] * tree.node_count
    for path in paths:
        for node in path:
            n[node] += 1
    lam = [0.0] * tree.node_count
    for v in range(tree.node_count):
        if tree.children_left[v] == TREE_LEAF or n[v] <= 1:
            lam[v] = -1.0
            continue
        n_l = n[tree.children_left[v]]
        n_r = n[tree.children_right[v]]
        if n_l == 0 or n_r == 0:
            lam[v] = 0.0
            continue
        lo = 0.5 if n[v] % 2 == 0 else math.ceil(n[v] / 2) / n[v]
        hi = (n[v] - 1) / n[v]
        share = max(n_l, n_r) / n[v]
        lam[v] = ((share - lo) / (hi - lo)) * (1.0 - 0.5) + 0.5 if lo != hi else share
    return lam


def single_tree_decision(model, tree, paths):
    """The tree's own decision function for rows with these paths:
    ``-2 ** (-h / c(max_samples_)) - offset_``, h = path length (nodes on the path
    plus ``c(leaf size)``, minus one: scikit-learn's order of operations)."""
    h = np.array([(len(p) + c(int(tree.n_node_samples[p[-1]]))) - 1.0 for p in paths])
    c_psi = np.array([c(int(model.max_samples_))])
    with np.errstate(divide="ignore", invalid="ignore"):  # c(1) = 0: NaN, neither side
        return -(2 ** (-h / c_psi)) - model.offset_


def diffi_global(model, X):
    """Global DIFFI (authors' ``diffi_ib``): GFI_j = (I_O,j / C_O,j) / (I_I,j / C_I,j).

    Per tree, the in-bag rows (``estimators_samples_``, repeats kept) are split by
    the tree's own decision function (< 0 outliers, > 0 inliers); trees with an
    empty side are skipped. Each row of a subset adds ``(1/h_t(x)) * lambda(v)`` to
    the split column of every node ``v`` on its path with a defined IIC, and one
    count. ``X`` must be the training data.
    """
    X32 = _as_float32(X)
    n_features = X32.shape[1]
    cfi = {"out": [0.0] * n_features, "in": [0.0] * n_features}
    count = {"out": [0] * n_features, "in": [0] * n_features}
    for est, feats, rows in zip(model.estimators_, model.estimators_features_,
                                model.estimators_samples_):
        tree = est.tree_
        feats = np.asarray(feats)
        depth = node_depths(tree)
        paths = [decision_path(tree, feats, X32[r]) for r in rows]
        decision = single_tree_decision(model, tree, paths)
        subsets = {
            "out": [p for p, d in zip(paths, decision) if d < 0],
            "in": [p for p, d in zip(paths, decision) if d > 0],
        }
        if not subsets["out"] or not subsets["in"]:
            continue
        for side, side_paths in subsets.items():
            lam = induced_imbalance_coefficients(tree, side_paths)
            for path in side_paths:
                h = depth[path[-1]]
                for v in path:
                    if lam[v] == -1.0:
                        continue
                    j = int(feats[tree.feature[v]])
                    cfi[side][j] += (1 / h) * lam[v]
                    count[side][j] += 1
    fi = {}
    for side in ("out", "in"):
        fi[side] = np.array([cfi[side][j] / count[side][j] if count[side][j] else 0.0
                             for j in range(n_features)])
    with np.errstate(divide="ignore", invalid="ignore"):
        return fi["out"] / fi["in"]

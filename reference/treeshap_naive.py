"""Path-dependent TreeSHAP the slow way: Shapley values by enumerating every subset.

The twin of ``isoforest/explain/_treeshap_kernels.py``, written from the definitions
(Lundberg, Erion & Lee 2018, "Consistent individualized feature attribution for tree
ensembles", arXiv:1802.03888, Algorithm 1; Lundberg et al. 2020, Nature Machine
Intelligence 2, 56-67) with none of the kernel's tricks:

1. The value of a feature subset ``S`` for one row ``x`` and one tree is the
   *path-dependent conditional expectation* ``v(S)``: walk down from the root; at a
   split on a feature in ``S`` follow ``x``; at a split on any other feature take both
   children, weighted by the fraction of the node's cover (training weight) that went
   to each; at a leaf return its value.
2. The forest's value is the mean of its trees' values (the model explained is the
   mean path length ``E[h(x)]``).
3. The Shapley value of feature ``i`` is
   ``sum over S not holding i of |S|! (M - |S| - 1)! / M! * (v(S + {i}) - v(S))``
   over all ``2 ** (M - 1)`` such subsets of the ``M`` features; the base value is
   ``v({})``.

Routing is the scoring kernel's: a value is rounded to float32 and goes left when
``float32(x) <= threshold``; a NaN goes where ``missing_go_to_left`` sends it. Cost
is ``O(2 ** M * M)`` tree walks per row: keep ``M`` at 8 or fewer.
"""

import math

import numpy as np

__all__ = ["trees_from_forest", "subset_value", "shapley_values"]


def trees_from_forest(forest, cover="weighted_n_node_samples"):
    """One dict per tree of an ``isoforest`` ``ForestArrays`` (global feature ids).

    ``cover`` names the node array whose ratios weight the two children when a
    feature is left out: ``"weighted_n_node_samples"`` (what shap uses for a
    scikit-learn tree) or ``"n_node_samples"``.
    """
    trees = []
    for t in range(forest.n_trees):
        lo, hi = forest.tree_offsets[t], forest.tree_offsets[t + 1]
        trees.append({
            "feature": [int(v) for v in forest.global_feature[lo:hi]],
            "threshold": [float(v) for v in forest.threshold[lo:hi]],
            "left": [int(v) for v in forest.children_left[lo:hi]],
            "right": [int(v) for v in forest.children_right[lo:hi]],
            "nan_left": [bool(v) for v in forest.missing_go_to_left[lo:hi]],
            "cover": [float(v) for v in getattr(forest, cover)[lo:hi]],
            "value": [float(v) for v in forest.leaf_value[lo:hi]],
        })
    return trees


def goes_left(tree, node, value):
    """Where the row with ``value`` at the node's feature goes (float32 rounding)."""
    v = np.float32(value)
    if np.isnan(v):
        return tree["nan_left"][node]
    return float(v) <= tree["threshold"][node]


def subset_value(tree, x, S, node=0):
    """``v(S)``: the path-dependent expectation of the tree's output given ``x_S``."""
    left = tree["left"][node]
    if left == -1:
        return tree["value"][node]
    right = tree["right"][node]
    f = tree["feature"][node]
    if f in S:
        child = left if goes_left(tree, node, x[f]) else right
        return subset_value(tree, x, S, child)
    w = tree["cover"][node]
    return (tree["cover"][left] / w * subset_value(tree, x, S, left)
            + tree["cover"][right] / w * subset_value(tree, x, S, right))


def shapley_values(trees, X):
    """Exact Shapley values of the mean of the trees' outputs, by enumeration.

    Parameters
    ----------
    trees : list of dict
        From :func:`trees_from_forest`.
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    values : ndarray of shape (n_samples, n_features)
    base_value : float
        ``v({})``, the forest's value when no feature is known.
    """
    X = np.asarray(X, dtype=np.float64)
    n, M = X.shape
    n_trees = len(trees)
    base = sum(subset_value(tree, X[0] if n else np.zeros(M), frozenset()) for tree in trees)
    base /= n_trees
    weight = [math.factorial(s) * math.factorial(M - s - 1) / math.factorial(M)
              for s in range(M)]
    values = np.zeros((n, M))
    for r in range(n):
        x = X[r]
        v = {}
        for mask in range(1 << M):
            S = frozenset(j for j in range(M) if mask >> j & 1)
            v[mask] = sum(subset_value(tree, x, S) for tree in trees) / n_trees
        for i in range(M):
            total = 0.0
            for mask in range(1 << M):
                if mask >> i & 1:
                    continue
                s = bin(mask).count("1")
                total += weight[s] * (v[mask | 1 << i] - v[mask])
            values[r, i] = total
    return values, base

"""Extended Isolation Forest written from the paper, slow on purpose.

S. Hariri, M. Carrasco Kind, R. J. Brunner, "Extended Isolation Forest", IEEE TKDE
2021 (arXiv:1811.02141), Algorithms 2 (iTree) and 3 (PathLength), with NumPy's own
``RandomState`` as the random stream. The choices the paper leaves open are made as
in ``isoforest.forest._eif_kernels`` (see its module docstring), so the kernels can be
compared node for node:

* the bagging rows of tree ``t`` come from ``bagging_indices(seed_t, ...)``
  (scikit-learn's draws), the cuts from ``RandomState(RandomState(seed_t).randint(2**31-1))``;
* nodes are numbered in preorder, left subtree first, and draw in that order:
  ``standard_normal(d)``, then ``permutation(d)[:d - 1 - extension_level]`` (zeroed)
  when that is non-empty, then ``uniform(mins, maxs)``;
* a node with fewer than 2 rows, at the depth limit, or with all rows identical is a
  leaf; the split is ``x . n <= p . n`` with both dot products summed in feature
  order.
"""

import math

import numpy as np

from isoforest.forest._sampling import MAX_INT, bagging_indices

__all__ = ["c", "fit_tree", "fit_forest", "path_length", "score_samples"]


def c(n):
    """Average path length of an unsuccessful BST search (Liu et al. 2008, eq. 1)."""
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n


def _dot(x, n):
    s = 0.0
    for a, b in zip(x, n):
        s += float(a) * float(b)
    return s


def fit_tree(X, tree_seed, extension_level, height_limit):
    """One iTree on the rows ``X``; returns a list of node dicts in preorder."""
    rng = np.random.RandomState(tree_seed)
    d = X.shape[1]
    nodes = []

    def grow(rows, depth, parent, is_left):
        node = {"left": -1, "right": -1, "size": len(rows), "depth": depth,
                "normal": np.zeros(d), "intercept": 0.0}
        idx = len(nodes)
        nodes.append(node)
        if parent is not None:
            nodes[parent]["left" if is_left else "right"] = idx
        if len(rows) < 2 or depth > height_limit:
            return
        mins, maxs = rows.min(axis=0), rows.max(axis=0)
        if not np.any(maxs > mins):
            return
        normal = rng.standard_normal(d)
        n_zero = d - 1 - extension_level
        if n_zero > 0:
            normal[rng.permutation(d)[:n_zero]] = 0.0
        p = rng.uniform(mins, maxs)
        b = _dot(p, normal)
        node["normal"], node["intercept"] = normal, b
        go_left = np.array([_dot(x, normal) <= b for x in rows], dtype=bool)
        grow(rows[go_left], depth + 1, idx, True)
        grow(rows[~go_left], depth + 1, idx, False)

    grow(np.asarray(X, dtype=np.float64), 1, None, False)
    return nodes


def fit_forest(X, n_estimators=100, max_samples=256, extension_level=None,
               bootstrap=False, random_state=0):
    """The forest as a list of trees; ``max_samples`` an int <= n_samples."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    if extension_level is None:
        extension_level = d - 1
    height_limit = int(math.ceil(math.log2(max(max_samples, 2))))
    seeds = np.random.RandomState(random_state).randint(MAX_INT, size=n_estimators)
    trees = []
    for s in seeds:
        rows = bagging_indices(int(s), n, d, max_samples, d, bootstrap)[1]
        tree_seed = np.random.RandomState(int(s)).randint(MAX_INT)
        trees.append(fit_tree(X[np.asarray(rows)], tree_seed, extension_level,
                              height_limit))
    return trees


def path_length(x, tree):
    """Edges to the leaf plus c(leaf size) (Algorithm 3)."""
    node = tree[0]
    while node["left"] != -1:
        node = tree[node["left"] if _dot(x, node["normal"]) <= node["intercept"]
                    else node["right"]]
    # depth counts the root as 1: (depth + c) - 1, in the estimator's order
    return (node["depth"] + c(node["size"])) - 1.0


def score_samples(X, trees, max_samples):
    """``-2 ** (-mean path length / c(max_samples))`` (higher is more normal)."""
    X = np.asarray(X, dtype=np.float64)
    out = np.empty(len(X))
    for i, x in enumerate(X):
        total = 0.0
        for tree in trees:
            total += path_length(x, tree)
        out[i] = -(2.0 ** (-(total / (len(trees) * c(max_samples)))))
    return out

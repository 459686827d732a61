"""Export a fitted forest: to scikit-learn, as a decision-path matrix, as text, as DOT.

Nothing here imports scikit-learn or SciPy at module level: ``to_sklearn`` and
``decision_path`` import them when called, with an ImportError naming the package.
"""

from typing import NamedTuple

import numpy as np

from .._validation import feature_names_of
from ._arrays import average_path_length
from ._kernels import TREE_LEAF

__all__ = ["to_sklearn", "decision_path", "export_text", "export_graphviz",
           "node_path_values", "tree_structure", "TreeStructure"]

#: decision_path gathers at most about this many ancestor ids at a time
DECISION_PATH_CHUNK = 2**22


# --------------------------------------------------------------------- helpers
def _check_model(model):
    """A fitted isoforest IsolationForest (NotFittedError otherwise)."""
    if not getattr(type(model), "_axis_parallel_forest", False):
        raise TypeError(
            f"Expected an isoforest.IsolationForest, got {type(model).__name__}."
        )
    model._check_fitted()
    return model._forest


def _check_tree(forest, tree):
    if not isinstance(tree, (int, np.integer)) or isinstance(tree, bool):
        raise TypeError(f"tree must be an int, got {type(tree).__name__}.")
    if not 0 <= tree < forest.n_trees:
        raise ValueError(
            f"tree must be in [0, {forest.n_trees - 1}] (n_estimators trees), got {tree}."
        )
    return int(tree)


def resolve_feature_names(model, feature_names=None):
    """Names of the columns of X: given, else ``feature_names_in_``, else
    ``x{j}`` (as ``isoforest.explain`` names them)."""
    n = int(model.n_features_in_)
    if feature_names is not None:
        names = [str(v) for v in feature_names]
        if len(names) != n:
            raise ValueError(
                "feature_names must contain %d elements, got %d" % (n, len(names))
            )
        return names
    return feature_names_of(model, n)


class TreeStructure(NamedTuple):
    """One tree of a fitted forest, as :func:`tree_structure` returns it.

    Node ids are the tree's own (the root is 0); each array has one entry per node.
    """

    #: left child of each node (-1 at a leaf); the left side is ``x <= threshold``
    children_left: np.ndarray
    #: right child of each node (-1 at a leaf)
    children_right: np.ndarray
    #: the column a split tests (-2 at a leaf)
    feature: np.ndarray
    #: the split's threshold (-2.0 at a leaf)
    threshold: np.ndarray
    #: edges from the root
    depth: np.ndarray
    #: training rows that reached the node
    n_node_samples: np.ndarray
    #: at a leaf, the path length ``h = depth + c(n_node_samples)`` a row ending
    #: there adds to its total
    leaf_value: np.ndarray
    #: the columns' names (``feature_names_in_`` or ``x{j}`` unless given)
    feature_names: list
    #: nodes on the paths of the rows given (empty without rows)
    on_path: frozenset
    #: the leaf each row given ends in (None without rows)
    leaves: object


def tree_structure(model, tree=0, X=None, feature_names=None):
    """One tree of a fitted Isolation Forest as plain arrays, with rows' paths.

    What :func:`export_text`, :func:`export_graphviz` and
    :func:`isoforest.plotting.plot_tree` draw, for anyone drawing it another way.

    Parameters
    ----------
    model : isoforest.IsolationForest
        A fitted forest.
    tree : int, default=0
        Index of the tree in ``model.estimators_``.
    X : array-like of shape (n_samples, n_features), default=None
        Rows whose paths are wanted (``on_path``, ``leaves``).
    feature_names : list of str, default=None
        Names of the columns of X; defaults to ``feature_names_in_`` or ``x{j}``.

    Returns
    -------
    structure : TreeStructure
        The tree's arrays, the names, and the rows' paths.

    Examples
    --------
    >>> import numpy as np
    >>> from isoforest import IsolationForest, tree_structure
    >>> X = np.random.RandomState(0).randn(64, 2)
    >>> model = IsolationForest(n_estimators=3, max_samples=16, random_state=0).fit(X)
    >>> t = tree_structure(model, tree=0, X=X[:1])
    >>> int(t.depth[0]), 0 in t.on_path
    (0, True)
    """
    forest = _check_model(model)
    tree = _check_tree(forest, tree)
    names = resolve_feature_names(model, feature_names)
    lo, n = int(forest.tree_offsets[tree]), _count(forest, tree)
    on_path, leaves = frozenset(), None
    if X is not None:
        leaves = model.apply(X)[:, tree]
        anc = _ancestors(forest)
        path = set()
        for leaf in np.unique(leaves):
            chain = anc[lo + leaf]
            path.update(int(g) - lo for g in chain[chain >= 0])
        on_path = frozenset(path)
    return TreeStructure(
        children_left=forest.children_left[lo:lo + n].copy(),
        children_right=forest.children_right[lo:lo + n].copy(),
        feature=forest.global_feature[lo:lo + n].copy(),
        threshold=forest.threshold[lo:lo + n].copy(),
        depth=forest.depth[lo:lo + n] - 1,
        n_node_samples=forest.n_node_samples[lo:lo + n].copy(),
        leaf_value=forest.leaf_value[lo:lo + n].copy(),
        feature_names=names, on_path=on_path, leaves=leaves)


def node_path_values(forest):
    """Per-node path length that a tree, read as a regressor, predicts.

    At a leaf: ``h = depth + c(n_node_samples)`` (depth in edges from the root),
    the path length a row ending there adds to its total (``forest.leaf_value``).
    At an internal node: the mean of ``h`` over the training rows that reach it,
    weighted by ``n_node_samples``, so the root holds the mean path length of the
    tree's training rows. This is what ``shap``'s ``IsoTree`` recomputes for
    scikit-learn's isolation trees.
    """
    n = forest.n_node_samples.astype(np.float64)
    leaf = forest.children_left == TREE_LEAF
    sums = np.where(leaf, forest.leaf_value * n, 0.0)
    base = np.repeat(forest.tree_offsets[:-1], np.diff(forest.tree_offsets))
    left = forest.children_left + base
    right = forest.children_right + base
    # children are deeper than their parent: fill the sums bottom up, a level at a time
    for d in range(int(forest.depth.max()) if forest.n_nodes else 0, 0, -1):
        at = np.flatnonzero((forest.depth == d) & ~leaf)
        sums[at] = sums[left[at]] + sums[right[at]]
    values = np.where(leaf, forest.leaf_value, sums / np.maximum(n, 1.0))
    return values


def _ancestors(forest):
    """(n_nodes, max_depth) global ids of each node's ancestors, root first.

    Row ``g`` holds, in columns ``0 .. depth[g] - 1``, the nodes on the path from
    its tree's root down to ``g`` itself (-1 after that).
    """
    n_nodes = forest.n_nodes
    max_depth = int(forest.depth.max()) if n_nodes else 0
    base = np.repeat(forest.tree_offsets[:-1], np.diff(forest.tree_offsets))
    parent = np.full(n_nodes, -1, dtype=np.int64)
    internal = np.flatnonzero(forest.children_left != TREE_LEAF)
    parent[forest.children_left[internal] + base[internal]] = internal
    parent[forest.children_right[internal] + base[internal]] = internal
    anc = np.full((n_nodes, max_depth), -1, dtype=np.int64)
    cur = np.arange(n_nodes, dtype=np.int64)
    level = forest.depth - 1
    for _ in range(max_depth):
        ok = level >= 0
        anc[np.flatnonzero(ok), level[ok]] = cur[ok]
        # a root's parent is -1; those rows are done (level < 0 from now on)
        cur = np.where(ok, parent[cur], cur)
        cur[cur < 0] = 0
        level = level - 1
    return anc


# ------------------------------------------------------------------ to_sklearn
def to_sklearn(model):
    """A genuine fitted ``sklearn.ensemble.IsolationForest`` with the same trees.

    See :meth:`isoforest.IsolationForest.to_sklearn`.
    """
    forest = _check_model(model)
    try:
        from sklearn.base import clone
        from sklearn.ensemble import IsolationForest as SkIsolationForest
        from sklearn.ensemble._iforest import _average_path_length
        from sklearn.tree import ExtraTreeRegressor
        from sklearn.tree._tree import Tree
    except ImportError as exc:  # pragma: no cover - exercised without scikit-learn
        raise ImportError(
            "IsolationForest.to_sklearn needs scikit-learn: pip install scikit-learn"
        ) from exc

    sk = SkIsolationForest(**model.get_params())
    n_sub = int(forest.features.shape[1])
    n_classes = np.array([1], dtype=np.intp)
    node_dtype = Tree(n_sub, n_classes, 1).__getstate__()["nodes"].dtype
    values = node_path_values(forest)

    # The template every tree is cloned from, as BaseBagging._fit leaves it.
    estimator = ExtraTreeRegressor(max_features=1, splitter="random",
                                   random_state=model.random_state)
    if forest.n_trees:
        estimator.max_depth = int(model._tree_max_depth[-1])
    estimators = []
    for t in range(forest.n_trees):
        lo, hi = int(forest.tree_offsets[t]), int(forest.tree_offsets[t + 1])
        nodes = np.zeros(hi - lo, dtype=node_dtype)
        nodes["left_child"] = forest.children_left[lo:hi]
        nodes["right_child"] = forest.children_right[lo:hi]
        nodes["feature"] = forest.feature[lo:hi]
        nodes["threshold"] = forest.threshold[lo:hi]
        nodes["impurity"] = forest.impurity[lo:hi]
        nodes["n_node_samples"] = forest.n_node_samples[lo:hi]
        nodes["weighted_n_node_samples"] = forest.weighted_n_node_samples[lo:hi]
        nodes["missing_go_to_left"] = forest.missing_go_to_left[lo:hi]
        tree = Tree(n_sub, n_classes, 1)
        tree.__setstate__({
            "max_depth": int(forest.depth[lo:hi].max()) - 1,
            "node_count": hi - lo,
            "nodes": nodes,
            "values": np.ascontiguousarray(values[lo:hi].reshape(-1, 1, 1)),
        })
        est = clone(estimator)
        est.set_params(max_depth=int(model._tree_max_depth[t]),
                       random_state=int(model._tree_seeds[t]))
        est.n_features_in_ = n_sub
        est.n_outputs_ = 1
        est.max_features_ = 1
        est.tree_ = tree
        estimators.append(est)

    sk.estimator_ = estimator
    sk.estimators_ = estimators
    sk.estimators_features_ = [row.copy() for row in forest.features]
    sk._seeds = np.asarray(model._seeds).copy()
    sk._n_samples = int(model._n_samples)
    sk._max_samples = int(model._max_samples)
    sk._max_features = int(model._max_features)
    sk._sample_weight = model._sample_weight
    sk.max_samples_ = int(model.max_samples_)
    sk.n_features_in_ = int(model.n_features_in_)
    if getattr(model, "feature_names_in_", None) is not None:
        sk.feature_names_in_ = np.asarray(model.feature_names_in_, dtype=object)
    # What IsolationForest.fit derives from the trees, computed the same way.
    if estimators:
        sk._average_path_length_per_tree, sk._decision_path_lengths = zip(*[
            (_average_path_length(e.tree_.n_node_samples), e.tree_.compute_node_depths())
            for e in estimators
        ])
    else:
        sk._average_path_length_per_tree, sk._decision_path_lengths = (), ()
    sk.offset_ = model.offset_
    return sk


# --------------------------------------------------------------- decision_path
def decision_path(model, X):
    """Node indicator of the forest, in scikit-learn's forest convention.

    See :meth:`isoforest.IsolationForest.decision_path`.
    """
    forest = _check_model(model)
    try:
        from scipy.sparse import csr_matrix
    except ImportError as exc:  # pragma: no cover - exercised without SciPy
        raise ImportError(
            "decision_path returns a SciPy sparse matrix: pip install scipy"
        ) from exc
    # apply() validates X and walks the trees in the Numba kernel; a row's path is
    # then the ancestor chain of its leaf, root first (node ids grow down a path).
    leaves = model.apply(X) + forest.tree_offsets[:-1]
    anc = _ancestors(forest)
    lengths = forest.depth[leaves]                      # (n_samples, n_trees)
    indptr = np.zeros(leaves.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths.sum(axis=1), out=indptr[1:])
    n_nodes = forest.n_nodes
    index_dtype = np.int32 if max(n_nodes, int(indptr[-1])) < 2**31 else np.int64
    levels = np.arange(anc.shape[1])
    # a chunk of rows at a time: anc[leaves] is (rows, trees, max_depth) before masking
    step = max(1, DECISION_PATH_CHUNK // max(1, anc.shape[1] * leaves.shape[1]))
    indices = np.empty(int(indptr[-1]), dtype=index_dtype)
    for start in range(0, leaves.shape[0], step):
        stop = min(start + step, leaves.shape[0])
        block = leaves[start:stop]
        mask = levels < lengths[start:stop, :, None]
        indices[indptr[start]:indptr[stop]] = anc[block][mask]
    data = np.ones(indices.shape[0], dtype=np.int64)
    indicator = csr_matrix((data, indices, indptr.astype(index_dtype)),
                           shape=(leaves.shape[0], n_nodes))
    return indicator, forest.tree_offsets.copy()


# ------------------------------------------------------------------- export_text
# numpydoc: each public function documents its own parameters and has its own
# doctest example, so lines shared with the other tree views repeat.
def export_text(model, tree=0, feature_names=None, decimals=3, max_depth=10,
                spacing=3):
    """One tree of a fitted Isolation Forest as indented text.

    The format is scikit-learn's ``sklearn.tree.export_text`` for a regression
    tree: each split prints ``name <= threshold`` then ``name >  threshold``, each
    leaf ``value: [h]`` where ``h = depth + c(n_node_samples)`` is the path length
    a row ending in that leaf adds to its total; branches below ``max_depth`` are
    summarised as ``truncated branch of depth k``.

    Parameters
    ----------
    model : isoforest.IsolationForest
        A fitted forest.
    tree : int, default=0
        Index of the tree in ``model.estimators_``.
    feature_names : list of str, default=None
        Names of the columns of X (``n_features_in_`` of them). Defaults to
        ``feature_names_in_`` when the model was fitted on a data frame, else
        ``x{j}`` for column ``j``.
    decimals : int, default=3
        Decimals printed for thresholds and leaf values.
    max_depth : int, default=10
        Splits deeper than this are not printed.
    spacing : int, default=3
        Width of each indentation step.

    Returns
    -------
    report : str
        The tree, one node per line.

    See Also
    --------
    sklearn.tree.export_text : The same format for scikit-learn's trees; it prints
        ``model.to_sklearn().estimators_[tree]`` identically (names given by column).
    export_graphviz : The tree as DOT, with rows' paths highlighted.

    Notes
    -----
    ``c(n) = 2 H(n - 1) - 2 (n - 1) / n`` is the average path length of an
    unsuccessful search in a binary search tree of ``n`` keys (Liu, Ting & Zhou,
    "Isolation Forest", ICDM 2008, eq. 1): the path still to go below a leaf
    holding ``n`` training rows.

    Examples
    --------
    >>> import numpy as np
    >>> from isoforest import IsolationForest, export_text
    >>> X = np.random.RandomState(0).randn(8, 2)
    >>> model = IsolationForest(n_estimators=2, random_state=0).fit(X)
    >>> print(export_text(model, max_depth=1))  # doctest: +ELLIPSIS
    |--- x... <= ...
    |   |--- ...
    """
    forest = _check_model(model)
    tree = _check_tree(forest, tree)
    _check_int("spacing", spacing, 1)
    _check_int("decimals", decimals, 0)
    _check_int("max_depth", max_depth, 0)
    t = tree_structure(model, tree, feature_names=feature_names)
    names = t.feature_names
    cl, cr, feat, thr = t.children_left, t.children_right, t.feature, t.threshold
    leaf_value = t.leaf_value

    def subtree_depth(node):
        # levels below and including node (scikit-learn's _compute_depth)
        best, stack = 0, [(node, 1)]
        while stack:
            n, d = stack.pop()
            best = max(best, d)
            if cl[n] != TREE_LEAF:
                stack.extend(((cl[n], d + 1), (cr[n], d + 1)))
        return best

    lines = []
    # explicit stack, so deep trees (max_samples large) need no recursion limit
    stack = [("node", 0, 1)]
    while stack:
        kind, node, depth = stack.pop()
        indent = ("|" + " " * spacing) * depth
        indent = indent[:-spacing] + "-" * spacing
        if kind == "right":
            lines.append(f"{indent} {names[feat[node]]} >  {thr[node]:.{decimals}f}")
            stack.append(("node", int(cr[node]), depth + 1))
            continue
        if depth <= max_depth + 1:
            if cl[node] != TREE_LEAF:
                lines.append(f"{indent} {names[feat[node]]} <= {thr[node]:.{decimals}f}")
                stack.append(("right", node, depth))
                stack.append(("node", int(cl[node]), depth + 1))
            else:
                lines.append(f"{indent} value: [{leaf_value[node]:.{decimals}f}]")
        else:
            d = subtree_depth(node)
            if d == 1:
                lines.append(f"{indent} value: [{leaf_value[node]:.{decimals}f}]")
            else:
                lines.append(f"{indent} truncated branch of depth {d}")
    return "\n".join(lines) + "\n"


def _check_int(name, value, low, func="export_text"):
    """scikit-learn's wording for an out-of-range integer parameter."""
    if (not isinstance(value, (int, np.integer)) or isinstance(value, bool)
            or value < low):
        raise ValueError(
            f"The '{name}' parameter of {func} must be an int in the range "
            f"[{low}, inf). Got {value!r} instead."
        )


def _count(forest, tree):
    return int(forest.tree_offsets[tree + 1] - forest.tree_offsets[tree])


# --------------------------------------------------------------- export_graphviz
def _dot_escape(text):
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


# numpydoc: each public function documents its own parameters and has its own
# doctest example, so lines shared with the other tree views repeat.
def export_graphviz(model, tree=0, X=None, feature_names=None, decimals=3,
                    highlight_color="#d6604d", max_rows_listed=5):
    """One tree of a fitted Isolation Forest in the DOT language.

    Internal nodes show their split and ``n_node_samples``; leaves show the
    depth, ``c(n)`` and the path length ``h = depth + c(n)`` a row ending there
    adds to its total. With ``X``, the nodes and edges on those rows' paths are
    filled and drawn thick, and each leaf reached lists the rows that end in it.
    No graphviz package is needed to make the text; render it with
    ``dot -Tpng tree.dot -o tree.png`` or any DOT viewer.

    Parameters
    ----------
    model : isoforest.IsolationForest
        A fitted forest.
    tree : int, default=0
        Index of the tree in ``model.estimators_``.
    X : array-like of shape (n_samples, n_features), default=None
        Rows whose paths are highlighted.
    feature_names : list of str, default=None
        Names of the columns of X; as in :func:`export_text`.
    decimals : int, default=3
        Decimals printed for thresholds and path lengths.
    highlight_color : str, default="#d6604d"
        Colour of highlighted edges and outlines (a light tint fills the nodes).
    max_rows_listed : int, default=5
        At most this many row indices are listed in a highlighted leaf.

    Returns
    -------
    dot_data : str
        The tree as a ``digraph``.

    See Also
    --------
    export_text : The same tree as indented text.
    isoforest.plotting.plot_tree : The same tree drawn with matplotlib.

    Notes
    -----
    Path length and ``c(n)`` as in Liu, Ting & Zhou, "Isolation Forest", ICDM 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from isoforest import IsolationForest, export_graphviz
    >>> X = np.random.RandomState(0).randn(50, 2)
    >>> model = IsolationForest(n_estimators=3, random_state=0).fit(X)
    >>> dot = export_graphviz(model, tree=0, X=X[:1])
    >>> dot.splitlines()[0]
    'digraph Tree {'
    """
    t = tree_structure(model, tree, X, feature_names)
    names, on_path, leaves = t.feature_names, t.on_path, t.leaves
    cl, cr, feat, thr = t.children_left, t.children_right, t.feature, t.threshold
    n_samples, depth, leaf_value = t.n_node_samples, t.depth, t.leaf_value
    n = cl.shape[0]
    c_of = average_path_length(n_samples)
    out = [
        "digraph Tree {",
        'node [shape=box, style="rounded", fontname="helvetica"] ;',
        'edge [fontname="helvetica"] ;',
    ]
    fill = 'style="rounded,filled", fillcolor="#fddbc7", color="%s", penwidth=2' % (
        highlight_color)
    for node in range(n):
        if cl[node] != TREE_LEAF:
            label = (f"{names[feat[node]]} <= {thr[node]:.{decimals}f}\\n"
                     f"n_node_samples = {n_samples[node]}")
        else:
            label = (f"leaf: depth {depth[node]}, n_node_samples = {n_samples[node]}\\n"
                     f"h = {depth[node]} + c({n_samples[node]}) = {depth[node]} + "
                     f"{c_of[node]:.{decimals}f} = {leaf_value[node]:.{decimals}f}")
            if leaves is not None and node in on_path:
                rows = np.flatnonzero(leaves == node)
                listed = ", ".join(str(r) for r in rows[:max_rows_listed])
                more = f" (+{len(rows) - max_rows_listed})" if len(rows) > max_rows_listed else ""
                label += f"\\nrows here: {listed}{more}"
        attrs = f'label="{_dot_escape(label)}"'.replace("\\\\n", "\\n")
        if node in on_path:
            attrs += ", " + fill
        out.append(f"{node} [{attrs}] ;")
        if cl[node] != TREE_LEAF:
            for child, side in ((cl[node], "True"), (cr[node], "False")):
                edge = f'{node} -> {child} [headlabel="{side}", labeldistance=2.5'
                if node in on_path and int(child) in on_path:
                    edge += f', color="{highlight_color}", penwidth=3'
                out.append(edge + "] ;")
    out.append("}")
    return "\n".join(out) + "\n"

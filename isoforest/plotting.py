"""Plots for studying an Isolation Forest: a tree, a row's contributions, the
global importances and the 2-D score map.

matplotlib is imported inside each function (``pip install isoforest[plot]``), so
``import isoforest.plotting`` costs nothing and changes no matplotlib state. Every
function draws on ``ax`` (a new figure when it is None) and returns that Axes.

Explanations are read by attribute (``values``, ``base_values``, ``data``,
``feature_names``, ``method``): :class:`isoforest.Explanation` or anything shaped
like it (a ``shap.Explanation`` works too).
"""

import numpy as np

from ._validation import default_feature_names

__all__ = ["plot_tree", "plot_contributions", "plot_importances", "plot_score_map"]

#: more anomalous (shorter path) / more normal (longer path)
ANOMALOUS_COLOR = "#d6604d"
NORMAL_COLOR = "#4393c3"
PATH_COLOR = "#b2182b"


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install isoforest[plot]") from exc
    return plt


def _new_ax(ax, figsize):
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize)
    return ax


def _as_rows(model, X):
    """X as a float array with the model's column count (data frames accepted)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.ndim != 2 or X.shape[1] != model.n_features_in_:
        raise ValueError(
            f"X has {X.shape[-1]} features, but IsolationForest is expecting "
            f"{model.n_features_in_} features as input."
        )
    return X


def _score_rows(model, X):
    """score_samples on an ndarray, wrapped in a data frame when the model has
    feature names (so no feature-name warning is raised)."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        import pandas as pd  # the model was fitted on a data frame: pandas is there

        X = pd.DataFrame(X, columns=list(names))
    return model.score_samples(X)


# ------------------------------------------------------------------ plot_tree
# numpydoc: each public function documents its own parameters and has its own
# doctest example, so lines shared with the other tree views repeat.
def plot_tree(model, tree=0, X=None, ax=None, max_depth=None, feature_names=None,
              decimals=2, label_limit=48):
    """Draw one isolation tree, with the paths of the rows ``X`` highlighted.

    Nodes sit at their depth (root on top); leaves are squares labelled with
    their path length ``h = depth + c(n)``, splits are circles labelled
    ``name <= threshold`` (the left child is the "yes" side). Edges and nodes on
    the paths of the rows in ``X`` are drawn thick and red, and the leaf each row
    ends in is annotated with the row number.

    Parameters
    ----------
    model : isoforest.IsolationForest
        A fitted forest.
    tree : int, default=0
        Index of the tree in ``model.estimators_``.
    X : array-like of shape (n_samples, n_features), default=None
        Rows whose paths are highlighted.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    max_depth : int, default=None
        Draw nodes down to this depth (root = 0); deeper subtrees are shown as a
        "..." node. None draws the whole tree.
    feature_names : list of str, default=None
        Column names; defaults to ``feature_names_in_`` or ``x{j}``.
    decimals : int, default=2
        Decimals of thresholds and path lengths.
    label_limit : int, default=48
        Label every node when at most this many are drawn; otherwise only the
        nodes on the highlighted paths (and no labels without X).

    Returns
    -------
    ax : matplotlib Axes

    See Also
    --------
    isoforest.export_graphviz : The same tree as DOT text.

    Notes
    -----
    Liu, Ting & Zhou, "Isolation Forest", ICDM 2008: a row's path length in a
    tree is the depth of the leaf it ends in plus ``c(n)``, the average path
    length of an unsuccessful search among the ``n`` training rows left there.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from isoforest import IsolationForest
    >>> from isoforest.plotting import plot_tree
    >>> X = np.random.RandomState(0).randn(64, 2)
    >>> model = IsolationForest(n_estimators=3, max_samples=16, random_state=0).fit(X)
    >>> ax = plot_tree(model, tree=0, X=X[:1])
    """
    from . import tree_structure

    t = tree_structure(model, tree, None if X is None else _as_rows(model, X),
                       feature_names)
    names, on_path, leaves = t.feature_names, t.on_path, t.leaves
    cl, cr, feat, thr = t.children_left, t.children_right, t.feature, t.threshold
    depth, n_node, h = t.depth, t.n_node_samples, t.leaf_value
    if max_depth is None:
        max_depth = int(depth.max())

    # Layout: visible leaves (real leaves, or nodes cut at max_depth) get x = 0, 1,
    # ... from left to right; a parent sits above the middle of its children.
    xs, shown, cut = {}, [], set()
    next_x = [0.0]

    def place(node):
        stack, order = [(node, False)], []
        while stack:
            nd, done = stack.pop()
            is_cut = cl[nd] != -1 and depth[nd] >= max_depth
            if cl[nd] == -1 or is_cut:
                if is_cut:
                    cut.add(nd)
                xs[nd] = next_x[0]
                next_x[0] += 1.0
                order.append(nd)
            elif done:
                xs[nd] = 0.5 * (xs[cl[nd]] + xs[cr[nd]])
                order.append(nd)
            else:
                stack.append((nd, True))
                stack.append((int(cr[nd]), False))
                stack.append((int(cl[nd]), False))
        return order

    shown = place(0)
    ax = _new_ax(ax, (max(6.0, min(0.85 * next_x[0], 30.0)), 1.0 * max_depth + 2.5))
    from matplotlib.collections import LineCollection

    plain, lit = [], []
    for nd in shown:
        if cl[nd] != -1 and nd not in cut:
            for child in (int(cl[nd]), int(cr[nd])):
                seg = [(xs[nd], -depth[nd]), (xs[child], -depth[child])]
                (lit if nd in on_path and child in on_path else plain).append(seg)
    ax.add_collection(LineCollection(plain, colors="0.6", linewidths=1.0, zorder=1))
    if lit:
        ax.add_collection(LineCollection(lit, colors=PATH_COLOR, linewidths=3.0,
                                         zorder=2, label="path of the rows"))

    label_all = len(shown) <= label_limit
    labelled = [nd for nd in shown if label_all or nd in on_path]
    markers = [nd for nd in shown if not (label_all or nd in on_path)]
    for marker, group in (("o", [nd for nd in markers if cl[nd] != -1 and nd not in cut]),
                          ("s", [nd for nd in markers if cl[nd] == -1]),
                          ("^", [nd for nd in markers if nd in cut])):
        if group:
            ax.scatter([xs[nd] for nd in group], [-depth[nd] for nd in group], s=30,
                       marker=marker, c="white", edgecolors="0.3", linewidths=0.8,
                       zorder=3)
    for nd in labelled:
        if nd in cut:
            text = f"...\nn={n_node[nd]}"
        elif cl[nd] != -1:
            text = f"{names[feat[nd]]} <= {thr[nd]:.{decimals}f}"
        else:
            text = f"h={h[nd]:.{decimals}f}\nn={n_node[nd]}"
        hot = nd in on_path
        ax.text(xs[nd], -depth[nd], text, ha="center", va="center", fontsize=7,
                color=PATH_COLOR if hot else "0.1", zorder=4,
                fontweight="bold" if hot else "normal",
                bbox=dict(boxstyle="round,pad=0.25", fc="#fddbc7" if hot else "white",
                          ec=PATH_COLOR if hot else "0.5", lw=1.5 if hot else 0.8))
    if leaves is not None:
        ends = {}
        for i, leaf in enumerate(leaves):
            ends.setdefault(int(leaf), []).append(i)
        for leaf, rows in ends.items():
            node = leaf
            while node not in xs:  # leaf below the drawn depth: mark its cut ancestor
                node = next(p for p in range(node) if cl[p] == node or cr[p] == node)
            listed = ", ".join(str(r) for r in rows[:4]) + (" ..." if len(rows) > 4 else "")
            ax.annotate(f"row {listed}", (xs[node], -depth[node] - 0.2), xytext=(0, -26),
                        textcoords="offset points", ha="center", va="top",
                        fontsize=8, fontweight="bold", color=PATH_COLOR,
                        arrowprops=dict(arrowstyle="->", color=PATH_COLOR, lw=1.0))
    ax.set_xlim(-1.0, max(next_x[0], 1.0))
    ax.set_ylim(-max_depth - 1.3, 0.8)
    ax.set_yticks(-np.arange(max_depth + 1))
    ax.set_yticklabels([str(d) for d in range(max_depth + 1)])
    ax.set_ylabel("depth")
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"tree {tree}: {cl.shape[0]} nodes, max_samples_={model.max_samples_}"
                 + (f" (drawn to depth {max_depth})" if max_depth < depth.max() else ""))
    return ax


# -------------------------------------------------------------- contributions
def _explanation_row(explanation, row):
    values = np.asarray(explanation.values, dtype=np.float64)
    if values.ndim == 1:
        values = values.reshape(1, -1)
    n = values.shape[0]
    if not -n <= row < n:
        raise IndexError(f"row {row} is out of bounds for an explanation of {n} rows")
    base = np.asarray(explanation.base_values, dtype=np.float64).reshape(-1)
    base = float(base[row] if base.size > 1 else base[0]) if base.size else 0.0
    data = getattr(explanation, "data", None)
    data = None if data is None else np.asarray(data, dtype=np.float64).reshape(n, -1)[row]
    names = getattr(explanation, "feature_names", None)
    if names is None:
        names = default_feature_names(values.shape[1])
    return values[row], base, data, [str(v) for v in names]


# numpydoc: each public function documents its own parameters and has its own
# doctest example, so lines shared with the other plots repeat.
def plot_contributions(explanation, row=0, max_display=10, kind="waterfall", ax=None):
    """One row's feature contributions, from the base value to its output.

    For a ``"tree_shap"`` explanation the output is the row's mean path length
    ``E[h(x)]`` and the base value the forest's mean path length over its
    training rows; a negative contribution shortened the path (the feature made
    the row more anomalous) and is drawn red, a positive one blue.

    Parameters
    ----------
    explanation : Explanation
        Anything with ``values`` (n_samples, n_features), ``base_values``,
        ``data`` and ``feature_names``, e.g. from :func:`isoforest.explain`.
    row : int, default=0
        Which row of the explanation.
    max_display : int, default=10
        Features shown, by decreasing absolute contribution; the rest are summed
        into one "other features" bar.
    kind : {"waterfall", "bar"}, default="waterfall"
        "waterfall": each bar starts where the previous one ended, from the base
        value to the output. "bar": contributions as bars from zero.
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes

    Notes
    -----
    Lundberg et al., "From local explanations to global understanding with
    explainable AI for trees", Nature Machine Intelligence 2020 (TreeSHAP and the
    waterfall view).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> from isoforest.plotting import plot_contributions
    >>> e = SimpleNamespace(values=np.array([[-1.5, 0.25]]), base_values=np.array([8.0]),
    ...                     data=np.array([[4.0, 0.1]]), feature_names=["a", "b"],
    ...                     method="tree_shap")
    >>> len(plot_contributions(e).patches)
    2
    """
    if kind not in ("waterfall", "bar"):
        raise ValueError(
            "The 'kind' parameter of plot_contributions must be a str among "
            f"['bar', 'waterfall']. Got {kind!r} instead."
        )
    if not isinstance(max_display, (int, np.integer)) or max_display < 1:
        raise ValueError(
            "The 'max_display' parameter of plot_contributions must be an int in the "
            f"range [1, inf). Got {max_display!r} instead."
        )
    values, base, data, names = _explanation_row(explanation, row)
    method = getattr(explanation, "method", "")
    order = np.argsort(-np.abs(values), kind="stable")
    if len(order) > max_display:
        keep, rest = order[: max_display - 1], order[max_display - 1:]
    else:
        keep, rest = order, order[:0]
    labels = [names[j] if data is None else f"{names[j]} = {data[j]:.4g}" for j in keep]
    contrib = [float(values[j]) for j in keep]
    if len(rest):
        labels.append(f"{len(rest)} other features")
        contrib.append(float(values[rest].sum()))
    output = base + float(values.sum())
    ax = _new_ax(ax, (7.0, 0.45 * len(contrib) + 1.8))
    y = np.arange(len(contrib))[::-1]  # the largest on top
    colors = [ANOMALOUS_COLOR if v < 0 else NORMAL_COLOR for v in contrib]
    if kind == "waterfall":
        # walk from the base (bottom) to the output (top): the smallest bars first
        left = np.empty(len(contrib))
        running = base
        for i in range(len(contrib) - 1, -1, -1):
            left[i] = running
            running += contrib[i]
        ax.barh(y, contrib, left=left, color=colors, edgecolor="0.25", height=0.6)
        for i in range(len(contrib)):
            end = left[i] + contrib[i]
            ax.annotate(f"{contrib[i]:+.3f}", (max(left[i], end), y[i]),
                        xytext=(3, 0), textcoords="offset points", va="center",
                        fontsize=8)
        what = "E[h(x)]" if method == "tree_shap" else "output"
        ax.axvline(base, color="0.4", linestyle=":", linewidth=1)
        ax.axvline(output, color="0.1", linestyle="--", linewidth=1)
        # name the two lines under the lowest bar, inside the axes
        ax.set_ylim(-1.0, len(contrib) - 0.4)
        for x, text, color in ((base, "base", "0.35"), (output, what, "0.1")):
            ax.text(x, -0.75, f" {text} ", fontsize=8, color=color, va="center",
                    ha="left" if x == max(base, output) else "right")
        ax.set_title(f"row {row}: base {base:.3f} -> {what} = {output:.3f}")
        lo = min(base, output, *(left + np.minimum(contrib, 0)))
        hi = max(base, output, *(left + np.maximum(contrib, 0)))
        pad = 0.15 * (hi - lo or 1.0)
        ax.set_xlim(lo - pad, hi + pad)
    else:
        ax.barh(y, contrib, color=colors, edgecolor="0.25", height=0.6)
        ax.axvline(0.0, color="0.3", linewidth=1)
        for i, v in enumerate(contrib):
            ax.annotate(f"{v:+.3f}", (v, y[i]), xytext=(3 if v >= 0 else -3, 0),
                        textcoords="offset points", va="center",
                        ha="left" if v >= 0 else "right", fontsize=8)
        ax.set_title(f"row {row}: contributions (sum {values.sum():+.3f})")
        span = max(float(np.max(np.abs(contrib))) if contrib else 1.0, 1e-12)
        ax.set_xlim(min(0.0, min(contrib)) - 0.3 * span, max(0.0, max(contrib)) + 0.3 * span)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    if method == "tree_shap":
        ax.set_xlabel("path length (red: shortens it, more anomalous)")
    else:
        ax.set_xlabel(f"contribution ({method})" if method else "contribution")
    return ax


# ------------------------------------------------------------ plot_importances
def plot_importances(importances, feature_names=None, ax=None, max_display=20):
    """Global feature importances as horizontal bars, the largest on top.

    Parameters
    ----------
    importances : array-like of shape (n_features,) or Explanation
        Importances (e.g. :func:`isoforest.feature_importances`), or an
        Explanation, whose mean absolute contribution per feature is shown.
    feature_names : list of str, default=None
        One name per feature; from the Explanation, else ``x{j}``.
    ax : matplotlib Axes, default=None
    max_display : int, default=20
        At most this many features (the most important).

    Returns
    -------
    ax : matplotlib Axes

    Notes
    -----
    DIFFI: Carletti, Terzi & Susto, "Interpretable Anomaly Detection with DIFFI",
    Engineering Applications of AI 2023. Mean |SHAP|: Lundberg et al. 2020.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from isoforest.plotting import plot_importances
    >>> len(plot_importances([0.2, 0.5, 0.3], feature_names=["a", "b", "c"]).patches)
    3
    """
    title = "feature importances"
    if hasattr(importances, "values") and hasattr(importances, "feature_names") \
            and not isinstance(importances, np.ndarray):
        values = np.asarray(importances.values, dtype=np.float64)
        values = np.abs(values.reshape(-1, values.shape[-1])).mean(axis=0)
        if feature_names is None:
            feature_names = importances.feature_names
        title = f"mean |contribution| ({getattr(importances, 'method', '')})"
    else:
        values = np.asarray(importances, dtype=np.float64).reshape(-1)
    if feature_names is None:
        feature_names = default_feature_names(values.shape[0])
    feature_names = [str(v) for v in feature_names]
    if len(feature_names) != values.shape[0]:
        raise ValueError("feature_names must contain %d elements, got %d"
                         % (values.shape[0], len(feature_names)))
    order = np.argsort(-values, kind="stable")[:max_display]
    ax = _new_ax(ax, (6.5, 0.4 * len(order) + 1.5))
    y = np.arange(len(order))[::-1]
    ax.barh(y, values[order], color=NORMAL_COLOR, edgecolor="0.25", height=0.6)
    for yi, v in zip(y, values[order]):
        ax.annotate(f"{v:.3g}", (v, yi), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels([feature_names[j] for j in order])
    ax.set_xlim(0, 1.15 * float(values[order].max()) if values.size and
                values[order].max() > 0 else 1.0)
    ax.set_xlabel("importance")
    ax.set_title(title)
    return ax


# -------------------------------------------------------------- plot_score_map
# numpydoc: each public function documents its own parameters and has its own
# doctest example, so lines shared with the other plots repeat.
def plot_score_map(model, X, explanation=None, ax=None, resolution=200, max_annotate=5,
                   colorbar=True, row_labels=None):
    """``score_samples`` over the plane of a 2-feature model, with the rows on it.

    The map covers the bounding box of ``X`` (plus a margin); red is anomalous
    (low score), blue normal, and the black line is the decision boundary
    (``score_samples == offset_``). Rows the model flags (``predict == -1``) are
    drawn gold. With an explanation, each explained row (at most
    ``max_annotate``, the most anomalous by output) gets an arrow along its most
    negative feature: from where the row would be with that feature at the median
    of X, to where it is, labelled with the feature and its contribution.

    Parameters
    ----------
    model : isoforest.IsolationForest
        A forest fitted on 2 features.
    X : array-like of shape (n_samples, 2)
        Rows to draw; their bounding box sets the map's extent.
    explanation : Explanation, default=None
        Contributions of some rows (its ``data`` gives their positions).
    ax : matplotlib Axes, default=None
    resolution : int, default=200
        Grid points per axis.
    max_annotate : int, default=5
        At most this many explained rows get an arrow.
    colorbar : bool, default=True
        Add a colour bar for the score.
    row_labels : list of str, default=None
        Names of the explained rows in the labels (e.g. their row numbers in X);
        ``row i`` for the i-th explained row when None.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from isoforest import IsolationForest
    >>> from isoforest.plotting import plot_score_map
    >>> X = np.random.RandomState(0).randn(100, 2)
    >>> model = IsolationForest(n_estimators=10, random_state=0).fit(X)
    >>> ax = plot_score_map(model, X, resolution=20)
    """
    from . import tree_structure

    # a fitted IsolationForest (TypeError / NotFittedError otherwise), and its
    # columns' names
    names = tree_structure(model).feature_names
    if model.n_features_in_ != 2:
        raise ValueError("plot_score_map needs a model fitted on 2 features, got "
                         f"{model.n_features_in_}.")
    X = _as_rows(model, X)
    if not isinstance(resolution, (int, np.integer)) or resolution < 2:
        raise ValueError(
            "The 'resolution' parameter of plot_score_map must be an int in the range "
            f"[2, inf). Got {resolution!r} instead."
        )
    finite = X[np.all(np.isfinite(X), axis=1)]
    lo, hi = finite.min(axis=0), finite.max(axis=0)
    pad = 0.1 * np.where(hi > lo, hi - lo, 1.0)
    lo, hi = lo - pad, hi + pad
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                         np.linspace(lo[1], hi[1], resolution))
    zz = _score_rows(model, np.c_[xx.ravel(), yy.ravel()]).reshape(xx.shape)

    ax = _new_ax(ax, (6.5, 5.5))
    cs = ax.contourf(xx, yy, zz, levels=30, cmap="RdBu")
    if zz.min() < model.offset_ < zz.max():
        ax.contour(xx, yy, zz, levels=[model.offset_], colors="k", linewidths=1.5,
                   linestyles="solid")
    if colorbar:
        ax.figure.colorbar(cs, ax=ax, label="score_samples (low = anomalous)")
    flagged = _score_rows(model, X) < model.offset_  # predict(X) == -1
    ax.scatter(X[~flagged, 0], X[~flagged, 1], s=8, c="white", edgecolors="k",
               linewidths=0.3, label="rows", zorder=3)
    if flagged.any():
        ax.scatter(X[flagged, 0], X[flagged, 1], s=16, c="gold", edgecolors="k",
                   linewidths=0.4, label="predict = -1", zorder=3)
    if explanation is not None:
        values = np.asarray(explanation.values, dtype=np.float64).reshape(-1, 2)
        data = np.asarray(explanation.data, dtype=np.float64).reshape(-1, 2)
        enames = list(getattr(explanation, "feature_names", None) or names)
        output = values.sum(axis=1) + np.asarray(explanation.base_values,
                                                 dtype=np.float64).reshape(-1)
        median = np.nanmedian(finite, axis=0)
        for i in np.argsort(output, kind="stable")[:max_annotate]:
            j = int(np.argmin(values[i]))
            start = data[i].copy()
            start[j] = median[j]
            ax.annotate("", xy=tuple(data[i]), xytext=tuple(start), zorder=5,
                        arrowprops=dict(arrowstyle="-|>", color="k", lw=1.6,
                                        shrinkA=0, shrinkB=3))
            # the label goes towards the middle of the map, so it stays inside
            right = data[i, 0] > 0.5 * (lo[0] + hi[0])
            up = data[i, 1] > 0.5 * (lo[1] + hi[1])
            who = f"row {i}" if row_labels is None else str(row_labels[i])
            ax.annotate(f"{who}: {enames[j]} {values[i, j]:+.2f}", tuple(data[i]),
                        xytext=(-8 if right else 8, -8 if up else 8),
                        textcoords="offset points", fontsize=8,
                        ha="right" if right else "left", va="top" if up else "bottom",
                        zorder=6, bbox=dict(boxstyle="round,pad=0.2", fc="white",
                                            ec="0.3", alpha=0.9))
        ax.scatter(data[:, 0], data[:, 1], s=60, facecolors="none", edgecolors="k",
                   linewidths=1.2, zorder=4, label="explained rows")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title("score map")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=3, fontsize=8,
              frameon=False)
    return ax

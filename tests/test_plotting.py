"""isoforest.plotting: each function draws what it says, on the Agg backend.

Explanations here are hand-made objects with the attributes an
``isoforest.Explanation`` has (the plots read them by attribute only).
"""

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from isoforest import IsolationForest  # noqa: E402
from isoforest.plotting import (  # noqa: E402
    plot_contributions,
    plot_importances,
    plot_score_map,
    plot_tree,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _explanation(n_rows=3, n_features=12, seed=0):
    rng = np.random.RandomState(seed)
    values = rng.randn(n_rows, n_features)
    return SimpleNamespace(values=values, base_values=np.full(n_rows, 9.5),
                           data=rng.randn(n_rows, n_features),
                           feature_names=[f"f{j}" for j in range(n_features)],
                           method="tree_shap")


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def _save(ax, tmp_path, name):
    path = tmp_path / name
    ax.figure.savefig(path, dpi=60)
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model_2d():
    rng = np.random.RandomState(0)
    X = np.r_[0.3 * rng.randn(150, 2), rng.uniform(-4, 4, size=(10, 2))]
    return IsolationForest(n_estimators=20, max_samples=32, random_state=0).fit(X), X


# ------------------------------------------------------------------ plot_tree
def test_plot_tree_draws_every_node_and_the_path(model_2d, tmp_path):
    model, X = model_2d
    forest = model.forest_
    n_nodes = int(forest.tree_offsets[1])
    row = X[[155]]
    ax = plot_tree(model, tree=0, X=row)
    # every node labelled (the tree is small): splits "x. <= t", leaves "h=..\nn=.."
    texts = _texts(ax)
    leaves = model.estimators_[0].tree_.children_left == -1
    assert sum(t.startswith("h=") for t in texts) == leaves.sum()
    assert sum("<=" in t for t in texts) == n_nodes - leaves.sum()
    # the highlighted edges are the row's path: depth(leaf) - 1 of them
    leaf = model.apply(row)[0, 0]
    depth = model.estimators_[0].tree_.compute_node_depths()[leaf]
    plain, lit = ax.collections[0], ax.collections[1]
    assert len(lit.get_segments()) == depth - 1
    assert len(plain.get_segments()) + len(lit.get_segments()) == n_nodes - 1
    assert "row 0" in texts
    h = forest.leaf_value[leaf]
    assert any(t.startswith(f"h={h:.2f}") for t in texts)
    _save(ax, tmp_path, "tree.png")


def test_plot_tree_max_depth_and_big_trees(model_2d, tmp_path):
    model, X = model_2d
    ax = plot_tree(model, tree=1, max_depth=2)
    segments = ax.collections[0].get_segments()
    assert len(segments) <= 2 + 4  # two levels of edges at most
    assert all(y >= -2 for seg in segments for _, y in seg)
    assert "drawn to depth 2" in ax.get_title()
    # labels only on the path when the tree is too big to label
    ax = plot_tree(model, tree=1, X=X[:2], label_limit=5)
    assert 0 < len(_texts(ax)) < model.estimators_[1].tree_.node_count
    _save(ax, tmp_path, "tree_big.png")
    # rows ending below the drawn depth are marked at the cut subtree they enter
    ax = plot_tree(model, tree=1, X=X[:3], max_depth=1)
    assert sum(t.startswith("row ") for t in _texts(ax)) >= 1
    assert all(y >= -1 for seg in ax.collections[0].get_segments() for _, y in seg)


def test_plot_tree_errors(model_2d):
    model, X = model_2d
    with pytest.raises(ValueError, match="tree must be in"):
        plot_tree(model, tree=20)
    with pytest.raises(ValueError, match="features"):
        plot_tree(model, X=np.zeros((1, 3)))


# ---------------------------------------------------------- plot_contributions
def test_waterfall_runs_from_base_to_output(tmp_path):
    e = _explanation()
    ax = plot_contributions(e, row=1, max_display=5)
    bars = ax.patches
    assert len(bars) == 5
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1] == "8 other features"  # the last bar, at the bottom
    top4 = np.argsort(-np.abs(e.values[1]))[:4]
    assert [lab.split(" = ")[0] for lab in labels[:4]] == [f"f{j}" for j in top4]
    # bars chain: bottom one starts at the base value, top one ends at the output
    by_y = sorted(bars, key=lambda b: b.get_y())
    assert by_y[0].get_x() == pytest.approx(9.5)
    for below, above in zip(by_y, by_y[1:]):
        assert above.get_x() == pytest.approx(below.get_x() + below.get_width())
    top = by_y[-1]
    assert top.get_x() + top.get_width() == pytest.approx(9.5 + e.values[1].sum())
    assert f"{9.5 + e.values[1].sum():.3f}" in ax.get_title()
    # red for negative (more anomalous), blue for positive
    for bar in bars:
        red = bar.get_facecolor()[0] > bar.get_facecolor()[2]
        assert red == (bar.get_width() < 0)
    _save(ax, tmp_path, "waterfall.png")


def test_contribution_bars(tmp_path):
    e = _explanation(n_features=3)
    ax = plot_contributions(e, row=0, kind="bar")
    assert len(ax.patches) == 3
    assert sorted(b.get_width() for b in ax.patches) == pytest.approx(sorted(e.values[0]))
    assert all(b.get_x() == 0 for b in ax.patches)
    _save(ax, tmp_path, "bars.png")
    with pytest.raises(ValueError, match="'kind' parameter"):
        plot_contributions(e, kind="pie")
    with pytest.raises(IndexError):
        plot_contributions(e, row=5)


def test_plot_contributions_on_given_axes():
    fig, ax = plt.subplots()
    assert plot_contributions(_explanation(), ax=ax) is ax


# ------------------------------------------------------------ plot_importances
def test_importances_from_array_and_explanation(tmp_path):
    ax = plot_importances(np.array([0.1, 0.7, 0.2]), feature_names=["a", "b", "c"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "c", "a"]
    assert [b.get_width() for b in ax.patches] == pytest.approx([0.7, 0.2, 0.1])
    e = _explanation(n_rows=4, n_features=5)
    ax = plot_importances(e)
    want = np.abs(e.values).mean(axis=0)
    assert sorted(b.get_width() for b in ax.patches) == pytest.approx(sorted(want))
    assert [t.get_text() for t in ax.get_yticklabels()][0] == f"f{np.argmax(want)}"
    _save(ax, tmp_path, "importances.png")
    with pytest.raises(ValueError, match="feature_names must contain 3"):
        plot_importances([1.0, 2.0, 3.0], feature_names=["a"])


# -------------------------------------------------------------- plot_score_map
def test_score_map_contours_rows_and_arrows(model_2d, tmp_path):
    model, X = model_2d
    rows = np.argsort(model.score_samples(X))[:3]
    e = SimpleNamespace(values=np.array([[-2.0, 0.1], [0.2, -1.0], [-0.5, -0.4]]),
                        base_values=np.full(3, 8.0), data=X[rows],
                        feature_names=["x0", "x1"], method="tree_shap")
    ax = plot_score_map(model, X, explanation=e, resolution=40)
    # one label per explained row, naming its most negative feature
    texts = [t for t in _texts(ax) if t]
    assert sorted(texts) == ["row 0: x0 -2.00", "row 1: x1 -1.00", "row 2: x0 -0.50"]
    # arrows end at the explained rows and move along one axis only
    arrows = [c for c in ax.get_children() if type(c).__name__ == "Annotation"
              and c.get_text() == ""]
    assert len(arrows) == 3
    for arrow in arrows:
        (x1, y1), (x0, y0) = arrow.xy, arrow.xyann
        assert (x1 == x0) != (y1 == y0)
    flagged = model.predict(X) == -1
    sizes = [len(c.get_offsets()) for c in ax.collections if hasattr(c, "get_offsets")
             and c.get_offsets().ndim == 2 and len(c.get_offsets()) in
             (int((~flagged).sum()), int(flagged.sum()))]
    assert int(flagged.sum()) in sizes and int((~flagged).sum()) in sizes
    _save(ax, tmp_path, "score_map.png")


def test_score_map_refuses_non_2d(tmp_path):
    X = np.random.RandomState(0).randn(50, 3)
    model = IsolationForest(n_estimators=3, random_state=0).fit(X)
    with pytest.raises(ValueError, match="2 features"):
        plot_score_map(model, X)


def test_plotting_without_matplotlib_names_the_extra():
    code = (
        "import sys; sys.modules['matplotlib'] = None; sys.modules['matplotlib.pyplot'] = None\n"
        "from isoforest.plotting import plot_importances\n"
        "try:\n    plot_importances([1.0])\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "plotting needs matplotlib: pip install isoforest[plot]" in out

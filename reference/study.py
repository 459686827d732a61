"""A walkthrough of Isolation Forest, one figure per idea.

Run ``python -m reference.study --out study_output`` (or
``python reference/study.py --out study_output``). It needs matplotlib and writes:

1_tree_path.png     how one tree isolates a point: the path of an outlier and of
                    an inlier through tree 0, split by split
2_path_lengths.png  path lengths of inliers and outliers: outliers are isolated
                    in fewer splits
3_score_curve.png   how the mean path length E[h(x)] becomes the score
                    s = 2 ** (-E[h(x)] / c(n))
4_explanation.png   which features shortened the outlier's path (TreeSHAP)
5_importances.png   which features matter over the whole data set (DIFFI)

Everything is computed on generated data (two Gaussian clusters in (x0, x1), a few
uniform outliers, and a column x2 of uniform noise), so nothing is downloaded.

Reference: Fei Tony Liu, Kai Ming Ting and Zhi-Hua Zhou, "Isolation Forest",
ICDM 2008 (path length, c(n) and the score); Lundberg et al. 2020 (TreeSHAP);
Carletti, Terzi & Susto 2023 (DIFFI).
"""

import argparse
import os
import sys

if __package__ in (None, ""):  # run as a file: use this checkout's isoforest
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

import isoforest
from isoforest import IsolationForest, explain, export_text, feature_importances
from isoforest.forest import average_path_length

FEATURES = ["x0", "x1", "x2"]


def make_data(n_inliers=600, n_outliers=30, seed=7):
    """Two clusters around (2, 2) and (-2, -2) in (x0, x1), uniform outliers on
    [-4, 4]^2, and x2: uniform noise on [-2, 2] for every row (no signal in it)."""
    rng = np.random.RandomState(seed)
    cluster = 0.4 * rng.randn(n_inliers // 2, 2)
    inliers = np.r_[cluster + 2, cluster - 2]
    outliers = rng.uniform(-4, 4, size=(n_outliers, 2))
    X = np.c_[np.r_[inliers, outliers], rng.uniform(-2, 2, n_inliers + n_outliers)]
    y = np.r_[np.zeros(n_inliers, dtype=int), np.ones(n_outliers, dtype=int)]
    return X, y


def describe_path(model, x, tree=0):
    """The splits one row meets in one tree, as lines of text (root first)."""
    t = model.estimators_[tree].tree_
    feats = model.estimators_features_[tree]
    lines, node, depth = [], 0, 0
    while t.children_left[node] != -1:
        j = feats[t.feature[node]]
        value = np.float32(x[j])  # trees compare float32 values, as scikit-learn's
        go_left = value <= t.threshold[node]
        child = t.children_left[node] if go_left else t.children_right[node]
        lines.append(
            f"  depth {depth}: {FEATURES[j]} = {x[j]:7.3f} {'<=' if go_left else '> '} "
            f"{t.threshold[node]:7.3f} -> {'left ' if go_left else 'right'} "
            f"({t.n_node_samples[node]} -> {t.n_node_samples[child]} training rows)")
        node, depth = child, depth + 1
    n = t.n_node_samples[node]
    c = float(average_path_length(n))
    lines.append(f"  leaf at depth {depth} with {n} training row(s): "
                 f"h = depth + c({n}) = {depth} + {c:.3f} = {depth + c:.3f}")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="study_output", help="folder for the figures")
    args = parser.parse_args(argv)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("the study draws figures: pip install isoforest[plot]", file=sys.stderr)
        return 1
    from isoforest.plotting import plot_contributions, plot_importances, plot_tree

    os.makedirs(args.out, exist_ok=True)
    X, y = make_data()
    model = IsolationForest(n_estimators=100, random_state=0).fit(X)
    scores = model.score_samples(X)
    outlier = int(np.argmin(scores))           # the most anomalous row
    inlier = int(np.argmax(scores))            # the most normal row
    rows = [outlier, inlier]
    print(f"isoforest {isoforest.__version__}: {X.shape[0]} rows x {X.shape[1]} "
          f"features ({int(y.sum())} planted outliers), 100 trees of max_samples_ = "
          f"{model.max_samples_} rows each")

    # (a) One tree isolates a point ------------------------------------------
    lengths = model.path_lengths(X)            # (n_rows, n_trees): h(x) per tree
    # a typical tree for the outlier: the one where its path length is the median
    tree = int(np.argsort(lengths[outlier], kind="stable")[len(model.estimators_) // 2])
    print(f"\n[1] How tree {tree} isolates row {outlier} (most anomalous) and row "
          f"{inlier} (most normal). Tree {tree} is a typical one for row {outlier}: "
          "its path length there is the median over the 100 trees.")
    for r in rows:
        print(f"row {r}: x = {np.round(X[r], 3)}")
        print("\n".join(describe_path(model, X[r], tree)))
    print(f"The first levels of tree {tree}, as sklearn.tree.export_text prints them:")
    print(export_text(model, tree=tree, feature_names=FEATURES, max_depth=1, decimals=2))
    ax = plot_tree(model, tree=tree, X=X[rows], feature_names=FEATURES, max_depth=6)
    ax.set_title(f"tree {tree}: row 0 = data row {outlier} (most anomalous), "
                 f"row 1 = data row {inlier} (most normal)")
    path = os.path.join(args.out, "1_tree_path.png")
    ax.figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(ax.figure)
    h_out, h_in = lengths[outlier, tree], lengths[inlier, tree]
    print(f"-> {path}: tree {tree} down to depth 6, the two rows' paths in red. Each "
          "split picks a random feature and a random threshold between that feature's "
          "minimum and maximum at the node. Here row "
          f"{outlier} ends with h = {h_out:.2f} and row {inlier} with h = {h_in:.2f} "
          "(a triangle is a subtree cut off by the drawing; a leaf still holding n "
          "training rows adds c(n), the path those rows would still need).")

    # (b) Path lengths of inliers and outliers --------------------------------
    mean_h = lengths.mean(axis=1)              # E[h(x)] over the forest
    c_n = float(average_path_length(model.max_samples_))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    bins = np.linspace(mean_h.min(), mean_h.max(), 40)
    ax.hist(mean_h[y == 0], bins=bins, color="#4393c3", alpha=0.8, label="inliers")
    ax.hist(mean_h[y == 1], bins=bins, color="#d6604d", alpha=0.9, label="planted outliers")
    ax.axvline(c_n, color="k", linestyle="--", linewidth=1)
    ax.text(c_n, ax.get_ylim()[1] * 0.95, f" c({model.max_samples_}) = {c_n:.2f}",
            va="top", fontsize=9)
    ax.set_xlabel("E[h(x)]: path length averaged over the 100 trees")
    ax.set_ylabel("rows")
    ax.set_title("outliers are isolated in fewer splits")
    ax.legend()
    path = os.path.join(args.out, "2_path_lengths.png")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    print(f"\n[2] Mean path length E[h(x)]: inliers {mean_h[y == 0].mean():.2f} on "
          f"average, planted outliers {mean_h[y == 1].mean():.2f}.")
    print(f"-> {path}: histogram of E[h(x)] for inliers and outliers; the dashed line "
          f"is c({model.max_samples_}), the average path length of an unsuccessful "
          "search in a binary search tree of that many keys: the normaliser of the "
          "score.")

    # (c) From E[h(x)] to the score -------------------------------------------
    s = 2.0 ** (-mean_h / c_n)
    print(f"\n[3] The anomaly score s(x) = 2 ** (-E[h(x)] / c(n)); isoforest's "
          f"score_samples is -s. Largest difference between -s and score_samples: "
          f"{np.abs(-s - scores).max():.1e} (the forest sums in tree order).")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    grid = np.linspace(0, max(2.5 * c_n, mean_h.max() * 1.05), 300)
    ax.plot(grid, 2.0 ** (-grid / c_n), color="0.2", label="s = 2^(-E[h]/c(n))")
    ax.scatter(mean_h[y == 0], s[y == 0], s=10, color="#4393c3", label="inliers", zorder=3)
    ax.scatter(mean_h[y == 1], s[y == 1], s=18, color="#d6604d", label="planted outliers",
               zorder=3)
    ax.axhline(0.5, color="k", linestyle=":", linewidth=1)
    ax.axvline(c_n, color="k", linestyle="--", linewidth=1)
    ax.annotate("s = 0.5 at E[h] = c(n): the 'auto' threshold (offset_ = -0.5)",
                (c_n, 0.5), xytext=(10, 25), textcoords="offset points", fontsize=8,
                arrowprops=dict(arrowstyle="->"))
    ax.set_xlabel("E[h(x)]")
    ax.set_ylabel("anomaly score s(x)  (= -score_samples)")
    ax.set_ylim(0, 1)
    ax.set_title("short paths give scores near 1, long paths scores near 0")
    ax.legend(loc="upper right", fontsize=8)
    path = os.path.join(args.out, "3_score_curve.png")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    flagged = model.predict(X) == -1
    print(f"-> {path}: every row on the curve s = 2^(-E[h]/c(n)). Rows above the "
          f"dotted line (s > 0.5) are flagged by predict: {int(flagged.sum())} rows, "
          f"{int(flagged[y == 1].sum())} of the {int(y.sum())} planted outliers.")

    # (d) One explanation -----------------------------------------------------
    e = explain(model, X[[outlier]], method="tree_shap")
    e.feature_names = list(FEATURES)
    print(f"\n[4] Why row {outlier} is anomalous: TreeSHAP splits E[h(x)] = "
          f"{mean_h[outlier]:.3f} into the base value {e.base_values[0]:.3f} (the "
          "expected path length over the training rows) plus one contribution per "
          "feature:")
    for j in np.argsort(e.values[0]):
        print(f"  {FEATURES[j]} = {X[outlier, j]:7.3f}: {e.values[0, j]:+.3f}")
    ax = plot_contributions(e, row=0)
    ax.set_title(f"row {outlier}: " + ax.get_title().split(": ", 1)[1])
    path = os.path.join(args.out, "4_explanation.png")
    ax.figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(ax.figure)
    smallest = FEATURES[int(np.argmin(np.abs(e.values[0])))]
    print(f"-> {path}: the waterfall from the base value to E[h(x)]; red bars shortened "
          "the path (made the row easier to isolate), blue ones lengthened it. The "
          f"smallest contribution in size is {smallest}'s.")

    importances = feature_importances(model, X, method="diffi")
    ax = plot_importances(importances, feature_names=FEATURES)
    ax.set_title("DIFFI global importances")
    path = os.path.join(args.out, "5_importances.png")
    ax.figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(ax.figure)
    print(f"\n[5] DIFFI importances: "
          + ", ".join(f"{n} {v:.3f}" for n, v in zip(FEATURES, importances)))
    ranking = [FEATURES[j] for j in np.argsort(-importances, kind="stable")]
    print(f"-> {path}: features whose splits isolate outliers early (and inliers late) "
          f"rank high. Ranking: {' > '.join(ranking)} (x2 is the noise column).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

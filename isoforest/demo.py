"""End-to-end demo: ``python -m isoforest.demo`` (what ``make demo`` runs).

Generates the classic walkthrough data (two Gaussian clusters plus uniform
outliers), fits an Isolation Forest, prints the most anomalous rows, times fit and
scoring next to scikit-learn's when it is installed (and checks the scores are
identical), explains the most anomalous row (TreeSHAP contributions of each
feature to its mean path length), and writes PNGs of the score map and of that
explanation when matplotlib is installed.
"""

import argparse
import os
import sys
import time

import numpy as np

from . import IsolationForest, explain


def make_data(n_inliers=2000, n_outliers=100, seed=42):
    """Two clusters around (2, 2) and (-2, -2), plus uniform outliers on [-4, 4]^2."""
    rng = np.random.RandomState(seed)
    cluster = 0.3 * rng.randn(n_inliers // 2, 2)
    inliers = np.r_[cluster + 2, cluster - 2]
    outliers = rng.uniform(low=-4, high=4, size=(n_outliers, 2))
    X = np.r_[inliers, outliers]
    y = np.r_[np.zeros(len(inliers), dtype=int), np.ones(n_outliers, dtype=int)]
    return X, y


def _best_of(fn, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _roc_auc(y, score):
    """ROC AUC by ranks (ties averaged), so the demo needs no scikit-learn."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    s = score[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    n_pos = y.sum()
    n_neg = len(y) - n_pos
    return (ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo_output", help="folder for the PNG")
    parser.add_argument("--rows", type=int, default=200_000,
                        help="rows of the timing data set (default 200000)")
    parser.add_argument("--top", type=int, default=10, help="anomalies to print")
    args = parser.parse_args(argv)

    X, y = make_data()
    clf = IsolationForest(n_estimators=100, random_state=0, n_jobs=-1).fit(X)
    scores = clf.score_samples(X)
    pred = clf.predict(X)
    order = np.argsort(scores)[: args.top]
    print(f"Isolation Forest on {X.shape[0]} rows x {X.shape[1]} features "
          f"({int(y.sum())} planted outliers)")
    print(f"ROC AUC of -score_samples against the planted labels: {_roc_auc(y, -scores):.4f}")
    print(f"rows flagged by predict (offset_ = {clf.offset_}): {(pred == -1).sum()}")
    print(f"\nThe {args.top} most anomalous rows:")
    print(f"{'row':>6} {'x0':>8} {'x1':>8} {'score':>9} {'planted':>8}")
    for i in order:
        print(f"{i:6d} {X[i, 0]:8.3f} {X[i, 1]:8.3f} {scores[i]:9.4f} "
              f"{'outlier' if y[i] else 'inlier':>8}")

    # Why is the most anomalous row anomalous? TreeSHAP splits its mean path length
    # E[h(x)] into a base value plus one contribution per feature; negative ones
    # shortened the path (made the row easier to isolate).
    worst = int(order[0])
    names = ["x0", "x1"]
    explanation = explain(clf, X[[worst]], method="tree_shap")
    contrib = explanation.values[0]
    print(f"\nWhy row {worst} is the most anomalous (TreeSHAP of its mean path length):")
    print(f"  base value (mean path length of the training rows): "
          f"{explanation.base_values[0]:.3f}")
    for j in np.argsort(contrib):
        print(f"  {names[j]} = {X[worst, j]:7.3f}   contribution {contrib[j]:+.3f}")
    print(f"  E[h(x)] = base + contributions = {explanation.base_values[0] + contrib.sum():.3f}"
          f"  (path_lengths mean: {clf.path_lengths(X[[worst]]).mean():.3f})")

    # Timing next to scikit-learn, same data, same parameters, one process.
    rng = np.random.RandomState(0)
    Xt = rng.randn(args.rows, 10)
    params = dict(n_estimators=100, max_samples=256, random_state=0, n_jobs=-1)
    ours = IsolationForest(**params).fit(Xt[:1000])
    ours.score_samples(Xt[:1000])  # compile outside the timing
    t_fit = _best_of(lambda: IsolationForest(**params).fit(Xt))
    ours = IsolationForest(**params).fit(Xt)
    t_score = _best_of(lambda: ours.score_samples(Xt))
    print(f"\nTiming on {args.rows} x 10 standard normal, 100 trees, max_samples 256:")
    print(f"  isoforest     fit {t_fit * 1e3:9.1f} ms   score_samples {t_score * 1e3:9.1f} ms")
    try:
        from sklearn.ensemble import IsolationForest as SkIsolationForest
    except ImportError:
        print("  scikit-learn not installed: no side-by-side timing")
    else:
        theirs = SkIsolationForest(**params).fit(Xt)
        s_fit = _best_of(lambda: SkIsolationForest(**params).fit(Xt), repeat=1)
        s_score = _best_of(lambda: theirs.score_samples(Xt), repeat=1)
        same = np.array_equal(theirs.score_samples(Xt), ours.score_samples(Xt))
        print(f"  scikit-learn  fit {s_fit * 1e3:9.1f} ms   score_samples {s_score * 1e3:9.1f} ms")
        print(f"  speed-up      fit {s_fit / t_fit:9.1f} x    score_samples "
              f"{s_score / t_score:9.1f} x")
        print(f"  scores identical to scikit-learn's: {same}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\nmatplotlib not installed: no score map written")
        return 0
    from .plotting import plot_contributions, plot_score_map

    os.makedirs(args.out, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    plot_score_map(clf, X, explanation=explanation, ax=ax, resolution=300,
                   row_labels=[f"row {worst}"])
    ax.set_title("isoforest.IsolationForest: score map")
    path = os.path.join(args.out, "score_map.png")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"\nscore map written to {path}")
    ax = plot_contributions(explanation, row=0)
    ax.set_title(f"row {worst}: " + ax.get_title().split(": ", 1)[1])
    path = os.path.join(args.out, "explanation.png")
    ax.figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(ax.figure)
    print(f"explanation of row {worst} written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

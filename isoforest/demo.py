"""End-to-end demo: ``python -m isoforest.demo`` (what ``make demo`` runs).

Generates the classic walkthrough data (two Gaussian clusters plus uniform
outliers), fits an Isolation Forest, prints the most anomalous rows, times fit and
scoring next to scikit-learn's when it is installed (and checks the scores are
identical), and writes a PNG of the score map when matplotlib is installed.
"""

import argparse
import os
import sys
import time

import numpy as np

from . import IsolationForest


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
    os.makedirs(args.out, exist_ok=True)
    xx, yy = np.meshgrid(np.linspace(-5, 5, 300), np.linspace(-5, 5, 300))
    zz = clf.decision_function(np.c_[xx.ravel(), yy.ravel()]).reshape(xx.shape)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    cs = ax.contourf(xx, yy, zz, levels=30, cmap="RdBu")
    ax.contour(xx, yy, zz, levels=[0], colors="k", linewidths=1.5)
    fig.colorbar(cs, ax=ax, label="decision_function (negative = outlier)")
    ax.scatter(X[y == 0, 0], X[y == 0, 1], s=6, c="white", edgecolors="k",
               linewidths=0.3, label="inliers")
    ax.scatter(X[y == 1, 0], X[y == 1, 1], s=14, c="gold", edgecolors="k",
               linewidths=0.4, label="planted outliers")
    ax.set_title("isoforest.IsolationForest: score map")
    ax.legend(loc="upper left")
    path = os.path.join(args.out, "score_map.png")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    print(f"\nscore map written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

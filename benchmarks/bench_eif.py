"""Extended Isolation Forest: accuracy and speed, isoforest against isotree.

Usage::

    flock /tmp/isoforest-bench.lock python benchmarks/bench_eif.py [--rows N]
        [--repeat R] [--data-dir DIR] [--seeds S]

Accuracy: mean ROC AUC over the shared data sets (``DIR/*.npz`` with keys X, y;
absent ones skipped), for isoforest's ExtendedIsolationForest (full extension and
extension_level=1), isotree's extended model with ``ndim=2`` set up as the paper's
EIF, and isoforest's IsolationForest beside them. 100 trees, 256 rows per tree.

isotree's settings, to make it the paper's algorithm: ``coefs="normal"`` (standard
normal slopes; isotree's default is uniform), ``standardize_data=False`` (isotree
rescales columns at each node by default), ``missing_action="fail"``,
``scoring_metric="depth"``, ``penalize_range=False``, ``prob_pick_*=0`` (random, not
gain-guided, splits), ``ntry=1``, ``weigh_by_kurtosis=False``. One difference
remains: isotree draws the threshold uniformly between the min and max of the rows'
projections on the normal, the paper (and isoforest) a point uniformly in the box.

Speed: scoring 1,000,000 x 10 with full extension (isoforest ``extension_level=None``
vs isotree ``ndim=10``), and the fit time of each, all threads, after a warm-up,
interleaved repeats, medians. Writes ``benchmarks/results/eif.{json,md}``.
"""

import argparse
import glob
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from isoforest import ExtendedIsolationForest, IsolationForest  # noqa: E402
from run import RESULTS, interleaved, machine, versions  # noqa: E402

N_TREES = 100
MAX_SAMPLES = 256


def isotree_eif(ndim, seed):
    from isotree import IsolationForest as IsoTree

    return IsoTree(ndim=ndim, ntrees=N_TREES, sample_size=MAX_SAMPLES, coefs="normal",
                   standardize_data=False, missing_action="fail", scoring_metric="depth",
                   penalize_range=False, prob_pick_pooled_gain=0.0,
                   prob_pick_avg_gain=0.0, prob_pick_full_gain=0.0, prob_pick_dens=0.0,
                   ntry=1, weigh_by_kurtosis=False, random_seed=seed, nthreads=-1)


def auc(y, score):
    """ROC AUC by ranks (ties share their mean rank): no scikit-learn needed."""
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool)
    r = rankdata(score)
    n1, n0 = y.sum(), (~y).sum()
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def accuracy(data_dir, seeds):
    detectors = {
        "isoforest EIF (full)": lambda s, d: ExtendedIsolationForest(random_state=s,
                                                                     n_jobs=-1),
        "isoforest EIF (ext=1)": lambda s, d: ExtendedIsolationForest(
            extension_level=min(1, d - 1), random_state=s, n_jobs=-1),
        "isoforest IF": lambda s, d: IsolationForest(random_state=s, n_jobs=-1),
    }
    try:
        import isotree  # noqa: F401

        detectors["isotree ndim=2"] = lambda s, d: isotree_eif(min(2, d), s)
    except ImportError:
        print("isotree not installed: skipped", file=sys.stderr)
    rows = {}
    for path in sorted(glob.glob(os.path.join(data_dir, "*.npz"))):
        with np.load(path) as f:
            X, y = np.asarray(f["X"], dtype=np.float64), np.asarray(f["y"])
        if not np.all(np.isfinite(X)):
            print(f"{path}: non-finite values, skipped", file=sys.stderr)
            continue
        name = os.path.splitext(os.path.basename(path))[0]
        rows[name] = {"n": int(X.shape[0]), "d": int(X.shape[1])}
        for det, make in detectors.items():
            aucs = []
            for s in range(seeds):
                m = make(s, X.shape[1]).fit(X)
                score = m.predict(X) if det.startswith("isotree") else -m.score_samples(X)
                aucs.append(auc(y, score))
            rows[name][det] = float(np.mean(aucs))
        print(name, rows[name], file=sys.stderr)
    return rows, list(detectors)


def speed(n_rows, repeat):
    X = np.random.RandomState(0).randn(n_rows, 10)
    ours = ExtendedIsolationForest(n_estimators=N_TREES, random_state=0, n_jobs=-1)
    fit = {"isoforest": lambda: ours.fit(X)}
    score = {"isoforest": lambda: ours.score_samples(X)}
    try:
        theirs = isotree_eif(10, 0)
        fit["isotree"] = lambda: theirs.fit(X)
        score["isotree"] = lambda: theirs.predict(X)
    except ImportError:
        pass
    for fn in fit.values():
        fn()
    for fn in score.values():
        fn()
    return interleaved(fit, repeat), interleaved(score, repeat)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--data-dir", default=os.path.join(
        os.path.dirname(os.path.dirname(HERE)), "shared", "datasets")
        if not os.path.isdir("/work/shared/datasets") else "/work/shared/datasets")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args(argv)

    rows, dets = ({}, []) if args.skip_accuracy else accuracy(args.data_dir, args.seeds)
    fit_t, score_t = speed(args.rows, args.repeat)
    result = {"machine": machine(), "versions": versions(), "auc": rows,
              "shape": [args.rows, 10], "repeat": args.repeat, "seeds": args.seeds,
              "fit_s": fit_t, "score_s": score_t}
    lines = []
    if rows:
        lines += [f"ROC AUC (mean of {args.seeds} seed(s)), {N_TREES} trees, "
                  f"{MAX_SAMPLES} rows per tree.", "",
                  "| data set | n | d | " + " | ".join(dets) + " |",
                  "| --- | ---: | ---: | " + " | ".join("---:" for _ in dets) + " |"]
        for name, r in rows.items():
            lines.append(f"| {name} | {r['n']:,} | {r['d']} | "
                         + " | ".join(f"{r[d]:.3f}" for d in dets) + " |")
        lines.append("| **mean** | | | " + " | ".join(
            f"**{np.mean([r[d] for r in rows.values()]):.3f}**" for d in dets) + " |")
        lines.append("")
    lines += [f"{args.rows:,} x 10 float64, full extension (isotree ndim=10), all "
              f"threads, median of {args.repeat} interleaved runs after a warm-up. "
              f"Machine: {result['machine']}.", "",
              "| | isoforest EIF | isotree | ratio |", "| --- | ---: | ---: | ---: |"]
    for what, t in (("fit", fit_t), ("score_samples", score_t)):
        it = t.get("isotree")
        lines.append(f"| {what} | {t['isoforest']:.3f} s | "
                     + (f"{it:.3f} s | {it / t['isoforest']:.1f}x |" if it else "n/a | |"))
    table = "\n".join(lines)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "eif.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(RESULTS, "eif.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

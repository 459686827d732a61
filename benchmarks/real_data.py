"""Real-data benchmark: the 2008 paper's table, isoforest against scikit-learn and isotree.

Usage::

    python benchmarks/real_data.py                      # every data set found
    python benchmarks/real_data.py --data-dir DIR --seeds 5 --datasets http,smtp
    ISOFOREST_DATASETS=DIR python benchmarks/real_data.py

Data: ODDS / ADBench outlier benchmarks as ``.npz`` files with ``X`` and ``y``
(1 = outlier), read from ``--data-dir``, else ``$ISOFOREST_DATASETS``, else
``../shared/datasets`` beside the repository. The project ships no data: a missing
directory or data set is skipped with a message. ODDS: https://odds.cs.stonybrook.edu,
ADBench: https://github.com/Minqi824/ADBench.

Protocol: every detector is fitted on the whole data set and scores it (the
unsupervised setting of Liu, Ting & Zhou 2008); random detectors run with seeds
0..S-1 and the mean is reported. Metrics: ROC AUC and average precision of the
anomaly score, and precision / recall / F1 of the detector's own ``predict``;
fit and score times. OneClassSVM is O(n^2): it is fitted on a random subsample of at
most ``--svm-max-rows`` rows (it still scores every row), as noted in the table.
Writes ``benchmarks/results/real_data.{csv,md}``, two PNG plots, and the docs/ page
table between the ``bench:real-data`` markers.
"""

import argparse
import csv
import hashlib
import os
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from run import RESULTS, machine, update_readme, versions  # noqa: E402

#: Liu, Ting & Zhou (2008), Table 2, iForest AUC (t = 100, psi = 256).
PAPER_AUC = {"http": 1.00, "cover": 0.88, "mulcross": 0.97, "smtp": 0.88, "shuttle": 1.00,
             "mammography": 0.86, "annthyroid": 0.82, "satellite": 0.71, "pima": 0.67,
             "breastw": 0.99, "arrhythmia": 0.80, "ionosphere": 0.85}


def default_data_dir():
    env = os.environ.get("ISOFOREST_DATASETS")
    if env:
        return env
    return os.path.join(ROOT, "..", "shared", "datasets")


def detectors(svm_max_rows):
    """name -> (random?, factory(seed) -> (fit(X), anomaly_score(X), is_outlier(X)))."""
    import isoforest

    out = {}

    def sk_like(make):
        def factory(seed, X):
            model = make(seed, X)
            return (lambda: model.fit(X), lambda: -model.score_samples(X),
                    lambda: model.predict(X) == -1)
        return factory

    out["isoforest IF"] = (True, sk_like(
        lambda s, X: isoforest.IsolationForest(random_state=s, n_jobs=-1)))
    if hasattr(isoforest, "ExtendedIsolationForest"):
        out["isoforest EIF"] = (True, sk_like(
            lambda s, X: isoforest.ExtendedIsolationForest(random_state=s, n_jobs=-1)))
    if hasattr(isoforest, "LocalOutlierFactor"):
        def our_lof(seed, X):
            model = isoforest.LocalOutlierFactor(n_neighbors=20, n_jobs=-1)
            state = {}
            return (lambda: state.setdefault("pred", model.fit_predict(X)),
                    lambda: -model.negative_outlier_factor_,
                    lambda: state["pred"] == -1)
        out["isoforest LOF"] = (False, our_lof)
    out["isoforest z-score"] = (False, sk_like(
        lambda s, X: isoforest.ZScoreDetector(n_jobs=-1)))
    try:
        from sklearn.ensemble import IsolationForest as SkIF
        from sklearn.neighbors import LocalOutlierFactor as SkLOF
        from sklearn.svm import OneClassSVM

        out["sklearn IF"] = (True, sk_like(lambda s, X: SkIF(random_state=s, n_jobs=-1)))

        def sk_lof(seed, X):
            model = SkLOF(n_neighbors=20, n_jobs=-1)
            state = {}
            return (lambda: state.setdefault("pred", model.fit_predict(X)),
                    lambda: -model.negative_outlier_factor_,
                    lambda: state["pred"] == -1)
        out["sklearn LOF"] = (False, sk_lof)

        def svm(seed, X):
            from sklearn.preprocessing import StandardScaler

            scaler = StandardScaler().fit(X)
            Xs = scaler.transform(X)
            rng = np.random.RandomState(0)
            sub = Xs if len(Xs) <= svm_max_rows else Xs[rng.choice(len(Xs), svm_max_rows,
                                                                  replace=False)]
            model = OneClassSVM(gamma="scale", nu=0.1)
            return (lambda: model.fit(sub), lambda: -model.decision_function(Xs),
                    lambda: model.predict(Xs) == -1)
        out["sklearn OCSVM"] = (False, svm)
    except ImportError:
        print("scikit-learn not installed: its detectors are skipped", file=sys.stderr)
    try:
        from isotree import IsolationForest as IsoTree

        def iso(seed, X):
            model = IsoTree(ndim=1, ntrees=100, sample_size=256, random_seed=seed,
                            nthreads=-1)
            return (lambda: model.fit(X), lambda: model.predict(X),
                    lambda: model.predict(X) > 0.5)
        out["isotree"] = (True, iso)
    except ImportError:
        print("isotree not installed: skipped", file=sys.stderr)
    return out


def metrics(y, score, flag):
    from sklearn.metrics import average_precision_score, roc_auc_score

    score = np.nan_to_num(score, nan=np.nanmax(score[np.isfinite(score)], initial=0),
                          posinf=1e300, neginf=-1e300)
    tp = int(np.sum(flag & (y == 1)))
    prec = tp / max(int(flag.sum()), 1)
    rec = tp / max(int((y == 1).sum()), 1)
    f1 = 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)
    return {"auc": roc_auc_score(y, score), "ap": average_precision_score(y, score),
            "precision": prec, "recall": rec, "f1": f1}


class Progress:
    def __init__(self, total):
        self.total, self.done, self.tty = total, 0, sys.stderr.isatty()

    def step(self, label):
        self.done += 1
        if self.tty:
            width = 30
            fill = int(width * self.done / self.total)
            sys.stderr.write(f"\r[{'#' * fill}{'.' * (width - fill)}] "
                             f"{self.done}/{self.total} {label[:40]:<40}")
            if self.done == self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def run(data_dir, names, seeds, svm_max_rows):
    dets = detectors(svm_max_rows)
    files = sorted(f for f in os.listdir(data_dir) if f.endswith(".npz"))
    if names:
        wanted = set(names)
        for n in sorted(wanted - {f[:-4] for f in files}):
            print(f"data set {n} not found in {data_dir}: skipped", file=sys.stderr)
        files = [f for f in files if f[:-4] in wanted]
    runs = sum(seeds if rnd else 1 for rnd, _ in dets.values()) * len(files)
    prog = Progress(runs)
    rows = []
    for fname in files:
        name = fname[:-4]
        data = np.load(os.path.join(data_dir, fname))
        X = np.asarray(data["X"], dtype=np.float64)
        y = np.asarray(data["y"]).astype(int).ravel()
        # warm-up on this set's first rows: kernels are compiled (or loaded from the
        # cache) per feature count and layout, outside the timings
        for rnd, factory in dets.values():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit, score, flag = factory(0, X[:min(len(X), 500)])
                fit()
                score()
        for det, (rnd, factory) in dets.items():
            for seed in range(seeds if rnd else 1):
                fit, score, flag = factory(seed, X)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    fit()
                    t1 = time.perf_counter()
                    s = np.asarray(score(), dtype=np.float64)
                    t2 = time.perf_counter()
                    f = np.asarray(flag(), dtype=bool)
                m = metrics(y, s, f)
                rows.append({"dataset": name, "n": X.shape[0], "d": X.shape[1],
                             "detector": det, "seed": seed, "fit_s": t1 - t0,
                             "score_s": t2 - t1, **m,
                             "scores_sha": (hashlib.sha256(s.tobytes()).hexdigest()
                                            if "IF" in det else "")})
                prog.step(f"{name} {det}")
    return rows


def summarise(rows):
    keys = sorted({(r["dataset"], r["detector"]) for r in rows})
    out = {}
    for ds, det in keys:
        rs = [r for r in rows if r["dataset"] == ds and r["detector"] == det]
        out[(ds, det)] = {k: float(np.mean([r[k] for r in rs]))
                          for k in ("auc", "ap", "precision", "recall", "f1", "fit_s",
                                    "score_s")}
        out[(ds, det)]["n"] = rs[0]["n"]
        out[(ds, det)]["d"] = rs[0]["d"]
    return out


def iforest_identical(rows):
    """Per data set: were our scores identical to scikit-learn's for every seed?"""
    res = {}
    for ds in sorted({r["dataset"] for r in rows}):
        ours = {r["seed"]: r["scores_sha"] for r in rows
                if r["dataset"] == ds and r["detector"] == "isoforest IF"}
        theirs = {r["seed"]: r["scores_sha"] for r in rows
                  if r["dataset"] == ds and r["detector"] == "sklearn IF"}
        res[ds] = (ours == theirs) if theirs else None
    return res


def markdown(summary, identical, seeds, svm_max_rows):
    datasets = sorted({ds for ds, _ in summary})
    dets = sorted({d for _, d in summary})
    lines = [
        f"Fitted on the whole data set, scores of every row; mean over {seeds} seeds for "
        f"random detectors. Machine: {machine()}.",
        "",
        "**Isolation Forest against Liu, Ting & Zhou (2008), Table 2 (ROC AUC)**",
        "",
        "| data set | n | d | paper | isoforest | scikit-learn | isotree | |ours - paper| | identical to scikit-learn |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for ds in datasets:
        ours = summary.get((ds, "isoforest IF"))
        sk = summary.get((ds, "sklearn IF"))
        it = summary.get((ds, "isotree"))
        paper = PAPER_AUC.get(ds)
        diff = "" if paper is None or ours is None else f"{abs(ours['auc'] - paper):.3f}"
        lines.append(
            f"| {ds} | {ours['n']:,} | {ours['d']} | "
            f"{'' if paper is None else f'{paper:.2f}'} | {ours['auc']:.3f} | "
            f"{'' if sk is None else format(sk['auc'], '.3f')} | "
            f"{'' if it is None else format(it['auc'], '.3f')} | {diff} | "
            f"{identical.get(ds)} |")
    lines += ["", "**Every detector: ROC AUC / average precision / F1 at its own threshold**",
              "", "| data set | " + " | ".join(dets) + " |",
              "| --- |" + " ---: |" * len(dets)]
    for ds in datasets:
        cells = []
        for d in dets:
            s = summary.get((ds, d))
            cells.append("" if s is None else
                         f"{s['auc']:.3f} / {s['ap']:.3f} / {s['f1']:.2f}")
        lines.append(f"| {ds} | " + " | ".join(cells) + " |")
    lines += ["", "**Fit + score time (s)**", "", "| data set | " + " | ".join(dets) + " |",
              "| --- |" + " ---: |" * len(dets)]
    for ds in datasets:
        cells = []
        for d in dets:
            s = summary.get((ds, d))
            cells.append("" if s is None else f"{s['fit_s'] + s['score_s']:.3f}")
        lines.append(f"| {ds} | " + " | ".join(cells) + " |")
    lines += ["", f"OneClassSVM (nu=0.1, standardised inputs) is fitted on at most "
              f"{svm_max_rows:,} rows per data set."]
    return "\n".join(lines)


def plots(summary):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    datasets = sorted({ds for ds, _ in summary})
    dets = sorted({d for _, d in summary})
    x = np.arange(len(datasets))
    width = 0.8 / max(len(dets), 1)
    for key, fname, ylabel, log in (("auc", "real_data_auc.png", "ROC AUC", False),
                                    ("time", "real_data_time.png", "fit + score (s)", True)):
        fig, ax = plt.subplots(figsize=(12, 4.5))
        for k, d in enumerate(dets):
            vals = []
            for ds in datasets:
                s = summary.get((ds, d))
                if s is None:
                    vals.append(np.nan)
                elif key == "auc":
                    vals.append(s["auc"])
                else:
                    vals.append(s["fit_s"] + s["score_s"])
            ax.bar(x + k * width, vals, width, label=d)
        ax.set_xticks(x + 0.4 - width / 2)
        ax.set_xticklabels(datasets, rotation=45, ha="right")
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        else:
            ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7, ncol=4)
        ax.set_title(f"{ylabel} per data set and detector")
        fig.tight_layout()
        fig.savefig(os.path.join(RESULTS, fname), dpi=100)
        plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None,
                        help="folder of .npz data sets (default: $ISOFOREST_DATASETS or "
                             "../shared/datasets)")
    parser.add_argument("--datasets", default=None, help="comma-separated names")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--svm-max-rows", type=int, default=10_000)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or default_data_dir()
    if not os.path.isdir(data_dir):
        print(f"no data directory {data_dir}: nothing to benchmark (set --data-dir or "
              "ISOFOREST_DATASETS to a folder of ODDS/ADBench .npz files)")
        return 0
    names = args.datasets.split(",") if args.datasets else None
    t0 = time.perf_counter()
    rows = run(data_dir, names, args.seeds, args.svm_max_rows)
    if not rows:
        print("no data set found: nothing to benchmark")
        return 0
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "real_data.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[k for k in rows[0] if k != "scores_sha"],
                           extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    summary = summarise(rows)
    table = markdown(summary, iforest_identical(rows), args.seeds, args.svm_max_rows)
    table += f"\n\nWhole run: {time.perf_counter() - t0:.0f} s (`make bench-data`)."
    with open(os.path.join(RESULTS, "real_data.md"), "w") as f:
        f.write(table + "\n")
    plots(summary)
    print(table)
    if not args.no_readme:
        update_readme(table, marker="real-data")
    return 0


if __name__ == "__main__":
    sys.exit(main())

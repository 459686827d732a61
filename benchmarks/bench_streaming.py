"""Streaming forests, side by side in one run: isoforest against river and rrcf.

Usage::

    python benchmarks/bench_streaming.py [--repeat R] [--auc-rows N] [--no-readme]
        [--data-dir DIR]

Speed: the prequential loop (each record scored, then learned) on the same
records, isoforest's ``score_learn`` on one and on all threads against river's
``HalfSpaceTrees`` (``score_one`` then ``learn_one``; 10 trees x height 8, and the
paper's 25 x 15) and rrcf's documented streaming loop (40 trees of 256 points).
The peers are pure Python and slow, so each runs on a prefix of the records;
isoforest's scores on that prefix are checked equal to the peer's. Rates are those
of a running stream: a Random Cut Forest's trees fill during the first
``tree_size`` records, which cost less (no point to forget, shallower trees), so
for both sides the clock starts once the trees are full (rrcf's loop runs its
first ``tree_size + 1`` records untimed; isoforest learns them in a first call).
Half-Space Trees' cost is flat along the stream. Also timed: isoforest one record a
call, as the peer's loop calls it (river's ``score_one`` then ``learn_one`` on a
dict made per record; ``score_learn_one`` on rrcf's point), where Python's cost
per call, not the trees, sets the rate. Medians of ``--repeat`` interleaved runs
after a warm-up.

Quality: prequential ROC AUC on ODDS sets (``--data-dir``, default
``../shared/datasets``) streamed in file order and shuffled (seed 0), the
protocol of Leveni et al., "Online Isolation Forest" (ICML 2024): isoforest's
HalfSpaceTrees on online min-max scaled records (river's pipeline), its
RandomCutForest (rrcf's scores exactly, so rrcf's AUC), river's HalfSpaceTrees
(the same scores as isoforest's, checked on a prefix) and an IsolationForest
refitted every 1,000 records on the last 2,000 (scoring the next 1,000).
``--auc-rows`` caps each set (default 50,000 records; sets are cut, not sampled).

Writes ``benchmarks/results/streaming.{json,md}`` and the table (in README.md or docs/) between the
``bench:streaming`` markers.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from isoforest import HalfSpaceTrees, IsolationForest, RandomCutForest  # noqa: E402
from run import RESULTS, machine, update_readme  # noqa: E402

SETS = ["http", "smtp", "cover", "shuttle", "mammography", "annthyroid", "satellite"]


def river_hst_loop(X, T, h, seed):
    from river import anomaly

    model = anomaly.HalfSpaceTrees(n_trees=T, height=h, window_size=250, seed=seed)
    out = np.empty(len(X))
    for i, row in enumerate(X):
        x = dict(enumerate(row.tolist()))
        out[i] = model.score_one(x)
        model.learn_one(x)
    return out


def rrcf_loop(X, T, size, seed, clock_from=0):
    """rrcf's documented streaming loop; returns (scores, seconds spent on the
    records from ``clock_from`` on)."""
    import rrcf

    seeds = np.random.RandomState(seed).randint(np.iinfo(np.int32).max, size=T)
    forest = [rrcf.RCTree(random_state=int(s)) for s in seeds]
    out = np.empty(len(X))
    t0 = None
    for index, point in enumerate(X):
        if index == clock_from:
            t0 = time.perf_counter()
        acc = 0
        for tree in forest:
            if len(tree.leaves) > size:
                tree.forget_point(index - size)
            tree.insert_point(point, index=index)
            acc += tree.codisp(index) / T
        out[index] = acc
    return out, (time.perf_counter() - t0 if t0 is not None else 0.0)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def speed(repeat):
    rng = np.random.RandomState(0)
    X = rng.rand(400_000, 3)
    rows = []
    # (label, kind, trees, height or tree size, records timed for the peer and
    # for isoforest, records run before the clock starts)
    cases = [("HalfSpaceTrees 10 x height 8", "hst", 10, 8, 20_000, 400_000, 0),
             ("HalfSpaceTrees 25 x height 15", "hst", 25, 15, 1_000, 100_000, 0),
             ("RandomCutForest 40 x 256", "rcf", 40, 256, 600, 40_000, 257)]
    for label, kind, T, size, n_peer, n_ours, warm in cases:
        if kind == "hst":
            def make(jobs):
                return HalfSpaceTrees(n_estimators=T, height=size, random_state=0,
                                      n_jobs=jobs)

            def peer(n):
                t0 = time.perf_counter()
                out = river_hst_loop(X[:n], T, size, 0)
                return out, time.perf_counter() - t0
            peer_name = "river"
        else:
            def make(jobs):
                return RandomCutForest(n_estimators=T, tree_size=size, random_state=0,
                                       n_jobs=jobs)

            def peer(n):
                return rrcf_loop(X[:n], T, size, 0, clock_from=warm)
            peer_name = "rrcf"

        def ours(n, jobs):
            """(scores of X[:n], seconds spent on the records from ``warm`` on)"""
            model = make(jobs)
            first = model.score_learn(X[:warm]) if warm else np.empty(0)
            t0 = time.perf_counter()
            rest = model.score_learn(X[warm:n])
            return np.concatenate([first, rest]), time.perf_counter() - t0

        def ours_one(n):
            """The same, one record a call, as the peer's loop makes them: river's
            ``score_one`` then ``learn_one`` on a dict made per record, or
            ``score_learn_one`` on rrcf's point."""
            model = make(None)
            out = np.empty(n)
            out[:warm] = model.score_learn(X[:warm]) if warm else []
            t0 = time.perf_counter()
            if kind == "hst":
                for i, row in enumerate(X[warm:n], warm):
                    x = dict(enumerate(row.tolist()))
                    out[i] = model.score_one(x)
                    model.learn_one(x)
            else:
                for i, point in enumerate(X[warm:n], warm):
                    out[i] = model.score_learn_one(point)
            return out, time.perf_counter() - t0

        ours(2000, 1)
        ours(2000, -1)
        ours_one(warm + 200)
        expected = peer(warm + n_peer)[0]
        same = float(max(np.max(np.abs(ours(warm + n_peer, 1)[0] - expected)),
                         np.max(np.abs(ours_one(warm + n_peer)[0] - expected))))
        n_one = min(n_ours, 20 * n_peer)
        t1, t2, t3, tp = [], [], [], []
        for _ in range(repeat):
            t1.append(ours(warm + n_ours, 1)[1] / n_ours)
            t2.append(ours(warm + n_ours, -1)[1] / n_ours)
            t3.append(ours_one(warm + n_one)[1] / n_one)
            tp.append(peer(warm + n_peer)[1] / n_peer)
        one, both, each, p = np.median(t1), np.median(t2), np.median(t3), np.median(tp)
        rows.append({"case": label, "peer": peer_name, "records_per_s_1_thread": 1 / one,
                     "records_per_s_all_threads": 1 / both, "peer_records_per_s": 1 / p,
                     "ratio_1_thread": p / one, "ratio_all_threads": p / both,
                     "records_per_s_one_record_calls": 1 / each,
                     "ratio_one_record_calls": p / each,
                     "max_abs_diff_vs_peer": same, "peer_records": n_peer,
                     "isoforest_records": n_ours, "untimed_first_records": warm})
        print(rows[-1], flush=True)
    return rows


def prequential_auc(data_dir, n_rows):
    from sklearn.metrics import roc_auc_score

    out = []
    for name in SETS:
        path = os.path.join(data_dir, f"{name}.npz")
        if not os.path.exists(path):
            print(f"{path}: missing, skipped", flush=True)
            continue
        with np.load(path) as f:
            X_all, y_all = f["X"].astype(np.float64), f["y"].astype(int)
        for order in ("file", "shuffled"):
            idx = np.arange(len(X_all))
            if order == "shuffled":
                idx = np.random.RandomState(0).permutation(len(X_all))
            X, y = X_all[idx][:n_rows], y_all[idx][:n_rows]
            if y.min() == y.max():
                continue
            lo = np.minimum.accumulate(X)
            hi = np.maximum.accumulate(X)
            w = hi - lo
            Z = np.where(w > 0, (X - lo) / np.where(w > 0, w, 1.0), 0.0)
            row = {"set": name, "order": order, "rows": len(X)}
            t, s = timed(lambda: HalfSpaceTrees(n_estimators=25, height=15,
                                                random_state=0).score_learn(Z))
            row["hst_auc"], row["hst_s"] = roc_auc_score(y, s), t
            t, s = timed(lambda: RandomCutForest(n_estimators=40, tree_size=256,
                                                 random_state=0, n_jobs=-1).score_learn(X))
            row["rcf_auc"], row["rcf_s"] = roc_auc_score(y, s), t
            t, s = timed(lambda: HalfSpaceTrees(random_state=0).score_learn(Z))
            row["hst_default_auc"], row["hst_default_s"] = roc_auc_score(y, s), t
            t, s = timed(lambda: sliding_iforest(X))
            row["iforest_window_auc"], row["iforest_window_s"] = roc_auc_score(y, s), t
            out.append(row)
            print(row, flush=True)
    return out


def sliding_iforest(X, every=1000, window=2000):
    scores = np.zeros(len(X))
    model = None
    for lo in range(0, len(X), every):
        if model is not None:
            scores[lo: lo + every] = -model.score_samples(X[lo: lo + every])
        model = IsolationForest(random_state=0, n_jobs=-1).fit(
            X[max(0, lo + every - window): lo + every])
    return scores


def _ratio(x):
    return f"{x:,.1f}x" if x < 10 else f"{x:,.0f}x"


def markdown(result):
    lines = [f"Measured on {result['machine']} (river {result['versions'].get('river')}, "
             f"rrcf {result['versions'].get('rrcf')}); `python benchmarks/bench_streaming.py`.",
             "",
             "| prequential loop | isoforest, 1 thread | all threads | one record a call "
             "| peer | vs peer, 1 thread | all threads | one record a call | max abs diff |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["speed"]:
        lines.append(f"| {r['case']} | {r['records_per_s_1_thread']:,.0f} rec/s "
                     f"| {r['records_per_s_all_threads']:,.0f} rec/s "
                     f"| {r['records_per_s_one_record_calls']:,.0f} rec/s "
                     f"| {r['peer']} {r['peer_records_per_s']:,.0f} rec/s "
                     f"| {_ratio(r['ratio_1_thread'])} | {_ratio(r['ratio_all_threads'])} "
                     f"| {_ratio(r['ratio_one_record_calls'])} "
                     f"| {r['max_abs_diff_vs_peer']:.1e} |")
    lines += ["", "One record a call: the peer's own loop, one call per record (river's "
              "`score_one` then `learn_one` on a dict; `score_learn_one` on rrcf's point), "
              "on one thread."]
    warm = [r for r in result["speed"] if r.get("untimed_first_records")]
    if warm:
        lines += ["", "Rates of a running stream: " + "; ".join(
            f"{r['case']}: both sides' clocks start after the first "
            f"{r['untimed_first_records']} records, once the trees are full"
            for r in warm) + "."]
    if result.get("auc"):
        lines += ["", "Prequential ROC AUC (first "
                  f"{result['auc_rows']:,} records of each set, in file order / shuffled; "
                  "an order whose first records hold no outlier is left out):", "",
                  "| set | order | HST 25 x 15 | HST 10 x 8 (river's defaults) "
                  "| RCF 40 x 256 (= rrcf) | IsolationForest, sliding window |",
                  "|---|---|---:|---:|---:|---:|"]
        for r in result["auc"]:
            lines.append(f"| {r['set']} | {r['order']} | {r['hst_auc']:.3f} "
                         f"| {r['hst_default_auc']:.3f} | {r['rcf_auc']:.3f} "
                         f"| {r['iforest_window_auc']:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--auc-rows", type=int, default=50_000)
    parser.add_argument("--data-dir", default=os.environ.get(
        "ISOFOREST_DATA", os.path.join(os.path.dirname(HERE), "..", "shared", "datasets")))
    parser.add_argument("--no-auc", action="store_true")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)
    import river
    import rrcf

    result = {"machine": machine(),
              "versions": {"river": river.__version__,
                           "rrcf": getattr(rrcf, "__version__", "0.4.4")},
              "speed": speed(args.repeat), "auc_rows": args.auc_rows}
    if not args.no_auc:
        result["auc"] = prequential_auc(args.data_dir, args.auc_rows)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "streaming.json"), "w") as f:
        json.dump(result, f, indent=1)
    table = markdown(result)
    with open(os.path.join(RESULTS, "streaming.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    if not args.no_readme:
        update_readme(table, marker="streaming")


if __name__ == "__main__":
    main()

"""One row at a time: score_samples, decision_function and predict, ours vs scikit-learn.

Usage::

    flock /tmp/isoforest-bench.lock python benchmarks/bench_one_row.py [--calls N] [--sk-calls M]

An IsolationForest (100 trees, random_state=0) is trained on 10,000 x 10 standard
normal rows; each method then scores one C-contiguous float64 row of shape (1, 10),
``--calls`` times back to back after a warm-up (scikit-learn ``--sk-calls`` times:
it takes milliseconds a call), and the median per call is reported. Different rows
are scored in turn (2,000 distinct rows), so no result is cached anywhere. The same
is measured for the other detectors' one-row paths (``LocalOutlierFactor`` with
``novelty=True`` and ``ZScoreDetector``), to see that they do not regress, and for
the learning stream's record in its learner (``isoforest stream --method rcf|hst``
at its defaults, after 2,000 records of a series: scaling, the forest's score and
learning, the likelihood and the range rule, for one record a batch, as a live
stream gives them; the median of ``--calls`` records, each learned once). Results
go to ``benchmarks/results/one_row.{json,md}``; ``--readme`` also writes the table
into docs/speed.md between the ``bench:one_row`` markers.
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

from isoforest import IsolationForest, LocalOutlierFactor, ZScoreDetector  # noqa: E402
from run import RESULTS, machine, update_readme, versions  # noqa: E402

METHODS = ("score_samples", "decision_function", "predict")


def per_call(fn, rows, n_calls):
    """Median seconds of ``fn(row)`` over ``n_calls`` calls, cycling through rows."""
    for row in rows[:20]:
        fn(row)
    times = np.empty(n_calls)
    n = len(rows)
    for i in range(n_calls):
        row = rows[i % n]
        t0 = time.perf_counter()
        fn(row)
        times[i] = time.perf_counter() - t0
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--sk-calls", type=int, default=200)
    parser.add_argument("--readme", action="store_true")
    args = parser.parse_args(argv)

    rng = np.random.RandomState(0)
    X = rng.standard_normal((10_000, 10))
    rows = [np.ascontiguousarray(r) for r in rng.standard_normal((2000, 1, 10))]
    ours = IsolationForest(n_estimators=100, random_state=0).fit(X)
    result = {"machine": machine(), "versions": versions(), "train_shape": [10_000, 10],
              "n_estimators": 100, "calls": args.calls, "times_s": {}}
    t = result["times_s"]
    try:
        from sklearn.ensemble import IsolationForest as SKIsolationForest

        theirs = SKIsolationForest(n_estimators=100, random_state=0).fit(X)
    except ImportError:
        theirs = None
    identical = True
    for m in METHODS:
        t[f"isoforest.{m}"] = per_call(getattr(ours, m), rows, args.calls)
        if theirs is not None:
            t[f"sklearn.{m}"] = per_call(getattr(theirs, m), rows, args.sk_calls)
            identical &= all(np.array_equal(getattr(ours, m)(r), getattr(theirs, m)(r))
                             for r in rows[:50])
    result["identical_to_sklearn"] = bool(identical) if theirs is not None else None

    # The other detectors' one-row paths (no change expected from this work).
    lof = LocalOutlierFactor(novelty=True).fit(X)
    det = ZScoreDetector().fit(X)
    t["isoforest.LocalOutlierFactor.score_samples"] = per_call(lof.score_samples, rows,
                                                               args.calls)
    t["isoforest.ZScoreDetector.score_samples"] = per_call(det.score_samples, rows,
                                                           args.calls)
    from isoforest.jobs._learner import StreamLearner

    n_rec = max(args.calls, 100)
    series = np.sin(np.arange(2000 + n_rec) / 30.0) + 0.1 * rng.standard_normal(2000 + n_rec)
    for method in ("rcf", "hst"):
        # the stream goes on record by record (each learned once, in order): the
        # first 2,000 in one batch, then n_rec timed one a call
        learner = StreamLearner(method, ["value"])
        learner.score_samples(series[:2000, None])
        times = np.empty(n_rec)
        for i in range(n_rec):
            record = series[2000 + i: 2001 + i, None]
            t0 = time.perf_counter()
            learner.score_samples(record)
            times[i] = time.perf_counter() - t0
        t[f"isoforest.stream_{method}.record"] = float(np.median(times))

    lines = [
        f"One row of 10 float64 features, IsolationForest of 100 trees trained on "
        f"10,000 x 10; median per call of {args.calls:,} calls (scikit-learn: "
        f"{args.sk_calls:,}). Machine: {result['machine']}.",
        "",
        "| method | isoforest | scikit-learn | speed-up |",
        "| --- | ---: | ---: | ---: |",
    ]
    for m in METHODS:
        o = t[f"isoforest.{m}"]
        s = t.get(f"sklearn.{m}")
        lines.append(f"| `{m}` | {o * 1e6:.2f} us | "
                     + (f"{s * 1e3:.2f} ms | {s / o:,.0f}x |" if s else "n/a | n/a |"))
    lines += [
        "",
        f"- Results identical to scikit-learn's: {result['identical_to_sklearn']}.",
        f"- Other one-row paths: `LocalOutlierFactor(novelty=True).score_samples` "
        f"{t['isoforest.LocalOutlierFactor.score_samples'] * 1e6:.2f} us, "
        f"`ZScoreDetector.score_samples` "
        f"{t['isoforest.ZScoreDetector.score_samples'] * 1e6:.2f} us.",
        f"- The learning stream's record in its learner, one a batch "
        f"(`stream --method rcf`, 40 trees of 256 points, shingles of 32): "
        f"{t['isoforest.stream_rcf.record'] * 1e6:.1f} us; "
        f"(`--method hst`, 25 trees of height 10): "
        f"{t['isoforest.stream_hst.record'] * 1e6:.1f} us.",
    ]
    table = "\n".join(lines)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "one_row.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(RESULTS, "one_row.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    if args.readme:
        update_readme(table, marker="one_row")
    return 0


if __name__ == "__main__":
    sys.exit(main())

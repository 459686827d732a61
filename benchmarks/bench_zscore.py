"""z-scores, side by side in one run: isoforest.zscore, scipy.stats.zscore, a copy.

Usage::

    python benchmarks/bench_zscore.py [--rows N] [--repeat R] [--no-readme]

1,000,000 x 10 float64 by default (shared/design/benchmarking.md), interleaved
repeats after a warm-up, medians reported. "copy" is ``X.copy()``, the memory
bandwidth floor for any function that returns a new array of the same size.
Also measures ``ZScoreDetector.partial_fit`` throughput in batches of 1,000 rows.
Writes ``benchmarks/results/zscore.{json,md}`` and the table (in README.md or docs/) between the
``bench:zscore`` markers.
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

from isoforest import ZScoreDetector, zscore  # noqa: E402
from run import RESULTS, interleaved, machine, update_readme, versions  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)
    X = np.random.RandomState(0).randn(args.rows, 10)
    tasks = {"isoforest": lambda: zscore(X), "copy": lambda: X.copy()}
    try:
        from scipy import stats

        tasks["scipy"] = lambda: stats.zscore(X)
    except ImportError:
        pass
    for fn in tasks.values():
        fn()
    times = interleaved(tasks, args.repeat)
    identical = None
    if "scipy" in tasks:
        identical = bool(np.array_equal(zscore(X), stats.zscore(X)))

    det = ZScoreDetector()
    det.partial_fit(X[:1000])
    best = np.inf
    for _ in range(3):
        det = ZScoreDetector()
        t0 = time.perf_counter()
        for i in range(0, args.rows, 1000):
            det.partial_fit(X[i : i + 1000])
        best = min(best, time.perf_counter() - t0)
    rows_per_s = args.rows / best
    batch = ZScoreDetector().fit(X)
    rel = float(max(np.max(np.abs(det.mean_ - batch.mean_) / np.abs(batch.mean_)),
                    np.max(np.abs(det.var_ - batch.var_) / batch.var_)))

    result = {"machine": machine(), "versions": versions(), "shape": [args.rows, 10],
              "repeat": args.repeat, "times_s": times, "identical_to_scipy": identical,
              "partial_fit_rows_per_s": rows_per_s, "partial_fit_max_rel_diff": rel}
    n = args.rows
    t = times
    lines = [
        f"z-scores of {n:,} x 10 float64 (axis 0), median of {args.repeat} interleaved "
        f"runs after a warm-up. Machine: {result['machine']}.",
        "",
        "| | isoforest.zscore | scipy.stats.zscore | X.copy() |",
        "| --- | ---: | ---: | ---: |",
        f"| time | {t['isoforest'] * 1e3:.1f} ms | "
        + (f"{t['scipy'] * 1e3:.1f} ms" if "scipy" in t else "n/a")
        + f" | {t['copy'] * 1e3:.1f} ms |",
        f"| ratio | 1.0 | {t['scipy'] / t['isoforest']:.1f}x slower | "
        f"{t['isoforest'] / t['copy']:.1f}x the copy's time |" if "scipy" in t else "",
        "",
        f"- Bit-identical to SciPy's result: {identical}.",
        f"- `ZScoreDetector.partial_fit` in batches of 1,000 rows: "
        f"{rows_per_s / 1e6:.1f} million rows/s; mean and variance equal the batch "
        f"statistics to {rel:.1e} relative.",
    ]
    table = "\n".join(line for line in lines if line is not None)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "zscore.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(RESULTS, "zscore.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    if not args.no_readme:
        update_readme(table, marker="zscore")
    return 0


if __name__ == "__main__":
    sys.exit(main())

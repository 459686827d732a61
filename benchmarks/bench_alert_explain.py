"""What an alert's top features cost a stream: TreeSHAP per flagged row, by call size.

Usage::

    python benchmarks/bench_alert_explain.py [--records N] [--repeat R]

The broker benchmark's data (standard normal rows of 10 columns, seed 0), an
``IsolationForest`` with ``contamination="auto"`` fitted on the first 20,000, and the
rows of the first ``N`` records it flags. ``isoforest.explain`` explains them in
calls of each size (one large call; ~580 rows, the alerts of a stream batch of
8,192 records; 100; 20), on two threads and on one; medians of ``R`` interleaved
runs after a warm-up, in microseconds per flagged row. A stream at the defaults
explains every alert, so this bounds its throughput: at 7% alerts, 1,000,000
records need ~70,000 explanations. Prints a Markdown table; writes nothing.
"""

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from isoforest import IsolationForest, explain  # noqa: E402
from run import interleaved, machine  # noqa: E402

SIZES = (None, 580, 100, 20)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    X = np.random.RandomState(0).randn(max(args.records, 20_000), 10)
    model = IsolationForest(random_state=0).fit(X[:20_000])
    F = X[: args.records][model.predict(X[: args.records]) == -1]

    def calls(size, n_jobs):
        step = size or F.shape[0]
        return lambda: [explain(model, F[lo:lo + step], n_jobs=n_jobs)
                        for lo in range(0, F.shape[0], step)]

    tasks = {(size, n_jobs): calls(size, n_jobs) for size in SIZES for n_jobs in (-1, 1)}
    for fn in tasks.values():
        fn()
    times = interleaved(tasks, args.repeat)
    per_row = {key: t / F.shape[0] * 1e6 for key, t in times.items()}
    lines = [f"TreeSHAP of the {F.shape[0]:,} rows flagged among {args.records:,} records "
             f"(10 columns, 100 trees, contamination auto), microseconds per row, median "
             f"of {args.repeat} interleaved runs. Machine: {machine()}.", "",
             "| rows a call | two threads | one thread |", "| ---: | ---: | ---: |"]
    for size in SIZES:
        label = f"all {F.shape[0]:,}" if size is None else f"{size:,}"
        lines.append(f"| {label} | {per_row[(size, -1)]:.0f} us | {per_row[(size, 1)]:.0f} us |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

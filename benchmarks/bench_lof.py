"""Local Outlier Factor speed, side by side in one process: isoforest vs scikit-learn.

Usage::

    python benchmarks/bench_lof.py            # standard shapes (100,000 x 5, 20,000 x 50)
    python benchmarks/bench_lof.py --quick    # 10x fewer rows, fewer repeats (smoke run)

Protocol (shared/design/benchmarking.md): the same float64 standard-normal data and
parameters on both sides (``n_neighbors=20``, ``n_jobs=-1``), a warm-up call first
so that compilation is never timed, then the two interleaved (A B A B ...) and the
median of the repeats reported. Ratios are the claim; absolute times drift between
runs on a shared 2-core machine.

Measured: ``fit_predict`` (outlier detection on the training rows) at each shape,
and the latency of novelty ``predict`` on one new row (a model fitted with
``novelty=True`` on the same data, rows scored one call at a time).

Writes ``benchmarks/results/lof.json`` and ``lof.md`` and prints the table.
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, ROOT)

from isoforest.neighbors._lof import LocalOutlierFactor  # noqa: E402
from run import interleaved  # noqa: E402

N_NEIGHBORS = 20
SHAPES = [(100_000, 5), (20_000, 50)]


def one_row_latency(models, rows, n_calls, rounds=5):
    """Median seconds per ``predict`` of a single row, competitors alternating
    between rounds of ``n_calls`` consecutive calls."""
    times = {name: [] for name in models}
    for r in range(rounds):
        for name, model in models.items():
            for i in range(r * n_calls, (r + 1) * n_calls):
                row = rows[i % len(rows)][None, :]
                t0 = time.perf_counter()
                model.predict(row)
                times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(v)) for name, v in times.items()}


def machine():
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if "model name" in line)
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def versions():
    import numba

    v = {"numpy": np.__version__, "numba": numba.__version__}
    try:
        import threadpoolctl

        v["threadpoolctl"] = threadpoolctl.__version__
    except ImportError:
        pass
    import sklearn

    v["sklearn"] = sklearn.__version__
    return v


def bench_shape(shape, repeat, n_calls):
    from sklearn.neighbors import LocalOutlierFactor as SkLOF

    makers = {
        "isoforest": lambda **kw: LocalOutlierFactor(n_neighbors=N_NEIGHBORS, n_jobs=-1,
                                                     **kw),
        "scikit-learn": lambda **kw: SkLOF(n_neighbors=N_NEIGHBORS, n_jobs=-1, **kw),
    }
    rng = np.random.RandomState(0)
    X = rng.randn(*shape)
    new_rows = rng.randn(max(n_calls, 1000), shape[1])

    # warm-up: every kernel compiled, every code path run once
    fitted = {}
    for name, make in makers.items():
        make().fit_predict(X[:2000])
        fitted[name] = make()
        fitted[name].fit_predict(X)
    labels_equal = bool(np.array_equal(fitted["isoforest"].fit_predict(X),
                                       fitted["scikit-learn"].fit_predict(X)))
    ours, theirs = (fitted[n].negative_outlier_factor_ for n in makers)
    max_rel = float(np.max(np.abs(ours - theirs) / np.abs(theirs)))
    novelty = {name: make(novelty=True).fit(X) for name, make in makers.items()}
    for model in novelty.values():
        model.predict(new_rows[:1])
    score_rel = float(np.max(np.abs(
        novelty["isoforest"].score_samples(new_rows[:200])
        - novelty["scikit-learn"].score_samples(new_rows[:200]))
        / np.abs(novelty["scikit-learn"].score_samples(new_rows[:200]))))
    print(f"{shape}: warm-up done", flush=True)

    fit_predict = interleaved(
        {name: (lambda mk=make: mk().fit_predict(X)) for name, make in makers.items()},
        repeat)
    print(f"{shape}: fit_predict {fit_predict}", flush=True)
    one_row = one_row_latency(novelty, new_rows, n_calls)
    print(f"{shape}: one-row predict {one_row}", flush=True)
    return {
        "shape": list(shape),
        "fit_predict_s": fit_predict,
        "one_row_predict_s": one_row,
        "algorithm": {"isoforest": fitted["isoforest"]._fit_method,
                      "scikit-learn": fitted["scikit-learn"]._fit_method},
        "fit_predict_labels_identical": labels_equal,
        "negative_outlier_factor_max_rel_diff": max_rel,
        "novelty_score_samples_max_rel_diff": score_rel,
    }


def fmt_time(s):
    if s >= 1.0:
        return f"{s:,.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:,.1f} ms"
    return f"{s * 1e6:,.1f} us"


def table(result):
    lines = [
        f"Local Outlier Factor, float64 standard normal, n_neighbors={N_NEIGHBORS}, "
        f"n_jobs=-1 on both sides, median of {result['repeat']} interleaved runs after "
        f"a warm-up. Machine: {result['machine']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in result["versions"].items()) + ".",
        "",
        "| operation | isoforest | scikit-learn | speed-up |",
        "| --- | ---: | ---: | ---: |",
    ]
    notes = []
    for case in result["cases"]:
        n, d = case["shape"]
        for key, label in (("fit_predict_s", "fit_predict"),
                           ("one_row_predict_s", "novelty predict, one row")):
            ours, theirs = case[key]["isoforest"], case[key]["scikit-learn"]
            lines.append(f"| {label}, {n:,} x {d} | {fmt_time(ours)} | "
                         f"{fmt_time(theirs)} | {theirs / ours:.1f}x |")
        notes.append(
            f"- {n:,} x {d}: neighbours by isoforest's {case['algorithm']['isoforest']}, "
            f"scikit-learn's {case['algorithm']['scikit-learn']}; fit_predict labels "
            f"identical: {case['fit_predict_labels_identical']}; largest relative "
            f"difference of negative_outlier_factor_ "
            f"{case['negative_outlier_factor_max_rel_diff']:.1e}, of novelty "
            f"score_samples {case['novelty_score_samples_max_rel_diff']:.1e}.")
    return "\n".join(lines + [""] + notes) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="10x fewer rows and 2 repeats (a smoke run)")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--no-write", action="store_true",
                        help="print only; leave benchmarks/results untouched")
    args = parser.parse_args(argv)
    repeat = args.repeat or (2 if args.quick else 5)
    shapes = [(n // 10, d) for n, d in SHAPES] if args.quick else SHAPES
    n_calls = 100 if args.quick else 200

    result = {"machine": machine(), "versions": versions(), "repeat": repeat,
              "n_neighbors": N_NEIGHBORS, "quick": bool(args.quick),
              "cases": [bench_shape(shape, repeat, n_calls) for shape in shapes]}
    text = table(result)
    print()
    print(text)
    if not args.no_write:
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, "lof.json"), "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        with open(os.path.join(RESULTS, "lof.md"), "w") as f:
            f.write(text)
        print(f"wrote {os.path.join(RESULTS, 'lof.json')} and lof.md")
        if not args.quick:
            from run import update_readme

            update_readme(text.rstrip("\n"), marker="lof")
    return 0


if __name__ == "__main__":
    sys.exit(main())

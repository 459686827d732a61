"""TreeSHAP explanations, side by side in one run: isoforest.explain and shap.

Usage::

    python benchmarks/bench_explain.py [--rows N] [--repeat R] [--no-readme]

10,000 x 10 float64 standard normal rows by default, 100 trees, max_samples 256,
``random_state=0``; the same rows are explained by both (path-dependent TreeSHAP of
the mean path length). isoforest runs with ``n_jobs=-1``; shap's TreeExplainer on
the scikit-learn twin (identical trees) runs its C code on one thread and has no
thread setting. Both are called once before timing (compilation, tables, shap's
tree conversion), then run interleaved; medians are reported. isoforest's per-forest
tables are cached on the model: "explain, cold" rebuilds them every call.

shap is given the rows as float32: the trees compare ``float32(x)`` (scikit-learn's
and isoforest's), while shap compares float64 rows in float64, which sends a row
whose value rounds onto a threshold the other way. The exactness line reports both.
Writes ``benchmarks/results/explain.{json,md}`` and the table (in README.md or docs/) between the
``bench:explain`` markers.
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

from isoforest import IsolationForest, explain  # noqa: E402
from run import RESULTS, interleaved, machine, update_readme, versions  # noqa: E402

N_TREES = 100
MAX_SAMPLES = 256


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)
    X = np.random.RandomState(0).randn(args.rows, args.features)
    X32 = X.astype(np.float32)
    ours = IsolationForest(n_estimators=N_TREES, max_samples=MAX_SAMPLES, random_state=0,
                           n_jobs=-1).fit(X)

    def cold():
        ours.__dict__.pop("_treeshap_cache", None)
        return explain(ours, X)

    tasks = {"isoforest": lambda: explain(ours, X), "isoforest_cold": cold}
    warm = {name: fn() for name, fn in tasks.items()}
    mine = warm["isoforest"].values
    exact = {}
    try:
        import shap
        from sklearn.ensemble import IsolationForest as SkIF

        sk = SkIF(n_estimators=N_TREES, max_samples=MAX_SAMPLES, random_state=0,
                  n_jobs=-1).fit(X)
        t0 = time.perf_counter()
        explainer = shap.TreeExplainer(sk)
        setup_s = time.perf_counter() - t0
        tasks["shap"] = lambda: explainer.shap_values(X32, check_additivity=False)
        theirs64 = explainer.shap_values(X, check_additivity=False)  # warm-up
        exact["max_abs_diff_float64_rows"] = float(np.abs(mine - theirs64).max())
        exact["rows_differing_float64"] = int(np.sum(np.abs(mine - theirs64).max(1) > 1e-9))
    except ImportError:
        shap = None
        setup_s = None
    times = interleaved(tasks, args.repeat)
    if shap is not None:
        theirs = explainer.shap_values(X32, check_additivity=False)
        exact["max_abs_diff"] = float(np.abs(mine - theirs).max())
        expected = float(np.ravel(explainer.expected_value)[0])
        exact["base_value_diff"] = abs(float(warm["isoforest"].base_values[0]) - expected)
    additivity = float(np.abs(mine.sum(1) + warm["isoforest"].base_values
                              - ours.path_lengths(X).mean(1)).max())

    vers = versions()
    if shap is not None:
        vers["shap"] = shap.__version__
    result = {"machine": machine(), "versions": vers,
              "shape": [args.rows, args.features], "n_estimators": N_TREES,
              "max_samples": MAX_SAMPLES, "repeat": args.repeat, "times_s": times,
              "shap_explainer_setup_s": setup_s, "exactness": exact,
              "additivity_max_abs": additivity}
    t = times
    n = args.rows
    lines = [
        f"Path-dependent TreeSHAP of {n:,} x {args.features} float64 rows, 100 trees, "
        f"max_samples 256, median of {args.repeat} interleaved runs after a warm-up. "
        f"Machine: {result['machine']}.",
        "",
        "| | time | vs shap | max abs diff from shap |",
        "| --- | ---: | ---: | ---: |",
    ]
    if "shap" in t:
        lines += [
            f"| isoforest `explain` (n_jobs=-1) | {t['isoforest']:.3f} s | "
            f"{t['shap'] / t['isoforest']:.1f}x faster | {exact['max_abs_diff']:.1e} |",
            f"| isoforest `explain`, tables rebuilt | {t['isoforest_cold']:.3f} s | "
            f"{t['shap'] / t['isoforest_cold']:.1f}x faster | same values |",
            f"| shap `TreeExplainer(sklearn).shap_values` | {t['shap']:.3f} s | 1.0 | 0 |",
            "",
            f"- shap's explainer setup (not timed above): {setup_s:.2f} s. shap runs on "
            "one thread; it has no thread setting.",
            f"- Base value: differs from shap's `expected_value` by "
            f"{exact['base_value_diff']:.1e}. Additivity, `values.sum(1) + base_values` "
            f"against `path_lengths(X).mean(1)`: {additivity:.1e}.",
            f"- Given the float64 rows instead, shap routes "
            f"{exact['rows_differing_float64']} of {n:,} rows differently from the model "
            f"(float64 comparisons; max abs diff {exact['max_abs_diff_float64_rows']:.1e}).",
        ]
    else:
        lines += [f"| isoforest `explain` (n_jobs=-1) | {t['isoforest']:.3f} s | n/a | n/a |",
                  f"| isoforest `explain`, tables rebuilt | {t['isoforest_cold']:.3f} s "
                  "| n/a | n/a |"]
    lines.append(f"- Versions: {', '.join(f'{k} {v}' for k, v in vers.items())}.")
    table = "\n".join(lines)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "explain.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(RESULTS, "explain.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    if not args.no_readme:
        update_readme(table, marker="explain")
    return 0


if __name__ == "__main__":
    sys.exit(main())

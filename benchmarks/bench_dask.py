"""Dask: scoring throughput on a two-process cluster, fit time, a lazy fit's memory.

Usage::

    flock /tmp/isoforest-bench.lock python benchmarks/bench_dask.py \
        [--rows N] [--partitions P] [--repeat R] [--lazy-rows M] [--quick] [--no-readme]

A ``distributed.LocalCluster`` of 2 worker processes x 1 thread holds ``N`` x 10
float64 rows (5,000,000 by default, in ``P`` = 20 partitions) in the workers' memory
(``persist``). Measured, median of ``R`` interleaved runs after a warm-up:

* scoring: ``score_samples`` of the dask array, the scores left on the workers
  (``persist`` + ``wait``), against isoforest in-process on the same rows with
  ``n_jobs=2`` (the same two cores) and against scikit-learn's IsolationForest mapped
  over the same chunks (``X.map_blocks(sk.score_samples, drop_axis=1)``);
* fit: ``fit`` of the dask array (row counts, the draws on the caller, the drawn rows
  fetched) against ``fit`` in-process;
* the caller's peak memory increase (``VmHWM`` after resetting it) while fitting a
  lazily generated ``M`` x 10 array (40,000,000 by default: 3.2 GB never made on the
  caller), in a fresh process connected to the same cluster;
* a scaling table: fit and score time against rows and partition counts.

Writes ``benchmarks/results/dask.{json,md}`` and the table (in README.md or docs/) between the
``bench:dask`` markers (when present).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from isoforest import IsolationForest  # noqa: E402
from run import RESULTS, interleaved, machine, update_readme, versions  # noqa: E402

N_TREES = 100
MAX_SAMPLES = 256

LAZY_SCRIPT = r"""
import os, sys, time
import numpy as np
import dask.array as da
from distributed import Client
from isoforest import IsolationForest

def rss(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024

address, rows, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = Client(address, timeout=60)
warm = da.random.RandomState(1).standard_normal((20_000, 10), chunks=(5_000, 10))
IsolationForest(n_estimators=10, random_state=0).fit(warm)   # imports, compilation
X = da.random.RandomState(0).standard_normal((rows, 10), chunks=(chunk, 10))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")          # reset VmHWM to the current RSS
base = rss("VmRSS")
t0 = time.perf_counter()
model = IsolationForest(n_estimators=%d, max_samples=%d, random_state=0).fit(X)
t = time.perf_counter() - t0
print(rss("VmHWM") - base, t, X.nbytes)
client.close()
""" % (N_TREES, MAX_SAMPLES)


def wait_persist(coll):
    from distributed import wait

    p = coll.persist()
    wait(p)
    return p


def lazy_fit_memory(address, rows, chunk):
    out = subprocess.run([sys.executable, "-c", LAZY_SCRIPT, address, str(rows), str(chunk)],
                         capture_output=True, text=True, check=True, cwd=ROOT,
                         timeout=1800)
    extra, seconds, nbytes = out.stdout.split()[-3:]
    return int(extra), float(seconds), int(nbytes)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--partitions", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--lazy-rows", type=int, default=None)
    parser.add_argument("--quick", action="store_true",
                        help="200,000 rows, 2,000,000 lazy rows, 2 repeats, small scaling")
    parser.add_argument("--no-sklearn", action="store_true")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)
    rows = args.rows or (200_000 if args.quick else 5_000_000)
    repeat = args.repeat or (2 if args.quick else 3)
    lazy_rows = args.lazy_rows or (2_000_000 if args.quick else 40_000_000)
    scaling_rows = ([50_000, 200_000] if args.quick
                    else [500_000, 2_000_000, 5_000_000])
    scaling_parts = [2, 8, 32] if args.quick else [4, 20, 80]

    import dask.array as da
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    client = Client(cluster)
    try:
        chunk = -(-rows // args.partitions)
        Xd = da.random.RandomState(0).standard_normal((rows, 10), chunks=(chunk, 10))
        Xd = wait_persist(Xd)
        X = Xd.compute()
        local = IsolationForest(n_estimators=N_TREES, max_samples=MAX_SAMPLES,
                                random_state=0, n_jobs=2).fit(X)
        dmodel = IsolationForest(n_estimators=N_TREES, max_samples=MAX_SAMPLES,
                                 random_state=0, n_jobs=2).fit(Xd)
        same_forest = bool(np.array_equal(local.forest_.threshold, dmodel.forest_.threshold)
                           and np.array_equal(local.forest_.feature, dmodel.forest_.feature))
        scores_d = dmodel.score_samples(Xd).compute()
        same_scores = bool(np.array_equal(scores_d, local.score_samples(X)))

        tasks = {
            "isoforest_dask": lambda: wait_persist(dmodel.score_samples(Xd)),
            "isoforest_in_process": lambda: local.score_samples(X),
        }
        sk_identical = None
        if not args.no_sklearn:
            try:
                from sklearn.ensemble import IsolationForest as SkIF
            except ImportError:
                pass
            else:
                sk = SkIF(n_estimators=N_TREES, max_samples=MAX_SAMPLES,
                          random_state=0).fit(X)
                sk_identical = bool(np.array_equal(
                    Xd.map_blocks(sk.score_samples, drop_axis=1, dtype=float).compute(),
                    scores_d))
                tasks["sklearn_dask_map_blocks"] = lambda: wait_persist(
                    Xd.map_blocks(sk.score_samples, drop_axis=1, dtype=float))
        for fn in tasks.values():
            fn()
        times = interleaved(tasks, repeat)
        fit_times = interleaved({
            "isoforest_dask": lambda: IsolationForest(
                n_estimators=N_TREES, max_samples=MAX_SAMPLES, random_state=0,
                n_jobs=2).fit(Xd),
            "isoforest_in_process": lambda: IsolationForest(
                n_estimators=N_TREES, max_samples=MAX_SAMPLES, random_state=0,
                n_jobs=2).fit(X),
        }, repeat)
        del X

        scaling = []
        for n in scaling_rows:
            for p in scaling_parts:
                S = wait_persist(da.random.RandomState(0).standard_normal(
                    (n, 10), chunks=(-(-n // p), 10)))
                m = IsolationForest(n_estimators=N_TREES, max_samples=MAX_SAMPLES,
                                    random_state=0).fit(S)
                wait_persist(m.score_samples(S))
                t = interleaved({
                    "fit": lambda: IsolationForest(n_estimators=N_TREES,
                                                   max_samples=MAX_SAMPLES,
                                                   random_state=0).fit(S),
                    "score": lambda: wait_persist(m.score_samples(S)),
                }, max(1, repeat - 1))
                scaling.append({"rows": n, "partitions": p, "fit_s": t["fit"],
                                "score_s": t["score"]})
                del S
        extra, lazy_s, lazy_bytes = lazy_fit_memory(
            cluster.scheduler_address, lazy_rows, 1_000_000 if lazy_rows >= 10_000_000
            else max(1, lazy_rows // 20))
    finally:
        client.close()
        cluster.close()

    rate = {k: rows / v for k, v in times.items()}
    result = {
        "machine": machine(), "versions": versions(), "shape": [rows, 10],
        "partitions": args.partitions, "cluster": "LocalCluster, 2 processes x 1 thread",
        "n_estimators": N_TREES, "max_samples": MAX_SAMPLES, "repeat": repeat,
        "score_s": times, "score_rows_per_s": rate, "fit_s": fit_times,
        "same_forest_as_in_process": same_forest, "same_scores_as_in_process": same_scores,
        "sklearn_map_blocks_identical": sk_identical,
        "lazy_fit": {"rows": lazy_rows, "array_bytes": lazy_bytes,
                     "caller_peak_increase_bytes": extra, "fit_s": lazy_s},
        "scaling": scaling,
    }
    pct = 100.0 * rate["isoforest_dask"] / rate["isoforest_in_process"]
    lines = [
        f"Dask: {rows:,} x 10 float64 persisted on a LocalCluster of 2 worker processes x "
        f"1 thread, {args.partitions} partitions; {N_TREES} trees of {MAX_SAMPLES} rows; "
        f"median of {repeat} interleaved runs after a warm-up. Machine: {result['machine']}.",
        "",
        "| score_samples | time | rows/s | relative |",
        "| --- | ---: | ---: | ---: |",
        f"| isoforest, dask (scores kept on the workers) | {times['isoforest_dask']:.2f} s | "
        f"{rate['isoforest_dask'] / 1e6:.2f} M | {pct:.0f}% of in-process |",
        f"| isoforest in-process, n_jobs=2 | {times['isoforest_in_process']:.2f} s | "
        f"{rate['isoforest_in_process'] / 1e6:.2f} M | 100% |",
    ]
    if "sklearn_dask_map_blocks" in times:
        lines.append(
            f"| scikit-learn, `X.map_blocks(sk.score_samples)` | "
            f"{times['sklearn_dask_map_blocks']:.2f} s | "
            f"{rate['sklearn_dask_map_blocks'] / 1e6:.2f} M | isoforest dask "
            f"{times['sklearn_dask_map_blocks'] / times['isoforest_dask']:.1f}x faster |")
    lines += [
        "",
        f"- fit: {fit_times['isoforest_dask']:.2f} s from the dask array, "
        f"{fit_times['isoforest_in_process']:.2f} s in-process; the same forest: "
        f"{same_forest}; the same scores: {same_scores}"
        + ("" if sk_identical is None else f"; scikit-learn's scores equal: {sk_identical}")
        + ".",
        f"- fitting a lazily generated {lazy_rows:,} x 10 array "
        f"({lazy_bytes / 1e9:.1f} GB, never made on the caller) took {lazy_s:.1f} s and "
        f"raised the caller's peak memory by {extra / 2**20:.0f} MiB.",
        "",
        "| rows | partitions | fit | score (on the workers) |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for s in scaling:
        lines.append(f"| {s['rows']:,} | {s['partitions']} | {s['fit_s']:.2f} s | "
                     f"{s['score_s']:.2f} s |")
    table = "\n".join(lines)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "dask.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(RESULTS, "dask.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    if not args.no_readme:
        update_readme(table, marker="dask")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Local Outlier Factor speed, side by side in one process: isoforest vs scikit-learn,
scikit-learn-intelex and faiss (each when installed).

Usage::

    python benchmarks/bench_lof.py            # standard shapes (100,000 x 5, 20,000 x 50)
    python benchmarks/bench_lof.py --quick    # 10x fewer rows, fewer repeats (smoke run)

Protocol (shared/design/benchmarking.md): the same float64 standard-normal data and
parameters on both sides (``n_neighbors=20``, ``n_jobs=-1``), a warm-up call first
so that compilation is never timed, then the two interleaved (A B A B ...) and the
median of the repeats reported. Ratios are the claim; absolute times drift between
runs on a shared 2-core machine. Each shape runs in a fresh process
(``shape_in_own_process``), faiss imported only after the others' warm-up: one
competitor's OpenMP/BLAS state must not slow another's.

Measured: ``fit_predict`` (outlier detection on the training rows) at each shape,
and the latency of novelty ``predict`` on one new row (a model fitted with
``novelty=True`` on the same data, rows scored one call at a time). faiss has no
LOF: its ``IndexFlatL2`` (float32) finds the neighbours and NumPy does
scikit-learn's arithmetic (``FaissLOF``). Beside the times, each competitor's
exactness: the fraction of training rows whose neighbour set differs from the
exact one (isoforest's, checked against the naive twin in the tests), the largest
relative difference of its LOF scores from scikit-learn's, and how many
``fit_predict`` labels differ.

Writes ``benchmarks/results/lof.json`` and ``lof.md`` and prints the table.
"""

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
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
    # from the installed metadata: importing faiss before scikit-learn has run
    # halves scikit-learn's brute force (see makers)
    for name, dist in (("sklearnex", "scikit-learn-intelex"), ("faiss", "faiss-cpu")):
        try:
            v[name] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return v


def _lof_from_neighbours(dist, ind):
    """scikit-learn's LOF arithmetic on given training neighbours: (lrd, scores)."""
    k_distance = dist[:, -1]
    reach = np.maximum(dist, k_distance[ind])
    lrd = 1.0 / (np.mean(reach, axis=1) + 1e-10)
    return lrd, -np.mean(lrd[ind] / lrd[:, np.newaxis], axis=1)


class FaissLOF:
    """LOF with faiss's exact-search index (``IndexFlatL2``, float32 only) for the
    neighbours and scikit-learn's arithmetic (NumPy) for the scores: what a user
    pairing the two would write. Not exact: float32 distances."""

    def __init__(self, n_neighbors=20, novelty=False, **_):
        self.n_neighbors = n_neighbors
        self.novelty = novelty

    def fit(self, X):
        import faiss

        k = self.n_neighbors
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        self.index_ = faiss.IndexFlatL2(X32.shape[1])
        self.index_.add(X32)
        sq, ind = self.index_.search(X32, k + 1)
        n = X32.shape[0]
        # scikit-learn's rule: drop the row itself, or the first neighbour
        is_self = ind == np.arange(n)[:, None]
        drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), 0)
        keep = np.ones_like(is_self)
        keep[np.arange(n), drop] = False
        ind = ind[keep].reshape(n, k)
        dist = np.sqrt(np.maximum(sq[keep].reshape(n, k), 0)).astype(np.float64)
        self.neighbors_ = ind
        self.lrd_, self.negative_outlier_factor_ = _lof_from_neighbours(dist, ind)
        self.k_distance_ = dist[:, -1]
        return self

    def fit_predict(self, X):
        self.fit(X)
        return np.where(self.negative_outlier_factor_ < -1.5, -1, 1)

    def score_samples(self, X):
        sq, ind = self.index_.search(np.ascontiguousarray(X, dtype=np.float32),
                                     self.n_neighbors)
        dist = np.sqrt(np.maximum(sq, 0)).astype(np.float64)
        reach = np.maximum(dist, self.k_distance_[ind])
        lrd = 1.0 / (np.mean(reach, axis=1) + 1e-10)
        return -np.mean(self.lrd_[ind] / lrd[:, np.newaxis], axis=1)

    def predict(self, X):
        return np.where(self.score_samples(X) < -1.5, -1, 1)


def makers():
    """name -> constructor of each competitor installed (isoforest and
    scikit-learn always; scikit-learn-intelex and faiss when importable)."""
    from sklearn.neighbors import LocalOutlierFactor as SkLOF

    out = {
        "isoforest": lambda **kw: LocalOutlierFactor(n_neighbors=N_NEIGHBORS, n_jobs=-1,
                                                     **kw),
        "scikit-learn": lambda **kw: SkLOF(n_neighbors=N_NEIGHBORS, n_jobs=-1, **kw),
    }
    try:
        from sklearnex.neighbors import LocalOutlierFactor as XLOF

        out["sklearnex"] = lambda **kw: XLOF(n_neighbors=N_NEIGHBORS, n_jobs=-1, **kw)
    except ImportError:
        pass
    # faiss is imported by its first fit, after scikit-learn's warm-up: imported
    # first, its OpenMP OpenBLAS left scikit-learn's brute force on 20,000 x 50
    # at 1.5 s instead of 0.75 s here (scikit-learn's BLAS as with one thread),
    # which inflated every "vs scikit-learn" ratio of that shape
    if importlib.util.find_spec("faiss") is not None:
        out["faiss"] = lambda **kw: FaissLOF(n_neighbors=N_NEIGHBORS, **kw)
    return out


def neighbour_sets(model, name):
    if name == "faiss":
        return model.neighbors_
    return model.kneighbors(n_neighbors=N_NEIGHBORS, return_distance=False)


def bench_shape(shape, repeat, n_calls):
    competitors = makers()
    rng = np.random.RandomState(0)
    X = rng.randn(*shape)
    new_rows = rng.randn(max(n_calls, 1000), shape[1])

    # warm-up: every kernel compiled, every code path run once
    fitted = {}
    for name, make in competitors.items():
        make().fit_predict(X[:2000])
        fitted[name] = make()
        fitted[name].fit_predict(X)
    ours = fitted["isoforest"]
    exact = np.sort(neighbour_sets(ours, "isoforest"), axis=1)
    theirs = fitted["scikit-learn"].negative_outlier_factor_
    labels = {name: np.where(m.negative_outlier_factor_ < -1.5, -1, 1)
              for name, m in fitted.items()}
    exactness = {}
    for name, model in fitted.items():
        got = np.sort(neighbour_sets(model, name), axis=1)
        exactness[name] = {
            "rows_with_other_neighbours": float(np.mean(np.any(got != exact, axis=1))),
            "lof_max_rel_diff_vs_sklearn": float(np.max(
                np.abs(model.negative_outlier_factor_ - theirs) / np.abs(theirs))),
            "labels_differ_from_sklearn": int(np.sum(labels[name]
                                                     != labels["scikit-learn"])),
        }
    novelty = {name: make(novelty=True).fit(X) for name, make in competitors.items()}
    for model in novelty.values():
        model.predict(new_rows[:1])
    reference = novelty["scikit-learn"].score_samples(new_rows[:200])
    for name, model in novelty.items():
        exactness[name]["novelty_score_max_rel_diff_vs_sklearn"] = float(np.max(
            np.abs(model.score_samples(new_rows[:200]) - reference) / np.abs(reference)))
    print(f"{shape}: warm-up done; exactness {exactness}", flush=True)

    fit_predict = interleaved(
        {name: (lambda mk=make: mk().fit_predict(X)) for name, make in competitors.items()},
        repeat)
    print(f"{shape}: fit_predict {fit_predict}", flush=True)
    one_row = one_row_latency(novelty, new_rows, n_calls)
    print(f"{shape}: one-row predict {one_row}", flush=True)
    return {
        "shape": list(shape),
        "fit_predict_s": fit_predict,
        "one_row_predict_s": one_row,
        "algorithm": {"isoforest": ours._fit_method,
                      "scikit-learn": fitted["scikit-learn"]._fit_method},
        "exactness": exactness,
    }


def shape_in_own_process(shape, repeat, n_calls):
    """``bench_shape`` in a fresh Python process.

    The competitors share OpenMP and BLAS runtimes: after the 100,000 x 5 case
    had run faiss beside the others, scikit-learn's brute force on 20,000 x 50
    took 1.5 s instead of 0.72-0.80 s (each piece alone did not do it), which
    doubled that shape's "vs scikit-learn" ratio. A process per shape keeps one
    case's leftovers out of the next; within it, the competitors interleave.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "case.json")
        subprocess.run([sys.executable, os.path.abspath(__file__), "--shape",
                        f"{shape[0]},{shape[1]}", "--repeat", str(repeat), "--calls",
                        str(n_calls), "--case-json", out], check=True)
        with open(out) as f:
            return json.load(f)


def fmt_time(s):
    if s >= 1.0:
        return f"{s:,.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:,.1f} ms"
    return f"{s * 1e6:,.1f} us"


def table(result):
    names = list(result["cases"][0]["fit_predict_s"])
    peers = [n for n in names if n != "isoforest"]
    lines = [
        f"Local Outlier Factor, float64 standard normal, n_neighbors={N_NEIGHBORS}, "
        f"n_jobs=-1 everywhere (faiss: its OpenMP threads), median of "
        f"{result['repeat']} interleaved runs after a warm-up. Machine: "
        f"{result['machine']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in result["versions"].items()) + ".",
        "",
        "| operation | " + " | ".join(names) + " | "
        + " | ".join(f"vs {n}" for n in peers) + " |",
        "| --- | " + " | ".join("---:" for _ in names + peers) + " |",
    ]
    notes = []
    for case in result["cases"]:
        n, d = case["shape"]
        for key, label in (("fit_predict_s", "fit_predict"),
                           ("one_row_predict_s", "novelty predict, one row")):
            t = case[key]
            lines.append(f"| {label}, {n:,} x {d} | "
                         + " | ".join(fmt_time(t[m]) for m in names) + " | "
                         + " | ".join(f"{t[m] / t['isoforest']:.1f}x" for m in peers)
                         + " |")
        ex = case["exactness"]
        notes.append(
            f"- {n:,} x {d} (isoforest's {case['algorithm']['isoforest']}, "
            f"scikit-learn's {case['algorithm']['scikit-learn']}): "
            + "; ".join(
                f"{m}: {100 * ex[m]['rows_with_other_neighbours']:.2f}% of rows with a "
                f"neighbour set other than the exact one, LOF max rel. diff. vs "
                f"scikit-learn {ex[m]['lof_max_rel_diff_vs_sklearn']:.1e} (novelty "
                f"{ex[m]['novelty_score_max_rel_diff_vs_sklearn']:.1e}), "
                f"{ex[m]['labels_differ_from_sklearn']} labels differ"
                for m in names) + ".")
    return "\n".join(lines + ["", "'vs X': X's time over isoforest's."] + notes) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="10x fewer rows and 2 repeats (a smoke run)")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--no-write", action="store_true",
                        help="print only; leave benchmarks/results untouched")
    parser.add_argument("--no-readme", action="store_true",
                        help="write benchmarks/results but leave README.md and docs/ untouched")
    # internal: one shape in this process, its case written as JSON
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--case-json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repeat = args.repeat or (2 if args.quick else 5)
    shapes = [(n // 10, d) for n, d in SHAPES] if args.quick else SHAPES
    n_calls = 100 if args.quick else 200
    if args.shape:
        n, d = (int(v) for v in args.shape.split(","))
        case = bench_shape((n, d), repeat, args.calls or n_calls)
        with open(args.case_json, "w") as f:
            json.dump(case, f)
        return 0

    result = {"machine": machine(), "versions": versions(), "repeat": repeat,
              "n_neighbors": N_NEIGHBORS, "quick": bool(args.quick),
              "cases": [shape_in_own_process(shape, repeat, n_calls)
                        for shape in shapes]}
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
        if not args.quick and not args.no_readme:
            from run import update_readme

            update_readme(text.rstrip("\n"), marker="lof")
    return 0


if __name__ == "__main__":
    sys.exit(main())

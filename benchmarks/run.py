"""Isolation Forest speed, side by side in one run: isoforest, scikit-learn, isotree.

Usage::

    python benchmarks/run.py               # standard shape (1,000,000 x 10) + scaling
    python benchmarks/run.py --quick       # 100,000 x 10, fewer repeats (smoke run)
    python benchmarks/run.py --no-readme   # do not touch README.md

Protocol (shared/design/benchmarking.md): same data and parameters for every
competitor (100 trees, max_samples 256, all threads: ``n_jobs=-1`` / ``nthreads=-1``),
a warm-up call first so compilation is never timed, then competitors interleaved
(A B C A B C ...) and the median of the repeats reported. Ratios are the claim;
absolute times drift between runs on a shared 2-core machine.

Writes ``benchmarks/results/iforest.json``, ``iforest.md``, ``iforest_scaling.png`` and
the table between the ``bench:iforest`` markers in README.md.
"""

import argparse
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

from isoforest import IsolationForest  # noqa: E402

N_TREES = 100
MAX_SAMPLES = 256


def competitors():
    """name -> (make fitted-model factory, score function)."""
    out = {
        "isoforest": (
            lambda: IsolationForest(n_estimators=N_TREES, max_samples=MAX_SAMPLES,
                                    random_state=0, n_jobs=-1),
            lambda m, X: m.score_samples(X),
        )
    }
    try:
        from sklearn.ensemble import IsolationForest as SkIF

        out["scikit-learn"] = (
            lambda: SkIF(n_estimators=N_TREES, max_samples=MAX_SAMPLES, random_state=0,
                         n_jobs=-1),
            lambda m, X: m.score_samples(X),
        )
    except ImportError:
        pass
    try:
        from isotree import IsolationForest as IsoTree

        out["isotree"] = (
            lambda: IsoTree(ndim=1, ntrees=N_TREES, sample_size=MAX_SAMPLES, nthreads=-1,
                            random_seed=0),
            lambda m, X: m.predict(X),
        )
    except ImportError:
        pass
    return out


def interleaved(tasks, repeat):
    """Run each callable ``repeat`` times, interleaved; return medians in seconds."""
    times = {name: [] for name in tasks}
    for _ in range(repeat):
        for name, fn in tasks.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(v)) for name, v in times.items()}


def one_row_latency(tasks, X, n_calls, rounds=5):
    """Median seconds per call of scoring a single row.

    A stream is scored by one model, call after call, so each competitor scores
    ``n_calls`` rows back to back (its model warm in cache); competitors alternate
    between rounds.
    """
    times = {name: [] for name in tasks}
    for r in range(rounds):
        for name, fn in tasks.items():
            for i in range(r * n_calls, (r + 1) * n_calls):
                row = X[i : i + 1]
                t0 = time.perf_counter()
                fn(row)
                times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(v)) for name, v in times.items()}


PEAK_SCRIPT = r"""
import sys, numpy as np
from isoforest import IsolationForest


def rss(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024


n = int(sys.argv[1])
X = np.random.RandomState(0).randn(n, 10)
m = IsolationForest(random_state=0, n_jobs=-1).fit(X)
m.score_samples(X[:1000])
# Reset the peak-RSS mark to the current RSS (Linux), then score.
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
base = rss("VmRSS:")
s = m.score_samples(X)
print(rss("VmHWM:") - base, X.nbytes)
"""

COLD_SCRIPT = r"""
import time
t0 = time.perf_counter()
import numpy as np
from isoforest import IsolationForest
X = np.random.RandomState(0).randn(1000, 10)
IsolationForest(random_state=0).fit(X).score_samples(X)
print(time.perf_counter() - t0)
"""


def scoring_peak_memory(n_rows):
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(n_rows)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    extra, nbytes = map(int, out.stdout.split())
    return extra, nbytes


def cold_start():
    """Seconds for import + first fit and score in a fresh process, cache empty/warm."""
    res = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold_cache", "warm_cache"):
            out = subprocess.run([sys.executable, "-c", COLD_SCRIPT], capture_output=True,
                                 text=True, check=True, env=env, cwd=ROOT)
            res[label] = float(out.stdout.strip().splitlines()[-1])
    return res


def machine():
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def versions():
    import numba

    v = {"numpy": np.__version__, "numba": numba.__version__}
    for mod in ("sklearn", "isotree"):
        try:
            v[mod] = __import__(mod).__version__
        except Exception:
            pass
    return v


def run(n_rows, repeat, scaling_rows):
    comps = competitors()
    rng = np.random.RandomState(0)
    X = rng.randn(n_rows, 10)
    result = {"machine": machine(), "versions": versions(), "shape": [n_rows, 10],
              "n_estimators": N_TREES, "max_samples": MAX_SAMPLES, "repeat": repeat}

    # warm-up: compile every kernel, fit every competitor once
    models = {}
    for name, (make, score) in comps.items():
        make().fit(X[:2000])
        models[name] = make().fit(X)
        score(models[name], X[:2000])
        score(models[name], X[:1])
    print("warm-up done", flush=True)

    result["fit_s"] = interleaved(
        {name: (lambda mk=make: mk().fit(X)) for name, (make, _) in comps.items()}, repeat)
    print("fit", result["fit_s"], flush=True)
    result["score_samples_s"] = interleaved(
        {name: (lambda m=models[name], sc=score: sc(m, X))
         for name, (_, score) in comps.items()}, repeat)
    print("score_samples", result["score_samples_s"], flush=True)
    result["one_row_s"] = one_row_latency(
        {name: (lambda row, m=models[name], sc=score: sc(m, row))
         for name, (_, score) in comps.items()}, X, 200)
    print("one row", result["one_row_s"], flush=True)
    if "scikit-learn" in comps:
        sk = models["scikit-learn"]
        result["identical_to_sklearn"] = bool(
            np.array_equal(models["isoforest"].score_samples(X), sk.score_samples(X)))
    extra, nbytes = scoring_peak_memory(n_rows)
    result["scoring_extra_memory_bytes"] = extra
    result["input_bytes"] = nbytes
    result["cold_start_s"] = cold_start()
    print("memory", extra / nbytes, "cold", result["cold_start_s"], flush=True)

    scaling = {name: {"fit": [], "score": []} for name in comps}
    for n in scaling_rows:
        Xn = X[:n]
        fits = interleaved({name: (lambda mk=make: mk().fit(Xn))
                            for name, (make, _) in comps.items()}, 3)
        fitted = {name: make().fit(Xn) for name, (make, _) in comps.items()}
        scores = interleaved({name: (lambda m=fitted[name], sc=score: sc(m, Xn))
                              for name, (_, score) in comps.items()}, 3)
        for name in comps:
            scaling[name]["fit"].append(fits[name])
            scaling[name]["score"].append(scores[name])
        print("scaling", n, flush=True)
    result["scaling"] = {"rows": list(scaling_rows), "times": scaling}
    return result


def ratio(result, key, other):
    t = result[key]
    return t[other] / t["isoforest"] if other in t else float("nan")


def markdown(result):
    n, f = result["shape"]
    lines = [
        f"Isolation Forest, {n:,} x {f} float64 standard normal, {result['n_estimators']} "
        f"trees, max_samples {result['max_samples']}, all threads on every side, median "
        f"of {result['repeat']} interleaved runs after a warm-up. Machine: "
        f"{result['machine']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in result["versions"].items()) + ".",
        "",
        "| operation | isoforest | scikit-learn | isotree | vs scikit-learn | vs isotree |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]

    def fmt(t):
        return "n/a" if t is None else (f"{t * 1e3:,.1f} ms" if t >= 1e-3 else f"{t * 1e6:,.1f} us")

    for label, key in (("fit", "fit_s"), ("score_samples", "score_samples_s"),
                       ("score one row", "one_row_s")):
        t = result[key]
        lines.append(
            f"| {label} | {fmt(t.get('isoforest'))} | {fmt(t.get('scikit-learn'))} | "
            f"{fmt(t.get('isotree'))} | {ratio(result, key, 'scikit-learn'):.1f}x | "
            f"{ratio(result, key, 'isotree'):.1f}x |")
    extra = result["scoring_extra_memory_bytes"] / result["input_bytes"]
    cold = result["cold_start_s"]
    lines += [
        "",
        f"- Scores identical to scikit-learn's: {result.get('identical_to_sklearn', 'n/a')}.",
        f"- Peak extra memory while scoring (fresh process; Linux peak RSS reset just "
        f"before `score_samples`, output array included): "
        f"{result['scoring_extra_memory_bytes'] / 2**20:.1f} MiB = {extra:.0%} of the "
        f"input's {result['input_bytes'] / 2**20:.0f} MiB.",
        f"- Cold start (import + first fit and score of 1,000 x 10 in a fresh process): "
        f"{cold['warm_cache']:.2f} s with Numba's on-disk cache warm, "
        f"{cold['cold_cache']:.2f} s with it empty.",
    ]
    return "\n".join(lines)


def plot(result, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = result["scaling"]["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, op in zip(axes, ("fit", "score")):
        for name, t in result["scaling"]["times"].items():
            ax.loglog(rows, t[op], marker="o", label=name)
        ax.set_xlabel("rows (10 features)")
        ax.set_ylabel("seconds")
        ax.set_title(f"Isolation Forest {op}, 100 trees, all threads")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(result["machine"], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def update_readme(table, marker="iforest"):
    """Put ``table`` between the ``bench:MARKER`` markers of README.md or of the
    docs page that holds them."""
    import glob

    start, end = f"<!-- bench:{marker}:start -->", f"<!-- bench:{marker}:end -->"
    pages = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs",
                                                                              "*.md")))
    for path in pages:
        with open(path) as f:
            text = f.read()
        if start in text and end in text:
            head, rest = text.split(start, 1)
            _, tail = rest.split(end, 1)
            with open(path, "w") as f:
                f.write(head + start + "\n" + table + "\n" + end + tail)
            return
    print(f"neither README.md nor docs/*.md has the {start} ... {end} markers; "
          "not updated")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows, fewer repeats")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)
    n_rows = args.rows or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat or (3 if args.quick else 5)
    scaling_rows = [r for r in (1_000, 10_000, 100_000, 1_000_000) if r <= n_rows]
    result = run(n_rows, repeat, scaling_rows)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "iforest.json"), "w") as f:
        json.dump(result, f, indent=2)
    table = markdown(result)
    with open(os.path.join(RESULTS, "iforest.md"), "w") as f:
        f.write(table + "\n")
    plot(result, os.path.join(RESULTS, "iforest_scaling.png"))
    print(table)
    if not args.no_readme:
        update_readme(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Files and streams, side by side in one run: `isoforest detect` vs the pandas
scripts a user would write; `score` memory at 1M vs 10M rows; `stream` through a pipe.

Usage::

    python benchmarks/bench_io.py [--rows N] [--big-factor K] [--no-big] [--keep DIR]

Generates (in a temporary directory, removed at the end) a CSV of ``--rows`` rows
(default 1,000,000) x 10 numbers (six decimals) plus a text column, about 100 MB,
and one ``--big-factor`` times longer (default 10: 10,000,000 rows, about 1 GB) for
the memory ratio. Every program runs as its own subprocess; its wall time and peak
RSS come from ``os.wait4`` (the child's own ``ru_maxrss``).

* ``detect``: ``isoforest detect`` vs ``pd.read_csv`` -> ``IsolationForest(...).fit(X)
  .score_samples`` -> ``df.assign(...).to_csv`` with isoforest's and with
  scikit-learn's IsolationForest (same seed: equal trees); isoforest's scores are
  checked equal to the pandas + isoforest script's.
* ``score``: peak RSS for the two file sizes, output to ``/dev/null``.
* ``stream``: ``cat`` of a 1,000,000-line record file into ``isoforest stream``
  (records/s over the wall time, and over the wall time less a one-record run's),
  and the one-record latency: one line written into the pipe, time until its answer
  line is read, 300 times (median, p90).

The whole run holds ``/tmp/isoforest-bench.lock`` (``flock``), as every timing run
on the shared machine must. Writes ``benchmarks/results/io.{json,md}``.
"""

import argparse
import fcntl
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from run import RESULTS, machine, versions  # noqa: E402

PY = sys.executable
ENV = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))

PANDAS_SCRIPT = """
import sys
import pandas as pd
from {module} import IsolationForest
df = pd.read_csv(sys.argv[1])
X = df.select_dtypes("number").to_numpy()
model = IsolationForest(random_state=0, n_jobs=-1).fit(X)
s = model.score_samples(X)
df.assign(anomaly_score=-s, is_anomaly=(s - model.offset_ < 0).astype(int)).to_csv(
    sys.argv[2], index=False)
"""


def make_csv(path, n, seed=0, block=200_000):
    """n rows x 10 numbers (six decimals) + a text column; returns the record lines'
    path too (the numbers only, no header) for the stream."""
    rng = np.random.RandomState(seed)
    words = np.array(["alpha", "beta gamma", "delta", "epsilon, zeta", "eta"], dtype=object)
    quoted = np.array(['"' + w + '"' if "," in w else w for w in words], dtype=object)
    rec_path = path + ".records"
    with open(path, "w") as f, open(rec_path, "w") as g:
        f.write(",".join(f"x{j}" for j in range(10)) + ",label\n")
        for lo in range(0, n, block):
            m = min(block, n - lo)
            X = rng.randn(m, 10)
            X[: max(1, m // 1000)] *= 6.0  # a few gross outliers
            body = np.char.mod("%.6f", X)
            lines = [",".join(r) for r in body.tolist()]
            labels = quoted[rng.randint(0, len(words), m)]
            f.write("".join(f"{a},{b}\n" for a, b in zip(lines, labels)))
            g.write("\n".join(lines) + "\n")
    return rec_path


def repeat_file(src, dst, k):
    """dst = src's header + k copies of its body."""
    with open(src, "rb") as f:
        header = f.readline()
        body = f.read()
    with open(dst, "wb") as g:
        g.write(header)
        for _ in range(k):
            g.write(body)


TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def run(cmd, stdin=None, stdout=subprocess.DEVNULL):
    """(wall s, peak RSS bytes, stderr) of one subprocess.

    The peak is GNU time's ``%M`` (the program's own, from a fresh exec); without
    /usr/bin/time, ``os.wait4``'s ``ru_maxrss``, which can include this process's
    own size at the fork.
    """
    full = [TIME, "-f", "ISOFOREST_BENCH_MAXRSS_KB=%M", *cmd] if TIME else cmd
    t0 = time.perf_counter()
    p = subprocess.Popen(full, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=ENV)
    err = p.stderr.read().decode()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({p.returncode}): {err[-2000:]}")
    peak = usage.ru_maxrss * 1024
    if TIME:
        head, _, kb = err.rpartition("ISOFOREST_BENCH_MAXRSS_KB=")
        peak, err = int(kb.strip()) * 1024, head
    return wall, peak, err


def best_of(repeat, cmd, **kw):
    runs = [run(cmd, **kw) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs), runs[-1][2]


def stream_throughput(model, records, n, repeat=2):
    """Best of ``repeat`` whole-command runs (start-up included) of ``cat records |
    isoforest stream``, runs of one record (the start-up) interleaved with them."""
    one = records + ".one"
    with open(records) as f, open(one, "w") as g:
        g.write(f.readline())
    cmd = [PY, "-m", "isoforest", "stream", "--model", model, "--alert-log", os.devnull]
    with open(one, "rb") as fin:  # the first run may still fill the compile cache
        run(cmd, stdin=fin)
    startup = wall = np.inf
    for _ in range(max(1, repeat)):
        with open(one, "rb") as fin:
            startup = min(startup, run(cmd, stdin=fin)[0])
        cat = subprocess.Popen(["cat", records], stdout=subprocess.PIPE)
        t, _, err = run(cmd, stdin=cat.stdout)
        cat.wait()
        assert f"{n} records scored" in err, err
        wall = min(wall, t)
    return {"records": n, "wall_s": wall, "startup_s": startup, "repeat": repeat,
            "records_per_s_wall": n / wall,
            "records_per_s_after_startup": (n - 1) / max(wall - startup, 1e-9)}


def stream_latency(model, records, n_calls=300, warmup=50):
    with open(records) as f:
        lines = [f.readline().encode() for _ in range(n_calls + warmup)]
    p = subprocess.Popen([PY, "-m", "isoforest", "stream", "--model", model,
                          "--alert-log", os.devnull], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0,
                         env=ENV)
    fd_in, fd_out = p.stdin.fileno(), p.stdout.fileno()
    lat = []
    try:
        for line in lines:
            t0 = time.perf_counter()
            os.write(fd_in, line)
            got = b""
            while not got.endswith(b"\n"):
                chunk = os.read(fd_out, 4096)
                if not chunk:
                    raise RuntimeError("stream ended early")
                got += chunk
            lat.append(time.perf_counter() - t0)
    finally:
        p.stdin.close()
        p.wait(timeout=60)
    lat = sorted(lat[warmup:])
    return {"calls": len(lat), "median_ms": statistics.median(lat) * 1e3,
            "p90_ms": lat[int(0.9 * len(lat))] * 1e3, "max_ms": lat[-1] * 1e3}


def format_speed(n=1_000_000, repeat=3):
    """Writing n scores: the kernel behind every output (float_lines) against
    Python's repr joined into one string, best of ``repeat``; bytes compared."""
    from isoforest.io._tabular import float_lines

    v = np.random.default_rng(0).uniform(0.3, 0.9, n)
    float_lines(v[:10])  # compile / load from the cache
    ours = theirs = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        buf, _ = float_lines(v)
        ours = min(ours, time.perf_counter() - t0)
        t0 = time.perf_counter()
        text = ("\n".join(map(float.__repr__, v.tolist())) + "\n").encode()
        theirs = min(theirs, time.perf_counter() - t0)
    return {"values": n, "kernel_s": ours, "repr_s": theirs, "same": buf.tobytes() == text}


NUMBA_FLOOR = """
import numba, numpy as np
@numba.njit(cache=True, nogil=True)
def f(x):
    return x.sum()
f(np.ones(3))
"""


def numba_floor(tmp, repeat=3):
    """Wall time of the smallest Numba program (import, one cached kernel call)."""
    path = os.path.join(tmp, "numba_floor.py")
    with open(path, "w") as f:
        f.write(NUMBA_FLOOR)
    run([PY, path])  # fills the cache
    return min(run([PY, path])[0] for _ in range(repeat))


def same_scores(ours, theirs):
    import pandas as pd

    a = pd.read_csv(ours, usecols=["anomaly_score", "is_anomaly"])
    b = pd.read_csv(theirs, usecols=["anomaly_score", "is_anomaly"])
    return bool(np.array_equal(a["anomaly_score"].to_numpy(), b["anomaly_score"].to_numpy())
                and np.array_equal(a["is_anomaly"].to_numpy(), b["is_anomaly"].to_numpy()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-factor", type=int, default=10)
    parser.add_argument("--no-big", action="store_true", help="skip the 10x file")
    parser.add_argument("--repeat", type=int, default=2, help="best of R runs (default 2)")
    parser.add_argument("--keep", default=None, help="work in DIR and keep the files")
    args = parser.parse_args(argv)

    lock = open("/tmp/isoforest-bench.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    tmp = args.keep or tempfile.mkdtemp(prefix="isoforest-bench-io-")
    os.makedirs(tmp, exist_ok=True)
    try:
        data = os.path.join(tmp, "data.csv")
        records = make_csv(data, args.rows)
        size = os.path.getsize(data)
        scripts = {}
        for name, module in (("pandas+isoforest", "isoforest"),
                             ("pandas+sklearn", "sklearn.ensemble")):
            scripts[name] = os.path.join(tmp, name.replace("+", "_") + ".py")
            with open(scripts[name], "w") as f:
                f.write(PANDAS_SCRIPT.format(module=module))
        # warm the Numba cache (compilation is not measured)
        small = os.path.join(tmp, "small.csv")
        with open(data) as f, open(small, "w") as g:
            for _ in range(2000):
                g.write(f.readline())
        run([PY, "-m", "isoforest", "detect", small, "--out", os.devnull])

        detect = {}
        outs = {}
        cmds = {"isoforest detect": [PY, "-m", "isoforest", "detect", data, "--out"]}
        for name, script in scripts.items():
            cmds[name] = [PY, script, data]
        for name, cmd in cmds.items():
            outs[name] = os.path.join(tmp, name.replace(" ", "_").replace("+", "_") + ".out.csv")
            try:
                wall, peak, _ = best_of(args.repeat, cmd + [outs[name]])
            except RuntimeError as exc:  # e.g. scikit-learn not installed
                detect[name] = {"error": str(exc)[:300]}
                continue
            detect[name] = {"wall_s": wall, "peak_rss_bytes": peak,
                            "peak_rss_over_file": peak / size}
        identical = None
        if "wall_s" in detect.get("pandas+isoforest", {}):
            identical = same_scores(outs["isoforest detect"], outs["pandas+isoforest"])

        model = os.path.join(tmp, "model.npz")
        run([PY, "-m", "isoforest", "fit", data, "--model", model])
        score = {}
        detect_big = None
        wall, peak, _ = best_of(args.repeat, [PY, "-m", "isoforest", "score", model, data,
                                              "--out", os.devnull])
        score["rows"] = {str(args.rows): {"wall_s": wall, "peak_rss_bytes": peak}}
        if not args.no_big:
            big = os.path.join(tmp, "big.csv")
            repeat_file(data, big, args.big_factor)
            n_big = args.rows * args.big_factor
            wall, peak, _ = best_of(1, [PY, "-m", "isoforest", "score", model, big,
                                        "--out", os.devnull])
            score["rows"][str(n_big)] = {"wall_s": wall, "peak_rss_bytes": peak,
                                         "file_bytes": os.path.getsize(big)}
            score["peak_ratio_big_over_small"] = peak / score["rows"][str(args.rows)][
                "peak_rss_bytes"]
            # detect on the big file: two passes through a row source, nothing held
            wall, peak, _ = run([PY, "-m", "isoforest", "detect", big, "--out", os.devnull])
            detect_big = {"rows": n_big, "wall_s": wall, "peak_rss_bytes": peak,
                          "peak_ratio_over_small_detect":
                              peak / detect["isoforest detect"]["peak_rss_bytes"]}
            os.unlink(big)

        # the stream's model: alerts rare (0.1%), as a monitored stream's are
        rare = os.path.join(tmp, "rare.npz")
        run([PY, "-m", "isoforest", "fit", data, "--model", rare, "--contamination", "0.001"])
        stream = stream_throughput(rare, records, args.rows, repeat=max(2, args.repeat))
        stream["latency"] = stream_latency(rare, records)
        stream["numba_floor_s"] = numba_floor(tmp)
        stream["format"] = format_speed()
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        lock.close()

    result = {"machine": machine(), "versions": versions(), "rows": args.rows,
              "file_bytes": size, "detect": detect, "scores_identical": identical,
              "score": score, "detect_big": detect_big, "stream": stream}
    table = markdown(result)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "io.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(RESULTS, "io.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    return 0


def markdown(r):
    mb = 1 << 20
    d = r["detect"]
    ours = d.get("isoforest detect", {})
    lines = [
        f"`isoforest detect` on a {r['rows']:,}-row CSV (10 numbers + a text column, "
        f"{r['file_bytes'] / mb:.0f} MiB), each program a subprocess, wall time and "
        f"peak RSS. Machine: {r['machine']}.",
        "",
        "| | time | vs isoforest detect | peak RSS | RSS / file |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, v in d.items():
        if "wall_s" not in v:
            lines.append(f"| {name} | n/a | | | |")
            continue
        rel = v["wall_s"] / ours["wall_s"] if "wall_s" in ours else float("nan")
        lines.append(f"| {name} | {v['wall_s']:.2f} s | {rel:.2f}x | "
                     f"{v['peak_rss_bytes'] / mb:.0f} MiB | {v['peak_rss_over_file']:.1f}x |")
    lines += ["", f"- Scores equal to the pandas + isoforest script's: {r['scores_identical']}."]
    s = r["score"]
    for n, v in s["rows"].items():
        lines.append(f"- `isoforest score`, {int(n):,} rows: {v['wall_s']:.2f} s, peak RSS "
                     f"{v['peak_rss_bytes'] / mb:.0f} MiB.")
    if "peak_ratio_big_over_small" in s:
        lines.append(f"- Peak RSS of `score` at the larger file over the smaller one: "
                     f"{s['peak_ratio_big_over_small']:.2f}x.")
    db = r.get("detect_big")
    if db:
        lines.append(f"- `isoforest detect`, {db['rows']:,} rows (two passes, a row source): "
                     f"{db['wall_s']:.2f} s, peak RSS {db['peak_rss_bytes'] / mb:.0f} MiB, "
                     f"{db['peak_ratio_over_small_detect']:.2f}x the 1,000,000-row run's.")
    st = r["stream"]
    lines += [
        f"- `cat {st['records']:,} lines | isoforest stream` (10 columns, a model flagging "
        f"0.1%, each alert explained; best of {st.get('repeat', 1)}): {st['wall_s']:.2f} s wall, "
        f"{st['records_per_s_wall'] / 1e3:.0f}k records/s; "
        f"{st['records_per_s_after_startup'] / 1e3:.0f}k records/s after the "
        f"{st['startup_s']:.2f} s start-up (one-record run; the smallest Numba program, "
        f"an import and one cached kernel call, takes {st['numba_floor_s']:.2f} s here).",
        f"- Writing {st['format']['values']:,} scores: the kernel {st['format']['kernel_s']:.3f} s,"
        f" Python's `repr` joined {st['format']['repr_s']:.3f} s "
        f"({st['format']['repr_s'] / st['format']['kernel_s']:.1f}x); same bytes: "
        f"{st['format']['same']}.",
        f"- One record at a time through the pipe: median {st['latency']['median_ms']:.3f} ms, "
        f"p90 {st['latency']['p90_ms']:.3f} ms ({st['latency']['calls']} records).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

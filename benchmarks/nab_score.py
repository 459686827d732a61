"""Score a streaming anomaly detector on the Numenta Anomaly Benchmark (NAB).

The detector is any shell command that reads CSV on standard input -- a header
line ``value`` then one number per line -- and writes one line
``anomaly_score,is_anomaly`` per record, in order, on standard output (a header
line is tolerated; only the first field is used). NAB picks its own threshold on
the scores, so ``is_anomaly`` is ignored, and scores must lie in [0, 1] (pass
``--clip`` to clip them there).

What the script does:

1. runs the command once per data file (``--jobs`` at a time), feeding it the
   file's ``value`` column, and writes NAB's results files
   ``<results>/<detector>/<category>/<detector>_<file>.csv``
   (``timestamp,value,anomaly_score,label``; label 1 inside a labelled window);
2. writes the same files for NAB's ``null`` detector (every score 0);
3. writes, into the results directory, the anomaly windows of exactly the data
   files found (NAB counts every window of the windows file as a possible true
   positive), an empty thresholds file and NAB's profiles;
4. runs NAB's own ``run.py --optimize --score --normalize`` for the detector
   and ``null`` together, in NAB's virtual environment, so the normalisation
   baseline is the null detector on the *same* files: null scores 0 and a
   perfect detector 100 on them;
5. prints the normalised scores of the standard, reward_low_FP_rate and
   reward_low_FN_rate profiles (plus NAB's raw totals) and, with
   ``--json-out``, writes them as JSON.

It needs only the standard library; NAB itself runs in a separate environment:

    git --git-dir=<mirror of numenta/NAB> archive HEAD | tar -x -C /work/nab-code
    python3 -m venv /work/nab-venv
    /work/nab-venv/bin/pip install "pandas==1.5.3" "numpy<2" simplejson

Usage::

    python benchmarks/nab_score.py --detector rcf \\
        --command "isoforest stream --method rcf" [--jobs 2] \\
        [--nab-data ../shared/nab] [--nab-code /work/nab-code] \\
        [--nab-python /work/nab-venv/bin/python] [--results DIR] \\
        [--json-out scores.json]

``--nab-data`` is a folder with ``data/<category>/<file>.csv`` and
``combined_windows.json`` (default: ``../shared/nab`` from the repository
root), or a checkout of numenta/NAB, whose ``labels/combined_windows.json`` is
read: ``--nab-data /work/nab-code`` scores the whole corpus (58 series). Without ``--results`` the work happens in a temporary directory that is
removed afterwards; with it, the ``<detector>`` and ``null`` folders there are
replaced and the files (NAB adds ``S(t)_<profile>`` columns and
``<detector>_<profile>_scores.csv`` per-file tables) are kept.

Notes: the detector's name may hold only letters, digits and "-" and must not
be one of NAB's own detectors (run.py imports their code). The TP/FP/FN counts
printed are NAB's, in records. NAB sweeps the threshold over the distinct
scores, so scores that saturate near 1 can score differently at different
precisions: on the reward_low_FP_rate profile of the 24-file part, NAB's
windowedGaussian scores 22.38 from its shipped results (12 significant digits)
and 23.79 from the same scores at full precision.
"""

import argparse
import concurrent.futures
import csv
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
NULL = "null"
# Names NAB's run.py imports a detector module for, even when only scoring
# (some need scipy, Julia, ...): a detector here must not take one of them.
NAB_BUILTINS = ("bayesChangePt", "random", "skyline", "windowedGaussian", "knncad",
                "relativeEntropy", "expose", "contextOSE", "earthgeckoSkyline", "ARTime")


class HarnessError(Exception):
    """A problem with the inputs, the detector's output or NAB's run."""


def _timestamp(text):
    # NAB's data has "2014-04-10 07:15:00", its windows "2014-04-10 07:15:00.000000".
    return datetime.datetime.fromisoformat(text.strip())


def find_data_files(data_dir):
    """Relative paths ('category/file.csv') of every CSV under data_dir, sorted."""
    found = []
    for root, _dirs, files in os.walk(data_dir):
        for name in files:
            if name.endswith(".csv"):
                found.append(os.path.relpath(os.path.join(root, name), data_dir)
                             .replace(os.sep, "/"))
    return sorted(found)


def read_series(path):
    """(timestamps, values) of a NAB data file, as the strings in the file."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header[:2] != ["timestamp", "value"]:
            raise HarnessError(f"{path}: expected columns timestamp,value, got {header}")
        rows = [row for row in reader if row]
    return [r[0] for r in rows], [r[1] for r in rows]


def window_labels(timestamps, windows):
    """1 for each timestamp inside a window (ends included), else 0, as NAB does."""
    spans = [(_timestamp(a), _timestamp(b)) for a, b in windows]
    labels = []
    for t in timestamps:
        t = _timestamp(t)
        labels.append(int(any(a <= t <= b for a, b in spans)))
    return labels


def parse_scores(out, n, clip):
    """The anomaly_score of each of n output lines (first comma-separated field)."""
    lines = [line for line in out.splitlines() if line.strip()]
    if len(lines) == n + 1:  # a header line
        try:
            float(lines[0].split(",")[0])
        except ValueError:
            lines = lines[1:]
    if len(lines) != n:
        raise HarnessError(f"expected {n} output lines, got {len(lines)}")
    scores = []
    for i, line in enumerate(lines):
        field = line.split(",")[0].strip()
        try:
            s = float(field)
        except ValueError:
            raise HarnessError(f"line {i + 1}: not a number: {field!r}") from None
        if math.isnan(s):
            raise HarnessError(f"line {i + 1}: score is NaN")
        if clip:
            s = min(max(s, 0.0), 1.0)
        elif not 0.0 <= s <= 1.0:
            raise HarnessError(f"line {i + 1}: score {s!r} outside [0, 1] "
                               "(NAB needs scores in [0, 1]; see --clip)")
        scores.append(s)
    return scores


def run_detector(command, values, clip):
    """Pipe the values through the detector's command; (scores, seconds)."""
    data = "value\n" + "".join(v + "\n" for v in values)
    t0 = time.perf_counter()
    proc = subprocess.run(command, shell=True, input=data.encode(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace")[-2000:]
        raise HarnessError(f"command exited with status {proc.returncode}:\n{tail}")
    return parse_scores(proc.stdout.decode(errors="replace"), len(values), clip), seconds


def write_results(path, timestamps, values, scores, labels):
    """One NAB results file: timestamp,value,anomaly_score,label."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["timestamp", "value", "anomaly_score", "label"])
        for row in zip(timestamps, values, (repr(float(s)) for s in scores), labels):
            w.writerow(row)


def results_path(results, detector, rel):
    category, name = rel.rsplit("/", 1)
    return os.path.join(results, detector, category, f"{detector}_{name}")


def score_file(args, rel, windows):
    """Run the detector on one data file and write its and null's results files."""
    timestamps, values = read_series(os.path.join(args.data_dir, rel))
    labels = window_labels(timestamps, windows)
    try:
        scores, seconds = run_detector(args.command, values, args.clip)
    except HarnessError as exc:
        raise HarnessError(f"{rel}: {exc}") from None
    write_results(results_path(args.results, args.detector, rel),
                  timestamps, values, scores, labels)
    write_results(results_path(args.results, NULL, rel),
                  timestamps, values, [0.0] * len(values), labels)
    return len(values), seconds


def check_detector_name(name):
    # NAB splits result file names on "_" and "." and finds the profile by
    # substring, so keep names to letters, digits and "-".
    if not re.fullmatch(r"[A-Za-z0-9-]+", name):
        raise HarnessError(f"detector name {name!r}: use letters, digits and '-' only")
    if name == NULL or name in NAB_BUILTINS or any(p in name for p in PROFILES):
        raise HarnessError(f"detector name {name!r} is one of NAB's own detectors "
                           "or contains a profile name; pick another")


def prepare(args):
    """Check the inputs, lay out the results directory; return {file: windows}."""
    check_detector_name(args.detector)
    for p in PROFILES:
        if p in args.results:
            raise HarnessError(f"results path {args.results!r} contains {p!r}, "
                               "which confuses NAB's normalisation; pick another")
    run_py = os.path.join(args.nab_code, "run.py")
    if not os.path.isfile(run_py):
        raise HarnessError(f"NAB's run.py not found in {args.nab_code}")
    if not os.path.isfile(args.nab_python):
        raise HarnessError(f"NAB's python not found: {args.nab_python}")
    files = find_data_files(args.data_dir)
    if not files:
        raise HarnessError(f"no CSV files under {args.data_dir}")
    with open(args.windows_file) as f:
        all_windows = json.load(f)
    missing = [rel for rel in files if rel not in all_windows]
    if missing:
        raise HarnessError(f"no windows in {args.windows_file} for: {', '.join(missing)}")
    windows = {rel: all_windows[rel] for rel in files}

    os.makedirs(args.results, exist_ok=True)
    for name in (args.detector, NULL):
        shutil.rmtree(os.path.join(args.results, name), ignore_errors=True)
    with open(os.path.join(args.results, "windows.json"), "w") as f:
        json.dump(windows, f, indent=1, sort_keys=True)
    with open(os.path.join(args.results, "thresholds.json"), "w") as f:
        json.dump({}, f)
    shutil.copyfile(os.path.join(args.nab_code, "config", "profiles.json"),
                    os.path.join(args.results, "profiles.json"))
    final = os.path.join(args.results, "final_results.json")
    if os.path.exists(final):
        os.remove(final)
    return windows


def run_nab(args):
    """NAB's optimise, score and normalise steps for the detector and null."""
    r = args.results
    cmd = [args.nab_python, os.path.join(args.nab_code, "run.py"),
           "--optimize", "--score", "--normalize", "--skipConfirmation",
           "-d", f"{args.detector},{NULL}",
           "--dataDir", os.path.abspath(args.data_dir),
           "--windowsFile", os.path.join(r, "windows.json"),
           "--resultsDir", r,
           "--profilesFile", os.path.join(r, "profiles.json"),
           "--thresholdsFile", os.path.join(r, "thresholds.json"),
           "--numCPUs", str(args.jobs)]
    proc = subprocess.run(cmd, cwd=args.nab_code, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    log = proc.stdout.decode(errors="replace")
    with open(os.path.join(r, "nab_run.log"), "w") as f:
        f.write(log)
    if args.verbose or proc.returncode != 0:
        print(log, file=sys.stderr)
    if proc.returncode != 0:
        raise HarnessError(f"NAB's run.py exited with status {proc.returncode}")


def totals(results, detector, profile):
    """NAB's 'Totals' row of <detector>_<profile>_scores.csv."""
    path = os.path.join(results, detector, f"{detector}_{profile}_scores.csv")
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["Detector"] == "Totals":
                return {"score": float(row["Score"]),
                        **{k.lower(): int(float(row[k])) for k in ("TP", "TN", "FP", "FN")}}
    raise HarnessError(f"no Totals row in {path}")


def collect(args, windows):
    """The normalised scores and NAB's raw numbers, as a dict."""
    with open(os.path.join(args.results, "final_results.json")) as f:
        final = json.load(f)
    with open(os.path.join(args.results, "thresholds.json")) as f:
        thresholds = json.load(f)
    out = {"detector": args.detector, "command": args.command,
           "files": len(windows), "windows": sum(len(w) for w in windows.values()),
           "scores": {p: final[args.detector][p] for p in PROFILES},
           "null_scores": {p: final[NULL][p] for p in PROFILES},
           "raw": {}}
    for p in PROFILES:
        out["raw"][p] = {"threshold": thresholds[args.detector][p]["threshold"],
                         **totals(args.results, args.detector, p),
                         "null_score": totals(args.results, NULL, p)["score"]}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", required=True,
                        help="name of the detector (letters, digits, '-')")
    parser.add_argument("--command", required=True,
                        help="shell command: 'value' CSV on stdin -> "
                             "'anomaly_score,is_anomaly' lines on stdout")
    parser.add_argument("--nab-data", default=os.path.join(REPO, "..", "shared", "nab"),
                        help="folder with data/ and combined_windows.json, or a "
                             "NAB checkout (default: ../shared/nab from the "
                             "repository root)")
    parser.add_argument("--nab-code", default="/work/nab-code",
                        help="checkout of numenta/NAB (default /work/nab-code)")
    parser.add_argument("--nab-python", default="/work/nab-venv/bin/python",
                        help="python with NAB's requirements "
                             "(default /work/nab-venv/bin/python)")
    parser.add_argument("--results", default=None,
                        help="work folder, kept afterwards (default: a temporary one)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="files scored in parallel, also NAB's processes (default 1)")
    parser.add_argument("--clip", action="store_true",
                        help="clip scores to [0, 1] instead of failing on others")
    parser.add_argument("--json-out", default=None, help="write the scores here as JSON")
    parser.add_argument("--verbose", action="store_true", help="show NAB's output")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")

    args.nab_data = os.path.abspath(args.nab_data)
    args.nab_code = os.path.abspath(args.nab_code)
    args.data_dir = os.path.join(args.nab_data, "data")
    args.windows_file = os.path.join(args.nab_data, "combined_windows.json")
    if not os.path.exists(args.windows_file):  # a NAB checkout keeps it in labels/
        args.windows_file = os.path.join(args.nab_data, "labels", "combined_windows.json")

    tmp = None
    if args.results is None:
        tmp = tempfile.mkdtemp(prefix="nab-score-")
        args.results = tmp
    args.results = os.path.abspath(args.results)
    try:
        windows = prepare(args)
        t0 = time.perf_counter()
        rows = busy = 0.0
        pool = concurrent.futures.ThreadPoolExecutor(args.jobs)
        try:
            futures = {pool.submit(score_file, args, rel, w): rel
                       for rel, w in windows.items()}
            for fut in concurrent.futures.as_completed(futures):
                n, seconds = fut.result()
                rows += n
                busy += seconds
                if args.verbose:
                    print(f"  {futures[fut]}: {n} records, {seconds:.2f} s", file=sys.stderr)
        finally:
            # on a failure, drop the files not started yet
            pool.shutdown(wait=True, cancel_futures=True)
        t_detect = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_nab(args)
        t_nab = time.perf_counter() - t0
        result = collect(args, windows)
        result["seconds"] = {"detector_wall": round(t_detect, 3),
                             "detector_busy": round(busy, 3),
                             "nab": round(t_nab, 3)}
        result["records"] = int(rows)
    except HarnessError as exc:
        print(f"nab_score: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"NAB scores of {args.detector!r} on {result['files']} files, "
          f"{result['windows']} windows, {result['records']} records "
          f"(null = 0, perfect = 100):")
    for p in PROFILES:
        raw = result["raw"][p]
        print(f"  {p:<20} {result['scores'][p]:7.2f}   threshold {raw['threshold']:.12g}  "
              f"records TP {raw['tp']} FP {raw['fp']} FN {raw['fn']}  "
              f"raw {raw['score']:.2f} (null {raw['null_score']:.2f})")
    s = result["seconds"]
    print(f"time: detector {s['detector_wall']:.1f} s wall "
          f"({s['detector_busy']:.1f} s in the command), NAB {s['nab']:.1f} s"
          + ("" if tmp else f"; files in {args.results}"))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End-to-end tests of the command line (``python -m isoforest ...``) and of the
streaming API (``isoforest.stream.StreamDetector``).

Every CLI test runs the real program in a subprocess, with real files (in
``tmp_path``) and real pipes, and checks its output against the Python API.

Tests marked ``xfail(strict=True)`` document bugs found while writing this file:
each reason starts with ``BUG:``. Once a bug is fixed the test passes, pytest
reports it as XPASS(strict) and the marker must be removed.
"""

import concurrent.futures
import csv
import io
import json
import logging
import math
import os
import queue
import re
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import isoforest
from isoforest import IsolationForest, ZScoreDetector, load_model
from isoforest.stream import StreamDetector

TIMEOUT = 120
HEADER = ["id", "name", "a", "b", "c", "note"]
NUMERIC = ["id", "a", "b", "c"]


# --------------------------------------------------------------------------- helpers


def run_cli(*args, cwd=None, input=None, timeout=TIMEOUT):
    """Run ``python -m isoforest ARGS`` to completion; returns CompletedProcess (text)."""
    return subprocess.run(
        [sys.executable, "-m", "isoforest", *map(str, args)],
        cwd=cwd, input=input, capture_output=True, text=True, timeout=timeout,
    )


def make_table(n=400, seed=0, missing=()):
    """Rows of strings with a header: two text columns (one with commas and quotes)
    and three float columns with a few gross outliers; ``missing`` = [(row, col)]
    cells blanked out with assorted missing-value spellings."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 3)
    X[:8] *= 6.0
    rows = []
    for i, (a, b, c) in enumerate(X.tolist()):
        note = f'note {i}, "quoted"' if i % 3 == 0 else f"plain {i}"
        rows.append([str(i), f"item-{i}", repr(a), repr(b), repr(c), note])
    spellings = ["", "NA", "nan", "?"]
    for k, (i, col) in enumerate(missing):
        rows[i][HEADER.index(col)] = spellings[k % len(spellings)]
    return HEADER, rows


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        data = list(csv.reader(fh))
    return data[0], data[1:]


def to_float(text):
    t = text.strip()
    if t.lower() in {"", "na", "nan", "null", "none", "n/a", "?"}:
        return math.nan
    return float(t)


def matrix(header, rows, cols):
    idx = [header.index(c) for c in cols]
    return np.array([[to_float(r[j]) for j in idx] for r in rows], dtype=np.float64)


def scores_of(out_rows):
    """(anomaly_score, is_anomaly) columns of an output file, parsed."""
    score = np.array([float(r[-2]) if r[-2] != "" else math.nan for r in out_rows])
    flag = np.array([int(r[-1]) if r[-1] != "" else -1 for r in out_rows])
    return score, flag


def assert_matches(out_rows, model, X):
    """anomaly_score == -score_samples exactly and is_anomaly == (predict == -1)."""
    score, flag = scores_of(out_rows)
    np.testing.assert_array_equal(score, -model.score_samples(X))
    np.testing.assert_array_equal(flag, (model.predict(X) == -1).astype(int))


def summary(stderr):
    """(rows read, anomalies) from the stderr summary line; also checks a time."""
    rows = re.search(r"(\d+) rows", stderr)
    anomalies = re.search(r"(\d+) anomal", stderr)
    assert rows and anomalies, stderr
    assert re.search(r"\d+(\.\d+)? ?s\b", stderr), f"no elapsed time in {stderr!r}"
    return int(rows.group(1)), int(anomalies.group(1))


def assert_clean_error(res, code, *fragments):
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    assert "error" in res.stderr.lower(), res.stderr
    for frag in fragments:
        assert frag.lower() in res.stderr.lower(), (frag, res.stderr)


@pytest.fixture(scope="module")
def table():
    return make_table()


@pytest.fixture
def data_csv(tmp_path, table):
    return write_csv(tmp_path / "data.csv", *table)


# ----------------------------------------------------------------------------- detect


def test_detect_default_columns_and_passthrough(tmp_path, data_csv, table):
    header, rows = table
    out = tmp_path / "out.csv"
    res = run_cli("detect", data_csv, "--out", out, "--random-state", 3, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out_header, out_rows = read_csv(out)
    assert out_header == header + ["anomaly_score", "is_anomaly"]
    assert len(out_rows) == len(rows)
    # every input field comes back untouched, text columns included (commas, quotes)
    assert [r[: len(header)] for r in out_rows] == rows
    # the columns used are every numeric one: id, a, b, c (not name, not note)
    model = IsolationForest(random_state=3).fit(matrix(header, rows, NUMERIC))
    assert_matches(out_rows, model, matrix(header, rows, NUMERIC))
    n_rows, n_anom = summary(res.stderr)
    assert n_rows == len(rows)
    assert n_anom == sum(int(r[-1]) for r in out_rows)
    assert set(r[-1] for r in out_rows) <= {"0", "1"}


def test_detect_columns_and_standardize(tmp_path, data_csv, table):
    header, rows = table
    out = tmp_path / "out.csv"
    res = run_cli("detect", data_csv, "--out", out, "--columns", "c, a",
                  "--standardize", "--random-state", 7, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    _, out_rows = read_csv(out)
    X = matrix(header, rows, ["c", "a"])  # the named columns, in the order named
    center, scale = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
    Z = (X - center) / scale
    assert_matches(out_rows, IsolationForest(random_state=7).fit(Z), Z)


def test_detect_contamination(tmp_path, data_csv, table):
    header, rows = table
    out = tmp_path / "out.csv"
    res = run_cli("detect", data_csv, "--out", out, "--columns", "a,b,c",
                  "--contamination", "0.05", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    _, out_rows = read_csv(out)
    X = matrix(header, rows, ["a", "b", "c"])
    model = IsolationForest(random_state=0, contamination=0.05).fit(X)  # default seed 0
    assert_matches(out_rows, model, X)
    n_anom = sum(int(r[-1]) for r in out_rows)
    assert abs(n_anom - 0.05 * len(rows)) <= 2
    assert summary(res.stderr)[1] == n_anom


def test_detect_zscore(tmp_path, data_csv, table):
    header, rows = table
    X = matrix(header, rows, ["a", "b", "c"])
    out = tmp_path / "out.csv"
    res = run_cli("detect", data_csv, "--out", out, "--columns", "a,b,c",
                  "--method", "zscore", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    _, out_rows = read_csv(out)
    assert_matches(out_rows, ZScoreDetector().fit(X), X)
    assert sum(int(r[-1]) for r in out_rows) >= 5  # the planted outliers

    res = run_cli("detect", data_csv, "--out", out, "--columns", "a,b,c",
                  "--method", "zscore", "--contamination", "0.1", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    _, out_rows = read_csv(out)
    assert_matches(out_rows, ZScoreDetector(contamination=0.1).fit(X), X)


MISSING_CELLS = [(10, "a"), (11, "b"), (50, "c"), (51, "a"), (300, "b")]


@pytest.fixture
def missing_csv(tmp_path):
    header, rows = make_table(missing=MISSING_CELLS)
    return write_csv(tmp_path / "missing.csv", header, rows), header, rows


def test_detect_missing_drop(tmp_path, missing_csv):
    path, header, rows = missing_csv
    out = tmp_path / "out.csv"
    res = run_cli("detect", path, "--out", out, "--columns", "a,b,c", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    _, out_rows = read_csv(out)
    complete = [r for r in rows if not np.isnan(matrix(header, [r], ["a", "b", "c"])).any()]
    assert len(complete) == len(rows) - len(MISSING_CELLS)
    assert [r[: len(header)] for r in out_rows] == complete
    X = matrix(header, complete, ["a", "b", "c"])
    assert_matches(out_rows, IsolationForest(random_state=0).fit(X), X)
    assert summary(res.stderr)[0] == len(rows)
    m = re.search(r"(\d+) with missing", res.stderr)
    assert m and int(m.group(1)) == len(MISSING_CELLS), res.stderr
    assert "dropped" in res.stderr


def test_detect_missing_keep_iforest(tmp_path, missing_csv):
    path, header, rows = missing_csv
    out = tmp_path / "out.csv"
    res = run_cli("detect", path, "--out", out, "--columns", "a,b,c",
                  "--missing", "keep", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    _, out_rows = read_csv(out)
    assert [r[: len(header)] for r in out_rows] == rows
    X = matrix(header, rows, ["a", "b", "c"])
    assert np.isnan(X).any(axis=1).sum() == len(MISSING_CELLS)
    # Isolation Forest trains on and scores the incomplete rows natively
    assert_matches(out_rows, IsolationForest(random_state=0).fit(X), X)
    m = re.search(r"(\d+) with missing", res.stderr)
    assert m and int(m.group(1)) == len(MISSING_CELLS), res.stderr
    assert "kept" in res.stderr


def test_detect_missing_keep_zscore(tmp_path, missing_csv):
    path, header, rows = missing_csv
    out = tmp_path / "out.csv"
    res = run_cli("detect", path, "--out", out, "--columns", "a,b,c",
                  "--missing", "keep", "--method", "zscore", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    _, out_rows = read_csv(out)
    assert len(out_rows) == len(rows)
    X = matrix(header, rows, ["a", "b", "c"])
    incomplete = np.isnan(X).any(axis=1)
    model = ZScoreDetector().fit(X[~incomplete])
    # incomplete rows are kept with empty scores; complete ones match the model
    assert all(r[-2:] == ["", ""] for r, bad in zip(out_rows, incomplete) if bad)
    assert_matches([r for r, bad in zip(out_rows, incomplete) if not bad], model,
                    X[~incomplete])


def test_detect_stdin_to_stdout(tmp_path, data_csv, table):
    header, rows = table
    res = run_cli("detect", "-", "--out", "-", "--columns", "a,b", cwd=tmp_path,
                  input=data_csv.read_text())
    assert res.returncode == 0, res.stderr
    data = list(csv.reader(io.StringIO(res.stdout)))
    assert data[0] == header + ["anomaly_score", "is_anomaly"]
    X = matrix(header, rows, ["a", "b"])
    assert_matches(data[1:], IsolationForest(random_state=0).fit(X), X)
    assert "rows" in res.stderr and "rows" not in res.stdout


def test_detect_lof(tmp_path, data_csv, table):
    header, rows = table
    out = tmp_path / "out.csv"
    res = run_cli("detect", data_csv, "--out", out, "--columns", "a,b,c",
                  "--method", "lof", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    _, out_rows = read_csv(out)
    assert len(out_rows) == len(rows)
    score, flag = scores_of(out_rows)
    assert np.isfinite(score).all() and set(flag) <= {0, 1}
    assert flag[:8].sum() >= 4  # most planted outliers


# ------------------------------------------------------------------------ fit + score


@pytest.mark.parametrize("options", [
    ["--columns", "b,c", "--random-state", "5", "--contamination", "0.1",
     "--standardize", "--missing", "keep"],
    ["--method", "zscore", "--standardize"],
])
def test_fit_then_score_reproduces_detect(tmp_path, options):
    header, rows = make_table(missing=MISSING_CELLS)
    data = write_csv(tmp_path / "data.csv", header, rows)
    detect_out, score_out = tmp_path / "detect.csv", tmp_path / "score.csv"
    model = tmp_path / "model.npz"
    res = run_cli("detect", data, "--out", detect_out, *options, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = run_cli("fit", data, "--model", model, *options, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert model.exists()
    res = run_cli("score", model, data, "--out", score_out, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert score_out.read_bytes() == detect_out.read_bytes()
    assert summary(res.stderr)[0] == len(rows)


# --------------------------------------------------------------------------- stream


@pytest.fixture(scope="module")
def stream_model(tmp_path_factory):
    """A CLI model on columns a,b,c (default contamination) and its directory."""
    d = tmp_path_factory.mktemp("stream")
    data = write_csv(d / "train.csv", *make_table(n=500, seed=1))
    model = d / "model.npz"
    res = run_cli("fit", data, "--model", model, "--columns", "a,b,c", cwd=d)
    assert res.returncode == 0, res.stderr
    return model


def stream_records(n, seed, outliers=()):
    X = np.random.RandomState(seed).randn(n, 3)
    for i in outliers:
        X[i] = [7.0, -7.0, 7.0]
    return X, [",".join(repr(v) for v in row) for row in X.tolist()]


def parse_stream_output(stdout):
    lines = stdout.splitlines()
    for line in lines:
        assert re.fullmatch(r"[^,]+,[01]", line), line
    score = np.array([float(x.split(",")[0]) for x in lines])
    flag = np.array([int(x.split(",")[1]) for x in lines])
    return score, flag


@pytest.mark.parametrize("with_header", [True, False])
def test_stream_order_and_alert_log(tmp_path, stream_model, with_header):
    X, lines = stream_records(5000, seed=2, outliers=[3, 1000, 4999])
    text = ("a,b,c\n" if with_header else "") + "\n".join(lines) + "\n"
    alert_log = tmp_path / "alerts.log"
    res = run_cli("stream", "--model", stream_model, "--alert-log", alert_log,
                  cwd=tmp_path, input=text)
    assert res.returncode == 0, res.stderr
    score, flag = parse_stream_output(res.stdout)
    assert len(score) == len(lines)  # one line per record, none dropped
    model = load_model(stream_model)
    np.testing.assert_array_equal(score, -model.score_samples(X))  # in order
    np.testing.assert_array_equal(flag, (model.predict(X) == -1).astype(int))
    assert flag[[3, 1000, 4999]].all()
    # one alert per anomaly, naming the record's input line
    alerts = alert_log.read_text().splitlines()
    assert len(alerts) == flag.sum()
    first = 2 if with_header else 1
    logged = [int(re.search(r"line (\d+)", a).group(1)) for a in alerts]
    assert logged == [first + i for i in np.flatnonzero(flag)]
    assert not re.search(r"line \d+:", res.stderr), res.stderr  # nothing malformed


def test_stream_malformed_lines_skipped(tmp_path, stream_model):
    text = (
        "a,b,c\n"          # 1: header
        "0.1,0.2,0.3\n"    # 2
        "x,1,2\n"          # 3: not a number
        "1,2\n"            # 4: too few fields
        "\n"               # 5: blank: ignored
        "7,-7,7\n"         # 6
        "1,2,3,4\n"        # 7: too many fields
        "nan,0.5,0.5\r\n"  # 8: missing value, fine for Isolation Forest; CRLF
        "0,0,0"            # 9: no final newline
    )
    res = run_cli("stream", "--model", stream_model, cwd=tmp_path, input=text)
    assert res.returncode == 0, res.stderr
    score, flag = parse_stream_output(res.stdout)
    X = np.array([[0.1, 0.2, 0.3], [7, -7, 7], [np.nan, 0.5, 0.5], [0, 0, 0]])
    model = load_model(stream_model)
    np.testing.assert_array_equal(score, -model.score_samples(X))
    np.testing.assert_array_equal(flag, (model.predict(X) == -1).astype(int))
    reports = [x for x in res.stderr.splitlines() if "anomaly" not in x.lower()]
    for bad in (3, 4, 7):
        assert any(re.search(rf"line {bad}\b", x) for x in reports), res.stderr
    for good in (1, 2, 5, 6, 8, 9):
        assert not any(re.search(rf"line {good}\b", x) for x in reports), res.stderr
    # the alert log defaults to stderr
    assert flag[1] == 1
    assert re.search(r"anomaly.*line 6\b", res.stderr), res.stderr



def test_stream_malformed_lines_in_a_large_input(tmp_path, stream_model):
    """A large piped input (computed on the worker thread while the previous read is
    written): malformed lines spread through it are reported with their line numbers
    and skipped, every other record answered once, in order, alerts on their lines."""
    X, lines = stream_records(30000, seed=9, outliers=[10, 12345, 29999])
    bad = {500: "x,1,2", 9000: "1,2", 20001: "1,2,3,4", 25000: "1;2;3"}
    text_lines = list(lines)
    for k in sorted(bad):  # line k (1-based) of the input becomes the bad one
        text_lines.insert(k - 1, bad[k])
    alert_log = tmp_path / "alerts.log"
    res = run_cli("stream", "--model", stream_model, "--alert-log", alert_log,
                  cwd=tmp_path, input="\n".join(text_lines) + "\n")
    assert res.returncode == 0, res.stderr
    score, flag = parse_stream_output(res.stdout)
    model = load_model(stream_model)
    np.testing.assert_array_equal(score, -model.score_samples(X))
    np.testing.assert_array_equal(flag, (model.predict(X) == -1).astype(int))
    reported = [int(m) for m in re.findall(r"line (\d+): ", res.stderr)]
    assert reported == sorted(bad), res.stderr
    good_lines = [k + 1 for k, t in enumerate(text_lines) if k + 1 not in bad]
    logged = [int(re.search(r"line (\d+)", a).group(1))
              for a in alert_log.read_text().splitlines()]
    assert logged == [good_lines[i] for i in np.flatnonzero(flag)]
    assert f"{len(X)} records scored" in res.stderr

def test_stream_equals_score_with_standardized_zscore(tmp_path):
    header, rows = make_table(n=300, seed=4)
    data = write_csv(tmp_path / "train.csv", header, rows)
    model = tmp_path / "z.npz"
    res = run_cli("fit", data, "--model", model, "--method", "zscore",
                  "--columns", "b,c", "--standardize", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = run_cli("score", model, data, "--out", tmp_path / "scored.csv", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    _, scored = read_csv(tmp_path / "scored.csv")
    text = "".join(f"{r[3]},{r[4]}\n" for r in rows) + "1.0,nan\n"
    res = run_cli("stream", "--model", model, cwd=tmp_path, input=text)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines == [f"{r[-2]},{r[-1]}" for r in scored]
    # z-scores cannot take a missing value: reported and skipped
    assert re.search(rf"line {len(rows) + 1}\b", res.stderr), res.stderr


def test_stream_equals_score_with_eif(tmp_path):
    """An ExtendedIsolationForest model file streams like any other: each record's
    line equals what ``score`` writes for it, and a record with a missing value
    (which EIF cannot take) is reported and skipped."""
    header, rows = make_table(n=300, seed=5)
    data = write_csv(tmp_path / "train.csv", header, rows)
    model = tmp_path / "eif.npz"
    res = run_cli("fit", data, "--model", model, "--method", "eif",
                  "--columns", "a,b,c", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert load_model(model).__class__.__name__ == "ExtendedIsolationForest"
    res = run_cli("score", model, data, "--out", tmp_path / "scored.csv", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    _, scored = read_csv(tmp_path / "scored.csv")
    text = "".join(f"{r[2]},{r[3]},{r[4]}\n" for r in rows) + "1.0,,2.0\n"
    res = run_cli("stream", "--model", model, "--alert-log", tmp_path / "alerts.log",
                  cwd=tmp_path, input=text)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [f"{r[-2]},{r[-1]}" for r in scored]
    assert any(r[-1] == "1" for r in scored)  # the alerts path ran
    assert re.search(rf"line {len(rows) + 1}\b", res.stderr), res.stderr


def _timed_stream(model, payload, cwd):
    t = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "isoforest", "stream", "--model", str(model),
         "--alert-log", str(cwd / "alerts.log")],
        input=payload, capture_output=True, timeout=TIMEOUT, cwd=cwd,
    )
    elapsed = time.perf_counter() - t
    assert res.returncode == 0, res.stderr
    return elapsed, res.stdout


@pytest.mark.timing
def test_stream_throughput(tmp_path, stream_model):
    """>= 100,000 records/s through a pipe, on the stream's own time: the wall time
    for N records minus that of a run with a single record (interpreter start,
    imports, model load and first kernel call)."""
    n = 200_000
    _, lines = stream_records(n, seed=5)
    payload = ("\n".join(lines) + "\n").encode()
    one = (lines[0] + "\n").encode()
    startup = _timed_stream(stream_model, one, tmp_path)[0]
    rates = []
    for _ in range(3):  # a shared machine: best of a few tries
        elapsed, out = _timed_stream(stream_model, payload, tmp_path)
        assert out.count(b"\n") == n
        rates.append((n - 1) / max(elapsed - startup, 1e-9))
        if rates[-1] >= 100_000:
            break
    assert max(rates) >= 100_000, f"records/s: {rates} (startup {startup:.3f} s)"


@pytest.mark.timing
def test_stream_latency(tmp_path, stream_model):
    """Records written one at a time: median time from write to output line < 1 ms."""
    X, lines = stream_records(450, seed=6, outliers=[100, 300])
    p = subprocess.Popen(
        [sys.executable, "-m", "isoforest", "stream", "--model", str(stream_model),
         "--alert-log", str(tmp_path / "alerts.log")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        bufsize=0, cwd=tmp_path,
    )
    out, lat = [], []
    try:
        for i, line in enumerate(lines):
            data = (line + "\n").encode()
            t = time.perf_counter()
            p.stdin.write(data)
            got = p.stdout.readline()
            lat.append(time.perf_counter() - t)
            assert got, p.stderr.read().decode()
            out.append(got.decode().rstrip("\n"))
        p.stdin.close()
        rest = p.stdout.read()
        assert p.wait(timeout=TIMEOUT) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert rest == b""
    model = load_model(stream_model)
    score, flag = parse_stream_output("\n".join(out))
    np.testing.assert_array_equal(score, -model.score_samples(X))
    np.testing.assert_array_equal(flag, (model.predict(X) == -1).astype(int))
    # warm-up: the first 50; then two windows of 200, the better one counts
    windows = [sorted(lat[50:250]), sorted(lat[250:450])]
    medians = [statistics.median(w) for w in windows]
    best = int(np.argmin(medians))
    assert medians[best] < 1e-3, f"median latencies {medians} s"
    p90 = windows[best][int(0.9 * len(windows[best]))]
    assert p90 < 20e-3, f"p90 latency {p90} s"


# ------------------------------------------------------------------ help and usage
#
# These runs are short and independent: one module fixture runs them all, two at a
# time, in one directory; each test then checks its own run.

HELP_CASES = {
    "main": [],
    "detect": ["detect"],
    "fit": ["fit"],
    "score": ["score"],
    "stream": ["stream"],
}

USAGE_CASES = {  # exit 2, with a message naming the problem
    "detect-no-out": (["detect", "DATA"], "--out"),
    "unknown-method": (["detect", "DATA", "--out", "o.csv", "--method", "kmeans"],
                       "kmeans"),
    "contamination-0.9": (["detect", "DATA", "--out", "o.csv", "--contamination", "0.9"],
                          "contamination"),
    "contamination-0": (["detect", "DATA", "--out", "o.csv", "--contamination", "0"],
                        "contamination"),
    "contamination-text": (["fit", "DATA", "--model", "m.npz", "--contamination", "lots"],
                           "contamination"),
    "unknown-missing": (["detect", "DATA", "--out", "o.csv", "--missing", "impute"],
                        "missing"),
    "fit-no-model": (["fit", "DATA"], "--model"),
    "score-no-input": (["score", "model.npz"], "required"),
    "stream-no-model": (["stream"], "--model"),
    "unknown-command": (["frobnicate"], "frobnicate"),
    "no-command": ([], "required"),
}

DATA_CASES = {  # exit 1, with a message naming the problem
    "missing-file": (["detect", "nope.csv", "--out", "o.csv"], ["nope.csv"]),
    "empty-file": (["detect", "empty.csv", "--out", "o.csv"], ["empty"]),
    "header-only": (["detect", "header_only.csv", "--out", "o.csv"], ["numeric"]),
    "no-numeric-column": (["detect", "text_only.csv", "--out", "o.csv"], ["numeric"]),
    "ragged-detect": (["detect", "ragged.csv", "--out", "o.csv"], ["line 3"]),
    "ragged-fit": (["fit", "ragged.csv", "--model", "m.npz"], ["line 3"]),
    "unknown-column": (["detect", "DATA", "--out", "o.csv", "--columns", "a,zzz"],
                       ["zzz"]),
    "text-column": (["detect", "DATA", "--out", "o.csv", "--columns", "a,name"],
                    ["name"]),
    "score-missing-model": (["score", "nope.npz", "DATA", "--out", "o.csv"],
                            ["nope.npz"]),
    "score-text-model": (["score", "not_model.csv", "DATA", "--out", "o.csv"],
                         ["model"]),
    "score-csv-model": (["score", "DATA", "DATA", "--out", "o.csv"], ["model"]),
    "stream-text-model": (["stream", "--model", "not_model.csv"], ["model"]),
    "stream-missing-model": (["stream", "--model", "nope.npz"], ["nope.npz"]),
}

BAD_FILES = {
    "empty.csv": "",
    "header_only.csv": "a,b,c\n",
    "text_only.csv": "name,city\nann,paris\nbob,rome\n",
    "ragged.csv": "a,b,c\n1,2,3\n4,5\n6,7,8\n",
    "not_model.csv": "this is not a model\n",
}


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory, table):
    d = tmp_path_factory.mktemp("quick")
    data = write_csv(d / "data.csv", *table)
    for name, text in BAD_FILES.items():
        (d / name).write_text(text)
    jobs = {("help", k): v + ["--help"] for k, v in HELP_CASES.items()}
    jobs.update({("usage", k): v[0] for k, v in USAGE_CASES.items()})
    jobs.update({("data", k): v[0] for k, v in DATA_CASES.items()})
    jobs = {k: [str(data) if a == "DATA" else a for a in v] for k, v in jobs.items()}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {k: pool.submit(run_cli, *v, cwd=d, input="") for k, v in jobs.items()}
        results = {k: f.result() for k, f in futures.items()}
    return d, results


@pytest.mark.parametrize("case", list(HELP_CASES))
def test_help(quick_runs, case):
    res = quick_runs[1][("help", case)]
    assert res.returncode == 0, res.stderr
    assert "usage:" in res.stdout.lower()
    for word in HELP_CASES[case] or ["detect", "fit", "score", "stream"]:
        assert word in res.stdout


def test_help_console_script():
    script = os.path.join(os.path.dirname(sys.executable), "isoforest")
    if not os.path.exists(script):
        pytest.skip("no isoforest console script next to the interpreter")
    res = subprocess.run([script, "--help"], capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr
    for sub in ("detect", "fit", "score", "stream"):
        assert sub in res.stdout


def test_program_exit_skips_teardown_but_loses_nothing(tmp_path, stream_model):
    """``python -m isoforest`` leaves through ``cli.run`` with ``os._exit``: every
    byte of a large piped output, the --out file and the alert log must be there,
    with the exit code; in Python, ``main`` returns instead of exiting."""
    rng = np.random.RandomState(5)
    X = rng.randn(30_000, 3)
    X[:40] *= 8.0
    records = "".join(",".join(repr(v) for v in row) + "\n" for row in X.tolist())
    log = tmp_path / "alerts.log"
    res = run_cli("stream", "--model", stream_model, "--alert-log", log, input=records)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == X.shape[0]
    model = load_model(stream_model)
    score = -model.score_samples(X)
    assert [line.rsplit(",", 1)[0] for line in lines] == [repr(v) for v in score.tolist()]
    n_alerts = sum(line.endswith(",1") for line in lines)
    assert n_alerts > 0 and len(log.read_text().splitlines()) == n_alerts
    assert "30000 records scored" in res.stderr

    data = tmp_path / "d.csv"
    data.write_text("a,b,c\n" + records)
    res = run_cli("score", stream_model, data, "--out", tmp_path / "o.csv")
    assert res.returncode == 0, res.stderr
    assert len((tmp_path / "o.csv").read_text().splitlines()) == X.shape[0] + 1
    data.write_text("a,b,c\n1,2\n")
    assert run_cli("score", stream_model, data, "--out", tmp_path / "o2.csv").returncode == 1

    from isoforest import cli

    assert cli.main(["score", str(stream_model), str(data), "--out",
                     str(tmp_path / "o3.csv")]) == 1  # returned, not exited


@pytest.mark.parametrize("case", list(USAGE_CASES))
def test_bad_usage_exits_2(quick_runs, case):
    d, results = quick_runs
    assert_clean_error(results[("usage", case)], 2, USAGE_CASES[case][1])
    assert not (d / "o.csv").exists() and not (d / "m.npz").exists()


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_bad_data_exits_1(quick_runs, case):
    d, results = quick_runs
    assert_clean_error(results[("data", case)], 1, *DATA_CASES[case][1])
    assert not (d / "o.csv").exists() and not (d / "m.npz").exists()


def test_score_input_lacking_model_columns(tmp_path, stream_model):
    (tmp_path / "other.csv").write_text("x,y\n1,2\n")
    res = run_cli("score", stream_model, "other.csv", "--out", "o.csv", cwd=tmp_path)
    assert_clean_error(res, 1, "column")


def test_python_model_without_columns_is_refused_by_cli(tmp_path):
    # a model saved from Python has no column list: the CLI says so (exit 1)
    isoforest.save_model(IsolationForest(n_estimators=5, random_state=0).fit(
        np.random.RandomState(0).randn(50, 2)), tmp_path / "py.npz")
    res = run_cli("stream", "--model", "py.npz", cwd=tmp_path, input="1,2\n")
    assert_clean_error(res, 1, "column")


def test_ragged_row_line_number_counts_blank_lines(tmp_path):
    (tmp_path / "r.csv").write_text("a,b\n1,2\n\n3,4\n5\n")
    res = run_cli("detect", "r.csv", "--out", "o.csv", cwd=tmp_path)
    assert_clean_error(res, 1, "line 5")


def test_detect_zscore_infinite_value_is_bad_data(tmp_path):
    (tmp_path / "inf.csv").write_text("a,b\n1,2\n3,4\n5,1e999\n0,1\n")
    res = run_cli("detect", "inf.csv", "--out", "o.csv", "--method", "zscore",
                  cwd=tmp_path)
    assert_clean_error(res, 1)


def test_npy_file_as_model_is_bad_data(tmp_path):
    np.save(tmp_path / "arr.npy", np.arange(3.0))
    res = run_cli("stream", "--model", "arr.npy", cwd=tmp_path, input="")
    assert_clean_error(res, 1, "model")


@pytest.mark.parametrize("extra", [{"columns": [1, 2, 3]}, ["columns"]],
                         ids=["int-columns", "extra-list"])
def test_cli_refuses_model_with_bad_extra(tmp_path, stream_model, extra):
    with np.load(stream_model, allow_pickle=False) as data:
        entries = {k: data[k] for k in data.files}
    meta = json.loads(bytes(entries["metadata"]).decode())
    meta["extra"] = extra
    entries["metadata"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(tmp_path / "bad.npz", **entries)
    res = run_cli("stream", "--model", "bad.npz", cwd=tmp_path, input="1,2,3\n")
    assert_clean_error(res, 1, "model")


def test_stream_zscore_infinite_value_is_skipped(tmp_path):
    data = write_csv(tmp_path / "train.csv", *make_table(n=200))
    res = run_cli("fit", data, "--model", "z.npz", "--method", "zscore",
                  "--columns", "a,b", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = run_cli("stream", "--model", "z.npz", cwd=tmp_path,
                  input="0,0\ninf,0\n0.5,0.5\n")
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == 2
    assert re.search(r"line 2\b", res.stderr), res.stderr


# ---------------------------------------------------------------- StreamDetector API


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    model = IsolationForest(n_estimators=50, random_state=0).fit(rng.randn(500, 2))
    X = rng.randn(300, 2)
    X[[5, 77, 200, 299]] = [[6, 6], [-6, 5], [7, -7], [9, 9]]
    return model, X


def _collect(det):
    results, events = [], []
    det.on_result = lambda i, s, a: results.append((i, s, a))
    det.handlers = [events.append]
    return results, events


def _check_results(model, X, results, events, index=None):
    index = np.arange(len(X)) if index is None else np.asarray(index)
    expected_score = -model.score_samples(X)
    expected_flag = model.predict(X) == -1
    assert [r[0] for r in results] == index.tolist()  # every row, in order
    np.testing.assert_array_equal([r[1] for r in results], expected_score)
    assert [r[2] for r in results] == expected_flag.tolist()
    # handlers: anomalies only, with their stream positions
    assert [e.index for e in events] == index[expected_flag].tolist()
    np.testing.assert_array_equal([e.anomaly_score for e in events],
                                  expected_score[expected_flag])
    for e in events:
        assert e.decision < 0
        np.testing.assert_array_equal(e.row, X[index.tolist().index(e.index)])


@pytest.mark.parametrize("max_batch", [1, 7, 1024])
def test_stream_detector_iterable(fitted, max_batch):
    model, X = fitted
    det = StreamDetector(model, iter(X.tolist()), max_batch=max_batch)
    results, events = _collect(det)
    det.start().join(timeout=60)
    assert not det._thread.is_alive()
    _check_results(model, X, results, events)
    assert det.n_seen == len(X)
    assert det.n_anomalies == len(events) >= 4
    assert det.n_errors == 0 and det.n_refits == 0


def test_stream_detector_queue(fitted):
    model, X = fitted
    q = queue.Queue()
    det = StreamDetector(model, q, max_batch=16)
    results, events = _collect(det)
    det.start()

    def produce():
        for k, row in enumerate(X):
            q.put(row)
            if k % 50 == 0:
                time.sleep(0.01)  # arrivals in bursts
        q.put(None)

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join()
    det.join(timeout=60)
    assert not det._thread.is_alive()
    _check_results(model, X, results, events)
    assert det.n_seen == len(X) and det.n_anomalies == len(events)


def test_stream_detector_queue_alert_arrives_before_end(fitted):
    """A queue consumer scores what has arrived: no need to wait for a full batch."""
    model, _ = fitted
    q = queue.Queue()
    got = threading.Event()
    det = StreamDetector(model, q, handlers=[lambda e: got.set()])
    det.start()
    q.put([9.0, 9.0])
    assert got.wait(timeout=10)
    q.put(None)
    det.join(timeout=10)
    assert det.n_seen == 1 and det.n_anomalies == 1


def test_stream_detector_malformed_rows(fitted):
    model, X = fitted
    rows = X.tolist()
    bad = {3: [1.0], 10: "abc", 11: [1.0, 2.0, 3.0], 150: ["x", "y"], 299: None}
    source = []
    for i in range(len(rows) + len(bad)):
        source.append(bad[i] if i in bad else rows.pop(0))
    det = StreamDetector(model, source, max_batch=64)
    results, events = _collect(det)
    det.start().join(timeout=60)
    assert det.n_seen == len(source)
    assert det.n_errors == len(bad)
    assert sorted(i for i, _ in det.errors) == sorted(bad)
    good = [i for i in range(len(source)) if i not in bad]
    _check_results(model, X, results, events, index=good)


def test_stream_detector_default_logging_handler(fitted, caplog):
    model, _ = fitted
    with caplog.at_level(logging.WARNING, logger="isoforest.alerts"):
        det = StreamDetector(model, [[0.0, 0.0], [9.0, 9.0], [0.1, 0.0]])
        det.start().join(timeout=30)
    records = [r for r in caplog.records if r.name == "isoforest.alerts"]
    assert det.n_anomalies == 1 and len(records) == 1
    assert "record 1" in records[0].getMessage()


def test_stream_detector_refit_sliding_window(fitted):
    model, X = fitted
    rng = np.random.RandomState(3)
    rows = np.vstack([X, rng.randn(150, 2) + 3.0])  # 450 rows, drifting
    det = StreamDetector(model, rows.tolist(), handlers=[], max_batch=50,
                         refit_every=100, window=200)
    seen_models = []
    det.on_result = lambda i, s, a: seen_models.append(det.model)
    det.start().join(timeout=120)
    assert det.n_seen == len(rows)
    assert det.n_refits == 4  # after rows 100, 200, 300, 400
    assert det.model is not model
    assert len({id(m) for m in seen_models}) == 5  # the swapped models were used
    # the last refit used a fresh copy fitted on the last 200 rows at that time
    expected = IsolationForest(**model.get_params()).fit(rows[200:400])
    np.testing.assert_array_equal(det.model.score_samples(rows[:20]),
                                  expected.score_samples(rows[:20]))


def test_stream_detector_zscore(fitted):
    _, X = fitted
    model = ZScoreDetector().fit(np.random.RandomState(1).randn(500, 2))
    det = StreamDetector(model, X.tolist(), max_batch=10)
    results, events = _collect(det)
    det.start().join(timeout=60)
    _check_results(model, X, results, events)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_stream_detector_nan_row_for_zscore_is_an_error_not_a_crash(fitted):
    _, X = fitted
    model = ZScoreDetector().fit(np.random.RandomState(1).randn(500, 2))
    rows = X[:20].tolist()
    rows[4] = [np.nan, 1.0]
    det = StreamDetector(model, rows, handlers=[])
    results, _ = _collect(det)
    det.handlers = []
    det.start().join(timeout=30)
    assert det.n_errors == 1
    assert [r[0] for r in results] == [i for i in range(20) if i != 4]


def test_stream_detector_context_manager_drops_nothing(fitted):
    model, X = fitted
    rows = np.vstack([X] * 10).tolist()  # 3000 rows
    with StreamDetector(model, rows, handlers=[], max_batch=100) as det:
        pass
    assert det.n_seen == len(rows)


def test_stream_detector_slow_iterable_alerts_promptly(fitted):
    model, _ = fitted
    alerted = threading.Event()
    release = threading.Event()

    def slow_source():
        yield [9.0, 9.0]
        release.wait(timeout=10)  # the source has nothing more for a while
        yield [0.0, 0.0]

    det = StreamDetector(model, slow_source(), handlers=[lambda e: alerted.set()])
    det.start()
    try:
        assert alerted.wait(timeout=1.0)
    finally:
        release.set()
        det.join(timeout=30)


def test_fit_score_stream_with_lof(tmp_path):
    """--method lof: fit saves a novelty LOF, score and stream use it."""
    from isoforest import LocalOutlierFactor

    header, rows = make_table(n=300)
    data = write_csv(tmp_path / "train.csv", header, rows)
    res = run_cli("fit", data, "--model", "lof.npz", "--method", "lof",
                  "--columns", "a,b", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = run_cli("score", "lof.npz", data, "--out", "o.csv", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    _, out_rows = read_csv(tmp_path / "o.csv")
    X = matrix(header, rows, ["a", "b"])
    model = LocalOutlierFactor(novelty=True, n_jobs=-1).fit(X)
    score, flag = scores_of(out_rows)
    np.testing.assert_array_equal(score, -model.score_samples(X))
    np.testing.assert_array_equal(flag, (model.predict(X) == -1).astype(int))
    res = run_cli("stream", "--model", "lof.npz", cwd=tmp_path, input="0,0\n50,50\n")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 2 and lines[1].endswith(",1")

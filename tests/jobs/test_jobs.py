"""The jobs layer (``isoforest.jobs``): the command line's commands as Python
functions. The files they write are the command line's, byte for byte; their
summaries are what the command line prints; their options are checked with
scikit-learn's wording."""

import csv
import subprocess
import sys

import numpy as np
import pytest

from isoforest import IsolationForest, jobs, load_model


@pytest.fixture
def table(tmp_path):
    rng = np.random.RandomState(0)
    X = rng.randn(300, 3)
    X[:5] *= 8
    lines = ["id,a,b,c,note"]
    for i, (a, b, c) in enumerate(X.tolist()):
        b_text = "" if i == 7 else repr(b)  # one missing value
        lines.append(f'{i},{a!r},{b_text},{c!r},"note, {i}"')
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, X


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "isoforest", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_detect_writes_what_the_command_writes(tmp_path, table):
    path, X = table
    s = jobs.detect(str(path), str(tmp_path / "py.csv"), columns="a,b,c",
                    contamination=0.05, explain=2)
    res = run_cli("detect", path, "--out", tmp_path / "cli.csv", "--columns", "a,b,c",
                  "--contamination", "0.05", "--explain", "2", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "py.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()
    assert (s["rows"], s["written"], s["incomplete"], s["missing"]) == (300, 299, 1, "drop")
    assert f"detect: 300 rows read, 299 written, 1 with missing values (dropped), " \
           f"{s['anomalies']} anomalies" in res.stderr
    assert s["seconds"] > 0


def test_fit_then_score(tmp_path, table):
    path, X = table
    model_path = str(tmp_path / "m.iso")
    s = jobs.fit(str(path), model_path, columns="a,c", random_state=3, missing="keep")
    assert s["rows"] == 300 and s["model"] == model_path
    model = load_model(model_path)
    ref = IsolationForest(random_state=3, n_jobs=-1).fit(X[:, [0, 2]])
    assert np.array_equal(model.score_samples(X[:, [0, 2]]), ref.score_samples(X[:, [0, 2]]))
    s = jobs.score(model_path, str(path), str(tmp_path / "o.csv"))
    assert (s["rows"], s["written"], s["incomplete"]) == (300, 300, 0)
    with open(tmp_path / "o.csv", newline="") as f:
        got = [float(row["anomaly_score"]) for row in csv.DictReader(f)]
    assert np.allclose(got, -ref.score_samples(X[:, [0, 2]]), rtol=0, atol=1e-15)


def test_bad_data_raises_data_error(tmp_path, table):
    path, _ = table
    with pytest.raises(jobs.DataError, match="no column named zz"):
        jobs.detect(str(path), str(tmp_path / "o.csv"), columns="zz")
    with pytest.raises(jobs.DataError, match="no model file"):
        jobs.score(str(tmp_path / "missing.iso"), str(path), str(tmp_path / "o.csv"))
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("options, words", [
    ({"method": "knn"}, "The 'method' parameter must be one of"),
    ({"contamination": 0.7}, "The 'contamination' parameter must be None or a float"),
    ({"contamination": True}, "The 'contamination' parameter"),
    ({"missing": "fill"}, "The 'missing' parameter must be 'drop' or 'keep'"),
])
def test_model_options_are_checked(options, words):
    with pytest.raises(ValueError, match=words):
        jobs.ModelOptions(**options)


@pytest.mark.parametrize("options, words", [
    ({}, "stream needs --model"),
    ({"model": "m", "method": "hst"}, "exclude each other"),
    ({"method": "knn"}, "--method must be hst or rcf"),
    ({"method": "hst", "shingle": 4}, "--shingle applies to --method rcf only"),
    ({"method": "rcf", "trees": 0}, "--trees must be an integer >= 1"),
    ({"model": "m", "source": "amqp://h/?queue=q"}, "--source and --sink come together"),
    ({"model": "m", "top_features": -1}, "--top-features must be an integer >= 0"),
    ({"model": "m", "metrics_port": 70000}, r"--metrics-port must be in \[0, 65535\]"),
])
def test_stream_options_are_checked(options, words):
    with pytest.raises(ValueError, match=words):
        jobs.StreamOptions(**options)
    with pytest.raises(ValueError, match=words):
        jobs.stream(**options)


def test_command_line_usage_errors_come_from_the_options(tmp_path):
    res = run_cli("stream", "--method", "rcf", "--trees", "3", "--height", "4", cwd=tmp_path)
    assert res.returncode == 2
    assert "--height applies to --method hst only" in res.stderr

"""``isoforest stream --method hst|rcf``: forests that learn from the stream, through
the real program in a subprocess and real pipes."""

import ctypes
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from isoforest import HalfSpaceTrees, RandomCutForest

TIMEOUT = 120
SMALL_RCF = ["--trees", "6", "--window", "32", "--shingle", "4"]
SMALL_HST = ["--trees", "5", "--window", "40", "--height", "5"]


def stream(args, text, timeout=TIMEOUT):
    return subprocess.run([sys.executable, "-m", "isoforest", "stream", *args],
                          input=text.encode(), capture_output=True, timeout=timeout)


def scores(res):
    lines = res.stdout.decode().splitlines()
    return np.array([float(x.split(",")[0]) for x in lines]), np.array(
        [int(x.split(",")[1]) for x in lines])


def series(n=600, spike=450, seed=0):
    rng = np.random.RandomState(seed)
    v = np.sin(np.arange(n) / 8.0) + 0.05 * rng.randn(n)
    v[spike] += 4.0
    return v


def as_csv(values, header="value"):
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    body = "".join(",".join(repr(float(x)) for x in row) + "\n" for row in values)
    return (header + "\n" if header else "") + body


def assert_bits_equal(a, b):
    assert [v.hex() for v in np.asarray(a, dtype=float).ravel()] == [
        v.hex() for v in np.asarray(b, dtype=float).ravel()]


def likelihood(raw, history=8640, short=10, probation=300, min_sd=1e-3):
    """Numenta's anomaly likelihood, written record by record: the mean of the last
    ``short`` raw scores as a z-score against the ``history`` raw scores before the
    record, through the normal tail, as -log10(tail + 1e-10) / 10."""
    raw = np.asarray(raw, dtype=float)
    out = np.zeros(len(raw))
    for i in range(probation, len(raw)):
        past = raw[max(0, i - history):i]
        mean = math.fsum(past) / len(past)
        sd = max(math.sqrt(max(math.fsum(past * past) / len(past) - mean * mean, 0.0)),
                 min_sd)
        recent = raw[max(0, i - short + 1):i + 1].mean()
        tail = 0.5 * math.erfc((recent - mean) / sd / math.sqrt(2))
        out[i] = min(max(-math.log10(tail + 1e-10) / 10, 0.0), 1.0)
    return out


def scaled(raw, X, by_likelihood=True):
    """The command's score: raw (rcf: its anomaly likelihood), 1 where a value
    leaves the range of the records before it by more than 2% of its width (after
    100 records)."""
    out = likelihood(raw) if by_likelihood else np.asarray(raw, dtype=float).copy()
    X = np.asarray(X, dtype=float).reshape(len(raw), -1)
    for i in range(100, len(raw)):
        lo, hi = X[:i].min(axis=0), X[:i].max(axis=0)
        w = hi - lo
        if ((X[i] > hi + 0.02 * w) | (X[i] < lo - 0.02 * w)).any():
            out[i] = 1.0
    return out


def expected_rcf(values, trees=6, window=32, shingle=4):
    model = RandomCutForest(n_estimators=trees, tree_size=window, shingle_size=shingle,
                            random_state=0)
    raw = model.score_learn(np.asarray(values, dtype=float).reshape(len(values), -1))
    return scaled(raw, values)


def test_likelihood_is_the_same_however_the_stream_is_cut():
    from isoforest.jobs._scaling import AnomalyLikelihood

    raw = np.random.RandomState(0).exponential(size=3000)
    raw[2000:2010] += 20.0  # a burst the likelihood must see
    settings = dict(history=500, short=10, probation=50)
    whole = AnomalyLikelihood(**settings).update(raw)
    np.testing.assert_allclose(whole, likelihood(raw, **settings), rtol=1e-9, atol=1e-12)
    assert whole[:50].max() == 0 and whole[2000:2010].max() > 0.95
    cut = AnomalyLikelihood(**settings)
    parts = []
    for lo, hi in [(0, 1), (1, 7), (7, 600), (600, 601), (601, 3000)]:
        parts.append(cut.update(raw[lo:hi]))
        # through its checkpoint form at every cut, as a restarted stream
        cut = AnomalyLikelihood.from_dict(json.loads(json.dumps(cut.to_dict())))
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    bad = cut.to_dict()
    bad["sums"] = bad["sums"][:-1]
    with pytest.raises(ValueError, match="does not fit"):
        AnomalyLikelihood.from_dict(bad)
    for key, value in [("history", 2**63 - 1), ("history", 2**80), ("n", 2**63 - 1)]:
        with pytest.raises(ValueError, match="does not fit"):
            AnomalyLikelihood.from_dict(dict(cut.to_dict(), **{key: value}))


@pytest.mark.parametrize("history, short", [(8640, 10), (40, 10), (7, 8), (0, 1)])
def test_likelihood_of_lone_records_is_the_batch_likelihood(history, short):
    """One score a call (the stream's lone records take a path of their own), past
    the point where the ring of prefix sums wraps, gives the batch's numbers bit for
    bit, a flat run (the deviation at its floor) included."""
    from isoforest.jobs._scaling import AnomalyLikelihood

    raw = np.random.RandomState(1).exponential(size=1500)
    raw[900:910] += 30.0
    raw[1100:1300] = 0.5
    settings = dict(history=history, short=short, probation=20)
    whole = AnomalyLikelihood(**settings).update(raw)
    one = AnomalyLikelihood(**settings)
    got = np.concatenate([one.update(raw[i:i + 1]) for i in range(len(raw))])
    assert_bits_equal(got, whole)
    assert whole[900:910].max() > 0.25  # the burst is seen
    mixed = AnomalyLikelihood(**settings)
    cuts = [0, 1, 2, 5, 6, 700, 701, 702, 1500]
    got = np.concatenate([mixed.update(raw[a:b]) for a, b in zip(cuts, cuts[1:])])
    assert_bits_equal(got, whole)


def test_likelihood_state_holds_what_it_has_seen_not_its_settings():
    """A state's memory follows the records it holds: one whose history could hold
    10**12 scores, three records into a stream, loads at once and goes on as a
    fresh one with those settings."""
    from isoforest.jobs._scaling import AnomalyLikelihood

    raw = np.random.RandomState(2).rand(50)
    settings = dict(history=10**12, short=3, probation=5)
    fresh = AnomalyLikelihood(**settings)
    expected = fresh.update(raw)
    start = AnomalyLikelihood(**settings)
    start.update(raw[:3])
    loaded = AnomalyLikelihood.from_dict(json.loads(json.dumps(start.to_dict())))
    assert loaded._sums.nbytes < 1024
    assert_bits_equal(np.concatenate([expected[:3], loaded.update(raw[3:])]), expected)


def test_range_rule_and_scaling_of_lone_records_are_the_batch_ones():
    from isoforest.jobs._scaling import OnlineMinMax, RangeGuard

    X = np.random.RandomState(3).randn(400, 3)
    X[:150, 2] = 1.0  # a constant column, then a level it never held
    X[99, 0], X[100, 0] = 20.0, 40.0  # the rule starts at record 100
    X[250] = [60.0, 0.0, 0.0]
    X[300, 1] = -9.0
    whole = RangeGuard(3).update(X)
    guard = RangeGuard(3)
    np.testing.assert_array_equal(
        np.concatenate([guard.update(X[i:i + 1]) for i in range(400)]), whole)
    assert whole[[100, 250, 300]].all() and not whole[:100].any()
    scaled = OnlineMinMax(3).update_transform(X)
    scaler = OnlineMinMax(3)
    assert_bits_equal(np.concatenate([scaler.update_transform(X[i:i + 1])
                                      for i in range(400)]), scaled)


@pytest.mark.parametrize("method", ["rcf", "hst"])
def test_learner_scores_lone_records_as_a_batch(method):
    """The command's learner on one record a call (a live stream's usual batch)
    and on the whole stream at once: the same scores, bit for bit."""
    from isoforest.jobs._learner import StreamLearner

    X = series(700)[:, None]
    small = dict(trees=4, window=32, shingle=4) if method == "rcf" else dict(
        trees=4, window=40, height=5)
    whole = StreamLearner(method, ["value"], **small).score_samples(X)
    lone = StreamLearner(method, ["value"], **small)
    got = np.concatenate([lone.score_samples(X[i:i + 1]) for i in range(len(X))])
    assert_bits_equal(got, whole)
    assert (-whole).max() > 0.9


def test_rcf_learns_from_the_stream_and_flags_the_spike():
    v = series()
    res = stream(["--method", "rcf", *SMALL_RCF], as_csv(v))
    assert res.returncode == 0, res.stderr.decode()
    s, flag = scores(res)
    assert s.shape == (len(v),)
    assert np.all((s >= 0) & (s <= 1))
    # the command's scores are the library's: score_learn, through the likelihood
    # (the command sums in another order: round-off apart)
    np.testing.assert_allclose(s, expected_rcf(v), rtol=1e-9, atol=1e-12)
    assert flag[450:454].any()
    assert b"anomaly at line" in res.stderr and b"top_features=value" in res.stderr


def test_rcf_without_header_takes_the_first_line_as_a_record():
    v = series(200, spike=150)
    with_header = stream(["--method", "rcf", *SMALL_RCF], as_csv(v))
    bare = stream(["--method", "rcf", *SMALL_RCF], as_csv(v, header=None))
    assert bare.returncode == 0, bare.stderr.decode()
    assert bare.stdout == with_header.stdout


def test_hst_two_columns_scaled_online():
    rng = np.random.RandomState(1)
    X = rng.normal(size=(500, 2)) * [1.0, 100.0] + [0.0, 1000.0]
    X[400] = [6.0, 1700.0]
    res = stream(["--method", "hst", *SMALL_HST], as_csv(X, header="a,b"))
    assert res.returncode == 0, res.stderr.decode()
    s, _ = scores(res)
    # the library with the same online min-max scaling (each record counted first)
    lo = np.minimum.accumulate(X)
    hi = np.maximum.accumulate(X)
    w = hi - lo
    Z = np.where(w > 0, (X - lo) / np.where(w > 0, w, 1), 0.0)
    raw = HalfSpaceTrees(n_estimators=5, height=5, window_size=40,
                         random_state=0).score_learn(Z)
    np.testing.assert_array_equal(s, scaled(raw, X, by_likelihood=False))
    assert s[400] > 0.95


def test_hst_with_limits_is_not_scaled():
    rng = np.random.RandomState(2)
    X = rng.uniform([0, 100], [1, 200], size=(300, 2))
    res = stream(["--method", "hst", *SMALL_HST, "--limits", "0:1,100:200"],
                 as_csv(X, header="a,b"))
    assert res.returncode == 0, res.stderr.decode()
    s, _ = scores(res)
    raw = HalfSpaceTrees(n_estimators=5, height=5, window_size=40,
                         limits=[[0, 1], [100, 200]], random_state=0).score_learn(X)
    np.testing.assert_array_equal(s, scaled(raw, X, by_likelihood=False))
    wrong = stream(["--method", "hst", "--limits", "0:1"], as_csv(X, header="a,b"))
    assert wrong.returncode == 1 and "1 ranges for 2 columns" in wrong.stderr.decode()


def test_state_resumes_exactly(tmp_path):
    v = series(700, spike=600)
    state = tmp_path / "state.npz"
    whole = stream(["--method", "rcf", *SMALL_RCF], as_csv(v))
    first = stream(["--method", "rcf", *SMALL_RCF, "--state", state], as_csv(v[:333]))
    assert first.returncode == 0 and state.exists()
    second = stream(["--method", "rcf", "--state", state], as_csv(v[333:]))
    assert second.returncode == 0, second.stderr.decode()
    assert first.stdout + second.stdout == whole.stdout


@pytest.mark.parametrize("method", ["hst", "rcf"])
def test_state_saved_on_one_thread_resumes_on_all_cores(tmp_path, method):
    """The command runs its forest on all cores; a state whose model was saved with
    another ``n_jobs`` (one thread, say) resumes on all cores, with the same scores."""
    from isoforest.jobs._learner import StreamLearner

    X = series(300, spike=250)[:, None]
    state = tmp_path / "state.npz"
    whole = StreamLearner(method, ["v"], trees=4, window=32)
    expected = whole.score_samples(X)
    first = StreamLearner(method, ["v"], trees=4, window=32)
    assert first.model.n_jobs == -1
    head = first.score_samples(X[:100])
    first.model.n_jobs = None
    first.save(state)
    resumed = StreamLearner.load(state)
    assert resumed.model.n_jobs == -1
    np.testing.assert_array_equal(np.concatenate([head, resumed.score_samples(X[100:])]),
                                  expected)


def _other_thread(pid):
    """A thread of process ``pid`` other than its main one that does not block SIGTERM."""
    bit = 1 << (signal.SIGTERM - 1)
    for tid in sorted(int(t) for t in os.listdir(f"/proc/{pid}/task")):
        if tid == pid:
            continue
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            blocked = next(int(line.split()[1], 16) for line in f if line.startswith("SigBlk"))
        if not blocked & bit:
            return tid
    return None


@pytest.mark.parametrize("to", ["process", "other_thread"])
def test_state_is_saved_on_sigterm(tmp_path, to):
    # a SIGTERM taken by one of a library's threads must stop the stream as well:
    # the main thread is then blocked in no read the signal would interrupt
    state = tmp_path / "state.npz"
    p = subprocess.Popen([sys.executable, "-m", "isoforest", "stream", "--method", "hst",
                          *SMALL_HST, "--state", str(state)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(as_csv(np.random.RandomState(0).rand(100)).encode())
    p.stdin.flush()
    got = b""
    deadline = time.monotonic() + 60
    while got.count(b"\n") < 100 and time.monotonic() < deadline:
        got += p.stdout.read1(1 << 16)
    if to == "process":
        p.send_signal(signal.SIGTERM)
    else:
        tid = _other_thread(p.pid)
        assert tid is not None, "the stream runs no other thread to signal"
        assert ctypes.CDLL(None, use_errno=True).tgkill(p.pid, tid, signal.SIGTERM) == 0
    p.wait(timeout=60)
    assert p.returncode == 0
    assert state.exists()
    from isoforest import load_model

    model = load_model(state)
    assert model.n_samples_seen_ == 100


def test_lone_record_answered_before_the_next_arrives():
    p = subprocess.Popen([sys.executable, "-m", "isoforest", "stream", "--method", "rcf",
                          *SMALL_RCF], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        p.stdin.write(b"value\n1.5\n")
        p.stdin.flush()
        line = p.stdout.readline()
        assert line == b"0.0,0\n"
        p.stdin.write(b"2.5\n")
        p.stdin.flush()
        assert p.stdout.readline().endswith(b",0\n")
    finally:
        p.stdin.close()
        p.wait(timeout=60)
    assert p.returncode == 0


def test_malformed_lines_are_skipped_with_a_reason():
    text = "a,b\n1,2\n3\nx,4\n5,6\n\n7,8\n"
    res = stream(["--method", "hst", *SMALL_HST], text)
    assert res.returncode == 0
    assert len(res.stdout.decode().splitlines()) == 3
    err = res.stderr.decode()
    assert "line 3: 1 fields, expected 2; skipped" in err
    assert "line 4: not a number: 'x'; skipped" in err
    assert "3 records scored" in err and "2 malformed lines skipped" in err


@pytest.mark.parametrize("args, text, message", [
    (["--method", "rcf"], "", "empty stream"),
    (["--method", "rcf"], "\n\n", "empty stream"),
    (["--method", "rcf"], "a,a\n1,2\n", "names a column twice"),
])
def test_bad_input_exits_1(args, text, message):
    res = stream(args, text)
    assert res.returncode == 1
    assert message in res.stderr.decode()


@pytest.mark.parametrize("args, message", [
    ([], "stream needs --model"),
    (["--method", "hst", "--model", "m.npz"], "exclude each other"),
    (["--method", "hst", "--shingle", "4"], "--shingle applies to --method rcf only"),
    (["--method", "rcf", "--height", "4"], "--height applies to --method hst only"),
    (["--method", "rcf", "--trees", "0"], "must be >= 1"),
    (["--method", "rcf", "--limits", "0:1"], "--limits applies to --method hst only"),
    (["--method", "hst", "--limits", "1:0"], "needs finite LO < HI"),
    (["--method", "hst", "--limits", "a"], "not a LO:HI range"),
])
def test_bad_usage_exits_2(args, message):
    res = stream(args, "v\n1\n")
    assert res.returncode == 2
    assert message in res.stderr.decode()


def test_state_of_another_method_is_refused(tmp_path):
    state = tmp_path / "s.npz"
    assert stream(["--method", "hst", *SMALL_HST, "--state", state], "v\n1\n2\n").returncode == 0
    res = stream(["--method", "rcf", "--state", state], "v\n1\n")
    assert res.returncode == 1
    assert "holds a hst stream" in res.stderr.decode()


def test_damaged_state_is_refused(tmp_path):
    state = tmp_path / "s.npz"
    state.write_bytes(b"not a model")
    res = stream(["--method", "rcf", "--state", state], "v\n1\n")
    assert res.returncode == 1
    assert "invalid model file" in res.stderr.decode()

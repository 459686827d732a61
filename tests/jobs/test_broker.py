"""``isoforest stream --source amqp://...``: a real RabbitMQ (a private node started
here), the real program in a subprocess, real kills; metrics scraped by a real
Prometheus."""

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

from _services import RABBITMQ_SERVER, Prometheus, RabbitMQ, free_port, need, need_module
from isoforest import load_model
from isoforest.stream import _anomaly_scores

TIMEOUT = 120
TESTS = Path(__file__).resolve().parents[1]
COLUMNS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory):
    need(RABBITMQ_SERVER, "rabbitmq-server")
    need_module("pika", "amqp")
    node = RabbitMQ(tmp_path_factory.mktemp("rabbitmq"))
    try:
        yield node.start()
    finally:
        node.stop()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("broker_model")
    X = np.random.RandomState(0).randn(500, 3)
    (d / "train.csv").write_text("a,b,c\n" + "".join(
        f"{a!r},{b!r},{c!r}\n" for a, b, c in X.tolist()))
    res = subprocess.run([sys.executable, "-m", "isoforest", "fit", "train.csv", "--model",
                          "m.npz", "--contamination", "0.05"], cwd=d, capture_output=True,
                         timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr.decode()
    return d / "m.npz"


def names():
    tag = uuid.uuid4().hex[:8]
    return f"in-{tag}", f"out-{tag}", f"alerts-{tag}"


def start(rabbit, args, queues, *extra):
    q_in, q_out, q_alerts = queues
    cmd = [sys.executable, "-m", "isoforest", "stream", *map(str, args),
           "--source", f"{rabbit.url}?queue={q_in}", "--sink", f"{rabbit.url}?queue={q_out}",
           "--alerts", f"{rabbit.url}?queue={q_alerts}", *map(str, extra)]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def connect(rabbit):
    import pika

    return pika.BlockingConnection(pika.URLParameters(rabbit.url))


def publish(rabbit, queue, bodies, ids=None, declare=None):
    import pika

    conn = connect(rabbit)
    ch = conn.channel()
    ch.queue_declare(queue, durable=True, arguments=declare)
    ch.confirm_delivery()
    for k, body in enumerate(bodies):
        props = pika.BasicProperties(delivery_mode=2,
                                     message_id=None if ids is None else ids[k])
        ch.basic_publish("", queue, body, props)
    conn.close()


def collect(rabbit, queue, until, timeout=TIMEOUT):
    """Messages of ``queue`` (acknowledged) until ``until(messages)`` or the timeout."""
    conn = connect(rabbit)
    ch = conn.channel()
    ch.queue_declare(queue, durable=True)
    got = []
    end = time.monotonic() + timeout
    while not until(got) and time.monotonic() < end:
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            conn.process_data_events(time_limit=0.05)
            continue
        got.append((props.message_id, body))
    conn.close()
    return got


def count(rabbit, queue):
    conn = connect(rabbit)
    n = conn.channel().queue_declare(queue, passive=True).method.message_count
    conn.close()
    return n


def lines(messages):
    return [json.loads(line) for _, body in messages for line in body.decode().splitlines()]


def records(n, seed):
    X = np.random.RandomState(seed).randn(n, 3)
    X[::17] = [5.0, -5.0, 5.0]
    return X


def as_json(X):
    return "".join(json.dumps(dict(zip(COLUMNS, row))) + "\n" for row in X.tolist()).encode()


def as_csv(X, header=False):
    text = "a,b,c\n" if header else ""
    return (text + "".join(",".join(repr(v) for v in row) + "\n"
                           for row in X.tolist())).encode()


def stop(p, sig=signal.SIGTERM):
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    return p.returncode, err.decode()


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def test_json_and_csv_messages_scored_as_in_memory(rabbit, model):
    queues = names()
    sizes = [1, 3, 20, 1, 7] * 8
    mats = [records(n, seed) for seed, n in enumerate(sizes)]
    bodies = [as_json(X) if k % 2 else as_csv(X, header=k % 4 == 0)
              for k, X in enumerate(mats)]
    ids = [f"m{k}" for k in range(len(bodies))]
    publish(rabbit, queues[0], bodies, ids)
    p = start(rabbit, ["--model", model], queues)
    try:
        got = collect(rabbit, queues[1], lambda m: len(m) >= len(bodies))
    finally:
        code, err = stop(p)
    assert code == 0, err
    assert sorted(m for m, _ in got) == sorted(ids)
    fitted = load_model(model)
    by_id = {m: [json.loads(x) for x in body.decode().splitlines()] for m, body in got}
    n_flagged = 0
    for mid, X in zip(ids, mats):
        score, decision = _anomaly_scores(fitted, X)
        res = by_id[mid]
        assert [r["record"] for r in res] == list(range(X.shape[0]))
        assert all(r["message_id"] == mid for r in res)
        assert [r["anomaly_score"] for r in res] == score.tolist()  # to the bit
        assert [r["is_anomaly"] for r in res] == (decision < 0).astype(int).tolist()
        n_flagged += int((decision < 0).sum())
    assert n_flagged > 0
    alerts = lines(collect(rabbit, queues[2], lambda m: len(lines(m)) >= n_flagged,
                           timeout=30))
    assert len(alerts) == n_flagged
    assert all(a["is_anomaly"] == 1 and len(a["top_features"]) == 3
               and set(a["top_features"]) <= set(COLUMNS) for a in alerts)
    assert count(rabbit, queues[0]) == 0


BAD = [
    (b"\xff\xfe\x00", "not UTF-8", "encoding"),
    (b'{"a": 1, "b": 2', "not JSON lines", "json"),
    (b'{"a": 1, "b": 2}\n', "missing column(s) c", "columns"),
    (b'{"a": 1, "b": 2, "c": 3, "d": 4}\n', "unknown column(s) d", "columns"),
    (b'{"a": 1, "b": 2, "c": "x"}\n', "not a number in column 'c'", "not_a_number"),
    (b'{"a": 1' + b"0" * 400 + b', "b": 2, "c": 3}\n', "too large for a float", "not_a_number"),
    (b"1,2\n", "2 fields, expected 3", "fields"),
    (b"1,x,3\n", "not a number", "not_a_number"),
    (b"1," + b"0" * 2000 + b",3\n", "more than the --max-message-bytes 1000", "oversized"),
    (b"  \n", "no record", "empty"),
]


def test_malformed_messages_rejected_with_a_reason_and_counted(rabbit, model):
    queues = names()
    dlq = queues[0] + "-dead"
    publish(rabbit, dlq, [])
    bodies = [b for b, _, _ in BAD] + [as_json(records(2, 0))]
    ids = [f"bad{k}" for k in range(len(BAD))] + ["good"]
    publish(rabbit, queues[0], bodies, ids,
            declare={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq})
    port = free_port()
    p = start(rabbit, ["--model", model, "--max-message-bytes", 1000,
                       "--metrics-port", port, "--metrics-addr", "127.0.0.1"], queues)
    try:
        got = collect(rabbit, queues[1], lambda m: len(m) >= len(bodies))
        text = scrape(port)
    finally:
        code, err = stop(p)
    assert code == 0, err
    out = {m: body.decode() for m, body in got}
    assert sorted(out) == sorted(ids)
    for k, (_, reason, label) in enumerate(BAD):
        line = json.loads(out[f"bad{k}"])
        assert reason in line["error"], (k, line)
        assert f"message bad{k}: " in err
    assert [json.loads(x)["record"] for x in out["good"].splitlines()] == [0, 1]
    # rejected without requeueing: dead-lettered, never delivered again
    assert count(rabbit, dlq) == len(BAD)
    assert count(rabbit, queues[0]) == 0
    labels = [label for _, _, label in BAD]
    for label in set(labels):
        assert metric(text, f'isoforest_malformed_total{{reason="{label}"}}') == \
            labels.count(label), label
    assert metric(text, "isoforest_records_total") == 2


def test_sigterm_drains_acknowledged_messages_only(rabbit, model):
    queues = names()
    n = 3000
    X = records(n, 1)
    publish(rabbit, queues[0], [as_csv(X[k:k + 1]) for k in range(n)],
            [str(k) for k in range(n)])
    p = start(rabbit, ["--model", model, "--prefetch", 50], queues)
    first = collect(rabbit, queues[1], lambda m: len(m) >= 200)
    code, err = stop(p)
    assert code == 0, err
    rest = collect(rabbit, queues[1], lambda m: False, timeout=1)
    done = [m for m, _ in first + rest]
    assert len(done) == len(set(done))  # nothing scored twice
    # every message is either answered or back in the queue, none is both
    assert len(done) + count(rabbit, queues[0]) == n
    assert "messages (" in err and "scored" in err


@pytest.mark.slow
def test_kill9_loses_nothing(rabbit, model):
    """100,000 records in 1,000 messages; the consumer is killed with SIGKILL at three
    random moments and restarted: every record gets its result, a message answered
    twice has the same results both times."""
    queues = names()
    n_msg, per = 1000, 100
    X = records(n_msg * per, 2)
    bodies = [as_json(X[k * per:(k + 1) * per]) if k % 2 else as_csv(X[k * per:(k + 1) * per])
              for k in range(n_msg)]
    ids = [f"k{k}" for k in range(n_msg)]
    publish(rabbit, queues[0], bodies, ids)
    rng = random.Random(0)
    got = []
    for kill in range(3):
        p = start(rabbit, ["--model", model, "--prefetch", 20], queues)
        target = len({m for m, _ in got}) + rng.randint(20, 250)
        got += collect(rabbit, queues[1], lambda m: len({i for i, _ in got + m}) >= target)
        time.sleep(rng.random() * 0.05)
        p.kill()
        p.wait(timeout=30)
    p = start(rabbit, ["--model", model], queues)
    try:
        got += collect(rabbit, queues[1], lambda m: len({i for i, _ in got + m}) >= n_msg)
        time.sleep(0.5)
    finally:
        code, err = stop(p)
    got += collect(rabbit, queues[1], lambda m: False, timeout=1)
    assert code == 0, err
    seen = {}
    for mid, body in got:
        if mid in seen:
            assert seen[mid] == body, mid  # a duplicate is the very same result
        seen[mid] = body
    assert sorted(seen) == sorted(ids)
    fitted = load_model(model)
    score = _anomaly_scores(fitted, X)[0]
    for k, mid in enumerate(ids):
        res = [json.loads(x) for x in seen[mid].decode().splitlines()]
        assert [r["anomaly_score"] for r in res] == score[k * per:(k + 1) * per].tolist()
    assert count(rabbit, queues[0]) == 0


def test_reconnects_when_the_broker_restarts(rabbit, model):
    queues = names()
    port = free_port()
    publish(rabbit, queues[0], [as_csv(records(3, 0))], ["before"])
    p = start(rabbit, ["--model", model, "--metrics-port", port, "--metrics-addr",
                       "127.0.0.1"], queues)
    try:
        assert [m for m, _ in collect(rabbit, queues[1], lambda m: len(m) >= 1)] == ["before"]
        rabbit.restart_app()
        publish(rabbit, queues[0], [as_csv(records(3, 1))], ["after"])
        assert [m for m, _ in collect(rabbit, queues[1], lambda m: len(m) >= 1)] == ["after"]
        text = scrape(port)
    finally:
        code, err = stop(p)
    assert code == 0, err
    assert "broker connection lost" in err
    assert metric(text, "isoforest_reconnects_total") >= 1


def test_learning_stream_over_the_broker_equals_stdin(rabbit, tmp_path):
    queues = names()
    X = records(300, 3)
    publish(rabbit, queues[0], [as_json(X[k:k + 10]) for k in range(0, 300, 10)],
            [str(k) for k in range(30)])
    args = ["--method", "hst", "--trees", 5, "--window", 40, "--height", 5]
    state = tmp_path / "state.npz"
    p = start(rabbit, [*args, "--columns", "a,b,c", "--state", state], queues)
    try:
        got = collect(rabbit, queues[1], lambda m: len(m) >= 30)
    finally:
        code, err = stop(p)
    assert code == 0, err
    assert state.exists()
    broker = [r["anomaly_score"] for r in sorted(lines(got), key=lambda r: (
        int(r["message_id"]), r["record"]))]
    res = subprocess.run([sys.executable, "-m", "isoforest", "stream", *map(str, args)],
                         input=as_csv(X, header=True), capture_output=True, timeout=TIMEOUT)
    stdin = [float(x.split(",")[0]) for x in res.stdout.decode().splitlines()]
    assert broker == stdin


def dashboard_queries():
    from isoforest.deploy import path

    with open(path("grafana-dashboard.json")) as f:
        dash = json.load(f)
    return [t["expr"] for p in dash["panels"] for t in p["targets"]]


def test_prometheus_scrapes_the_stdin_stream(model, tmp_path):
    need("prometheus", "prometheus")
    need_module("prometheus_client", "metrics")
    port = free_port()
    p = subprocess.Popen([sys.executable, "-m", "isoforest", "stream", "--model", str(model),
                          "--metrics-port", str(port), "--metrics-addr", "127.0.0.1"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    prom = Prometheus(tmp_path, [f"127.0.0.1:{port}"]).start()
    try:
        X = records(1000, 4)
        p.stdin.write(as_csv(X) + b"1,x,3\n")
        p.stdin.flush()
        want = {"isoforest_records_total": 1000.0,
                'isoforest_malformed_total{reason="not_a_number"}': 1.0}
        end = time.monotonic() + 60
        values = {}
        while time.monotonic() < end and values != want:
            for q in want:
                url = f"{prom.url}/api/v1/query?query={urllib.parse.quote(q)}"
                with urllib.request.urlopen(url, timeout=5) as r:
                    res = json.load(r)["data"]["result"]
                if res:
                    values[q] = float(res[0]["value"][1])
            time.sleep(0.5)
        assert values == want
        url = f"{prom.url}/api/v1/query?query=isoforest_model_info"
        with urllib.request.urlopen(url, timeout=5) as r:
            info = json.load(r)["data"]["result"][0]["metric"]
        assert info["kind"] == "IsolationForest" and info["features"] == "a,b,c"
        # every query of the shipped Grafana dashboard runs and finds its series
        time.sleep(2)  # two scrapes at least for rate()
        for expr in dashboard_queries():
            url = f"{prom.url}/api/v1/query?query={urllib.parse.quote(expr)}"
            with urllib.request.urlopen(url, timeout=5) as r:
                res = json.load(r)
            assert res["status"] == "success" and res["data"]["result"], expr
    finally:
        prom.stop()
        p.stdin.close()
        p.wait(timeout=60)
    assert p.returncode == 0


@pytest.mark.parametrize("args, extra", [
    (["--source", "amqp://localhost/%2F?queue=a", "--sink", "amqp://localhost/%2F?queue=b"],
     "isoforest[amqp]"),
    (["--metrics-port", "0"], "isoforest[metrics]"),
])
def test_a_missing_extra_is_named(model, args, extra):
    script = TESTS / "_without_extras.py"
    res = subprocess.run([sys.executable, str(script), "stream", "--model", str(model), *args],
                         input=b"", capture_output=True, timeout=TIMEOUT,
                         env=dict(os.environ, PYTHONPATH=str(TESTS.parent)))
    assert res.returncode == 1, res.stderr.decode()
    assert f"pip install {extra}" in res.stderr.decode()


@pytest.mark.parametrize("args, message", [
    (["--source", "amqp://h/%2F?queue=a"], "--source and --sink come together"),
    (["--alerts", "amqp://h/%2F?queue=a"], "--alerts applies to --source"),
    (["--metrics-port", "70000"], "--metrics-port must be in [0, 65535]"),
])
def test_broker_usage_errors_exit_2(model, args, message):
    res = subprocess.run([sys.executable, "-m", "isoforest", "stream", "--model", str(model),
                          *args], input=b"", capture_output=True, timeout=TIMEOUT)
    assert res.returncode == 2 and message in res.stderr.decode(), res.stderr.decode()


def test_a_source_without_a_queue_exits_1(model):
    need_module("pika", "amqp")
    res = subprocess.run([sys.executable, "-m", "isoforest", "stream", "--model", str(model),
                          "--source", "amqp://h/%2F", "--sink", "amqp://h/%2F?queue=b"],
                         input=b"", capture_output=True, timeout=TIMEOUT)
    assert res.returncode == 1 and "names no queue" in res.stderr.decode()

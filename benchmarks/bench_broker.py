"""The stream in production, side by side in one run: ``isoforest stream`` through
RabbitMQ against a bare pika loop moving the same messages, and the stdin stream at
the defaults a user gets.

Usage::

    python benchmarks/bench_broker.py [--repeat R] [--messages N] [--no-readme]

* Broker throughput: a private RabbitMQ node (Debian's ``rabbitmq-server``, on
  loopback) holds N messages of one record and N / 100 messages of 1,000 records
  (10 columns of Gaussian noise, CSV). Each consumer is its own process and drains
  them: the bare loop (pika: consume with the same prefetch, publish the body back
  with a publisher confirm, acknowledge; the least any at-least-once consumer does)
  and ``isoforest stream --model M --source ... --sink ... --alerts ...``. Each
  reports the time from its first delivery to its last acknowledgement; medians of
  ``--repeat`` interleaved runs.
* Broker latency: one message at a time, published and its result received by a
  client (its round trip through the broker and the consumer), 300 calls after 50
  warm-up ones, for both consumers.
* stdin at the defaults: ``isoforest fit`` with ``auto`` contamination on 20,000 of
  the records, then ``cat`` 1,000,000 records into ``isoforest stream`` (3 top
  features per alert), best of ``--repeat``; and one record's round trip.

Writes ``benchmarks/results/broker.{json,md}`` and the table (in README.md or docs/) between the
``bench:broker`` markers.
"""

import argparse
import json
import os
import signal
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
sys.path.insert(0, os.path.join(ROOT, "tests"))

from _services import RabbitMQ  # noqa: E402
from bench_io import ENV, PY, stream_latency, stream_throughput  # noqa: E402
from run import RESULTS, machine, update_readme, versions  # noqa: E402

BARE = r"""
import signal, sys, time
import pika

url, q_in, q_out, prefetch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
conn = pika.BlockingConnection(pika.URLParameters(url))
ch = conn.channel()
ch.basic_qos(prefetch_count=prefetch)
out = conn.channel()
out.confirm_delivery()
got, stop = [], []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
ch.basic_consume(q_in, lambda c, m, p, body: got.append((m, p, body)))
n, t0, t1 = 0, None, None
while not stop:
    conn.process_data_events(time_limit=0.25)
    if got and t0 is None:
        t0 = time.perf_counter()
    batch, got[:] = list(got), []
    for m, p, body in batch:
        out.basic_publish("", q_out, body, pika.BasicProperties(
            delivery_mode=2, message_id=p.message_id), mandatory=True)
        ch.basic_ack(m.delivery_tag)
        n += 1
        t1 = time.perf_counter()
print(f"{n} messages; {0.0 if t0 is None else t1 - t0:.3f} s from the first delivery",
      file=sys.stderr)
conn.close()
"""


def connect(url):
    import pika

    return pika.BlockingConnection(pika.URLParameters(url))


def fill(url, queue, bodies):
    import pika

    conn = connect(url)
    ch = conn.channel()
    ch.queue_declare(queue, durable=True)
    ch.queue_purge(queue)
    for k, body in enumerate(bodies):
        ch.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2,
                                                               message_id=str(k)))
    while ch.queue_declare(queue, passive=True).method.message_count < len(bodies):
        time.sleep(0.05)
    conn.close()


def queue_count(url, queue):
    conn = connect(url)
    n = conn.channel().queue_declare(queue, durable=True).method.message_count
    conn.close()
    return n


def purge(url, *queues):
    conn = connect(url)
    ch = conn.channel()
    for q in queues:
        ch.queue_declare(q, durable=True)
        ch.queue_purge(q)
    conn.close()


def consumer(kind, url, model, prefetch):
    q = f"{url}?queue="
    if kind == "bare":
        cmd = [PY, "-c", BARE, url, "in", "out", str(prefetch)]
    else:
        cmd = [PY, "-m", "isoforest", "stream", "--model", model, "--source", q + "in",
               "--sink", q + "out", "--alerts", q + "alerts", "--prefetch", str(prefetch)]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=ENV)


def drain(kind, url, model, bodies, prefetch=1000, timeout=600):
    """Seconds from the consumer's first delivery to its last acknowledgement."""
    purge(url, "in", "out", "alerts")
    fill(url, "in", bodies)
    p = consumer(kind, url, model, prefetch)
    end = time.monotonic() + timeout
    while queue_count(url, "out") < len(bodies):
        if time.monotonic() > end or p.poll() is not None:
            p.kill()
            raise RuntimeError(f"{kind}: {p.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=60)[1].decode()
    line = next(x for x in err.splitlines() if "from the first delivery" in x)
    return float(line.split(";")[-1].split()[0])


def round_trips(kind, url, model, body, n_calls=300, warmup=50):
    import pika

    purge(url, "in", "out", "alerts")
    p = consumer(kind, url, model, 1000)
    conn = connect(url)
    ch = conn.channel()
    ch.confirm_delivery()
    got = []
    ch.basic_consume("out", lambda c, m, props, b: got.append(m.delivery_tag), auto_ack=True)
    lat = []
    try:
        for k in range(n_calls + warmup):
            t0 = time.perf_counter()
            ch.basic_publish("", "in", body, pika.BasicProperties(message_id=str(k)))
            end = time.monotonic() + 60
            while not got:
                conn.process_data_events(time_limit=0.01)
                if time.monotonic() > end:
                    raise RuntimeError(f"{kind}: no result")
            lat.append(time.perf_counter() - t0)
            got.clear()
    finally:
        conn.close()
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=60)
    lat = sorted(lat[warmup:])
    return {"calls": len(lat), "median_ms": statistics.median(lat) * 1e3,
            "p99_ms": lat[int(0.99 * len(lat))] * 1e3, "max_ms": lat[-1] * 1e3}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--stdin-records", type=int, default=1_000_000)
    ap.add_argument("--no-readme", action="store_true")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="isoforest-bench-broker-")
    rng = np.random.RandomState(0)
    X = rng.randn(max(args.stdin_records, args.messages * 10), 10)
    lines = [",".join(r) for r in np.char.mod("%.6f", X).tolist()]
    records = os.path.join(tmp, "records.csv")
    with open(records, "w") as f:
        f.write("\n".join(lines[: args.stdin_records]) + "\n")
    train = os.path.join(tmp, "train.csv")
    with open(train, "w") as f:
        f.write(",".join(f"x{j}" for j in range(10)) + "\n" + "\n".join(lines[:20000]) + "\n")
    model = os.path.join(tmp, "auto.npz")
    subprocess.run([PY, "-m", "isoforest", "fit", train, "--model", model], check=True,
                   env=ENV, capture_output=True)

    node = RabbitMQ(os.path.join(tmp, "rabbitmq")).start()
    result = {"machine": machine(), "versions": versions(), "repeat": args.repeat,
              "model": "isoforest fit (IsolationForest, 100 trees, contamination auto), "
                       "10 columns"}
    try:
        shapes = {1: [(line + "\n").encode() for line in lines[: args.messages]],
                  1000: [("\n".join(lines[k: k + 1000]) + "\n").encode()
                         for k in range(0, args.messages * 10, 1000)]}
        drain("isoforest", node.url, model, shapes[1][:100])  # warm-up (compile cache)
        broker = {}
        for per, bodies in shapes.items():
            runs = {"bare": [], "isoforest": []}
            for _ in range(args.repeat):
                for kind in runs:
                    runs[kind].append(drain(kind, node.url, model, bodies))
            bare, ours = statistics.median(runs["bare"]), statistics.median(runs["isoforest"])
            broker[per] = {"messages": len(bodies), "records": len(bodies) * per,
                           "bare_s": bare, "isoforest_s": ours,
                           "bare_msg_per_s": len(bodies) / bare,
                           "isoforest_msg_per_s": len(bodies) / ours,
                           "isoforest_records_per_s": len(bodies) * per / ours,
                           "ratio": bare / ours, "runs": runs}
            print(f"{per} record(s)/message: bare {len(bodies) / bare:,.0f} msg/s, "
                  f"isoforest {len(bodies) / ours:,.0f} msg/s ({bare / ours:.0%})",
                  flush=True)
        result["broker"] = broker
        result["latency"] = {kind: round_trips(kind, node.url, model, shapes[1][0])
                             for kind in ("bare", "isoforest")}
        print("lone message round trip:", json.dumps(result["latency"]), flush=True)
    finally:
        node.stop()

    st = stream_throughput(model, records, args.stdin_records, repeat=args.repeat)
    st["latency"] = stream_latency(model, records)
    result["stdin"] = st
    print(f"stdin at the defaults: {st['records_per_s_wall']:,.0f} records/s "
          f"({st['records_per_s_after_startup']:,.0f} after start-up)", flush=True)

    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "broker.json"), "w") as f:
        json.dump(result, f, indent=1)
    table = render(result)
    with open(os.path.join(RESULTS, "broker.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    if not args.no_readme:
        update_readme(table, marker="broker")


def render(r):
    b1, b1000, lat, st = r["broker"][1], r["broker"][1000], r["latency"], r["stdin"]
    return "\n".join([
        f"Measured on {r['machine']} by `python benchmarks/bench_broker.py` (medians of "
        f"{r['repeat']} interleaved runs; a private RabbitMQ 3.10 on loopback; model: "
        f"{r['model']}).",
        "",
        "| through RabbitMQ | bare pika loop (consume, publish + confirm, ack) "
        "| `isoforest stream --source --sink --alerts` | isoforest / bare |",
        "|---|---:|---:|---:|",
        f"| 1 record a message ({b1['messages']:,} messages) "
        f"| {b1['bare_msg_per_s']:,.0f} msg/s | {b1['isoforest_msg_per_s']:,.0f} msg/s "
        f"| {b1['ratio']:.0%} |",
        f"| 1,000 records a message ({b1000['messages']:,} messages) "
        f"| {b1000['bare_msg_per_s']:,.0f} msg/s | {b1000['isoforest_msg_per_s']:,.0f} msg/s "
        f"({b1000['isoforest_records_per_s']:,.0f} records/s) | {b1000['ratio']:.0%} |",
        f"| a lone message's round trip, median / p99 "
        f"| {lat['bare']['median_ms']:.2f} / {lat['bare']['p99_ms']:.2f} ms "
        f"| {lat['isoforest']['median_ms']:.2f} / {lat['isoforest']['p99_ms']:.2f} ms | |",
        "",
        f"stdin at the defaults: `cat` {st['records']:,} records `| isoforest stream` "
        f"{st['records_per_s_wall']:,.0f} records/s for the whole command "
        f"({st['records_per_s_after_startup']:,.0f} after its {st['startup_s']:.2f} s "
        f"start-up); one record's round trip median {st['latency']['median_ms']:.2f} ms, "
        f"p90 {st['latency']['p90_ms']:.2f} ms.",
    ])


if __name__ == "__main__":
    main()

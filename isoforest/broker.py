"""``isoforest stream --source amqp://...``: records from a message broker, results
back to it, nothing lost when the process is killed.

A message body holds one record or several: JSON lines of ``{"column": value, ...}``
by the model's column names, or CSV lines of its columns (a header line naming them
may come first). For each input message one result message is published: JSON lines
``{"message_id": ..., "record": i, "anomaly_score": ..., "is_anomaly": 0|1}``, and,
when it holds anomalies, one alert message with the same keys and ``top_features``.

Delivery is at least once. Whatever has arrived (up to the prefetch window) is
scored together, every result and alert is published with a publisher confirm,
and only then are the input messages acknowledged: a crash at any moment leaves
every unacknowledged message in its queue, to be delivered again, and its results
published again under the same ``message_id``. A message that cannot be scored
(not UTF-8, not JSON, wrong columns, not numbers, larger than the limit) is
rejected without requeueing, so the broker dead-letters it when the queue has a
dead-letter exchange, and an error line naming the reason is published in place of
its results. The broker restarting is met by reconnecting with backoff; SIGTERM or
SIGINT finishes the batch in hand, confirms, acknowledges and exits 0.

The broker client is pika (the ``amqp`` extra). Sources sit behind
:class:`MessageSource`, so that another broker (Kafka) can be added beside
:class:`AmqpSource`.
"""

import json
import math
import signal
import sys
import time
import urllib.parse

import numpy as np

from .io._tabular import EXIT_OK, DataError
from .stream import (Malformed, _anomaly_scores, _arrow_parser, _LineBatch, _parse,
                     _parse_fast, flagged_top_features, model_inputs)

DEFAULT_PREFETCH = 1000
DEFAULT_MAX_MESSAGE_BYTES = 8 << 20


def _pika():
    try:
        import pika
    except ImportError:
        raise DataError("--source amqp:// needs pika: pip install isoforest[amqp]") from None
    return pika


def parse_url(url, keys):
    """(pika connection parameters, {key: value}) of ``amqp://...?key=value``; the
    query keys in ``keys`` are ours, the others are pika's (heartbeat, ...)."""
    pika = _pika()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("amqp", "amqps"):
        raise DataError(f"{url!r}: not an amqp:// or amqps:// address")
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in keys}
    rest = urllib.parse.urlencode([(k, v) for k, v in query if k not in keys])
    try:
        params = pika.URLParameters(urllib.parse.urlunsplit(parts._replace(query=rest)))
    except (ValueError, TypeError) as exc:
        raise DataError(f"{url!r}: {exc}") from None
    return params, ours


def _same_broker(a, b):
    return (a.host, a.port, a.virtual_host, a.credentials) == (
        b.host, b.port, b.virtual_host, b.credentials)


# --------------------------------------------------------------- messages


def parse_message(body, columns, allow_missing, max_bytes=DEFAULT_MAX_MESSAGE_BYTES,
                  arrow=None):
    """The records of a message body as an (n, len(columns)) float matrix.

    Raises :class:`isoforest.stream.Malformed` (a ValueError) naming the reason when the body is not UTF-8 JSON lines or
    CSV lines of exactly ``columns``, holds a value that is not a number (missing
    values only where ``allow_missing``), no record, or more than ``max_bytes``.
    ``arrow`` is the stdin stream's pyarrow CSV parser (``stream._arrow_parser``),
    used for CSV bodies of many lines.
    """
    if len(body) > max_bytes:
        raise Malformed("oversized", f"message of {len(body)} bytes, more than the "
                         f"--max-message-bytes {max_bytes}")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("encoding", "not UTF-8 text") from None
    head = text.lstrip()
    if not head:
        raise Malformed("empty", "no record in the message")
    if head[0] == "{":
        return _parse_json_lines(text, columns, allow_missing)
    return _parse_csv_lines(text.encode(), columns, allow_missing, arrow)


def _parse_json_lines(text, columns, allow_missing):
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        objs = json.loads("[" + ",".join(lines) + "]")
    except json.JSONDecodeError as exc:
        raise Malformed("json", f"not JSON lines: {exc.msg}") from None
    want = set(columns)
    X = np.empty((len(objs), len(columns)))
    for i, obj in enumerate(objs):
        if not isinstance(obj, dict):
            raise Malformed("json", f"record {i}: not a JSON object")
        if obj.keys() != want:
            missing = [c for c in columns if c not in obj]
            unknown = sorted(k for k in obj if k not in want)
            what = "; ".join(p for p in (
                f"missing column(s) {', '.join(missing)}" if missing else "",
                f"unknown column(s) {', '.join(unknown)}" if unknown else "") if p)
            raise Malformed("columns", f"record {i}: {what}")
        for j, c in enumerate(columns):
            v = obj[c]
            if v is None and allow_missing:
                X[i, j] = np.nan
                continue
            if v is None:
                raise Malformed("missing_value", f"record {i}: missing value in column {c!r}")
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise Malformed("not_a_number",
                                f"record {i}: not a number in column {c!r}: {v!r:.40}")
            try:
                v = float(v)
            except OverflowError:  # a JSON integer beyond float64
                raise Malformed("not_a_number", f"record {i}: not a number in column "
                                                f"{c!r}: too large for a float") from None
            if not math.isfinite(v) and not allow_missing:
                raise Malformed("not_a_number",
                                f"record {i}: not a number in column {c!r}: {v!r}")
            X[i, j] = v
    return X


def _parse_csv_lines(data, columns, allow_missing, arrow=None):
    n_cols = len(columns)
    lines = data.split(b"\n")
    first = next((k for k, line in enumerate(lines) if line.strip()), None)
    if [f.strip() for f in lines[first].rstrip(b"\r").split(b",")] == [
            c.encode() for c in columns]:
        lines = lines[first + 1:]
        data = b"\n".join(lines)
    if not data.strip():
        raise Malformed("empty", "no record in the message")
    if not data.endswith(b"\n"):
        data += b"\n"
    batch = _LineBatch(data)
    X = _parse_fast(batch, n_cols, allow_missing, arrow)
    if X is not None:
        return X
    rows = []
    for k in range(batch.lo.shape[0]):
        line = data[batch.lo[k]: batch.hi[k]]
        if not line.strip():
            continue
        try:
            rows.append(_parse(line, n_cols, allow_missing))
        except Malformed as exc:
            raise Malformed(exc.reason, f"line {k + 1}: {exc}") from None
    return np.asarray(rows, dtype=np.float64).reshape(-1, n_cols)


def result_lines(message_id, score, flags):
    """The result message of one input message: a JSON line per record."""
    mid = json.dumps(message_id)
    return "".join(
        f'{{"message_id": {mid}, "record": {i}, "anomaly_score": {s!r}, '
        f'"is_anomaly": {int(f)}}}\n'
        for i, (s, f) in enumerate(zip(score.tolist(), flags.tolist()))).encode()


def alert_lines(message_id, records, score, tops):
    """The alert message of one input message: a JSON line per anomalous record."""
    out = []
    for k, i in enumerate(records.tolist()):
        line = {"message_id": message_id, "record": i,
                "anomaly_score": float(score[k]), "is_anomaly": 1}
        if tops is not None:
            line["top_features"] = list(tops[k])
        out.append(json.dumps(line))
    return ("\n".join(out) + "\n").encode()


# ----------------------------------------------------------------- sources


def _declared(connection, queue):
    """A channel, with ``queue`` declared durable unless it exists (as it is: an
    existing queue's arguments, a dead-letter exchange say, are kept)."""
    import pika

    channel = connection.channel()
    try:
        channel.queue_declare(queue, passive=True)
        return channel
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code != 404:
            raise
    channel = connection.channel()
    channel.queue_declare(queue, durable=True)
    return channel


class Delivery:
    """One input message: its body, id, whether it was delivered before, and the
    source's handle to settle it."""

    __slots__ = ("body", "message_id", "redelivered", "tag", "arrived")

    def __init__(self, body, message_id, redelivered, tag, arrived):
        self.body, self.message_id = body, message_id
        self.redelivered, self.tag, self.arrived = redelivered, tag, arrived


class MessageSource:
    """What the broker loop needs from a source of messages (AMQP here; a Kafka
    source would implement the same five methods)."""

    def connect(self):
        """Open the connection; errors are retried by the caller with backoff."""
        raise NotImplementedError

    def poll(self, max_wait):
        """Every delivery that has arrived, waiting up to ``max_wait`` seconds for
        the first one; [] when none came."""
        raise NotImplementedError

    def ack(self, deliveries):
        """Settle ``deliveries`` as done (their results are confirmed)."""
        raise NotImplementedError

    def reject(self, delivery):
        """Settle a delivery that cannot be scored: never deliver it again (dead-
        letter it where the broker is set up to)."""
        raise NotImplementedError

    def close(self):
        """Close the connection; unsettled deliveries go back to the broker."""
        raise NotImplementedError


class AmqpSource(MessageSource):
    """A RabbitMQ queue, consumed with a bounded prefetch window; the results and
    alerts are published on the same connection when they go to the same broker."""

    def __init__(self, url, prefetch=DEFAULT_PREFETCH):
        self.pika = _pika()
        self.params, opts = parse_url(url, ("queue",))
        self.queue = opts.get("queue")
        if not self.queue:
            raise DataError(f"--source {url!r} names no queue (?queue=NAME)")
        self.prefetch = int(prefetch)
        self.connection = self.channel = None
        self._got = []
        self._n = 0  # deliveries so far: the position that stands in for a missing id

    def connect(self):
        self.connection = self.pika.BlockingConnection(self.params)
        self.channel = _declared(self.connection, self.queue)
        self.channel.basic_qos(prefetch_count=self.prefetch)
        self.channel.basic_consume(self.queue, self._on_message)

    def _on_message(self, channel, method, props, body):
        mid = props.message_id if props.message_id is not None else str(self._n)
        self._n += 1
        self._got.append(Delivery(body, mid, bool(method.redelivered), method.delivery_tag,
                                  time.perf_counter()))

    def poll(self, max_wait):
        if not self._got:
            self.connection.process_data_events(time_limit=max_wait)
        if self._got:  # and whatever else is already in
            self.connection.process_data_events(time_limit=0)
        got, self._got = self._got, []
        return got

    def ack(self, deliveries):
        if deliveries:
            self.channel.basic_ack(max(d.tag for d in deliveries), multiple=True)

    def reject(self, delivery):
        self.channel.basic_reject(delivery.tag, requeue=False)

    def close(self):
        conn, self.connection, self.channel, self._got = self.connection, None, None, []
        if conn is not None and conn.is_open:
            try:
                conn.close()
            except Exception:  # closing a broken connection: nothing left to save
                pass


class AmqpSink:
    """Publishes to an exchange and routing key (``?exchange=E&routing_key=K``) or to
    a queue (``?queue=Q``, declared durable) with publisher confirms: ``publish``
    returns once the broker has taken the message."""

    def __init__(self, url, option):
        self.pika = _pika()
        self.url = url
        self.params, opts = parse_url(url, ("queue", "exchange", "routing_key"))
        self.queue = opts.get("queue")
        self.exchange = opts.get("exchange", "")
        self.routing_key = opts.get("routing_key", self.queue or "")
        if not self.queue and not self.routing_key and not self.exchange:
            raise DataError(f"{option} {url!r} names no queue (?queue=NAME) and no "
                            "exchange (?exchange=E&routing_key=K)")
        self.connection = self.channel = None
        self.own_connection = True

    def open(self, connection=None):
        self.own_connection = connection is None
        self.connection = connection or self.pika.BlockingConnection(self.params)
        self.channel = (_declared(self.connection, self.queue) if self.queue
                        else self.connection.channel())
        if self.exchange:
            self.channel.exchange_declare(self.exchange, passive=True)
        self.channel.confirm_delivery()

    def publish(self, body, message_id):
        props = self.pika.BasicProperties(content_type="application/x-ndjson",
                                          delivery_mode=2, message_id=message_id,
                                          correlation_id=message_id)
        self.channel.basic_publish(self.exchange, self.routing_key, body, props,
                                   mandatory=True)

    def close(self):
        conn, self.connection, self.channel = self.connection, None, None
        if self.own_connection and conn is not None and conn.is_open:
            try:
                conn.close()
            except Exception:  # closing a broken connection: nothing left to save
                pass


# -------------------------------------------------------------------- loop


def run_broker_stream(model, extra, source, sink, alerts=None, top_features=3,
                      max_wait=0.25, max_bytes=DEFAULT_MAX_MESSAGE_BYTES, on_batch=None,
                      metrics=None, log=None, max_backoff=5.0):
    """Score messages from ``source`` and publish results to ``sink`` (and alerts
    to ``alerts``) until SIGTERM or SIGINT; see the module's docstring.

    Returns the exit code: 0 after a clean drain, 1 (with a message) when the
    broker refuses the set-up (no such exchange, access refused, results that
    reach no queue).
    """
    pika = source.pika
    log = log or (lambda text: print(f"isoforest stream: {text}", file=sys.stderr,
                                     flush=True))
    columns = extra["columns"]
    allow_missing, center, scale = model_inputs(extra)
    arrow = _arrow_parser(len(columns))
    stop = []

    def on_signal(signum, frame):
        stop.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    fatal = (pika.exceptions.ProbableAuthenticationError,
             pika.exceptions.ProbableAccessDeniedError, pika.exceptions.UnroutableError)
    retry = (pika.exceptions.AMQPConnectionError, pika.exceptions.ConnectionClosed,
             pika.exceptions.StreamLostError, pika.exceptions.ChannelWrongStateError,
             pika.exceptions.ChannelClosed, pika.exceptions.AMQPError, ConnectionError,
             OSError)
    totals = {"messages": 0, "records": 0, "anomalies": 0, "rejected": 0, "first": None,
              "last": None}
    backoff, connected_once = 0.1, False
    try:
        while not stop:
            try:
                source.connect()
                for s in (sink, alerts):
                    if s is not None:
                        s.open(source.connection if _same_broker(s.params, source.params)
                               else None)
                if connected_once and metrics is not None:
                    metrics.reconnects.inc()
                connected_once, backoff = True, 0.1
                while not stop:
                    got = source.poll(max_wait)
                    if got:
                        _handle(got, model, columns, allow_missing, center, scale, source,
                                sink, alerts, top_features, max_bytes, metrics, log, totals,
                                arrow)
                        if on_batch is not None:
                            on_batch()
            except fatal as exc:
                raise DataError(_describe(exc, sink)) from None
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code in (403, 404, 406):  # refused set-up: retrying won't help
                    raise DataError(f"the broker refused: {exc.reply_text}") from None
                _lost(exc, backoff, log, stop)
                backoff = min(backoff * 2, max_backoff)
            except retry as exc:
                _lost(exc, backoff, log, stop)
                backoff = min(backoff * 2, max_backoff)
            finally:
                for s in (alerts, sink, source):
                    if s is not None:
                        s.close()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    busy = (0.0 if totals["first"] is None or totals["last"] is None
            else totals["last"] - totals["first"])
    log(f"{totals['messages']} messages ({totals['records']} records) scored, "
        f"{totals['anomalies']} anomalies, {totals['rejected']} messages rejected; "
        f"{busy:.3f} s from the first delivery to the last acknowledgement")
    return EXIT_OK


def _describe(exc, sink):
    if isinstance(exc, sink.pika.exceptions.UnroutableError):
        return ("a result reached no queue: bind a queue to the --sink exchange "
                "and routing key")
    return f"the broker refused the connection: {exc!r}"


def _lost(exc, backoff, log, stop):
    log(f"broker connection lost ({type(exc).__name__}: {exc}); "
        f"reconnecting in {backoff:.1f} s")
    end = time.monotonic() + backoff
    while not stop and time.monotonic() < end:
        time.sleep(min(0.05, backoff))


def _handle(got, model, columns, allow_missing, center, scale, source, sink, alerts,
            top_features, max_bytes, metrics, log, totals, arrow=None):
    """Score one batch of deliveries, publish (confirmed), then acknowledge."""
    good, mats = [], []
    if totals["first"] is None:
        totals["first"] = got[0].arrived
    for d in got:
        if d.redelivered and metrics is not None:
            metrics.redelivered.inc()
        try:
            mats.append(parse_message(d.body, columns, allow_missing, max_bytes, arrow))
            good.append(d)
        except Malformed as exc:
            reason = str(exc)
            log(f"message {d.message_id}: {reason}; rejected")
            if metrics is not None:
                metrics.malformed(exc.reason)
            sink.publish((json.dumps({"message_id": d.message_id, "error": reason})
                          + "\n").encode(), d.message_id)
            source.reject(d)
            totals["rejected"] += 1
    n_anom = 0
    if good:
        X = np.concatenate(mats) if len(mats) > 1 else mats[0]
        Z = X if center is None else (X - center) / scale
        score, decision = _anomaly_scores(model, Z)
        flags = decision < 0
        n_anom = int(flags.sum())
        tops = None
        if n_anom and alerts is not None:
            tops = flagged_top_features(model, Z, flags, columns, top_features)
        lo, k = 0, 0
        for d, m in zip(good, mats):
            hi = lo + m.shape[0]
            sink.publish(result_lines(d.message_id, score[lo:hi], flags[lo:hi]),
                         d.message_id)
            f = flags[lo:hi]
            if alerts is not None and f.any():
                nf = int(f.sum())
                alerts.publish(alert_lines(d.message_id, np.flatnonzero(f), score[lo:hi][f],
                                           None if tops is None else tops[k:k + nf]),
                               d.message_id)
                k += nf
            lo = hi
        source.ack(good)
        totals["last"] = time.perf_counter()
        totals["messages"] += len(good)
        totals["records"] += int(X.shape[0])
        totals["anomalies"] += n_anom
        if metrics is not None:
            metrics.scored(int(X.shape[0]), n_anom, time.perf_counter() - got[0].arrived)

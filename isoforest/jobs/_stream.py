"""The stream job: :func:`stream` sets up a fitted or learning model, the
metrics and the source (standard input or RabbitMQ), then hands over to
:func:`isoforest.stream.run_stdio_stream` or
:func:`isoforest.broker.run_broker_stream`."""

import dataclasses
import os
import signal
import sys
import threading

from .._validation import default_feature_names
from ..io._model_files import ModelFileError
from ..io._tabular import EXIT_OK, DataError
from ._tables import load_cli_model

__all__ = ["stream", "StreamOptions"]


@dataclasses.dataclass(frozen=True)
class StreamOptions:
    """What :func:`stream` runs (the command line's ``stream`` options).

    Parameters
    ----------
    model : str or None
        A model file written by :func:`fit`; or None with ``method``.
    method : {"hst", "rcf"} or None
        A forest that learns from the stream itself (each record scored, then
        learned): Half-Space Trees or Robust Random Cut Forest.
    trees, window, shingle, height : int or None
        The learning forest's size (None: ``isoforest.jobs._learner.DEFAULTS``).
    limits : list of (low, high) or None
        hst: each column's range; the records are then not scaled online.
    random_state : int, default=0
    state : str or None
        Learning streams: resume from this file if it exists, and keep the state
        there (every 10 s and at the end, also on SIGTERM).
    columns : str or None
        Learning streams: the records' comma-separated columns (needed with
        ``source``; on standard input the first line names them).
    alert_log : str or None
        File the alerts are logged to (None: standard error).
    max_batch : int, default=8192
    max_wait_ms : float, default=0.2
    top_features : int, default=3
        Alerts name the features that made the record most anomalous.
    source, sink, alerts : str or None
        RabbitMQ URLs (``amqp://USER:PASS@HOST:PORT/VHOST?queue=Q``, ...): read
        messages from ``source`` instead of standard input, publish results to
        ``sink`` and alerts to ``alerts``.
    prefetch : int, default=1000
    max_message_bytes : int, default=8 MiB
    metrics_port : int or None
        Serve Prometheus metrics on this port.
    metrics_addr : str, default="0.0.0.0"
    key : bytes or str or None
        The secret model files are signed with: ``model`` and ``state`` must be
        signed with it, and the checkpoints are.
    """

    model: str = None
    method: str = None
    trees: int = None
    window: int = None
    shingle: int = None
    height: int = None
    limits: list = None
    random_state: int = 0
    state: str = None
    columns: str = None
    alert_log: str = None
    max_batch: int = 8192
    max_wait_ms: float = 0.2
    top_features: int = 3
    source: str = None
    sink: str = None
    alerts: str = None
    prefetch: int = 1000
    max_message_bytes: int = 8 << 20
    metrics_port: int = None
    metrics_addr: str = "0.0.0.0"
    key: bytes = None

    def __post_init__(self):
        problem = next(self._problems(), None)
        if problem is not None:
            raise ValueError(problem)

    def _problems(self):
        """The combinations that make no sense (the command line's usage errors)."""
        if self.model is None and self.method is None:
            yield ("stream needs --model (a fitted model) or --method hst|rcf (a forest "
                   "that learns from the stream)")
        if self.model is not None and self.method is not None:
            yield ("--model and --method exclude each other: a learning stream keeps its "
                   "state in --state")
        if self.method not in (None, "hst", "rcf"):
            yield f"--method must be hst or rcf, not {self.method!r}"
        if self.method != "rcf" and self.shingle is not None:
            yield "--shingle applies to --method rcf only"
        if self.method != "hst" and self.height is not None:
            yield "--height applies to --method hst only"
        if self.method != "hst" and self.limits is not None:
            yield "--limits applies to --method hst only"
        if self.method is None and self.columns is not None:
            yield ("--columns applies to --method hst|rcf (a fitted model knows its "
                   "columns)")
        if (self.source is None) != (self.sink is None):
            yield "--source and --sink come together"
        if self.alerts is not None and self.source is None:
            yield "--alerts applies to --source"
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            yield "--metrics-port must be in [0, 65535]"
        for name in ("trees", "window", "shingle", "height", "prefetch",
                     "max_message_bytes"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                yield f"--{name.replace('_', '-')} must be an integer >= 1, not {v!r}"
        if not isinstance(self.top_features, int) or self.top_features < 0:
            yield f"--top-features must be an integer >= 0, not {self.top_features!r}"


def stream(**options):
    """Score records as they arrive and alert on anomalies, until the input ends
    (or SIGTERM/SIGINT, which finish the batch in hand).

    On standard input: CSV records (header optional), one
    ``anomaly_score,is_anomaly`` line each on standard output, in order. With
    ``source`` and ``sink``: RabbitMQ messages in and result messages out, each
    input message acknowledged once its results are confirmed
    (:func:`isoforest.broker.run_broker_stream`).

    Parameters
    ----------
    **options
        :class:`StreamOptions`' fields.

    Returns
    -------
    code : int
        0 (the stream ended); bad data raises :class:`DataError`.
    """
    o = StreamOptions(**options)
    learner = None
    if o.method is None:
        model, extra = load_cli_model(o.model, o.key)
        initial = b""
    else:
        learner, initial = _learner(o)
        model, extra = learner, {"columns": learner.columns, "method": o.method}
    metrics = None
    if o.metrics_port is not None:
        from .._metrics import StreamMetrics

        kind = o.method if o.method is not None else type(model).__name__
        try:
            metrics = StreamMetrics(o.metrics_port, kind, extra["columns"],
                                    addr=o.metrics_addr)
        except ImportError as exc:
            raise DataError(str(exc)) from None
        except OSError as exc:
            raise DataError(f"--metrics-port {o.metrics_port}: {exc}") from None

    def checkpoint():
        learner.maybe_save(o.state)

    on_batch = checkpoint if learner is not None and o.state else None
    try:
        if o.source is not None:
            return _broker_stream(o, model, extra, on_batch, metrics)
        return _stdin_stream(o, model, extra, initial, on_batch, metrics)
    finally:
        if learner is not None and o.state and learner.model._started():
            learner.save(o.state)
        if metrics is not None:
            metrics.close()


def _stdin_stream(o, model, extra, initial, on_batch, metrics):
    from ..stream import run_stdio_stream

    def stop(signum, frame):
        raise KeyboardInterrupt

    # a learning stream leaves cleanly on SIGTERM (its state is saved); a fitted
    # model's stream keeps the default (it has nothing to save). Only the main
    # thread may set a handler.
    previous = None
    if o.method is not None and threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, stop)
    try:
        return run_stdio_stream(model, extra, alert_log=o.alert_log,
                                max_batch=o.max_batch,
                                max_wait=o.max_wait_ms / 1000.0,
                                top_features=o.top_features, initial=initial,
                                on_batch=on_batch, metrics=metrics)
    except KeyboardInterrupt:
        if o.method is None:
            raise
        return EXIT_OK
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _broker_stream(o, model, extra, on_batch, metrics):
    from ..broker import AmqpSink, AmqpSource, run_broker_stream

    source = AmqpSource(o.source, prefetch=o.prefetch)
    sink = AmqpSink(o.sink, "--sink")
    alerts = AmqpSink(o.alerts, "--alerts") if o.alerts else None
    return run_broker_stream(model, extra, source, sink, alerts,
                             top_features=o.top_features,
                             max_bytes=o.max_message_bytes, on_batch=on_batch,
                             metrics=metrics)


def _first_line(fd):
    """Read standard input up to its first non-blank line: (bytes read, the line)."""
    data = b""
    while True:
        lines = data.split(b"\n")
        for line in lines[:-1]:
            if line.strip():
                return data, line.rstrip(b"\r")
        try:
            more = os.read(fd, 1 << 16)
        except OSError:
            more = b""
        if not more:
            last = lines[-1].strip()
            return data, (lines[-1].rstrip(b"\r") if last else None)
        data += more


def _learner(o):
    """The learning stream's StreamLearner (resumed from --state when that exists)
    and the input it read to find the columns (stdin's first line)."""
    from ._learner import StreamLearner

    learner = None
    if o.state and os.path.exists(o.state):
        try:
            learner = StreamLearner.load(o.state, key=o.key)
        except (ValueError, ModelFileError) as exc:
            raise DataError(f"--state {o.state}: {exc}") from None
        if learner.method != o.method:
            raise DataError(f"--state {o.state} holds a {learner.method} stream, "
                            f"not {o.method}")
    initial = b""
    if o.columns is not None:
        columns = [c.strip() for c in o.columns.split(",")]
    elif o.source is None:
        initial, line = _first_line(sys.stdin.fileno())
        if learner is None and line is None:
            raise DataError("empty stream: no header and no record")
        columns = None if line is None else _columns_of(line)
    else:
        columns = None
    if learner is not None:
        if o.columns is not None and columns != learner.columns:
            raise DataError(f"--columns {o.columns} are not the columns of --state "
                            f"{o.state}: {','.join(learner.columns)}")
        return learner, initial
    if columns is None:
        raise DataError("--source with --method needs --columns (the records' keys)")
    if len(set(columns)) != len(columns) or not all(columns):
        raise DataError("the header line names a column twice or not at all" if o.columns is None
                        else "--columns names a column twice or not at all")
    try:
        learner = StreamLearner(o.method, columns, trees=o.trees,
                                window=o.window, shingle=o.shingle,
                                height=o.height, random_state=o.random_state,
                                limits=o.limits, key=o.key)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    return learner, initial


def _columns_of(line):
    """The columns a stream's first line names: its fields, or x0, x1, ... when it
    is a record."""
    fields = [f.strip() for f in line.split(b",")]
    try:
        [float(f) for f in fields]
        return default_feature_names(len(fields))
    except ValueError:
        return [f.decode("utf-8", "replace") for f in fields]

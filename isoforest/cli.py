"""Command line: tables in, anomalies out; live streams with alerts.

    isoforest detect INPUT --out OUT [--method iforest|eif|zscore|lof] ...
    isoforest fit INPUT --model MODEL [same options]
    isoforest score MODEL INPUT --out OUT
    isoforest stream --model MODEL [--alert-log FILE]
    isoforest stream --method hst|rcf [--trees T] [--window N] [--shingle K] [--state FILE]

INPUT and OUT are CSV (``-``: standard input/output), TSV, Parquet or Arrow/Feather,
by their names (see :mod:`isoforest.io._tabular`). Files go through in chunks: an
output row is its input record, byte for byte, with the added fields. This module
only parses arguments and prints: each command is the function of the same name in
:mod:`isoforest.jobs`, usable from Python.

Exit codes: 0 success, 1 bad data (unreadable table, no usable column, invalid model
file), 2 bad usage (argparse's own code).
"""

import argparse
import dataclasses
import io
import logging
import math
import os
import sys

from . import jobs
from ._config import config_context
from .io._tabular import EXIT_DATA, EXIT_OK, DataError

__all__ = ["main"]


# ------------------------------------------------------------------ commands
# Each command hands its options to the job of the same name and prints its summary.

_MODEL_FIELDS = [f.name for f in dataclasses.fields(jobs.ModelOptions)]
_STREAM_FIELDS = [f.name for f in dataclasses.fields(jobs.StreamOptions)]


def _model_options_of(args):
    return {name: getattr(args, name) for name in _MODEL_FIELDS}


def _report(label, s):
    print(f"{label}: {s['rows']} rows read, {s['written']} written, "
          f"{s['incomplete']} with missing values "
          f"({'dropped' if s['missing'] == 'drop' else 'kept'}), "
          f"{s['anomalies']} anomalies, {s['seconds']:.3f} s", file=sys.stderr)


def cmd_detect(args):
    _report("detect", jobs.detect(args.input, args.out, explain=args.explain,
                                  progress=True, **_model_options_of(args)))
    return EXIT_OK


def _key(args):
    """The secret in ``--key-file`` (its bytes as they are), or None."""
    path = getattr(args, "key_file", None)
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            key = fh.read()
    except OSError as exc:
        raise DataError(f"--key-file {path}: {exc.strerror}") from None
    if not key:
        raise DataError(f"--key-file {path} is empty")
    return key


def cmd_fit(args):
    s = jobs.fit(args.input, args.model, key=_key(args), **_model_options_of(args))
    print(f"fit: {s['rows']} rows, model written to {s['model']} "
          f"({s['seconds']:.3f} s)", file=sys.stderr)
    return EXIT_OK


def cmd_score(args):
    s = jobs.score(args.model, args.input, args.out, explain=args.explain,
                   scheduler=args.scheduler, progress=True, key=_key(args))
    if args.scheduler is None:
        _report("score", s)
    else:
        print(f"score: {s['rows']} rows written in {s['partitions']} "
              f"partition file(s) to {args.out}, {s['anomalies']} anomalies, "
              f"{s['seconds']:.3f} s", file=sys.stderr)
    return EXIT_OK


def _stream_options(args):
    return {name: getattr(args, name) for name in _STREAM_FIELDS if name != "key"}


def cmd_stream(args):
    return jobs.stream(key=_key(args), **_stream_options(args))


def _check_stream_usage(parser, args):
    """Usage errors (exit 2) that argparse cannot express on its own."""
    try:
        jobs.StreamOptions(**_stream_options(args))
    except ValueError as exc:
        parser.error(str(exc))


# ------------------------------------------------------------------- parser


def _contamination(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < v <= 0.5:
        raise argparse.ArgumentTypeError("contamination must be in (0, 0.5]")
    return v


def _model_options(p):
    p.add_argument("--method", choices=list(jobs.METHODS),
                   default="iforest",
                   help="detector (default: iforest)")
    p.add_argument("--contamination", type=_contamination, default=None,
                   help="expected share of anomalies in (0, 0.5]; default: the "
                        "method's own rule")
    p.add_argument("--columns", default=None,
                   help="comma-separated columns to model (default: every numeric one)")
    p.add_argument("--standardize", action="store_true",
                   help="z-standardise the columns before fitting")
    p.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    p.add_argument("--missing", choices=["drop", "keep"], default="drop",
                   help="rows with missing values: drop them from the output "
                        "(default) or keep them (iforest scores them natively; "
                        "other methods leave their score empty)")


def _limits(text):
    pairs = []
    for part in text.split(","):
        try:
            lo, hi = (float(v) for v in part.split(":"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not a LO:HI range: {part!r} (give LO:HI per column, comma-separated)"
            ) from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise argparse.ArgumentTypeError(f"the range {part!r} needs finite LO < HI")
        pairs.append((lo, hi))
    return pairs


def _positive(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return v


def _explain_k(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError("--explain must be >= 0")
    return v


def _key_option(p, what):
    p.add_argument("--key-file", default=None, metavar="FILE",
                   help=f"{what} (HMAC-SHA256 under the secret held in FILE, its bytes "
                        "as they are): a model file written or changed by anyone "
                        "without the key is refused")


def _max_record_option(p):
    p.add_argument("--max-record-bytes", type=_positive, default=None, metavar="B",
                   help="the longest CSV record taken (default 16 MiB, the "
                        "max_record_bytes setting): a longer one is refused (stream: "
                        "skipped with a reason), so a quote that never closes cannot "
                        "make memory grow with the input")


def _explain_option(p):
    p.add_argument("--explain", type=_explain_k, default=0, metavar="K",
                   help="add K pairs of columns why_i (feature name) and "
                        "contribution_i (its isoforest.explain value: for iforest, "
                        "negative = made the row more anomalous; for zscore, the "
                        "z-score), most anomalous first (iforest and zscore models)")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="isoforest",
        description="Anomaly detection on CSV files and live streams.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    formats = ("INPUT and OUT are CSV ('-': standard input/output), TSV (.tsv), Parquet "
               "(.parquet, .pq) or Arrow/Feather (.arrow, .feather), by their names; "
               "Parquet and Arrow need pyarrow (pip install isoforest[arrow]). An output "
               "row is its input record, byte for byte, with the columns added.")
    p = sub.add_parser("detect", help="fit and score a table in one go",
                       description="Fit a detector on INPUT and write every row with "
                                   "anomaly_score (higher = more anomalous) and "
                                   "is_anomaly (1/0) columns added. " + formats +
                                   " Files go through in chunks; iforest on a file over "
                                   "256 MiB reads it twice and holds only the rows its "
                                   "trees draw, while zscore, lof, --standardize and "
                                   "standard input hold the numeric columns in memory "
                                   "(n x d float64: 8 bytes a value).")
    p.add_argument("input", help="table with a header ('-': CSV on stdin)")
    p.add_argument("--out", required=True, help="output table ('-': CSV on stdout)")
    _model_options(p)
    _explain_option(p)
    _max_record_option(p)
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("fit", help="fit a detector and save it",
                       description="Fit a detector on INPUT and save it to MODEL "
                                   "(NumPy arrays + JSON, no pickle).")
    p.add_argument("input", help="CSV file with a header")
    p.add_argument("--model", required=True, help="model file to write")
    _model_options(p)
    _key_option(p, "sign the model file")
    _max_record_option(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("score", help="score a CSV with a saved model",
                       description="Score INPUT with MODEL; writes every row with "
                                   "anomaly_score and is_anomaly added, chunk by chunk "
                                   "(any size in bounded memory). " + formats)
    p.add_argument("model", help="model file written by 'isoforest fit'")
    p.add_argument("input", help="table with a header ('-': CSV on stdin)")
    p.add_argument("--out", required=True, help="output table ('-': CSV on stdout)")
    _explain_option(p)
    p.add_argument("--scheduler", default=None, metavar="ADDRESS|local",
                   help="score through dask.dataframe: INPUT is a glob of Parquet or "
                        "CSV files ('data/*.parquet'), OUT a directory with one file "
                        "per input partition; 'local' starts a cluster here, else "
                        "the scheduler's address (needs isoforest[dask])")
    _key_option(p, "the model file must be signed with this key")
    _max_record_option(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("stream", help="score records from stdin as they arrive",
                       description="Read records (CSV, header optional) from standard "
                                   "input and write 'anomaly_score,is_anomaly' for each, "
                                   "in order. Anomalies are also logged to the alert log. "
                                   "With --model, a fitted model scores the model's "
                                   "columns. With --method hst|rcf, a forest learns "
                                   "from the stream itself (each record scored, then "
                                   "learned) and needs no model: the first line names "
                                   "the columns (or is the first record); "
                                   "anomaly_score is then in [0, 1]: hst's score as "
                                   "it is, rcf's displacement through Numenta's anomaly "
                                   "likelihood (how unusual its last 10 values are "
                                   "against the 8,640 before; 0 for the first 300 "
                                   "records), and 1 "
                                   "for a value outside the stream's range so far "
                                   "(widened by 2%%) (is_anomaly: score >= 0.95). "
                                   "hst scales the columns online by "
                                   "their running min and max unless --limits gives "
                                   "their ranges; rcf needs no scaling "
                                   "(give it columns in comparable units). Defaults "
                                   "for metric streams: hst 25 trees of height 10, "
                                   "window 250; rcf 40 trees of 256 points, shingles "
                                   "of 32 records.")
    p.add_argument("--model", default=None, help="model file written by 'isoforest fit'")
    p.add_argument("--method", choices=["hst", "rcf"], default=None,
                   help="learn from the stream: Half-Space Trees or Robust Random Cut "
                        "Forest")
    p.add_argument("--trees", type=_positive, default=None, metavar="T",
                   help="trees of the learning forest")
    p.add_argument("--window", type=_positive, default=None, metavar="N",
                   help="hst: records per window; rcf: points each tree keeps")
    p.add_argument("--shingle", type=_positive, default=None, metavar="K",
                   help="rcf: records per point (a time series' last K values)")
    p.add_argument("--height", type=_positive, default=None, metavar="H",
                   help="hst: height of each tree")
    p.add_argument("--limits", type=_limits, default=None, metavar="LO:HI[,LO:HI...]",
                   help="hst: each column's range, in column order; the records are "
                        "then not scaled online")
    p.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    p.add_argument("--state", default=None, metavar="FILE",
                   help="learning streams: resume from FILE if it exists, and keep "
                        "the state there (every 10 s and at the end, also on SIGTERM)")
    p.add_argument("--alert-log", default=None,
                   help="file the alerts are logged to (default: stderr)")
    p.add_argument("--max-batch", type=int, default=8192,
                   help="most records scored together (default 8192); a batch is "
                        "whatever has arrived, so a lone record is answered at once")
    p.add_argument("--top-features", type=_explain_k, default=3, metavar="K",
                   help="alerts name the K features that made the record most "
                        "anomalous (isoforest.explain, computed for anomalous records "
                        "only; default 3, 0: none)")
    p.add_argument("--max-wait-ms", type=float, default=0.2,
                   help="longest a record waits for others to batch with (default 0.2)")
    p.add_argument("--columns", default=None, metavar="A,B,...",
                   help="learning streams: the records' columns (needed with --source; "
                        "on stdin the first line names them)")
    b = p.add_argument_group(
        "broker (the amqp extra)",
        "Read messages from a RabbitMQ queue instead of stdin and publish one result "
        "message per input message (JSON lines: message_id, record, anomaly_score, "
        "is_anomaly). A message holds JSON lines of {column: value} or CSV lines of "
        "the columns. An input message is acknowledged only once its results (and "
        "alerts) are confirmed by the broker: after a crash every message gets its "
        "results, a repeated one under the same message_id. Malformed messages are "
        "rejected (dead-lettered where the queue has a dead-letter exchange) and an "
        "error line with the reason is published instead. SIGTERM/SIGINT: finish, "
        "confirm, acknowledge, exit 0.")
    b.add_argument("--source", default=None, metavar="amqp://USER:PASS@HOST:PORT/VHOST?queue=Q",
                   help="the queue to consume (declared durable if missing)")
    b.add_argument("--sink", default=None,
                   metavar="amqp://...?exchange=E&routing_key=K | amqp://...?queue=R",
                   help="where the results go")
    b.add_argument("--alerts", default=None, metavar="amqp://...?queue=A",
                   help="where alerts go: the anomalous records' results and their top "
                        "features")
    b.add_argument("--prefetch", type=_positive, default=1000, metavar="N",
                   help="most unacknowledged messages in hand (default 1000)")
    b.add_argument("--max-message-bytes", type=_positive, default=8 << 20, metavar="B",
                   help="larger messages are rejected (default 8 MiB)")
    m = p.add_argument_group("metrics (the metrics extra)")
    m.add_argument("--metrics-port", type=int, default=None, metavar="P",
                   help="serve Prometheus metrics on port P (records, anomalies, "
                        "malformed input by reason, batch sizes, latency, the model, "
                        "broker redeliveries and reconnects)")
    m.add_argument("--metrics-addr", default="0.0.0.0", metavar="ADDR",
                   help="address the metrics server listens on (default 0.0.0.0)")
    _key_option(p, "--model and --state must be signed with this key, and checkpoints are")
    _max_record_option(p)
    p.set_defaults(func=cmd_stream)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "stream":
        _check_stream_usage(parser, args)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    limits = ({} if args.max_record_bytes is None
              else {"max_record_bytes": args.max_record_bytes})
    try:
        with config_context(**limits):
            return args.func(args)
    except DataError as exc:
        print(f"isoforest {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_DATA
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): not an error of ours
        try:
            sys.stdout = io.TextIOWrapper(open(os.devnull, "wb"))
        except OSError:
            pass
        return EXIT_OK


def run(argv=None):
    """The ``isoforest`` program (and ``python -m isoforest``): :func:`main`, then exit.

    Once a command has flushed its output and closed its files, the interpreter's
    teardown only frees memory, and with Numba's compiled kernels loaded that takes
    0.15-0.25 s here (0.08 s after importing Numba alone): a fifth of a one-record
    ``stream``'s wall time, paid by every invocation of a script. So the program
    flushes the standard streams and the logging handlers and leaves with
    ``os._exit``, unless Dask ran (its clients and worker processes close at exit).
    ``main`` itself returns the exit code, for callers in Python.
    """
    code = main(argv)
    code = 0 if code is None else int(code)
    if any(name in sys.modules for name in ("distributed", "dask")):
        return code
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to write to
            pass
    os._exit(code)

"""Command line: tables in, anomalies out; live streams with alerts.

    isoforest detect INPUT --out OUT [--method iforest|eif|zscore|lof] ...
    isoforest fit INPUT --model MODEL [same options]
    isoforest score MODEL INPUT --out OUT
    isoforest stream --model MODEL [--alert-log FILE]
    isoforest stream --method hst|rcf [--trees T] [--window N] [--shingle K] [--state FILE]

INPUT and OUT are CSV (``-``: standard input/output), TSV, Parquet or Arrow/Feather,
by their names (see :mod:`isoforest.io._tabular`). Files go through in chunks: an
output row is its input record, byte for byte, with the added fields.

Exit codes: 0 success, 1 bad data (unreadable table, no usable column, invalid model
file), 2 bad usage (argparse's own code).
"""

import argparse
import io
import logging
import math
import os
import signal
import sys
import time

import numpy as np

from .io._model_files import ModelFileError, load_model, save_model
from ._config import get_config
from .io._tabular import (EXIT_DATA, EXIT_OK, EXIT_USAGE, MISSING, DataError,  # noqa: F401
                          open_table, open_writer, parse_missing)

__all__ = ["main"]

ADDED = ["anomaly_score", "is_anomaly"]


# --------------------------------------------------------------------- input


def _wanted_columns(header, names):
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    missing = [n for n in wanted if n not in header]
    if missing:
        raise DataError(f"no column named {', '.join(missing)} (have: {', '.join(header)})")
    return [header.index(n) for n in wanted]


def _collect(reader, names, store=True, dtype=np.float64):
    """First pass over a table: the numbers of the columns to model.

    Returns ``(X, cols)``: every row's values of the chosen columns (those named,
    else every column whose every non-missing value is a number) and their indices.
    With ``store=False`` X is not kept: returns ``((n_rows, rows with a missing
    value), cols)`` instead.
    """
    header = reader.header
    explicit = bool(names)
    cand = _wanted_columns(header, names) if explicit else list(range(len(header)))
    alive = np.ones(len(cand), bool)  # candidates still numeric
    seen = np.zeros(len(cand), bool)
    # one column after the other in memory (Fortran order), so a column found
    # non-numeric costs nothing more and the chosen ones need no copy at the end
    X = np.empty((0, len(cand)), dtype=dtype, order="F")
    nan_rows = {}
    n = 0
    for chunk in reader.chunks():
        live = np.flatnonzero(alive)
        Xc, ok, any_ = reader.numbers(chunk, [cand[k] for k in live], strict=False)
        if not ok.all():
            bad = [header[cand[k]] for k in live[~ok]]
            if explicit:
                raise DataError(f"column(s) {', '.join(bad)} are not numeric")
            alive[live[~ok]] = False
        seen[live] |= any_
        if not store:
            for i, k in enumerate(live):
                if ok[i]:
                    holes = np.flatnonzero(np.isnan(Xc[:, i]))
                    if holes.size:
                        nan_rows.setdefault(k, []).append(holes + n)
        else:
            if n + chunk.n > X.shape[0]:
                X = _grow(X, n, n + chunk.n, reader, chunk)
            for i, k in enumerate(live):
                if ok[i]:
                    X[n: n + chunk.n, k] = Xc[:, i]
        n += chunk.n
        chunk.f_lo = chunk.f_hi = chunk.f_kind = None  # a held chunk keeps its records only
    if explicit:
        bad = [header[cand[k]] for k in np.flatnonzero(alive & ~seen)]
        if bad:
            raise DataError(f"column(s) {', '.join(bad)} are not numeric")
        keep = list(range(len(cand)))
    else:
        keep = [k for k in range(len(cand)) if alive[k] and seen[k]]
        if not keep:
            raise DataError("no numeric column to model (name them with --columns)")
    if not store:
        holes = [r for k in keep for r in nan_rows.get(k, [])]
        holes = np.unique(np.concatenate(holes)) if holes else np.empty(0, np.int64)
        return (n, holes), [cand[k] for k in keep]
    for p, k in enumerate(keep):  # compact the kept columns to the front, in place
        if p != k:
            X[:n, p] = X[:n, k]
    return X[:n, : len(keep)], [cand[k] for k in keep]


def _grow(X, n, need, reader, chunk):
    """A larger column-major buffer holding X's first n rows (sized from the file's
    bytes per row when known)."""
    cap = max(need, 2 * X.shape[0])
    if reader.total_bytes and chunk.nbytes and chunk.row0 + chunk.n:
        per_row = (chunk.nbytes if chunk.row0 == 0 else reader.total_bytes) / max(need, 1)
        cap = max(need, int(reader.total_bytes / max(per_row, 1) * 1.05) + 1024)
    Y = np.empty((cap, X.shape[1]), dtype=X.dtype, order="F")
    Y[:n] = X[:n]
    return Y


# ------------------------------------------------------------------- models


def _build(args):
    from . import IsolationForest, ZScoreDetector

    contamination = args.contamination
    if args.method == "iforest":
        return IsolationForest(
            contamination="auto" if contamination is None else contamination,
            random_state=args.random_state, n_jobs=-1,
        )
    if args.method == "eif":
        from . import ExtendedIsolationForest

        return ExtendedIsolationForest(
            contamination="auto" if contamination is None else contamination,
            random_state=args.random_state, n_jobs=-1,
        )
    if args.method == "zscore":
        return ZScoreDetector(contamination=contamination, n_jobs=-1)
    try:
        from . import LocalOutlierFactor
    except ImportError:
        raise DataError("--method lof needs isoforest.LocalOutlierFactor") from None
    # detect scores the rows it was fitted on (LOF's own, non-novelty scores);
    # fit saves a novelty model for scoring new rows
    return LocalOutlierFactor(
        contamination="auto" if contamination is None else contamination, n_jobs=-1,
        novelty=args.command != "detect",
    )


def _require_finite(X, names, method, row0=0):
    """Only Isolation Forest takes infinities; the other methods need finite data."""
    if method == "iforest":
        return
    bad = np.isinf(X)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise DataError(f"column {names[j]} holds an infinite value (data row "
                        f"{row0 + i + 1}); --method {method} needs finite numbers")


def _fit_model(args, X, names):
    if args.standardize or args.method != "iforest":
        # sums (means, variances, distances) follow NumPy's order for the memory
        # layout: row-major, as a user's array from the Python API would be
        X = np.ascontiguousarray(X)
    _require_finite(X, names, args.method)
    missing = np.isnan(X).any(axis=1)
    drop = (args.missing == "drop" or args.method != "iforest") and missing.any()
    Xfit = X[~missing] if drop else X
    if Xfit.shape[0] == 0:
        raise DataError("no complete row to fit on")
    center = scale = None
    if args.standardize:
        center = np.nanmean(Xfit, axis=0)
        scale = np.nanstd(Xfit, axis=0)
        scale[scale == 0] = 1.0
        Xfit = (Xfit - center) / scale
    model = _build(args)
    model.fit(Xfit)
    extra = {
        "columns": list(names),
        "method": args.method,
        "center": None if center is None else center.tolist(),
        "scale": None if scale is None else scale.tolist(),
        "missing": args.missing,
    }
    return model, extra


def _transform(extra, X):
    if extra.get("center") is not None:
        X = (X - np.asarray(extra["center"])) / np.asarray(extra["scale"])
    return X


class _Scorer:
    """Scores chunk after chunk: (anomaly_score, is_anomaly, scored mask), higher
    score = more anomalous. A LocalOutlierFactor fitted by detect hands out its own
    training scores, in the order of the complete rows."""

    def __init__(self, model, extra):
        self.model, self.extra = model, extra
        self.lof_detect = extra.get("method") == "lof" and not model.novelty
        self._next = 0

    def __call__(self, X):
        model, extra = self.model, self.extra
        X = _transform(extra, X)
        scored = ~np.isnan(X).any(axis=1)
        n = X.shape[0]
        score = np.full(n, np.nan)
        flag = np.full(n, -1, dtype=np.int8)
        if self.lof_detect:
            m = int(scored.sum())
            nof = model.negative_outlier_factor_[self._next: self._next + m]
            self._next += m
            score[scored] = -nof
            flag[scored] = nof < model.offset_
            return score, flag, scored
        if extra.get("method") == "iforest":
            scored[:] = True  # Isolation Forest routes NaN natively
        if scored.any():
            s = model.score_samples(X[scored] if not scored.all() else X)
            score[scored] = -s
            flag[scored] = (s - model.offset_ < 0)
        return score, flag, scored


def _progress(label, done, total):
    if sys.stderr.isatty() and total:
        width = 30
        filled = int(width * min(done, total) / total)
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _explain_columns(model, extra, Xc, scored, k):
    """``why_i`` / ``contribution_i`` columns: the k features that made each scored
    row most anomalous per ``isoforest.explain`` (a forest: most negative value first;
    z-scores: largest |z| first), with their values."""
    from .explain import explain

    n, d = Xc.shape
    k = min(k, d)
    names = np.asarray(extra["columns"], dtype=object)
    why = np.full((n, k), None, dtype=object)
    contrib = np.full((n, k), np.nan)
    if scored.any():
        Z = _transform(extra, Xc[scored])
        values = np.asarray(explain(model, Z).values)
        # a forest's most negative value shortened the paths most; a z-score
        # model's largest |z| is its most anomalous feature
        key = -np.abs(values) if extra.get("method") == "zscore" else values
        order = np.argsort(key, axis=1, kind="stable")[:, :k]
        why[scored] = names[order]
        contrib[scored] = np.take_along_axis(values, order, axis=1)
    cols = []
    for i in range(k):
        cols.append((f"why_{i + 1}", why[:, i]))
        cols.append((f"contribution_{i + 1}", contrib[:, i]))
    return cols


def _explain_names(k, extra):
    k = min(k, len(extra["columns"]))
    return [f"{w}_{i + 1}" for i in range(k) for w in ("why", "contribution")]


def _score_and_write(model, extra, reader, out_path, t0, label, X=None, cols=None,
                     explain_k=0):
    """Score every chunk of ``reader`` and write it; ``X`` holds the numbers already
    read (detect's first pass), else each chunk is parsed as it comes."""
    header = reader.header
    cols_names = extra["columns"]
    if explain_k and extra.get("method") not in ("iforest", "zscore"):
        raise DataError(f"--explain needs --method iforest or zscore, not "
                        f"{extra.get('method')}")
    if cols is None:
        missing_cols = [c for c in cols_names if c not in header]
        if missing_cols:
            raise DataError(f"input lacks the model's column(s): {', '.join(missing_cols)}")
        cols = [header.index(c) for c in cols_names]
    scorer = _Scorer(model, extra)
    drop = extra.get("missing", "drop") == "drop"
    n_rows = n_written = n_incomplete = n_anom = 0
    writer = None
    created = out_path != "-" and not os.path.exists(out_path)
    try:
        added = ADDED + (_explain_names(explain_k, extra) if explain_k else [])
        writer = open_writer(out_path, reader, added, float_columns=cols)
        total = X.shape[0] if X is not None else reader.total_bytes
        done_bytes = 0
        for chunk in reader.chunks():
            if X is not None:
                Xc = X[chunk.row0: chunk.row0 + chunk.n]
            else:
                Xc = reader.numbers(chunk, cols, strict=True)[0]
                _require_finite(Xc, cols_names, extra.get("method"), chunk.row0)
            score, flag, scored = scorer(Xc)
            incomplete = np.isnan(Xc).any(axis=1)
            keep = ~incomplete if drop else np.ones(chunk.n, bool)
            more = (_explain_columns(model, extra, Xc, scored, explain_k)
                    if explain_k else None)
            writer.write(chunk, keep, score, flag, extra_cols=more, X=Xc, cols=cols)
            n_rows += chunk.n
            n_written += int(keep.sum())
            n_incomplete += int(incomplete.sum())
            n_anom += int((flag[keep] == 1).sum())
            done_bytes += chunk.nbytes
            _progress("scoring", n_rows if X is not None else done_bytes, total)
        writer.close()
        writer = None
    except BaseException:
        if writer is not None:
            try:
                writer.close()
            except Exception:
                pass
        if created and os.path.exists(out_path):
            os.unlink(out_path)
        raise
    print(
        f"{label}: {n_rows} rows read, {n_written} written, "
        f"{n_incomplete} with missing values "
        f"({'dropped' if drop else 'kept'}), "
        f"{n_anom} anomalies, {time.perf_counter() - t0:.3f} s",
        file=sys.stderr,
    )


# ------------------------------------------------------------------ commands


def _fit_from_file(args, reader, cols, n, holes):
    """Isolation Forest on a file without holding it: the forest ``fit(X)`` builds,
    from one more pass that reads only the drawn rows (and, for a float
    contamination, one that scores them all)."""
    from .io._tabular import TableSource

    drop = args.missing == "drop" and holes.size
    rows = np.setdiff1d(np.arange(n, dtype=np.int64), holes) if drop else None
    if n == 0 or (rows is not None and rows.size == 0):
        raise DataError("no complete row to fit on")
    model = _build(args)
    model.fit(TableSource(reader.reopen, cols, n, rows))
    extra = {"columns": [reader.header[j] for j in cols], "method": args.method,
             "center": None, "scale": None, "missing": args.missing}
    return model, extra


def _two_pass(args, reader):
    """Whether detect reads its input twice instead of holding its numbers: a file
    (standard input cannot be re-read) larger than the ``hold_bytes`` setting (files
    up to it are parsed once and their numbers held, n x d float64, smaller than
    the file), Isolation Forest (z-scores, LOF and --standardize hold the numeric
    matrix)."""
    return (args.input != "-" and args.method == "iforest" and not args.standardize
            and (reader.total_bytes or 0) > get_config()["hold_bytes"])


def cmd_detect(args):
    t0 = time.perf_counter()
    reader = open_table(args.input)
    if _two_pass(args, reader):
        (n, holes), cols = _collect(reader, args.columns, store=False)
        model, extra = _fit_from_file(args, reader, cols, n, holes)
        X = None
    else:
        reader.hold()  # standard input cannot be read twice: keep its records
        # Isolation Forest reads its input as float32 (as scikit-learn does): holding
        # the numbers so halves the memory and changes no score
        plain_forest = args.method == "iforest" and not args.standardize
        X, cols = _collect(reader, args.columns,
                           dtype=np.float32 if plain_forest else np.float64)
        model, extra = _fit_model(args, X, [reader.header[j] for j in cols])
    _score_and_write(model, extra, reader.reopen(), args.out, t0, "detect", X=X, cols=cols,
                     explain_k=args.explain)
    return EXIT_OK


def cmd_fit(args):
    t0 = time.perf_counter()
    reader = open_table(args.input)
    X, cols = _collect(reader, args.columns)
    model, extra = _fit_model(args, X, [reader.header[j] for j in cols])
    save_model(model, args.model, extra=extra)
    print(f"fit: {X.shape[0]} rows, model written to {args.model} "
          f"({time.perf_counter() - t0:.3f} s)", file=sys.stderr)
    return EXIT_OK


def _load(path):
    try:
        model, extra = load_model(path, return_extra=True)
    except FileNotFoundError:
        raise DataError(f"no model file {path}") from None
    except ModelFileError as exc:
        raise DataError(str(exc)) from None
    if not isinstance(extra, dict):
        raise DataError(f"invalid model file: {path} has no CLI settings")
    cols = extra.get("columns")
    if (not isinstance(cols, list) or len(cols) != model.n_features_in_
            or not all(isinstance(c, str) for c in cols)):
        raise DataError(f"invalid model file: {path} has no column list for the CLI")
    if extra.get("method") not in ("iforest", "eif", "zscore", "lof"):
        raise DataError(f"invalid model file: {path} names no known method")
    if extra.get("missing", "drop") not in ("drop", "keep"):
        raise DataError(f"invalid model file: {path} has an unknown missing-value rule")
    for key in ("center", "scale"):
        v = extra.get(key)
        if v is not None and (
            not isinstance(v, list) or len(v) != len(cols)
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                       and math.isfinite(x) for x in v)
        ):
            raise DataError(f"invalid model file: {key} does not match the columns")
    if (extra.get("center") is None) != (extra.get("scale") is None) or (
        extra.get("scale") is not None and any(x == 0 for x in extra["scale"])
    ):
        raise DataError("invalid model file: center and scale must come together, "
                        "with non-zero scales")
    return model, extra


def cmd_score(args):
    t0 = time.perf_counter()
    model, extra = _load(args.model)
    if args.scheduler is not None:
        if args.explain:
            raise DataError("--explain is not available with --scheduler")
        return _score_dask(args, model, extra, t0)
    reader = open_table(args.input)
    _score_and_write(model, extra, reader, args.out, t0, "score", explain_k=args.explain)
    return EXIT_OK


def _score_dask(args, model, extra, t0):
    try:
        from ._dask import score_files

        summary = score_files(model, extra, args.input, args.out,
                              scheduler=args.scheduler)
    except ImportError:
        raise DataError("--scheduler needs dask: pip install isoforest[dask]") from None
    except (ValueError, OSError) as exc:
        raise DataError(str(exc)) from None
    print(f"score: {summary['rows']} rows written in {summary['partitions']} "
          f"partition file(s) to {args.out}, {summary['anomalies']} anomalies, "
          f"{time.perf_counter() - t0:.3f} s", file=sys.stderr)
    return EXIT_OK


def cmd_stream(args):
    learner = None
    if args.method is None:
        model, extra = _load(args.model)
        initial = b""
    else:
        learner, initial = _learner(args)
        model, extra = learner, {"columns": learner.columns, "method": args.method}
    metrics = None
    if args.metrics_port is not None:
        from ._metrics import StreamMetrics

        try:
            metrics = StreamMetrics(args.metrics_port, _kind(model, args), extra["columns"],
                                    addr=args.metrics_addr)
        except ImportError as exc:
            raise DataError(str(exc)) from None
        except OSError as exc:
            raise DataError(f"--metrics-port {args.metrics_port}: {exc}") from None

    def checkpoint():
        learner.maybe_save(args.state)

    on_batch = checkpoint if learner is not None and args.state else None
    try:
        if args.source is not None:
            return _broker_stream(args, model, extra, on_batch, metrics)
        return _stdin_stream(args, model, extra, initial, on_batch, metrics)
    finally:
        if learner is not None and args.state and learner.model._started():
            learner.save(args.state)
        if metrics is not None:
            metrics.close()


def _kind(model, args):
    return args.method if args.method is not None else type(model).__name__


def _stdin_stream(args, model, extra, initial, on_batch, metrics):
    from .stream import run_stdio_stream

    def stop(signum, frame):
        raise KeyboardInterrupt

    # a learning stream leaves cleanly on SIGTERM (its state is saved); a fitted
    # model's stream keeps the default (it has nothing to save)
    previous = signal.signal(signal.SIGTERM, stop) if args.method is not None else None
    try:
        return run_stdio_stream(model, extra, alert_log=args.alert_log,
                                max_batch=args.max_batch,
                                max_wait=args.max_wait_ms / 1000.0,
                                top_features=args.top_features, initial=initial,
                                on_batch=on_batch, metrics=metrics)
    except KeyboardInterrupt:
        if args.method is None:
            raise
        return EXIT_OK
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _broker_stream(args, model, extra, on_batch, metrics):
    from .broker import AmqpSink, AmqpSource, run_broker_stream

    source = AmqpSource(args.source, prefetch=args.prefetch)
    sink = AmqpSink(args.sink, "--sink")
    alerts = AmqpSink(args.alerts, "--alerts") if args.alerts else None
    return run_broker_stream(model, extra, source, sink, alerts,
                             top_features=args.top_features,
                             max_bytes=args.max_message_bytes, on_batch=on_batch,
                             metrics=metrics)


def _check_stream_usage(parser, args):
    """Usage errors (exit 2) that argparse cannot express on its own."""
    if args.model is None and args.method is None:
        parser.error("stream needs --model (a fitted model) or --method hst|rcf (a "
                     "forest that learns from the stream)")
    if args.model is not None and args.method is not None:
        parser.error("--model and --method exclude each other: a learning stream keeps "
                     "its state in --state")
    if args.method != "rcf" and args.shingle is not None:
        parser.error("--shingle applies to --method rcf only")
    if args.method != "hst" and args.height is not None:
        parser.error("--height applies to --method hst only")
    if args.method != "hst" and args.limits is not None:
        parser.error("--limits applies to --method hst only")
    if args.method is None and args.columns is not None:
        parser.error("--columns applies to --method hst|rcf (a fitted model knows its "
                     "columns)")
    if (args.source is None) != (args.sink is None):
        parser.error("--source and --sink come together")
    if args.alerts is not None and args.source is None:
        parser.error("--alerts applies to --source")
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        parser.error("--metrics-port must be in [0, 65535]")


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


def _learner(args):
    """The learning stream's StreamLearner (resumed from --state when that exists)
    and the input it read to find the columns (stdin's first line)."""
    from .streaming._learner import StreamLearner

    learner = None
    if args.state and os.path.exists(args.state):
        try:
            learner = StreamLearner.load(args.state)
        except (ValueError, ModelFileError) as exc:
            raise DataError(f"--state {args.state}: {exc}") from None
        if learner.method != args.method:
            raise DataError(f"--state {args.state} holds a {learner.method} stream, "
                            f"not {args.method}")
    initial = b""
    if args.columns is not None:
        columns = [c.strip() for c in args.columns.split(",")]
    elif args.source is None:
        initial, line = _first_line(sys.stdin.fileno())
        if learner is None and line is None:
            raise DataError("empty stream: no header and no record")
        columns = None if line is None else _columns_of(line)
    else:
        columns = None
    if learner is not None:
        if args.columns is not None and columns != learner.columns:
            raise DataError(f"--columns {args.columns} are not the columns of --state "
                            f"{args.state}: {','.join(learner.columns)}")
        return learner, initial
    if columns is None:
        raise DataError("--source with --method needs --columns (the records' keys)")
    if len(set(columns)) != len(columns) or not all(columns):
        raise DataError("the header line names a column twice or not at all" if args.columns is None
                        else "--columns names a column twice or not at all")
    try:
        learner = StreamLearner(args.method, columns, trees=args.trees,
                                window=args.window, shingle=args.shingle,
                                height=args.height, random_state=args.random_state,
                                limits=args.limits)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    return learner, initial


def _columns_of(line):
    """The columns a stream's first line names: its fields, or x0, x1, ... when it
    is a record."""
    fields = [f.strip() for f in line.split(b",")]
    try:
        [float(f) for f in fields]
        return [f"x{j}" for j in range(len(fields))]
    except ValueError:
        return [f.decode("utf-8", "replace") for f in fields]


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
    p.add_argument("--method", choices=["iforest", "eif", "lof", "zscore"],
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
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("fit", help="fit a detector and save it",
                       description="Fit a detector on INPUT and save it to MODEL "
                                   "(NumPy arrays + JSON, no pickle).")
    p.add_argument("input", help="CSV file with a header")
    p.add_argument("--model", required=True, help="model file to write")
    _model_options(p)
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
                                   "it is, rcf's divided by its running maximum, and 1 "
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
    p.set_defaults(func=cmd_stream)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "stream":
        _check_stream_usage(parser, args)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
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

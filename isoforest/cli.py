"""Command line: CSV in, anomalies out; live streams with alerts.

    isoforest detect INPUT.csv --out OUT.csv [--method iforest|eif|zscore] ...
    isoforest fit INPUT.csv --model MODEL [same options]
    isoforest score MODEL INPUT.csv --out OUT.csv
    isoforest stream --model MODEL [--alert-log FILE]

Exit codes: 0 success, 1 bad data (unreadable CSV, no usable column, invalid model
file), 2 bad usage (argparse's own code).
"""

import argparse
import csv
import io
import logging
import math
import os
import sys
import time

import numpy as np

from .io._model_files import ModelFileError, load_model, save_model

__all__ = ["main"]

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2
MISSING = {"", "na", "nan", "null", "none", "n/a", "?"}


class DataError(Exception):
    """Bad input data: reported on stderr, exit code 1."""


# --------------------------------------------------------------------- CSV


def _to_float(text):
    t = text.strip()
    if t.lower() in MISSING:
        return math.nan
    return float(t)


def read_csv(path):
    """Read a CSV with a header: returns (header, rows as lists of strings)."""
    try:
        fh = sys.stdin if path == "-" else open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot open {path}: {exc.strerror}") from None
    with fh if path != "-" else _nullcontext(fh):
        try:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path} is empty: a header line is required")
            width = len(header)
            rows = []
            for r in reader:
                if not r:
                    continue  # blank line
                if len(r) != width:
                    raise DataError(f"{path}, line {reader.line_num}: {len(r)} fields, "
                                    f"the header has {width}")
                rows.append(r)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not a readable CSV ({exc})") from None
    return header, rows


class _nullcontext:
    def __init__(self, obj):
        self.obj = obj

    def __enter__(self):
        return self.obj

    def __exit__(self, *exc):
        return False


def numeric_columns(header, rows):
    """Indices of the columns whose every non-missing value parses as a number."""
    out = []
    for j in range(len(header)):
        ok = True
        seen = False
        for r in rows:
            t = r[j].strip()
            if t.lower() in MISSING:
                continue
            try:
                float(t)
                seen = True
            except ValueError:
                ok = False
                break
        if ok and seen:
            out.append(j)
    return out


def select_columns(header, rows, names):
    """The column indices to model: those named, else every numeric one."""
    if names:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        missing = [n for n in wanted if n not in header]
        if missing:
            raise DataError(f"no column named {', '.join(missing)} (have: {', '.join(header)})")
        cols = [header.index(n) for n in wanted]
        numeric = set(numeric_columns(header, rows))
        bad = [header[j] for j in cols if j not in numeric]
        if bad:
            raise DataError(f"column(s) {', '.join(bad)} are not numeric")
        return cols
    cols = numeric_columns(header, rows)
    if not cols:
        raise DataError("no numeric column to model (name them with --columns)")
    return cols


def to_matrix(rows, cols):
    X = np.empty((len(rows), len(cols)), dtype=np.float64)
    for i, r in enumerate(rows):
        for k, j in enumerate(cols):
            X[i, k] = _to_float(r[j])
    return X


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


def _require_finite(X, names, method):
    """Only Isolation Forest takes infinities; the other methods need finite data."""
    if method == "iforest":
        return
    bad = np.isinf(X)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise DataError(f"column {names[j]} holds an infinite value (data row {i + 1}); "
                        f"--method {method} needs finite numbers")


def _fit_model(args, header, rows):
    cols = select_columns(header, rows, args.columns)
    X = to_matrix(rows, cols)
    _require_finite(X, [header[j] for j in cols], args.method)
    missing = np.isnan(X).any(axis=1)
    Xfit = X[~missing] if (args.missing == "drop" or args.method != "iforest") else X
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
        "columns": [header[j] for j in cols],
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


def _score(model, extra, X):
    """(anomaly_score, is_anomaly, scored mask): higher score = more anomalous."""
    X = _transform(extra, X)
    scored = ~np.isnan(X).any(axis=1)
    if extra.get("method") == "lof" and not model.novelty:
        # a LocalOutlierFactor fitted by detect on exactly these complete rows
        score = np.full(X.shape[0], np.nan)
        flag = np.zeros(X.shape[0], dtype=int)
        score[scored] = -model.negative_outlier_factor_
        flag[scored] = (model.negative_outlier_factor_ < model.offset_).astype(int)
        return score, flag, scored
    if extra.get("method") == "iforest":
        scored[:] = True  # Isolation Forest routes NaN natively
    score = np.full(X.shape[0], np.nan)
    flag = np.zeros(X.shape[0], dtype=int)
    if scored.any():
        Xs = X[scored]
        s = model.score_samples(Xs)
        score[scored] = -s
        flag[scored] = (s - model.offset_ < 0).astype(int)
    return score, flag, scored


def _write_scored(out_path, header, rows, score, flag, keep_rows):
    fh = sys.stdout if out_path == "-" else open(out_path, "w", newline="", encoding="utf-8")
    try:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(list(header) + ["anomaly_score", "is_anomaly"])
        for i, r in enumerate(rows):
            if not keep_rows[i]:
                continue
            if math.isnan(score[i]):
                w.writerow(r + ["", ""])
            else:
                w.writerow(r + [repr(float(score[i])), int(flag[i])])
    finally:
        if fh is not sys.stdout:
            fh.close()


def _progress(label, done, total):
    if sys.stderr.isatty() and total:
        width = 30
        filled = int(width * done / total)
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _score_and_write(model, extra, header, rows, out_path, t0, label):
    cols_names = extra["columns"]
    missing_cols = [c for c in cols_names if c not in header]
    if missing_cols:
        raise DataError(f"input lacks the model's column(s): {', '.join(missing_cols)}")
    cols = [header.index(c) for c in cols_names]
    try:
        X = to_matrix(rows, cols)
    except ValueError as exc:
        raise DataError(f"a model column holds a non-number ({exc})") from None
    _require_finite(X, cols_names, extra.get("method"))
    n = X.shape[0]
    score = np.full(n, np.nan)
    flag = np.zeros(n, dtype=int)
    scored = np.zeros(n, dtype=bool)
    lof_detect = extra.get("method") == "lof" and not model.novelty
    step = max(1, n // 20) if n > 200_000 and not lof_detect else max(n, 1)
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        s, f, m = _score(model, extra, X[lo:hi])
        score[lo:hi], flag[lo:hi], scored[lo:hi] = s, f, m
        _progress("scoring", hi, n)
    incomplete = np.isnan(X).any(axis=1)
    keep = ~incomplete if extra.get("missing", "drop") == "drop" else np.ones(n, bool)
    _write_scored(out_path, header, rows, score, flag, keep)
    n_anom = int(flag[keep].sum())
    print(
        f"{label}: {n} rows read, {int(keep.sum())} written, "
        f"{int(incomplete.sum())} with missing values "
        f"({'dropped' if extra.get('missing', 'drop') == 'drop' else 'kept'}), "
        f"{n_anom} anomalies, {time.perf_counter() - t0:.3f} s",
        file=sys.stderr,
    )


# ------------------------------------------------------------------ commands


def cmd_detect(args):
    t0 = time.perf_counter()
    header, rows = read_csv(args.input)
    model, extra = _fit_model(args, header, rows)
    _score_and_write(model, extra, header, rows, args.out, t0, "detect")
    return EXIT_OK


def cmd_fit(args):
    t0 = time.perf_counter()
    header, rows = read_csv(args.input)
    model, extra = _fit_model(args, header, rows)
    save_model(model, args.model, extra=extra)
    print(f"fit: {len(rows)} rows, model written to {args.model} "
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
    header, rows = read_csv(args.input)
    _score_and_write(model, extra, header, rows, args.out, t0, "score")
    return EXIT_OK


def cmd_stream(args):
    from .stream import run_stdio_stream

    model, extra = _load(args.model)
    return run_stdio_stream(model, extra, alert_log=args.alert_log,
                            max_batch=args.max_batch, max_wait=args.max_wait_ms / 1000.0)


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


def build_parser():
    parser = argparse.ArgumentParser(
        prog="isoforest",
        description="Anomaly detection on CSV files and live streams.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("detect", help="fit and score a CSV in one go",
                       description="Fit a detector on INPUT and write every row with "
                                   "anomaly_score (higher = more anomalous) and "
                                   "is_anomaly (1/0) columns added.")
    p.add_argument("input", help="CSV file with a header ('-' for stdin)")
    p.add_argument("--out", required=True, help="output CSV ('-' for stdout)")
    _model_options(p)
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
                                   "anomaly_score and is_anomaly added.")
    p.add_argument("model", help="model file written by 'isoforest fit'")
    p.add_argument("input", help="CSV file with a header ('-' for stdin)")
    p.add_argument("--out", required=True, help="output CSV ('-' for stdout)")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("stream", help="score records from stdin as they arrive",
                       description="Read records (the model's columns, as CSV, header "
                                   "optional) from standard input and write "
                                   "'anomaly_score,is_anomaly' for each, in order. "
                                   "Anomalies are also logged to the alert log.")
    p.add_argument("--model", required=True, help="model file written by 'isoforest fit'")
    p.add_argument("--alert-log", default=None,
                   help="file the alerts are logged to (default: stderr)")
    p.add_argument("--max-batch", type=int, default=1024,
                   help="most records scored together (default 1024)")
    p.add_argument("--max-wait-ms", type=float, default=0.2,
                   help="longest a record waits for others to batch with (default 0.2)")
    p.set_defaults(func=cmd_stream)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
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

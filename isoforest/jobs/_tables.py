"""The table jobs: :func:`detect`, :func:`fit`, :func:`score` (read a table in
chunks, fit, score, write each record back with its added fields)."""

import dataclasses
import math
import os
import sys
import time

import numpy as np

from .._config import get_config
from ..io._model_files import ModelFileError, load_model, save_model
from ..io._tabular import DataError, open_table, open_writer

__all__ = ["detect", "fit", "score", "ModelOptions", "load_cli_model"]

ADDED = ["anomaly_score", "is_anomaly"]
#: The detectors the table jobs fit (the command line's ``--method``).
METHODS = ("iforest", "eif", "lof", "zscore")


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """How :func:`detect` and :func:`fit` model a table (the command line's model
    options).

    Parameters
    ----------
    method : {"iforest", "eif", "lof", "zscore"}, default="iforest"
    contamination : float in (0, 0.5] or None, default=None
        None: the method's own rule (``"auto"`` for the forests and LOF).
    columns : str or None, default=None
        Comma-separated columns to model; None: every numeric column.
    standardize : bool, default=False
        z-standardise the columns before fitting.
    random_state : int, default=0
    missing : {"drop", "keep"}, default="drop"
        Rows with a missing value: left out of the output, or kept (Isolation
        Forest scores them natively; the other methods leave their score empty).
    """

    method: str = "iforest"
    contamination: float = None
    columns: str = None
    standardize: bool = False
    random_state: int = 0
    missing: str = "drop"

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"The 'method' parameter must be one of {list(METHODS)}. "
                             f"Got {self.method!r} instead.")
        c = self.contamination
        if c is not None and (isinstance(c, bool) or not isinstance(c, (int, float))
                              or not 0 < c <= 0.5):
            raise ValueError("The 'contamination' parameter must be None or a float in "
                             f"the range (0.0, 0.5]. Got {c!r} instead.")
        if self.missing not in ("drop", "keep"):
            raise ValueError("The 'missing' parameter must be 'drop' or 'keep'. Got "
                             f"{self.missing!r} instead.")


def _summary(t0, **counts):
    return dict(counts, seconds=time.perf_counter() - t0)


def detect(input, out, *, explain=0, progress=False, **options):
    """Fit a detector on a table and write every row with ``anomaly_score``
    (higher = more anomalous) and ``is_anomaly`` (1/0) added.

    Parameters
    ----------
    input, out : str
        Paths of the input and output tables (``"-"``: CSV on standard input /
        output). An output row is its input record, byte for byte, with the added
        fields.
    explain : int, default=0
        Add ``why_i`` / ``contribution_i`` columns naming the ``explain`` features
        that made each row most anomalous (iforest and zscore).
    progress : bool, default=False
        Draw a progress bar on standard error when it is a terminal.
    **options
        :class:`ModelOptions`' fields.

    Returns
    -------
    summary : dict
        ``rows`` read, ``written``, ``incomplete`` (rows with a missing value),
        ``missing`` (their rule), ``anomalies``, ``seconds``.
    """
    opts = ModelOptions(**options)
    t0 = time.perf_counter()
    reader = open_table(input)
    if _two_pass(opts, input, reader):
        (n, holes), cols = _collect(reader, opts.columns, store=False)
        model, extra = _fit_from_file(opts, reader, cols, n, holes)
        X = None
    else:
        reader.hold()  # standard input cannot be read twice: keep its records
        # Isolation Forest reads its input as float32 (as scikit-learn does): holding
        # the numbers so halves the memory and changes no score
        plain_forest = opts.method == "iforest" and not opts.standardize
        X, cols = _collect(reader, opts.columns,
                           dtype=np.float32 if plain_forest else np.float64)
        model, extra = _fit_model(opts, X, [reader.header[j] for j in cols], "detect")
    counts = _score_and_write(model, extra, reader.reopen(), out, X=X, cols=cols,
                              explain_k=explain, progress=progress)
    return _summary(t0, **counts)


def fit(input, model, *, key=None, **options):
    """Fit a detector on a table and save it to the model file ``model`` (NumPy
    arrays and JSON, no pickle), with the columns and options :func:`score` and
    :func:`stream` need.

    Parameters
    ----------
    input : str
        A table with a header (``"-"``: CSV on standard input).
    model : str
        The model file to write.
    key : bytes or str, optional
        Sign the model file with HMAC-SHA256 under this secret (see
        :func:`isoforest.save_model`).
    **options
        :class:`ModelOptions`' fields.

    Returns
    -------
    summary : dict
        ``rows``, ``model`` (the path), ``seconds``.
    """
    opts = ModelOptions(**options)
    t0 = time.perf_counter()
    reader = open_table(input)
    X, cols = _collect(reader, opts.columns)
    fitted, extra = _fit_model(opts, X, [reader.header[j] for j in cols], "fit")
    save_model(fitted, model, extra=extra, key=key)
    return _summary(t0, rows=X.shape[0], model=model)


def score(model, input, out, *, explain=0, scheduler=None, progress=False, key=None):
    """Score a table with a model file written by :func:`fit`; every row is written
    with ``anomaly_score`` and ``is_anomaly`` added, chunk by chunk (any size in
    bounded memory).

    Parameters
    ----------
    model : str
        The model file.
    input, out : str
        As in :func:`detect`. With ``scheduler``, ``input`` is a glob of Parquet or
        CSV files and ``out`` a directory with one file per input partition.
    explain : int, default=0
        As in :func:`detect`.
    scheduler : str or None, default=None
        Score through ``dask.dataframe``: ``"local"`` starts a cluster here, else
        the scheduler's address (needs ``isoforest[dask]``).
    progress : bool, default=False
    key : bytes or str, optional
        The secret the model file was signed with: a file not signed with it is
        refused (:class:`DataError`).

    Returns
    -------
    summary : dict
        As :func:`detect`'s; with ``scheduler``: ``rows``, ``partitions``,
        ``anomalies``, ``seconds``.
    """
    t0 = time.perf_counter()
    fitted, extra = load_cli_model(model, key)
    if scheduler is not None:
        if explain:
            raise DataError("--explain is not available with --scheduler")
        return _summary(t0, **_score_dask(fitted, extra, input, out, scheduler))
    reader = open_table(input)
    counts = _score_and_write(fitted, extra, reader, out, explain_k=explain,
                              progress=progress)
    return _summary(t0, **counts)


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


def _build(opts, job):
    from .. import IsolationForest, ZScoreDetector

    contamination = opts.contamination
    if opts.method == "iforest":
        return IsolationForest(
            contamination="auto" if contamination is None else contamination,
            random_state=opts.random_state, n_jobs=-1,
        )
    if opts.method == "eif":
        from .. import ExtendedIsolationForest

        return ExtendedIsolationForest(
            contamination="auto" if contamination is None else contamination,
            random_state=opts.random_state, n_jobs=-1,
        )
    if opts.method == "zscore":
        return ZScoreDetector(contamination=contamination, n_jobs=-1)
    try:
        from .. import LocalOutlierFactor
    except ImportError:
        raise DataError("--method lof needs isoforest.LocalOutlierFactor") from None
    # detect scores the rows it was fitted on (LOF's own, non-novelty scores);
    # fit saves a novelty model for scoring new rows
    return LocalOutlierFactor(
        contamination="auto" if contamination is None else contamination, n_jobs=-1,
        novelty=job != "detect",
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


def _fit_model(opts, X, names, job):
    if opts.standardize or opts.method != "iforest":
        # sums (means, variances, distances) follow NumPy's order for the memory
        # layout: row-major, as a user's array from the Python API would be
        X = np.ascontiguousarray(X)
    _require_finite(X, names, opts.method)
    missing = np.isnan(X).any(axis=1)
    drop = (opts.missing == "drop" or opts.method != "iforest") and missing.any()
    Xfit = X[~missing] if drop else X
    if Xfit.shape[0] == 0:
        raise DataError("no complete row to fit on")
    center = scale = None
    if opts.standardize:
        center = np.nanmean(Xfit, axis=0)
        scale = np.nanstd(Xfit, axis=0)
        scale[scale == 0] = 1.0
        Xfit = (Xfit - center) / scale
    model = _build(opts, job)
    model.fit(Xfit)
    extra = {
        "columns": list(names),
        "method": opts.method,
        "center": None if center is None else center.tolist(),
        "scale": None if scale is None else scale.tolist(),
        "missing": opts.missing,
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
    if total and sys.stderr.isatty():
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
    from ..explain import explain

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


def _score_and_write(model, extra, reader, out_path, X=None, cols=None, explain_k=0,
                     progress=False):
    """Score every chunk of ``reader`` and write it; ``X`` holds the numbers already
    read (detect's first pass), else each chunk is parsed as it comes. Returns the
    counts of :func:`detect`'s summary."""
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
            if progress:
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
    return {"rows": n_rows, "written": n_written, "incomplete": n_incomplete,
            "missing": "drop" if drop else "keep", "anomalies": n_anom}


# ------------------------------------------------------------------ the jobs' steps


def _fit_from_file(opts, reader, cols, n, holes):
    """Isolation Forest on a file without holding it: the forest ``fit(X)`` builds,
    from one more pass that reads only the drawn rows (and, for a float
    contamination, one that scores them all)."""
    from ..io._tabular import TableSource

    drop = opts.missing == "drop" and holes.size
    rows = np.setdiff1d(np.arange(n, dtype=np.int64), holes) if drop else None
    if n == 0 or (rows is not None and rows.size == 0):
        raise DataError("no complete row to fit on")
    model = _build(opts, "detect")
    model.fit(TableSource(reader.reopen, cols, n, rows))
    extra = {"columns": [reader.header[j] for j in cols], "method": opts.method,
             "center": None, "scale": None, "missing": opts.missing}
    return model, extra


def _two_pass(opts, path, reader):
    """Whether detect reads its input twice instead of holding its numbers: a file
    (standard input cannot be re-read) larger than the ``hold_bytes`` setting (files
    up to it are parsed once and their numbers held, n x d float64, smaller than
    the file), Isolation Forest (z-scores, LOF and --standardize hold the numeric
    matrix)."""
    return (path != "-" and opts.method == "iforest" and not opts.standardize
            and (reader.total_bytes or 0) > get_config()["hold_bytes"])


def load_cli_model(path, key=None):
    """A model file written by :func:`fit` and its command-line settings
    (``(model, extra)``), checked: DataError when it is missing, invalid, or lacks
    the columns and options the jobs need."""
    try:
        model, extra = load_model(path, return_extra=True, key=key)
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


def _score_dask(model, extra, input, out, scheduler):
    try:
        from ..dask import score_files

        summary = score_files(model, extra, input, out, scheduler=scheduler)
    except ImportError:
        raise DataError("--scheduler needs dask: pip install isoforest[dask]") from None
    except (ValueError, OSError) as exc:
        raise DataError(str(exc)) from None
    return {"rows": summary["rows"], "partitions": summary["partitions"],
            "anomalies": summary["anomalies"]}

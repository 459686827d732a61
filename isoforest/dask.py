"""Dask collections in, the same models and scores out (optional extra ``isoforest[dask]``).

Loaded only when an estimator meets a dask collection
(``isoforest._validation.is_dask_collection`` looks at the object's type first and
never imports dask); the estimators come in through one door,
``isoforest._base.dask_hook``, which calls :func:`dispatch`. What runs where:

* **On the caller** (fit): the bagging draws, replayed exactly as for NumPy input
  (``IsolationForest._fit_forest`` with a :class:`DaskSource`), and the tree
  building. The caller never holds ``X``: it learns the partitions' row counts, then
  asks each partition holding drawn rows for those rows only (one small task per such
  partition) -- at most ``n_estimators * max_samples`` rows travel.
* **On the workers**: the row counts, the drawn rows, all scoring (``score_samples``,
  ``decision_function``, ``predict``: lazy, one task per partition, the model one key
  per graph), z-score moments (merged by a tree of Chan et al. updates), and the
  histograms of the exact percentile behind a float ``contamination``.
"""

import math
import warnings

import numpy as np

from ._validation import is_dask_collection

__all__ = [
    "dispatch",
    "is_dask_collection",
    "DaskSource",
    "fit_forest",
    "fit_zscore",
    "lazy_method",
    "exact_percentile",
]

#: The largest number of values fetched to the caller to finish an exact selection;
#: above it, one more histogram pass narrows the interval first.
SELECT_FETCH_MAX = 1 << 20
#: Bins of each histogram pass of the exact selection.
SELECT_BINS = 1 << 12


def dispatch(est, X, method, *args):
    """What the estimator ``est``'s ``method`` does with the dask collection ``X``:
    an Isolation Forest's ``fit`` draws and builds on the caller from the drawn rows
    only; a z-score detector's ``fit`` / ``partial_fit`` merges the partitions'
    moments; scoring (``score_samples``, ``decision_function``, ``predict``) is lazy,
    one task per partition. LocalOutlierFactor computes its training rows itself
    (its neighbour search needs them in one process). An estimator names its way
    of fitting in its class attribute ``_dask_fit`` (``"forest"`` or
    ``"moments"``), so this module imports no estimator."""
    if method in ("score_samples", "decision_function", "predict"):
        return lazy_method(est, X, method)
    way = getattr(type(est), "_dask_fit", None)
    if method == "fit" and way == "forest":
        return fit_forest(est, X, *args)
    if method in ("fit", "partial_fit") and way == "moments":
        return fit_zscore(est, X, partial=method == "partial_fit")
    raise TypeError(f"{type(est).__name__}.{method} does not take a dask collection")


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - dask is what brought us here
        raise ImportError(
            "dask input needs dask[array,dataframe] and distributed: "
            "pip install isoforest[dask]"
        ) from exc
    return dask, da


def _is_dataframe(X):
    return hasattr(X, "columns") and hasattr(X, "map_partitions") and X.ndim == 2


def _is_series(X):
    return hasattr(X, "map_partitions") and getattr(X, "ndim", None) == 1


# --------------------------------------------------------------------- row source
def _take_block(blocks, local):
    """Rows ``local`` of one row-partition, its column blocks side by side."""
    if len(blocks) == 1:
        out = blocks[0]
    else:
        out = np.concatenate([np.asarray(b) for b in blocks], axis=1)
    return np.asarray(out)[local]


def _take_frame(part, local):
    return part.iloc[local]


def _block_len(block):
    return len(block)


def _row_source_base():
    from .forest._source import RowSource

    return RowSource


class DaskSource(_row_source_base()):
    """Rows of a dask array or data frame, read on demand (a ``RowSource``).

    Attributes ``n_samples``, ``n_features`` and ``feature_names``; ``take(rows)``
    returns the requested rows (sorted, unique, int64) as a float array in that
    order, computing only those rows: one small task per partition holding any;
    ``iter_blocks()`` yields the partitions one at a time.

    ``rows_taken`` / ``bytes_taken`` count what reached the caller.
    """

    def __init__(self, X):
        dask, da = _import_dask()
        self._dask = dask
        self.frame = _is_dataframe(X)
        if self.frame:
            self._parts = list(X.to_delayed())
            lengths = dask.compute(*[dask.delayed(_block_len)(p) for p in self._parts])
            self._meta = X._meta
            from ._validation import get_feature_names

            # scikit-learn's rules (all strings, or none; mixed types refused)
            self.feature_names = get_feature_names(X._meta)
            self.n_features = len(X.columns)
        else:
            if X.ndim != 2:
                raise ValueError(
                    "Expected 2D array, got %dD array instead. Reshape your data either "
                    "using array.reshape(-1, 1) if your data has a single feature or "
                    "array.reshape(1, -1) if it contains a single sample." % X.ndim
                )
            if any(math.isnan(c) for c in X.chunks[0]):
                X = X.compute_chunk_sizes()
            self._blocks = X.to_delayed()
            lengths = X.chunks[0]
            self._meta = np.empty((0, X.shape[1]), dtype=X.dtype)
            self.feature_names = None
            self.n_features = int(X.shape[1])
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.offsets = np.zeros(len(self.lengths) + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=self.offsets[1:])
        self.n_samples = int(self.offsets[-1])
        self.collection = X
        self.rows_taken = 0
        self.bytes_taken = 0

    def _partition_task(self, p, local):
        delayed = self._dask.delayed
        if self.frame:
            return delayed(_take_frame, pure=True)(self._parts[p], local)
        return delayed(_take_block, pure=True)(list(self._blocks[p]), local)

    def take(self, rows):
        """The rows ``rows`` (sorted unique int64 global ids), in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        part = np.searchsorted(self.offsets, rows, side="right") - 1
        bounds = np.searchsorted(part, np.arange(len(self.lengths) + 1), side="left")
        tasks = []
        for p in range(len(self.lengths)):
            lo, hi = bounds[p], bounds[p + 1]
            if hi > lo:
                tasks.append(self._partition_task(p, rows[lo:hi] - self.offsets[p]))
        pieces = self._dask.compute(*tasks)
        if self.frame:
            import pandas as pd

            out = pd.concat(pieces) if pieces else self._meta
            self.bytes_taken += int(out.memory_usage(index=False).sum())
        else:
            out = np.concatenate(pieces, axis=0) if pieces else self._meta
            self.bytes_taken += int(out.nbytes)
        self.rows_taken += len(out)
        return self._as_float(out)

    def _as_float(self, rows):
        """Rows as ``fit`` validates X: float32/float64 kept, others cast to float32."""
        from ._validation import check_array

        if len(rows) == 0:
            return np.empty((0, self.n_features), dtype=np.float32)
        return check_array(rows, estimator_name="IsolationForest", accept_sparse=False,
                           dtype="float")

    def iter_blocks(self):
        """Yield each partition in order, computed one at a time."""
        for p in range(len(self.lengths)):
            if self.frame:
                block = self._parts[p].compute()
            else:
                block = _take_block([b.compute() for b in self._blocks[p]], slice(None))
            if len(block):
                yield self._as_float(block)


# ----------------------------------------------------------------------- fitting
def _warn_full_permutation(est, n_samples):
    """A float ``max_samples`` between 1% and 99% of the rows makes scikit-learn's
    draw a full permutation of all ``n_samples`` rows, made on the caller."""
    import numbers

    ms = est.max_samples
    if isinstance(ms, str) or isinstance(ms, numbers.Integral) or est.bootstrap:
        return
    ratio = int(ms * n_samples) / max(n_samples, 1)
    if 0.01 < ratio < 0.99 and n_samples > PERMUTATION_WARN_ROWS:
        warnings.warn(
            "max_samples=%r draws %d of %d rows: scikit-learn's draw is then a full "
            "permutation of all rows, made on the caller (%.2f GB per tree), and the "
            "drawn rows themselves travel to the caller. Use an int max_samples or a "
            "smaller fraction to keep the caller's memory small."
            % (ms, int(ms * n_samples), n_samples, n_samples * 8 / 1e9),
            ResourceWarning, stacklevel=4,
        )


#: Above this many rows, a full permutation on the caller gets a warning (32 MB).
PERMUTATION_WARN_ROWS = 1 << 22


def fit_forest(est, X, sample_weight=None, source=None):
    """``IsolationForest.fit`` on a dask collection: the forest ``fit(X.compute())``
    builds, bit for bit, reading only the drawn rows.

    The draws run on the caller through ``IsolationForest._fit_forest`` with a
    :class:`DaskSource`; a float ``contamination`` takes the exact percentile of the
    scores computed on the workers (``exact_percentile``) instead of streaming every
    row to the caller. ``sample_weight`` (any array-like or dask array) is brought to
    the caller: ``n_samples`` floats, as scikit-learn's weighted draw needs them all.
    """
    from .forest._source import bind_source

    est._validate_params()
    if source is None:
        source = DaskSource(X)
    n_samples, n_features = bind_source(est, source)
    if sample_weight is not None and is_dask_collection(sample_weight):
        sample_weight = np.asarray(sample_weight.compute())
    _warn_full_permutation(est, n_samples)
    est.__dict__.pop("offset_", None)
    est._fit_forest(None, source, n_samples, n_features, sample_weight)
    if est.contamination == "auto":
        est.offset_ = -0.5
    else:
        est.offset_ = -0.5  # lets score_samples run; replaced just below
        scores = lazy_method(est, source.collection, "score_samples")
        est.offset_ = exact_percentile(scores, 100.0 * est.contamination)
    return est


# ----------------------------------------------------------------------- scoring
def _block_method(block, model, method, index, out_dtype):
    """One partition through the in-memory method, on this worker's share of cores."""
    if len(block) == 0:
        values = np.empty(0, dtype=out_dtype)
    else:
        with warnings.catch_warnings():
            # Feature-name warnings were given once, on the caller.
            warnings.simplefilter("ignore", UserWarning)
            values = _call_with_threads(model, method, block)
    if index:
        import pandas as pd

        return pd.Series(values, index=block.index)
    return values


def _call_with_threads(model, method, block):
    """Dask already runs one task per worker thread: each task's kernels get one
    Numba thread, so a worker with ``nthreads`` threads keeps ``nthreads`` cores
    busy and never more (a worker with ``nthreads=1`` runs one Numba thread)."""
    saved = model.n_jobs
    if saved not in (None, 1):
        import copy

        model = copy.copy(model)
        model.n_jobs = 1
    return getattr(model, method)(block)


def _one_row_twin(X):
    """A one-row in-memory stand-in with X's columns and dtypes (for validation)."""
    if _is_dataframe(X):
        import pandas as pd

        meta = X._meta
        twin = pd.DataFrame(np.zeros((1, len(meta.columns))), columns=meta.columns)
        return twin.astype(meta.dtypes.to_dict())
    shape = (1,) + tuple(int(d) if not math.isnan(d) else 1 for d in X.shape[1:])
    return np.zeros(shape, dtype=X.dtype)


def lazy_method(est, X, method):
    """``getattr(est, method)(X)`` as a lazy dask object, checked on the caller first.

    The checks (fitted, feature count, names, novelty) run on a one-row twin of X
    before any task, so they raise with the in-memory wording. A data frame whose
    columns hold the fitted names in another order is reordered; the result is a
    Series on its index. An array gives an array chunked like X's rows.
    """
    dask, da = _import_dask()
    frame = _is_dataframe(X)
    if not frame and not hasattr(X, "chunks"):
        raise ValueError(
            "Expected a 2-dimensional dask array or DataFrame, got %s. Reshape your "
            "data, e.g. with series.to_frame() for a single feature." % type(X).__name__)
    if frame:
        names = getattr(est, "feature_names_in_", None)
        cols = list(X.columns)
        if names is not None and len(cols) == len(names) and set(cols) == set(names) \
                and cols != list(names):
            X = X[list(names)]
    # Raises before any task runs, with the in-memory wording.
    out_dtype = np.asarray(getattr(est, method)(_one_row_twin(X))).dtype
    model = dask.delayed(est, pure=True, traverse=False)
    if frame:
        import pandas as pd

        return X.map_partitions(_block_method, model, method, True, out_dtype,
                                meta=pd.Series(dtype=out_dtype))
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    return X.map_blocks(_block_method, model, method, False, out_dtype, drop_axis=1,
                        dtype=out_dtype, meta=np.empty(0, dtype=out_dtype))


# ----------------------------------------------------------- exact percentile
def _virtual_index(n, q):
    """Where ``np.percentile`` (method "linear") reads percentile ``q`` of ``n``
    sorted values: ``(n - 1) * (q / 100)``, as NumPy computes it."""
    return (n - 1) * float(np.true_divide(q, 100))


def _np_percentile_from(n, q, below, above):
    """``np.percentile(a, q)`` of ``n`` values from its two order statistics
    ``a[k]`` and ``a[k + 1]`` (``k`` from ``_percentile_ranks``): NumPy's linear
    interpolation written out in its own order of operations (``a + (b - a) * g``,
    or ``b - (b - a) * (1 - g)`` from ``g = 0.5`` on), so the result is its bits.
    Written here rather than borrowed from NumPy's private quantile helpers, which
    move between NumPy releases."""
    vi = _virtual_index(n, q)
    gamma = vi - math.floor(vi)
    a = float(below)
    b = float(above)
    diff = b - a
    if gamma >= 0.5:
        return np.float64(b - diff * (1.0 - gamma))
    return np.float64(a + diff * gamma)


def _percentile_ranks(n, q):
    """The 0-based ranks ``k``, ``k + 1`` (clipped) NumPy reads for percentile q."""
    vi = _virtual_index(n, q)
    prev = int(np.clip(math.floor(vi), 0, n - 1))
    nxt = int(np.clip(prev + 1, 0, n - 1))
    return prev, nxt


def _part_stats(v, lo, hi):
    """(count, min, max) of the values in ``[lo, hi]``, and the count of -inf and
    +inf values."""
    v = np.asarray(v)
    inside = v[(v >= lo) & (v <= hi)]
    if len(inside) == 0:
        mn, mx = np.inf, -np.inf
    else:
        mn, mx = inside.min(), inside.max()
    return np.array([float(len(inside)), mn, mx, float(np.count_nonzero(v == -np.inf)),
                     float(np.count_nonzero(v == np.inf))])


def _part_hist(v, edges):
    """Counts of the values in each bin ``[edges[i], edges[i + 1])``, the last bin
    closed; values outside ``[edges[0], edges[-1]]`` are not counted."""
    v = np.asarray(v)
    inside = v[(v >= edges[0]) & (v <= edges[-1])]
    idx = np.searchsorted(edges, inside, side="right") - 1
    np.clip(idx, 0, len(edges) - 2, out=idx)
    return np.bincount(idx, minlength=len(edges) - 1)


def _part_values(v, lo, hi):
    v = np.asarray(v)
    return v[(v >= lo) & (v <= hi)]


def _select_finite(dask, parts, ranks, lo, hi, start):
    """Values of the given ranks (0-based among all values; ``start`` values lie
    below ``lo``) whose values lie in the finite interval ``[lo, hi]``."""
    delayed = dask.delayed
    while True:
        stats = np.asarray(dask.compute(*[delayed(_part_stats)(p, lo, hi)
                                          for p in parts])).reshape(-1, 5)
        count = int(stats[:, 0].sum())
        lo, hi = float(stats[:, 1].min()), float(stats[:, 2].max())
        if lo == hi:
            return [lo for _ in ranks]
        if count <= SELECT_FETCH_MAX:
            vals = np.concatenate(dask.compute(*[delayed(_part_values)(p, lo, hi)
                                                 for p in parts]))
            vals.sort(kind="stable")
            return [vals[r - start] for r in ranks]
        edges = np.linspace(lo, hi, SELECT_BINS + 1)
        hist = np.sum(dask.compute(*[delayed(_part_hist)(p, edges) for p in parts]),
                      axis=0)
        cum = start + np.cumsum(hist)  # values <= the end of each bin
        bins = [int(np.searchsorted(cum, r, side="right")) for r in ranks]
        b0, b1 = min(bins), max(bins)
        new_start = int(cum[b0 - 1]) if b0 > 0 else start
        new_lo = float(edges[b0])
        new_hi = float(np.nextafter(edges[b1 + 1], -np.inf)) if b1 + 1 < SELECT_BINS \
            else hi
        if new_lo == lo and new_hi == hi:  # no progress left: fetch what is there
            vals = np.concatenate(dask.compute(*[delayed(_part_values)(p, lo, hi)
                                                 for p in parts]))
            vals.sort(kind="stable")
            return [vals[r - start] for r in ranks]
        lo, hi, start = new_lo, new_hi, new_start


def exact_percentile(scores, q):
    """``np.percentile(scores.compute(), q)``, bit for bit, without gathering the
    scores.

    The scores are kept where they were computed (persisted); passes over the
    partitions return counts and 4096-bin histograms that bracket the two order
    statistics NumPy's linear interpolation reads, until at most
    ``SELECT_FETCH_MAX`` values remain in the bracket; only those travel to the
    caller. NumPy's own index, weight and interpolation code then combine them.

    Parameters
    ----------
    scores : dask array or Series of float, without NaN
    q : float
        Percentile in [0, 100].

    Returns
    -------
    value : numpy.float64
    """
    dask, da = _import_dask()
    if hasattr(scores, "chunks"):
        parts = list(scores.to_delayed().ravel())
    else:
        parts = list(scores.to_delayed())
    parts = list(dask.persist(*parts))
    stats = np.asarray(dask.compute(*[dask.delayed(_part_stats)(p, -np.inf, np.inf)
                                      for p in parts])).reshape(-1, 5)
    n = int(stats[:, 0].sum())
    if n == 0:
        raise ValueError("exact_percentile needs at least one value")
    n_neg, n_pos = int(stats[:, 3].sum()), int(stats[:, 4].sum())
    k0, k1 = _percentile_ranks(n, q)
    values = {}
    finite = []
    for r in (k0, k1):
        if r < n_neg:
            values[r] = -np.inf
        elif r >= n - n_pos:
            values[r] = np.inf
        else:
            finite.append(r)
    if finite:
        lo = float(np.nextafter(-np.inf, 0.0))
        hi = float(np.nextafter(np.inf, 0.0))
        for r, v in zip(finite, _select_finite(dask, parts, finite, lo, hi, n_neg)):
            values[r] = v
    return _np_percentile_from(n, q, values[k0], values[k1])


# ------------------------------------------------------------------ z-scores
def _part_moments(block, shift):
    """(n, mean, M2, min, max) of one partition's rows, shifted by ``shift``."""
    from .stats import _kernels as stats_kernels
    from ._validation import check_array, check_finite

    X = np.asarray(block)
    if X.shape[0] == 0:
        w = X.shape[1]
        return (0.0, np.zeros(w), np.zeros(w), np.full(w, np.inf), np.full(w, -np.inf))
    X = check_array(X, estimator_name="ZScoreDetector", accept_sparse=False,
                    dtype="float64")
    check_finite(X, allow_nan=False, estimator_name="ZScoreDetector")
    Xs = X - shift if shift is not None else X
    mean, _, _ = stats_kernels.col_stats_serial(np.ascontiguousarray(Xs), 0.0, False, 1)
    d = Xs - mean
    return (float(X.shape[0]), mean, np.einsum("ij,ij->j", d, d), X.min(axis=0),
            X.max(axis=0))


def _merge_moments(a, b):
    """Chan et al.'s pairwise merge of two partitions' moments (reused kernel)."""
    from .stats import _kernels as stats_kernels

    if a[0] == 0:
        return b
    if b[0] == 0:
        return a
    n, mean, m2 = stats_kernels.chan_merge(a[0], a[1], a[2], b[0], b[1], b[2])
    return (n, mean, m2, np.minimum(a[3], b[3]), np.maximum(a[4], b[4]))


def _tree_reduce(dask, items, merge):
    """Pairwise tree of merge tasks (depth log2 of the partition count)."""
    items = list(items)
    while len(items) > 1:
        nxt = [dask.delayed(merge)(items[i], items[i + 1])
               for i in range(0, len(items) - 1, 2)]
        if len(items) % 2:
            nxt.append(items[-1])
        items = nxt
    return items[0]


def _frame_to_blocks(X):
    if _is_dataframe(X):
        return list(X.to_delayed())
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    return list(X.to_delayed().ravel())


def fit_zscore(est, X, partial):
    """``ZScoreDetector.fit`` / ``partial_fit`` on a dask collection ('standard'):
    per-partition moments merged by a tree of Chan et al. updates."""
    dask, da = _import_dask()
    from ._validation import _check_feature_names, check_n_features

    est._validate_params()
    if est.method == "robust":
        raise ValueError(
            "ZScoreDetector(method='robust') on dask input would need an exact "
            "distributed median and MAD, which isoforest does not compute: use "
            "method='standard', or fit on X.compute()."
        )
    first = not partial or not hasattr(est, "_m2")
    if not partial:
        for attr in ("mean_", "var_", "n_samples_seen_", "_m2", "_shift", "_mean_shifted",
                     "min_", "max_", "offset_"):
            est.__dict__.pop(attr, None)
    twin = _one_row_twin(X)
    _check_feature_names(est, twin, reset=first)
    n_features = twin.shape[1]
    check_n_features(est, n_features, reset=first)
    blocks = _frame_to_blocks(X)
    if first:
        # The first pass finds the mean that later serves as the shift (in memory the
        # first batch's mean): the overall mean, merged the same way.
        total = dask.compute(_tree_reduce(dask, [dask.delayed(_part_moments)(b, None)
                                                 for b in blocks], _merge_moments))[0]
        n = total[0]
        if n == 0:
            raise ValueError(
                "Found array with 0 sample(s) (shape=(0, %d)) while a minimum of 1 is "
                "required by ZScoreDetector." % n_features)
        if not partial and n - est.ddof <= 0:
            raise ValueError(
                f"ZScoreDetector(ddof={est.ddof}) needs more than {est.ddof} row(s) "
                f"to estimate a standard deviation, got {int(n)}.")
        shift = total[1]
    else:
        shift = est._shift
    moments = dask.compute(_tree_reduce(dask, [dask.delayed(_part_moments)(b, shift)
                                               for b in blocks], _merge_moments))[0]
    n_b, mean_b, m2_b, mn, mx = moments
    if first:
        est._shift = shift
        est.min_, est.max_ = mn, mx
    else:
        est.min_ = np.minimum(est.min_, mn)
        est.max_ = np.maximum(est.max_, mx)
    est._merge_moments(n_b, mean_b, m2_b)
    est.threshold_ = est._threshold()
    if est.contamination in (None, "auto"):
        est.offset_ = -est.threshold_
    else:
        est.offset_ = -est.threshold_
        scores = lazy_method(est, X, "score_samples")
        est.offset_ = exact_percentile(scores, 100.0 * est.contamination)
    return est


# -------------------------------------------------------------- command line
def _score_partition(part, model, extra):
    """A partition with the command line's added fields: ``anomaly_score`` (higher
    is more anomalous, NaN where not scored) and ``is_anomaly`` (1, 0, or -1 where
    not scored); rows with missing values dropped under the 'drop' rule."""
    cols = extra["columns"]
    X = part[cols].to_numpy(dtype=np.float64, na_value=np.nan)
    if extra.get("center") is not None:
        X = (X - np.asarray(extra["center"])) / np.asarray(extra["scale"])
    incomplete = np.isnan(X).any(axis=1)
    scored = np.ones(len(X), bool) if extra.get("method") == "iforest" else ~incomplete
    score = np.full(len(X), np.nan)
    flag = np.full(len(X), -1, dtype=np.int8)
    if scored.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            s = _call_with_threads(model, "score_samples", X[scored])
        score[scored] = -s
        flag[scored] = s - model.offset_ < 0
    out = part.assign(anomaly_score=score, is_anomaly=flag)
    if extra.get("missing", "drop") == "drop":
        out = out[~incomplete]
    return out


def _read_pattern(pattern):
    import dask.dataframe as dd

    low = pattern.lower()
    if low.endswith((".parquet", ".pq")) or low.endswith("/"):
        return dd.read_parquet(pattern), "parquet"
    if low.endswith((".csv", ".tsv", ".txt")):
        return dd.read_csv(pattern, sep="\t" if low.endswith(".tsv") else ","), "csv"
    raise ValueError(f"cannot tell the format of {pattern!r}: use .parquet or .csv names")


def score_files(model, extra, pattern, out_dir, scheduler=None):
    """Score every file matching ``pattern`` on a dask cluster, one output file per
    input partition in ``out_dir`` (``isoforest score ... --scheduler``).

    Parameters
    ----------
    model : fitted detector
    extra : dict
        The command line's settings saved with the model (``columns``, ``method``,
        ``missing``, ``center`` / ``scale``).
    pattern : str
        A glob of Parquet or CSV files (``'data/*.parquet'``).
    out_dir : str
        Output directory: ``part.N.parquet`` (or ``.csv``), one per input partition,
        in input order.
    scheduler : str or None
        ``'local'`` starts a LocalCluster on this machine; an address
        (``tcp://host:8786``) connects to a running scheduler; None uses dask's
        default scheduler.

    Returns
    -------
    summary : dict
        ``rows`` written, ``anomalies``, ``partitions``.
    """
    _import_dask()
    import os

    import pandas as pd

    client = cluster = None
    if scheduler:
        from distributed import Client, LocalCluster

        if scheduler == "local":
            cluster = LocalCluster(dashboard_address=None)
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout=60)
    try:
        ddf, fmt = _read_pattern(pattern)
        missing = [c for c in extra["columns"] if c not in ddf.columns]
        if missing:
            raise ValueError(f"input lacks the model's column(s): {', '.join(missing)}")
        if getattr(model, "novelty", True) is False:
            raise ValueError(
                "a LocalOutlierFactor saved by 'detect' (novelty=False) scores only its "
                "own training rows; fit one with 'isoforest fit --method lof' to score "
                "new files")
        dmodel = _import_dask()[0].delayed(model, pure=True, traverse=False)
        meta = ddf._meta.assign(anomaly_score=pd.Series(dtype=np.float64),
                                is_anomaly=pd.Series(dtype=np.int8))
        scored = ddf.map_partitions(_score_partition, dmodel, extra, meta=meta)
        os.makedirs(out_dir, exist_ok=True)
        if fmt == "parquet":
            scored.to_parquet(out_dir, write_index=False)
        else:
            scored.to_csv(os.path.join(out_dir, "part.*.csv"), index=False)
        summary = scored[["is_anomaly"]].map_partitions(
            lambda p: pd.DataFrame({"rows": [len(p)],
                                    "anomalies": [int((p["is_anomaly"] == 1).sum())]}),
            meta=pd.DataFrame({"rows": pd.Series(dtype=np.int64),
                               "anomalies": pd.Series(dtype=np.int64)})).compute()
        return {"rows": int(summary["rows"].sum()),
                "anomalies": int(summary["anomalies"].sum()),
                "partitions": int(ddf.npartitions)}
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

"""Dask collections in, the same models and scores out (optional extra ``isoforest[dask]``).

Loaded only when an estimator meets a dask collection (``is_dask_collection`` below
looks at the object's type without importing dask). What runs where:

* **Fit, on the caller**: the bagging draws (scikit-learn's streams, replayed exactly
  as for NumPy input) and the tree building. The caller never holds ``X``: it learns
  the partitions' row counts, then asks each partition holding drawn rows for those
  rows only (one small task per such partition) -- at most ``n_estimators *
  max_samples`` rows travel.
* **On the workers**: the row counts, the drawn rows, and all scoring
  (``score_samples``, ``decision_function``, ``predict``), lazily, one task per
  partition, with the model embedded once per graph as a single key.
* A float ``contamination`` needs the exact percentile of the training scores: the
  workers score their partitions and return only histograms, then the few values
  around the wanted order statistics (see ``exact_percentile``).
"""

import math
import sys
import warnings

import numpy as np

from ._validation import is_dask_collection

__all__ = [
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


class DaskSource:
    """Rows of a dask array or data frame, read on demand (the RowSource protocol).

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
            names = [str(c) for c in X.columns] if all(
                isinstance(c, str) for c in X.columns) else None
            self.feature_names = None if names is None else np.asarray(names, dtype=object)
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
        else:
            out = np.concatenate(pieces, axis=0) if pieces else self._meta
        self.rows_taken += len(out)
        self.bytes_taken += int(np.asarray(out).nbytes) if not self.frame else int(
            out.memory_usage(index=False).sum())
        return out

    def iter_blocks(self):
        """Yield each partition in order, computed one at a time."""
        for p in range(len(self.lengths)):
            if self.frame:
                yield self._parts[p].compute()
            else:
                yield _take_block([b.compute() for b in self._blocks[p]], slice(None))


# ----------------------------------------------------------------------- fitting
def _as_float(est, rows, n_features):
    """Validated float rows (the dtype rules of ``validate_data`` for fit)."""
    from ._validation import check_array

    if len(rows) == 0:
        return np.empty((0, n_features), dtype=np.float32)
    return check_array(rows, estimator_name=type(est).__name__, accept_sparse=False,
                       dtype="float")


def _dummy_target_at(state, n_samples, drawn):
    """``RandomState(state).uniform(size=n_samples)[drawn]`` (``state`` from
    ``get_state``, or None only to advance ``rng``), drawn in chunks so the caller
    never holds ``n_samples`` values: the legacy ``uniform`` stream is the same drawn
    at once or in pieces."""
    rng = np.random.RandomState()
    rng.set_state(state)
    out = np.empty(len(drawn), dtype=np.float64)
    j = 0
    for start in range(0, n_samples, _UNIFORM_STEP):
        stop = min(start + _UNIFORM_STEP, n_samples)
        vals = rng.uniform(size=stop - start)
        k = np.searchsorted(drawn, stop, side="left")
        out[j:k] = vals[drawn[j:k] - start]
        j = k
    return out


def _skip_uniform(rng, n_samples):
    """Advance ``rng`` past ``uniform(size=n_samples)`` without holding the values."""
    for start in range(0, n_samples, _UNIFORM_STEP):
        rng.uniform(size=min(_UNIFORM_STEP, n_samples - start))


_UNIFORM_STEP = 1 << 20


def fit_forest(est, X, sample_weight=None):
    """``IsolationForest.fit`` on a dask collection: the forest ``fit(X.compute())``
    builds, bit for bit, reading only the drawn rows."""
    if sample_weight is not None:
        raise TypeError(
            "IsolationForest.fit on dask input does not take sample_weight: its rows "
            "are drawn by RandomState.choice over all weights at once. Compute X, or "
            "fit without weights."
        )
    est._validate_params()
    source = DaskSource(X)
    return fit_source(est, source)


def fit_source(est, source):
    """Fit an IsolationForest from a RowSource (``n_samples``, ``n_features``,
    ``feature_names``, ``take``): the draws of ``fit`` replayed, then only the drawn
    rows read. Stands in for ``IsolationForest._fit_source`` until that seam lands."""
    import numbers

    from .forest import _kernels as K
    from .forest._arrays import ForestArrays
    from .forest._mt19937 import uniform_bits
    from .forest._sampling import MAX_INT
    from ._config import effective_n_jobs, num_threads
    from ._validation import _check_min_shape, check_random_state

    n_samples, n_features = source.n_samples, source.n_features
    _check_min_shape((n_samples, n_features), type(est).__name__)
    if source.feature_names is not None:
        est.feature_names_in_ = source.feature_names
    else:
        est.__dict__.pop("feature_names_in_", None)
    est.n_features_in_ = n_features

    if isinstance(est.max_samples, str):
        max_samples = min(256, n_samples)
    elif isinstance(est.max_samples, numbers.Integral):
        if est.max_samples > n_samples:
            warnings.warn(
                "max_samples (%s) is greater than the "
                "total number of samples (%s). max_samples "
                "will be set to n_samples for estimation." % (est.max_samples, n_samples)
            )
            max_samples = n_samples
        else:
            max_samples = int(est.max_samples)
    else:
        max_samples = int(est.max_samples * n_samples)
    if max_samples < 1:
        raise ValueError("Sample weights must contain at least one non-zero number.")
    ratio = max_samples / n_samples
    if not est.bootstrap and 0.01 < ratio < 0.99 and n_samples > (1 << 22):
        warnings.warn(
            "max_samples=%r draws %d of %d rows: scikit-learn's draw is then a full "
            "permutation of all rows, made on the caller (%.1f GB per tree at a time), "
            "and the drawn rows themselves travel to the caller. Use an int "
            "max_samples or a smaller fraction to keep the caller's memory small."
            % (est.max_samples, max_samples, n_samples, n_samples * 8 / 1e9),
            ResourceWarning,
        )
    est.max_samples_ = max_samples
    max_depth = int(np.ceil(np.log2(max(max_samples, 2))))
    if isinstance(est.max_features, numbers.Integral):
        max_features = int(est.max_features)
    else:
        max_features = int(est.max_features * n_features)
    if max_features > n_features:
        raise ValueError("max_features must be <= n_features")
    max_features = max(1, max_features)
    est._max_samples = max_samples
    est._max_features = max_features
    est._n_samples = n_samples

    # In-memory fit draws the dummy target uniform(size=n_samples) first and the tree
    # seeds after it, from the same generator when random_state is not an int.
    int_seed = isinstance(est.random_state, numbers.Integral)
    uniform_state = None
    if not int_seed:
        rng = check_random_state(est.random_state)
        uniform_state = rng.get_state()
        _skip_uniform(rng, n_samples)
    random_state = check_random_state(est.random_state)
    keep = est.warm_start and getattr(est, "_forest", None) is not None
    if keep and est._forest.features.shape[1] != max_features:
        keep = False
    if not keep:
        est._forest = None
        est._seeds_all = np.empty(0, dtype=np.int64)
        est._tree_max_depth = np.empty(0, dtype=np.int64)
        est._estimators_cache = None
    n_existing = 0 if est._forest is None else est._forest.n_trees
    n_more = est.n_estimators - n_existing
    if n_more < 0:
        raise ValueError(
            "n_estimators=%d must be larger or equal to "
            "len(estimators_)=%d when warm_start==True" % (est.n_estimators, n_existing)
        )
    if n_more == 0:
        warnings.warn("Warm-start fitting without increasing n_estimators does not fit new trees.")
    else:
        if n_existing > 0:
            random_state.randint(MAX_INT, size=n_existing)
        seeds = np.asarray(random_state.randint(MAX_INT, size=n_more), dtype=np.int64)
        n_trees = n_more
        features = np.empty((n_trees, max_features), dtype=np.int64)
        rows = np.empty((n_trees, max_samples), dtype=np.int64)
        counts = np.zeros((n_trees, max_samples), dtype=np.float64)
        n_rows = np.empty(n_trees, dtype=np.int64)
        tree_seeds = np.empty(n_trees, dtype=np.int64)
        rand_r_states = np.empty(n_trees, dtype=np.int64)
        parallel = effective_n_jobs(est.n_jobs) > 1 and n_trees > 1
        with num_threads(est.n_jobs):
            (K.draw_trees if parallel else K.draw_trees_serial)(
                seeds, n_samples, n_features, max_samples, max_features,
                bool(est.bootstrap), features, rows, counts, n_rows, tree_seeds,
                rand_r_states)
        bits = np.zeros(n_samples // 64 + 1, dtype=np.uint64)
        prefix = np.empty(bits.shape[0], dtype=np.int64)
        n_drawn = K.mark_rows(rows, n_rows, bits, prefix)
        valid = np.arange(max_samples)[None, :] < n_rows[:, None]
        drawn = np.unique(rows[valid])
        assert len(drawn) == n_drawn
        # The dummy regression target at the drawn rows, by rank among them.
        if int_seed:
            y_drawn = np.empty(n_drawn, dtype=np.float64)
            uniform_bits(int(est.random_state), bits, y_drawn)
        else:
            y_drawn = _dummy_target_at(uniform_state, n_samples, drawn)
        X_drawn = _as_float(est, source.take(drawn), n_features)
        if X_drawn.dtype not in (np.float32, np.float64):
            X_drawn = X_drawn.astype(np.float32)
        X_drawn = np.ascontiguousarray(X_drawn)
        # Rows renumbered by rank among the drawn ones: X_drawn[rank] is X[row] and
        # y_drawn[rank] the target at row, so the kernels see the same values in the
        # same order as for in-memory X (ranks keep the rows increasing).
        ranked_rows = np.zeros_like(rows)
        ranked_rows[valid] = np.searchsorted(drawn, rows[valid])
        gather = n_trees * max_samples * max_features * 4 <= 64 * 2**20
        Xall = np.empty((n_trees, max_samples, max_features) if gather else (1, 1, 1),
                        dtype=np.float32)
        capacity = max(2 * max_samples - 1, 1)
        out = est._new_node_arrays(n_trees * capacity)
        node_counts = np.zeros(n_trees, dtype=np.int64)
        with num_threads(est.n_jobs):
            (K.prepare_trees if parallel else K.prepare_trees_serial)(
                X_drawn, features, ranked_rows, n_rows, Xall, gather, -1, bits,
                np.empty(0, np.float64))
            (K.build_trees if parallel else K.build_trees_serial)(
                X_drawn, Xall, gather, y_drawn, False, bits, prefix, features,
                ranked_rows, counts, n_rows, rand_r_states, max_depth, capacity,
                out["feature"], out["threshold"], out["children_left"],
                out["children_right"], out["n_node_samples"],
                out["weighted_n_node_samples"], out["impurity"],
                out["missing_go_to_left"], node_counts)
        node_offsets = np.arange(n_trees + 1, dtype=np.int64) * capacity
        new = est._compact(out, node_offsets, node_counts, features)
        est._forest = ForestArrays.concatenate([est._forest, new])
        est._seeds_all = np.concatenate([est._seeds_all, seeds]).astype(np.int64)
        est._tree_max_depth = np.concatenate(
            [est._tree_max_depth, np.full(n_more, max_depth, dtype=np.int64)])
        est._tree_seeds = np.concatenate(
            [getattr(est, "_tree_seeds", np.empty(0, np.int64))[:n_existing], tree_seeds])
    est._set_denominator()
    est._seeds = est._seeds_all[n_existing:] if n_more else est._seeds_all[:0]
    est._sample_weight = None
    est.__dict__.pop("offset_", None)
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
def _np_percentile_from(n, q, below, above):
    """``np.percentile(a, q)`` of ``n`` values from its two order statistics
    ``a[k]`` and ``a[k + 1]`` (``k`` from ``_percentile_ranks``), with NumPy's own
    index, weight and interpolation code, so the result is its bits."""
    from numpy.lib import _function_base_impl as fb

    quantiles = np.true_divide(q, 100)
    vi = np.asanyarray(fb._QuantileMethods["linear"]["get_virtual_index"](n, quantiles))
    prev = np.floor(vi).astype(np.intp)
    gamma = fb._get_gamma(vi, prev, fb._QuantileMethods["linear"])
    gamma = float(gamma)
    a = np.asarray(below, dtype=np.float64)
    b = np.asarray(above, dtype=np.float64)
    return np.float64(fb._lerp(a, b, gamma))


def _percentile_ranks(n, q):
    """The 0-based ranks ``k``, ``k + 1`` (clipped) NumPy reads for percentile q."""
    from numpy.lib import _function_base_impl as fb

    quantiles = np.true_divide(q, 100)
    vi = np.asanyarray(fb._QuantileMethods["linear"]["get_virtual_index"](n, quantiles))
    prev = int(np.clip(np.floor(vi), 0, n - 1))
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
    from .stats import _kernels as SK
    from ._validation import check_array, check_finite

    X = np.asarray(block)
    if X.shape[0] == 0:
        w = X.shape[1]
        return (0.0, np.zeros(w), np.zeros(w), np.full(w, np.inf), np.full(w, -np.inf))
    X = check_array(X, estimator_name="ZScoreDetector", accept_sparse=False,
                    dtype="float64")
    check_finite(X, allow_nan=False, estimator_name="ZScoreDetector")
    Xs = X - shift if shift is not None else X
    mean, _, _ = SK.col_stats_serial(np.ascontiguousarray(Xs), 0.0, False, 1)
    d = Xs - mean
    return (float(X.shape[0]), mean, np.einsum("ij,ij->j", d, d), X.min(axis=0),
            X.max(axis=0))


def _merge_moments(a, b):
    """Chan et al.'s pairwise merge of two partitions' moments (reused kernel)."""
    from .stats import _kernels as SK

    if a[0] == 0:
        return b
    if b[0] == 0:
        return a
    n, mean, m2 = SK.chan_merge(a[0], a[1], a[2], b[0], b[1], b[2])
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
    from ._validation import _check_feature_names

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
    if first:
        est.n_features_in_ = n_features
    elif n_features != est.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {type(est).__name__} "
            f"is expecting {est.n_features_in_} features as input.")
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
        n, mean_s, m2 = n_b, mean_b, m2_b
        est.min_, est.max_ = mn, mx
    else:
        from .stats import _kernels as SK

        n, mean_s, m2 = SK.chan_merge(float(est.n_samples_seen_), est._mean_shifted,
                                      est._m2, n_b, mean_b, m2_b)
        est.min_ = np.minimum(est.min_, mn)
        est.max_ = np.maximum(est.max_, mx)
    est.n_samples_seen_ = int(n)
    est._mean_shifted = mean_s
    est._m2 = m2
    est.mean_ = est._shift + mean_s
    denom = n - est.ddof
    with np.errstate(invalid="ignore", divide="ignore"):
        est.var_ = m2 / denom if denom > 0 else np.full_like(m2, np.nan)
    est.center_ = est.mean_
    est.scale_ = np.sqrt(est.var_)
    est._apply_constant_rule()
    est.threshold_ = est._threshold()
    if est.contamination in (None, "auto"):
        est.offset_ = -est.threshold_
    else:
        est.offset_ = -est.threshold_
        scores = lazy_method(est, X, "score_samples")
        est.offset_ = exact_percentile(scores, 100.0 * est.contamination)
    return est

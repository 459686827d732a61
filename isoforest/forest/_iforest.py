"""IsolationForest: scikit-learn's estimator, rebuilt on Numba kernels.

Why one module of ~900 lines: it is one class, scikit-learn's public API method by
method (as its ``sklearn/ensemble/_iforest.py`` is), with the paths each method
chooses between (the few-row short path, the vector walk, fitting from a row source,
sparse input) next to the method that chooses; the machinery both forests share is
in ``_common.py``, ``_arrays.py`` and ``_sampling.py``, the kernels in ``_kernels.py``.
"""

import numbers
import sys
import time

import numpy as np

from . import _kernels as kernels
from .._simd import forest_walk as _simd
from .._base import BaseDetector, InstanceOf, Interval, dask_hook
from .._config import effective_n_jobs, num_threads
from ._arrays import ForestArrays, IsolationTree, average_path_length
from ._common import (
    COMMON_CONSTRAINTS,
    BaseIsolationForest,
    depth_limit,
    resolve_max_samples,
)
from ._sampling import bagging_indices, draw_tree
from ._source import RowSource, bind_source, checked_block, source_shape
from .._validation import (
    check_is_fitted,
    check_random_state,
    check_sample_weight,
    is_dask_collection,
    is_sparse,
    validate_data,
)

__all__ = ["IsolationForest"]

#: Below this many rows, scoring runs on the calling thread: starting the thread
#: pool costs more than it saves (the one-row, real-time case).
PARALLEL_MIN_ROWS = 256
#: Largest float32 copy of all trees' drawn rows made ahead of the build (bytes).
GATHER_AHEAD_BYTES = 64 * 2**20
#: Up to this many rows, a plain C-contiguous float64 array is scored on the short
#: path (``IsolationForest._score_few``): no generic validation, one serial kernel.
FEW_ROWS = 8
_FLOAT64 = np.dtype(np.float64)
#: The base of ``2 ** x`` as an array: np.power converts a Python float base on
#: every call, which costs more than the power of one element.
_TWO = np.array([2.0])


class IsolationForest(BaseIsolationForest, BaseDetector):
    """Isolation Forest, with scikit-learn's interface, trees and scores.

    Each tree isolates rows by recursive random splits: a random feature, then a
    random threshold between that feature's minimum and maximum at the node.
    Anomalies need fewer splits, so their average path length over the forest is
    short. With an integer ``random_state`` (or ``None`` / a ``RandomState`` drawing
    from the same stream) the trees and scores are identical, bit for bit, to
    ``sklearn.ensemble.IsolationForest`` 1.9.1 on the same data.

    Parameters
    ----------
    n_estimators : int, default=100
        The number of trees in the ensemble.
    max_samples : "auto", int or float, default="auto"
        Rows drawn to build each tree: ``min(256, n_samples)`` for "auto", the value
        (capped at ``n_samples``, with a warning) for an int, and
        ``int(max_samples * n_samples)`` for a float in (0, 1].
    contamination : "auto" or float, default="auto"
        Expected proportion of outliers, in (0, 0.5]. Sets ``offset_``: -0.5 for
        "auto" (the paper's threshold), else that percentile of training scores.
    max_features : int or float, default=1.0
        Features drawn (without replacement) for each tree: the int itself, or
        ``int(max_features * n_features)`` for a float; at least 1.
    bootstrap : bool, default=False
        Draw rows with replacement.
    n_jobs : int, default=None
        Threads used to build trees and to score rows. ``None`` means 1, ``-1`` all
        cores. Results never depend on it.
    random_state : int, RandomState instance or None, default=None
        Controls every random draw, exactly as in scikit-learn: ``None`` draws from
        NumPy's global RandomState.
    verbose : int, default=0
        Print progress while building trees (to stderr).
    warm_start : bool, default=False
        Reuse the trees of the previous fit and add ``n_estimators - len(estimators_)``
        new ones.

    Attributes
    ----------
    estimators_ : list of IsolationTree
        The fitted trees; ``estimators_[i].tree_`` holds the node arrays with
        scikit-learn's names (``feature``, ``threshold``, ``children_left``,
        ``children_right``, ``n_node_samples``, ...).
    estimators_features_ : list of ndarray
        The subset of features used by each tree.
    estimators_samples_ : list of ndarray
        The rows drawn for each tree (with repeats when ``bootstrap=True``).
    max_samples_ : int
        The actual number of rows drawn per tree.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when ``X`` is a data frame with string column names.
    forest_ : ForestArrays
        All trees as flat arrays (``tree_offsets``, per-node ``feature``,
        ``threshold``, ``children_left``/``right``, ``n_node_samples``, ``depth``,
        ``leaf_value``...): the model, ready for study, saving or custom kernels.

    See Also
    --------
    sklearn.ensemble.IsolationForest : The reference implementation.
    isoforest.LocalOutlierFactor : Density-based outlier detection.

    Notes
    -----
    Fei Tony Liu, Kai Ming Ting and Zhi-Hua Zhou, "Isolation Forest", ICDM 2008.
    The score of a row is ``-2 ** (-E[h(x)] / c(max_samples))`` where ``h(x)`` is its
    path length in a tree plus ``c(n)`` for the ``n`` training rows left in its leaf.
    The readable reference implementation is ``reference/iforest_naive.py``.

    Examples
    --------
    >>> import numpy as np
    >>> from isoforest import IsolationForest
    >>> X = [[-1.1], [0.3], [0.5], [100]]
    >>> clf = IsolationForest(random_state=0).fit(X)
    >>> clf.predict([[0.1], [0], [90]])
    array([ 1,  1, -1])
    """

    #: its fitted ``_forest`` is axis-parallel ForestArrays, which the exporters
    #: (``_export``) and the plots read (they check this flag, not the class, so
    #: that they need not import this module)
    _axis_parallel_forest = True
    #: how ``isoforest.dask.dispatch`` fits a dask collection: the draws and trees
    #: on the caller, from the drawn rows only
    _dask_fit = "forest"

    _param_constraints = {
        **{k: COMMON_CONSTRAINTS[k]
           for k in ("n_estimators", "max_samples", "contamination")},
        "max_features": [
            InstanceOf(numbers.Integral, names=("int",)),
            Interval(float, 0, 1, closed="right"),
        ],
        **{k: COMMON_CONSTRAINTS[k]
           for k in ("bootstrap", "n_jobs", "random_state", "verbose", "warm_start")},
    }

    def __init__(
        self,
        *,
        n_estimators=100,
        max_samples="auto",
        contamination="auto",
        max_features=1.0,
        bootstrap=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.contamination = contamination
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def _input_tags(self):
        return {"allow_nan": True, "sparse": True}

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, sample_weight=None):
        """Fit the forest.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features) or RowSource
            Training rows. Any numeric dtype; values are rounded to float32 as in
            scikit-learn. NaN and inf are accepted. A
            :class:`isoforest.forest.RowSource` is read through its ``take`` (the
            drawn rows only) and ``iter_blocks`` (float ``contamination`` only),
            giving the same forest as the full array.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights: rows are drawn with probability proportional to them, as
            scikit-learn 1.9 does.

        Returns
        -------
        self : IsolationForest
            The fitted estimator.
        """
        if is_dask_collection(X):
            return dask_hook(self, X, "fit", sample_weight)
        if isinstance(X, RowSource):
            return self._fit_source(X, sample_weight)
        self._validate_params()
        X = validate_data(self, X, reset=True)
        self._fit_forest(X, None, X.shape[0], X.shape[1], sample_weight)
        self._set_offset(X)
        return self

    def _fit_source(self, source, sample_weight=None):
        """Fit from a row source (see :class:`isoforest.forest.RowSource`).

        Builds the very same forest, ``offset_`` included, as ``fit(X)`` on the
        full array the source serves, reading ``source.take`` once with the sorted
        union of the rows the new trees draw, and, for a float ``contamination``,
        every row through ``source.iter_blocks`` to score it. Checks, warnings and
        errors are those of ``fit``.

        Parameters
        ----------
        source : RowSource
            Any object with ``n_samples``, ``n_features``, ``feature_names``,
            ``take(rows)`` and ``iter_blocks()``.
        sample_weight : array-like of shape (n_samples,), default=None
            As in ``fit``.

        Returns
        -------
        self : IsolationForest
        """
        self._validate_params()
        n_samples, n_features = bind_source(self, source)
        self._fit_forest(None, source, n_samples, n_features, sample_weight)
        if self.contamination == "auto":
            self.offset_ = -0.5
        else:
            scores = []
            seen = 0
            for block in source.iter_blocks():
                block = checked_block(block, n_features, what="iter_blocks")
                seen += block.shape[0]
                scores.append(self._score(block))
            if seen != n_samples:
                raise ValueError(
                    f"The row source's iter_blocks() yielded {seen} rows, expected "
                    f"n_samples={n_samples}."
                )
            self.offset_ = np.percentile(np.concatenate(scores),
                                         100.0 * self.contamination)
        return self

    def _fit_forest(self, X, source, n_samples, n_features, sample_weight):
        """Everything ``fit`` sets but ``offset_``, from X or else a row source."""
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, n_samples)
            if not np.any(sample_weight != 0):
                raise ValueError("Sample weights must contain at least one non-zero number.")

        # The dummy regression target scikit-learn trains its trees on:
        # RandomState(random_state).uniform(size=n_samples). With an int seed and the
        # in-Numba draws it is computed only at the rows the trees draw.
        if isinstance(self.random_state, numbers.Integral) and sample_weight is None:
            y_dummy = int(self.random_state)
        else:
            y_dummy = check_random_state(self.random_state).uniform(size=n_samples)

        max_samples = resolve_max_samples(self.max_samples, n_samples)
        self.max_samples_ = max_samples
        max_depth = depth_limit(max_samples)

        if isinstance(self.max_features, numbers.Integral):
            max_features = int(self.max_features)
        else:
            max_features = int(self.max_features * n_features)
        if max_features > n_features:
            raise ValueError("max_features must be <= n_features")
        max_features = max(1, max_features)
        self._max_samples = max_samples
        self._max_features = max_features
        self._n_samples = n_samples

        random_state = check_random_state(self.random_state)
        keep = self.warm_start and getattr(self, "_forest", None) is not None
        if keep and self._forest.features.shape[1] != max_features:
            keep = False
        n_existing, seeds = self._warm_start_seeds(random_state, keep)
        if not keep:
            self._tree_max_depth = np.empty(0, dtype=np.int64)
            self._estimators_cache = None
        n_more = 0 if seeds is None else len(seeds)
        if n_more:
            new = self._grow(X, y_dummy, seeds, max_samples, max_features, max_depth,
                             sample_weight, source)
            self._add_trees(new, seeds)
            self._tree_max_depth = np.concatenate(
                [self._tree_max_depth, np.full(n_more, max_depth, dtype=np.int64)]
            )
            self._tree_seeds = np.concatenate(
                [getattr(self, "_tree_seeds", np.empty(0, np.int64))[:n_existing],
                 self._new_tree_seeds]
            )
        self._set_denominator()
        self._seeds = self._seeds_all[n_existing:] if n_more else self._seeds_all[:0]
        self._sample_weight = sample_weight

    def _new_node_arrays(self, total):
        return {
            "feature": np.empty(total, np.int64),
            "threshold": np.empty(total, np.float64),
            "children_left": np.empty(total, np.int64),
            "children_right": np.empty(total, np.int64),
            "n_node_samples": np.empty(total, np.int64),
            "weighted_n_node_samples": np.empty(total, np.float64),
            "impurity": np.empty(total, np.float64),
            "missing_go_to_left": np.empty(total, np.uint8),
        }

    def _grow(self, X, y_dummy, seeds, max_samples, max_features, max_depth,
              sample_weight, source=None):
        """Build one tree per seed from X, or else from ``source``; returns a
        ForestArrays."""
        t0 = time.perf_counter()
        if sample_weight is None:
            forest = self._grow_numba(X, y_dummy, seeds, max_samples, max_features,
                                      max_depth, source)
        else:
            forest = self._grow_python_draws(X, y_dummy, seeds, max_samples,
                                             max_features, max_depth, sample_weight,
                                             source)
        if self.verbose:
            print(
                f"[IsolationForest] built {len(seeds)} trees in "
                f"{time.perf_counter() - t0:.3f} s",
                file=sys.stderr,
            )
        return forest

    def _grow_numba(self, X, y_dummy, seeds, max_samples, max_features, max_depth,
                    source=None):
        """Draws and builds in Numba, parallel over trees; reads only the drawn rows.

        ``y_dummy`` may be an int: the seed of the dummy target's RandomState, whose
        values are then computed only at the drawn rows. With a row ``source`` (X
        None), the drawn rows are read with one ``source.take`` and the trees index
        that matrix by rank.
        """
        if source is not None:
            n_samples, n_features = source_shape(source, type(self).__name__)
        else:
            if not (X.dtype in (np.float32, np.float64) and X.flags.c_contiguous):
                X = np.ascontiguousarray(X, dtype=np.float32)
            n_samples, n_features = X.shape
        n_trees = len(seeds)
        seeds = np.asarray(seeds, dtype=np.int64)
        features = np.empty((n_trees, max_features), dtype=np.int64)
        rows = np.empty((n_trees, max_samples), dtype=np.int64)
        counts = np.zeros((n_trees, max_samples), dtype=np.float64)
        n_rows = np.empty(n_trees, dtype=np.int64)
        tree_seeds = np.empty(n_trees, dtype=np.int64)
        rand_r_states = np.empty(n_trees, dtype=np.int64)
        parallel = effective_n_jobs(self.n_jobs) > 1 and n_trees > 1
        with num_threads(self.n_jobs):
            (kernels.draw_trees if parallel else kernels.draw_trees_serial)(
                seeds, n_samples, n_features, max_samples, max_features,
                bool(self.bootstrap), features, rows, counts, n_rows, tree_seeds,
                rand_r_states)
            # The trees read only their drawn rows: of X (gathered as float32) and,
            # with an int seed, of the dummy target, computed at those rows only and
            # stored by rank among them (no array of n_samples values).
            bits = np.zeros(n_samples // 64 + 1, dtype=np.uint64)
            prefix = np.empty(bits.shape[0], dtype=np.int64)
            n_drawn = kernels.mark_rows(rows, n_rows, bits, prefix)
            if source is not None:
                # X becomes the drawn rows only, in increasing order; the trees find
                # a row at its rank (the dummy target still reads original row ids).
                X = checked_block(source.take(kernels.drawn_rows(bits, n_drawn)),
                                  n_features, n_drawn)
                xrows = np.empty_like(rows)
                kernels.rank_rows(rows, n_rows, bits, prefix, xrows)
            else:
                xrows = rows
            ranked = isinstance(y_dummy, numbers.Integral)
            if ranked:
                seed, y_dummy = int(y_dummy), np.empty(n_drawn, dtype=np.float64)
            else:
                seed = -1
            # Drawn rows gathered ahead (beside the random stream) while that copy
            # stays small; else each tree gathers its own while it is built.
            gather = n_trees * max_samples * max_features * 4 <= GATHER_AHEAD_BYTES
            Xall = np.empty((n_trees, max_samples, max_features) if gather else (1, 1, 1),
                            dtype=np.float32)
            (kernels.prepare_trees if parallel else kernels.prepare_trees_serial)(
                X, features, xrows, n_rows, Xall, gather, seed, bits, y_dummy)
            capacity = max(2 * max_samples - 1, 1)
            out = self._new_node_arrays(n_trees * capacity)
            node_counts = np.zeros(n_trees, dtype=np.int64)
            (kernels.build_trees if parallel else kernels.build_trees_serial)(
                X, Xall, gather, y_dummy, ranked, bits, prefix, features, rows, xrows,
                counts, n_rows, rand_r_states, max_depth, capacity, out["feature"],
                out["threshold"], out["children_left"], out["children_right"],
                out["n_node_samples"],
                out["weighted_n_node_samples"], out["impurity"],
                out["missing_go_to_left"], node_counts)
        self._new_tree_seeds = tree_seeds
        node_offsets = np.arange(n_trees + 1, dtype=np.int64) * capacity
        return self._compact(out, node_offsets, node_counts, features)

    @staticmethod
    def _compact(out, node_offsets, node_counts, features):
        n_trees = len(node_counts)
        tree_offsets = np.zeros(n_trees + 1, dtype=np.int64)
        tree_offsets[1:] = np.cumsum(node_counts)
        node_offsets = np.ascontiguousarray(node_offsets, dtype=np.int64)
        compact = {}
        for name, v in out.items():
            compact[name] = np.empty(tree_offsets[-1], dtype=v.dtype)
            kernels.compact_nodes(v, node_offsets, tree_offsets, compact[name])
        return ForestArrays(tree_offsets, features, **compact)

    def _grow_python_draws(self, X, y_dummy, seeds, max_samples, max_features,
                           max_depth, sample_weight=None, source=None):
        """Draws with NumPy's own RandomState (needed for ``sample_weight``, whose rows
        come from ``RandomState.choice``), then builds in Numba. With a row
        ``source`` (X None), the drawn rows are read with one ``source.take``."""
        if source is not None:
            n_samples, n_features = source_shape(source, type(self).__name__)
        else:
            n_samples, n_features = X.shape
        n_trees = len(seeds)
        features = np.empty((n_trees, max_features), dtype=np.int64)
        draws = [
            draw_tree(seed, n_samples, n_features, max_samples, max_features,
                      self.bootstrap, sample_weight)
            for seed in seeds
        ]
        if source is not None:
            union = np.unique(np.concatenate([d[1] for d in draws]).astype(np.int64))
            X_drawn = checked_block(source.take(union), n_features, len(union))
        row_blocks, y_blocks, w_blocks, states, tree_seeds = [], [], [], [], []
        for t, (feats, rows, counts, state, tree_seed) in enumerate(draws):
            features[t] = feats
            if source is not None:
                block = X_drawn[np.searchsorted(union, rows)][:, feats]
            else:
                block = X[rows][:, feats]
            if is_sparse(block):
                block = block.toarray()
            row_blocks.append(np.asarray(block).astype(np.float32, copy=False))
            y_blocks.append(y_dummy[rows])
            w_blocks.append(counts)
            states.append(state)
            tree_seeds.append(tree_seed)
        self._new_tree_seeds = np.asarray(tree_seeds, dtype=np.int64)
        row_offsets = np.zeros(n_trees + 1, dtype=np.int64)
        row_offsets[1:] = np.cumsum([len(b) for b in y_blocks])
        X_all = np.ascontiguousarray(np.concatenate(row_blocks, axis=0), dtype=np.float32)
        y_all = np.ascontiguousarray(np.concatenate(y_blocks), dtype=np.float64)
        w_all = np.ascontiguousarray(np.concatenate(w_blocks), dtype=np.float64)
        capacity = np.maximum(2 * np.diff(row_offsets) - 1, 1)
        node_offsets = np.zeros(n_trees + 1, dtype=np.int64)
        node_offsets[1:] = np.cumsum(capacity)
        out = self._new_node_arrays(int(node_offsets[-1]))
        node_counts = np.zeros(n_trees, dtype=np.int64)
        parallel = effective_n_jobs(self.n_jobs) > 1 and n_trees > 1
        builder = kernels._build_forest if parallel else kernels._build_forest_serial
        with num_threads(self.n_jobs):
            builder(
                X_all, y_all, w_all, row_offsets,
                np.asarray(states, dtype=np.int64), max_depth, node_offsets,
                out["feature"], out["threshold"], out["children_left"],
                out["children_right"], out["n_node_samples"],
                out["weighted_n_node_samples"], out["impurity"],
                out["missing_go_to_left"], node_counts,
            )
        return self._compact(out, node_offsets, node_counts, features)

    # ------------------------------------------------------------- scoring
    def _check_fitted(self):
        check_is_fitted(self, "offset_")

    def _path_length_sum(self, X):
        """Total path length of each row over the trees, summed in tree order."""
        f = self._forest
        out = np.zeros(X.shape[0], dtype=np.float64)
        parallel = effective_n_jobs(self.n_jobs) > 1
        simd = _simd.available()
        for start, stop, block in self._iter_chunks(X):
            use_threads = parallel and stop - start >= PARALLEL_MIN_ROWS
            if f.complete is not None:
                depth, feat, thr, nan_right, leaf = f.complete
                if simd and 1 <= depth <= _simd.MAX_DEPTH:
                    parallel_kernel, serial_kernel = kernels.simd_score_kernels(
                        depth, block.shape[1])
                    kernel = parallel_kernel if use_threads else serial_kernel
                    args = (block, feat, thr, nan_right, leaf, f.n_trees, out[start:stop])
                else:
                    kernel = (kernels.score_complete if use_threads
                              else kernels.score_complete_serial)
                    args = (block, depth, feat, thr, nan_right, leaf, f.n_trees,
                            out[start:stop])
            else:
                kernel = kernels.path_length_sum if use_threads else kernels.path_length_sum_serial
                args = (block, f.tree_offsets, f.global_feature, f.threshold,
                        f.children_left, f.children_right, f.missing_go_to_left,
                        f.leaf_value, out[start:stop])
            if use_threads:
                with num_threads(self.n_jobs):
                    kernel(*args)
            else:
                kernel(*args)
        return out

    def _set_denominator(self):
        """``n_trees * c(max_samples)`` as scikit-learn computes it (a 1-element
        array); stored at fit because recomputing it costs more than scoring a row."""
        self._denominator = self._forest.n_trees * average_path_length([self._max_samples])
        # Made here, with the model, not lazily by a scoring call: scoring must not
        # change the estimator's __dict__ (scikit-learn's check_dict_unchanged).
        self._few_rows = self._few_rows_setup()

    def _validate_for_scoring(self, X):
        self._check_fitted()
        return validate_data(self, X, reset=False, accept_sparse="keep")

    def score_samples(self, X):
        """Opposite of the anomaly score of Liu et al. (lower is more abnormal).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Rows to score. Values are compared after rounding to float32.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-2 ** (-mean path length / c(max_samples_))``, in [-1, 0).

        Notes
        -----
        A few rows (up to ``FEW_ROWS``) given as a C-contiguous float64 ndarray with
        ``n_features_in_`` columns, to a model fitted without feature names, take a
        short path: the checks such an array could fail are the generic path's
        (there are none left: NaN and inf are accepted, as in fit), and one serial
        kernel walks 16 trees at a time. The scores are the same bits.
        """
        if type(X) is np.ndarray:
            p = self._score_few(X)
            if p is not None:
                return np.negative(p[0], p[1])
        if is_dask_collection(X):
            return dask_hook(self, X, "score_samples")
        return self._score(self._validate_for_scoring(X))

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers, positive for inliers.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The rows to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        if type(X) is np.ndarray:
            p = self._score_few(X)
            if p is not None:
                # score - offset_ = (-p) - offset_ = (-offset_) - p, bit for bit
                # (signed zeros included); element by element: a ufunc costs more
                # than a few scalar steps.
                p, out = p
                neg_offset = -self.offset_
                for i in range(p.shape[0]):
                    out[i] = neg_offset - p[i]
                return out
        return super().decision_function(X)

    def predict(self, X):
        """Label rows: -1 for outliers (``decision_function < 0``), +1 for inliers.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The rows to label.

        Returns
        -------
        is_inlier : ndarray of shape (n_samples,)
        """
        if type(X) is np.ndarray:
            p = self._score_few(X)
            if p is not None:
                neg_offset = -self.offset_
                return np.array([-1 if neg_offset - v < 0 else 1 for v in p[0].tolist()],
                                dtype=int)
        return super().predict(X)

    def _score_few(self, X):
        """``(p, buffer)``: ``p = -score_samples(X)`` (``2 ** (-mean path length /
        c)``) of X, an ndarray, on the short path, and a spare array of its shape
        for the caller's result; or None where the short path does not apply (the
        caller then takes the generic one).

        It applies to 1..FEW_ROWS rows of C-contiguous native float64 with
        ``n_features_in_`` columns, a fitted model without ``feature_names_in_``:
        for such an array ``validate_data(reset=False)`` checks nothing that can fail
        and changes nothing (no copy, no cast; NaN and inf are accepted), so
        skipping it changes no result, warning or error. Anything else, the unfitted
        model included, goes the generic way and gets its errors from there.
        """
        d = self.__dict__
        fast = d.get("_few_rows")
        if fast is None or fast[0] is not d.get("_denominator") or fast[1] is not d.get(
                "_forest"):
            fast = self._few_rows_setup()  # a model from an old pickle; not stored
            if fast is None:
                return None
        _, _, complete, a, b, c, e, f, g, h, den = fast
        if (
            X.ndim != 2
            or X.dtype is not _FLOAT64
            or X.shape[1] != d.get("n_features_in_")
            or not 0 < X.shape[0] <= FEW_ROWS
            or "offset_" not in d  # not fitted: the generic path raises
            or "feature_names_in_" in d  # the generic path warns about an ndarray
            or not X.flags.c_contiguous
        ):
            return None
        out = np.empty(X.shape[0])
        if complete:
            kernels.score_few_complete(X, a, b, c, e, f, g, den, out)
        else:
            kernels.score_few_nodes(X, a, b, c, e, f, g, h, den, out)
        # The same ufunc as _score on the same values: the same bits (NumPy's
        # vectorised pow, which can differ from libm's pow or Numba's in the last
        # bit, so it is not done in the kernel). Not in place: a ufunc writing over
        # its input costs twice the time of one element here.
        return np.power(_TWO, out), out

    def _few_rows_setup(self):
        """The fitted arrays ``_score_few`` passes to its kernel, with the
        denominator and forest they come from (``_set_denominator`` stores them:
        every fit, ``from_sklearn`` and model load ends with it, so an identity
        check on both finds a stale entry); None without a forest."""
        d = self.__dict__
        forest, denominator = d.get("_forest"), d.get("_denominator")
        if forest is None or denominator is None:
            return None
        den = float(denominator[0])
        if forest.complete is not None:
            depth, feat, thr, nan_right, leaf = forest.complete
            return (denominator, forest, True, depth, feat, thr, nan_right, leaf,
                    forest.n_trees, None, den)
        return (denominator, forest, False, forest.tree_offsets, forest.global_feature,
                forest.threshold, forest.children_left, forest.children_right,
                forest.missing_go_to_left, forest.leaf_value, den)

    # -------------------------------------------------------------- study
    def apply(self, X):
        """Leaf reached by each row in each tree.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        leaves : ndarray of int64, shape (n_samples, n_estimators)
            Tree-local node ids (index ``estimators_[t].tree_`` arrays with them).
        """
        X = self._validate_for_scoring(X)
        f = self._forest
        out = np.empty((X.shape[0], f.n_trees), dtype=np.int64)
        with num_threads(self.n_jobs):
            for start, stop, block in self._iter_chunks(X):
                kernels.apply_forest(block, f.tree_offsets, f.global_feature, f.threshold,
                                     f.children_left, f.children_right,
                                     f.missing_go_to_left, out[start:stop])
        return out

    def path_lengths(self, X):
        """Path length of each row in each tree, ``h(x) + c(leaf size)``.

        This is what a tree adds to a row's total: the depth of its leaf (edges from
        the root) plus the average path length ``c(n)`` of the ``n`` training rows
        left unisolated in that leaf. ``score_samples`` equals
        ``-2 ** (-path_lengths(X).mean(axis=1) / c(max_samples_))`` up to round-off
        of the mean (the estimator itself sums in tree order).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        lengths : ndarray of float64, shape (n_samples, n_estimators)
        """
        leaves = self.apply(X)
        f = self._forest
        return f.leaf_value[leaves + f.tree_offsets[:-1]]

    # ------------------------------------------------------ interchange
    @classmethod
    def from_sklearn(cls, fitted):
        """Wrap a fitted ``sklearn.ensemble.IsolationForest`` without retraining.

        The trees, feature subsets, ``offset_`` and settings are copied into flat
        arrays, so the model scores with identical results at isoforest's speed.

        Parameters
        ----------
        fitted : sklearn.ensemble.IsolationForest
            A fitted scikit-learn Isolation Forest.

        Returns
        -------
        model : IsolationForest
            A fitted isoforest model with the same parameters.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.ensemble import IsolationForest as SkIF
        >>> from isoforest import IsolationForest
        >>> X = np.random.RandomState(0).randn(300, 3)
        >>> sk = SkIF(random_state=0).fit(X)
        >>> ours = IsolationForest.from_sklearn(sk)
        >>> bool(np.array_equal(ours.score_samples(X), sk.score_samples(X)))
        True
        """
        if not hasattr(fitted, "estimators_") or not hasattr(fitted, "offset_"):
            raise TypeError(
                "from_sklearn expects a fitted sklearn.ensemble.IsolationForest, got "
                f"{type(fitted).__name__}. Call 'fit' on it first if it is one."
            )
        params = {k: v for k, v in fitted.get_params().items()
                  if k in cls._get_param_names()}
        model = cls(**params)
        parts = {name: [] for name in model._new_node_arrays(0)}
        offsets = [0]
        for est in fitted.estimators_:
            tree = est.tree_
            leaf = tree.children_left == -1
            parts["feature"].append(np.asarray(tree.feature, dtype=np.int64))
            parts["threshold"].append(np.asarray(tree.threshold, dtype=np.float64))
            parts["children_left"].append(np.asarray(tree.children_left, dtype=np.int64))
            parts["children_right"].append(np.asarray(tree.children_right, dtype=np.int64))
            parts["n_node_samples"].append(np.asarray(tree.n_node_samples, dtype=np.int64))
            parts["weighted_n_node_samples"].append(
                np.asarray(tree.weighted_n_node_samples, dtype=np.float64))
            parts["impurity"].append(np.asarray(tree.impurity, dtype=np.float64))
            mgl = np.asarray(tree.missing_go_to_left, dtype=np.uint8).copy()
            mgl[leaf] = 0  # undefined at leaves in scikit-learn
            parts["missing_go_to_left"].append(mgl)
            offsets.append(offsets[-1] + tree.node_count)
        features = np.asarray([np.asarray(f) for f in fitted.estimators_features_],
                              dtype=np.int64)
        nodes = {k: np.concatenate(v) for k, v in parts.items()}
        n_features = int(fitted.n_features_in_)
        if np.any(nodes["feature"] >= features.shape[1]) or np.any(features >= n_features):
            raise ValueError("The scikit-learn model refers to features it does not have.")
        model._forest = ForestArrays(np.asarray(offsets), features, **nodes)
        model.n_features_in_ = n_features
        if hasattr(fitted, "feature_names_in_"):
            model.feature_names_in_ = np.asarray(fitted.feature_names_in_, dtype=object)
        model.max_samples_ = int(fitted.max_samples_)
        model._max_samples = int(fitted._max_samples)
        model._max_features = int(fitted._max_features)
        model._n_samples = int(getattr(fitted, "_n_samples", model._max_samples))
        seeds = np.asarray(getattr(fitted, "_seeds", np.zeros(len(fitted.estimators_))),
                           dtype=np.int64)
        model._seeds_all = seeds
        model._seeds = seeds
        model._sample_weight = getattr(fitted, "_sample_weight", None)
        model._tree_seeds = np.asarray(
            [int(e.random_state) if e.random_state is not None else 0
             for e in fitted.estimators_], dtype=np.int64)
        model._tree_max_depth = np.asarray(
            [int(e.max_depth) for e in fitted.estimators_], dtype=np.int64)
        model._estimators_cache = None
        model._set_denominator()
        model.offset_ = fitted.offset_
        return model

    def to_sklearn(self):
        """A genuine fitted ``sklearn.ensemble.IsolationForest`` with these trees.

        Each tree becomes an ``ExtraTreeRegressor`` whose ``tree_`` is a real
        ``sklearn.tree._tree.Tree`` holding the very same nodes, so scikit-learn
        (and libraries that read its trees: ``shap.TreeExplainer``, ``skl2onnx``)
        score the model exactly as isoforest does, bit for bit. The inverse of
        :meth:`from_sklearn`.

        Returns
        -------
        model : sklearn.ensemble.IsolationForest
            Fitted, with ``estimators_``, ``estimators_features_``, ``offset_``,
            ``max_samples_``, ``n_features_in_`` (and ``feature_names_in_``) and the
            private attributes its scoring reads.

        Raises
        ------
        ImportError
            If scikit-learn is not installed.

        Notes
        -----
        scikit-learn's scores read only the trees' structure, thresholds and
        ``n_node_samples`` (through depths and ``c(n)``), never ``tree_.value``.
        Its trees store there the mean of the dummy uniform target they were
        trained on, which isoforest does not keep. The exported trees store instead
        the path length each node stands for: ``depth + c(n_node_samples)`` at a
        leaf and the ``n_node_samples``-weighted mean of its leaves' path lengths at
        an internal node, so ``estimators_[t].predict(X[:, estimators_features_[t]])``
        is the path length of each row in tree ``t`` (``path_lengths(X)[:, t]``).
        These are the values ``shap``'s ``IsoTree`` recomputes for scikit-learn's
        isolation trees.

        Examples
        --------
        >>> import numpy as np
        >>> from isoforest import IsolationForest
        >>> X = np.random.RandomState(0).randn(300, 3)
        >>> ours = IsolationForest(n_estimators=10, random_state=0).fit(X)
        >>> sk = ours.to_sklearn()
        >>> type(sk).__module__
        'sklearn.ensemble._iforest'
        >>> bool(np.array_equal(sk.score_samples(X), ours.score_samples(X)))
        True
        """
        from ._export import to_sklearn

        return to_sklearn(self)

    def decision_path(self, X):
        """Nodes each row passes through, in every tree (scikit-learn's convention).

        scikit-learn's ``IsolationForest`` has no ``decision_path``; this follows
        ``RandomForestRegressor.decision_path``: the per-tree indicators
        ``estimators_[t].decision_path(X[:, estimators_features_[t]])`` side by side.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        indicator : scipy.sparse.csr_matrix of shape (n_samples, n_nodes)
            ``indicator[i, j]`` is 1 when row ``i`` passes through node ``j``
            (nodes of all trees numbered one after the other).
        n_nodes_ptr : ndarray of int64, shape (n_estimators + 1,)
            Columns ``n_nodes_ptr[t]:n_nodes_ptr[t + 1]`` belong to tree ``t``
            (the same array as ``forest_.tree_offsets``).

        Raises
        ------
        ImportError
            If SciPy is not installed (the result is a SciPy sparse matrix).

        Examples
        --------
        >>> import numpy as np
        >>> from isoforest import IsolationForest
        >>> X = np.random.RandomState(0).randn(100, 2)
        >>> model = IsolationForest(n_estimators=5, random_state=0).fit(X)
        >>> indicator, ptr = model.decision_path(X[:3])
        >>> indicator.shape == (3, int(ptr[-1]))
        True
        """
        from ._export import decision_path

        return decision_path(self, X)

    # ----------------------------------------------------- fitted views
    @property
    def forest_(self):
        self._check_fitted()
        return self._forest

    @property
    def estimators_(self):
        self._check_fitted()
        f = self._forest
        cache = getattr(self, "_estimators_cache", None) or []
        # Keep existing objects (warm start keeps the same trees, as scikit-learn).
        trees = list(cache[: f.n_trees])
        for t in range(len(trees), f.n_trees):
            trees.append(IsolationTree(self, t, int(self._tree_max_depth[t]),
                                       int(self._tree_seeds[t])))
        self._estimators_cache = trees
        return list(trees)

    @property
    def estimators_features_(self):
        self._check_fitted()
        return [row.copy() for row in self._forest.features]

    @property
    def estimators_samples_(self):
        self._check_fitted()
        return [
            np.asarray(bagging_indices(seed, self._n_samples, self.n_features_in_,
                                       self._max_samples, self._max_features,
                                       self.bootstrap, self._sample_weight)[1])
            for seed in self._seeds_all
        ]

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_estimators_cache", None)
        state.pop("_new_tree_seeds", None)
        # isoforest.explain's TreeSHAP tables: large, rebuilt on demand
        state.pop("_treeshap_cache", None)
        return state

    def __sklearn_is_fitted__(self):
        return hasattr(self, "offset_")

"""LocalOutlierFactor: scikit-learn's estimator on isoforest's exact Numba neighbours.

Why one module of ~800 lines: it is one class, scikit-learn's public API (outlier
and novelty modes, ``kneighbors``, every metric and algorithm parameter, with its
wording) method by method, as ``sklearn/neighbors/_lof.py`` is; the searches and the
scoring arithmetic are the job modules of this package (``_kernels`` lists them).
"""

import contextlib
import numbers
import warnings

import numpy as np

from . import _kernels as knn_kernels
from .._base import (BOOLEAN, BaseDetector, InstanceOf, Interval, NoneConstraint, Options,
                     available_if, dask_hook)
from .._config import effective_n_jobs, num_threads
from .._validation import (
    is_dask_collection,
    _check_feature_names,
    check_array,
    check_finite,
    check_is_fitted,
    is_dataframe,
    is_sparse,
)

__all__ = ["LocalOutlierFactor"]

#: Below this many query rows the kernels run on the calling thread: starting the
#: thread pool costs more than it saves (the one-row, real-time case).
PARALLEL_MIN_ROWS = 32
_FLOAT64 = np.dtype(np.float64)
#: From this many rows the score kernels run in parallel (below, launching the
#: thread pool costs more than it saves).
SCORE_PARALLEL_MIN_ROWS = 2048

#: Metric names accepted (scikit-learn's KDTree names, plus "precomputed") and the
#: kernel's metric code for each.
_METRIC_CODES = {
    "euclidean": knn_kernels.EUCLIDEAN,
    "l2": knn_kernels.EUCLIDEAN,
    "manhattan": knn_kernels.MANHATTAN,
    "cityblock": knn_kernels.MANHATTAN,
    "l1": knn_kernels.MANHATTAN,
    "chebyshev": knn_kernels.CHEBYSHEV,
    "infinity": knn_kernels.CHEBYSHEV,
    "minkowski": knn_kernels.MINKOWSKI,
    "precomputed": knn_kernels.PRECOMPUTED,
}

#: Above this many features 'auto' uses brute force, as scikit-learn does.
AUTO_TREE_MAX_FEATURES = 15


# ---------------------------------------------------------------------------
# helpers with scikit-learn's behaviour and wording


def _is_float32(X):
    """Whether scikit-learn's ``check_array(X)`` would return float32 (it keeps the
    dtype of float arrays; LOF then rounds its distances and scores to float32)."""
    dtype = getattr(X, "dtype", None)
    if dtype is not None and not is_dataframe(X):
        try:
            return np.dtype(dtype) == np.float32
        except TypeError:
            return False
    if is_dataframe(X):
        try:
            return {np.dtype(d) for d in X.dtypes} == {np.dtype(np.float32)}
        except TypeError:
            return False
    return False


def _dense_float64(X):
    X = X.toarray() if is_sparse(X) else X
    return np.ascontiguousarray(X, dtype=np.float64)


# ---------------------------------------------------------------------------
# the estimator


class LocalOutlierFactor(BaseDetector):
    """Local Outlier Factor, with scikit-learn's interface and scores.

    The LOF of a row compares the local density of its ``n_neighbors`` nearest
    training rows with its own: rows much sparser than their neighbours are
    outliers. ``negative_outlier_factor_`` (and ``score_samples`` with
    ``novelty=True``) agree with ``sklearn.neighbors.LocalOutlierFactor`` 1.9 to
    rounding (bit for bit where scikit-learn uses its kd-tree) on data without
    tied distances; ties are broken by the smaller training index, so results are
    deterministic and independent of the algorithm and ``n_jobs``.

    Parameters
    ----------
    n_neighbors : int, default=20
        Number of neighbours used by default for :meth:`kneighbors` queries. If
        larger than the number of training rows, all of them but one are used.
    algorithm : {'auto', 'ball_tree', 'kd_tree', 'brute'}, default='auto'
        How neighbours are found (the results are the same): 'kd_tree' and
        'ball_tree' use isoforest's kd-tree, 'brute' a blocked brute force, and
        'auto' the kd-tree when there are at most 15 features and
        ``n_neighbors < n_samples // 2``, brute force otherwise (scikit-learn's
        rule). Sparse input is densified and uses brute force.
    leaf_size : int, default=30
        Largest number of rows in a kd-tree leaf. Affects speed only.
    metric : str, default='minkowski'
        'minkowski' (with ``p``), 'euclidean'/'l2', 'manhattan'/'cityblock'/'l1',
        'chebyshev'/'infinity', or 'precomputed' (then ``X`` is a dense distance
        matrix, square at fit).
    p : float, default=2
        Power of the Minkowski metric: 1 is manhattan, 2 euclidean, ``inf``
        chebyshev. Values in (0, 1) are semi-metrics and need brute force.
    metric_params : dict, default=None
        For 'minkowski': ``p`` (overrides the parameter, with scikit-learn's
        warning) and ``w``, a non-negative weight per feature.
    contamination : 'auto' or float, default='auto'
        Expected proportion of outliers, in (0, 0.5]. Sets ``offset_``: -1.5 for
        'auto', else that percentile of ``negative_outlier_factor_``.
    novelty : bool, default=False
        False: outlier detection on the training set (``fit_predict``). True:
        novelty detection on new rows (``predict``, ``decision_function``,
        ``score_samples``). Each setting hides the other's methods.
    n_jobs : int, default=None
        Threads for the neighbour search. ``None`` means 1, ``-1`` all cores.
        Results never depend on it.

    Attributes
    ----------
    negative_outlier_factor_ : ndarray of shape (n_samples,)
        Opposite of the LOF of each training row (higher is more normal; inliers
        are near -1). float32 for float32 input, as scikit-learn.
    n_neighbors_ : int
        Number of neighbours actually used: ``max(1, min(n_neighbors,
        n_samples - 1))``.
    offset_ : float
        ``decision_function = score_samples - offset_``; training rows with
        ``negative_outlier_factor_ < offset_`` are outliers.
    effective_metric_ : str
        The metric used ('minkowski' with p 1, 2, inf becomes 'manhattan',
        'euclidean', 'chebyshev').
    effective_metric_params_ : dict
        Its parameters, as scikit-learn reports them.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when ``X`` is a data frame with string column names.
    n_samples_fit_ : int
        Number of training rows.

    See Also
    --------
    sklearn.neighbors.LocalOutlierFactor : The reference implementation.
    isoforest.IsolationForest : Isolation-based outlier detection.

    Notes
    -----
    Breunig, Kriegel, Ng & Sander, "LOF: Identifying Density-Based Local Outliers",
    SIGMOD 2000. With ``N_k(x)`` the k nearest training rows of ``x``:
    ``reach_dist(x, o) = max(dist(x, o), k_distance(o))``,
    ``lrd(x) = 1 / (mean_{o in N_k(x)} reach_dist(x, o) + 1e-10)`` and
    ``LOF(x) = mean_{o in N_k(x)} lrd(o) / lrd(x)``. A training row is not its own
    neighbour (with duplicates, scikit-learn's rule is kept: its own index is
    left out). The readable reference is ``reference/lof_naive.py``.

    Examples
    --------
    >>> import numpy as np
    >>> from isoforest.neighbors._lof import LocalOutlierFactor
    >>> X = [[-1.1], [0.2], [101.1], [0.3]]
    >>> clf = LocalOutlierFactor(n_neighbors=2)
    >>> clf.fit_predict(X)
    array([ 1,  1, -1,  1])
    >>> np.round(clf.negative_outlier_factor_, 4)
    array([ -0.9821,  -1.037 , -73.3697,  -0.9821])
    """

    # alphabetical, the order scikit-learn checks them in
    _param_constraints = {
        "algorithm": [Options({"auto", "ball_tree", "kd_tree", "brute"})],
        "contamination": [Options({"auto"}), Interval(float, 0, 0.5, closed="right")],
        "leaf_size": [Interval(int, 1, None, closed="left")],
        "metric": [Options(set(_METRIC_CODES))],
        "metric_params": [InstanceOf(dict, names=("dict",)), NoneConstraint()],
        "n_jobs": [InstanceOf(numbers.Integral, names=("int",)), NoneConstraint()],
        "n_neighbors": [Interval(int, 1, None, closed="left"), NoneConstraint()],
        "novelty": [BOOLEAN],
        "p": [Interval(float, 0, None, closed="right"), NoneConstraint()],
    }

    def __init__(
        self,
        n_neighbors=20,
        *,
        algorithm="auto",
        leaf_size=30,
        metric="minkowski",
        p=2,
        metric_params=None,
        contamination="auto",
        novelty=False,
        n_jobs=None,
    ):
        self.n_neighbors = n_neighbors
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.metric = metric
        self.p = p
        self.metric_params = metric_params
        self.contamination = contamination
        self.novelty = novelty
        self.n_jobs = n_jobs

    def _input_tags(self):
        pairwise = self.metric == "precomputed"
        return {"allow_nan": False, "sparse": True, "pairwise": pairwise,
                "positive_only": pairwise}

    def __sklearn_is_fitted__(self):
        return hasattr(self, "_lrd")

    # ------------------------------------------------------------ validation
    def _validate_X(self, X, *, reset, finite_name="X"):
        """``validate_data``'s checks in scikit-learn's order (feature names, array,
        finiteness, number of features); returns (float64 C array, was float32)."""
        was_float32 = _is_float32(X)
        name = type(self).__name__
        _check_feature_names(self, X, reset=reset)
        X = check_array(X, estimator_name=name, accept_sparse=True, dtype="float64")
        X = np.ascontiguousarray(X)
        check_finite(X, allow_nan=False, input_name=finite_name, estimator_name=name)
        if reset:
            self.n_features_in_ = X.shape[1]
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {name} "
                f"is expecting {self.n_features_in_} features as input."
            )
        return X, was_float32

    @staticmethod
    def _check_precomputed(X):
        if np.any(X < 0):
            raise ValueError("Negative values in data passed to X.")
        return X

    def _validate_precomputed_query(self, X, *, finite_name):
        """A dense distance matrix of queries to the training rows (no feature-name
        or feature-count check: its columns are the training rows)."""
        X = check_array(X, estimator_name=type(self).__name__, dtype="float64")
        X = _dense_float64(X)
        check_finite(X, allow_nan=False, input_name=finite_name)
        return self._check_precomputed(X)

    def _check_algorithm_metric(self):
        if self.metric == "precomputed" and self.algorithm in ("kd_tree", "ball_tree"):
            raise ValueError(
                "Metric '%s' not valid. Use "
                "sorted(sklearn.neighbors.VALID_METRICS['%s']) "
                "to get valid options. "
                "Metric can also be a callable function." % (self.metric, self.algorithm)
            )
        if self.metric_params is not None and "p" in self.metric_params:
            if self.p is not None:
                warnings.warn(
                    "Parameter p is found in metric_params. "
                    "The corresponding parameter from __init__ is ignored.",
                    SyntaxWarning,
                    stacklevel=3,
                )

    def _set_effective_metric(self, n_features):
        """scikit-learn's ``effective_metric_`` / ``effective_metric_params_``, and
        the kernel's metric code, power and weights."""
        params = {} if self.metric_params is None else dict(self.metric_params)
        effective_p = params.get("p", self.p)
        self.effective_metric_ = self.metric
        self._metric_p = 2.0
        self._metric_w = None
        if self.metric == "minkowski":
            params.pop("p", None)
            w = params.pop("w", None)
            if params:
                raise TypeError(
                    f"Unexpected metric_params for metric 'minkowski': {sorted(params)}; "
                    "isoforest accepts 'p' and 'w'."
                )
            p = effective_p
            if p == 1 and w is None:
                self.effective_metric_ = "manhattan"
            elif p == 2 and w is None:
                self.effective_metric_ = "euclidean"
            elif p == np.inf and w is None:
                self.effective_metric_ = "chebyshev"
            else:
                params["p"] = p
                params["w"] = w
                if w is not None:
                    w = np.asarray(w, dtype=np.float64)
                    if w.ndim != 1 or w.shape[0] != n_features:
                        raise ValueError(
                            "MinkowskiDistance: the size of w must match the number "
                            f"of features ({n_features}). Currently len(w)={w.size}."
                        )
                    if np.any(w < 0) or not np.all(np.isfinite(w)):
                        raise ValueError(
                            "MinkowskiDistance: w must be non-negative and finite.")
                    self._metric_w = np.ascontiguousarray(w)
                if p == np.inf:  # weighted chebyshev is not a Minkowski sum
                    raise ValueError("isoforest does not support weights with p=inf.")
                self._metric_p = p
        elif params:
            raise TypeError(
                f"metric {self.metric!r} takes no metric_params; got {sorted(params)}."
            )
        self.effective_metric_params_ = params
        self._metric_code = (
            _METRIC_CODES[self.effective_metric_]
            if self.effective_metric_ != "minkowski" else knn_kernels.MINKOWSKI
        )

    def _choose_method(self, n_samples, n_features, was_sparse):
        """Which search serves the queries: 'kd_tree' or 'brute' (scikit-learn's
        choice for 'auto', with our kd-tree standing in for its ball tree)."""
        if was_sparse:
            if self.algorithm not in ("auto", "brute"):
                warnings.warn("cannot use tree with sparse input: using brute force")
            method = "brute"
        elif self.algorithm == "auto":
            is_minkowski = self.effective_metric_ == "minkowski"
            if (
                self.metric == "precomputed"
                or n_features > AUTO_TREE_MAX_FEATURES
                or (self.n_neighbors is not None and self.n_neighbors >= n_samples // 2)
            ):
                method = "brute"
            elif is_minkowski and self.effective_metric_params_["p"] < 1:
                method = "brute"
            else:
                method = "kd_tree"
        elif self.algorithm == "brute":
            method = "brute"
        else:
            method = "kd_tree"
        is_minkowski = self.effective_metric_ == "minkowski"
        if is_minkowski and self.effective_metric_params_["p"] < 1:
            if method == "brute":
                warnings.warn(
                    "Mind that for 0 < p < 1, Minkowski metrics are not distance"
                    " metrics. Continuing the execution with `algorithm='brute'`."
                )
            else:
                raise ValueError(
                    f'algorithm="{self.algorithm}" does not support 0 < p < 1 for '
                    "the Minkowski metric. To resolve this problem either "
                    'set p >= 1 or algorithm="brute".'
                )
        if (
            self.algorithm == "kd_tree" and is_minkowski
            and self.effective_metric_params_.get("w") is not None
        ):
            raise ValueError(
                "algorithm='kd_tree' is not valid for "
                "metric='minkowski' with a weight parameter 'w': "
                "try algorithm='ball_tree' "
                "or algorithm='brute' instead."
            )
        return method

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Fit the local outlier factor detector from the training rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features) or \
                (n_samples, n_samples) if metric='precomputed'
            Training data. Sparse input is densified.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : LocalOutlierFactor
            The fitted detector.
        """
        if is_dask_collection(X):
            X = self._compute_dask_fit(X)
        self._validate_params()
        was_sparse = is_sparse(X)
        X, was_float32 = self._validate_X(X, reset=True)
        self._check_algorithm_metric()
        n_samples, n_features = X.shape
        self._set_effective_metric(n_features)
        if self.metric == "precomputed":
            if was_sparse:
                raise TypeError(
                    "isoforest's LocalOutlierFactor needs a dense precomputed distance "
                    "matrix; pass X.toarray()."
                )
            self._check_precomputed(X)
            if n_samples != n_features:
                raise ValueError(
                    "Precomputed matrix must be square."
                    " Input is a {}x{} matrix.".format(n_samples, n_features)
                )
        self._fit_method = self._choose_method(n_samples, n_features, was_sparse)
        self._fit_X = X
        self.n_samples_fit_ = n_samples
        self._tree = None
        self._brute_index = None
        self._brute_T = None
        if self.metric == "precomputed":
            pass
        elif self._fit_method == "kd_tree":
            with num_threads(self.n_jobs):
                self._tree = knn_kernels.build_kdtree(X, self.leaf_size)
        elif self._metric_code == knn_kernels.EUCLIDEAN:
            with num_threads(self.n_jobs):
                self._brute_index = knn_kernels.build_brute_index(X)
            if self.novelty and self._brute_index is not None:
                # the one-row path's int8 copy of the rows (knn_kernels.OneRowCodes)
                self._brute_T = knn_kernels.build_one_row_codes(self._brute_index)

        if self.n_neighbors > n_samples:
            warnings.warn(
                "n_neighbors (%s) is greater than the "
                "total number of samples (%s). n_neighbors "
                "will be set to (n_samples - 1) for estimation."
                % (self.n_neighbors, n_samples)
            )
        self.n_neighbors_ = max(1, min(self.n_neighbors, n_samples - 1))

        distances, indices = self.kneighbors(n_neighbors=self.n_neighbors_)
        if was_float32:
            distances = distances.astype(np.float32)
        self._distances_fit_X_ = distances
        # the k-distances, contiguous: the density kernel gathers them by neighbour
        self._fit_k_distance = np.ascontiguousarray(distances[:, -1])
        self._lrd = self._local_reachability_density(distances, indices)

        self.negative_outlier_factor_ = self._negative_outlier_factor(self._lrd, indices)

        if self.contamination == "auto":
            # inliers score around -1 (the higher, the less abnormal)
            self.offset_ = -1.5
        else:
            self.offset_ = np.percentile(
                self.negative_outlier_factor_, 100.0 * self.contamination
            )
        # scikit-learn's warning: with more than n_neighbors duplicates the lrd is
        # 1 / 1e-10 and the scores are meaningless.
        if np.min(self.negative_outlier_factor_) < -1e7 and not self.novelty:
            warnings.warn(
                "Duplicate values are leading to incorrect results. "
                "Increase the number of neighbors for more accurate results."
            )
        return self

    def _local_reachability_density(self, distances_X, neighbors_indices):
        """Inverse of the mean reachability distance of each query to its neighbours.

        ``reach_dist(x, o) = max(dist(x, o), k_distance(o))``; the 1e-10 keeps the
        density finite when a row has more than n_neighbors duplicates.
        """
        if self._use_kernels(distances_X):
            return self._run_score_kernel(
                knn_kernels.LOCAL_REACHABILITY_DENSITY, np.ascontiguousarray(distances_X),
                np.ascontiguousarray(neighbors_indices), self._fit_k_distance)
        # The same NumPy operations as scikit-learn, in the same order (the kernels
        # reproduce them): the scores are then its scores to the last bit whenever
        # the neighbours agree.
        dist_k = self._distances_fit_X_[neighbors_indices, self.n_neighbors_ - 1]
        reach_dist_array = np.maximum(distances_X, dist_k)
        return 1.0 / (np.mean(reach_dist_array, axis=1) + 1e-10)

    def _negative_outlier_factor(self, X_lrd, neighbors_indices_X):
        """Minus the mean ratio of the neighbours' densities to the query's."""
        if self._use_kernels(X_lrd):
            return self._run_score_kernel(knn_kernels.NEGATIVE_OUTLIER_FACTOR, self._lrd,
                                          np.ascontiguousarray(neighbors_indices_X), X_lrd)
        lrd_ratios_array = self._lrd[neighbors_indices_X] / X_lrd[:, np.newaxis]
        return -np.mean(lrd_ratios_array, axis=1)

    def _run_score_kernel(self, kernels, *args):
        """One value per query row (``args[1]`` holds the neighbour indices), on
        Numba's threads for many rows, on the calling thread for a few."""
        out = np.empty(args[1].shape[0])
        if out.shape[0] < SCORE_PARALLEL_MIN_ROWS:
            kernels.serial(*args, out)
        else:
            with num_threads(self.n_jobs):
                kernels.parallel(*args, out)
        return out

    def _use_kernels(self, values):
        """Whether the kernels (bit for bit NumPy's arithmetic, without its
        temporaries and per-call overhead) compute the scores: in float64; float32
        stays on NumPy, whose float32 sums they do not reproduce."""
        return values.dtype == np.float64 and self._distances_fit_X_.dtype == np.float64

    # ------------------------------------------------------------ neighbours
    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """Find the nearest training rows of each query row.

        Neighbours are ordered by distance, ties by training index.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features), \
                or (n_queries, n_samples_fit_) if metric='precomputed', default=None
            The query rows. None queries the training rows, each leaving itself out
            (scikit-learn's rule: its own index, or the first neighbour when more
            than n_neighbors duplicates crowd it out).
        n_neighbors : int, default=None
            Neighbours per query; defaults to the ``n_neighbors`` parameter.
        return_distance : bool, default=True
            Whether to return the distances.

        Returns
        -------
        neigh_dist : ndarray of shape (n_queries, n_neighbors)
            Distances (float64), only if ``return_distance=True``.
        neigh_ind : ndarray of shape (n_queries, n_neighbors)
            Indices of the neighbours among the training rows.
        """
        check_is_fitted(self, "_fit_X")
        if n_neighbors is None:
            n_neighbors = self.n_neighbors
        elif n_neighbors <= 0:
            raise ValueError("Expected n_neighbors > 0. Got %d" % n_neighbors)
        elif not isinstance(n_neighbors, numbers.Integral):
            raise TypeError(
                "n_neighbors does not take %s value, enter integer value"
                % type(n_neighbors)
            )
        query_is_train = X is None
        if query_is_train:
            n_queries = self.n_samples_fit_
            n_neighbors += 1  # the row itself comes back and is removed
        elif self.metric == "precomputed":
            X = self._validate_precomputed_query(X, finite_name="X")
            n_queries = X.shape[0]
        else:
            X, _ = self._validate_X(X, reset=False)
            n_queries = X.shape[0]

        n_samples_fit = self.n_samples_fit_
        if n_neighbors > n_samples_fit:
            if query_is_train:
                n_neighbors -= 1
                inequality_str = "n_neighbors < n_samples_fit"
            else:
                inequality_str = "n_neighbors <= n_samples_fit"
            raise ValueError(
                f"Expected {inequality_str}, but "
                f"n_neighbors = {n_neighbors}, n_samples_fit = {n_samples_fit}, "
                f"n_samples = {n_queries}"
            )
        if self.metric == "precomputed" and not query_is_train:
            if X.shape[1] != n_samples_fit:
                raise ValueError(
                    "Precomputed metric requires shape (n_queries, n_indexed). "
                    "Got (%d, %d) for %d indexed." % (X.shape[0], X.shape[1], n_samples_fit)
                )

        distances, indices = self._search(X, int(n_neighbors), query_is_train, n_queries)
        return (distances, indices) if return_distance else indices

    def _search(self, X, K, query_is_train, n_queries):
        """The K nearest (rdist, index) of each query; K - 1 without self when
        ``query_is_train``. Runs the kernel chosen at fit."""
        n_threads = effective_n_jobs(self.n_jobs)
        if n_queries < PARALLEL_MIN_ROWS:
            n_threads = 1
        # serial kernels need no thread setting (and setting it costs microseconds)
        with num_threads(n_threads) if n_threads > 1 else contextlib.nullcontext():
            if self.metric == "precomputed":
                D = self._fit_X if query_is_train else X
                return knn_kernels.kneighbors_precomputed(
                    D, K, exclude_self=query_is_train, n_threads=n_threads)
            options = dict(metric=self._metric_code, p=self._metric_p, w=self._metric_w,
                           exclude_self=query_is_train, n_threads=n_threads)
            if self._tree is not None:
                return knn_kernels.kneighbors_kdtree(self._tree, X, K, **options)
            return knn_kernels.kneighbors_brute(self._fit_X, X, K, index=self._brute_index,
                                                **options)

    def _compute_dask_fit(self, X):
        """A dask X in fit: LOF's neighbour search needs every training row in one
        process, so a novelty detector computes X (with a warning); an outlier
        detector would label its training rows in memory, so it refuses."""
        if not self.novelty:
            raise ValueError(
                "LocalOutlierFactor(novelty=False) cannot fit or fit_predict a dask "
                "collection: the training rows' labels come from a neighbour search "
                "over all of them in one process, and would be returned in memory. "
                "Compute X first (X.compute()), or use novelty=True to fit on a "
                "sample in memory and score dask collections lazily."
            )
        warnings.warn(
            "LocalOutlierFactor.fit computes the dask collection into memory (the "
            "neighbour search needs all training rows in one process); scoring dask "
            "input stays lazy.", UserWarning, stacklevel=3)
        return X.compute()

    # ---------------------------------------------------- novelty switches
    def _check_novelty_fit_predict(self):
        if self.novelty:
            raise AttributeError(
                "fit_predict is not available when novelty=True. Use "
                "novelty=False if you want to predict on the training set."
            )
        return True

    def _check_novelty_predict(self):
        if not self.novelty:
            raise AttributeError(
                "predict is not available when novelty=False, use "
                "fit_predict if you want to predict on training data. Use "
                "novelty=True if you want to use LOF for novelty detection "
                "and predict on new unseen data."
            )
        return True

    def _check_novelty_decision_function(self):
        if not self.novelty:
            raise AttributeError(
                "decision_function is not available when novelty=False. "
                "Use novelty=True if you want to use LOF for novelty "
                "detection and compute decision_function for new unseen "
                "data. Note that the opposite LOF of the training samples "
                "is always available by considering the "
                "negative_outlier_factor_ attribute."
            )
        return True

    def _check_novelty_score_samples(self):
        if not self.novelty:
            raise AttributeError(
                "score_samples is not available when novelty=False. The "
                "scores of the training samples are always available "
                "through the negative_outlier_factor_ attribute. Use "
                "novelty=True if you want to use LOF for novelty detection "
                "and compute score_samples for new unseen data."
            )
        return True

    # ------------------------------------------------------------- scoring
    @available_if(_check_novelty_fit_predict)
    def fit_predict(self, X, y=None):
        """Fit on X and label its rows: -1 for outliers, +1 for inliers.

        **Only available for outlier detection (novelty=False).**

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training rows.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        is_inlier : ndarray of shape (n_samples,)
            -1 for outliers, +1 for inliers (``negative_outlier_factor_ < offset_``
            marks an outlier).
        """
        return self.fit(X)._predict()

    @available_if(_check_novelty_predict)
    def predict(self, X=None):
        """Label new rows: -1 for outliers, +1 for inliers.

        **Only available for novelty detection (novelty=True).** The result on the
        training rows may differ from ``fit_predict``: a training row passed here
        counts itself among its neighbours.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Query rows.

        Returns
        -------
        is_inlier : ndarray of shape (n_samples,)
        """
        if type(X) is np.ndarray:
            score = self._score_one(X)
            if score is not None:
                return np.array([-1 if score - self.offset_ < 0 else 1], dtype=int)
        if is_dask_collection(X):
            return dask_hook(self, X, "predict")
        return self._predict(X)

    def _predict(self, X=None):
        """Labels of X, or of the training rows (without themselves) for None."""
        check_is_fitted(self, "_lrd")
        if X is not None:
            shifted_opposite_lof_scores = self.decision_function(X)
            is_inlier = np.ones(shifted_opposite_lof_scores.shape[0], dtype=int)
            is_inlier[shifted_opposite_lof_scores < 0] = -1
        else:
            is_inlier = np.ones(self.n_samples_fit_, dtype=int)
            is_inlier[self.negative_outlier_factor_ < self.offset_] = -1
        return is_inlier

    @available_if(_check_novelty_decision_function)
    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        **Only available for novelty detection (novelty=True).**

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        shifted_opposite_lof_scores : ndarray of shape (n_samples,)
        """
        if type(X) is np.ndarray:
            score = self._score_one(X)
            if score is not None:
                return np.array([score - self.offset_])
        if is_dask_collection(X):
            return dask_hook(self, X, "decision_function")
        return self.score_samples(X) - self.offset_

    @available_if(_check_novelty_score_samples)
    def score_samples(self, X):
        """Opposite of the LOF of new rows (lower is more abnormal).

        **Only available for novelty detection (novelty=True).** The rows of X are
        not neighbours of one another; a training row passed here is its own
        neighbour, so its score may differ from ``negative_outlier_factor_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        opposite_lof_scores : ndarray of shape (n_samples,)
            float32 when X is float32, as scikit-learn.
        """
        if type(X) is np.ndarray:
            score = self._score_one(X)
            if score is not None:
                return np.array([score])
        if is_dask_collection(X):
            return dask_hook(self, X, "score_samples")
        check_is_fitted(self, "_lrd")
        x_float32 = _is_float32(X)
        # finiteness is checked first and reported without the input's name, as by
        # scikit-learn's check_array at the top of its score_samples
        if self.metric == "precomputed":
            X = self._validate_precomputed_query(X, finite_name="")
        else:
            X, _ = self._validate_X(X, reset=False, finite_name="")
        distances_X, neighbors_indices_X = self._search_validated(X)
        if x_float32:
            distances_X = distances_X.astype(np.float32)
        X_lrd = self._local_reachability_density(distances_X, neighbors_indices_X)
        return self._negative_outlier_factor(X_lrd, neighbors_indices_X)

    def _score_one(self, X):
        """``score_samples`` of X on the one-row short path, or None where it does
        not apply (the caller then takes the generic path, which raises what it
        raises).

        It applies to one row of C-contiguous native float64 with
        ``n_features_in_`` columns, finite and within the float32 products' range,
        for a novelty model fitted with the GEMM brute force on float64 rows and
        without feature names: for such a row the generic checks pass and change
        nothing. One kernel call then does the products, the neighbours and the
        scores, with the generic path's results to the last bit.
        """
        d = self.__dict__
        T = d.get("_brute_T")
        if (
            type(T) is not knn_kernels.OneRowCodes  # None, or a float32 copy of an older pickle
            or X.ndim != 2
            or X.shape[0] != 1
            or X.dtype is not _FLOAT64
            or X.shape[1] != T.codes.shape[0]
            or not X.flags.c_contiguous
            or "feature_names_in_" in d
            or "_lrd" not in d
            or d["_distances_fit_X_"].dtype is not _FLOAT64
        ):
            return None
        index = d["_brute_index"]
        c, c_abs, up_norms, lo_norms = index.bounds["float32"]
        K = d["n_neighbors_"]
        score = knn_kernels.one_row_lof(X, index.mean, index.scale, T, d["_fit_X"], up_norms,
                                        lo_norms, c, c_abs, K, d["_fit_k_distance"], d["_lrd"],
                                        np.empty((1, T.codes.shape[1]), dtype=np.float32),
                                        np.empty((1, K)), np.empty((1, K), dtype=np.int64))
        return None if score != score else score

    def _search_validated(self, X):
        """kneighbors(X, n_neighbors_) for X already validated."""
        K = self.n_neighbors_
        if self.metric == "precomputed" and X.shape[1] != self.n_samples_fit_:
            raise ValueError(
                "Precomputed metric requires shape (n_queries, n_indexed). "
                "Got (%d, %d) for %d indexed." % (X.shape[0], X.shape[1],
                                                  self.n_samples_fit_)
            )
        if K > self.n_samples_fit_:
            raise ValueError(
                "Expected n_neighbors <= n_samples_fit, but "
                f"n_neighbors = {K}, n_samples_fit = {self.n_samples_fit_}, "
                f"n_samples = {X.shape[0]}"
            )
        return self._search(X, K, False, X.shape[0])

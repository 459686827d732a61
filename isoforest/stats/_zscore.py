"""z-scores: a SciPy-identical ``zscore`` and a scikit-learn-style detector."""

import operator

import numpy as np

from . import _kernels as kernels
from .._base import (BaseDetector, Interval, NoneConstraint, Options, available_if,
                     dask_hook)
from .._config import effective_n_jobs, num_threads
from .._validation import check_finite, check_is_fitted, is_dask_collection, validate_data

__all__ = ["zscore", "ZScoreDetector"]

#: Below this many elements the kernels run on the calling thread.
_PARALLEL_MIN = 1 << 16
_NAN_POLICIES = ("propagate", "omit", "raise")
#: Column groups reduced at once when threads are used (see ``col_stats``).
_COL_GROUPS = 2


def zscore(a, axis=0, ddof=0, nan_policy="propagate"):
    """Compute the z-score of each value relative to the mean and standard deviation.

    A drop-in for :func:`scipy.stats.zscore` (same signature, same results to
    round-off, same NaN and inf pattern), computed by parallel Numba kernels.

    Parameters
    ----------
    a : array_like
        Input data, 1-D or 2-D (or any shape with ``axis=None``).
    axis : int or None, default=0
        Axis along which to standardise; None standardises the flattened array.
    ddof : int, default=0
        Delta degrees of freedom of the standard deviation.
    nan_policy : {'propagate', 'omit', 'raise'}, default='propagate'
        'propagate': a slice holding NaN becomes all NaN. 'omit': NaN are left out
        of the statistics (and stay NaN). 'raise': NaN raises a ValueError.

    Returns
    -------
    z : ndarray
        Same shape as ``a``; float64 for integer input, else ``a``'s float dtype.
        A slice whose standard deviation is zero (``std <= |eps * mean|``) is NaN,
        as in SciPy.

    See Also
    --------
    scipy.stats.zscore : The reference implementation.
    ZScoreDetector : Outlier detection by the ``|z|`` > 3 rule.

    Examples
    --------
    >>> from isoforest import zscore
    >>> zscore([1.0, 2.0, 3.0])
    array([-1.22474487,  0.        ,  1.22474487])
    """
    if nan_policy not in _NAN_POLICIES:
        raise ValueError("nan_policy must be one of {'propagate', 'omit', 'raise'}.")
    if isinstance(a, np.ma.MaskedArray):
        raise TypeError(
            "zscore does not support masked arrays: fill the masked values with NaN "
            "and use nan_policy='omit'"
        )
    if axis is not None:
        if isinstance(axis, (bool, np.bool_)):
            raise TypeError("axis must be an integer or None, got a bool")
        axis = operator.index(axis)
    a = np.asarray(a)
    if a.dtype.kind == "c":
        raise TypeError("zscore does not support complex input")
    if a.dtype.kind not in "biuf":
        a = a.astype(np.float64)
    out_dtype = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
    if axis is None:
        X = a.reshape(-1, 1)
        ax = 0
    else:
        ax = int(axis)
        if not -a.ndim <= ax < a.ndim:
            raise np.exceptions.AxisError(ax, a.ndim)
        ax %= a.ndim
        if a.ndim == 1:
            X = a.reshape(-1, 1)
            ax = 0
        elif a.ndim == 2:
            X = a
        else:
            # move the axis last and flatten the rest into rows
            moved = np.moveaxis(a, ax, -1)
            X = moved.reshape(-1, moved.shape[-1])
            ax = 1
    if a.size == 0:
        return np.empty(a.shape, dtype=out_dtype)
    if nan_policy == "raise" and a.dtype.kind == "f" and np.isnan(a).any():
        raise ValueError("The input contains nan values")
    omit = nan_policy == "omit"

    # A C-contiguous layout with the reduced axis where the kernels want it.
    if ax == 0 and not X.flags.c_contiguous and X.flags.f_contiguous:
        X, ax, transposed = X.T, 1, True
    elif ax == 1 and not X.flags.c_contiguous and X.flags.f_contiguous:
        X, ax, transposed = X.T, 0, True
    else:
        X, transposed = np.ascontiguousarray(X), False
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)

    parallel = X.size >= _PARALLEL_MIN
    with num_threads(-1 if parallel else 1):
        if ax == 0:
            stats = kernels.col_stats if parallel else kernels.col_stats_serial
        else:
            stats = kernels.row_stats if parallel else kernels.row_stats_serial
        if ax == 0:
            mean, std, _ = stats(X, float(ddof), omit, _COL_GROUPS if parallel else 1)
        else:
            mean, std, _ = stats(X, float(ddof), omit)
        if nan_policy == "raise" and not np.all(np.isfinite(mean)):
            # SciPy also raises on NaN its computation makes: x - mean is inf - inf
            # in a slice holding an infinity whose mean is infinite (or NaN).
            bad = ~np.isfinite(mean)
            sl = X[:, bad] if ax == 0 else X[bad, :]
            if np.isinf(sl).any():
                raise ValueError("The input contains nan values")
        eps = np.finfo(out_dtype).eps
        with np.errstate(invalid="ignore"):
            zero = std <= np.abs(eps * mean)
        z = np.empty(X.shape, dtype=np.float64)
        standardize = kernels.standardize if parallel else kernels.standardize_serial
        standardize(X, mean, std, zero, ax, z)
    if transposed:
        z = z.T
    if out_dtype != np.float64:
        z = z.astype(out_dtype)
    if axis is None or a.ndim == 1:
        return z.reshape(a.shape)
    if a.ndim > 2:
        moved_shape = np.moveaxis(a, int(axis) % a.ndim, -1).shape
        return np.moveaxis(z.reshape(moved_shape), -1, int(axis) % a.ndim)
    return z


class ZScoreDetector(BaseDetector):
    """Outlier detection by per-feature z-scores: a row is an outlier when its
    ``|z|`` exceeds ``threshold`` on any feature.

    Parameters
    ----------
    threshold : float, default=None
        The ``|z|`` cut-off: 3 for ``method='standard'`` (the classic three-sigma rule)
        and 3.5 for ``method='robust'`` (Iglewicz & Hoaglin) when None.
    method : {'standard', 'robust'}, default='standard'
        'standard': ``z = (x - mean) / std``. 'robust': the modified z-score
        ``0.6745 (x - median) / MAD`` of Iglewicz & Hoaglin (1993).
    ddof : int, default=0
        Delta degrees of freedom of the standard deviation ('standard' only).
    contamination : None, 'auto' or float, default=None
        None or 'auto': ``offset_ = -threshold``, so ``predict`` applies the ``|z|``
        rule. A float in (0, 0.5]: ``offset_`` is that percentile of the training
        scores instead, flagging about that share of training rows.
    n_jobs : int, default=None
        Threads for the kernels (None means 1, -1 all cores).

    Attributes
    ----------
    center_ : ndarray of shape (n_features,)
        Per-feature mean ('standard') or median ('robust').
    scale_ : ndarray of shape (n_features,)
        Per-feature standard deviation, or ``MAD / 0.6745`` ('robust'). A zero
        scale marks a constant column: a value equal to its ``center_`` scores 0,
        any other value scores infinity (an outlier), with no division by zero.
    mean_, var_ : ndarray of shape (n_features,)
        Running mean and variance (``ddof``) of the data seen ('standard').
    n_samples_seen_ : int
        Rows seen by ``fit`` / ``partial_fit``.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    threshold_ : float
        The ``|z|`` cut-off in use.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    See Also
    --------
    zscore : SciPy-identical z-scores of an array.

    Notes
    -----
    ``partial_fit`` merges batch statistics with the pairwise update of Chan, Golub
    and LeVeque (1979) on values shifted by the first batch's mean, so the mean and
    variance equal the batch ones to round-off however the data are split. It exists
    only for ``method='standard'`` with ``contamination`` None or 'auto' (a median
    cannot be merged, and a percentile needs all training scores at once).
    In the robust method, a column more than half made of one value has a MAD of 0
    although it varies; its scale falls back to ``1.253314 * mean |x - median|``. Iglewicz and Hoaglin, "How to Detect and Handle
    Outliers", ASQC 1993, for the modified z-score.

    Examples
    --------
    >>> import numpy as np
    >>> from isoforest import ZScoreDetector
    >>> X = np.r_[np.random.RandomState(0).randn(100, 2), [[8.0, 0.0]]]
    >>> det = ZScoreDetector().fit(X)
    >>> det.predict([[0.0, 0.0], [8.0, 0.0]])
    array([ 1, -1])
    """

    #: how ``isoforest.dask.dispatch`` fits a dask collection: the partitions'
    #: moments, merged
    _dask_fit = "moments"

    _param_constraints = {
        "threshold": [Interval(float, 0, None, closed="neither"), NoneConstraint()],
        "method": [Options({"standard", "robust"})],
        "ddof": [Interval(int, 0, None, closed="left")],
        "contamination": [
            Options({"auto"}),
            Interval(float, 0, 0.5, closed="right"),
            NoneConstraint(),
        ],
        "n_jobs": [Interval(int, None, None, closed="neither"), NoneConstraint()],
    }

    def __init__(self, *, threshold=None, method="standard", ddof=0, contamination=None,
                 n_jobs=None):
        self.threshold = threshold
        self.method = method
        self.ddof = ddof
        self.contamination = contamination
        self.n_jobs = n_jobs

    def _threshold(self):
        if self.threshold is not None:
            return float(self.threshold)
        return 3.5 if self.method == "robust" else 3.0

    def _validate(self, X, reset):
        X = validate_data(self, X, reset=reset, accept_sparse=False, dtype="float64")
        check_finite(X, allow_nan=False, estimator_name=type(self).__name__)
        return X

    def fit(self, X, y=None):
        """Compute the per-feature statistics.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows (finite values).
        y : Ignored

        Returns
        -------
        self : ZScoreDetector
        """
        if is_dask_collection(X):
            return dask_hook(self, X, "fit")
        self._validate_params()
        for attr in ("mean_", "var_", "n_samples_seen_", "_m2", "_shift", "_mean_shifted",
                     "min_", "max_"):
            self.__dict__.pop(attr, None)
        X = self._validate(X, reset=True)
        if self.method == "standard" and X.shape[0] - self.ddof <= 0:
            raise ValueError(
                f"ZScoreDetector(ddof={self.ddof}) needs more than {self.ddof} row(s) "
                f"to estimate a standard deviation, got {X.shape[0]}."
            )
        self.min_ = X.min(axis=0)
        self.max_ = X.max(axis=0)
        if self.method == "robust":
            center = np.median(X, axis=0)
            dev = np.abs(X - center)
            mad = np.median(dev, axis=0)
            scale = mad / 0.6745
            # More than half the column equal: MAD is 0 although the column varies.
            # Fall back to the mean absolute deviation (1.253314 * MeanAD estimates
            # sigma as MAD / 0.6745 does), the usual convention.
            fallback = (mad == 0) & (self.max_ > self.min_)
            if fallback.any():
                scale[fallback] = 1.253314 * dev[:, fallback].mean(axis=0)
            self.center_ = center
            self.scale_ = scale
            self.n_samples_seen_ = X.shape[0]
            self._apply_constant_rule()
        else:
            self._update_standard(X)
        return self._finish_fit(X)

    def _partial_fit_available(self):
        if self.method != "standard":
            raise AttributeError(
                "partial_fit needs method='standard': the median and MAD of the "
                "'robust' method cannot be updated batch by batch. Use fit instead."
            )
        if self.contamination not in (None, "auto"):
            raise AttributeError(
                "partial_fit needs contamination=None or 'auto' (the |z| > threshold "
                "rule): a float contamination sets offset_ from training scores, "
                "which a stream never holds at once. Use fit instead."
            )
        return True

    @available_if(_partial_fit_available)
    def partial_fit(self, X, y=None):
        """Update the statistics with a batch of rows ('standard' method only).

        The running statistics are merged with Chan et al.'s pairwise update on
        values shifted by the first batch's mean, so they equal the batch statistics
        to round-off however the rows are split, down to one at a time.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : ZScoreDetector
        """
        if is_dask_collection(X):
            return dask_hook(self, X, "partial_fit")
        self._validate_params()
        first = not hasattr(self, "_m2")
        X = self._validate(X, reset=first)
        if first:
            for attr in ("n_samples_seen_", "min_", "max_"):
                self.__dict__.pop(attr, None)
        self.min_ = X.min(axis=0) if first else np.minimum(self.min_, X.min(axis=0))
        self.max_ = X.max(axis=0) if first else np.maximum(self.max_, X.max(axis=0))
        self._update_standard(X)
        return self._finish_fit(X)

    def _batch_stats(self, X):
        """(mean, sum of squared deviations) of each column of X (two-pass)."""
        parallel = X.size >= _PARALLEL_MIN and effective_n_jobs(self.n_jobs) > 1
        with num_threads(self.n_jobs):
            mean, _, _ = (kernels.col_stats if parallel else kernels.col_stats_serial)(
                X, 0.0, False, _COL_GROUPS if parallel else 1)
        d = X - mean
        return mean, np.einsum("ij,ij->j", d, d)

    def _update_standard(self, X):
        n_b = float(X.shape[0])
        if not hasattr(self, "_m2"):
            # The first batch's mean becomes the shift: later batches are merged as
            # deviations from it, so the rounding of large means never enters the
            # merge (Chan et al.'s delta stays small).
            mean_b, m2_b = self._batch_stats(X)
            self._shift = mean_b
            self._merge_moments(n_b, np.zeros_like(mean_b), m2_b)
        else:
            self._merge_moments(n_b, *self._batch_stats(X - self._shift))

    def _merge_moments(self, n_b, mean_b, m2_b):
        """Merge a batch's count, mean (of its deviations from ``_shift``) and sum of
        squared deviations into the running ones, then derive the fitted attributes
        (``min_``/``max_`` already updated). Shared by the in-memory and Dask fits."""
        if not hasattr(self, "_m2"):
            n, mean_s, m2 = n_b, mean_b, m2_b
        else:
            n, mean_s, m2 = kernels.chan_merge(float(self.n_samples_seen_), self._mean_shifted,
                                               self._m2, n_b, mean_b, m2_b)
        self.n_samples_seen_ = int(n)
        self._mean_shifted = mean_s
        self._m2 = m2
        self.mean_ = self._shift + mean_s
        denom = n - self.ddof
        with np.errstate(invalid="ignore", divide="ignore"):
            self.var_ = m2 / denom if denom > 0 else np.full_like(m2, np.nan)
        self.center_ = self.mean_
        self.scale_ = np.sqrt(self.var_)
        self._apply_constant_rule()

    def _apply_constant_rule(self):
        """A column whose values are all equal has scale 0 and its value as centre
        (its computed mean may differ from it by a rounding, its spread by ~1e-17)."""
        const = self.min_ == self.max_
        if const.any():
            self.center_ = np.where(const, self.min_, self.center_)
            self.scale_ = np.where(const, 0.0, self.scale_)

    def _finish_fit(self, X):
        self.threshold_ = self._threshold()
        if self.contamination in (None, "auto"):
            self.offset_ = -self.threshold_
        else:
            self.offset_ = np.percentile(self._score(X), 100.0 * self.contamination)
        return self

    def _score(self, X):
        out = np.empty(X.shape[0])
        parallel = X.size >= _PARALLEL_MIN and effective_n_jobs(self.n_jobs) > 1
        with num_threads(self.n_jobs):
            abs_z_max = kernels.abs_z_max if parallel else kernels.abs_z_max_serial
            abs_z_max(X, self.center_, self.scale_, out)
        np.negative(out, out=out)
        return out

    def _check_fitted(self):
        check_is_fitted(self, "offset_")

    def zscores(self, X):
        """Per-feature z-scores of each row: what explains a flag.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        z : ndarray of shape (n_samples, n_features)
            ``(X - center_) / scale_``; on a constant column, 0 where the value
            equals the constant and +/-inf elsewhere.
        """
        self._check_fitted()
        X = self._validate(X, reset=False)
        d = X - self.center_
        with np.errstate(divide="ignore", invalid="ignore"):
            z = d / self.scale_
        const = self.scale_ == 0
        if const.any():
            dc = d[:, const]
            z[:, const] = np.where(dc == 0, 0.0, np.copysign(np.inf, dc))
        return z

    def score_samples(self, X):
        """Opposite of the largest ``|z|`` of each row (higher is more normal).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        if is_dask_collection(X):
            return dask_hook(self, X, "score_samples")
        self._check_fitted()
        return self._score(self._validate(X, reset=False))

    def __sklearn_is_fitted__(self):
        return hasattr(self, "offset_")

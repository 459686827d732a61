"""Half-Space Trees: the estimator over ``_hst_kernels`` (river's algorithm, exact)."""

import math
import numbers

import numpy as np

from .._base import Interval, NoneConstraint, InstanceOf, random_state_constraints
from .._config import effective_n_jobs
from ..forest._mt19937 import STATE_SIZE, mt_seed_by_array, python_seed_key
from . import _hst_kernels as kernels
from ._base import OnlineDetector

__all__ = ["HalfSpaceTrees"]

_CHUNK = 4096  # rows per kernel call: bounds the (n_estimators, rows) part buffer


class HalfSpaceTrees(OnlineDetector):
    """Half-Space Trees: an online forest of fixed random half-space splits whose
    leaves count how many recent records fell in them.

    Each tree halves a feature's range at random at every level (``height``
    levels); records learned in the current window of ``window_size`` are counted
    along their paths, and when the window is full the counts become the
    reference masses that score the next window. A record that lands where the
    last window's mass was thin scores high. Scores and learns in O(trees x
    height) per record, in constant memory. The very algorithm of river's
    ``anomaly.HalfSpaceTrees``: with an integer ``random_state`` the trees are
    river's (``seed=random_state``) and the scores equal river's.

    Parameters
    ----------
    n_estimators : int, default=10
        Number of trees (river's ``n_trees``).
    height : int, default=8
        Height of each tree: ``2**height`` leaves.
    window_size : int, default=250
        Records per window: the reference masses are the counts of the last
        complete window.
    limits : dict, array-like of shape (n_features, 2) or None, default=None
        Each feature's range ``(low, high)`` the splits are drawn in; a dict maps
        feature names (or column positions) to ranges, and features it does not
        name keep ``(0, 1)``. Records are expected inside: scale them first (the
        command line's ``stream`` scales online, as river's ``MinMaxScaler``).
    contamination : float, default=0.01
        Share of the latest learned records the threshold ``offset_`` puts on the
        anomalous side (``predict``).
    random_state : int, RandomState instance or None, default=None
        Seed of the trees' draws (Python's ``random.Random(random_state)``, as
        river). None draws a seed from NumPy's global generator.
    n_jobs : int, default=None
        Threads for the trees of a call on several records (None: 1, -1: all
        cores); a lone record runs on one, as waking the threads costs more.

    Attributes
    ----------
    n_features_in_ : int
        Features per record, fixed by the first record learned.
    feature_names_in_ : ndarray of str
        Feature names, when the first records came with string names (a data
        frame's columns, or a dict's keys in sorted order).
    n_samples_seen_ : int
        Records learned so far.
    offset_ : float
        ``decision_function = score_samples - offset_`` (see ``contamination``).

    See Also
    --------
    RandomCutForest : the other online forest, sharper on time series.
    IsolationForest : fitted once on a training set.

    Notes
    -----
    Tan, Ting & Liu, "Fast anomaly detection for streaming data", IJCAI 2011. The
    score is river's: ``1 - mass / (n_estimators * window_size * (2**(height + 1)
    - 1))`` with the mass summed down each tree's path (``mass * 2**depth``,
    stopping after the first node under ``0.1 * window_size``), 0 during the
    first window. A dict missing a known key goes down the child with more mass
    in the current window, as in river; NaN is refused.

    Examples
    --------
    >>> import numpy as np
    >>> from isoforest import HalfSpaceTrees
    >>> X = np.random.RandomState(0).uniform(0.3, 0.7, size=(600, 2))
    >>> hst = HalfSpaceTrees(n_estimators=10, height=6, window_size=100, random_state=0)
    >>> scores = hst.score_learn(X)
    >>> bool(hst.score_one([0.02, 0.97]) > scores[-100:].max())
    True
    """

    _param_constraints = {
        **OnlineDetector._param_constraints,
        "n_estimators": [Interval(int, 1, None, closed="left")],
        "height": [Interval(int, 1, 30, closed="both")],
        "window_size": [Interval(int, 1, None, closed="left")],
        "limits": [InstanceOf(dict, list, tuple, np.ndarray, names=("dict", "array-like")),
                   NoneConstraint()],
        "random_state": random_state_constraints(),
        "n_jobs": [InstanceOf(numbers.Integral, names=("int",)), NoneConstraint()],
    }

    def __init__(self, n_estimators=10, height=8, window_size=250, limits=None,
                 contamination=0.01, random_state=None, n_jobs=None):
        self.n_estimators = n_estimators
        self.height = height
        self.window_size = window_size
        self.limits = limits
        self.contamination = contamination
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _allow_missing(self):
        return True

    # -- state -----------------------------------------------------------------------
    def _limit_arrays(self, d):
        lower = np.zeros(d)
        upper = np.ones(d)
        limits = self.limits
        if limits is None:
            pass
        elif isinstance(limits, dict):
            keys = getattr(self, "_keys", None)
            if keys is None:
                names = getattr(self, "feature_names_in_", None)
                keys = list(range(d)) if names is None else list(names)
            for j, k in enumerate(keys):
                if k in limits:
                    lower[j], upper[j] = _pair(limits[k], k)
        else:
            arr = np.asarray(limits, dtype=np.float64)
            if arr.shape != (d, 2):
                raise ValueError(f"limits has shape {arr.shape}, expected ({d}, 2): one "
                                 "(low, high) per feature")
            lower, upper = arr[:, 0].copy(), arr[:, 1].copy()
        if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
            raise ValueError("limits must be finite")
        if np.any(upper < lower) or not np.sum(upper - lower) > 0:
            raise ValueError("limits must have low <= high for every feature and a "
                             "positive total width")
        return lower, upper

    def _seed(self):
        rs = self.random_state
        if rs is None:
            return int(np.random.randint(0, 2**31 - 1))
        if isinstance(rs, numbers.Integral):
            return int(rs)
        return int(rs.randint(0, 2**31 - 1))

    def _allocate(self, d):
        h = self.height
        n_inner = (1 << h) - 1
        lower, upper = self._limit_arrays(d)
        state = np.empty(STATE_SIZE, dtype=np.int64)
        mt_seed_by_array(state, python_seed_key(self._seed()))
        self._feature = np.zeros((self.n_estimators, n_inner), dtype=np.int64)
        self._threshold = np.zeros((self.n_estimators, n_inner))
        kernels.build_trees(lower, upper, h, state, self._feature, self._threshold)
        self._r_mass = np.zeros((self.n_estimators, 2 * n_inner + 1), dtype=np.int64)
        self._l_leaf = np.zeros((self.n_estimators, n_inner + 1), dtype=np.int64)
        self._table = np.zeros_like(self._r_mass)
        self._counter = 0
        self._first_window = True

    @property
    def _use_table(self):
        # per record a table saves ``height`` mass loads a tree; refreshing it at
        # each window's close costs ``2**(height + 1)`` a tree per ``window_size``
        return (1 << (self.height + 1)) < self.height * self.window_size

    @property
    def _size_limit(self):
        # river stops below 0.1 * window_size; masses are integers
        return math.ceil(0.1 * self.window_size)

    @property
    def _max_mass(self):
        return self.n_estimators * self.window_size * ((1 << (self.height + 1)) - 1)

    def _run(self, X, learn):
        n = X.shape[0]
        scores = np.zeros(n)
        if n == 0:
            return scores
        kernel, threads = self._kernel(kernels, n)
        w = self.window_size
        size_limit = self._size_limit
        missing = _has_nan(X)
        with threads:
            for lo in range(0, n, _CHUNK):
                Xc = X[lo: lo + _CHUNK]
                m = Xc.shape[0]
                parts = np.empty((self.n_estimators, m), dtype=np.int64)  # contiguous
                kernel(self._feature, self._threshold, self._r_mass, self._l_leaf,
                       self._table, Xc, self._counter, self._first_window, learn,
                       self.height, w, size_limit, missing, self._use_table, parts)
                kernels.scores_from_parts(parts, self._counter, self._first_window, learn,
                                          w, float(self._max_mass), scores[lo: lo + m])
                if learn:
                    self._advance(m)
        return scores

    def _run_one(self, row, learn):
        effective_n_jobs(self.n_jobs)  # refuses n_jobs=0, as a batch call does
        w = self.window_size
        score = kernels.score_learn_one(
            self._feature, self._threshold, self._r_mass, self._l_leaf, self._table, row,
            self._counter, self._first_window, learn, self.height, w, self._size_limit,
            _has_nan(row), self._use_table, float(self._max_mass))
        if learn:
            self._advance(1)
        return score

    def _advance(self, m):
        """Count ``m`` records learned in the current window (the kernel closed the
        windows they filled)."""
        if self._first_window and self._counter + m >= self.window_size:
            self._first_window = False
        self._counter = (self._counter + m) % self.window_size

    def _explain_rows(self, X):
        """Per-feature shares of the anomaly score (they add up to it, to round-off)."""
        out = np.zeros((X.shape[0], self.n_features_in_), dtype=np.int64)
        if not self._first_window:
            kernels.explain_parts(self._feature, self._threshold, self._r_mass,
                                  self._l_leaf, X, self.height, self.window_size,
                                  0.1 * self.window_size, out)
        return out / float(self._max_mass)

    def _state_arrays(self):
        return {"feature": self._feature, "threshold": self._threshold,
                "r_mass": self._r_mass, "l_leaf": self._l_leaf}

    def _restore(self, arrays, fitted):
        """Set the state read from a model file (already validated)."""
        self._feature = arrays["feature"]
        self._threshold = arrays["threshold"]
        self._r_mass = arrays["r_mass"]
        self._l_leaf = arrays["l_leaf"]
        self._counter = fitted["_counter"]
        self._first_window = fitted["_first_window"]
        self._table = np.zeros_like(self._r_mass)
        for t in range(self.n_estimators):
            kernels.leaf_scores(self._r_mass, self._table, t, self.height, self._size_limit)

    def _fitted_scalars(self):
        return {"_counter": int(self._counter), "_first_window": bool(self._first_window)}


def _pair(v, key):
    try:
        lo, hi = (float(v[0]), float(v[1]))
        if len(v) != 2:
            raise ValueError
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"limits[{key!r}] must be a (low, high) pair, got {v!r}") from None
    return lo, hi


def _has_nan(X):
    """Whether X holds a NaN (a record's missing feature); a few values are read
    one by one, as NumPy's reduction costs more than one record's trees."""
    if X.size <= 64:
        return not all(v == v for v in X.ravel().tolist())
    return bool(np.isnan(X).any())

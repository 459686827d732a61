"""What the detectors that learn from a stream share: river's one-record API,
scikit-learn's batch API over the same state, and a threshold that follows the
stream.

A subclass keeps its state in flat NumPy arrays and provides ``_allocate(d)``
(state for ``d`` features, at the first record), ``_run(X, learn)`` (anomaly
scores, higher = more anomalous, for the rows of a float64 matrix in order,
learning each after scoring it when ``learn``) and ``_explain_rows(X)``.
"""

import contextlib
import math
import numbers

import numpy as np

from .._base import BaseDetector, Interval
from .._config import effective_n_jobs, num_threads
from .._validation import check_finite, check_is_fitted, validate_data

__all__ = ["OnlineDetector"]

#: Prequential scores kept for the threshold (``offset_``): bounded, the latest.
HISTORY = 10_000


class OnlineDetector(BaseDetector):
    """Base class: the record API (``learn_one``, ``score_one``), the batch API
    (``partial_fit``, ``score_learn``, ``score_samples``, ``decision_function``,
    ``predict``) and the online threshold."""

    _param_constraints = {
        "contamination": [Interval("real_not_int", 0.0, 0.5, closed="right")],
    }

    #: river's pipelines ask every step whether it learns from a target.
    _supervised = False

    # -- records as rows ----------------------------------------------------------
    def _keys_from_dict(self, x):
        keys = sorted(x)
        self._keys = keys
        if all(isinstance(k, str) for k in keys):
            self.feature_names_in_ = np.asarray(keys, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return keys

    def _row(self, x, *, reset):
        """One record (a dict or a 1-D sequence of numbers) as a (1, d) float64 row;
        a key the model knows but the dict lacks is NaN (a missing value)."""
        if isinstance(x, dict):
            if not x and (reset or not self._allow_missing()):
                raise ValueError("Found a record with 0 features, while a minimum of 1 "
                                 f"is required by {type(self).__name__}.")
            if reset:
                keys = self._keys_from_dict(x)
            else:
                keys = getattr(self, "_keys", None)
                if keys is None:
                    names = getattr(self, "feature_names_in_", None)
                    keys = (list(range(self.n_features_in_)) if names is None
                            else list(names))
            values = [x.get(k) for k in keys]
            # every value a finite float (the usual record): no conversion per value
            if all(type(v) is float for v in values) and all(map(math.isfinite, values)):
                return np.array([values])
            row = np.empty((1, len(keys)))
            present = 0
            for j, k in enumerate(keys):
                v = x.get(k, None)
                if v is None:
                    row[0, j] = np.nan
                    continue
                present += 1
                row[0, j] = _number(v, k)
            if present < len(keys) and not self._allow_missing():
                missing = [k for k in keys if x.get(k, None) is None]
                raise ValueError(f"{type(self).__name__} needs every feature of the stream; "
                                 f"the record lacks {missing!r}")
            return row
        if isinstance(x, (str, bytes)):
            raise TypeError(f"A record must be a dict or a 1-D sequence of numbers, got {x!r}")
        try:
            row = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"A record must hold numbers only, got {x!r}") from None
        if row.ndim != 1:
            raise ValueError(f"Expected a 1-D record (a dict or a sequence of numbers), "
                             f"got an array of shape {row.shape}")
        if row.shape[0] == 0:
            raise ValueError("Found a record with 0 features, while a minimum of 1 "
                             f"is required by {type(self).__name__}.")
        # a short record is checked value by value: NumPy's reductions cost more
        # than the trees for one record
        if row.shape[0] > 64 or not all(map(math.isfinite, row.tolist())):
            check_finite(row, allow_nan=False, input_name="x",
                         estimator_name=type(self).__name__)
        if reset:
            self._keys = None
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif row.shape[0] != self.n_features_in_:
            raise ValueError(f"x has {row.shape[0]} features, but {type(self).__name__} "
                             f"is expecting {self.n_features_in_} features as input.")
        return np.ascontiguousarray(row)[None, :]  # a strided row (a column slice's)

    def _rows(self, X, *, reset):
        if reset:
            self._validate_params()
        try:
            X = validate_data(self, X, reset=reset, accept_sparse=False)
            check_finite(X, allow_nan=False, estimator_name=type(self).__name__)
        except Exception:
            if reset:  # a refused first batch leaves the model unstarted
                self._forget()
            raise
        if reset:
            self._keys = None
        return np.ascontiguousarray(X, dtype=np.float64)

    def _allow_missing(self):
        return False

    def _kernel(self, kernels, n):
        """``(score_learn, context)`` for a kernel call on ``n`` rows: the parallel
        kernel under ``num_threads`` on the threads ``n_jobs`` asks for, or the
        serial one, which needs no thread setting, on one thread and for a lone
        record (waking the threads costs more than one record's trees take:
        ~130 us against a few)."""
        threads = effective_n_jobs(self.n_jobs)  # also refuses n_jobs=0
        if n == 1:
            threads = 1
        if threads == 1:
            return kernels.score_learn, contextlib.nullcontext()
        return kernels.score_learn_parallel, num_threads(threads)

    # -- state ------------------------------------------------------------------------
    def _started(self):
        return getattr(self, "n_samples_seen_", 0) > 0 or hasattr(self, "n_features_in_")

    def _start(self, d, allocate=True):
        try:
            self._validate_params()
            if allocate:
                self._allocate(int(d))
        except Exception:
            self._forget()
            raise
        self.n_features_in_ = int(d)
        self.n_samples_seen_ = 0
        self._history = np.zeros(HISTORY)
        self._n_history = 0
        self._offset_at = -1

    def _remember(self, scores):
        """Keep the latest HISTORY scores in a ring (the next write at
        ``_n_history % HISTORY`` replaces the oldest)."""
        m = scores.shape[0]
        end = self._n_history + m
        if m >= HISTORY:
            self._history[:] = np.roll(scores[m - HISTORY:], end % HISTORY)
        else:
            pos = self._n_history % HISTORY
            first = min(m, HISTORY - pos)
            self._history[pos: pos + first] = scores[:first]
            self._history[: m - first] = scores[first:]
        self._n_history = end

    def _learn(self, X):
        scores = self._run(X, learn=True)
        self.n_samples_seen_ += X.shape[0]
        self._remember(scores)
        return scores

    def _run_one(self, row, learn):
        """``_run`` on one (1, d) row, as a float (a subclass may take a shorter way)."""
        return float(self._run(row, learn)[0])

    def _learn_one(self, row):
        score = self._run_one(row, learn=True)
        self.n_samples_seen_ += 1
        self._history[self._n_history % HISTORY] = score
        self._n_history += 1
        return score

    # -- river's API ------------------------------------------------------------------
    def learn_one(self, x):
        """Learn one record (river's ``learn_one``).

        Parameters
        ----------
        x : dict or 1-D array-like
            A dict maps features to numbers (the first record fixes the features,
            in sorted key order; later keys the model does not know are ignored),
            a sequence holds the numbers in column order.
        """
        start = not self._started()
        row = self._row(x, reset=start)
        if start:
            self._start(row.shape[1])
        self._learn_one(row)

    def score_one(self, x):
        """The anomaly score of one record, without learning it (river's
        ``score_one``): higher is more anomalous.

        Parameters
        ----------
        x : dict or 1-D array-like

        Returns
        -------
        score : float
        """
        if not self._started():
            return 0.0
        return self._run_one(self._row(x, reset=False), learn=False)

    def score_learn_one(self, x):
        """Score one record, then learn it; returns the score (higher = more
        anomalous), as one step of :meth:`score_learn`."""
        start = not self._started()
        row = self._row(x, reset=start)
        if start:
            self._start(row.shape[1])
        return self._learn_one(row)

    # -- scikit-learn's API ---------------------------------------------------------
    def score_learn(self, X):
        """The prequential loop in one call: each row scored, then learned.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows in stream order.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Anomaly scores, higher = more anomalous (river's and rrcf's sign), the
            same numbers as ``score_learn_one`` row by row.
        """
        start = not self._started()
        X = self._rows(X, reset=start)
        if start:
            self._start(X.shape[1])
        return self._learn(X)

    # numpydoc: each public method documents its own parameters, as scikit-learn's do.
    def partial_fit(self, X, y=None):
        """Learn the rows of X in order (scoring each first, for the threshold).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : object
        """
        self.score_learn(X)
        return self

    # numpydoc: each public method documents its own parameters, as scikit-learn's do.
    def fit(self, X, y=None):
        """Forget everything learned, then learn the rows of X in order.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : object
        """
        self._forget()
        return self.partial_fit(X)

    def _forget(self):
        for name in ("n_samples_seen_", "n_features_in_", "feature_names_in_", "_keys"):
            if hasattr(self, name):
                delattr(self, name)

    # numpydoc: each public method documents its own parameters, as scikit-learn's do.
    def score_samples(self, X):
        """Scores of rows without learning them; lower is more abnormal
        (scikit-learn's sign: the negated anomaly score).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "n_features_in_")
        X = self._rows(X, reset=False)
        return -self._run(X, learn=False)

    @property
    def offset_(self):
        """Threshold of ``decision_function``: the ``contamination`` quantile of
        ``score_samples`` over the latest 10,000 learned rows' prequential scores
        (so it follows the stream)."""
        check_is_fitted(self, "n_features_in_")
        if self._n_history == 0:
            raise AttributeError("offset_ is set once a record has been learned")
        if self._offset_at != self._n_history:
            held = self._history[: min(self._n_history, HISTORY)]
            self._offset = float(np.quantile(-held, self.contamination))
            self._offset_at = self._n_history
        return self._offset

    def _input_tags(self):
        return {"allow_nan": False, "sparse": False}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = getattr(self, "random_state", 0) is None
        return tags


def _number(v, key):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, np.number)):
        raise ValueError(f"feature {key!r}: not a number: {v!r}")
    v = float(v)
    if math.isnan(v):
        raise ValueError(f"feature {key!r}: NaN is not a value; leave the key out "
                         "of the record for a missing value")
    if math.isinf(v):
        raise ValueError(f"feature {key!r}: infinite value")
    return v

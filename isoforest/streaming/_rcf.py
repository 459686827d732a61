"""Robust Random Cut Forest: the estimator over ``_rcf_kernels`` (rrcf's streaming
loop, exact)."""

import numbers

import numpy as np

from .._base import InstanceOf, Interval, NoneConstraint, random_state_constraints
from ..forest._mt19937 import STATE_SIZE
from . import _rcf_kernels as kernels
from ._base import OnlineDetector

__all__ = ["RandomCutForest"]

_CHUNK = 4096  # points per kernel call: bounds the (n_estimators, points) buffers


# numpydoc: the docstring lists its own parameters and attributes, as each scikit-learn
# estimator's does, so the entries it shares with HalfSpaceTrees' repeat them.
class RandomCutForest(OnlineDetector):
    """Robust Random Cut Forest: each tree holds a sliding sample of the stream
    and a record's score is how much it displaces the others when it is cut out.

    Every new point is inserted into each tree by the random-cut rule (a
    dimension chosen in proportion to the bounding box's span, a cut uniform in
    it), the oldest point is forgotten, and the score is the point's collusive
    displacement (CoDisp): the most, over the subtrees on its path, that removing
    it changes the tree, averaged over the trees. Points far from the recent data
    are cut off near the root and displace many. With ``shingle_size=k`` the trees
    see the last ``k`` records as one point, which is how time series are
    watched. The very algorithm of rrcf (the streaming loop in its documentation):
    with an integer ``random_state``, tree ``i`` is ``rrcf.RCTree(random_state=
    seeds[i])`` with ``seeds = np.random.RandomState(random_state).randint(
    np.iinfo(np.int32).max, size=n_estimators)``, and the scores equal rrcf's.

    Parameters
    ----------
    n_estimators : int, default=100
        Number of trees.
    tree_size : int, default=256
        Points each tree keeps (it holds one more, as rrcf's loop does: the very
        first point is never forgotten).
    shingle_size : int, default=1
        Records per point: point ``i`` is records ``i .. i + k - 1`` flattened
        (``rrcf.shingle``). The first ``k - 1`` records only fill the first
        shingle and score 0.
    contamination : float, default=0.01
        Share of the latest learned records the threshold ``offset_`` puts on the
        anomalous side (``predict``).
    random_state : int, RandomState instance or None, default=None
        Seeds of the trees' draws (see above). None draws them from NumPy's
        global generator.
    n_jobs : int, default=None
        Threads for the trees of a call on several records (None: 1, -1: all
        cores); a lone record runs on one, as waking the threads costs more.

    Attributes
    ----------
    n_features_in_ : int
        Features per record (a point has ``shingle_size * n_features_in_``).
    feature_names_in_ : ndarray of str
        Feature names, when the first records came with string names.
    n_samples_seen_ : int
        Records learned so far.
    offset_ : float
        ``decision_function = score_samples - offset_`` (see ``contamination``).

    See Also
    --------
    HalfSpaceTrees : the other online forest, lighter per record.

    Notes
    -----
    Guha, Mishra, Roy & Schrijvers, "Robust random cut forest based anomaly
    detection on streams", ICML 2016; Bartos et al., "rrcf: Implementation of the
    Robust Random Cut Forest algorithm for anomaly detection on streams", JOSS
    2019. ``score_samples`` scores a row as if inserted into the current trees,
    then removes it (no point is forgotten first, and each tree's generator is
    restored): the model is left exactly as it was.

    Examples
    --------
    >>> import numpy as np
    >>> from isoforest import RandomCutForest
    >>> t = np.arange(800)
    >>> series = np.sin(t / 10.0)
    >>> series[600] += 3.0
    >>> rcf = RandomCutForest(n_estimators=40, tree_size=128, shingle_size=4,
    ...                       random_state=0)
    >>> scores = rcf.score_learn(series[:, None])
    >>> int(np.argmax(scores[300:])) + 300 in range(600, 604)
    True
    """

    _param_constraints = {
        **OnlineDetector._param_constraints,
        "n_estimators": [Interval(int, 1, None, closed="left")],
        "tree_size": [Interval(int, 1, None, closed="left")],
        "shingle_size": [Interval(int, 1, None, closed="left")],
        "random_state": random_state_constraints(),
        "n_jobs": [InstanceOf(numbers.Integral, names=("int",)), NoneConstraint()],
    }

    # Written out beside HalfSpaceTrees.__init__: scikit-learn's get_params reads each
    # estimator's own explicit keyword signature.
    def __init__(self, n_estimators=100, tree_size=256, shingle_size=1, contamination=0.01,
                 random_state=None, n_jobs=None):
        self.n_estimators = n_estimators
        self.tree_size = tree_size
        self.shingle_size = shingle_size
        self.contamination = contamination
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- state -----------------------------------------------------------------------
    def _tree_seeds(self):
        rs = self.random_state
        if rs is None:
            gen = np.random.mtrand._rand
        elif isinstance(rs, numbers.Integral):
            gen = np.random.RandomState(rs)
        else:
            gen = rs
        return gen.randint(np.iinfo(np.int32).max, size=self.n_estimators)

    def _allocate(self, d):
        T = self.n_estimators
        D = d * self.shingle_size
        cap = 2 * (self.tree_size + 2)
        self._left = np.empty((T, cap), dtype=np.int64)
        self._right = np.empty((T, cap), dtype=np.int64)
        self._parent = np.empty((T, cap), dtype=np.int64)
        self._count = np.empty((T, cap), dtype=np.int64)
        self._cut_dim = np.zeros((T, cap), dtype=np.int64)
        self._cut_val = np.zeros((T, cap))
        self._lo = np.zeros((T, cap, D))
        self._hi = np.zeros((T, cap, D))
        self._free = np.empty((T, cap), dtype=np.int64)
        self._n_free = np.empty(T, dtype=np.int64)
        self._root = np.empty(T, dtype=np.int64)
        self._slot = np.full((T, self.tree_size + 1), -1, dtype=np.int64)
        kernels.init_trees(self._left, self._right, self._parent, self._count,
                           self._free, self._n_free, self._root)
        self._rng = np.empty((T, STATE_SIZE), dtype=np.int64)
        for t, seed in enumerate(self._tree_seeds()):
            _, words, pos = np.random.RandomState(int(seed)).get_state()[:3]
            self._rng[t, :-1] = words
            self._rng[t, -1] = pos
        self._n_points = 0
        self._recent = np.zeros((0, d))  # the last shingle_size - 1 records

    def _points(self, X, learn):
        """X's rows as the forest's points: shingles of the recent records and X's
        (rows of the first k - 1 records of the stream make no point)."""
        k = self.shingle_size
        if k == 1:
            return X, 0
        if X.shape[0] == 1 and self._recent.shape[0] == k - 1:
            # a lone record completes one shingle: the recent records, then it
            P = np.concatenate([self._recent.reshape(-1), X[0]])[None, :]
            if learn:
                self._recent = P[0, X.shape[1]:].reshape(k - 1, X.shape[1])
            return P, 0
        rows = np.concatenate([self._recent, X]) if self._recent.shape[0] else X
        n_old = self._recent.shape[0]
        lead = (k - 1) - n_old  # records of X that complete no shingle (stream start)
        lead = max(0, min(lead, X.shape[0]))
        if rows.shape[0] >= k:
            windows = np.lib.stride_tricks.sliding_window_view(rows, k, axis=0)
            P = np.ascontiguousarray(windows.transpose(0, 2, 1).reshape(windows.shape[0], -1))
        else:
            P = np.zeros((0, X.shape[1] * k))
        if learn:
            self._recent = rows[max(0, rows.shape[0] - (k - 1)):].copy()
        return P, lead

    def _run(self, X, learn):
        n = X.shape[0]
        scores = np.zeros(n)
        if n == 0:
            return scores
        P, lead = self._points(X, learn)
        if not learn and self.shingle_size > 1:
            # a row scored alone is the shingle it would complete
            P = P[-(n - lead):] if n > lead else P[:0]
        kernel, threads = self._kernel(kernels, P.shape[0])
        T = self.n_estimators
        out = np.empty(P.shape[0])
        with threads:
            for lo in range(0, P.shape[0], _CHUNK):
                Pc = P[lo: lo + _CHUNK]
                m = Pc.shape[0]
                parts = np.empty((T, m))  # contiguous: one compiled signature
                where = np.empty((T, m), dtype=np.int64)
                kernel(self._left, self._right, self._parent, self._count, self._cut_dim,
                       self._cut_val, self._lo, self._hi, self._free, self._n_free,
                       self._root, self._slot, self._rng, Pc,
                       self._n_points if learn else 0, self.tree_size, learn,
                       parts, where)
                kernels.mean_over_trees(parts, out[lo: lo + m])
                if learn:
                    self._n_points += m
        scores[lead:] = out
        return scores

    def _explain_rows(self, X):
        """Each row's score split by feature (rows as :meth:`score_samples` sees
        them: each completes a shingle after the records learned so far)."""
        P, lead = self._points(X, learn=False)
        n = X.shape[0]
        out = np.zeros((n, X.shape[1]))
        out[lead:] = self._explain_points(P[P.shape[0] - (n - lead):] if n > lead else P[:0])
        return out

    def _explain_points(self, P):
        """Each point's score split by feature: a tree's CoDisp credited to the
        cut dimension where its maximum is first reached from the leaf up, summed
        over a shingle's lags (the point scored without learning it)."""
        d = self.n_features_in_
        T = self.n_estimators
        out = np.zeros((P.shape[0], d))
        P = np.ascontiguousarray(P, dtype=np.float64)
        for lo in range(0, P.shape[0], _CHUNK):
            Pc = P[lo: lo + _CHUNK]
            m = Pc.shape[0]
            parts = np.empty((T, m))
            where = np.empty((T, m), dtype=np.int64)
            kernels.score_learn(self._left, self._right, self._parent, self._count,
                                self._cut_dim, self._cut_val, self._lo, self._hi,
                                self._free, self._n_free, self._root, self._slot,
                                self._rng, Pc, 0, self.tree_size, False, parts, where)
            rows = lo + np.arange(m)
            for t in range(T):
                ok = where[t] >= 0
                np.add.at(out, (rows[ok], where[t, ok] % d), parts[t, ok] / T)
        return out

    def _state_arrays(self):
        return {"left": self._left, "right": self._right, "parent": self._parent,
                "count": self._count, "cut_dim": self._cut_dim, "cut_val": self._cut_val,
                "lo": self._lo, "hi": self._hi, "free": self._free, "n_free": self._n_free,
                "root": self._root, "slot": self._slot, "rng": self._rng,
                "recent": self._recent}

    def _restore(self, arrays, fitted):
        """Set the state read from a model file (already validated)."""
        for name, a in arrays.items():
            setattr(self, "_" + name, a)
        self._n_points = fitted["_n_points"]

    def _fitted_scalars(self):
        return {"_n_points": int(self._n_points)}


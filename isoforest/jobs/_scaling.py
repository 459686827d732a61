"""Online scaling of a learning stream's inputs and of its scores.

- ``OnlineMinMax`` scales the records into [0, 1] by their running min and max
  (what Half-Space Trees' fixed splits need; river puts a ``MinMaxScaler`` in
  front of its ``HalfSpaceTrees`` for the same reason).
- ``RangeGuard`` flags a record with a value outside the stream's range so far,
  widened by ``tolerance`` of its width (after ``warmup`` records): a forest
  scores a new level relative to its recent sample and may miss a value that no
  sample ever held. Numenta's HTM detector for NAB adds the same "spatial
  anomaly" rule (tolerance 0.05 there); on NAB's series here it lifted the
  command line's score from 30 to 50 (see docs/streams-that-learn.md).
- ``AnomalyLikelihood`` turns raw scores into how unusual the recent ones are:
  the mean of the last ``short`` raw scores as a z-score against the mean and
  standard deviation of the ``history`` raw scores before the record, through the
  normal tail ``Q(z)``, reported as ``-log10(Q(z) + 1e-10) / 10`` in [0, 1]. This
  is Numenta's anomaly likelihood (Ahmad et al., "Unsupervised real-time anomaly
  detection for streaming data", Neurocomputing 2017; the HTM detector's score on
  NAB) over a Random Cut Forest's displacement, whose scale differs from series
  to series: the likelihood is comparable across them, so one threshold serves
  many metrics. On NAB's series here it beat the displacement over its running
  maximum on the standard and low-false-positive profiles, not on the
  low-false-negative one (see docs/streams-that-learn.md).

The state of each is a small array, so it checkpoints with the model.
"""

import math

import numpy as np

__all__ = ["AnomalyLikelihood", "OnlineMinMax", "RangeGuard"]


class RangeGuard:
    """Which records fall outside the range of the records before them, widened by
    ``tolerance`` of its width on both sides (none of the first ``warmup``)."""

    def __init__(self, d, tolerance=0.02, warmup=100):
        self.lo = np.full(d, np.inf)
        self.hi = np.full(d, -np.inf)
        self.n = 0
        self.tolerance = float(tolerance)
        self.warmup = int(warmup)

    def update(self, X):
        lo, hi = _running_range(self.lo, self.hi, X)
        before_lo, before_hi = lo[:-1], hi[:-1]  # the range before each record
        width = before_hi - before_lo
        with np.errstate(invalid="ignore"):
            out = (X > before_hi + self.tolerance * width) | (
                X < before_lo - self.tolerance * width)
        flags = out.any(axis=1) & (self.n + np.arange(X.shape[0]) >= self.warmup)
        self.lo, self.hi = lo[-1].copy(), hi[-1].copy()
        self.n += X.shape[0]
        return flags

    def to_dict(self):
        return {"lo": self.lo.tolist(), "hi": self.hi.tolist(), "n": self.n,
                "tolerance": self.tolerance, "warmup": self.warmup}

    @classmethod
    def from_dict(cls, d, n_features):
        obj = cls(n_features, d["tolerance"], d["warmup"])
        lo = np.asarray(d["lo"], dtype=np.float64)
        hi = np.asarray(d["hi"], dtype=np.float64)
        n = d["n"]
        if lo.shape != (n_features,) or hi.shape != (n_features,) or np.isnan(lo).any() \
                or np.isnan(hi).any() or not isinstance(n, int) or n < 0:
            raise ValueError("range guard state does not fit the columns")
        obj.lo, obj.hi, obj.n = lo, hi, n
        return obj


class AnomalyLikelihood:
    """Raw scores -> the log-likelihood that the recent ones are unusual.

    Record ``i`` (from 0) scores 0 during the first ``probation`` records, then
    ``-log10(Q(z) + 1e-10) / 10`` with ``z = (recent - mean) / sd``: ``recent`` the
    mean of raw scores ``i - short + 1 .. i``, ``mean`` and ``sd`` those of the
    ``history`` raw scores before ``i`` (``sd`` at least ``min_sd``), ``Q`` the
    normal upper tail. The sums are prefix sums carried from record to record, so a
    stream cut into batches anywhere scores exactly as the whole stream; the state
    is the last ``history + 1`` prefix sums of the raw scores and of their squares,
    kept in a ring so that a batch costs its own length, not the history's (prefix
    sum ``j`` at ``j % (history + 1)``; the ring grows to that size as the stream
    does, so a state's memory follows what it holds, not its settings).
    """

    def __init__(self, history=8640, short=10, probation=300, min_sd=1e-3):
        self.history = int(history)
        self.short = int(short)
        self.probation = int(probation)
        self.min_sd = float(min_sd)
        self.n = 0
        self._sums = np.zeros(1)     # prefix sums c[j], c[0] = 0
        self._squares = np.zeros(1)  # the same for the squared raw scores

    def _reserve(self, last):
        """Room in the ring for prefix sums up to ``c[last]``."""
        need = min(last + 1, self.history + 1)
        size = self._sums.shape[0]
        if size < need:  # not wrapped yet: c[j] is at j
            size = min(self.history + 1, max(need, 2 * size))
            for name in ("_sums", "_squares"):
                grown = np.zeros(size)
                old = getattr(self, name)
                grown[:old.shape[0]] = old
                setattr(self, name, grown)

    def update(self, raw):
        raw = np.asarray(raw, dtype=np.float64)
        m = raw.shape[0]
        if m == 0:
            return np.zeros(0)
        if m == 1:
            return self._update_one(float(raw[0]))
        n, keep = self.n, self.history + 1
        self._reserve(n + m)
        # c[n .. n + m], each the previous plus one raw score, in stream order
        c = np.cumsum(np.concatenate([self._sums[n % keep: n % keep + 1], raw]))
        c2 = np.cumsum(np.concatenate([self._squares[n % keep: n % keep + 1], raw * raw]))
        i = n + np.arange(m)                           # the records' positions
        a = np.maximum(i - self.history, 0)
        b = np.maximum(i - self.short + 1, 0)
        k = np.maximum(i - a, 1)
        # prefix sum j: from this batch when j >= n, else from the ring (every j
        # asked for is at least n - history, so the ring still holds it)
        j = np.concatenate([i, a, b])
        new = j >= n
        got = np.where(new, c[np.where(new, j - n, 0)], self._sums[j % keep])
        got2 = np.where(new, c2[np.where(new, j - n, 0)], self._squares[j % keep])
        ci, ca, cb = got[:m], got[m:2 * m], got[2 * m:]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (ci - ca) / k
            var = (got2[:m] - got2[m:2 * m]) / k - mean * mean
            sd = np.maximum(np.sqrt(np.maximum(var, 0.0)), self.min_sd)
            recent = (c[1:] - cb) / (i + 1 - b)
            z = (recent - mean) / sd
        tail = 0.5 * _erfc(z / np.sqrt(2.0))
        out = np.log(tail + 1e-10) / -23.02585092994046
        out = np.clip(out, 0.0, 1.0)
        out[(i < self.probation) | ~np.isfinite(out)] = 0.0
        # c[n + 1 .. n + m] into the ring (the last ``keep`` of them)
        first = max(1, m + 1 - keep)
        where = np.arange(n + first, n + m + 1) % keep
        self._sums[where] = c[first:]
        self._squares[where] = c2[first:]
        self.n = n + m
        return out

    def _update_one(self, r):
        """``update`` on one raw score: the same operations on floats, without the
        ~40 array calls a batch makes (a lone record's cost is those calls). The
        logarithm and the clip still run on an array, as in a batch: NumPy's
        ``log`` need not round as ``math.log`` does."""
        n, keep = self.n, self.history + 1
        self._reserve(n + 1)
        sums, squares = self._sums, self._squares
        c0 = float(sums[n % keep])
        q0 = float(squares[n % keep])
        c1 = c0 + r
        q1 = q0 + r * r
        a = max(n - self.history, 0)
        b = max(n - self.short + 1, 0)
        k = max(n - a, 1)
        mean = (c0 - float(sums[a % keep])) / k
        var = (q0 - float(squares[a % keep])) / k - mean * mean
        # max(v, floor) keeps a NaN v, as np.maximum does
        sd = max(math.sqrt(max(var, 0.0)), self.min_sd)
        recent = (c1 - float(sums[b % keep])) / (n + 1 - b)
        z = (recent - mean) / sd
        tail = 0.5 * math.erfc(z / _SQRT2)
        out = np.clip(np.log(np.array([tail + 1e-10])) / -23.02585092994046, 0.0, 1.0)
        if n < self.probation or not math.isfinite(out[0]):
            out[0] = 0.0
        sums[(n + 1) % keep] = c1
        squares[(n + 1) % keep] = q1
        self.n = n + 1
        return out

    def _held(self):
        """The ring's positions of the prefix sums held, oldest first."""
        return np.arange(max(0, self.n - self.history), self.n + 1) % (self.history + 1)

    def to_dict(self):
        held = self._held()
        return {"history": self.history, "short": self.short, "probation": self.probation,
                "min_sd": self.min_sd, "n": self.n, "sums": self._sums[held].tolist(),
                "squares": self._squares[held].tolist()}

    @classmethod
    def from_dict(cls, d):
        obj = cls(d["history"], d["short"], d["probation"], d["min_sd"])
        n = d["n"]
        sums = np.asarray(d["sums"], dtype=np.float64)
        squares = np.asarray(d["squares"], dtype=np.float64)
        if (not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < 2**62
                or not 0 <= obj.history < 2**62
                or not 1 <= obj.short <= obj.history + 1 or not obj.min_sd > 0
                or sums.ndim != 1 or sums.shape != squares.shape
                or sums.shape[0] != min(n, obj.history) + 1
                or not np.isfinite(sums).all() or not np.isfinite(squares).all()):
            raise ValueError("score likelihood state does not fit its settings")
        obj.n = n
        obj._reserve(n)
        held = obj._held()
        obj._sums[held] = sums
        obj._squares[held] = squares
        return obj


_SQRT2 = float(np.sqrt(2.0))


def _running_range(lo, hi, X):
    """The running minimum and maximum from the range ``(lo, hi)`` through X's rows:
    ``(m + 1, d)`` arrays whose row ``i`` covers the range and X's first ``i`` rows
    (a lone record's without stacking: its cost is the calls)."""
    if X.shape[0] == 1:
        return np.array([lo, np.minimum(lo, X[0])]), np.array([hi, np.maximum(hi, X[0])])
    return (np.minimum.accumulate(np.vstack([lo[None, :], X]), axis=0),
            np.maximum.accumulate(np.vstack([hi[None, :], X]), axis=0))


def _erfc(x):
    """math.erfc over an array (NumPy has none, and SciPy is not a dependency)."""
    return np.frompyfunc(math.erfc, 1, 1)(x).astype(np.float64)


class OnlineMinMax:
    """Running per-feature min and max; a record is scaled after it is counted
    (``(x - min) / (max - min)``, 0 where max == min), as river's ``MinMaxScaler``
    learns and then transforms in a pipeline's ``learn_one``."""

    def __init__(self, d):
        self.lo = np.full(d, np.inf)
        self.hi = np.full(d, -np.inf)

    def update_transform(self, X):
        lo, hi = _running_range(self.lo, self.hi, X)
        self.lo, self.hi = lo[-1].copy(), hi[-1].copy()
        lo, hi = lo[1:], hi[1:]  # the range with each record
        width = hi - lo
        with np.errstate(invalid="ignore", divide="ignore"):
            Z = np.where(width > 0, (X - lo) / np.where(width > 0, width, 1.0), 0.0)
        return Z

    def to_dict(self):
        return {"lo": self.lo.tolist(), "hi": self.hi.tolist()}

    @classmethod
    def from_dict(cls, d, n_features):
        obj = cls(n_features)
        lo = np.asarray(d["lo"], dtype=np.float64)
        hi = np.asarray(d["hi"], dtype=np.float64)
        if lo.shape != (n_features,) or hi.shape != (n_features,) or np.isnan(lo).any() \
                or np.isnan(hi).any():
            raise ValueError("scaler state does not fit the columns")
        obj.lo, obj.hi = lo, hi
        return obj

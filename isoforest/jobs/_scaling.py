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
- ``RunningMax`` divides each raw score by the largest raw score of the stream so
  far (the record itself included), so the command line's ``anomaly_score`` lies
  in [0, 1] whatever the forest's scale (a Random Cut Forest's displacement grows
  with its tree size) and a record scores 1 when it is the most anomalous yet. On
  NAB's metric series this beat an HTM-style anomaly likelihood over the same
  raw scores (see the NAB section of docs/streams-that-learn.md).

The state of each is a small array, so it checkpoints with the model.
"""

import numpy as np

__all__ = ["OnlineMinMax", "RangeGuard", "RunningMax"]


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
        lo = np.minimum.accumulate(np.vstack([self.lo[None, :], X]), axis=0)
        hi = np.maximum.accumulate(np.vstack([self.hi[None, :], X]), axis=0)
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


class RunningMax:
    """Raw scores -> raw / (running max of the raw scores, the record included)."""

    def __init__(self):
        self.max = 0.0

    def update(self, raw):
        raw = np.asarray(raw, dtype=np.float64)
        top = np.maximum.accumulate(np.concatenate([[self.max], raw]))[1:]
        if top.shape[0]:
            self.max = float(top[-1])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(top > 0, raw / np.where(top > 0, top, 1.0), 0.0)

    def to_dict(self):
        return {"max": self.max}

    @classmethod
    def from_dict(cls, d):
        obj = cls()
        v = d["max"]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v < float("inf"):
            raise ValueError("score scaling state is not a finite non-negative number")
        obj.max = float(v)
        return obj


class OnlineMinMax:
    """Running per-feature min and max; a record is scaled after it is counted
    (``(x - min) / (max - min)``, 0 where max == min), as river's ``MinMaxScaler``
    learns and then transforms in a pipeline's ``learn_one``."""

    def __init__(self, d):
        self.lo = np.full(d, np.inf)
        self.hi = np.full(d, -np.inf)

    def update_transform(self, X):
        lo = np.minimum.accumulate(np.vstack([self.lo[None, :], X]), axis=0)[1:]
        hi = np.maximum.accumulate(np.vstack([self.hi[None, :], X]), axis=0)[1:]
        self.lo, self.hi = lo[-1].copy(), hi[-1].copy()
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

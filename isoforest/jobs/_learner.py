"""What ``isoforest stream --method hst|rcf`` runs: a forest that learns as the
records arrive, behind the same scoring interface as a fitted model.

Per batch, in stream order: the records are scaled online (Half-Space Trees
only: its splits live in [0, 1]; Random Cut Forest cuts in proportion to each
dimension's span and needs no scaling), scored and learned by the forest
(``score_learn``). Half-Space Trees' score is in [0, 1] as it is; Random Cut
Forest's displacement goes through Numenta's anomaly likelihood (how unusual the
recent displacements are against the stream's history), in [0, 1] and comparable
from one series to the next. A record with a value outside the stream's range so
far (widened by 2%) scores 1 (``_scaling``).
"""

import os
import time

import numpy as np

from ..streaming import HalfSpaceTrees, RandomCutForest
from ._scaling import AnomalyLikelihood, OnlineMinMax, RangeGuard

__all__ = ["StreamLearner", "DEFAULTS"]

#: The command line's defaults per method, chosen on NAB's metric series (see
#: docs/streams-that-learn.md): what ``--trees``, ``--window``, ``--shingle`` fall back to.
DEFAULTS = {
    "hst": {"trees": 25, "window": 250, "shingle": 1, "height": 10},
    "rcf": {"trees": 40, "window": 256, "shingle": 32, "height": None},
}
#: The scaled score from which a record is flagged.
THRESHOLD = 0.95


class StreamLearner:
    """A learning forest plus the online scaling of its inputs and scores, with the
    ``score_samples`` / ``offset_`` interface ``run_stdio_stream`` scores with
    (``score_samples`` learns the rows: each call is the stream's next batch).

    Parameters
    ----------
    method : {"hst", "rcf"}
    columns : list of str
    trees, window, shingle, height : int or None
        None takes ``DEFAULTS[method]``.
    threshold : float, default=THRESHOLD
    random_state : int, default=0
    limits : list of (low, high) or None, default=None
        hst: each column's range; the records are then not scaled online.
    key : bytes or str or None, default=None
        Checkpoints are signed with this secret (and must be, to be loaded).
    """

    def __init__(self, method, columns, trees=None, window=None, shingle=None, height=None,
                 threshold=THRESHOLD, random_state=0, limits=None, key=None):
        if method not in DEFAULTS:
            raise ValueError(f"unknown learning method {method!r}")
        base = DEFAULTS[method]
        self.method = method
        self.columns = list(columns)
        self.trees = int(trees or base["trees"])
        self.window = int(window or base["window"])
        self.shingle = int(shingle or base["shingle"])
        self.height = int(height or base["height"] or 0)
        self.threshold = float(threshold)
        self.random_state = int(random_state)
        self.limits = None if limits is None else [[float(a), float(b)] for a, b in limits]
        self.key = key
        d = len(self.columns)
        if method == "hst":
            if self.shingle != 1:
                raise ValueError("--shingle applies to rcf only")
            if self.limits is not None and len(self.limits) != d:
                raise ValueError(f"--limits gives {len(self.limits)} ranges for {d} "
                                 "columns")
            self.model = HalfSpaceTrees(n_estimators=self.trees, height=self.height,
                                        window_size=self.window, limits=self.limits,
                                        random_state=self.random_state, n_jobs=-1)
            self.scaler = OnlineMinMax(d) if self.limits is None else None
        else:
            if self.limits is not None:
                raise ValueError("--limits applies to hst only")
            self.model = RandomCutForest(n_estimators=self.trees, tree_size=self.window,
                                         shingle_size=self.shingle,
                                         random_state=self.random_state, n_jobs=-1)
            self.scaler = None
        self.likelihood = AnomalyLikelihood()
        self.guard = RangeGuard(d)
        self.n_features_in_ = d
        self.offset_ = -self.threshold
        self._last = None
        self._saved_at = time.monotonic()

    def score_samples(self, X):
        """Learn the batch X and return minus its scaled scores."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        Z = self.scaler.update_transform(X) if self.scaler is not None else X
        before = getattr(self.model, "_recent", None)
        if before is not None and self.model._started():
            before = before.copy()
        else:
            before = np.zeros((0, X.shape[1]))
        # a lone record takes the model's one-record path (no batch validation)
        raw = (np.array([self.model.score_learn_one(Z[0])]) if Z.shape[0] == 1
               else self.model.score_learn(Z))
        self._last = (Z, before)
        # Half-Space Trees' score is already in [0, 1] (a share of the mass it
        # could have); a displacement's scale depends on the series, and its
        # likelihood does not
        score = raw.copy() if self.method == "hst" else self.likelihood.update(raw)
        score[self.guard.update(X)] = 1.0
        return -score

    def explain_flagged(self, flags, names, k):
        """Names of the ``k`` features that moved each flagged record of the last
        batch most (the forest's per-feature split of its raw score)."""
        if self._last is None or not flags.any():
            return None
        Z, before = self._last
        rows = np.flatnonzero(flags)
        if self.method == "hst":
            shares = self.model._explain_rows(Z[rows])
        else:
            k_sh = self.shingle
            stream = np.concatenate([before, Z])
            start = rows + before.shape[0] - (k_sh - 1)
            shares = np.zeros((rows.shape[0], Z.shape[1]))
            ok = start >= 0
            if ok.any():
                P = np.stack([stream[s: s + k_sh].ravel() for s in start[ok]])
                shares[ok] = self.model._explain_points(P)
        order = np.argsort(-shares, axis=1, kind="stable")[:, :k]
        return [[names[j] for j in row] for row in order.tolist()]

    # -- checkpoints ---------------------------------------------------------------
    def settings(self):
        return {"method": self.method, "columns": self.columns, "trees": self.trees,
                "window": self.window, "shingle": self.shingle, "height": self.height,
                "threshold": self.threshold, "random_state": self.random_state,
                "limits": self.limits}

    def save(self, path):
        """Write the whole state to ``path`` atomically (a model file)."""
        from ..io import save_model

        extra = {"stream": self.settings(), "likelihood": self.likelihood.to_dict(),
                 "guard": self.guard.to_dict(),
                 "scaler": None if self.scaler is None else self.scaler.to_dict(),
                 "columns": self.columns, "method": self.method}
        tmp = f"{path}.tmp-{os.getpid()}"
        save_model(self.model, tmp, extra=extra, key=self.key)
        os.replace(tmp, path)
        self._saved_at = time.monotonic()

    def maybe_save(self, path, every=10.0):
        if path and time.monotonic() - self._saved_at >= every:
            self.save(path)

    @classmethod
    def load(cls, path, key=None):
        """A learner from a checkpoint written by :meth:`save` (ValueError if the
        file is not one)."""
        from ..io import load_model

        model, extra = load_model(path, return_extra=True, key=key)
        conf = extra.get("stream") if isinstance(extra, dict) else None
        if not isinstance(conf, dict):
            raise ValueError(f"{path} is not a stream state (no settings)")
        try:
            obj = cls(conf["method"], conf["columns"], conf["trees"], conf["window"],
                      conf["shingle"], conf["height"], conf["threshold"],
                      conf["random_state"], conf.get("limits"), key=key)
            expected = type(obj.model)
            if not isinstance(model, expected) or model.n_features_in_ != len(obj.columns):
                raise ValueError("the stored model does not match its settings")
            model.n_jobs = obj.model.n_jobs  # this command's threads, whoever saved it
            obj.model = model
            obj.likelihood = AnomalyLikelihood.from_dict(extra["likelihood"])
            obj.guard = RangeGuard.from_dict(extra["guard"], len(obj.columns))
            if obj.scaler is not None:
                obj.scaler = OnlineMinMax.from_dict(extra["scaler"], len(obj.columns))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path} is not a stream state ({exc})") from None
        return obj

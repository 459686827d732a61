"""Run by tests/stats/test_zscore.py under NUMBA_DISABLE_JIT=1: the z-score kernels as
plain Python.

Usage: python tests/_pure_python_zscore.py X.npy OUT.npz
"""

import sys
import numba
import numpy as np
from numba.core.dispatcher import Dispatcher
from isoforest import ZScoreDetector, zscore
from isoforest.stats import _kernels as K

X = np.load(sys.argv[1])
out = {
    "jit_disabled": np.array(bool(numba.config.DISABLE_JIT)),
    "no_dispatcher": np.array(
        not any(isinstance(v, Dispatcher) for v in vars(K).values())),
}
for omit in (False, True):
    for name, res in (("col", K.col_stats(X, 1.0, omit, 2)),
                      ("col_serial", K.col_stats_serial(X, 1.0, omit, 1)),
                      ("col1", K.col_stats(np.ascontiguousarray(X[:, :1]), 0.0, omit, 1)),
                      ("row", K.row_stats(X, 0.0, omit))):
        for k, v in zip(("mean", "std", "count"), res):
            out[f"{name}/{omit}/{k}"] = v
out["pairwise"] = np.array([K.pairwise_sum(np.nan_to_num(X[:, 0]), 0, len(X)),
                            K.pairwise_sum(np.arange(300.0) / 7, 5, 290)])
out["zscore0"] = zscore(X, axis=0, nan_policy="omit")
out["zscore1"] = zscore(X, axis=1)
Xf = np.nan_to_num(X)
det = ZScoreDetector().fit(Xf)
out["scores"] = det.score_samples(Xf)
out["robust"] = ZScoreDetector(method="robust").fit(Xf).score_samples(Xf)
n, mean, m2 = K.chan_merge(2.0, np.array([1.0, 2.0]), np.array([0.5, 0.0]),
                           3.0, np.array([4.0, 2.0]), np.array([1.5, 0.0]))
out["chan"] = np.r_[n, mean, m2]
np.savez(sys.argv[2], **out)

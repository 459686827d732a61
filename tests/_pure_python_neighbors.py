"""Run by tests/neighbors/test_lof.py under NUMBA_DISABLE_JIT=1: LOF's neighbour and score
kernels as plain Python, for each parameter set of the JSON list in ARGV[3].

Usage: python tests/_pure_python_neighbors.py DATA.npz OUT.npz PARAMS_JSON
"""

import json
import sys

import numba
import numpy as np

from isoforest.neighbors._lof import LocalOutlierFactor

data = np.load(sys.argv[1])
out = {"jit_disabled": np.array(bool(numba.config.DISABLE_JIT))}
for c, params in enumerate(json.loads(sys.argv[3])):
    X = data[f"X{c}"]
    est = LocalOutlierFactor(**params).fit(X)
    dist, ind = est.kneighbors()
    novelty = LocalOutlierFactor(novelty=True, **params).fit(X)
    out[f"{c}/dist"], out[f"{c}/ind"] = dist, ind
    out[f"{c}/nof"] = est.negative_outlier_factor_
    out[f"{c}/score"] = novelty.score_samples(X[:7] + 0.25)
np.savez(sys.argv[2], **out)

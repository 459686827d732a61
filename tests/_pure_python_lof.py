"""Run by tests/neighbors/test_lof_fused.py under NUMBA_DISABLE_JIT=1: the symmetric search
(several blocks of 32 rows, seeded) and the one-row novelty path as plain Python.

Usage: python tests/_pure_python_lof.py DATA.npz OUT.npz
"""

import sys

import numba
import numpy as np

from isoforest.neighbors import _kernels as NK
from isoforest.neighbors._lof import LocalOutlierFactor
from isoforest.neighbors._symmetric import SymmetricParams

assert numba.config.DISABLE_JIT
X = np.load(sys.argv[1])["X"]
dist, ind = NK.kneighbors_brute(X, None, 6, metric=NK.EUCLIDEAN,
                                index=NK.build_brute_index(X), exclude_self=True,
                                sym_params=SymmetricParams(block=32, block_tiles=32))
model = LocalOutlierFactor(n_neighbors=5, novelty=True).fit(X)
score = model.score_samples(np.ascontiguousarray(X[3:4] + 0.25))
np.savez(sys.argv[2], dist=dist, ind=ind, score=score)

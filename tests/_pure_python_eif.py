"""Run by tests/forest/test_eif.py under NUMBA_DISABLE_JIT=1: Extended Isolation
Forest's kernels as plain Python, fitting and scoring each configuration.

Usage: python tests/_pure_python_eif.py DATA.npz OUT.npz CONFIGS_JSON
"""

import json, sys
import numba, numpy as np
from isoforest import ExtendedIsolationForest
data = np.load(sys.argv[1])
out = {"jit_disabled": np.array(bool(numba.config.DISABLE_JIT))}
for c, params in enumerate(json.loads(sys.argv[3])):
    m = ExtendedIsolationForest(**params).fit(data["X"])
    for k, v in m.forest_.node_arrays().items():
        out[f"{c}/{k}"] = v
    out[f"{c}/tree_offsets"] = m.forest_.tree_offsets
    out[f"{c}/scores"] = m.score_samples(data["X"])
np.savez(sys.argv[2], **out)

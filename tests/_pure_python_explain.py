"""Run by tests/explain/test_explain.py under NUMBA_DISABLE_JIT=1: TreeSHAP's kernels as
plain Python.

Usage: python tests/_pure_python_explain.py DATA.npz OUT.npz
"""

import sys
import numba
import numpy as np
from isoforest import IsolationForest, explain
data = np.load(sys.argv[1])
X = data["X"]
model = IsolationForest(random_state=0, n_estimators=4, max_samples=64).fit(X)
e = explain(model, data["rows"], n_jobs=2)
np.savez(sys.argv[2], values=e.values, base=e.base_values,
         jit_disabled=np.array(bool(numba.config.DISABLE_JIT)))

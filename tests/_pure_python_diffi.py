"""Run by tests/explain/test_diffi.py under NUMBA_DISABLE_JIT=1: DIFFI's kernels as plain
Python.

Usage: python tests/_pure_python_diffi.py IN.pkl OUT.npz
"""

import pickle
import sys
import numba
import numpy as np
from numba.core.dispatcher import Dispatcher
from isoforest.explain import _diffi_kernels as K
from isoforest.explain._diffi import diffi_global, diffi_local

with open(sys.argv[1], "rb") as fh:
    model, X = pickle.load(fh)
np.savez(sys.argv[2],
         jit_disabled=np.array(bool(numba.config.DISABLE_JIT)),
         no_dispatcher=np.array(
             not any(isinstance(v, Dispatcher) for v in vars(K).values())),
         local=diffi_local(model, X, n_jobs=2),
         glob=diffi_global(model, X, n_jobs=2))

"""Run by tests/forest/test_reference_iforest.py under NUMBA_DISABLE_JIT=1: the forest's
kernels as plain Python, fitting and scoring each configuration.

Usage: python tests/_pure_python_iforest.py DATA.npz OUT.npz CONFIGS_JSON
"""

import json
import sys
import numba
import numpy as np
from numba.core.dispatcher import Dispatcher
from isoforest import IsolationForest
from isoforest.forest import _kernels as K

data = np.load(sys.argv[1])
out = {
    "jit_disabled": np.array(bool(numba.config.DISABLE_JIT)),
    # No compiled kernel at all: every kernel is the plain Python function.
    "no_dispatcher": np.array(
        not any(isinstance(v, Dispatcher) for v in vars(K).values())),
}
for c, params in enumerate(json.loads(sys.argv[3])):
    model = IsolationForest(**params).fit(data["X"])
    for t, (est, feats) in enumerate(zip(model.estimators_,
                                         model.estimators_features_)):
        tree = est.tree_
        out[f"{c}/{t}/features"] = feats
        for key in ("feature", "threshold", "children_left", "children_right",
                    "n_node_samples", "weighted_n_node_samples", "impurity",
                    "missing_go_to_left"):
            out[f"{c}/{t}/{key}"] = np.asarray(getattr(tree, key))
    out[f"{c}/scores"] = model.score_samples(data["X_score"])
    out[f"{c}/max_samples_"] = np.array(model.max_samples_)
np.savez(sys.argv[2], **out)

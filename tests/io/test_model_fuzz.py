"""Any model file that loads can be used safely: a seeded fuzz of every model kind
(``tests/_model_fuzz.py``) in subprocesses, one with Numba's bounds checks on and the
vector (IR) kernels off, one with the vector kernels on (bounds checks cannot reach
IR, so there only a crash can show). A signal, an exception other than
``ModelFileError`` while loading, or any exception while scoring (or, for a
streaming forest, learning) from a model that loaded fails the test."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _fuzz import SCALE, seed
from isoforest import (ExtendedIsolationForest, HalfSpaceTrees, IsolationForest,
                       LocalOutlierFactor, RandomCutForest, ZScoreDetector, save_model)

pytestmark = pytest.mark.fuzz  # make fuzz: SCALE times the mutants, fresh seeds
SCRIPT = Path(__file__).resolve().parents[1] / "_model_fuzz.py"
RNG = np.random.RandomState(0)
X = RNG.randn(300, 4)
X_NAN = X.copy()
X_NAN[::7, 1] = np.nan


def models():
    hst = HalfSpaceTrees(n_estimators=4, height=5, window_size=20, random_state=0)
    hst.score_learn(np.abs(X[:, :3]) % 1)
    rcf = RandomCutForest(n_estimators=3, tree_size=24, random_state=0)
    rcf.score_learn(X[:80, :2])
    rcf_shingled = RandomCutForest(n_estimators=2, tree_size=16, shingle_size=3,
                                   random_state=1)
    rcf_shingled.score_learn(X[:50, :1])
    return {
        "forest.npz": IsolationForest(n_estimators=5, max_samples=64, max_features=0.75,
                                      random_state=1).fit(X_NAN),
        "deep.npz": IsolationForest(n_estimators=2, max_samples=300,
                                    random_state=2).fit(X),  # the node-walking kernel
        "eif.npz": ExtendedIsolationForest(n_estimators=4, max_samples=64,
                                           extension_level=2, random_state=3).fit(X),
        "zscore.npz": ZScoreDetector().fit(X),
        "lof.npz": LocalOutlierFactor(n_neighbors=5, novelty=True).fit(X[:60]),
        "hst.npz": hst,
        "rcf.npz": rcf,
        "rcf_shingled.npz": rcf_shingled,
    }


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    paths = []
    for name, model in models().items():
        save_model(model, d / name, extra={"columns": list("abcd")})
        paths.append(str(d / name))
    return d, paths


def run_fuzz(d, paths, env, n_each, seed):
    res = subprocess.run(
        [sys.executable, str(SCRIPT), str(d / f"work{seed}.npz"), str(n_each), str(seed),
         *paths], capture_output=True, text=True, timeout=600,
        env=dict(os.environ, **env), cwd=d)
    last = [x for x in res.stdout.splitlines() if x.startswith("TRY")][-1:]
    assert res.returncode == 0, (
        f"the fuzz process (seed {seed}) died (exit {res.returncode}) at {last}: "
        f"{res.stderr[-3000:]}")
    line = [x for x in res.stdout.splitlines() if x.startswith("REPORT ")]
    assert line, f"seed {seed}: " + res.stdout[-2000:] + res.stderr[-2000:]
    return json.loads(line[0][len("REPORT "):])


SETUPS = {
    # bounds-checked Numba kernels (compiled fresh: the cache never holds them)
    "boundscheck": ({"NUMBA_BOUNDSCHECK": "1", "ISOFOREST_CACHE": "0",
                     "ISOFOREST_SIMD": "0"}, 16 * SCALE, seed(1)),
    # the vector kernels where this host has them (the EIF walk runs everywhere)
    "simd": ({"ISOFOREST_SIMD": "1"}, 16 * SCALE, seed(2)),
}


@pytest.fixture(scope="module", params=list(SETUPS))
def report(request, model_files):
    env, n_each, seed = SETUPS[request.param]
    return run_fuzz(*model_files, env, n_each, seed)


def test_every_mutant_that_loads_is_used_without_error(report, model_files):
    total = report["refused"] + report["used"] + len(report["load_errors"]) \
        + len(report["use_errors"])
    assert total >= 8 * 16 * 3  # eight files, flips, cuts and forged archives
    assert report["refused"] > 100 and report["used"] > 50  # both paths exercised
    assert report["use_errors"] == [], "\n".join(report["use_errors"])


def test_loading_raises_only_model_file_error(report):
    assert report["load_errors"] == [], "\n".join(report["load_errors"])


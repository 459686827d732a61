"""Several threads scoring with one fitted model at once: same results, no crash."""

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from isoforest import IsolationForest, ZScoreDetector, zscore


def test_concurrent_scoring_matches_single_thread():
    rng = np.random.RandomState(0)
    X = rng.randn(20000, 5)
    model = IsolationForest(random_state=0, n_jobs=-1).fit(X)
    det = ZScoreDetector(n_jobs=-1).fit(X)
    batches = [rng.randn(n, 5) for n in (1, 7, 300, 5000, 20000) * 4]
    expected = [(model.score_samples(b), det.score_samples(b)) for b in batches]

    def work(i):
        b = batches[i]
        return model.score_samples(b), det.score_samples(b)

    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(work, range(len(batches))))
    for (a1, b1), (a2, b2) in zip(expected, got):
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(b1, b2)


def test_concurrent_fit_and_zscore():
    X = np.random.RandomState(1).randn(50000, 4)

    def work(seed):
        return IsolationForest(random_state=seed, n_jobs=-1).fit(X).score_samples(X[:2000])

    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(work, [3, 3, 4, 4]))
    np.testing.assert_array_equal(got[0], got[1])
    np.testing.assert_array_equal(got[2], got[3])
    with ThreadPoolExecutor(max_workers=4) as pool:
        zs = list(pool.map(lambda _: zscore(X), range(4)))
    for z in zs[1:]:
        np.testing.assert_array_equal(z, zs[0])


def test_workqueue_layer_serialised_not_crashing():
    """Forced onto Numba's non-thread-safe layer, concurrent calls still work."""
    code = textwrap.dedent(
        """
        import numba
        numba.config.THREADING_LAYER = "workqueue"
        import numpy as np
        from concurrent.futures import ThreadPoolExecutor
        from isoforest import IsolationForest
        X = np.random.RandomState(0).randn(20000, 4)
        m = IsolationForest(random_state=0, n_jobs=-1).fit(X)
        ref = m.score_samples(X)
        with ThreadPoolExecutor(4) as pool:
            outs = list(pool.map(lambda _: m.score_samples(X), range(8)))
        assert all(np.array_equal(o, ref) for o in outs)
        print("layer", numba.threading_layer())
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    assert "layer workqueue" in res.stdout


# ------------------------------------------- OMP_WAIT_POLICY: no process-wide trace
_POLICY_SCRIPT = textwrap.dedent(
    """
    import ctypes, ctypes.util, json, os, subprocess, sys
    import numpy as np
    report = {"at_start": os.environ.get("OMP_WAIT_POLICY")}
    import isoforest
    report["after_import"] = os.environ.get("OMP_WAIT_POLICY")
    X = np.random.RandomState(0).randn(3000, 4)
    m = isoforest.IsolationForest(n_estimators=20, random_state=0, n_jobs=2).fit(X)
    m.score_samples(X)
    isoforest.zscore(X)
    import numba
    report["layer"] = numba.threading_layer()
    report["after_parallel"] = os.environ.get("OMP_WAIT_POLICY")
    report["child"] = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ.get('OMP_WAIT_POLICY'))"],
        capture_output=True, text=True).stdout.strip()
    print(json.dumps(report))
    """
)

# GOMP_SPINCOUNT, as omp_display_env(verbose) prints it, tells the policy a libgomp
# was initialised with: 0 passive, 300000 unset, 30000000000 active.
_SPIN_SCRIPT = textwrap.dedent(
    """
    import ctypes, sys
    import numpy as np
    import isoforest
    X = np.random.RandomState(0).randn(3000, 4)
    isoforest.IsolationForest(n_estimators=20, random_state=0, n_jobs=2).fit(X)
    sys.stdout.flush()
    ctypes.CDLL(sys.argv[1]).omp_display_env(1)
    """
)


def _run(code, env_policy, *args):
    import os

    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if env_policy is not None:
        env["OMP_WAIT_POLICY"] = env_policy
    res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                         text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout + res.stderr  # omp_display_env prints to stderr


@pytest.mark.parametrize("policy", [None, "active", "passive"])
def test_environment_left_as_the_user_had_it(policy):
    import json

    lines = [ln for ln in _run(_POLICY_SCRIPT, policy).splitlines() if ln.startswith("{")]
    report = json.loads(lines[-1])
    expected = "None" if policy is None else policy
    assert report["at_start"] == report["after_import"] == report["after_parallel"] == policy
    assert report["child"] == expected


def _system_libgomp():
    import ctypes.util

    path = "/lib/x86_64-linux-gnu/libgomp.so.1"
    import os

    if os.path.exists(path):
        return path
    return ctypes.util.find_library("gomp")


def _spincount(output):
    for line in output.splitlines():
        if "GOMP_SPINCOUNT" in line:
            return int(line.split("=")[1].strip().strip("'"))
    pytest.skip("this libgomp does not print GOMP_SPINCOUNT")


@pytest.mark.parametrize("policy, spin", [(None, 0), ("active", 30_000_000_000)])
def test_numba_openmp_runtime_waits_passively_unless_user_says(policy, spin):
    """The libgomp Numba loaded was initialised passive (spin count 0) although the
    variable is gone again; a user's value is what it read otherwise."""
    lib = _system_libgomp()
    if lib is None:
        pytest.skip("no system libgomp")
    out = _run(_SPIN_SCRIPT, policy, lib)
    assert _spincount(out) == spin


def test_openmp_runtime_loaded_later_reads_the_users_environment(tmp_path):
    """A second OpenMP runtime loaded in the process after isoforest's parallel
    kernels ran (a copy of the system libgomp under another path, as libraries
    bundle theirs) reads no OMP_WAIT_POLICY: libgomp's default spin count, not the
    passive 0."""
    import shutil

    lib = _system_libgomp()
    if lib is None:
        pytest.skip("no system libgomp")
    copy = tmp_path / "libgomp-copy.so.1"
    shutil.copy(lib, copy)
    out = _run(_SPIN_SCRIPT, None, str(copy))
    assert _spincount(out) == 300_000

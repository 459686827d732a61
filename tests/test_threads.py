"""Several threads scoring with one fitted model at once: same results, no crash."""

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np

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

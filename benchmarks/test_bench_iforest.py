"""pytest-benchmark suite: the competitor is a parameter, so they share one table.

Run with ``make bench-grid`` (or ``pytest benchmarks -p no:randomly --benchmark-only``).
Every model is fitted and called once before timing, so Numba compilation and
first-call costs are never measured.
"""

import numpy as np
import pytest

from isoforest import IsolationForest

pytest.importorskip("pytest_benchmark")

COMPETITORS = ["isoforest", "scikit-learn", "isotree"]
ROWS = [1_000, 10_000, 100_000, 1_000_000]
FEATURES = [1, 10, 100]
THREADS = [1, -1]


def make(name, threads):
    if name == "isoforest":
        return IsolationForest(n_estimators=100, max_samples=256, random_state=0,
                               n_jobs=threads)
    if name == "scikit-learn":
        ensemble = pytest.importorskip("sklearn.ensemble")
        return ensemble.IsolationForest(n_estimators=100, max_samples=256,
                                        random_state=0, n_jobs=threads)
    isotree = pytest.importorskip("isotree")
    return isotree.IsolationForest(ndim=1, ntrees=100, sample_size=256, random_seed=0,
                                   nthreads=threads)


def score(name, model, X):
    return model.predict(X) if name == "isotree" else model.score_samples(X)


_DATA = {}


def data(n_rows, n_features):
    key = (n_rows, n_features)
    if key not in _DATA:
        _DATA.clear()
        _DATA[key] = np.random.RandomState(0).randn(n_rows, n_features)
    return _DATA[key]


def shapes():
    # rows 1e3..1e6 at 10 features, and 1 to 100 features at 100,000 rows
    return sorted({(r, 10) for r in ROWS} | {(100_000, f) for f in FEATURES})


@pytest.mark.parametrize("threads", THREADS, ids=["1thread", "allthreads"])
@pytest.mark.parametrize("shape", shapes(), ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("competitor", COMPETITORS)
def test_fit(benchmark, competitor, shape, threads):
    X = data(*shape)
    make(competitor, threads).fit(X[:1000])
    benchmark.group = f"fit {shape[0]}x{shape[1]} threads={threads}"
    benchmark.pedantic(lambda: make(competitor, threads).fit(X), rounds=3, iterations=1)


@pytest.mark.parametrize("threads", THREADS, ids=["1thread", "allthreads"])
@pytest.mark.parametrize("shape", shapes(), ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("competitor", COMPETITORS)
def test_score_samples(benchmark, competitor, shape, threads):
    X = data(*shape)
    model = make(competitor, threads).fit(X)
    score(competitor, model, X[:100])
    benchmark.group = f"score_samples {shape[0]}x{shape[1]} threads={threads}"
    benchmark.pedantic(lambda: score(competitor, model, X), rounds=3, iterations=1)


@pytest.mark.parametrize("competitor", COMPETITORS)
def test_score_one_row(benchmark, competitor):
    X = data(100_000, 10)
    model = make(competitor, -1).fit(X)
    row = X[:1]
    score(competitor, model, row)
    benchmark.group = "score one row (real-time)"
    benchmark(lambda: score(competitor, model, row))

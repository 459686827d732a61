"""pytest-benchmark suite for TreeSHAP explanations: the competitor is a parameter.

Run with ``pytest benchmarks/test_bench_explain.py -p no:randomly --benchmark-only``
(wrapped in ``flock /tmp/isoforest-bench.lock`` on a shared machine). isoforest's
``explain`` and shap's ``TreeExplainer`` on the scikit-learn twin (identical trees)
explain the same rows; each is called once before timing, so compilation, the
per-forest tables and shap's tree conversion are never measured.
"""

import numpy as np
import pytest

from isoforest import IsolationForest, explain

pytest.importorskip("pytest_benchmark")

COMPETITORS = ["isoforest", "shap"]
ROWS = [1_000, 10_000]
THREADS = [1, -1]

_DATA = {}


def data(n_rows, n_features=10):
    key = (n_rows, n_features)
    if key not in _DATA:
        _DATA.clear()
        _DATA[key] = np.random.RandomState(0).randn(n_rows, n_features)
    return _DATA[key]


def make(name, X, threads):
    """A callable explaining ``X`` (warm: called once here)."""
    if name == "isoforest":
        model = IsolationForest(n_estimators=100, max_samples=256, random_state=0,
                                n_jobs=threads).fit(X)
        fn = lambda: explain(model, X, n_jobs=threads)  # noqa: E731
    else:
        shap = pytest.importorskip("shap")
        ensemble = pytest.importorskip("sklearn.ensemble")
        if threads != 1:
            pytest.skip("shap's TreeExplainer runs on one thread")
        model = ensemble.IsolationForest(n_estimators=100, max_samples=256,
                                         random_state=0).fit(X)
        explainer = shap.TreeExplainer(model)
        X32 = X.astype(np.float32)  # route as the trees do: float32(x)
        fn = lambda: explainer.shap_values(X32, check_additivity=False)  # noqa: E731
    fn()
    return fn


@pytest.mark.parametrize("threads", THREADS, ids=["1thread", "allthreads"])
@pytest.mark.parametrize("n_rows", ROWS, ids=lambda n: f"{n}x10")
@pytest.mark.parametrize("competitor", COMPETITORS)
def test_tree_shap(benchmark, competitor, n_rows, threads):
    X = data(n_rows)
    fn = make(competitor, X, threads)
    benchmark.group = f"tree_shap {n_rows}x10 threads={threads}"
    benchmark.pedantic(fn, rounds=3, iterations=1)


def test_tables(benchmark):
    """Building the per-forest tables (done once per fitted model)."""
    from isoforest.explain._treeshap import TreeShapTables

    X = data(10_000)
    model = IsolationForest(n_estimators=100, max_samples=256, random_state=0).fit(X)
    TreeShapTables(model.forest_, X.shape[1])
    benchmark.group = "tree_shap tables"
    benchmark.pedantic(lambda: TreeShapTables(model.forest_, X.shape[1], -1),
                       rounds=5, iterations=1)

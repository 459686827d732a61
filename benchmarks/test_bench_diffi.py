"""pytest-benchmark: DIFFI local and global importances, isoforest's kernels against the
naive twin (plain Python loops in the style of the authors' reference code).

Run: ``pytest benchmarks/test_bench_diffi.py --benchmark-only`` (one benchmark at a time).
"""

import numpy as np
import pytest

from isoforest import IsolationForest
from isoforest.explain._diffi import diffi_global, diffi_local

pytest.importorskip("pytest_benchmark")

ROWS = 2_000


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    X = rng.randn(ROWS, 10)
    X[:100, 3] += 6.0
    return IsolationForest(n_estimators=100, random_state=0).fit(X), X


@pytest.mark.parametrize("kind", ["local", "global"])
@pytest.mark.parametrize("competitor", ["isoforest", "naive"])
def test_diffi(benchmark, fitted, competitor, kind):
    model, X = fitted
    if competitor == "isoforest":
        func = diffi_local if kind == "local" else diffi_global
    else:
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from reference import diffi_naive

        func = diffi_naive.local_diffi if kind == "local" else diffi_naive.diffi_global
    rows = X[:200] if kind == "local" and competitor == "naive" else X
    func(model, rows)  # compile first
    benchmark.group = f"DIFFI {kind}, 100 trees, {rows.shape[0]}x10"
    benchmark.pedantic(func, args=(model, rows), rounds=3, iterations=1)

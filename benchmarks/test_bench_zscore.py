"""pytest-benchmark: z-scores with the competitor as a parameter."""

import numpy as np
import pytest

from isoforest import zscore

pytest.importorskip("pytest_benchmark")


@pytest.mark.parametrize("rows", [10_000, 1_000_000])
@pytest.mark.parametrize("competitor", ["isoforest", "scipy", "copy"])
def test_zscore(benchmark, competitor, rows):
    X = np.random.RandomState(0).randn(rows, 10)
    if competitor == "isoforest":
        fn = lambda: zscore(X)  # noqa: E731
    elif competitor == "scipy":
        stats = pytest.importorskip("scipy.stats")
        fn = lambda: stats.zscore(X)  # noqa: E731
    else:
        fn = X.copy
    fn()
    benchmark.group = f"zscore {rows}x10"
    benchmark.pedantic(fn, rounds=5, iterations=1)

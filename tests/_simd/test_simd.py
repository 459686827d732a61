"""The AVX-512 walk (``isoforest._simd.forest_walk``) against the scalar complete-tree kernel.

Both score the same padded complete trees; the sums must agree bit for bit, for
every depth, for feature counts held in registers and gathered, partial groups of
16 rows, NaN thresholds (inf - inf draws), infinite values and blocks with NaN
(which take the scalar path inside the vector kernel).
"""

import numpy as np
import pytest

from isoforest import config_context
from isoforest.forest import _kernels as K
from isoforest._simd import forest_walk as _simd

pytestmark = [pytest.mark.kernels,
              pytest.mark.skipif(not _simd.available(),
                                 reason="the vector kernel needs AVX-512 and Numba's JIT")]


def random_complete_forest(rng, depth, n_features, n_trees):
    """Complete-layout arrays as ``ForestArrays._complete_layout`` makes them."""
    n_internal = (1 << depth) - 1
    feat = np.zeros(n_trees * n_internal + _simd.PAD, dtype=np.uint32)
    thr = np.full(n_trees * n_internal + _simd.PAD, np.inf, dtype=np.float32)
    size = n_trees * n_internal
    feat[:size] = rng.integers(0, n_features, size)
    thr[:size] = rng.standard_normal(size).astype(np.float32)
    special = rng.random(size)
    thr[:size][special < 0.03] = np.nan    # every number goes right
    thr[:size][(special > 0.03) & (special < 0.08)] = np.inf  # padding: always left
    nan_right = rng.integers(0, 2, size).astype(np.uint8)
    # distinct leaf values so that a wrong leaf changes the sum
    leaf = rng.random(n_trees << depth) * 10 + np.arange(n_trees << depth) * 1e-3
    return feat, thr, nan_right, leaf


def scalar_scores(X, depth, feat, thr, nan_right, leaf, n_trees):
    out = np.empty(X.shape[0])
    K.score_complete_serial(X, depth, feat, thr, nan_right, leaf, n_trees, out)
    return out


def check(rng, depth, n_features, n_rows, n_trees=7, dtype=np.float64, parallel_too=True):
    feat, thr, nan_right, leaf = random_complete_forest(rng, depth, n_features, n_trees)
    X = rng.standard_normal((n_rows, n_features)).astype(dtype)
    X[rng.random(X.shape) < 0.01] = np.inf
    X[rng.random(X.shape) < 0.01] = -np.inf
    expected = scalar_scores(X, depth, feat, thr, nan_right, leaf, n_trees)
    parallel, serial = K.simd_score_kernels(depth, n_features)
    for kernel in (parallel, serial) if parallel_too else (serial,):
        got = np.full(n_rows, -1.0)
        kernel(X, feat, thr, nan_right, leaf, n_trees, got)
        np.testing.assert_array_equal(got, expected)
    return X, feat, thr, nan_right, leaf


@pytest.mark.parametrize("depth", range(1, _simd.MAX_DEPTH + 1))
def test_every_depth(depth):
    # the serial kernel only: each parallel variant costs seconds to compile, and
    # the parallel wrapper is the same for every depth (tested at depth 8)
    check(np.random.default_rng(depth), depth, n_features=10, n_rows=16 * 20 + 5,
          parallel_too=depth == 8)


@pytest.mark.parametrize("n_features", [1, 2, 3, 16, 17, 40])
def test_feature_counts_selected_and_gathered(n_features):
    check(np.random.default_rng(n_features), 8, n_features, n_rows=300 + n_features)


@pytest.mark.parametrize("n_rows", [1, 15, 16, 17, 255, 256, 257, 1000])
def test_partial_groups_and_blocks(n_rows):
    check(np.random.default_rng(n_rows), 8, 10, n_rows, n_trees=4)


def test_tree_counts_around_the_interleave():
    rng = np.random.default_rng(7)
    for n_trees in range(1, 8):
        check(rng, 8, 10, 40, n_trees=n_trees)


def test_blocks_with_nan_use_the_missing_value_rule():
    rng = np.random.default_rng(3)
    depth, n_features, n_trees = 8, 10, 5
    feat, thr, nan_right, leaf = random_complete_forest(rng, depth, n_features, n_trees)
    X = rng.standard_normal((1000, n_features))
    X[rng.random(X.shape) < 0.002] = np.nan  # some blocks have NaN, others do not
    expected = scalar_scores(X, depth, feat, thr, nan_right, leaf, n_trees)
    parallel, serial = K.simd_score_kernels(depth, n_features)
    for kernel in (parallel, serial):
        got = np.empty(X.shape[0])
        kernel(X, feat, thr, nan_right, leaf, n_trees, got)
        np.testing.assert_array_equal(got, expected)


def test_float32_input():
    check(np.random.default_rng(11), 8, 10, 200, dtype=np.float32)


@pytest.mark.parametrize("n_jobs", [1, -1])
def test_estimator_scores_the_same_with_and_without_the_vector_kernel(monkeypatch, n_jobs):
    from isoforest import IsolationForest

    rng = np.random.default_rng(5)
    X = rng.standard_normal((3000, 6))
    X[::97, 2] = np.nan
    clf = IsolationForest(n_estimators=20, random_state=0, n_jobs=n_jobs).fit(X)
    with_simd = clf.score_samples(X)
    with config_context(simd=False):
        assert not _simd.available()
        np.testing.assert_array_equal(clf.score_samples(X), with_simd)


def test_ir_arguments_are_checked():
    with pytest.raises(ValueError, match="depth"):
        _simd.ir_text(0, 10)
    with pytest.raises(ValueError, match="n_select"):
        _simd.ir_text(8, _simd.MAX_SELECT_FEATURES + 1)

"""Unit tests of the kernel layer and the random draws, against their definitions."""

import numpy as np
import pytest

from isoforest import _iforest_kernels as K
from isoforest._forest import average_path_length
from isoforest._sampling import MAX_INT, draw_tree, sample_without_replacement


def xorshift_reference(state, n):
    """scikit-learn's ``our_rand_r``, written with explicit 32-bit masking."""
    out = []
    for _ in range(n):
        if state == 0:
            state = 1
        state ^= (state << 13) % 2**32
        state ^= state >> 17
        state ^= (state << 5) % 2**32
        out.append(state % (MAX_INT + 1))
    return out


@pytest.mark.parametrize("seed", [0, 1, 123456789, 2**31 - 2, 2**32 - 1])
def test_xorshift_stream(seed):
    state = seed
    got = []
    for _ in range(1000):
        state, value = K._rand_r(state)
        got.append(value)
    assert got == xorshift_reference(seed, 1000)
    assert all(0 <= v <= K.RAND_R_MAX for v in got)


def test_average_path_length_definition():
    n = np.array([0, 1, 2, 3, 5, 256, 999])
    expected = [0.0, 0.0, 1.0]
    for k in n[3:]:
        expected.append(2.0 * (np.log(k - 1.0) + np.euler_gamma) - 2.0 * (k - 1.0) / k)
    np.testing.assert_array_equal(average_path_length(n), expected)
    # increasing, scalar-shaped input keeps its shape
    c = average_path_length(np.arange(1000))
    assert np.all(np.diff(c) >= 0)
    assert average_path_length([256]).shape == (1,)


def test_average_path_length_matches_sklearn():
    iforest = pytest.importorskip("sklearn.ensemble._iforest")
    n = np.arange(0, 5000)
    np.testing.assert_array_equal(
        average_path_length(n), iforest._average_path_length(n)
    )


@pytest.mark.parametrize(
    "n_population,n_samples",
    [(10, 10), (1000, 3), (1000, 256), (300, 256), (257, 256), (100, 50), (5, 1), (0, 0)],
)
def test_sample_without_replacement_matches_sklearn(n_population, n_samples):
    random = pytest.importorskip("sklearn.utils.random")
    for seed in range(5):
        ours = sample_without_replacement(n_population, n_samples, np.random.RandomState(seed))
        theirs = random.sample_without_replacement(
            n_population, n_samples, random_state=np.random.RandomState(seed)
        )
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("n_population,n_samples", [(1000, 3), (1000, 256), (300, 256), (257, 256)])
def test_sample_without_replacement_is_a_sample(n_population, n_samples):
    out = sample_without_replacement(n_population, n_samples, np.random.RandomState(0))
    assert len(out) == n_samples == len(set(out.tolist()))
    assert out.min() >= 0 and out.max() < n_population


def test_sample_without_replacement_refuses_too_many():
    with pytest.raises(ValueError, match="n_population should be greater or equal"):
        sample_without_replacement(3, 4, np.random.RandomState(0))


def test_draw_tree_rows_sorted_distinct_with_counts():
    feats, rows, counts, state, tree_seed = draw_tree(
        5, n_samples=50, n_features=4, max_samples=40, max_features=3, bootstrap=True
    )
    assert np.all(np.diff(rows) > 0)
    assert counts.sum() == 40
    assert sorted(feats.tolist()) == sorted(set(feats.tolist())) and len(feats) == 3
    assert 0 <= state < MAX_INT and 0 <= tree_seed < MAX_INT


def _tiny_tree():
    # root 0 -> (1, 2); 2 -> (3, 4)
    left = np.array([1, -1, 3, -1, -1])
    right = np.array([2, -1, 4, -1, -1])
    return left, right


def test_node_depths():
    left, right = _tiny_tree()
    offsets = np.array([0, 5, 10])
    depths = K.node_depths(np.r_[left, left], np.r_[right, right], offsets)
    np.testing.assert_array_equal(depths, [1, 2, 2, 3, 3] * 2)


def test_path_length_sum_and_apply_follow_thresholds():
    left, right = _tiny_tree()
    feature = np.array([0, -2, 1, -2, -2])
    threshold = np.array([0.5, -2, 2.0, -2, -2])
    mgl = np.array([0, 0, 1, 0, 0], dtype=np.uint8)
    leaf_value = np.array([0.0, 10.0, 0.0, 20.0, 30.0])
    offsets = np.array([0, 5])
    X = np.array(
        [[0.0, 0.0], [1.0, 1.0], [1.0, 3.0], [np.nan, 0.0], [1.0, np.nan], [0.5, 9.0]]
    )
    out = np.empty(len(X))
    K.path_length_sum_serial(X, offsets, feature, threshold, left, right, mgl, leaf_value, out)
    # NaN at the root goes right (mgl 0), NaN at node 2 goes left (mgl 1);
    # x == threshold goes left.
    np.testing.assert_array_equal(out, [10.0, 20.0, 30.0, 20.0, 20.0, 10.0])
    leaves = np.empty((len(X), 1), dtype=np.int64)
    K.apply_forest(X, offsets, feature, threshold, left, right, mgl, leaves)
    np.testing.assert_array_equal(leaves[:, 0], [1, 3, 4, 3, 3, 1])


def test_float64_compared_after_float32_rounding():
    """A float64 value just above a threshold that rounds onto it goes left."""
    left, right = np.array([1, -1, -1]), np.array([2, -1, -1])
    feature = np.array([0, -2, -2])
    threshold = np.array([1.0, -2.0, -2.0])
    leaf_value = np.array([0.0, 1.0, 2.0])
    X = np.array([[1.0 + 1e-12], [1.0 + 1e-6]])
    out = np.empty(2)
    K.path_length_sum_serial(X, np.array([0, 3]), feature, threshold, left, right,
                             np.zeros(3, np.uint8), leaf_value, out)
    np.testing.assert_array_equal(out, [1.0, 2.0])

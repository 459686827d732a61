"""Unit tests of the kernel layer and the random draws, against their definitions."""

import numpy as np
import pytest

from isoforest.forest import _kernels as K
from isoforest.forest._arrays import average_path_length
from isoforest.forest._sampling import MAX_INT, draw_tree, sample_without_replacement

# kernels index raw memory: `make test-boundscheck` runs these tests again with
# NUMBA_BOUNDSCHECK=1
pytestmark = pytest.mark.kernels


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


# ---------------------------------------------------------------------------
# the Numba replica of NumPy's legacy RandomState draws

from isoforest.forest import _mt19937 as MT  # noqa: E402

SEEDS = [0, 1, 5489, 123456, 2**31 - 2, 2**32 - 1]


def _state(seed):
    state = np.empty(MT.STATE_SIZE, dtype=np.int64)
    MT.mt_seed(state, seed)
    return state


@pytest.mark.parametrize("seed", SEEDS)
def test_mt19937_raw_stream_matches_numpy(seed):
    state = _state(seed)
    ours = [MT.mt_next32(state) for _ in range(1500)]  # crosses a regeneration
    theirs = np.random.RandomState(seed).randint(0, 2**32, size=1500, dtype=np.uint32)
    np.testing.assert_array_equal(np.array(ours, dtype=np.uint64), theirs.astype(np.uint64))


@pytest.mark.parametrize("seed", SEEDS)
def test_mt19937_uniform_matches_numpy(seed):
    state = _state(seed)
    ours = [MT.mt_double(state) for _ in range(700)]
    np.testing.assert_array_equal(ours, np.random.RandomState(seed).uniform(size=700))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("high", [1, 2, 3, 1000, 2**31 - 1, 2**32 - 1])
def test_bounded_matches_legacy_randint(seed, high):
    state = _state(seed)
    ours = [MT.bounded(state, high - 1) for _ in range(300)]
    rng = np.random.RandomState(seed)
    scalar = [rng.randint(high) for _ in range(300)]
    assert ours == scalar
    np.testing.assert_array_equal(ours, np.random.RandomState(seed).randint(0, high, size=300))


@pytest.mark.parametrize("seed", SEEDS)
def test_seed_from_matches_numpy(seed):
    assert MT.seed_from(seed) == np.random.RandomState(seed).randint(MAX_INT)


@pytest.mark.parametrize(
    "n_population,n_samples",
    [(10, 10), (10, 5), (1000, 256), (10**6, 256), (300, 256), (257, 256), (10**5, 1500), (50, 1)],
)
def test_numba_sample_without_replacement_matches_numpy_replay(n_population, n_samples):
    for seed in range(4):
        out = np.empty(n_samples, dtype=np.int64)
        MT.sample_without_replacement(_state(seed), n_population, n_samples, out)
        expected = sample_without_replacement(n_population, n_samples, np.random.RandomState(seed))
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("params", [
    dict(), dict(bootstrap=True), dict(max_samples=0.5, max_features=2),
    dict(max_samples=0.995), dict(max_samples=5000),
])
def test_numba_draws_build_the_same_forest_as_numpy_draws(params):
    """The in-Numba draws (used without sample_weight) against NumPy's RandomState."""
    from isoforest import IsolationForest

    X = np.random.RandomState(0).randn(6000, 4)
    est = IsolationForest(random_state=3, n_estimators=12, **params).fit(X)
    y = np.random.RandomState(3).uniform(size=len(X))
    python = est._grow_python_draws(
        X, y, est._seeds_all, est._max_samples, est._max_features,
        int(np.ceil(np.log2(max(est._max_samples, 2)))),
    )
    for name, arr in python.node_arrays().items():
        np.testing.assert_array_equal(getattr(est.forest_, name), arr, err_msg=name)
    np.testing.assert_array_equal(est.forest_.features, python.features)


@pytest.mark.parametrize("seed", SEEDS)
def test_uniform_bits_matches_numpy_at_the_drawn_rows(seed):
    n = 5000
    expected = np.random.RandomState(seed).uniform(size=n)
    drawn = np.random.RandomState(1).randint(0, n, (3, 300))
    drawn[0, :4] = [0, 311, 312, n - 1]  # first row, crossings of the 624-word blocks
    drawn[1, :2] = [63, 64]  # crossings of the bit words
    rows = np.sort(drawn, axis=1)
    n_rows = np.full(3, 300)
    bits = np.zeros(n // 64 + 1, dtype=np.uint64)
    prefix = np.empty(bits.shape[0], dtype=np.int64)
    unique = np.unique(drawn)
    assert K.mark_rows(rows, n_rows, bits, prefix) == len(unique)
    out = np.full(len(unique), -1.0)
    MT.uniform_bits(seed, bits, out)
    np.testing.assert_array_equal(out, expected[unique])
    # rank of a drawn row = prefix of its word + set bits below it
    for r in map(int, unique[::17]):
        word = int(bits[r >> 6])
        rank = prefix[r >> 6] + bin(word & ((1 << (r & 63)) - 1)).count("1")
        assert unique[rank] == r


def test_popcount64():
    for x in [0, 1, 2**63, 2**64 - 1, 0x5555555555555555, 12345678901234567]:
        assert MT.popcount64(np.uint64(x)) == bin(x).count("1")


@pytest.mark.parametrize("max_value", [0, 1, 255, 256, 999_999, 2**32, 2**62])
def test_radix_sort(max_value):
    rng = np.random.default_rng(max_value % 1000)
    for n in (0, 1, 256, 1000):
        a = rng.integers(0, max_value + 1, n, dtype=np.int64)
        b = a.copy()
        K.radix_sort(b, max_value)
        np.testing.assert_array_equal(b, np.sort(a))


@pytest.mark.parametrize("random_state", [0, np.random.RandomState(4)])
def test_rows_gathered_ahead_or_per_tree_build_the_same_forest(monkeypatch, random_state):
    import copy

    from isoforest import IsolationForest
    from isoforest.forest import _iforest as _iforest

    X = np.random.RandomState(2).randn(3000, 7)
    X[::50, 3] = np.nan
    fits = []
    for limit in (_iforest.GATHER_AHEAD_BYTES, 0):
        monkeypatch.setattr(_iforest, "GATHER_AHEAD_BYTES", limit)
        est = IsolationForest(n_estimators=15, max_features=0.6, n_jobs=-1,
                              random_state=copy.deepcopy(random_state)).fit(X)
        fits.append(est)
    for name, arr in fits[0].forest_.node_arrays().items():
        np.testing.assert_array_equal(fits[1].forest_.node_arrays()[name], arr, err_msg=name)
    np.testing.assert_array_equal(fits[0].score_samples(X), fits[1].score_samples(X))

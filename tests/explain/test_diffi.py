"""DIFFI (``isoforest.explain._diffi``) against its naive twin ``reference/diffi_naive.py``.

The twin is plain Python written from the definitions of Carletti, Terzi & Susto (2023)
as their reference code computes them, over scikit-learn-style per-tree arrays; every
comparison is exact (bit for bit, NaN where both are NaN). It also runs on a live
scikit-learn IsolationForest grown with the same seed, so the kernels are checked
against scikit-learn's own trees, not only against isoforest's.
"""

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from _fuzz import examples
from _scripts import run_pure_python

from isoforest import IsolationForest, NotFittedError
from isoforest.explain import _diffi_kernels as K
from isoforest.explain._diffi import diffi_global, diffi_local
from reference import diffi_naive as naive

# kernels index raw memory: `make test-boundscheck` runs these tests again with
# NUMBA_BOUNDSCHECK=1
pytestmark = pytest.mark.kernels

ROOT = Path(__file__).resolve().parents[2]


def assert_bitwise_equal(got, want, what):
    """Exact equality of float64 bits; NaN equals NaN whatever its payload."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    both_nan = np.isnan(got) & np.isnan(want)
    differ = (got.view(np.uint64) != want.view(np.uint64)) & ~both_nan
    idx = np.flatnonzero(differ)
    assert idx.size == 0, (
        f"{what}: {idx.size} of {got.size} differ, first at {idx[0]}: "
        f"{got.flat[idx[0]]!r} != {want.flat[idx[0]]!r}"
    )


def nasty_data(seed, n=160, p=5):
    """Gaussian rows with a few outliers, a constant column, duplicate rows and NaN."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, p))
    X[: n // 16] += rng.uniform(3.0, 6.0, size=(n // 16, p))
    X[:, p - 1] = 1.5            # constant column: never split on
    X[20:30] = X[30:40]          # duplicate rows
    X[::11, 1] = np.nan          # missing values follow missing_go_to_left
    X[5, 0] = 1e-9               # collapses to float32 neighbours
    return X


FORESTS = [
    dict(n_estimators=12),
    dict(n_estimators=12, max_features=0.6),
    dict(n_estimators=12, max_features=2, bootstrap=True),
    dict(n_estimators=12, bootstrap=True, max_samples=64),
    dict(n_estimators=12, max_samples=0.5, contamination=0.1),
    dict(n_estimators=6, max_samples=3),
]


@pytest.mark.parametrize("params", FORESTS)
def test_kernels_match_twin(params):
    X = nasty_data(0)
    model = IsolationForest(random_state=7, **params).fit(X)
    assert_bitwise_equal(diffi_local(model, X[:60]), naive.local_diffi(model, X[:60]),
                         "local")
    assert_bitwise_equal(diffi_global(model, X), naive.diffi_global(model, X), "global")


@pytest.mark.parametrize("params", FORESTS[:4])
def test_kernels_match_twin_on_sklearn_trees(params):
    """The twin run on scikit-learn's own forest (same seed) gives isoforest's values."""
    sklearn_ensemble = pytest.importorskip("sklearn.ensemble")
    X = nasty_data(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = sklearn_ensemble.IsolationForest(random_state=3, **params).fit(X)
    ours = IsolationForest(random_state=3, **params).fit(X)
    assert_bitwise_equal(diffi_local(ours, X[:50]), naive.local_diffi(sk, X[:50]), "local")
    assert_bitwise_equal(diffi_global(ours, X), naive.diffi_global(sk, X), "global")
    # and the same forest wrapped with from_sklearn
    wrapped = IsolationForest.from_sklearn(sk)
    assert_bitwise_equal(diffi_global(wrapped, X), naive.diffi_global(sk, X), "wrapped")


def test_iic_hand_values():
    """Induced imbalance coefficients worked out by hand from the definition."""
    # n, n_left, n_right -> lambda
    cases = [
        (1, 1, 0, -1.0),    # fewer than two rows: undefined
        (0, 0, 0, -1.0),
        (5, 5, 0, 0.0),     # useless split
        (2, 1, 1, 0.5),     # lo == hi == 1/2: the share itself
        (3, 2, 1, 2 / 3),   # lo == hi == 2/3
        (4, 2, 2, 0.5),     # most balanced -> 0.5
        (4, 3, 1, 1.0),     # most imbalanced -> 1
        (5, 3, 2, 0.5),
        (5, 1, 4, 1.0),
        (6, 4, 2, 0.75),    # share 2/3 in [1/2, 5/6] -> halfway
    ]
    for n, nl, nr, want in cases:
        assert K._iic(n, nl, nr) == pytest.approx(want, abs=1e-15), (n, nl, nr)


def test_global_tree_skipped_without_both_subsets():
    """With max_samples=2 every tree has one split; trees whose two in-bag rows fall
    on one side of the decision are skipped, and features never credited give NaN."""
    X = nasty_data(2, n=40, p=3)
    model = IsolationForest(n_estimators=5, max_samples=2, random_state=0).fit(X)
    assert_bitwise_equal(diffi_global(model, X), naive.diffi_global(model, X), "global")
    assert np.isnan(diffi_global(model, X)[2])  # the constant column


def test_global_rows_on_the_decision_boundary_are_in_neither_subset(monkeypatch):
    """One tree and a contamination that puts offset_ exactly on a training score:
    rows whose tree decision is exactly 0 join neither subset (the reference's
    ``as_ib < 0`` / ``as_ib > 0``)."""
    X = np.random.RandomState(0).normal(size=(41, 3))
    model = IsolationForest(n_estimators=1, contamination=0.25, random_state=0).fit(X)
    assert np.sum(model.decision_function(X) == 0) > 0
    got = diffi_global(model, X)
    assert_bitwise_equal(got, naive.diffi_global(model, X), "global")
    # The case has teeth: counting the boundary rows as inliers changes the answer.
    decision = naive.single_tree_decision
    monkeypatch.setattr(naive, "single_tree_decision",
                        lambda *a: np.where(decision(*a) == 0, 1.0, decision(*a)))
    assert not np.array_equal(naive.diffi_global(model, X), got)


@st.composite
def problems(draw):
    n = draw(st.integers(min_value=2, max_value=40))
    p = draw(st.integers(min_value=1, max_value=4))
    pool = st.sampled_from([0.0, 1.0, -1.0, 2.5, 1e-8, 1e8, np.nan, 3.0, -7.25])
    values = draw(st.lists(st.one_of(pool, st.floats(-10, 10)), min_size=n * p,
                           max_size=n * p))
    X = np.array(values, dtype=np.float64).reshape(n, p)
    params = dict(
        n_estimators=draw(st.integers(min_value=1, max_value=4)),
        max_samples=draw(st.one_of(st.just("auto"), st.integers(1, n))),
        max_features=draw(st.one_of(st.just(1.0), st.integers(1, p))),
        bootstrap=draw(st.booleans()),
        random_state=draw(st.integers(0, 2**31 - 2)),
    )
    return X, params


@settings(max_examples=examples(30), suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_nasty_data_matches_twin(problem):
    X, params = problem
    model = IsolationForest(**params).fit(X)
    assert_bitwise_equal(diffi_local(model, X), naive.local_diffi(model, X), "local")
    assert_bitwise_equal(diffi_global(model, X), naive.diffi_global(model, X), "global")


def test_n_jobs_independent():
    X = nasty_data(3, n=400)
    model = IsolationForest(n_estimators=30, bootstrap=True, random_state=0).fit(X)
    local = [diffi_local(model, X, n_jobs=j) for j in (1, 2, -1)]
    glob = [diffi_global(model, X, n_jobs=j) for j in (1, 2, -1)]
    for j in (1, 2):
        assert_bitwise_equal(local[j], local[0], "local")
        assert_bitwise_equal(glob[j], glob[0], "global")
    model.set_params(n_jobs=2)  # n_jobs=None follows the model
    assert_bitwise_equal(diffi_local(model, X), local[0], "local, model n_jobs")


def test_input_forms_agree():
    """float32, Fortran-ordered, sparse and list input give the float64 answer."""
    sparse = pytest.importorskip("scipy.sparse")
    X = np.nan_to_num(nasty_data(4, n=120))
    model = IsolationForest(n_estimators=10, random_state=0).fit(X)
    want_l = diffi_local(model, X)
    want_g = diffi_global(model, X)
    for form in (np.asfortranarray(X), sparse.csr_matrix(X), X.tolist()):
        assert_bitwise_equal(diffi_local(model, form), want_l, "local")
        assert_bitwise_equal(diffi_global(model, form), want_g, "global")
    X32 = X.astype(np.float32)  # the trees see float32 values anyway
    assert_bitwise_equal(diffi_local(model, X32), want_l, "local float32")


def test_planted_feature():
    """Outliers pushed far out along feature 3 only: DIFFI names feature 3."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(500, 6))
    out = np.arange(25)
    X[out, 3] += 9.0
    model = IsolationForest(n_estimators=100, random_state=0).fit(X)
    gfi = diffi_global(model, X)
    assert np.argmax(gfi) == 3
    assert gfi[3] > 1.2 * np.delete(gfi, 3).max()
    lfi = diffi_local(model, X[out])
    assert np.mean(np.argmax(lfi, axis=1) == 3) >= 0.8
    assert lfi.shape == (25, 6) and np.all(lfi >= 0)


def test_bad_input():
    X = nasty_data(5, n=60)
    with pytest.raises(NotFittedError):
        diffi_local(IsolationForest(), X)
    with pytest.raises(NotFittedError):
        diffi_global(IsolationForest(), X)
    model = IsolationForest(n_estimators=5, random_state=0).fit(X)
    bad = X[:, :3]
    with pytest.raises(ValueError) as want:
        model.score_samples(bad)
    for func in (diffi_local, diffi_global):
        with pytest.raises(ValueError) as got:
            func(model, bad)
        assert str(got.value) == str(want.value)
    with pytest.raises(ValueError, match="needs the training data"):
        diffi_global(model, X[:30])
    for not_a_forest in (None, object(), "model"):
        with pytest.raises(TypeError, match="isoforest.IsolationForest"):
            diffi_local(not_a_forest, X)
        with pytest.raises(TypeError, match="isoforest.IsolationForest"):
            diffi_global(not_a_forest, X)


def test_rejects_sklearn_forest():
    sklearn_ensemble = pytest.importorskip("sklearn.ensemble")
    X = nasty_data(6, n=60)
    sk = sklearn_ensemble.IsolationForest(n_estimators=3, random_state=0).fit(X)
    with pytest.raises(TypeError, match="got IsolationForest"):
        diffi_local(sk, X)


# ------------------------------------------------------- pure-Python kernel path

def test_jit_disabled_matches_compiled(tmp_path):
    """With NUMBA_DISABLE_JIT=1 the kernels run as plain Python: the same bits."""
    X = nasty_data(7, n=80, p=4)
    model = IsolationForest(n_estimators=6, max_features=0.75, bootstrap=True,
                            random_state=2).fit(X)
    with open(tmp_path / "in.pkl", "wb") as fh:
        pickle.dump((model, X), fh)
    run_pure_python("_pure_python_diffi.py", tmp_path / "in.pkl", tmp_path / "out.npz",
                    timeout=300)
    got = np.load(tmp_path / "out.npz")
    assert got["jit_disabled"] and got["no_dispatcher"]
    assert_bitwise_equal(got["local"], diffi_local(model, X), "local")
    assert_bitwise_equal(got["glob"], diffi_global(model, X), "global")

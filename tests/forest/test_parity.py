"""Same trees and scores as live scikit-learn 1.9.x, |d| = 0 (skipped without it)."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from _fuzz import examples

from isoforest import IsolationForest

sklearn_ensemble = pytest.importorskip("sklearn.ensemble")
SkIsolationForest = sklearn_ensemble.IsolationForest

TREE_FIELDS = (
    "feature",
    "threshold",
    "children_left",
    "children_right",
    "n_node_samples",
    "weighted_n_node_samples",
)


def assert_same_forest(ours, theirs, X_test):
    assert ours.max_samples_ == theirs.max_samples_
    assert len(ours.estimators_) == len(theirs.estimators_)
    for t, (a, b) in enumerate(zip(ours.estimators_, theirs.estimators_)):
        ta, tb = a.tree_, b.tree_
        assert ta.node_count == tb.node_count, f"tree {t}: node_count"
        for field in TREE_FIELDS:
            np.testing.assert_array_equal(
                getattr(ta, field), getattr(tb, field), err_msg=f"tree {t}: {field}"
            )
        split = tb.children_left != -1
        np.testing.assert_array_equal(
            ta.missing_go_to_left[split], tb.missing_go_to_left[split].astype(np.uint8),
            err_msg=f"tree {t}: missing_go_to_left",
        )
        assert a.max_depth == b.max_depth
        assert a.random_state == b.random_state
    for fa, fb in zip(ours.estimators_features_, theirs.estimators_features_):
        np.testing.assert_array_equal(fa, fb)
    assert ours.offset_ == theirs.offset_
    for method in ("score_samples", "decision_function", "predict"):
        a = getattr(ours, method)(X_test)
        b = getattr(theirs, method)(X_test)
        # |d| = 0: exact equality, not allclose
        np.testing.assert_array_equal(a, b, err_msg=method)


def fit_both(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            theirs = SkIsolationForest(**params).fit(X)
        except ValueError as exc:
            # Where scikit-learn refuses (e.g. a float max_samples rounding to 0
            # rows), we must refuse with the same message.
            with pytest.raises(ValueError) as ours_exc:
                IsolationForest(**params).fit(X)
            assert str(ours_exc.value) == str(exc)
            pytest.skip(f"scikit-learn refuses these parameters: {exc}")
        return IsolationForest(**params).fit(X), theirs


def _datasets():
    rng = np.random.RandomState(0)
    normal = rng.randn(600, 5)
    dup = np.repeat(rng.randn(40, 3), 8, axis=0)
    const = np.c_[rng.randn(300, 2), np.full(300, 3.0), rng.randn(300, 1), np.zeros(300)]
    ties = rng.randint(0, 4, size=(500, 4)).astype(float)
    # distinct in float64, equal once rounded to float32
    collapse = 1.0 + rng.randint(0, 3, size=(300, 3)) * 1e-12
    collapse[:, 1] += rng.randint(0, 2, size=300) * 2.0**-23  # one float32 ulp apart
    small = rng.randn(60, 4)
    return {
        "normal": normal,
        "duplicates": dup,
        "constant_columns": const,
        "ties": ties,
        "float32_collapse": collapse,
        "fewer_than_256": small,
        "one_row": rng.randn(1, 3),
        "two_rows": rng.randn(2, 3),
    }


DATASETS = _datasets()

PARAMS = [
    dict(),
    dict(max_samples=100),
    dict(max_samples=0.37),
    dict(max_samples=1000),
    dict(max_features=2),
    dict(max_features=0.6),
    dict(bootstrap=True),
    dict(bootstrap=True, max_samples=0.9),
    dict(contamination=0.1),
    dict(contamination=0.5, max_features=0.5, bootstrap=True),
    dict(n_estimators=7),
]


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("params", PARAMS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
@pytest.mark.parametrize("seed", [0, 12345])
def test_identical_to_sklearn(name, params, seed):
    X = DATASETS[name]
    params = dict(params, random_state=seed, n_estimators=params.get("n_estimators", 25))
    if isinstance(params.get("max_features"), int) and params["max_features"] > X.shape[1]:
        params["max_features"] = X.shape[1]
    ours, theirs = fit_both(X, **params)
    X_test = np.r_[X, np.random.RandomState(1).randn(20, X.shape[1]) * 3]
    assert_same_forest(ours, theirs, X_test)


def test_identical_default_forest_30000_rows():
    """The full default forest (100 trees, 256 rows) on a larger set, all threads."""
    X = np.random.RandomState(3).randn(30000, 4)
    ours = IsolationForest(random_state=7, n_jobs=-1).fit(X)
    theirs = SkIsolationForest(random_state=7).fit(X)
    assert_same_forest(ours, theirs, X[:5000])


def test_results_independent_of_n_jobs():
    X = np.random.RandomState(4).randn(3000, 4)
    a = IsolationForest(random_state=0, n_jobs=1).fit(X)
    b = IsolationForest(random_state=0, n_jobs=-1).fit(X)
    np.testing.assert_array_equal(a.forest_.threshold, b.forest_.threshold)
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))


def test_nan_in_fit_and_score():
    rng = np.random.RandomState(2)
    X = rng.randn(500, 4)
    X[rng.rand(*X.shape) < 0.15] = np.nan
    X[:, 3] = np.nan  # a column that is all missing
    X[::7, 0] = 1.5   # non-missing values all equal among some nodes
    ours, theirs = fit_both(X, random_state=0, contamination=0.05)
    X_test = X.copy()
    X_test[::3, 1] = np.nan
    assert_same_forest(ours, theirs, X_test)


@pytest.mark.parametrize("bootstrap", [False, True])
def test_sample_weight(bootstrap):
    rng = np.random.RandomState(5)
    X = rng.randn(400, 3)
    sw = rng.rand(400)
    sw[:50] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = IsolationForest(random_state=1, bootstrap=bootstrap).fit(X, sample_weight=sw)
        theirs = SkIsolationForest(random_state=1, bootstrap=bootstrap).fit(X, sample_weight=sw)
    assert_same_forest(ours, theirs, X)
    for a, b in zip(ours.estimators_samples_, theirs.estimators_samples_):
        np.testing.assert_array_equal(a, b)


def test_random_state_none_and_instance():
    X = np.random.RandomState(6).randn(300, 3)
    np.random.seed(11)
    ours = IsolationForest().fit(X)
    np.random.seed(11)
    theirs = SkIsolationForest().fit(X)
    assert_same_forest(ours, theirs, X)
    ours = IsolationForest(random_state=np.random.RandomState(3)).fit(X)
    theirs = SkIsolationForest(random_state=np.random.RandomState(3)).fit(X)
    assert_same_forest(ours, theirs, X)


@pytest.mark.parametrize("seed", [0, np.random.RandomState(9)], ids=["int", "RandomState"])
def test_warm_start(seed):
    X = np.random.RandomState(8).randn(300, 3)
    rs_a = seed if isinstance(seed, int) else np.random.RandomState(9)
    rs_b = seed if isinstance(seed, int) else np.random.RandomState(9)
    ours = IsolationForest(n_estimators=10, warm_start=True, random_state=rs_a).fit(X)
    theirs = SkIsolationForest(n_estimators=10, warm_start=True, random_state=rs_b).fit(X)
    first = ours.estimators_[0]
    ours.set_params(n_estimators=25).fit(X)
    theirs.set_params(n_estimators=25).fit(X)
    assert ours.estimators_[0] is first
    assert_same_forest(ours, theirs, X)


@pytest.mark.parametrize("fmt", ["csc", "csr"])
def test_sparse_input(fmt):
    sp = pytest.importorskip("scipy.sparse")
    rng = np.random.RandomState(10)
    dense = np.where(rng.rand(300, 5) < 0.6, 0.0, rng.randn(300, 5))
    X = getattr(sp, f"{fmt}_matrix")(dense)
    ours, theirs = fit_both(X, random_state=0, contamination=0.1)
    assert_same_forest(ours, theirs, sp.csr_matrix(dense))
    np.testing.assert_array_equal(ours.score_samples(dense), ours.score_samples(X))


@st.composite
def nasty_arrays(draw):
    n = draw(st.integers(1, 80))
    f = draw(st.integers(1, 4))
    values = st.sampled_from([0.0, 1.0, -1.0, 1.0 + 1e-12, 2.5, 1e30, -3.0, 1.0 + 2.0**-23])
    X = draw(hnp.arrays(np.float64, (n, f), elements=values | st.floats(-5, 5, width=32)))
    return X


@settings(max_examples=examples(40), suppress_health_check=[HealthCheck.too_slow])
@given(X=nasty_arrays(), seed=st.integers(0, 2**31 - 2),
       bootstrap=st.booleans(), max_features=st.sampled_from([1.0, 0.5, 1]))
def test_hypothesis_identical(X, seed, bootstrap, max_features):
    ours, theirs = fit_both(X, n_estimators=6, random_state=seed, bootstrap=bootstrap,
                            max_features=max_features, contamination=0.2)
    assert_same_forest(ours, theirs, np.r_[X, X[::-1] * 1.5])

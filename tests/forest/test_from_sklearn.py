"""IsolationForest.from_sklearn: scikit-learn's fitted trees, scored by isoforest."""

import numpy as np
import pytest

from isoforest import IsolationForest

SkIsolationForest = pytest.importorskip("sklearn.ensemble").IsolationForest


@pytest.mark.parametrize("params", [
    dict(), dict(max_features=0.6, contamination=0.1),
    dict(bootstrap=True, max_samples=0.5), dict(n_estimators=3, max_samples=10),
])
def test_from_sklearn_scores_identically(params):
    rng = np.random.RandomState(0)
    X = rng.randn(2000, 5)
    X[::7, 1] = np.nan
    sk = SkIsolationForest(random_state=1, **params).fit(X)
    ours = IsolationForest.from_sklearn(sk)
    X_test = np.r_[X, rng.randn(100, 5) * 4]
    for method in ("score_samples", "decision_function", "predict"):
        np.testing.assert_array_equal(getattr(ours, method)(X_test), getattr(sk, method)(X_test))
    assert ours.offset_ == sk.offset_
    assert ours.get_params() == {k: v for k, v in sk.get_params().items()
                                 if k in ours.get_params()}
    for a, b in zip(ours.estimators_, sk.estimators_):
        np.testing.assert_array_equal(a.tree_.threshold, b.tree_.threshold)


def test_from_sklearn_equals_our_own_fit():
    X = np.random.RandomState(2).randn(500, 3)
    sk = SkIsolationForest(random_state=5).fit(X)
    ours = IsolationForest(random_state=5).fit(X)
    wrapped = IsolationForest.from_sklearn(sk)
    for name, arr in ours.forest_.node_arrays().items():
        np.testing.assert_array_equal(getattr(wrapped.forest_, name), arr, err_msg=name)


def test_from_sklearn_keeps_feature_names():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(np.random.RandomState(3).randn(100, 2), columns=["a", "b"])
    wrapped = IsolationForest.from_sklearn(SkIsolationForest(random_state=0).fit(X))
    np.testing.assert_array_equal(wrapped.feature_names_in_, ["a", "b"])
    with pytest.raises(ValueError, match="feature names should match"):
        wrapped.score_samples(X.rename(columns={"a": "c"}))


def test_from_sklearn_refuses_unfitted():
    with pytest.raises(TypeError, match="fitted sklearn.ensemble.IsolationForest"):
        IsolationForest.from_sklearn(SkIsolationForest())

"""isoforest's Numba trees and scores against the naive twin ``reference/iforest_naive.py``.

The twin is plain Python written from Liu, Ting & Zhou (2008) and scikit-learn 1.9.1's
random streams (see ``shared/design/iforest-sklearn-parity.md``). Every comparison is
exact: the node arrays and the scores must agree bit for bit, |d| = 0. scikit-learn is
not needed here; the twin itself is what scikit-learn's trees are checked against.

The twin is slow, so data sets stay small (at most 300 rows) and forests have few trees.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from _fuzz import examples
from _scripts import run_pure_python

from isoforest import IsolationForest
from isoforest.forest._sampling import sample_without_replacement as kernel_swr
from reference.iforest_naive import (
    DBL_EPSILON,
    effective_max_samples,
    fit_forest,
    sample_without_replacement,
    score_samples,
)

# kernels index raw memory: `make test-boundscheck` runs these tests again with
# NUMBA_BOUNDSCHECK=1
pytestmark = pytest.mark.kernels

ROOT = Path(__file__).resolve().parents[2]

#: The arrays that define a tree, compared exactly.
NODE_KEYS = ("feature", "threshold", "children_left", "children_right", "n_node_samples")


# ----------------------------------------------------------------------- helpers
def assert_bitwise_equal(got, want, what):
    """Exact equality, down to the bits of every float (NaN and -0.0 included)."""
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if got.dtype.kind == "f" or want.dtype.kind == "f":
        g = got.astype(np.float64).view(np.uint64)
        w = want.astype(np.float64).view(np.uint64)
    else:
        g, w = got.astype(np.int64), want.astype(np.int64)
    diff = np.flatnonzero(g != w)
    assert diff.size == 0, (
        f"{what}: {diff.size} of {got.size} differ, first at {diff[0]}: "
        f"{got.flat[diff[0]]!r} != {want.flat[diff[0]]!r}"
    )


def assert_same_forest(model, trees):
    """isoforest's fitted trees equal the twin's, node for node."""
    estimators = model.estimators_
    assert len(estimators) == len(trees)
    for t, (est, features, ref) in enumerate(
        zip(estimators, model.estimators_features_, trees)
    ):
        assert_bitwise_equal(features, ref["features"], f"tree {t} features")
        assert est.random_state == ref["random_state"], f"tree {t} seed"
        assert est.max_depth == ref["max_depth"], f"tree {t} max_depth"
        tree = est.tree_
        for key in NODE_KEYS:
            assert_bitwise_equal(getattr(tree, key), ref[key], f"tree {t} {key}")
        # Also the bookkeeping that decides the leaf tests and where NaN go.
        assert_bitwise_equal(tree.weighted_n_node_samples, ref["weighted_n_node_samples"],
                             f"tree {t} weighted_n_node_samples")
        assert_bitwise_equal(tree.impurity, ref["impurity"], f"tree {t} impurity")
        split = ref["children_left"] != -1  # scikit-learn leaves it unset at leaves
        assert_bitwise_equal(np.asarray(tree.missing_go_to_left)[split],
                             ref["missing_go_to_left"][split],
                             f"tree {t} missing_go_to_left")


def score_rows(X):
    """Training rows plus unseen ones: far outliers, values between, and NaN."""
    X = np.asarray(X, dtype=np.float64)
    rng = np.random.RandomState(12345)
    extra = rng.normal(scale=3.0, size=(12, X.shape[1]))
    extra[0] = 1e6
    extra[1] = -1e6
    extra[2] = np.nan
    extra[3, 0] = np.nan
    return np.vstack([X, extra])


def check_parity(X, n_estimators=6, random_state=0, **params):
    """Fit both, compare every tree exactly, then every score exactly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. max_samples > n_samples
        model = IsolationForest(n_estimators=n_estimators, random_state=random_state,
                                **params).fit(X)
        trees = fit_forest(X, n_estimators=n_estimators, random_state=random_state,
                           **params)
    assert model.max_samples_ == effective_max_samples(
        params.get("max_samples", "auto"), np.asarray(X).shape[0])
    assert_same_forest(model, trees)
    Xs = score_rows(X)
    assert_bitwise_equal(model.score_samples(Xs),
                         score_samples(trees, Xs, model.max_samples_), "score_samples")
    return model, trees


def node_depths(tree):
    """Depth of each node, the root at 0."""
    depth = np.zeros(tree["children_left"].shape[0], dtype=np.int64)
    for node in range(depth.shape[0]):  # children always come after their parent
        if tree["children_left"][node] != -1:
            depth[tree["children_left"][node]] = depth[node] + 1
            depth[tree["children_right"][node]] = depth[node] + 1
    return depth


# ---------------------------------------------------------------------- data sets
def _normal():
    return np.random.RandomState(0).normal(size=(200, 4))


def _duplicates():
    rng = np.random.RandomState(1)
    base = rng.normal(size=(30, 3))
    return np.repeat(base, 5, axis=0)[rng.permutation(150)]


def _constant_columns():
    X = np.random.RandomState(2).normal(size=(120, 5))
    X[:, 1] = 3.0
    X[:, 3] = -1.0
    return X


def _ties():
    return np.random.RandomState(3).randint(0, 4, size=(150, 3)).astype(np.float64)


def _float32_collapse():
    # Column 0: 1.0 and 1.0 + 1e-12 are one float32 value. Column 1: 1.0 and
    # 1 + 2**-23 are distinct float32 values yet "constant" to the float32 test.
    rng = np.random.RandomState(4)
    X = np.ones((80, 3))
    X[rng.rand(80) < 0.5, 0] += 1e-12
    X[:, 1] = 1.0 + rng.randint(0, 2, size=80) * 2.0**-23
    X[:, 2] = rng.normal(size=80)
    return X


def _few_rows():
    return np.random.RandomState(5).normal(size=(17, 2))


def _one_row():
    return np.array([[0.5, -1.0, 2.0]])


def _two_rows():
    return np.array([[0.0, 1.0], [1.0, 1.0]])


def _nan():
    rng = np.random.RandomState(6)
    X = rng.normal(size=(100, 3))
    X[rng.rand(100, 3) < 0.2] = np.nan
    return X


def _nan_and_constant():
    # A column that is NaN or 1.0: not constant to scikit-learn (NaN present), so a
    # split can separate the NaN rows; and a column with NaN in a few rows only.
    rng = np.random.RandomState(7)
    X = rng.normal(size=(60, 2))
    X[:10, 0] = np.nan
    X[:, 1] = 1.0
    X[20:30, 1] = np.nan
    return X


def _infinite():
    X = np.random.RandomState(8).normal(size=(60, 2))
    X[:5, 0] = np.inf
    X[5:8, 1] = -np.inf
    return X


def _nan_and_infinite():
    # NaN and -inf in one column: max - min is inf, so the drawn threshold is NaN;
    # with the NaN rows sent left that is a valid split, and scikit-learn sends every
    # non-NaN value right at it (``x <= nan`` is false).
    rng = np.random.RandomState(12)
    X = rng.normal(size=(40, 2))
    X[rng.rand(40) < 0.25, 0] = np.nan
    X[rng.rand(40) < 0.15, 0] = -np.inf
    X[:3, 1] = np.inf
    X[3:6, 1] = np.nan
    return X


def _wide():
    return np.random.RandomState(9).normal(size=(90, 12))


def _large_values():
    # float64 values beyond float32's range become inf when cast, as in scikit-learn.
    X = np.random.RandomState(10).normal(size=(50, 2)) * 1e5
    X[:3, 1] = 1e39
    return X


DATASETS = {
    "normal": _normal,
    "duplicates": _duplicates,
    "constant_columns": _constant_columns,
    "ties": _ties,
    "float32_collapse": _float32_collapse,
    "few_rows": _few_rows,
    "one_row": _one_row,
    "two_rows": _two_rows,
    "nan": _nan,
    "nan_and_constant": _nan_and_constant,
    "infinite": _infinite,
    "nan_and_infinite": _nan_and_infinite,
    "wide": _wide,
    "large_values": _large_values,
}

PARAMS = {
    "default": {},
    "max_features_half": {"max_features": 0.5},
    "max_features_int": {"max_features": 2},
    "bootstrap": {"bootstrap": True},
    "max_samples_float": {"max_samples": 0.37},
    "max_samples_int_bootstrap": {"max_samples": 40, "bootstrap": True,
                                  "max_features": 0.7},
    "max_samples_too_many": {"max_samples": 1000},
    "max_features_0.99": {"max_features": 0.99},
}


@pytest.mark.parametrize("params_name", list(PARAMS))
@pytest.mark.parametrize("data_name", list(DATASETS))
def test_trees_and_scores_match_twin(data_name, params_name):
    X = DATASETS[data_name]()
    params = PARAMS[params_name]
    n, n_features = X.shape
    if isinstance(params.get("max_features"), int) and params["max_features"] > n_features:
        pytest.skip("max_features > n_features is an error")
    if isinstance(params.get("max_samples"), float) and int(params["max_samples"] * n) == 0:
        pytest.skip("no row would be drawn (an error)")
    for random_state in (0, 42):
        check_parity(X, n_estimators=5, random_state=random_state, **params)


def test_default_forest_of_256_rows():
    """More rows than max_samples='auto' draws: a permutation picks 256 of 300."""
    X = np.random.RandomState(11).standard_t(3, size=(300, 3))
    _, trees = check_parity(X, n_estimators=4, random_state=3)
    assert all(t["n_node_samples"][0] == 256 for t in trees)


def test_single_row_scores_minus_half():
    model, trees = check_parity(_one_row(), n_estimators=3)
    assert all(t["feature"].tolist() == [-2] for t in trees)
    assert np.all(model.score_samples(score_rows(_one_row())) == -0.5)


def test_impurity_leaf_test_fires_and_matches():
    """The dummy target decides some leaves; isoforest must decide them the same way.

    With ``random_state=2094`` the dummy targets of rows 74 and 137 differ by about
    1e-9. Making them an outlying duplicate pair puts them alone in a node early, where
    the node's impurity is <= DBL_EPSILON: scikit-learn makes it a leaf *without*
    drawing feature numbers, which changes every later draw of the tree.
    """
    X = np.random.RandomState(0).normal(size=(200, 2))
    X[137] = X[74] = (8.0, 8.0)
    y = np.random.RandomState(2094).uniform(size=200)
    assert abs(y[137] - y[74]) < 1e-8
    _, trees = check_parity(X, n_estimators=10, random_state=2094)
    fired = 0
    for tree in trees:
        leaf = tree["children_left"] == -1
        early = node_depths(tree) < tree["max_depth"]
        fired += np.sum(leaf & early & (tree["n_node_samples"] >= 2)
                        & (tree["impurity"] <= DBL_EPSILON))
    assert fired >= 1


@pytest.mark.parametrize("n_population", [1, 2, 5, 10, 99, 100, 101, 1000, 5000])
def test_sample_without_replacement_matches_twin(n_population):
    """The three branches (tracking selection, permutation, reservoir) draw alike."""
    for k in sorted({0, 1, n_population // 200, n_population // 100,
                     n_population // 100 + 1, n_population // 5,
                     (99 * n_population) // 100, n_population - 1, n_population}):
        if not 0 <= k <= n_population:
            continue
        for seed in (0, 1, 2**31 - 2):
            got = kernel_swr(n_population, k, np.random.RandomState(seed))
            want = sample_without_replacement(n_population, k, np.random.RandomState(seed))
            assert_bitwise_equal(got, want, f"sample_without_replacement({n_population}, {k})")


# --------------------------------------------------------------------- hypothesis
NASTY = [0.0, -0.0, 1.0, 1.0 + 1e-12, 1.0 + 2.0**-23, -1.0, 1e-30, 2.5, 3.0,
         1e30, -1e30, np.nan, np.inf, -np.inf]
values = st.one_of(
    st.sampled_from(NASTY),
    st.floats(min_value=-10.0, max_value=10.0, allow_nan=False, width=64),
    st.integers(min_value=-3, max_value=3).map(float),
)


@st.composite
def nasty_problems(draw):
    n = draw(st.integers(min_value=1, max_value=60))
    n_features = draw(st.integers(min_value=1, max_value=4))
    X = draw(arrays(np.float64, (n, n_features), elements=values))
    if draw(st.booleans()):  # duplicate some rows
        idx = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n))
        X = np.vstack([X, X[idx]])
        n = X.shape[0]
    params = {"bootstrap": draw(st.booleans())}
    max_samples = draw(st.one_of(
        st.just("auto"),
        st.integers(min_value=1, max_value=n + 5),
        st.floats(min_value=0.05, max_value=1.0).filter(lambda f: int(f * n) >= 1),
    ))
    params["max_samples"] = max_samples
    params["max_features"] = draw(st.one_of(
        st.just(1.0),
        st.integers(min_value=1, max_value=n_features),
        st.floats(min_value=0.01, max_value=1.0),
    ))
    random_state = draw(st.integers(min_value=0, max_value=2**31 - 2))
    return X, params, random_state


@settings(max_examples=examples(150), suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(nasty_problems())
def test_nasty_arrays_match_twin(problem):
    X, params, random_state = problem
    check_parity(X, n_estimators=4, random_state=random_state, **params)


# ------------------------------------------------------- pure-Python kernel path

JIT_DISABLED_CONFIGS = [
    {"n_estimators": 3, "random_state": 5},
    {"n_estimators": 3, "random_state": 6, "bootstrap": True, "max_features": 2,
     "max_samples": 0.8},
]


def test_pure_python_kernels_match_twin(tmp_path):
    """With NUMBA_DISABLE_JIT=1 the kernels run as plain Python: same trees, same scores."""
    rng = np.random.RandomState(13)
    X = rng.normal(size=(40, 3))
    X[:, 2] = 1.0
    X[::9, 0] = np.nan
    X[5] = X[6]
    X_score = score_rows(X)
    np.savez(tmp_path / "data.npz", X=X, X_score=X_score)
    run_pure_python("_pure_python_iforest.py", tmp_path / "data.npz", tmp_path / "out.npz",
                    json.dumps(JIT_DISABLED_CONFIGS))
    got = np.load(tmp_path / "out.npz")
    assert got["jit_disabled"] and got["no_dispatcher"]

    for c, params in enumerate(JIT_DISABLED_CONFIGS):
        trees = fit_forest(X, **params)
        for t, ref in enumerate(trees):
            assert_bitwise_equal(got[f"{c}/{t}/features"], ref["features"], "features")
            for key in NODE_KEYS + ("weighted_n_node_samples", "impurity"):
                assert_bitwise_equal(got[f"{c}/{t}/{key}"], ref[key], f"{c}/{t}/{key}")
            split = ref["children_left"] != -1
            assert_bitwise_equal(got[f"{c}/{t}/missing_go_to_left"][split],
                                 ref["missing_go_to_left"][split], "missing_go_to_left")
        assert_bitwise_equal(
            got[f"{c}/scores"],
            score_samples(trees, X_score, int(got[f"{c}/max_samples_"])),
            "score_samples",
        )

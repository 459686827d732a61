"""scikit-learn interoperability and input-handling parity for isoforest.

Every comparison here is against live ``sklearn.ensemble.IsolationForest``: the
same exception type and message for bad input, and bit-identical ``score_samples``
for odd-but-valid input.
"""

import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.ensemble import IsolationForest as SKIsolationForest  # noqa: E402

import isoforest  # noqa: E402
from isoforest import IsolationForest, NotFittedError  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTS = REPO_ROOT / "tests"

N_TREES = 10


# --------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X_train = rng.randn(300, 4) * 3
    X_test = rng.randn(60, 4) * 3
    return X_train, X_test


@pytest.fixture(scope="module")
def fitted(data):
    """The same forest from isoforest and scikit-learn (identical by design)."""
    X_train, _ = data
    ours = IsolationForest(n_estimators=N_TREES, random_state=0).fit(X_train)
    theirs = SKIsolationForest(n_estimators=N_TREES, random_state=0).fit(X_train)
    np.testing.assert_array_equal(ours.score_samples(X_train), theirs.score_samples(X_train))
    return ours, theirs


def _subprocess_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env


def _outcome(func):
    """('ok', result) or (exception class name, message, builtin bases)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ("ok", func())
    except Exception as exc:  # noqa: BLE001 - the point is to compare them
        bases = tuple(
            b.__name__ for b in (ValueError, TypeError, AttributeError) if isinstance(exc, b)
        )
        return (type(exc).__name__, str(exc), bases)


def _assert_same_error(ours, theirs):
    """Both raised, same class name, same builtin bases, same message."""
    assert theirs[0] != "ok", f"scikit-learn did not raise; test case is wrong: {theirs}"
    assert ours[0] != "ok", f"isoforest did not raise; scikit-learn raised {theirs}"
    assert ours == theirs


def _assert_same_outcome(ours, theirs):
    if theirs[0] == "ok" or ours[0] == "ok":
        assert ours[0] == theirs[0] == "ok", f"isoforest: {ours!r}\nscikit-learn: {theirs!r}"
        np.testing.assert_array_equal(ours[1], theirs[1])
    else:
        _assert_same_error(ours, theirs)


# ------------------------------------------------------------- clone & params
def test_clone_unfitted_equal_params(data):
    X_train, _ = data
    est = IsolationForest(n_estimators=7, max_samples=0.5, contamination=0.1,
                          max_features=2, bootstrap=True, random_state=3)
    est.fit(X_train)
    cloned = clone(est)
    assert cloned is not est
    assert type(cloned) is IsolationForest
    assert cloned.get_params() == est.get_params()
    for attr in ("offset_", "estimators_", "n_features_in_", "max_samples_"):
        assert not hasattr(cloned, attr)
    with pytest.raises(NotFittedError):
        cloned.predict(X_train)
    # Same parameters, same seed: the clone refits to the same forest.
    np.testing.assert_array_equal(
        cloned.fit(X_train).score_samples(X_train), est.score_samples(X_train)
    )


def test_clone_deep_copies_random_state():
    rs = np.random.RandomState(0)
    est = IsolationForest(random_state=rs)
    cloned = clone(est)
    assert cloned.random_state is not rs
    assert isinstance(cloned.random_state, np.random.RandomState)


def test_get_set_params_like_sklearn():
    assert IsolationForest().get_params() == SKIsolationForest().get_params()
    est = IsolationForest().set_params(n_estimators=3, contamination=0.2)
    assert est.n_estimators == 3 and est.contamination == 0.2
    ours = _outcome(lambda: IsolationForest().set_params(foo=1))
    theirs = _outcome(lambda: SKIsolationForest().set_params(foo=1))
    _assert_same_error(ours, theirs)


# ----------------------------------------------------------------- pipelines
def test_pipeline(data):
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_train, X_test = data
    pipe = Pipeline([("scale", StandardScaler()),
                     ("iforest", IsolationForest(n_estimators=N_TREES, random_state=0))])
    pipe.fit(X_train)
    ref = make_pipeline(StandardScaler(),
                        SKIsolationForest(n_estimators=N_TREES, random_state=0)).fit(X_train)
    for method in ("predict", "decision_function", "score_samples"):
        np.testing.assert_array_equal(getattr(pipe, method)(X_test),
                                      getattr(ref, method)(X_test))
    assert set(np.unique(pipe.predict(X_test))) <= {-1, 1}
    # Same as running the steps by hand.
    Z = StandardScaler().fit(X_train)
    manual = IsolationForest(n_estimators=N_TREES, random_state=0).fit(Z.transform(X_train))
    np.testing.assert_array_equal(pipe.decision_function(X_test),
                                  manual.decision_function(Z.transform(X_test)))
    np.testing.assert_array_equal(pipe.fit_predict(X_train), ref.fit_predict(X_train))


def _labelled(seed=0):
    rng = np.random.RandomState(seed)
    inliers = rng.randn(270, 2) * 0.5
    outliers = rng.uniform(-6, 6, size=(30, 2))
    X = np.vstack([inliers, outliers])
    y = np.r_[np.zeros(270), np.ones(30)]  # 1 = anomaly
    perm = rng.permutation(len(y))
    return X[perm], y[perm]


def _auc_scorer(estimator, X, y):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(y, -estimator.score_samples(X))


def test_grid_search_cv():
    from sklearn.model_selection import GridSearchCV, ParameterGrid, StratifiedKFold

    X, y = _labelled()
    grid = {"n_estimators": [5, 20], "max_samples": [64, "auto"]}
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    search = GridSearchCV(IsolationForest(random_state=0), grid, scoring=_auc_scorer, cv=cv)
    search.fit(X, y)
    ref = GridSearchCV(SKIsolationForest(random_state=0), grid, scoring=_auc_scorer, cv=cv)
    ref.fit(X, y)

    assert isinstance(search.best_estimator_, IsolationForest)
    assert search.best_params_ in list(ParameterGrid(grid))
    assert search.best_score_ > 0.9
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"],
                                  ref.cv_results_["mean_test_score"])
    assert search.best_params_ == ref.best_params_
    np.testing.assert_array_equal(search.predict(X), ref.predict(X))
    np.testing.assert_array_equal(search.score_samples(X), ref.score_samples(X))


def test_grid_search_string_scoring_with_make_scorer():
    from sklearn.metrics import make_scorer, roc_auc_score
    from sklearn.model_selection import GridSearchCV

    X, y = _labelled(1)
    scorer = make_scorer(roc_auc_score, response_method="decision_function")
    # decision_function is high for inliers: score against "is inlier" labels.
    y_inlier = 1 - y
    search = GridSearchCV(IsolationForest(random_state=0), {"n_estimators": [5, 10]},
                          scoring=scorer, cv=3).fit(X, y_inlier)
    ref = GridSearchCV(SKIsolationForest(random_state=0), {"n_estimators": [5, 10]},
                       scoring=scorer, cv=3).fit(X, y_inlier)
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"],
                                  ref.cv_results_["mean_test_score"])


def test_grid_search_process_workers():
    """Estimators travel to loky worker processes (pickled) and back."""
    from sklearn.model_selection import GridSearchCV

    X, y = _labelled(2)
    grid = {"n_estimators": [5, 10]}
    search = GridSearchCV(IsolationForest(random_state=0), grid, scoring=_auc_scorer,
                          cv=2, n_jobs=2).fit(X, y)
    serial = GridSearchCV(IsolationForest(random_state=0), grid, scoring=_auc_scorer,
                          cv=2, n_jobs=1).fit(X, y)
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])


def test_decision_boundary_display():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from sklearn.inspection import DecisionBoundaryDisplay

    X, _ = _labelled()
    ours = IsolationForest(n_estimators=N_TREES, random_state=0).fit(X)
    theirs = SKIsolationForest(n_estimators=N_TREES, random_state=0).fit(X)
    try:
        for response_method in ("decision_function", "predict"):
            disp = DecisionBoundaryDisplay.from_estimator(
                ours, X, response_method=response_method, grid_resolution=50, alpha=0.5
            )
            ref = DecisionBoundaryDisplay.from_estimator(
                theirs, X, response_method=response_method, grid_resolution=50
            )
            assert disp.response.shape == (50, 50)
            np.testing.assert_array_equal(disp.response, ref.response)
            disp.ax_.scatter(X[:, 0], X[:, 1], s=5)
    finally:
        plt.close("all")


# ------------------------------------------------------------------ pickling
def test_pickle_round_trip_identical_scores(data):
    X_train, X_test = data
    for params in ({}, {"contamination": 0.1, "bootstrap": True, "max_features": 0.5}):
        est = IsolationForest(n_estimators=N_TREES, random_state=0, **params).fit(X_train)
        loaded = pickle.loads(pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL))
        assert type(loaded) is IsolationForest
        assert loaded.get_params() == est.get_params()
        for method in ("score_samples", "decision_function", "predict"):
            np.testing.assert_array_equal(getattr(loaded, method)(X_test),
                                          getattr(est, method)(X_test))
        assert loaded.offset_ == est.offset_
        assert loaded.n_features_in_ == est.n_features_in_
        assert len(loaded.estimators_) == N_TREES
        for a, b in zip(loaded.estimators_samples_, est.estimators_samples_):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(loaded.apply(X_test), est.apply(X_test))


def test_pickle_unfitted():
    est = pickle.loads(pickle.dumps(IsolationForest(n_estimators=3, random_state=1)))
    assert est.get_params() == IsolationForest(n_estimators=3, random_state=1).get_params()
    with pytest.raises(NotFittedError):
        est.predict([[0.0]])


def test_pickle_load_in_fresh_process(tmp_path, data):
    X_train, X_test = data
    est = IsolationForest(n_estimators=N_TREES, random_state=0, contamination=0.05)
    est.fit(X_train)
    model_path = tmp_path / "model.pkl"
    with open(model_path, "wb") as f:
        pickle.dump(est, f)
    np.save(tmp_path / "X_test.npy", X_test)
    subprocess.run([sys.executable, str(TESTS / "_unpickle_and_score.py"), str(model_path),
                    str(tmp_path / "X_test.npy"), str(tmp_path / "scores.npy"),
                    str(tmp_path / "pred.npy")], check=True, env=_subprocess_env(),
                   timeout=600)
    np.testing.assert_array_equal(np.load(tmp_path / "scores.npy"), est.score_samples(X_test))
    np.testing.assert_array_equal(np.load(tmp_path / "pred.npy"), est.predict(X_test))


def test_joblib_mmap_loaded_model(tmp_path, data):
    """A model loaded by joblib with mmap_mode='r' holds read-only arrays: still scores."""
    joblib = pytest.importorskip("joblib")
    X_train, X_test = data
    est = IsolationForest(n_estimators=N_TREES, random_state=0).fit(X_train)
    joblib.dump(est, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib", mmap_mode="r")
    np.testing.assert_array_equal(loaded.score_samples(X_test), est.score_samples(X_test))


# ---------------------------------------------------- memory-mapped input
def test_read_only_memmap_input(tmp_path, fitted, data):
    ours, theirs = fitted
    X_train, X_test = data
    np.save(tmp_path / "X_test.npy", X_test)
    np.save(tmp_path / "X_train.npy", X_train)
    X_mm = np.load(tmp_path / "X_test.npy", mmap_mode="r")
    assert isinstance(X_mm, np.memmap) and not X_mm.flags.writeable
    np.testing.assert_array_equal(ours.score_samples(X_mm), ours.score_samples(X_test))
    np.testing.assert_array_equal(ours.score_samples(X_mm), theirs.score_samples(X_mm))
    # Fitting on a read-only memory map works too and gives the same forest.
    X_train_mm = np.load(tmp_path / "X_train.npy", mmap_mode="r")
    refit = IsolationForest(n_estimators=N_TREES, random_state=0).fit(X_train_mm)
    np.testing.assert_array_equal(refit.score_samples(X_mm), ours.score_samples(X_test))
    # A Fortran-ordered memmap of float32.
    np.save(tmp_path / "X32f.npy", np.asfortranarray(X_test.astype(np.float32)))
    X32 = np.load(tmp_path / "X32f.npy", mmap_mode="r")
    np.testing.assert_array_equal(ours.score_samples(X32), theirs.score_samples(X32))


# ------------------------------------------------------------------- pandas
def _warning_messages(func):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = func()
    return result, [(w.category.__name__, str(w.message)) for w in record]


def test_dataframe_sets_feature_names(data):
    pd = pytest.importorskip("pandas")
    X_train, X_test = data
    cols = ["a", "b", "c", "d"]
    df = pd.DataFrame(X_train, columns=cols)
    (est, ws) = _warning_messages(lambda: IsolationForest(n_estimators=N_TREES,
                                                          random_state=0).fit(df))
    assert ws == []
    ref = SKIsolationForest(n_estimators=N_TREES, random_state=0).fit(df)
    assert isinstance(est.feature_names_in_, np.ndarray)
    assert est.feature_names_in_.dtype == object
    np.testing.assert_array_equal(est.feature_names_in_, ref.feature_names_in_)
    assert est.n_features_in_ == 4
    df_test = pd.DataFrame(X_test, columns=cols)
    scores, ws = _warning_messages(lambda: est.score_samples(df_test))
    assert ws == []
    np.testing.assert_array_equal(scores, ref.score_samples(df_test))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no feature names
        np.testing.assert_array_equal(scores, est.score_samples(X_test))

    # Refitting on an array drops feature_names_in_, as scikit-learn does.
    est.fit(X_train)
    ref.fit(X_train)
    assert not hasattr(est, "feature_names_in_")
    assert not hasattr(ref, "feature_names_in_")

    # Non-string column names: no feature_names_in_.
    est.fit(pd.DataFrame(X_train))
    assert not hasattr(est, "feature_names_in_")


def test_dataframe_contamination_no_warning(data):
    """Non-regression for scikit-learn #25844 (offset_ computed from a frame)."""
    pd = pytest.importorskip("pandas")
    X_train, _ = data
    df = pd.DataFrame(X_train, columns=["a", "b", "c", "d"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        est = IsolationForest(n_estimators=N_TREES, random_state=0, contamination=0.05)
        est.fit(df)
    ref = SKIsolationForest(n_estimators=N_TREES, random_state=0, contamination=0.05).fit(df)
    assert est.offset_ == ref.offset_


def _frame_cases(pd, X_train, X_test):
    cols = ["a", "b", "c", "d"]
    df_train = pd.DataFrame(X_train, columns=cols)
    df_test = pd.DataFrame(X_test, columns=cols)
    many_train = pd.DataFrame(np.tile(X_train, 2), columns=list("abcdefgh"))
    many_test = pd.DataFrame(np.tile(X_test, 2), columns=list("stuvwxyz"))
    return {
        "frame->array": (df_train, X_test),
        "array->frame": (X_train, df_test),
        "renamed": (df_train, df_test.rename(columns={"a": "z"})),
        "reordered": (df_train, df_test[["d", "a", "b", "c"]]),
        "extra column": (df_train, df_test.assign(e=1.0)),
        "missing column": (df_train, df_test[["a", "b", "c"]]),
        "many unseen": (many_train, many_test),
        "int names->str names": (pd.DataFrame(X_train), df_test),
        "str names->int names": (df_train, pd.DataFrame(X_test)),
        "series": (df_train, df_test["a"]),
    }


@pytest.mark.parametrize(
    "case",
    ["frame->array", "array->frame", "renamed", "reordered", "extra column",
     "missing column", "many unseen", "int names->str names", "str names->int names",
     "series"],
)
@pytest.mark.parametrize("method", ["score_samples", "predict", "decision_function"])
def test_dataframe_name_mismatch_like_sklearn(case, method, data):
    pd = pytest.importorskip("pandas")
    X_train, X_test = data
    fit_X, score_X = _frame_cases(pd, X_train, X_test)[case]

    def run(cls):
        est = cls(n_estimators=N_TREES, random_state=0).fit(fit_X)

        def call():
            return getattr(est, method)(score_X)

        try:
            return ("ok",) + _warning_messages(call)
        except Exception as exc:  # noqa: BLE001
            return (type(exc).__name__, str(exc))

    ours, theirs = run(IsolationForest), run(SKIsolationForest)
    if theirs[0] == "ok":
        assert ours[0] == "ok", ours
        np.testing.assert_array_equal(ours[1], theirs[1])
        assert ours[2] == theirs[2]  # same warnings, same words
    else:
        assert ours == theirs


def test_dataframe_mixed_column_name_types(data):
    pd = pytest.importorskip("pandas")
    X_train, _ = data
    df = pd.DataFrame(X_train, columns=["a", 1, "c", "d"])
    ours = _outcome(lambda: IsolationForest(n_estimators=3).fit(df))
    theirs = _outcome(lambda: SKIsolationForest(n_estimators=3).fit(df))
    _assert_same_error(ours, theirs)


@pytest.mark.parametrize("kind", ["mixed int/float", "float32", "bool", "nullable Int64",
                                  "nullable Float64", "category", "string column",
                                  "numeric string column"])
def test_dataframe_dtypes_like_sklearn(kind):
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    base = rng.randn(60, 3)
    df = pd.DataFrame(base, columns=["a", "b", "c"])
    if kind == "mixed int/float":
        df = df.assign(c=(df.c * 10).astype(int))
    elif kind == "float32":
        df = df.astype(np.float32)
    elif kind == "bool":
        df = df > 0
    elif kind == "nullable Int64":
        df = df.assign(a=pd.array([1, 2, None] * 20, dtype="Int64"))
    elif kind == "nullable Float64":
        df = df.assign(a=pd.array([1.5, None, -2.5] * 20, dtype="Float64"))
    elif kind == "category":
        df = df.assign(a=pd.Categorical([1.0, 2.0, 3.0] * 20))
    elif kind == "string column":
        df = df.assign(a=["x", "y", "z"] * 20)
    elif kind == "numeric string column":
        df = df.assign(a=["1.5", "2", "-3"] * 20)

    def run(cls):
        est = cls(n_estimators=N_TREES, random_state=0).fit(df)
        return est.score_samples(df)

    _assert_same_outcome(_outcome(lambda: run(IsolationForest)),
                         _outcome(lambda: run(SKIsolationForest)))


# ------------------------------------------------------------ import weight
_HEAVY = ("sklearn", "scipy", "pandas", "pika", "prometheus_client")

def _run_script(mode):
    proc = subprocess.run([sys.executable, str(TESTS / "_import_weight.py"), mode, *_HEAVY],
                          env=_subprocess_env(), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_import_adds_no_sklearn_scipy_pandas():
    """``import isoforest`` plus fit and score loads none of the heavy packages.

    Numba itself imports SciPy when it is installed (``numba/__init__.py``,
    ``_ensure_critical_deps``, and ``scipy.linalg`` on the first compilation), so the
    baseline is taken after importing Numba and compiling one function: isoforest
    must add nothing to it, and scikit-learn and pandas must never be there.
    """
    assert _run_script("added").strip().endswith("ok")


def test_works_with_sklearn_scipy_pandas_unimportable():
    """With scikit-learn, SciPy and pandas made unimportable, isoforest imports, fits
    and scores, and never even tries to import them (attempts made by Numba, which
    probes for SciPy, are allowed)."""
    assert _run_script("blocked").strip().endswith("ok")


def test_no_private_numpy_module_is_imported():
    """isoforest reads NumPy through its public names only: private modules
    (``numpy.lib._function_base_impl`` and the like) are renamed between the NumPy
    releases that pyproject.toml allows (1.24 on), so importing one breaks the
    package on some of them."""
    import ast

    found = []
    for path in sorted((REPO_ROOT / "isoforest").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "numpy" and any(p.startswith("_") for p in parts[1:]):
                    found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} {name}")
    assert not found, found


# ----------------------------------------------------- bad input: same errors
#: Malformed X. Most are refused; a few (numeric strings, bytes, object arrays
#: holding None, datetimes) are converted by scikit-learn's ``check_array`` and must
#: then be accepted with the same scores. Either way isoforest must do what
#: scikit-learn does: same exception class, bases and message, or same scores.
UNUSUAL_X = {
    "empty rows": lambda: np.empty((0, 3)),
    "no features": lambda: np.empty((5, 0)),
    "empty list": lambda: [],
    "list of empty list": lambda: [[]],
    "1-D": lambda: np.arange(5.0),
    "1-D list": lambda: [1.0, 2.0, 3.0],
    "3-D": lambda: np.ones((2, 2, 2)),
    "3-D list": lambda: [[[1.0]], [[2.0]]],
    "scalar": lambda: np.float64(3.0),
    "None": lambda: None,
    "string list": lambda: [["a", "b"], ["c", "d"]],
    "string array": lambda: np.array([["a", "b"], ["c", "d"]]),
    "numeric strings": lambda: np.array([["1", "2"], ["3", "4"]]),
    "bytes": lambda: np.array([[b"1", b"2"]]),
    "object with str": lambda: np.array([[1, "a"], [2, "b"]], dtype=object),
    "object with None": lambda: np.array([[None, 1.0], [2.0, 3.0]], dtype=object),
    "complex array": lambda: np.array([[1 + 1j, 2], [3, 4]]),
    "complex list": lambda: [[1 + 1j, 2], [3, 4]],
    "complex zero imag": lambda: np.array([[1 + 0j, 2], [3, 4]]),
    "ragged": lambda: [[1, 2], [3]],
    "datetime": lambda: np.array([["2020-01-01"]], dtype="datetime64[D]"),
}


def _fit_and_score(cls, X):
    est = cls(n_estimators=3, random_state=0).fit(X)
    return est.score_samples(X)


@pytest.mark.parametrize("case", list(UNUSUAL_X))
def test_unusual_X_fit_like_sklearn(case):
    X = UNUSUAL_X[case]
    _assert_same_outcome(_outcome(lambda: _fit_and_score(IsolationForest, X())),
                         _outcome(lambda: _fit_and_score(SKIsolationForest, X())))


@pytest.mark.parametrize("case", list(UNUSUAL_X))
@pytest.mark.parametrize("method", ["score_samples", "predict", "decision_function"])
def test_unusual_X_scoring_like_sklearn(case, method):
    X = UNUSUAL_X[case]
    try:
        shape = np.shape(X())
    except ValueError:  # ragged
        shape = ()
    n_features = shape[1] if len(shape) == 2 and shape[1] else 2
    X_fit = np.random.RandomState(0).randn(20, n_features)
    ours = IsolationForest(n_estimators=3, random_state=0).fit(X_fit)
    theirs = SKIsolationForest(n_estimators=3, random_state=0).fit(X_fit)
    _assert_same_outcome(_outcome(lambda: getattr(ours, method)(X())),
                         _outcome(lambda: getattr(theirs, method)(X())))


def test_sparse_complex_same_error_type():
    sp = pytest.importorskip("scipy.sparse")
    X = sp.csr_matrix(np.array([[1 + 1j, 0], [0, 2]]))
    ours = _outcome(lambda: IsolationForest(n_estimators=3).fit(X))
    theirs = _outcome(lambda: SKIsolationForest(n_estimators=3).fit(X))
    # scikit-learn prints the sparse matrix in its message; compare type and lead.
    assert ours[0] == theirs[0] and ours[2] == theirs[2]
    assert ours[1].startswith("Complex data not supported")


@pytest.mark.parametrize("n_features", [1, 3, 5])
@pytest.mark.parametrize("method", ["score_samples", "predict", "decision_function"])
@pytest.mark.parametrize("container", ["array", "csr", "list"])
def test_wrong_n_features_same_error(n_features, method, container, fitted):
    ours, theirs = fitted
    X = np.random.RandomState(1).randn(7, n_features)
    if container == "csr":
        X = pytest.importorskip("scipy.sparse").csr_matrix(X)
    elif container == "list":
        X = X.tolist()
    _assert_same_error(_outcome(lambda: getattr(ours, method)(X)),
                       _outcome(lambda: getattr(theirs, method)(X)))


@pytest.mark.parametrize("method", ["score_samples", "predict", "decision_function"])
def test_not_fitted_error(method):
    X = np.ones((3, 2))
    with pytest.raises(NotFittedError) as exc_info:
        getattr(IsolationForest(), method)(X)
    exc = exc_info.value
    assert isinstance(exc, ValueError)
    assert isinstance(exc, AttributeError)
    assert isinstance(exc, isoforest.NotFittedError)
    _assert_same_error(_outcome(lambda: getattr(IsolationForest(), method)(X)),
                       _outcome(lambda: getattr(SKIsolationForest(), method)(X)))


@pytest.mark.parametrize("method", ["score_samples", "predict", "decision_function"])
def test_not_fitted_error_is_sklearns(method):
    """``except sklearn.exceptions.NotFittedError`` must catch isoforest's error.

    scikit-learn's own ``check_estimators_unfitted`` and user code written for
    scikit-learn rely on it.
    """
    from sklearn.exceptions import NotFittedError as SKNotFittedError

    with pytest.raises(SKNotFittedError):
        getattr(IsolationForest(), method)(np.ones((3, 2)))


def test_not_fitted_error_pickles():
    with pytest.raises(NotFittedError) as exc_info:
        IsolationForest().predict(np.ones((2, 2)))
    loaded = pickle.loads(pickle.dumps(exc_info.value))
    assert isinstance(loaded, NotFittedError)
    assert str(loaded) == str(exc_info.value)


def test_clean_input_raises_no_warnings(data):
    X_train, X_test = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for contamination in ("auto", 0.1):
            est = IsolationForest(n_estimators=N_TREES, random_state=0,
                                  contamination=contamination).fit(X_train)
            est.score_samples(X_test)
            est.predict(X_test)
            est.decision_function(X_test.astype(np.float32))
            est.fit_predict(X_train)


@pytest.mark.parametrize("attr", ["offset_", "estimators_", "estimators_features_",
                                  "estimators_samples_", "max_samples_", "n_features_in_"])
def test_fitted_attributes_absent_before_fit(attr):
    assert hasattr(SKIsolationForest(), attr) is False
    assert hasattr(IsolationForest(), attr) is False


# --------------------------------------------------- parameter validation
_BAD = type("BadType", (), {"__repr__": lambda self: "BadType()"})()

#: Values scikit-learn rejects (InvalidParameterError or a ValueError at fit).
INVALID_PARAMS = {
    "n_estimators": [0, -1, 1.5, 1.0, "10", None, False, np.int64(0), np.float64(2.0), _BAD],
    "max_samples": [0, -1, 0.0, 1.5, -0.5, "foo", "AUTO", None, False, np.int64(0),
                    np.nan, float("inf"), np.float32(0.5), _BAD],
    "contamination": [0.0, 0.6, -0.1, 1, True, False, "foo", "AUTO", None, np.nan,
                      np.float64(0.75), _BAD],
    "max_features": [5, 1.5, 0.0, "foo", None, np.nan, np.float64(1.5), _BAD],
    "bootstrap": ["yes", 1, 0, None, _BAD],
    "n_jobs": [1.5, "2", 0, _BAD],
    "random_state": [-1, 2**32, 1.5, "x", np.random.default_rng(0), _BAD],
    "verbose": [-1, 1.5, "x", None, _BAD],
    "warm_start": ["x", 1, None, _BAD],
}


def _sklearn_generated_invalid_params():
    """Invalid values generated from scikit-learn's own constraints (private API)."""
    try:
        from sklearn.utils._param_validation import (
            generate_invalid_param_val,
            make_constraint,
        )
    except ImportError:  # pragma: no cover - private API moved
        return []
    out = []
    for name, constraints in SKIsolationForest._parameter_constraints.items():
        for c in constraints:
            try:
                out.append((name, generate_invalid_param_val(make_constraint(c))))
            except NotImplementedError:
                pass
    return out


INVALID_CASES = [(name, v) for name, values in INVALID_PARAMS.items() for v in values]
INVALID_CASES += _sklearn_generated_invalid_params()


@pytest.mark.parametrize(
    "name, value", INVALID_CASES, ids=[f"{n}={v!r}" for n, v in INVALID_CASES]
)
@pytest.mark.parametrize("method", ["fit", "fit_predict"])
def test_invalid_param_same_error_as_sklearn(name, value, method):
    X = np.random.RandomState(0).randn(30, 3)
    params = {name: value}
    if name != "n_estimators":
        params["n_estimators"] = 3

    def run(cls):
        return getattr(cls(**params), method)(X)

    _assert_same_error(_outcome(lambda: run(IsolationForest)),
                       _outcome(lambda: run(SKIsolationForest)))


#: Unusual values scikit-learn accepts: isoforest must accept them and build the
#: same forest.
VALID_ODD_PARAMS = [
    ("n_estimators", True),
    ("n_estimators", np.int64(3)),
    ("max_samples", True),
    ("max_samples", np.int64(5)),
    ("max_samples", 1.0),
    ("max_samples", np.float64(0.5)),
    ("max_samples", 1000),  # warns, capped at n_samples
    ("contamination", 0.5),
    ("contamination", np.float32(0.1)),
    ("max_features", True),
    ("max_features", np.int64(2)),
    ("max_features", 0),
    ("max_features", -1),
    ("max_features", 0.01),
    ("max_features", 1),
    ("bootstrap", np.bool_(True)),
    ("n_jobs", -1),
    ("n_jobs", np.int64(2)),
    ("random_state", True),
    ("random_state", np.int64(3)),
    ("random_state", 2**32 - 1),
    ("verbose", True),
    ("verbose", np.int64(0)),
    ("warm_start", np.bool_(False)),
]


@pytest.mark.parametrize(
    "name, value", VALID_ODD_PARAMS, ids=[f"{n}={v!r}" for n, v in VALID_ODD_PARAMS]
)
def test_odd_valid_param_like_sklearn(name, value):
    X = np.random.RandomState(0).randn(30, 3)
    params = {"n_estimators": 3, "random_state": 0, name: value}

    def run(cls):
        return cls(**params).fit(X).score_samples(X)

    _assert_same_outcome(_outcome(lambda: run(IsolationForest)),
                         _outcome(lambda: run(SKIsolationForest)))


def test_max_samples_warning_like_sklearn():
    X = np.random.RandomState(0).randn(30, 3)
    _, ours = _warning_messages(lambda: IsolationForest(n_estimators=3, max_samples=100).fit(X))
    _, theirs = _warning_messages(
        lambda: SKIsolationForest(n_estimators=3, max_samples=100).fit(X)
    )
    assert ours == theirs


SAMPLE_WEIGHTS = {
    "all zero": lambda n: np.zeros(n),
    "too short": lambda n: np.ones(n - 1),
    "2-D": lambda n: np.ones((n, 1)),
    "nan": lambda n: np.full(n, np.nan),
    "inf": lambda n: np.full(n, np.inf),
    "string": lambda n: "abc",
    "complex": lambda n: np.ones(n, dtype=complex),
    "strings array": lambda n: np.array(["a"] * n),
}


@pytest.mark.parametrize("case", list(SAMPLE_WEIGHTS))
def test_bad_sample_weight_same_error(case):
    X = np.random.RandomState(0).randn(30, 3)
    sw = SAMPLE_WEIGHTS[case](30)
    _assert_same_error(
        _outcome(lambda: IsolationForest(n_estimators=3).fit(X, sample_weight=sw)),
        _outcome(lambda: SKIsolationForest(n_estimators=3).fit(X, sample_weight=sw)),
    )


# --------------------------------------------- odd but valid input: same scores
def _big_values(X):
    X = X.copy()
    X[0] = 1e308
    X[1] = -1e308
    X[2, 0] = np.finfo(np.float64).max
    X[3, 0] = 3.4028235e38  # float32 max
    X[4, 0] = 3.4028236e38  # rounds to float32 max
    X[5, 0] = -3.40282357e38  # rounds past float32 max: -inf
    X[6, 1] = 1e-40  # float32 subnormal
    X[7, 1] = 5e-324  # float64 subnormal, float32 zero
    return X


def _with_inf(X):
    X = X.copy()
    X[0, 0] = np.inf
    X[1, 1] = -np.inf
    X[2] = np.inf
    X[3] = -np.inf
    return X


ODD_INPUTS = {
    "float16": lambda X: X.astype(np.float16),
    "float32": lambda X: X.astype(np.float32),
    "int64": lambda X: np.round(X * 10).astype(np.int64),
    "int8": lambda X: np.clip(np.round(X * 10), -128, 127).astype(np.int8),
    "uint8": lambda X: np.clip(np.round(X * 10 + 50), 0, 255).astype(np.uint8),
    "large int64": lambda X: (np.round(X * 1e6).astype(np.int64) + 2**53 + 1),
    "bool": lambda X: X > 0,
    "longdouble": lambda X: X.astype(np.longdouble),
    "list": lambda X: X.tolist(),
    "fortran": np.asfortranarray,
    "fortran float32": lambda X: np.asfortranarray(X.astype(np.float32)),
    "strided": lambda X: np.repeat(np.repeat(X, 2, axis=0), 2, axis=1)[::2, ::2],
    "strided float32": lambda X: np.repeat(X.astype(np.float32), 2, axis=1)[:, ::2],
    "negative strides": lambda X: X[::-1, ::-1][::-1, ::-1][::-1],
    "read-only": lambda X: _read_only(X),
    "one row": lambda X: X[:1],
    "identical rows": lambda X: np.repeat(X[:1], 25, axis=0),
    "inf": _with_inf,
    "near 1e308": _big_values,
}


def _read_only(X):
    X = X.copy()
    X.flags.writeable = False
    return X


def _as_float32(X):
    with np.errstate(over="ignore"):
        return np.asarray(X, dtype=np.float32) if not isinstance(X, list) else np.array(
            X, dtype=np.float32
        )


@pytest.mark.parametrize("case", list(ODD_INPUTS))
def test_odd_input_scores_like_float32_and_sklearn(case, fitted, data):
    ours, theirs = fitted
    _, X_test = data
    X = ODD_INPUTS[case](X_test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow in float32 casts
        got = ours.score_samples(X)
        expected_cast = ours.score_samples(_as_float32(X))
        expected_sklearn = theirs.score_samples(X)
        pred, pred_sklearn = ours.predict(X), theirs.predict(X)
        dec, dec_sklearn = ours.decision_function(X), theirs.decision_function(X)
    assert got.dtype == np.float64
    assert got.shape == (np.shape(X)[0],)
    np.testing.assert_array_equal(got, expected_cast)
    np.testing.assert_array_equal(got, expected_sklearn)
    np.testing.assert_array_equal(pred, pred_sklearn)
    np.testing.assert_array_equal(dec, dec_sklearn)


@pytest.mark.parametrize("case", list(ODD_INPUTS))
@pytest.mark.parametrize("contamination", ["auto", 0.1])
def test_odd_input_fit_like_float32_and_sklearn(case, contamination, data):
    X_train, _ = data
    X = ODD_INPUTS[case](X_train)
    params = dict(n_estimators=N_TREES, random_state=0, contamination=contamination)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ours = IsolationForest(**params).fit(X)
        cast = IsolationForest(**params).fit(_as_float32(X))
        theirs = SKIsolationForest(**params).fit(X)
        got = ours.score_samples(X)
        np.testing.assert_array_equal(got, cast.score_samples(_as_float32(X)))
        np.testing.assert_array_equal(got, theirs.score_samples(X))
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.offset_ == theirs.offset_
    assert ours.max_samples_ == theirs.max_samples_


def test_input_not_modified(fitted, data):
    ours, _ = fitted
    _, X_test = data
    for X in (X_test.copy(), np.asfortranarray(X_test), X_test.astype(np.float32),
              np.round(X_test).astype(np.int64)):
        before = X.copy()
        ours.score_samples(X)
        IsolationForest(n_estimators=3, random_state=0).fit(X)
        np.testing.assert_array_equal(X, before)


@pytest.mark.xfail(
    strict=True,
    reason="known difference (reported): scikit-learn's sparse code paths route NaN "
    "differently from its dense ones; isoforest always uses the dense rules",
)
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_nan_like_sklearn(fmt):
    """scikit-learn's sparse splitter and sparse ``apply`` ignore missing-value
    routing (NaN always goes right), so sparse input holding NaN scores differently
    from the same data dense. isoforest densifies sparse input and uses the dense
    NaN rules, so it matches scikit-learn's dense result, not its sparse one.
    """
    sp = pytest.importorskip("scipy.sparse")
    rng = np.random.RandomState(0)
    X = rng.randn(200, 3)
    X[X > 1.5] = np.nan
    Xs = getattr(sp, f"{fmt}_matrix")(X)
    ours = IsolationForest(n_estimators=N_TREES, random_state=0).fit(Xs)
    theirs = SKIsolationForest(n_estimators=N_TREES, random_state=0).fit(Xs)
    np.testing.assert_array_equal(ours.score_samples(Xs), theirs.score_samples(Xs))

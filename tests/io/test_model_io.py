"""Saving and loading models (``isoforest.save_model`` / ``load_model``).

Round trips must give identical scores; the file holds NumPy arrays plus JSON and
nothing to unpickle; every tampered or truncated file is refused with
``ModelFileError``, and nothing a file says can make a kernel read out of bounds
(checked for every model kind by the seeded fuzz of ``test_model_fuzz.py``).

Tests marked ``xfail(strict=True)`` document bugs found while writing this file:
each reason starts with ``BUG:``. Once a bug is fixed the test passes, pytest
reports it as XPASS(strict) and the marker must be removed.
"""

import io
import json
import warnings
import zipfile

import numpy as np
import pytest

import isoforest
from isoforest import IsolationForest, ModelFileError, ZScoreDetector, load_model, save_model
from _model_parts import read_parts, write_parts

# kernels index raw memory: `make test-boundscheck` runs these tests again with
# NUMBA_BOUNDSCHECK=1
pytestmark = pytest.mark.kernels

try:
    import pandas as pd
except ImportError:  # only the feature-name tests need it
    pd = None

needs_pandas = pytest.mark.skipif(pd is None, reason="needs pandas")

RNG = np.random.RandomState(0)
X_TRAIN = RNG.randn(300, 4)
X_TEST = np.vstack([RNG.randn(60, 4) * 2.0, [[8.0, -8.0, 8.0, 0.0]]])


def X_with_nan(X, every=7, col=1):
    X = X.copy()
    X[::every, col] = np.nan
    return X


def round_trip(model, tmp_path, name="model.npz", **kwargs):
    path = tmp_path / name
    save_model(model, path, **kwargs)
    return load_model(path)


def assert_same_predictions(a, b, X):
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.offset_ == b.offset_
    assert a.n_features_in_ == b.n_features_in_


# ------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("params", [
    {},
    {"n_estimators": 7, "max_samples": 50, "random_state": 3},
    {"n_estimators": 9, "max_samples": 0.5, "max_features": 0.5, "random_state": 1},
    {"n_estimators": 5, "max_features": 3, "bootstrap": True, "random_state": 2},
    {"n_estimators": 6, "contamination": 0.1, "random_state": 4},
    {"n_estimators": 4, "max_samples": 300, "random_state": 5},  # trees too deep for
    # the complete layout: scoring takes the node-walking kernel
    {"n_estimators": 5, "max_samples": 1, "random_state": 6},  # single-node trees
])
def test_iforest_round_trip(tmp_path, params):
    model = IsolationForest(**params).fit(X_TRAIN)
    loaded = round_trip(model, tmp_path)
    assert type(loaded) is IsolationForest
    assert loaded.get_params() == model.get_params()
    assert_same_predictions(model, loaded, X_TEST)
    assert_same_predictions(model, loaded, X_with_nan(X_TEST))
    assert loaded.max_samples_ == model.max_samples_
    f, g = model.forest_, loaded.forest_
    for name in ("tree_offsets", "features", "feature", "threshold", "children_left",
                 "children_right", "n_node_samples", "missing_go_to_left"):
        np.testing.assert_array_equal(getattr(f, name), getattr(g, name))
    assert [e.random_state for e in loaded.estimators_] == [
        e.random_state for e in model.estimators_]
    np.testing.assert_array_equal(loaded.apply(X_TEST), model.apply(X_TEST))
    assert not hasattr(loaded, "feature_names_in_")


def test_iforest_round_trip_nan_trained(tmp_path):
    X = X_with_nan(X_TRAIN, every=5, col=2)
    X[::11, 0] = np.nan
    model = IsolationForest(n_estimators=20, random_state=0).fit(X)
    assert model.forest_.missing_go_to_left.any()  # NaN routing is in the file
    loaded = round_trip(model, tmp_path)
    assert_same_predictions(model, loaded, X_with_nan(X_TEST, every=3, col=2))
    assert_same_predictions(model, loaded, X)


def test_iforest_round_trip_from_sklearn(tmp_path):
    sklearn_ensemble = pytest.importorskip("sklearn.ensemble")
    sk = sklearn_ensemble.IsolationForest(n_estimators=10, random_state=0).fit(X_TRAIN)
    model = IsolationForest.from_sklearn(sk)
    loaded = round_trip(model, tmp_path)
    np.testing.assert_array_equal(loaded.score_samples(X_TEST), sk.score_samples(X_TEST))
    np.testing.assert_array_equal(loaded.predict(X_TEST), sk.predict(X_TEST))


@needs_pandas
def test_iforest_round_trip_feature_names(tmp_path):
    df = pd.DataFrame(X_TRAIN, columns=["w", "x", "y", "z"])
    model = IsolationForest(n_estimators=10, random_state=0).fit(df)
    loaded = round_trip(model, tmp_path)
    np.testing.assert_array_equal(loaded.feature_names_in_, model.feature_names_in_)
    assert loaded.feature_names_in_.dtype == object
    df_test = pd.DataFrame(X_TEST, columns=df.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # named columns: no warning
        assert_same_predictions(model, loaded, df_test)
    with pytest.raises(ValueError, match="feature names"):
        loaded.score_samples(df_test[["x", "w", "y", "z"]])
    with pytest.warns(UserWarning, match="feature names"):
        loaded.score_samples(X_TEST)


def test_iforest_loaded_model_can_warm_start(tmp_path):
    model = IsolationForest(n_estimators=5, random_state=0).fit(X_TRAIN)
    loaded = round_trip(model, tmp_path)
    loaded.set_params(warm_start=True, n_estimators=8).fit(X_TRAIN)
    model.set_params(warm_start=True, n_estimators=8).fit(X_TRAIN)
    assert_same_predictions(model, loaded, X_TEST)


def test_iforest_round_trip_estimators_samples(tmp_path):
    model = IsolationForest(n_estimators=5, random_state=0).fit(X_TRAIN)
    loaded = round_trip(model, tmp_path)
    for a, b in zip(model.estimators_samples_, loaded.estimators_samples_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("params", [
    {},
    {"method": "robust"},
    {"threshold": 2.0, "ddof": 1},
    {"method": "robust", "contamination": 0.05},
    {"contamination": 0.1},
])
def test_zscore_round_trip(tmp_path, params):
    X = X_TRAIN.copy()
    X[:, 3] = 1.5  # a constant column: zero scale
    model = ZScoreDetector(**params).fit(X)
    loaded = round_trip(model, tmp_path)
    assert type(loaded) is ZScoreDetector
    assert loaded.get_params() == model.get_params()
    Xt = X_TEST.copy()
    Xt[::2, 3] = 1.5
    assert_same_predictions(model, loaded, Xt)
    np.testing.assert_array_equal(loaded.zscores(Xt), model.zscores(Xt))
    assert loaded.threshold_ == model.threshold_
    assert loaded.n_samples_seen_ == model.n_samples_seen_


def test_zscore_round_trip_partial_fit_continues(tmp_path):
    model = ZScoreDetector().fit(X_TRAIN[:100])
    loaded = round_trip(model, tmp_path)
    model.partial_fit(X_TRAIN[100:])
    loaded.partial_fit(X_TRAIN[100:])
    for name in ("mean_", "var_", "center_", "scale_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    assert_same_predictions(model, loaded, X_TEST)


@needs_pandas
def test_zscore_round_trip_feature_names(tmp_path):
    df = pd.DataFrame(X_TRAIN, columns=["w", "x", "y", "z"])
    model = ZScoreDetector().fit(df)
    loaded = round_trip(model, tmp_path)
    assert list(loaded.feature_names_in_) == ["w", "x", "y", "z"]
    assert_same_predictions(model, loaded, pd.DataFrame(X_TEST, columns=df.columns))


def test_extra_round_trip_and_exact_path(tmp_path):
    model = ZScoreDetector().fit(X_TRAIN)
    extra = {"columns": ["a", "b", "c", "d"], "center": None, "nested": {"k": [1, 2.5]}}
    path = tmp_path / "model.bin"  # no .npz suffix is added
    isoforest.save_model(model, path, extra=extra)
    assert path.exists() and not (tmp_path / "model.bin.npz").exists()
    loaded, got = isoforest.load_model(str(path), return_extra=True)
    assert got == extra
    assert_same_predictions(model, loaded, X_TEST)
    assert isoforest.load_model(path, return_extra=True)[1] == extra


def test_save_refuses_other_estimators(tmp_path):
    with pytest.raises(TypeError):
        save_model(object(), tmp_path / "x.npz")


def test_load_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.npz")


# ------------------------------------------------------------------------ no pickle


@pytest.mark.parametrize("kind", ["iforest", "zscore"])
def test_file_is_arrays_and_json_without_pickle(tmp_path, kind):
    model = (IsolationForest(n_estimators=5, random_state=0) if kind == "iforest"
             else ZScoreDetector()).fit(X_TRAIN)
    path = tmp_path / "m.npz"
    save_model(model, path, extra={"columns": list("abcd")})
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert all(n.endswith(".npy") for n in names)
        for n in names:  # every entry is a plain .npy with a non-object dtype
            raw = zf.read(n)
            assert raw.startswith(b"\x93NUMPY")
            arr = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
            assert arr.dtype != object
    entries, meta = read_parts(path)
    assert meta["format"] == "isoforest-model"
    assert meta["estimator"] == type(model).__name__
    assert sorted(meta["arrays"]) == sorted(entries)
    assert meta["extra"] == {"columns": list("abcd")}
    json.dumps(meta)  # plain JSON all the way down


# --------------------------------------------------------------------- tampering


def _fit_small_forest():
    # 3 columns, 2 per tree: local feature ids (< 2) differ from global ones (< 3)
    X = np.random.RandomState(1).randn(200, 3)
    return IsolationForest(n_estimators=4, max_samples=32, max_features=2,
                           random_state=0).fit(X)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    paths = {}
    models = [("iforest", _fit_small_forest()), ("zscore", ZScoreDetector().fit(X_TRAIN))]
    if pd is not None:
        models.append(("named", IsolationForest(n_estimators=3, random_state=0).fit(
            pd.DataFrame(X_TRAIN, columns=list("wxyz")))))
    for kind, model in models:
        paths[kind] = d / f"{kind}.npz"
        save_model(model, paths[kind], extra={"columns": ["c"] * model.n_features_in_})
    return paths


def tampered(saved, tmp_path, kind, mutate, sync_arrays=False):
    entries, meta = read_parts(saved[kind])
    mutate(entries, meta)
    return write_parts(tmp_path / "tampered.npz", entries, meta, sync_arrays)


def test_a_huge_node_count_loads_in_bounded_memory(tmp_path):
    """Found by ``make fuzz`` (the model-file fuzzer with a fresh seed): a forest file
    whose ``n_node_samples`` holds 2**40 asked for an 8 TiB table of c(n) while
    loading. A count is any positive integer to the loader; its leaf value is c(count)."""
    X = np.random.RandomState(0).randn(300, 4)
    model = IsolationForest(n_estimators=3, max_samples=32, random_state=0).fit(X)
    save_model(model, tmp_path / "m.npz")
    entries, meta = read_parts(tmp_path / "m.npz")
    leaf = int(np.flatnonzero(entries["children_left"] == -1)[0])
    entries["n_node_samples"][leaf] = 2**40
    loaded = load_model(write_parts(tmp_path / "huge.npz", entries, meta))
    scores, before = loaded.score_samples(X), model.score_samples(X)
    changed = scores != before
    # the rows ending at that leaf go deeper (c of 2**40), the others are unchanged
    assert np.all(np.isfinite(scores)) and 0 < changed.sum() < len(X)
    assert np.all(scores[changed] > before[changed])


def assert_refused(path, match=None):
    with pytest.raises(ModelFileError, match=match):
        load_model(path)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_untampered_copy_loads(saved, tmp_path):
    # the helpers themselves change nothing
    for kind in saved:
        path = tampered(saved, tmp_path, kind, lambda e, m: None)
        assert_same_predictions(load_model(saved[kind]), load_model(path),
                                X_TEST[:, : load_model(path).n_features_in_])


@pytest.mark.parametrize("kind", ["iforest", "zscore"])
def test_truncated_files_refused(saved, tmp_path, kind):
    raw = saved[kind].read_bytes()
    n = len(raw)
    cuts = sorted({0, 1, 4, 30, 100, 500, n // 3, n // 2, 2 * n // 3, n - 100,
                   n - 23, n - 22, n - 1})
    for cut in cuts:
        path = tmp_path / f"cut{cut}.npz"
        path.write_bytes(raw[:cut])
        with pytest.raises(ModelFileError):
            load_model(path)


@pytest.mark.parametrize("content", [
    b"", b"hello, I am a CSV\n1,2,3\n", b"PK\x03\x04" + b"\x00" * 40,
    bytes(range(256)) * 4,
])
def test_not_a_zip_refused(tmp_path, content):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    assert_refused(path)


def test_zip_of_something_else_refused(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "not a model")
    assert_refused(path)
    np.savez(tmp_path / "plain.npz", a=np.arange(3))
    assert_refused(tmp_path / "plain.npz", "metadata")


def test_npy_file_refused(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(3.0))
    assert_refused(tmp_path / "a.npy")


def _patch_central_directory(raw, offset, value):
    b = bytearray(raw)
    i = b.find(b"PK\x01\x02")
    assert i >= 0
    b[i + offset] = value
    return bytes(b)


@pytest.mark.parametrize("field, value", [(10, 99), (8, 1), (8, 0x41), (6, 200)],
                         ids=["compression-99", "encrypted", "strong-encryption",
                              "version-needed"])
def test_zip_header_tampering_refused(saved, tmp_path, field, value):
    path = tmp_path / "zip.npz"
    path.write_bytes(_patch_central_directory(saved["iforest"].read_bytes(), field, value))
    assert_refused(path)


def test_mangled_npy_header_refused(saved, tmp_path):
    out = io.BytesIO()
    with zipfile.ZipFile(saved["iforest"]) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "threshold.npy":  # same length, unclosed "("
                hlen = int.from_bytes(data[8:10], "little")
                header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,"
                data = data[:10] + header.ljust(hlen - 1) + b"\n" + data[10 + hlen:]
            zout.writestr(info.filename, data)
    path = tmp_path / "header.npz"
    path.write_bytes(out.getvalue())
    assert_refused(path)


def _set(obj, key, value):
    obj[key] = value


METADATA_CASES = {
    "missing-metadata": (lambda e, m: None, "metadata"),  # handled in the test
    "format": (lambda e, m: _set(m, "format", "other-model"), "not an isoforest"),
    "no-format": (lambda e, m: m.pop("format"), "not an isoforest"),
    "version-2": (lambda e, m: _set(m, "version", 2), "version"),
    "version-str": (lambda e, m: _set(m, "version", "1"), "version"),
    "unknown-estimator": (lambda e, m: _set(m, "estimator", "Pickler"), "estimator"),
    "lof-estimator": (lambda e, m: _set(m, "estimator", "LocalOutlierFactor"), None),
    "arrays-extra-listed": (lambda e, m: m["arrays"].append("ghost"), "arrays"),
    "arrays-one-missing": (lambda e, m: m["arrays"].remove("threshold"), "arrays"),
    "extra-array-in-file": (lambda e, m: _set(e, "ghost", np.zeros(2)), "arrays"),
    "array-missing-from-file": (lambda e, m: e.pop("threshold"), "arrays"),
    "params-missing": (lambda e, m: m.pop("params"), None),
    "fitted-missing": (lambda e, m: m.pop("fitted"), None),
    "params-not-dict": (lambda e, m: _set(m, "params", [1, 2]), None),
    "unknown-param": (lambda e, m: _set(m["params"], "evil", 1), "parameters"),
    "param-missing": (lambda e, m: m["params"].pop("n_estimators"), "parameters"),
    "n_estimators-0": (lambda e, m: _set(m["params"], "n_estimators", 0), None),
    "contamination-0.9": (lambda e, m: _set(m["params"], "contamination", 0.9), None),
    "max_samples-neg": (lambda e, m: _set(m["params"], "max_samples", -1), None),
    "max_features-str": (lambda e, m: _set(m["params"], "max_features", "all"), None),
    "bootstrap-str": (lambda e, m: _set(m["params"], "bootstrap", "yes"), None),
    "n_features_in_-0": (lambda e, m: _set(m["fitted"], "n_features_in_", 0), None),
    "n_features_in_-float": (lambda e, m: _set(m["fitted"], "n_features_in_", 3.0), None),
    "n_features_in_-bool": (lambda e, m: _set(m["fitted"], "n_features_in_", True), None),
    "n_features_in_-small": (lambda e, m: _set(m["fitted"], "n_features_in_", 1), None),
    "max_features-too-big": (lambda e, m: _set(m["fitted"], "_max_features", 4), None),
    "max_features-0": (lambda e, m: _set(m["fitted"], "_max_features", 0), None),
    "max_samples_-0": (lambda e, m: _set(m["fitted"], "_max_samples", 0), None),
    "offset-str": (lambda e, m: _set(m["fitted"], "offset_", "-0.5"), "offset_"),
    "offset-missing": (lambda e, m: m["fitted"].pop("offset_"), "offset_"),
    "names-too-few": (lambda e, m: _set(m, "feature_names_in_", ["a", "b"]), "feature_names"),
    "names-too-many": (lambda e, m: _set(m, "feature_names_in_", list("abcd")),
                       "feature_names"),
    "names-not-str": (lambda e, m: _set(m, "feature_names_in_", [1, 2, 3]), "feature_names"),
    "names-not-list": (lambda e, m: _set(m, "feature_names_in_", "abc"), "feature_names"),
}


@pytest.mark.parametrize("case", list(METADATA_CASES))
def test_metadata_tampering_refused(saved, tmp_path, case):
    mutate, match = METADATA_CASES[case]
    if case == "missing-metadata":
        entries, _ = read_parts(saved["iforest"])
        path = tmp_path / "nometa.npz"
        np.savez(path, **entries)
    else:
        path = tampered(saved, tmp_path, "iforest", mutate)
    assert_refused(path, match)


@pytest.mark.parametrize("metadata", [
    b"\xff\xfe not utf-8", b"{not json", b"[1, 2, 3]", b'"a string"', b"null",
], ids=["not-utf8", "not-json", "json-list", "json-str", "json-null"])
def test_metadata_not_json_object_refused(saved, tmp_path, metadata):
    entries, _ = read_parts(saved["iforest"])
    entries["metadata"] = np.frombuffer(metadata, dtype=np.uint8)
    path = tmp_path / "bad.npz"
    np.savez(path, **entries)
    assert_refused(path)


@pytest.mark.parametrize("value", [5, [1, "a"], None], ids=["int", "mixed", "null"])
def test_metadata_arrays_not_list_of_names_refused(saved, tmp_path, value):
    path = tampered(saved, tmp_path, "iforest", lambda e, m: _set(m, "arrays", value))
    assert_refused(path)


def test_huge_integer_refused(saved, tmp_path):
    path = tampered(saved, tmp_path, "iforest",
                    lambda e, m: _set(m["fitted"], "_max_samples", 10**30))
    assert_refused(path)


def _tree0(e):
    """(size of tree 0, an inner node id > 0 of tree 0 and one of its children)."""
    size = int(e["tree_offsets"][1])
    left = e["children_left"][:size]
    inner = [k for k in range(1, size) if left[k] != -1]
    return size, inner[0]


def _leaf(e):
    return int(np.flatnonzero(e["children_left"] == -1)[0])


def _mut(name, index, value):
    def mutate(e, m):
        e[name][index(e) if callable(index) else index] = value
    return mutate


def _retype(name, dtype):
    def mutate(e, m):
        e[name] = e[name].astype(dtype)
    return mutate


FOREST_CASES = {
    # dtypes and shapes
    "threshold-float32": _retype("threshold", np.float32),
    "children_left-int32": _retype("children_left", np.int32),
    "features-float64": _retype("features", np.float64),
    "feature-uint64": _retype("feature", np.uint64),
    "missing_go_to_left-int64": _retype("missing_go_to_left", np.int64),
    "tree_offsets-2d": lambda e, m: _set(e, "tree_offsets", e["tree_offsets"][None, :]),
    "features-1d": lambda e, m: _set(e, "features", e["features"].ravel()),
    "features-too-few-trees": lambda e, m: _set(e, "features", e["features"][:-1]),
    "features-too-wide": lambda e, m: _set(
        e, "features", np.hstack([e["features"], e["features"][:, :1]])),
    "node-array-short": lambda e, m: _set(e, "threshold", e["threshold"][:-1]),
    "node-array-long": lambda e, m: _set(e, "impurity", np.append(e["impurity"], 0.0)),
    "tree_seeds-short": lambda e, m: _set(e, "tree_seeds", e["tree_seeds"][:-1]),
    "tree_max_depth-long": lambda e, m: _set(
        e, "tree_max_depth", np.append(e["tree_max_depth"], 3)),
    # tree_offsets
    "offsets-not-from-0": _mut("tree_offsets", 0, 1),
    "offsets-repeat": lambda e, m: _set(e["tree_offsets"], 2, e["tree_offsets"][1]),
    "offsets-decrease": lambda e, m: _set(e["tree_offsets"], 2, e["tree_offsets"][1] - 1),
    "offsets-end-beyond": lambda e, m: _set(e["tree_offsets"], -1, e["tree_offsets"][-1] + 5),
    "offsets-empty-forest": lambda e, m: _set(e, "tree_offsets", np.zeros(1, np.int64)),
    # children
    "child-outside-tree": lambda e, m: _set(e["children_left"], 0, _tree0(e)[0]),
    "child-far-outside": _mut("children_right", 0, 10**9),
    "child-in-next-tree-global-id": lambda e, m: _set(
        e["children_left"], int(e["tree_offsets"][1]),
        int(e["tree_offsets"][1]) + 1 + int(e["tree_offsets"][2] - e["tree_offsets"][1])),
    "child-earlier-node": lambda e, m: _set(e["children_left"], _tree0(e)[1], 0),
    "child-previous-node": lambda e, m: _set(e["children_right"], _tree0(e)[1],
                                             _tree0(e)[1] - 1),
    "child-itself": lambda e, m: _set(e["children_left"], 0, 0),
    "child-negative": _mut("children_right", 0, -5),
    "one-child-left": _mut("children_right", 0, -1),
    "one-child-right": _mut("children_left", 0, -1),
    "leaf-gets-child": lambda e, m: _set(e["children_left"], _leaf(e), 1),
    "shared-child": lambda e, m: _set(e["children_right"], 0, int(e["children_left"][0])),
    # feature ids
    "feature->=max_features": _mut("feature", 0, 2),
    "feature-negative": _mut("feature", 0, -1),
    "feature-leaf-marker-at-split": _mut("feature", 0, -2),
    "leaf-with-feature": lambda e, m: _set(e["feature"], _leaf(e), 0),
    "features->=n_features": _mut("features", (0, 0), 3),
    "features-negative": _mut("features", (1, 1), -1),
    # node statistics
    "n_node_samples-0": lambda e, m: _set(e["n_node_samples"], _leaf(e), 0),
    "n_node_samples-negative": _mut("n_node_samples", 0, -3),
    "missing_go_to_left-2": _mut("missing_go_to_left", 0, 2),
    "missing_go_to_left-255": lambda e, m: _set(e["missing_go_to_left"], _leaf(e), 255),
}


@pytest.mark.parametrize("case", list(FOREST_CASES))
def test_forest_tampering_refused(saved, tmp_path, case):
    path = tampered(saved, tmp_path, "iforest", FOREST_CASES[case], sync_arrays=True)
    assert_refused(path)


def _zscore_shape(name, n):
    return lambda e, m: _set(e, name, np.zeros(n))


ZSCORE_CASES = {
    "center-short": _zscore_shape("center_", 3),
    "scale-long": _zscore_shape("scale_", 5),
    "scale-2d": lambda e, m: _set(e, "scale_", e["scale_"][None, :]),
    "scale-negative": _mut("scale_", 1, -1.0),
    "scale-nan": _mut("scale_", 0, np.nan),
    "center-float32": _retype("center_", np.float32),
    "scale-int": _retype("scale_", np.int64),
    "threshold-str": lambda e, m: _set(m["fitted"], "threshold_", "3"),
    "threshold-missing": lambda e, m: m["fitted"].pop("threshold_"),
    "n_samples_seen-0": lambda e, m: _set(m["fitted"], "n_samples_seen_", 0),
    "method-unknown": lambda e, m: _set(m["params"], "method", "magic"),
    "threshold-param-neg": lambda e, m: _set(m["params"], "threshold", -1.0),
    "ddof-neg": lambda e, m: _set(m["params"], "ddof", -1),
    "mean-float32": _retype("mean_", np.float32),
}


@pytest.mark.parametrize("case", list(ZSCORE_CASES))
def test_zscore_tampering_refused(saved, tmp_path, case):
    path = tampered(saved, tmp_path, "zscore", ZSCORE_CASES[case], sync_arrays=True)
    assert_refused(path)


@pytest.mark.parametrize("name", ["mean_", "var_", "_m2"])
def test_zscore_running_stats_shape_refused(saved, tmp_path, name):
    path = tampered(saved, tmp_path, "zscore", _zscore_shape(name, 50), sync_arrays=True)
    assert_refused(path)


@needs_pandas
def test_feature_names_mismatch_refused(saved, tmp_path):
    path = tampered(saved, tmp_path, "named",
                    lambda e, m: _set(m, "feature_names_in_", ["w", "x", "y"]))
    assert_refused(path, "feature_names")
    path = tampered(saved, tmp_path, "named",
                    lambda e, m: _set(m["fitted"], "n_features_in_", 5))
    assert_refused(path)


@pytest.mark.parametrize("params", [{}, {"n_neighbors": 7, "metric": "manhattan"},
                                    {"contamination": 0.1, "algorithm": "brute"}])
def test_lof_round_trip(tmp_path, params):
    from isoforest import LocalOutlierFactor

    X = np.random.RandomState(3).randn(300, 4)
    model = LocalOutlierFactor(novelty=True, **params).fit(X)
    path = tmp_path / "lof.npz"
    save_model(model, path)
    loaded = load_model(path)
    assert loaded.get_params() == model.get_params()
    T = np.random.RandomState(4).randn(60, 4) * 2
    for method in ("score_samples", "decision_function", "predict"):
        np.testing.assert_array_equal(getattr(loaded, method)(T), getattr(model, method)(T))


def test_lof_without_novelty_refused(tmp_path):
    from isoforest import LocalOutlierFactor

    model = LocalOutlierFactor().fit(np.random.RandomState(3).randn(50, 2))
    with pytest.raises(TypeError, match="novelty=True"):
        save_model(model, tmp_path / "x.npz")


def test_modified_array_without_resigning_refused(saved, tmp_path):
    """Any change to an array that does not also forge its checksum is refused."""
    for kind in saved:
        entries, meta = read_parts(saved[kind])
        name = sorted(entries)[0]
        flat = entries[name].reshape(-1)
        flat[0] = flat[0] + 1 if flat.dtype.kind != "b" else not flat[0]
        path = write_parts(tmp_path / f"{kind}.npz", entries, meta, resign=False)
        assert_refused(path, "checksum")


def test_lof_tampered_rows_refused(tmp_path):
    from isoforest import LocalOutlierFactor

    X = np.random.RandomState(5).randn(100, 3)
    path = tmp_path / "lof.npz"
    save_model(LocalOutlierFactor(novelty=True).fit(X), path)
    with np.load(path, allow_pickle=False) as data:
        entries = {k: data[k] for k in data.files}
    for bad in (entries["fit_X"][:, :2], np.where(np.arange(300).reshape(100, 3) == 7,
                                                  np.nan, entries["fit_X"]),
                entries["fit_X"] * 2):
        tampered = dict(entries, fit_X=np.ascontiguousarray(bad))
        np.savez(tmp_path / "bad.npz", **tampered)
        with pytest.raises(ModelFileError):
            load_model(tmp_path / "bad.npz")

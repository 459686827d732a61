"""ExtendedIsolationForest: kernels against the naive twin ``reference/eif_naive.py``,
the estimator contract, bad input, model files, and the paper's point (no four-fold
artefact on a round blob)."""

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from _fuzz import examples
from _model_parts import read_parts, write_parts
from _scripts import run_pure_python

from isoforest import ExtendedIsolationForest, IsolationForest, NotFittedError
from isoforest._validation import InvalidParameterError
from reference import eif_naive

# kernels index raw memory: `make test-boundscheck` runs these tests again with
# NUMBA_BOUNDSCHECK=1
pytestmark = pytest.mark.kernels

ROOT = Path(__file__).resolve().parents[2]


def bits(a):
    return np.asarray(a, dtype=np.float64).view(np.uint64)


def assert_same_as_twin(model, trees):
    f = model.forest_
    assert f.n_trees == len(trees)
    for t, ref in enumerate(trees):
        lo, hi = f.tree_offsets[t], f.tree_offsets[t + 1]
        assert hi - lo == len(ref), f"tree {t}: {hi - lo} nodes != {len(ref)}"
        np.testing.assert_array_equal(f.children_left[lo:hi], [n["left"] for n in ref])
        np.testing.assert_array_equal(f.children_right[lo:hi], [n["right"] for n in ref])
        np.testing.assert_array_equal(f.n_node_samples[lo:hi], [n["size"] for n in ref])
        np.testing.assert_array_equal(f.depth[lo:hi], [n["depth"] for n in ref])
        np.testing.assert_array_equal(bits(f.intercept[lo:hi]),
                                      bits([n["intercept"] for n in ref]))
        np.testing.assert_array_equal(bits(f.normal[lo:hi]),
                                      bits(np.array([n["normal"] for n in ref])))


CONFIGS = [
    dict(n_estimators=4, random_state=0),
    dict(n_estimators=3, random_state=1, extension_level=0),
    dict(n_estimators=3, random_state=2, extension_level=1, bootstrap=True,
         max_samples=50),
]


def small_data(seed=0, n=80, d=3):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, d))
    X[:, -1] = np.round(X[:, -1])  # ties
    X[5] = X[6] = X[7]  # duplicate rows
    return X


@pytest.mark.parametrize("params", CONFIGS)
def test_kernels_match_twin(params):
    X = small_data()
    model = ExtendedIsolationForest(**params).fit(X)
    trees = eif_naive.fit_forest(X, n_estimators=params["n_estimators"],
                                 max_samples=model.max_samples_,
                                 extension_level=params.get("extension_level"),
                                 bootstrap=params.get("bootstrap", False),
                                 random_state=params["random_state"])
    assert_same_as_twin(model, trees)
    Xs = np.vstack([X[:20], np.random.RandomState(9).normal(scale=3, size=(20, 3))])
    want = eif_naive.score_samples(Xs, trees, model.max_samples_)
    got = model.score_samples(Xs)
    # scores to round-off (NumPy's vs Python's pow and log), path lengths exactly
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
    pl = np.array([[eif_naive.path_length(x, tree) for tree in trees] for x in Xs])
    np.testing.assert_array_equal(bits(model.path_lengths(Xs)), bits(pl))
    total = np.zeros(len(Xs))
    for t in range(pl.shape[1]):
        total += pl[:, t]
    np.testing.assert_array_equal(bits(model._path_length_sum(Xs)), bits(total))
    # rows one at a time take the plain walk, blocks the lock-step tiles: same bits
    one = np.concatenate([model.score_samples(Xs[i:i + 1]) for i in range(len(Xs))])
    np.testing.assert_array_equal(bits(one), bits(got))


@pytest.mark.parametrize("d, extension_level, n", [(1, None, 203), (3, 1, 17),
                                                     (5, None, 300), (12, None, 129),
                                                     (13, 4, 260), (20, 0, 64)])
def test_vector_walk_same_bits(d, extension_level, n):
    """The vector walk (``_eif_simd``) against the lock-step and plain kernels: every
    feature count's slot layout, tiles and sets cut short, far-apart scales."""
    from isoforest.forest import _eif_kernels as K
    from isoforest._simd import eif_walk as _eif_simd

    if not _eif_simd.available():
        pytest.skip("vector walk off (NUMBA_DISABLE_JIT, the simd setting, or an LLVM "
                    "that cannot read its IR)")
    rng = np.random.RandomState(d)
    X = rng.normal(size=(n, d)) * rng.choice([1e-3, 1.0, 1e3], size=d)
    X[::7] = np.round(X[::7])  # ties and repeated rows
    model = ExtendedIsolationForest(n_estimators=7, max_samples=min(n, 64),
                                    extension_level=extension_level,
                                    random_state=d).fit(X)
    f = model.forest_
    Xs = np.vstack([X, rng.normal(scale=5.0, size=(n, d))])
    plain = np.zeros(len(Xs))
    K.path_length_sum_serial(Xs, f.tree_offsets, f.children_left, f.children_right,
                             f.normal, f.intercept, f.leaf_value, plain)
    blocked = np.zeros(len(Xs))
    K.path_length_sum_blocked_serial(Xs, f.tree_offsets, f.next_left, f.next_right,
                                     f.normal, f.intercept, f.leaf_value, f.n_levels,
                                     blocked)
    np.testing.assert_array_equal(bits(blocked), bits(plain))
    for kernel in K.simd_path_length_kernels(d):
        got = np.zeros(len(Xs))
        kernel(Xs, f.simd_table(), f.tree_offsets, f.n_levels, got)
        np.testing.assert_array_equal(bits(got), bits(plain))
    np.testing.assert_array_equal(bits(model._path_length_sum(Xs)), bits(plain))


@settings(max_examples=examples(15), suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 30), d=st.integers(1, 4), seed=st.integers(0, 2**31 - 2),
       scale=st.sampled_from([1e-300, 1.0, 1e300]), levels=st.integers(1, 4))
def test_twin_nasty_data(n, d, seed, scale, levels):
    rng = np.random.RandomState(seed % 1000)
    X = rng.randint(0, levels, size=(n, d)).astype(np.float64) * scale
    ext = seed % d
    model = ExtendedIsolationForest(n_estimators=2, random_state=seed,
                                    extension_level=ext).fit(X)
    trees = eif_naive.fit_forest(X, n_estimators=2, max_samples=model.max_samples_,
                                 extension_level=ext, random_state=seed)
    assert_same_as_twin(model, trees)


def test_pure_python_kernels_match(tmp_path):
    """NUMBA_DISABLE_JIT=1: the kernels as plain Python give the same arrays, bit for bit."""
    X = small_data(3, n=40)
    configs = [dict(n_estimators=2, random_state=4),
               dict(n_estimators=2, random_state=5, extension_level=0, bootstrap=True)]
    np.savez(tmp_path / "data.npz", X=X)
    run_pure_python("_pure_python_eif.py", tmp_path / "data.npz", tmp_path / "out.npz",
                    json.dumps(configs))
    got = np.load(tmp_path / "out.npz")
    assert got["jit_disabled"]
    for c, params in enumerate(configs):
        m = ExtendedIsolationForest(**params).fit(X)
        for k, v in m.forest_.node_arrays().items():
            np.testing.assert_array_equal(bits(got[f"{c}/{k}"]), bits(v))
        np.testing.assert_array_equal(bits(got[f"{c}/scores"]), bits(m.score_samples(X)))


# ------------------------------------------------------------------ estimator
def test_n_jobs_independent():
    X = np.random.RandomState(0).normal(size=(600, 4))
    a = ExtendedIsolationForest(n_estimators=20, random_state=3, n_jobs=1).fit(X)
    b = ExtendedIsolationForest(n_estimators=20, random_state=3, n_jobs=2).fit(X)
    for k, v in a.forest_.node_arrays().items():
        np.testing.assert_array_equal(bits(v), bits(b.forest_.node_arrays()[k]))
    np.testing.assert_array_equal(bits(a.score_samples(X)), bits(b.score_samples(X)))


def test_conventions():
    X = np.random.RandomState(1).normal(size=(300, 3))
    m = ExtendedIsolationForest(n_estimators=10, random_state=0).fit(X)
    s = m.score_samples(X)
    assert m.offset_ == -0.5 and m.max_samples_ == 256 and m.n_features_in_ == 3
    assert m.extension_level_ == 2
    np.testing.assert_array_equal(m.decision_function(X), s - m.offset_)
    np.testing.assert_array_equal(m.predict(X), np.where(s - m.offset_ < 0, -1, 1))
    pl = m.path_lengths(X)
    assert pl.shape == (300, 10) and m.apply(X).shape == (300, 10)
    c = eif_naive.c(256)
    np.testing.assert_allclose(s, -2.0 ** (-pl.mean(axis=1) / c), rtol=1e-12)
    m2 = ExtendedIsolationForest(n_estimators=10, random_state=0, contamination=0.1).fit(X)
    assert m2.offset_ == np.percentile(s, 10.0)
    assert np.mean(m2.predict(X) == -1) == pytest.approx(0.1, abs=0.01)
    assert [len(r) for r in m.estimators_samples_] == [256] * 10


def test_dataframe_names_and_one_feature():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": np.arange(50.0), "b": np.arange(50.0) ** 2})
    m = ExtendedIsolationForest(n_estimators=5, random_state=0).fit(df)
    assert list(m.feature_names_in_) == ["a", "b"]
    m1 = ExtendedIsolationForest(n_estimators=5, random_state=0).fit(df[["a"]].values)
    assert m1.extension_level_ == 0 and m1.score_samples([[1000.0]])[0] < -0.5


def test_bad_input():
    X = np.random.RandomState(0).normal(size=(50, 3))
    with pytest.raises(NotFittedError):
        ExtendedIsolationForest().score_samples(X)
    m = ExtendedIsolationForest(n_estimators=3, random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but ExtendedIsolationForest "
                                         "is expecting 3 features as input."):
        m.score_samples(X[:, :2])
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN."):
        ExtendedIsolationForest().fit(Xn)
    with pytest.raises(ValueError, match="Input X contains NaN."):
        m.score_samples(Xn)
    Xn[0, 0] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        ExtendedIsolationForest().fit(Xn)
    for bad in (3, -1):
        with pytest.raises(ValueError, match=r"extension_level must be in \[0, "
                                             r"n_features - 1\] = \[0, 2\]"):
            ExtendedIsolationForest(extension_level=bad).fit(X)
    with pytest.raises(InvalidParameterError, match="The 'extension_level' parameter of "
                                                    "ExtendedIsolationForest must be"):
        ExtendedIsolationForest(extension_level=1.5).fit(X)
    with pytest.raises(InvalidParameterError, match="The 'n_estimators' parameter"):
        ExtendedIsolationForest(n_estimators=0).fit(X)


def test_pickle_clone_warm_start():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone
    X = np.random.RandomState(2).normal(size=(200, 3))
    m = ExtendedIsolationForest(n_estimators=6, random_state=7).fit(X)
    m2 = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(m2.score_samples(X), m.score_samples(X))
    c = clone(m)
    assert c.get_params() == m.get_params() and not hasattr(c, "offset_")
    w = ExtendedIsolationForest(n_estimators=3, random_state=7, warm_start=True).fit(X)
    first = w.forest_.tree_offsets[3]
    w.set_params(n_estimators=6).fit(X)
    assert sklearn is not None
    for k, v in w.forest_.node_arrays().items():
        np.testing.assert_array_equal(bits(v), bits(m.forest_.node_arrays()[k]))
    assert w.forest_.tree_offsets[3] == first
    np.testing.assert_array_equal(w.score_samples(X), m.score_samples(X))


def test_model_file_round_trip(tmp_path):
    from isoforest import load_model, save_model
    X = np.random.RandomState(3).normal(size=(200, 3))
    m = ExtendedIsolationForest(n_estimators=5, random_state=1, contamination=0.05).fit(X)
    path = tmp_path / "eif.npz"
    save_model(m, path)
    m2 = load_model(path)
    assert isinstance(m2, ExtendedIsolationForest)
    np.testing.assert_array_equal(m2.score_samples(X), m.score_samples(X))
    np.testing.assert_array_equal(m2.predict(X), m.predict(X))
    assert m2.get_params() == m.get_params()


def _eif_file_parts(tmp_path):
    from isoforest import save_model
    X = np.random.RandomState(3).normal(size=(200, 3))
    m = ExtendedIsolationForest(n_estimators=4, max_samples=64, random_state=1).fit(X)
    save_model(m, tmp_path / "eif.npz")
    entries, meta = read_parts(tmp_path / "eif.npz")
    return m, entries, meta


def _inner(e):
    return int(np.flatnonzero(e["children_left"] != -1)[0])


TAMPER = {
    "child out of tree": lambda e, m: e["children_left"].__setitem__(
        _inner(e), 10**6),
    "child before parent": lambda e, m: e["children_right"].__setitem__(_inner(e), 0),
    "one child only": lambda e, m: e["children_right"].__setitem__(_inner(e), -1),
    "negative size": lambda e, m: e["n_node_samples"].__setitem__(0, -1),
    "size over max_samples": lambda e, m: e["n_node_samples"].__setitem__(0, 10**6),
    "depth": lambda e, m: e["depth"].__setitem__(0, 5),
    "normal shape": lambda e, m: e.__setitem__("normal", e["normal"][:, :2].copy()),
    "normal dtype": lambda e, m: e.__setitem__("normal", e["normal"].astype(np.float32)),
    "nan intercept": lambda e, m: e["intercept"].__setitem__(0, np.nan),
    "offsets": lambda e, m: e["tree_offsets"].__setitem__(-1, 10**7),
    "offsets decrease": lambda e, m: e["tree_offsets"].__setitem__(1, 0),
    "seeds length": lambda e, m: e.__setitem__("bagging_seeds", e["bagging_seeds"][:2]),
    "extension level": lambda e, m: m["fitted"].__setitem__("extension_level_", 3),
    "missing array": lambda e, m: e.pop("intercept"),
}


@pytest.mark.parametrize("case", sorted(TAMPER))
def test_tampered_model_file_refused(tmp_path, case):
    from isoforest import ModelFileError, load_model
    _, entries, meta = _eif_file_parts(tmp_path)
    path = write_parts(tmp_path / "ok.npz", entries, meta, sync_arrays=True)
    load_model(path)  # the re-signed, untouched copy loads
    TAMPER[case](entries, meta)
    with pytest.raises(ModelFileError):
        load_model(write_parts(tmp_path / "bad.npz", entries, meta, sync_arrays=True))


# ------------------------------------------------------------- the paper's point
def fourfold_component(model, r=2.0, n_angles=360):
    """The cos(4 theta) Fourier coefficient of score_samples on a circle of radius r:
    the four-fold pattern axis-parallel cuts leave, in phase with the axes. Signed,
    so that averaging over seeds cancels the blob's random irregularities."""
    theta = np.linspace(0, 2 * np.pi, n_angles, endpoint=False)
    pts = np.c_[r * np.cos(theta), r * np.sin(theta)]
    return 2.0 * np.mean(model.score_samples(pts) * np.cos(4 * theta))


def test_fourfold_artefact_weaker_with_extension():
    """On a round 2-D standard normal blob, axis-parallel cuts make scores on a circle
    vary as cos(4 theta); random hyperplanes (Hariri et al. 2021, figs. 3-6) remove
    most of it. Measured here (6 seeds, 500 trees): IF about -0.004, EIF about -0.001."""
    a_if, a_eif = [], []
    for seed in range(6):
        X = np.random.RandomState(seed).normal(size=(2000, 2))
        a_if.append(fourfold_component(
            IsolationForest(n_estimators=500, random_state=seed).fit(X)))
        a_eif.append(fourfold_component(
            ExtendedIsolationForest(n_estimators=500, extension_level=1,
                                    random_state=seed).fit(X)))
    assert abs(np.mean(a_if)) > 0.002, a_if  # the artefact is there to remove
    assert abs(np.mean(a_eif)) < 0.5 * abs(np.mean(a_if)), (a_if, a_eif)
    # extension_level=0 is axis-parallel again: the artefact comes back
    a_axis = [fourfold_component(ExtendedIsolationForest(
        n_estimators=500, extension_level=0, random_state=seed).fit(
            np.random.RandomState(seed).normal(size=(2000, 2)))) for seed in range(6)]
    assert abs(np.mean(a_axis)) > 2 * abs(np.mean(a_eif)), (a_axis, a_eif)


# ---------------------------------------------------------------------- command line
def test_cli_method_eif(tmp_path):
    """detect --method eif scores like ExtendedIsolationForest(random_state=0); fit then
    score reproduces detect byte for byte."""
    import csv

    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 3))
    X[:3] = 8.0
    data = tmp_path / "data.csv"
    with open(data, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", "c"])
        w.writerows([[repr(v) for v in row] for row in X.tolist()])

    def run(*args):
        r = subprocess.run([sys.executable, "-m", "isoforest", *map(str, args)],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        return r

    run("detect", data, "--out", tmp_path / "detect.csv", "--method", "eif")
    with open(tmp_path / "detect.csv") as fh:
        rows = list(csv.DictReader(fh))
    want = -ExtendedIsolationForest(random_state=0).fit(X).score_samples(X)
    np.testing.assert_array_equal([float(r["anomaly_score"]) for r in rows], want)
    assert [int(r["is_anomaly"]) for r in rows[:3]] == [1, 1, 1]
    run("fit", data, "--model", tmp_path / "m.npz", "--method", "eif")
    from isoforest import load_model
    assert isinstance(load_model(tmp_path / "m.npz"), ExtendedIsolationForest)
    run("score", tmp_path / "m.npz", data, "--out", tmp_path / "score.csv")
    assert (tmp_path / "score.csv").read_bytes() == (tmp_path / "detect.csv").read_bytes()

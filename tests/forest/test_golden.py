"""isoforest against stored scikit-learn outputs: bit-identical trees and scores.

The golden archive ``reference/data/iforest_golden.npz`` and its manifest are made
by ``reference/make_golden.py`` with live scikit-learn. These tests need only NumPy
and isoforest: they run (and must pass) where scikit-learn is not installed. Where
the manifest's scikit-learn version is installed, ``test_golden_is_current`` also
checks that live scikit-learn still produces the stored outputs.

Every comparison is exact: floats bit for bit (signed zeros and NaN included),
integers value for value. The scores' last bits depend on the CPU (scikit-learn's,
and ours with them, go through NumPy's float64 ``log`` and ``power``, whose SIMD
kernels differ between machines with and without AVX-512): where the manifest lists
a CPU variant for this machine's NumPy SIMD extensions, its outputs replace the
archive's (see ``reference/make_golden.py --cpu-variant``).
"""

import functools
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from isoforest import IsolationForest
from reference._golden_io import npz_arrays, simd_key

# kernels index raw memory: `make test-boundscheck` runs these tests again with
# NUMBA_BOUNDSCHECK=1
pytestmark = pytest.mark.kernels

DATA_DIR = Path(__file__).resolve().parents[2] / "reference" / "data"
MANIFEST = json.loads((DATA_DIR / "MANIFEST.json").read_text())
ARCHIVE = "iforest_golden.npz"
CASES = list(MANIFEST["cases"])
TREE_FIELDS = MANIFEST["tree_fields"]
#: Fitted outputs compared row by row, on the train and the test rows.
ROW_OUTPUTS = ("score_samples", "decision_function", "predict")


# ------------------------------------------------------------------- loading
def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _checked_arrays(name):
    """The arrays of data file ``name``, by ``"<case>/<name>"``, after checking its
    sha256 against the manifest."""
    raw = (DATA_DIR / name).read_bytes()
    expected = MANIFEST["files"][name]["sha256"]
    got = hashlib.sha256(raw).hexdigest()
    if got != expected:
        raise AssertionError(
            f"{name}: sha256 {got} != manifest {expected}; "
            "regenerate with `python reference/make_golden.py`"
        )
    return npz_arrays(raw)


@functools.lru_cache(maxsize=None)
def _archive():
    """All golden arrays, by ``"<case>/<name>"``."""
    return _checked_arrays(ARCHIVE)


@functools.lru_cache(maxsize=None)
def _variant():
    """This machine's CPU variant of the CPU-dependent outputs, or {} where the
    manifest lists none."""
    name = MANIFEST.get("cpu_variants", {}).get(simd_key())
    return {} if name is None else _checked_arrays(name)


def golden(case):
    prefix = case + "/"
    merged = _archive() | _variant()
    return {k[len(prefix):]: v for k, v in merged.items() if k.startswith(prefix)}


def _params(g):
    return json.loads(str(g["params"]))


def _fit(estimator_cls, g):
    est = estimator_cls(**_params(g))
    with warnings.catch_warnings():
        # Expected in some cases: max_samples > n_samples, 1e308 overflowing float32.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        est.fit(g["X_train"], sample_weight=g.get("sample_weight"))
    return est


def _outputs(est, g):
    """The fitted model's answers, in the golden file's layout (tree arrays per tree)."""
    out = {
        "offset_": np.float64(est.offset_),
        "max_samples_": np.int64(est.max_samples_),
        "estimators_features_": np.asarray(est.estimators_features_),
        "trees": [e.tree_ for e in est.estimators_],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for split in ("train", "test"):
            X = g[f"X_{split}"]
            out[f"score_samples_{split}"] = est.score_samples(X)
            out[f"decision_function_{split}"] = est.decision_function(X)
            out[f"predict_{split}"] = est.predict(X)
    return out


# ---------------------------------------------------------------- comparing
def _first_difference(got, want, unit="index"):
    """None if ``got`` and ``want`` are identical, else a description of the first
    difference (floats compared bit for bit, integers by value)."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    if want.dtype.kind == "f":
        if got.dtype.kind != "f":
            return f"dtype {got.dtype}, expected floating"
        got = got.astype(np.float64)
        same = (got == want) | (np.isnan(got) & np.isnan(want))
        same &= np.signbit(got) == np.signbit(want)
    else:
        if got.dtype.kind not in "iu":
            return f"dtype {got.dtype}, expected integer"
        same = got == want
    if same.all():
        return None
    bad = np.argwhere(~same)
    idx = tuple(int(i) for i in bad[0])
    where = idx[0] if len(idx) == 1 else idx
    return (f"{len(bad)} of {same.size} differ; first at {unit} {where}: "
            f"got {got[idx]!r}, expected {want[idx]!r}")


def _differences(out, g):
    """Every mismatch between fitted outputs ``out`` and golden arrays ``g``."""
    problems = []

    def check(name, got, want):
        diff = _first_difference(got, want)
        if diff is not None:
            problems.append(f"{name}: {diff}")

    check("max_samples_", out["max_samples_"], g["max_samples_"])
    check("offset_", out["offset_"], g["offset_"])
    for name in ROW_OUTPUTS:
        for split in ("train", "test"):
            key = f"{name}_{split}"
            diff = _first_difference(out[key], g[key], unit="row")
            if diff is not None:
                problems.append(f"{key}: {diff}")
    check("estimators_features_", out["estimators_features_"], g["estimators_features_"])

    offsets = g["tree_offsets"]
    trees = out["trees"]
    if len(trees) != len(offsets) - 1:
        problems.append(f"len(estimators_): {len(trees)} != {len(offsets) - 1}")
    for t, tree in enumerate(trees[: len(offsets) - 1]):
        lo, hi = offsets[t], offsets[t + 1]
        for field in TREE_FIELDS:
            got = np.asarray(getattr(tree, field))[: tree.node_count]
            diff = _first_difference(got, g[field][lo:hi], unit="node")
            if diff is not None:
                problems.append(f"estimators_[{t}].tree_.{field}: {diff}")
    return problems


def _report(case, problems):
    return f"case {case!r}: {len(problems)} mismatch(es)\n  " + "\n  ".join(problems[:40])


# --------------------------------------------------------------------- tests
def test_manifest_sha256():
    for name, info in MANIFEST["files"].items():
        assert _sha256(DATA_DIR / name) == info["sha256"], name


def test_manifest_lists_every_case():
    stored = {key.split("/", 1)[0] for key in _archive()}
    assert stored == set(CASES)
    for case in CASES:
        g = golden(case)
        entry = MANIFEST["cases"][case]
        assert _params(g) == entry["params"]
        assert list(g["X_train"].shape) == entry["X_train_shape"]
        assert list(g["X_test"].shape) == entry["X_test_shape"]
        assert len(g["tree_offsets"]) - 1 == entry["n_trees"]


def test_cpu_variants_hold_only_cpu_dependent_outputs():
    """A variant replaces the scores, labels and offset of every case, nothing else
    (the trees, the data and the parameters are the archive's on every machine)."""
    from reference.make_golden import CPU_DEPENDENT

    archive = _archive()
    for name in MANIFEST.get("cpu_variants", {}).values():
        with np.load(DATA_DIR / name, allow_pickle=False) as npz:
            keys = set(npz.files)
            for key in keys:
                assert npz[key].dtype == archive[key].dtype, key
                assert npz[key].shape == archive[key].shape, key
        assert keys == {f"{case}/{out}" for case in CASES for out in CPU_DEPENDENT}


def _near_golden(out, g):
    """``g`` with the NumPy-dependent outputs (``CPU_DEPENDENT``) taken from ``out``
    once they are within 1e-12 of the stored ones (scores lie in [-1, 0]; a wrong
    tree moves them by ~1e-3), labels equal wherever the stored decision is not
    within 1e-9 of the threshold."""
    from reference.make_golden import CPU_DEPENDENT

    g = dict(g)
    for key in CPU_DEPENDENT:
        got, want = np.asarray(out[key]), np.asarray(g[key])
        if key.startswith("predict"):
            split = key.rsplit("_", 1)[1]
            clear = np.abs(np.asarray(g[f"decision_function_{split}"])) > 1e-9
            np.testing.assert_array_equal(got[clear], want[clear], err_msg=key)
        else:
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=key)
        g[key] = out[key]
    return g


@pytest.mark.parametrize("case", CASES)
def test_golden(case):
    """isoforest reproduces scikit-learn exactly: scores, labels, offset, trees.

    The scores' last bits follow NumPy's ``log`` and ``power``, which change between
    NumPy releases (scikit-learn's with them): on a NumPy other than the manifest's,
    the scores, labels and offset are held to a few ulps of the stored ones and the
    trees still exactly; equality with live scikit-learn on any NumPy is
    ``test_parity``'s."""
    g = golden(case)
    out = _outputs(_fit(IsolationForest, g), g)
    if np.__version__ != MANIFEST["versions"]["numpy"]:
        g = _near_golden(out, g)
    problems = _differences(out, g)
    assert not problems, _report(case, problems)


@pytest.mark.sklearn
@pytest.mark.parametrize("case", CASES)
def test_golden_is_current(case):
    """Live scikit-learn (the manifest's version) still gives the stored outputs."""
    sklearn = pytest.importorskip("sklearn")
    from sklearn.ensemble import IsolationForest as SkIsolationForest

    version = MANIFEST["versions"]["scikit-learn"]
    if sklearn.__version__ != version:
        pytest.skip(f"golden files are from scikit-learn {version}")
    g = golden(case)
    out = _outputs(_fit(SkIsolationForest, g), g)
    if np.__version__ != MANIFEST["versions"]["numpy"]:
        g = _near_golden(out, g)  # scikit-learn's scores follow NumPy's log and power
    problems = _differences(out, g)
    assert not problems, _report(case, problems)

"""Golden IsolationForest outputs from live scikit-learn, for ``tests/forest/test_golden.py``.

Regenerate with ``python reference/make_golden.py`` (needs scikit-learn 1.9.1); it
rewrites ``reference/data/iforest_golden.npz`` and ``reference/data/MANIFEST.json``.

Each named case stores its inputs (``X_train``, ``X_test``, optional
``sample_weight``), its estimator parameters (as JSON) and what scikit-learn
returned: ``score_samples``, ``decision_function`` and ``predict`` on the train and
the test rows, ``offset_``, ``max_samples_``, ``estimators_features_`` and every
tree's node arrays, concatenated over trees with ``tree_offsets`` (nodes of tree
``t`` are ``tree_offsets[t]:tree_offsets[t + 1]``). Array ``"<case>/<name>"`` of the
archive belongs to case ``<case>``.

The output is deterministic: data come from seeded ``RandomState`` generators and
the archive is written with fixed zip timestamps, so re-running gives byte-identical
data files (only ``generated`` in the manifest changes). ``--check`` regenerates in
memory and fails if the stored files differ.

The scores' last bits depend on the CPU: scikit-learn computes them with NumPy's
float64 ``log`` and ``power``, whose SIMD kernels differ between machines with and
without AVX-512 (seen: 1 ulp on 3-10% of the scores between the machine that made
the archive and an AVX2-only AMD EPYC; trees, ``offset_`` and labels identical).
``--cpu-variant`` stores those outputs (``CPU_DEPENDENT``) as this machine's
scikit-learn gives them, in ``iforest_golden_<simd>.npz`` listed under
``cpu_variants`` in the manifest; the tests compare with it on machines of that
kind (``_golden_io.simd_key``), bit for bit as elsewhere. A full regeneration drops
the variants (they belong to the archive they were made beside).
"""

import argparse
import datetime
import hashlib
import json
import platform
import sys
import warnings
from pathlib import Path

import numpy as np

try:  # imported as reference.<module> (tests) or run as a script
    from ._golden_io import npz_arrays, npz_bytes, simd_key
except ImportError:
    from _golden_io import npz_arrays, npz_bytes, simd_key

DATA_DIR = Path(__file__).resolve().parent / "data"
ARCHIVE = "iforest_golden.npz"
MANIFEST = "MANIFEST.json"
#: Fixed zip member timestamp (the zip epoch): np.savez would stamp the wall clock.

#: Node arrays stored per tree (concatenated), with the dtype scikit-learn uses.
#: ``impurity`` (the variance of a dummy target, unused by scoring) is left out: as
#: random doubles it would be a third of the archive.
TREE_FIELDS = (
    "feature",
    "threshold",
    "children_left",
    "children_right",
    "n_node_samples",
    "weighted_n_node_samples",
    "missing_go_to_left",
)


# --------------------------------------------------------------------- cases
def _normal(seed, n, d):
    return np.random.RandomState(seed).randn(n, d)


def _test_rows(seed, n, d, scale=4.0):
    """Inliers and far-out rows, so predict has both labels."""
    rng = np.random.RandomState(seed)
    return np.vstack([rng.randn(n // 2, d), rng.uniform(-scale, scale, (n - n // 2, d))])


def case_default():
    return _normal(0, 300, 4), _test_rows(100, 60, 4), {"random_state": 0}


def case_small_n():
    # n < 256: max_samples "auto" becomes n.
    return _normal(1, 50, 3), _test_rows(101, 30, 3), {"random_state": 0}


def case_duplicate_rows():
    rng = np.random.RandomState(2)
    base = rng.randn(12, 3)
    X = base[rng.randint(0, 12, 150)]
    X_test = np.vstack([base, _test_rows(102, 20, 3)])
    return X, X_test, {"n_estimators": 15, "random_state": 0}


def case_constant_columns():
    rng = np.random.RandomState(3)
    X = rng.randn(200, 5)
    X[:, 1] = 7.0
    X[:, 3] = 0.0
    X_test = _test_rows(103, 30, 5)
    X_test[:10, 1] = 7.0
    X_test[:10, 3] = 0.0
    return X, X_test, {"n_estimators": 15, "random_state": 0}


def case_all_constant():
    # Every column constant: each tree is a single leaf.
    X = np.full((40, 3), 2.5)
    X_test = np.vstack([X[:3], _test_rows(104, 10, 3)])
    return X, X_test, {"n_estimators": 10, "random_state": 0}


def case_ties():
    # Small integers, many ties; kept as int64 so the integer input path is used.
    rng = np.random.RandomState(4)
    X = rng.randint(0, 4, size=(300, 3)).astype(np.int64)
    X_test = rng.randint(-2, 7, size=(40, 3)).astype(np.int64)
    return X, X_test, {"n_estimators": 15, "random_state": 0}


def case_float32_collapse():
    # Distinct float64 values that round to the same float32: scikit-learn casts X
    # to float32 before building trees, so these columns become ties or constants.
    rng = np.random.RandomState(5)
    n = 200
    X = np.empty((n, 5))
    X[:, 0] = 1.0 + rng.randint(0, 5, n) * 1e-9  # all 1.0f
    X[:, 1] = 2.0**24 + rng.randint(0, 2, n)  # 16777216 and 16777217 -> 16777216f
    # Half-ulp steps around 0.1 (float32 ulp 2**-27): 6 doubles, 3 floats, spread
    # less than the splitter's FEATURE_THRESHOLD (1e-7), so still a constant.
    X[:, 2] = 0.1 + rng.randint(0, 6, n) * 2.0**-28
    # Half-ulp steps around 1000 (float32 ulp 2**-14): 8 doubles, a few floats far
    # enough apart to split on; thresholds fall between float32 values.
    X[:, 3] = 1000.0 + rng.randint(0, 8, n) * 2.0**-15
    X[:, 4] = rng.randn(n)
    rng_t = np.random.RandomState(105)
    X_test = np.empty((30, 5))
    X_test[:, 0] = 1.0 + rng_t.randint(-5, 5, 30) * 1e-8
    X_test[:, 1] = 2.0**24 + rng_t.randint(-3, 4, 30)
    X_test[:, 2] = 0.1 + rng_t.randint(-4, 9, 30) * 2.0**-28
    X_test[:, 3] = 1000.0 + rng_t.randint(-3, 11, 30) * 2.0**-15
    X_test[:, 4] = rng_t.randn(30) * 3
    return X, X_test, {"n_estimators": 15, "random_state": 0}


def case_max_samples_int():
    return _normal(6, 300, 4), _test_rows(106, 40, 4), {
        "n_estimators": 15, "max_samples": 64, "random_state": 0,
    }


def case_max_samples_int_over_n():
    # An int above n_samples is capped at n_samples (with a warning).
    return _normal(7, 60, 3), _test_rows(107, 20, 3), {
        "n_estimators": 20, "max_samples": 1000, "random_state": 0,
    }


def case_max_samples_float():
    return _normal(8, 300, 4), _test_rows(108, 40, 4), {
        "n_estimators": 15, "max_samples": 0.3, "random_state": 0,
    }


def case_max_features_int():
    return _normal(9, 200, 5), _test_rows(109, 40, 5), {
        "n_estimators": 15, "max_features": 2, "random_state": 0,
    }


def case_max_features_float():
    # int(0.5 * 6) = 3 features per tree.
    return _normal(10, 200, 6), _test_rows(110, 40, 6), {
        "n_estimators": 15, "max_features": 0.5, "random_state": 0,
    }


def case_bootstrap():
    return _normal(11, 200, 3), _test_rows(111, 40, 3), {
        "n_estimators": 15, "bootstrap": True, "random_state": 0,
    }


def case_contamination():
    return _normal(12, 300, 3), _test_rows(112, 40, 3), {
        "n_estimators": 30, "contamination": 0.1, "random_state": 0,
    }


def case_nan():
    rng = np.random.RandomState(13)
    X = rng.randn(200, 3)
    X[rng.rand(200, 3) < 0.1] = np.nan
    X_test = _test_rows(113, 40, 3)
    X_test[rng.rand(40, 3) < 0.2] = np.nan
    X_test[0, :] = np.nan
    return X, X_test, {"n_estimators": 15, "random_state": 0}


def case_inf_test():
    # Fit on finite data; score rows holding +-inf and +-1e308 (inf after float32).
    X = _normal(14, 200, 3)
    X_test = _test_rows(114, 20, 3)
    X_test[0] = [np.inf, 0.0, 0.0]
    X_test[1] = [-np.inf, np.inf, -np.inf]
    X_test[2] = [1e308, -1e308, 0.0]
    X_test[3] = [0.0, 1e308, 1e-308]
    X_test[4] = [np.finfo(np.float32).max, -np.finfo(np.float32).max, 3.5e38]
    return X, X_test, {"n_estimators": 15, "random_state": 0}


def _case_seed(seed):
    def make():
        return _normal(15, 150, 3), _test_rows(115, 30, 3), {
            "n_estimators": 7, "random_state": seed,
        }
    return make


def case_one_row():
    X = np.array([[0.5, -1.0, 2.0]])
    X_test = np.vstack([X, _test_rows(116, 10, 3)])
    return X, X_test, {"n_estimators": 10, "random_state": 0}


def case_sample_weight():
    rng = np.random.RandomState(17)
    X = rng.randn(150, 3)
    # Rows drawn with probability proportional to weight (scikit-learn >= 1.7).
    w = rng.randint(1, 5, 150).astype(np.float64)
    return X, _test_rows(117, 30, 3), {
        "n_estimators": 20, "max_samples": 64, "random_state": 0,
    }, w


CASES = {
    "default": case_default,
    "small_n": case_small_n,
    "duplicate_rows": case_duplicate_rows,
    "constant_columns": case_constant_columns,
    "all_constant": case_all_constant,
    "ties": case_ties,
    "float32_collapse": case_float32_collapse,
    "max_samples_int": case_max_samples_int,
    "max_samples_int_over_n": case_max_samples_int_over_n,
    "max_samples_float": case_max_samples_float,
    "max_features_int": case_max_features_int,
    "max_features_float": case_max_features_float,
    "bootstrap": case_bootstrap,
    "contamination": case_contamination,
    "nan": case_nan,
    "inf_test": case_inf_test,
    "seed_0": _case_seed(0),
    "seed_1": _case_seed(1),
    "seed_12345": _case_seed(12345),
    "one_row": case_one_row,
    "sample_weight": case_sample_weight,
}


# ---------------------------------------------------------------- generation
def run_case(name):
    """Fit scikit-learn on one case; return its arrays and its manifest entry."""
    from sklearn.ensemble import IsolationForest

    made = CASES[name]()
    X, X_test, params = made[:3]
    sample_weight = made[3] if len(made) > 3 else None
    with warnings.catch_warnings():
        # Expected: max_samples > n_samples, and 1e308 overflowing the float32 cast.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        est = IsolationForest(**params).fit(X, sample_weight=sample_weight)

    arrays = {
        "params": np.array(json.dumps(params, sort_keys=True)),
        "X_train": X,
        "X_test": X_test,
        "offset_": np.float64(est.offset_),
        "max_samples_": np.int64(est.max_samples_),
        "estimators_features_": np.asarray(est.estimators_features_, dtype=np.int64),
    }
    if sample_weight is not None:
        arrays["sample_weight"] = sample_weight
    for split, data in (("train", X), ("test", X_test)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            arrays[f"score_samples_{split}"] = est.score_samples(data)
            arrays[f"decision_function_{split}"] = est.decision_function(data)
            arrays[f"predict_{split}"] = est.predict(data).astype(np.int64)
    trees = [e.tree_ for e in est.estimators_]
    arrays["tree_offsets"] = np.concatenate(
        [[0], np.cumsum([t.node_count for t in trees])]
    ).astype(np.int64)
    for field in TREE_FIELDS:
        arrays[field] = np.concatenate(
            [np.asarray(getattr(t, field))[: t.node_count] for t in trees]
        )
    arrays = {k: np.asarray(v) for k, v in arrays.items()}

    entry = {
        "params": params,
        "sample_weight": sample_weight is not None,
        "X_train_shape": list(X.shape),
        "X_train_dtype": str(X.dtype),
        "X_test_shape": list(X_test.shape),
        "n_trees": len(trees),
        "n_nodes": int(arrays["tree_offsets"][-1]),
        "max_samples_": int(est.max_samples_),
        "offset_": float(est.offset_),
    }
    return arrays, entry


#: The outputs a CPU variant holds (see the module docstring).
CPU_DEPENDENT = ("offset_",) + tuple(
    f"{name}_{split}" for name in ("score_samples", "decision_function", "predict")
    for split in ("train", "test"))


def variant_file(key):
    return f"iforest_golden_{key.lower().replace('+', '_')}.npz"


def generate_variant():
    """This machine's CPU-dependent outputs of every case, as archive bytes."""
    arrays = {}
    for name in CASES:
        case_arrays, _ = run_case(name)
        for key in CPU_DEPENDENT:
            arrays[f"{name}/{key}"] = case_arrays[key]
    return npz_bytes(arrays)


def _write_variant():
    data = generate_variant()
    key = simd_key()
    name = variant_file(key)
    manifest = json.loads((DATA_DIR / MANIFEST).read_text())
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(),
                               "bytes": len(data)}
    manifest.setdefault("cpu_variants", {})[key] = name
    (DATA_DIR / name).write_bytes(data)
    (DATA_DIR / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {DATA_DIR / name} (outputs for NumPy SIMD {key}) and "
          f"{DATA_DIR / MANIFEST}")
    return 0


def generate():
    """All cases: (archive bytes, manifest dict without the date)."""
    import scipy
    import sklearn

    arrays, cases = {}, {}
    for name in CASES:
        case_arrays, entry = run_case(name)
        for key, value in case_arrays.items():
            arrays[f"{name}/{key}"] = value
        cases[name] = entry
    data = npz_bytes(arrays)
    manifest = {
        "description": "Golden scikit-learn IsolationForest outputs; "
        "regenerate with `python reference/make_golden.py`.",
        "versions": {
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "python": platform.python_version(),
        },
        "tree_fields": list(TREE_FIELDS),
        "cases": cases,
        "files": {ARCHIVE: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}},
    }
    return data, manifest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="regenerate in memory and compare with the stored files")
    parser.add_argument("--cpu-variant", action="store_true",
                        help="store this machine's CPU-dependent outputs beside the "
                        "archive (see the module docstring)")
    args = parser.parse_args(argv)
    if args.cpu_variant:
        return _write_variant()

    data, manifest = generate()
    if args.check:
        stored = (DATA_DIR / ARCHIVE).read_bytes()
        old = json.loads((DATA_DIR / MANIFEST).read_text())
        old.pop("generated", None)
        variants = old.pop("cpu_variants", {})
        for name in variants.values():
            old["files"].pop(name)
        variant = variants.get(simd_key())
        if variant is not None:  # this machine's scores are the variant's
            want = npz_arrays(stored) | npz_arrays((DATA_DIR / variant).read_bytes())
            got = npz_arrays(data)
            same = sorted(want) == sorted(got) and all(
                np.array_equal(got[k], want[k], equal_nan=want[k].dtype.kind == "f")
                for k in want)
            if same:
                data = stored
                manifest["files"][ARCHIVE] = old["files"][ARCHIVE]
        if stored != data or old != manifest:
            print("golden files differ from a fresh generation", file=sys.stderr)
            return 1
        print("golden files are up to date")
        return 0

    manifest = {"generated": datetime.datetime.now(datetime.timezone.utc)
                .replace(microsecond=0).isoformat()} | manifest
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    (DATA_DIR / ARCHIVE).write_bytes(data)
    (DATA_DIR / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {DATA_DIR / ARCHIVE} ({len(data)} bytes, {len(manifest['cases'])} cases) "
          f"and {DATA_DIR / MANIFEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

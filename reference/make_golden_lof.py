"""Golden LocalOutlierFactor outputs from live scikit-learn, for ``tests/neighbors/test_lof.py``.

Regenerate with ``python reference/make_golden_lof.py`` (needs scikit-learn 1.9.x);
it rewrites ``reference/data/lof_golden.npz``. ``--check`` regenerates in memory and
fails if the stored archive differs.

Each named case stores its inputs (``X_train``, ``X_test``), its estimator parameters
(as JSON) and what scikit-learn returned, under ``"<case>/<name>"``:

- from ``LocalOutlierFactor(**params)`` (outlier detection):
  ``negative_outlier_factor_``, ``fit_predict``, ``offset_``, ``n_neighbors_``, and
  ``kneighbors(n_neighbors=n_neighbors_)`` as ``kneighbors_dist`` /
  ``kneighbors_ind`` (the training rows without themselves);
- from ``LocalOutlierFactor(novelty=True, **params)`` on ``X_test``:
  ``score_samples``, ``decision_function``, ``predict``.

The archive also holds ``manifest``: a JSON string with the library versions, each
case's parameters, shapes and notes, and the sha256 of every other array (its dtype,
shape and bytes), so tests can detect a damaged file without scikit-learn.

Everything is deterministic: seeded ``RandomState`` data and a zip written with
fixed timestamps, so re-running gives byte-identical output (the manifest holds no
date).
"""

import argparse
import hashlib
import json
import platform
import sys
import warnings
from pathlib import Path

import numpy as np

try:  # imported as reference.<module> (tests) or run as a script
    from ._golden_io import npz_bytes
except ImportError:
    from _golden_io import npz_bytes

DATA_DIR = Path(__file__).resolve().parent / "data"
ARCHIVE = "lof_golden.npz"
#: Fixed zip member timestamp (the zip epoch): np.savez would stamp the wall clock.


# --------------------------------------------------------------------- cases
def _test_rows(seed, n, d, scale=4.0):
    """Inliers and far-out rows, so predict has both labels."""
    rng = np.random.RandomState(seed)
    return np.vstack([rng.randn(n // 2, d), rng.uniform(-scale, scale, (n - n // 2, d))])


def case_default():
    return np.random.RandomState(0).randn(150, 4), _test_rows(100, 40, 4), {}, ""


def case_high_dim_brute():
    # 20 features: scikit-learn's 'auto' takes brute force (matrix products), ours too.
    return (np.random.RandomState(1).randn(150, 20), _test_rows(101, 20, 20),
            {"n_neighbors": 10}, "brute force on both sides")


def case_manhattan_contamination():
    return (np.random.RandomState(2).randn(200, 3), _test_rows(102, 40, 3),
            {"n_neighbors": 10, "p": 1, "contamination": 0.1}, "")


def case_minkowski_p3():
    return (np.random.RandomState(3).randn(150, 3), _test_rows(103, 30, 3),
            {"n_neighbors": 7, "p": 3}, "")


def case_chebyshev_kd_tree():
    return (np.random.RandomState(4).randn(150, 5), _test_rows(104, 30, 5),
            {"n_neighbors": 12, "metric": "chebyshev", "algorithm": "kd_tree"}, "")


def case_weighted_minkowski():
    params = {"n_neighbors": 9, "metric_params": {"w": [1.0, 0.5, 2.0]}}
    return (np.random.RandomState(5).randn(120, 3), _test_rows(105, 30, 3), params,
            "scikit-learn's 'auto' takes its ball tree; ours the kd-tree")


def case_float32():
    rng = np.random.RandomState(6)
    return (rng.randn(200, 4).astype(np.float32),
            _test_rows(106, 30, 4).astype(np.float32), {"n_neighbors": 10},
            "float32 in, float32 scores out")


def case_int_input():
    rng = np.random.RandomState(7)
    return (rng.randint(0, 10**6, size=(120, 3)).astype(np.int64),
            rng.randint(-10**5, 11 * 10**5, size=(30, 3)).astype(np.int64),
            {"n_neighbors": 8}, "wide integer range: no tied distances")


def case_small_n():
    # n_neighbors (20) > n_samples (6): a warning, then n_neighbors_ = 5.
    return (np.random.RandomState(8).randn(6, 2), _test_rows(108, 10, 2), {},
            "n_neighbors clipped to n_samples - 1")


def case_duplicate_pairs():
    # Every row twice: a row's neighbours are its twin, then whole twin pairs, so the
    # neighbour *sets* are unambiguous although distances tie.
    base = np.random.RandomState(9).randn(60, 3)
    X = np.vstack([base, base])[np.random.RandomState(19).permutation(120)]
    return X, _test_rows(109, 20, 3), {"n_neighbors": 5}, (
        "tied distances: compare neighbour index sets, not their order")


def case_duplicates_warning():
    # More duplicates than neighbours: scikit-learn's 1e-10 guard and its warning.
    # Which copies are neighbours is a tie, but every copy has the same lrd, so the
    # scores do not depend on it.
    rng = np.random.RandomState(10)
    # (random, not evenly spaced, rows around the copies: equal spacing would tie
    # distances between distinct rows too)
    x = np.concatenate([np.full(12, 0.1), rng.uniform(0.1, 0.3, 60), rng.rand(10) * 100])
    X = x[rng.permutation(len(x))].reshape(-1, 1)
    return X, np.array([[0.1], [0.2], [50.0], [-3.0]]), {"n_neighbors": 5}, (
        "scores only: tied neighbour indices differ")


def case_precomputed():
    rng = np.random.RandomState(11)
    A = rng.randn(60, 3)
    B = _test_rows(111, 20, 3)
    D = np.sqrt(((A[:, None, :] - A[None, :, :]) ** 2).sum(-1))
    D_test = np.sqrt(((B[:, None, :] - A[None, :, :]) ** 2).sum(-1))
    return D, D_test, {"n_neighbors": 6, "metric": "precomputed"}, ""


CASES = {
    "default": case_default,
    "high_dim_brute": case_high_dim_brute,
    "manhattan_contamination": case_manhattan_contamination,
    "minkowski_p3": case_minkowski_p3,
    "chebyshev_kd_tree": case_chebyshev_kd_tree,
    "weighted_minkowski": case_weighted_minkowski,
    "float32": case_float32,
    "int_input": case_int_input,
    "small_n": case_small_n,
    "duplicate_pairs": case_duplicate_pairs,
    "duplicates_warning": case_duplicates_warning,
    "precomputed": case_precomputed,
}


def estimator_params(params):
    """JSON parameters -> keyword arguments (weights back to an array)."""
    params = dict(params)
    if params.get("metric_params") and "w" in params["metric_params"]:
        params["metric_params"] = {**params["metric_params"],
                                   "w": np.asarray(params["metric_params"]["w"])}
    return params


# ---------------------------------------------------------------- generation
def run_case(name):
    """Fit scikit-learn on one case; return its arrays and its manifest entry."""
    from sklearn.neighbors import LocalOutlierFactor

    X, X_test, params, note = CASES[name]()
    kwargs = estimator_params(params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        detector = LocalOutlierFactor(**kwargs)
        fit_predict = detector.fit_predict(X)
        novelty = LocalOutlierFactor(novelty=True, **kwargs).fit(X)
    dist, ind = detector.kneighbors(n_neighbors=detector.n_neighbors_)
    arrays = {
        "params": np.array(json.dumps(params, sort_keys=True)),
        "X_train": X,
        "X_test": X_test,
        "negative_outlier_factor_": detector.negative_outlier_factor_,
        "fit_predict": fit_predict.astype(np.int64),
        "offset_": np.float64(detector.offset_),
        "n_neighbors_": np.int64(detector.n_neighbors_),
        "kneighbors_dist": dist,
        "kneighbors_ind": ind.astype(np.int64),
        "score_samples": novelty.score_samples(X_test),
        "decision_function": novelty.decision_function(X_test),
        "predict": novelty.predict(X_test).astype(np.int64),
    }
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    entry = {
        "params": params,
        "note": note,
        "X_train_shape": list(X.shape),
        "X_train_dtype": str(X.dtype),
        "X_test_shape": list(X_test.shape),
        "sklearn_fit_method": detector._fit_method,
        "warnings": sorted({str(w.message) for w in caught}),
    }
    return arrays, entry


def array_sha256(a):
    """sha256 of an array's dtype, shape and C-order bytes."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256()
    h.update(f"{a.dtype.str}|{a.shape}|".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def generate():
    """All cases as the archive's bytes."""
    import scipy
    import sklearn

    arrays, cases = {}, {}
    for name in CASES:
        case_arrays, entry = run_case(name)
        for key, value in case_arrays.items():
            arrays[f"{name}/{key}"] = value
        cases[name] = entry
    manifest = {
        "description": "Golden scikit-learn LocalOutlierFactor outputs; regenerate "
        "with `python reference/make_golden_lof.py`.",
        "versions": {
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "python": platform.python_version(),
        },
        "cases": cases,
        "sha256": {key: array_sha256(value) for key, value in sorted(arrays.items())},
    }
    arrays["manifest"] = np.array(json.dumps(manifest, indent=1, sort_keys=True))
    return npz_bytes(arrays)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="regenerate in memory and compare with the stored archive, "
                        "byte for byte (on another CPU the brute-force cases' floats "
                        "may differ by BLAS round-off: tests/neighbors/test_lof.py "
                        "test_golden_is_current allows exactly that)")
    args = parser.parse_args(argv)
    data = generate()
    path = DATA_DIR / ARCHIVE
    if args.check:
        if path.read_bytes() != data:
            print("lof_golden.npz differs from a fresh generation", file=sys.stderr)
            return 1
        print("lof_golden.npz is up to date")
        return 0
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"wrote {path} ({len(data)} bytes, {len(CASES)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

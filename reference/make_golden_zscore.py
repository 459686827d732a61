"""Golden ``scipy.stats.zscore`` outputs, for ``tests/stats/test_zscore.py``.

Regenerate with ``python reference/make_golden_zscore.py`` (needs SciPy; made with
SciPy 1.17): it rewrites ``reference/data/zscore_golden.npz`` and prints the archive's
sha256, which ``tests/stats/test_zscore.py`` pins in ``GOLDEN_SHA256`` (update it there).
``--check`` regenerates in memory and fails if the stored archive differs.

Each named case stores its input ``"<case>/a"`` (with its dtype), its keyword
arguments and SciPy's answer ``"<case>/z"``, or for ``nan_policy='raise'`` the error
message ``"<case>/error"``. The archive also holds ``"__manifest__"``, a JSON string:
versions of SciPy / NumPy / Python, every case's parameters, shape and dtypes, and
the sha256 of every other member (``"members"``) so a reader can check the payload
against the manifest without SciPy.

The output is deterministic: data come from seeded ``RandomState`` generators, the
zip members are stored uncompressed (deflate output may change with the zlib
version) in sorted order with a fixed timestamp, so re-running gives identical bytes
as long as SciPy's answers do not change.
"""

import argparse
import hashlib
import io
import json
import platform
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"
ARCHIVE = "zscore_golden.npz"
MANIFEST_KEY = "__manifest__"
#: Fixed zip member timestamp (the zip epoch): np.savez would stamp the wall clock.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


# --------------------------------------------------------------------- cases
def _data(seed, shape, scale=1.0, offset=0.0):
    return np.random.RandomState(seed).randn(*shape) * scale + offset


def case_2d_axis0():
    # Columns on very different scales and offsets (sequential column sums).
    a = _data(0, (25, 4)) * [1.0, 1e3, 1e-3, 10.0] + [0.0, -5e4, 2.0, 1e6]
    return a, {"axis": 0}


def case_2d_axis1():
    # Rows longer than 8 and than 128 values: NumPy's pairwise blocks.
    return _data(1, (3, 150), 2.0, 3.0), {"axis": 1}


def case_2d_axis_neg1():
    return _data(2, (6, 9)), {"axis": -1}


def case_1d():
    return _data(3, (200,), 0.5, -7.0), {}


def case_1d_ddof1():
    return _data(4, (12,)), {"ddof": 1}


def case_2d_ddof1():
    return _data(5, (15, 3), 3.0), {"axis": 0, "ddof": 1}


def case_ddof_ge_n():
    # n - ddof <= 0: NaN everywhere, silently.
    return _data(6, (2, 3)), {"axis": 0, "ddof": 2}


def _with_nan(seed):
    rng = np.random.RandomState(seed)
    a = rng.randn(20, 4)
    a[rng.rand(20, 4) < 0.15] = np.nan
    a[:, 2] = np.nan  # an all-NaN column
    a[1:, 3] = np.nan  # a column with one value left
    a[0, 3] = 1.5
    return a


def case_nan_propagate():
    return _with_nan(7), {"axis": 0, "nan_policy": "propagate"}


def case_nan_omit():
    return _with_nan(7), {"axis": 0, "nan_policy": "omit"}


def case_nan_omit_axis1():
    return _with_nan(8).T.copy(), {"axis": 1, "nan_policy": "omit"}


def case_nan_omit_ddof1():
    return _with_nan(9), {"axis": 0, "ddof": 1, "nan_policy": "omit"}


def case_nan_raise():
    return _with_nan(7), {"axis": 0, "nan_policy": "raise"}


def case_inf():
    a = _data(10, (12, 4))
    a[3, 0] = np.inf
    a[4, 1] = -np.inf
    a[5, 2] = np.inf
    a[6, 2] = -np.inf
    return a, {"axis": 0}


def case_inf_omit_axis1():
    a = _data(11, (4, 10))
    a[0, 3] = np.inf
    a[1, 2] = np.nan
    a[2, [1, 5]] = [np.nan, -np.inf]
    return a, {"axis": 1, "nan_policy": "omit"}


def case_constant_columns():
    # Constant columns (exact and inexact means) and a nearly constant one.
    a = _data(12, (10, 5))
    a[:, 1] = 7.0
    a[:, 2] = 0.0
    a[:, 3] = 0.1  # sum of ten 0.1 is not 1.0: std is not exactly 0
    a[:, 4] = 1.0 + np.arange(10) * 2.0**-52  # spread of a few ulps
    return a, {"axis": 0}


def case_constant_rows():
    a = _data(13, (4, 9))
    a[1] = -3.25
    a[2] = 1e-300
    return a, {"axis": 1}


def case_int():
    return np.random.RandomState(14).randint(-50, 50, size=(30, 3)), {"axis": 0}


def case_int_axis1():
    return np.random.RandomState(15).randint(0, 10, size=(4, 20)).astype(np.int32), {"axis": 1}


def case_bool():
    return np.random.RandomState(16).rand(16, 3) < 0.4, {"axis": 0}


def case_axis_none():
    return _data(17, (7, 11), 4.0, 1.0), {"axis": None}


def case_axis_none_3d():
    return _data(18, (3, 4, 5)), {"axis": None}


def case_3d_axis_last():
    return _data(19, (2, 3, 20)), {"axis": 2}


def case_float32():
    # SciPy computes float32 in float32, isoforest in float64: compared with a
    # float32 tolerance, on data that is not nearly constant.
    return _data(20, (40, 3), 2.0, 1.0).astype(np.float32), {"axis": 0}


def case_one_element():
    return np.array([4.0]), {}


def case_empty():
    return np.empty((0, 3)), {"axis": 0}


CASES = {
    "2d_axis0": case_2d_axis0,
    "2d_axis1": case_2d_axis1,
    "2d_axis_neg1": case_2d_axis_neg1,
    "1d": case_1d,
    "1d_ddof1": case_1d_ddof1,
    "2d_ddof1": case_2d_ddof1,
    "ddof_ge_n": case_ddof_ge_n,
    "nan_propagate": case_nan_propagate,
    "nan_omit": case_nan_omit,
    "nan_omit_axis1": case_nan_omit_axis1,
    "nan_omit_ddof1": case_nan_omit_ddof1,
    "nan_raise": case_nan_raise,
    "inf": case_inf,
    "inf_omit_axis1": case_inf_omit_axis1,
    "constant_columns": case_constant_columns,
    "constant_rows": case_constant_rows,
    "int": case_int,
    "int_axis1": case_int_axis1,
    "bool": case_bool,
    "axis_none": case_axis_none,
    "axis_none_3d": case_axis_none_3d,
    "3d_axis_last": case_3d_axis_last,
    "float32": case_float32,
    "one_element": case_one_element,
    "empty": case_empty,
}


# ------------------------------------------------------------------ archive
def run_case(name):
    """SciPy's answer for one case: (arrays, manifest entry)."""
    from scipy import stats

    a, kwargs = CASES[name]()
    a = np.ascontiguousarray(a)
    arrays = {"a": a}
    entry = {"kwargs": kwargs, "shape": list(a.shape), "dtype": str(a.dtype)}
    with warnings.catch_warnings():
        # SmallSampleWarning, precision-loss RuntimeWarning: expected in some cases.
        warnings.simplefilter("ignore")
        try:
            z = stats.zscore(a, **kwargs)
        except ValueError as exc:
            arrays["error"] = np.array(str(exc))
            entry["error"] = str(exc)
        else:
            arrays["z"] = np.asarray(z)
            entry["z_dtype"] = str(arrays["z"].dtype)
            entry["n_nan"] = int(np.isnan(arrays["z"]).sum())
    return arrays, entry


def _member_bytes(array):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def npz_bytes(arrays):
    """An .npz archive (np.load reads it) with fixed timestamps and no compression:
    reproducible bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(key + ".npy", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            zf.writestr(info, _member_bytes(arrays[key]))
    return buf.getvalue()


def member_sha256(array):
    """sha256 of one member as ``np.lib.format`` writes it (header included, so the
    dtype and shape are covered too)."""
    return hashlib.sha256(_member_bytes(array)).hexdigest()


def generate():
    """The archive's bytes and its manifest (also stored inside the archive)."""
    import scipy

    arrays, cases = {}, {}
    for name in CASES:
        case_arrays, entry = run_case(name)
        for key, value in case_arrays.items():
            arrays[f"{name}/{key}"] = value
        cases[name] = entry
    manifest = {
        "description": "Golden scipy.stats.zscore outputs; regenerate with "
        "`python reference/make_golden_zscore.py`.",
        "function": "scipy.stats.zscore",
        "versions": {
            "scipy": scipy.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "cases": cases,
        "members": {key: member_sha256(value) for key, value in sorted(arrays.items())},
    }
    arrays[MANIFEST_KEY] = np.array(json.dumps(manifest, indent=1, sort_keys=True))
    return npz_bytes(arrays), manifest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="regenerate in memory and compare with the stored archive")
    args = parser.parse_args(argv)

    data, manifest = generate()
    digest = hashlib.sha256(data).hexdigest()
    path = DATA_DIR / ARCHIVE
    if args.check:
        if not path.exists() or path.read_bytes() != data:
            print(f"{path} differs from a fresh generation (fresh sha256 {digest})",
                  file=sys.stderr)
            return 1
        print(f"{path} is up to date (sha256 {digest})")
        return 0
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"wrote {path} ({len(data)} bytes, {len(manifest['cases'])} cases)\n"
          f"sha256 {digest}  <- GOLDEN_SHA256 in tests/stats/test_zscore.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())

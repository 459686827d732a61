"""``isoforest.zscore`` and ``ZScoreDetector``: against live SciPy, the naive twin
``reference/zscore_naive.py``, stored golden SciPy outputs and scikit-learn's
conventions.

How results are compared
------------------------
* float64: **bit for bit** (signed zeros included; NaN at the same places) wherever
  isoforest reproduces NumPy's summation order, which is every C-ordered 1-D / 2-D
  input, F-ordered 2-D input along an axis, C-like strided and reversed views, integer and
  boolean input, 3-D C-ordered input along the first or the last axis. Elsewhere
  (F-ordered input with ``axis=None``, F-like strided views, the middle axis of a
  3-D array, F-ordered 3-D input) the issue's contract
  applies: relative difference at most 1e-12 (``RTOL``); bit-identity there is an
  xfail that names the bug.
* float32 / float16: isoforest computes in float64 and rounds the z-scores once;
  SciPy computes in float32 (float16). So they are compared with a float32 tolerance
  (``rtol = atol = F32_TOL``, a few hundred float32 ulps: SciPy's own float32 sums
  are that far off), and isoforest's float32 answer is checked to be *exactly*
  SciPy's float64 answer rounded to float32.

Sections: (a) live SciPy, (b) kernels vs the twin, (c) golden files (no SciPy
needed), (d) the detector, (e) the pure-Python kernels (``NUMBA_DISABLE_JIT=1``).
Tests marked ``xfail(strict=True)`` reproduce bugs found in isoforest: they start
passing (and so fail, being strict) once the bug is fixed.
"""

import hashlib
import io
import json
import math
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from _fuzz import examples
from _scripts import run_pure_python

from isoforest import NotFittedError, ZScoreDetector, zscore
from isoforest.stats import _kernels as K
from reference import zscore_naive as N

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "reference" / "data" / "zscore_golden.npz"
#: sha256 of the golden archive, printed by ``reference/make_golden_zscore.py``.
GOLDEN_SHA256 = "fc19c77f0a3658c8647dcf570f9d4e00420365faef90558782eb41c8b711887d"

RTOL = 1e-12  # the contract
F32_TOL = 2e-5
#: Known bug (see test_zscores_constant_column_silent): zscores() warns on a value equal
#: to a constant column's centre. Silenced here, narrowly, so the rest stays readable.
pytestmark = [pytest.mark.kernels, pytest.mark.filterwarnings(
    "ignore:invalid value encountered in multiply:RuntimeWarning:isoforest.stats._zscore")]
HYPOTHESIS = settings(max_examples=examples(120),
                      suppress_health_check=[HealthCheck.too_slow])


# ============================================================== helpers
def scipy_zscore(a, **kwargs):
    stats = pytest.importorskip("scipy.stats")
    with warnings.catch_warnings():
        # SmallSampleWarning and "Precision loss ..." are SciPy's business.
        warnings.simplefilter("ignore")
        return stats.zscore(a, **kwargs)


def assert_same_nan(got, want, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    gn, wn = np.isnan(got), np.isnan(want)
    if not np.array_equal(gn, wn):
        idx = np.argwhere(gn != wn)[0]
        raise AssertionError(
            f"{what}: NaN pattern differs ({np.sum(gn != wn)} places), first at "
            f"{tuple(idx)}: got {got[tuple(idx)]!r}, expected {want[tuple(idx)]!r}")


def assert_bitwise(got, want, what=""):
    """Same dtype, shape, NaN places and, elsewhere, the same bits (so +0.0 != -0.0)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert_same_nan(got, want, what)
    ok = ~np.isnan(want)
    g = got[ok].astype(np.float64)
    w = want[ok].astype(np.float64)
    diff = np.flatnonzero((g != w) | (np.signbit(g) != np.signbit(w)))
    if diff.size:
        i = diff[0]
        rel = np.max(np.abs(g[diff] - w[diff]) / np.maximum(np.abs(w[diff]), 1e-300))
        raise AssertionError(f"{what}: {diff.size} of {g.size} values differ (max rel "
                             f"{rel:.3g}); first: got {g[i]!r}, expected {w[i]!r}")


def assert_close(got, want, rtol=RTOL, atol=None, what=""):
    """Same dtype and NaN places (and infinities), values to ``rtol``; ``atol``
    (default ``rtol``) covers z-scores near zero, where relative error is meaningless."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert_same_nan(got, want, what)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                               rtol=rtol, atol=rtol if atol is None else atol,
                               equal_nan=True, err_msg=what)


def bit_identical_layout(a, axis):
    """True where isoforest reproduces NumPy's summation order (see the docstring)."""
    a = np.asarray(a)
    if a.ndim <= 1 or a.flags.c_contiguous:
        return a.ndim <= 2 or axis is None or axis % a.ndim in (0, a.ndim - 1)
    if a.flags.f_contiguous:
        return a.ndim == 2 and axis is not None
    # a strided view: NumPy sums in memory order, isoforest copies it C-ordered
    return a.ndim == 2 and abs(a.strides[1]) <= abs(a.strides[0])


# ====================================================== (a) live SciPy
def _rng(seed):
    return np.random.RandomState(seed)


def _nan_data():
    a = _rng(1).randn(24, 5)
    a[_rng(2).rand(24, 5) < 0.12] = np.nan
    a[:, 3] = np.nan  # all NaN
    a[1:, 4] = np.nan  # one value left
    return a


def _inf_data():
    a = _rng(3).randn(14, 4)
    a[2, 0] = np.inf
    a[3, 1] = -np.inf
    a[4, 2], a[5, 2] = np.inf, -np.inf
    a[6, 3] = np.nan
    return a


def _constant_data():
    a = _rng(4).randn(12, 6)
    a[:, 1] = 7.0
    a[:, 2] = 0.0
    a[:, 3] = 0.1  # inexact mean: SciPy's |eps * mean| rule decides
    a[:, 4] = 1.0 + np.arange(12) * 2.0**-52
    a[5] = -2.5  # a constant row, for axis=1
    return a


DATA = {
    "normal": lambda: _rng(0).randn(23, 5) * [1, 1e3, 1e-3, 10, 1] + [0, -5e3, 2, 1e3, 0],
    "wide": lambda: _rng(5).randn(3, 140) * 2 + 1,
    "tall_one_col": lambda: _rng(6).randn(300, 1),
    "one_row": lambda: _rng(7).randn(1, 9),
    "nan": _nan_data,
    "inf": _inf_data,
    "constant": _constant_data,
    "ties": lambda: _rng(8).randint(0, 3, (30, 4)).astype(np.float64),
    "huge": lambda: np.array([[1e308, 1.0], [-1e308, 2.0], [1e308, 3.0], [1.7e308, 4.0]]),
    "tiny": lambda: np.array([[5e-324, 1e-310], [0.0, 2e-310], [1e-320, -1e-310]]),
    "int64": lambda: _rng(9).randint(-100, 100, (20, 3)),
    "uint8": lambda: _rng(10).randint(0, 255, (20, 3)).astype(np.uint8),
    "int32_big": lambda: _rng(11).randint(-2**31, 2**31 - 1, (10, 3)).astype(np.int32),
    "bool": lambda: _rng(12).rand(15, 4) < 0.3,
    "fortran": lambda: np.asfortranarray(_rng(13).randn(40, 6) + 3),
    "strided": lambda: (_rng(14).randn(90, 12) * 5)[::3, 1::2],
    "reversed": lambda: _rng(15).randn(30, 7)[::-1, ::-2],
    "transposed": lambda: _rng(16).randn(9, 50).T,
    "f_like_strided": lambda: np.asfortranarray(_rng(17).randn(60, 20))[::2, ::3],
}


@pytest.mark.parametrize("nan_policy", ["propagate", "omit"])
@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("axis", [0, 1, -1, None])
@pytest.mark.parametrize("name", list(DATA))
def test_matches_scipy(name, axis, ddof, nan_policy):
    a = DATA[name]()
    want = scipy_zscore(a, axis=axis, ddof=ddof, nan_policy=nan_policy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # isoforest itself is silent
        got = zscore(a, axis=axis, ddof=ddof, nan_policy=nan_policy)
    what = f"{name} axis={axis} ddof={ddof} {nan_policy}"
    if bit_identical_layout(a, axis):
        assert_bitwise(got, want, what)
    else:
        assert_close(got, want, what=what)


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_input_not_modified_and_fresh_output(axis):
    a = _nan_data()
    before = a.copy()
    z = zscore(a, axis=axis, nan_policy="omit")
    np.testing.assert_array_equal(a, before)
    assert not np.shares_memory(z, a)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("axis", [0, 1, None])
def test_low_precision_floats(dtype, axis):
    """float32/float16 keep their dtype; values to a float32 tolerance of SciPy's
    (which sums in float32), and exactly SciPy's float64 answer rounded."""
    a = (_rng(20).randn(50, 4) * 3 + 1).astype(dtype)
    got = zscore(a, axis=axis)
    want = scipy_zscore(a, axis=axis)
    tol = F32_TOL if dtype == np.float32 else 2e-2
    assert_close(got, want, rtol=tol, atol=tol)
    assert_bitwise(got, scipy_zscore(a.astype(np.float64), axis=axis).astype(dtype))


@pytest.mark.xfail(strict=True, reason=(
    "Known deviation (documented): float32 input is computed in float64, so SciPy's zero-spread rule "
    "(std <= |eps32 * mean|, evaluated by SciPy on float32 statistics) is decided "
    "differently for nearly constant slices: the NaN pattern differs from SciPy's"))
def test_float32_nearly_constant_nan_pattern():
    a = np.array([699999.9, 700000.0, 699999.9, 699999.94, 700000.0, 700000.0, 699999.9],
                 dtype=np.float32)
    assert_same_nan(zscore(a), scipy_zscore(a))


@pytest.mark.xfail(strict=True, reason=(
    "Known deviation (documented): a float32 slice whose float32 sum overflows is all NaN in SciPy, finite "
    "in isoforest (computed in float64)"))
def test_float32_overflowing_sum_nan_pattern():
    a = np.array([3e38, 3e38, -3e38], dtype=np.float32)
    assert_same_nan(zscore(a), scipy_zscore(a))


@pytest.mark.parametrize("shape", [(3, 20, 4), (20, 3, 40), (5, 6, 7), (2, 2, 130)])
@pytest.mark.parametrize("axis", [0, 1, 2, -1, None])
@pytest.mark.parametrize("order", ["C", "F"])
def test_3d(shape, axis, order):
    a = np.asarray(_rng(21).randn(*shape) * 2 + 1, order=order)
    a[0, 0, 0] = np.nan
    for nan_policy in ("propagate", "omit"):
        got = zscore(a, axis=axis, nan_policy=nan_policy)
        want = scipy_zscore(a, axis=axis, nan_policy=nan_policy)
        if bit_identical_layout(a, axis):
            assert_bitwise(got, want)
        else:
            assert_close(got, want)


@pytest.mark.xfail(strict=True, reason=(
    "Known deviation: not bit-identical: NumPy sums the middle axis of a C-ordered 3-D array "
    "sequentially (row after row) and an F-ordered array with axis=None pairwise in "
    "memory order; isoforest copies the slices contiguous and sums them pairwise in C "
    "order; likewise an F-like strided view (NumPy: pairwise along the strided "
    "column; isoforest: a C-ordered copy summed row after row). Within 1e-12, so only "
    "the 'aims at bit-identical' goal is missed"))
@pytest.mark.parametrize("case", ["3d_middle_axis", "fortran_axis_none", "f_like_strided"])
def test_bit_identical_everywhere(case):
    if case == "3d_middle_axis":
        a, axis = _rng(22).randn(3, 50, 4), 1
    elif case == "fortran_axis_none":
        a, axis = np.asfortranarray(_rng(23).randn(100, 17) * 3 + 1), None
    else:
        a, axis = np.asfortranarray(_rng(23).randn(100, 17))[::2, ::3], 0
    assert_bitwise(zscore(a, axis=axis), scipy_zscore(a, axis=axis))


@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0), (0, 0), (2, 0, 3)])
@pytest.mark.parametrize("axis", [0, -1, None])
@pytest.mark.parametrize("nan_policy", ["propagate", "omit", "raise"])
def test_empty(shape, axis, nan_policy):
    for dtype in (np.float64, np.float32, np.int64):
        a = np.empty(shape, dtype=dtype)
        got = zscore(a, axis=axis, nan_policy=nan_policy)
        want = scipy_zscore(a, axis=axis, nan_policy=nan_policy)
        assert got.shape == want.shape and got.dtype == want.dtype


@pytest.mark.parametrize("a", [[4.0], [[4.0]], [[1.0, 2.0, 3.0]], [np.nan], [np.inf], [0.0]],
                         ids=str)
@pytest.mark.parametrize("ddof", [0, 1, 2])
def test_one_element_slices(a, ddof):
    a = np.asarray(a)
    for axis in range(-a.ndim, a.ndim):
        for nan_policy in ("propagate", "omit"):
            assert_bitwise(zscore(a, axis=axis, ddof=ddof, nan_policy=nan_policy),
                           scipy_zscore(a, axis=axis, ddof=ddof, nan_policy=nan_policy))


@pytest.mark.parametrize("ddof", [2, 3, 5, 100, -1, 1.5])
def test_ddof_at_or_above_n_and_unusual(ddof):
    """n - ddof <= 0 gives NaN silently (SciPy's rule); ddof may be any real."""
    a = _rng(24).randn(3, 4)
    for axis in (0, 1, None):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = zscore(a, axis=axis, ddof=ddof)
        assert_bitwise(got, scipy_zscore(a, axis=axis, ddof=ddof))


def test_scalar_and_lists():
    assert_bitwise(zscore(np.float64(3.0), axis=None), scipy_zscore(np.float64(3.0), axis=None))
    assert_bitwise(zscore([1, 2, 3]), scipy_zscore([1, 2, 3]))
    assert_bitwise(zscore([[1.0, 2.0], [3.0, 5.0]], axis=1),
                   scipy_zscore([[1.0, 2.0], [3.0, 5.0]], axis=1))
    assert zscore([1.0, 2.0, 3.0]).tolist() == pytest.approx([-1.22474487, 0.0, 1.22474487])


def test_large_inputs_take_the_parallel_path():
    """Above 65536 elements the kernels run on threads: still SciPy's bits."""
    rng = _rng(25)
    a = rng.randn(40000, 3) * [1, 100, 0.01] + [0, 1e4, 5]
    a[rng.rand(40000, 3) < 0.02] = np.nan
    for axis in (0, 1):
        for nan_policy in ("propagate", "omit"):
            assert_bitwise(zscore(a, axis=axis, nan_policy=nan_policy),
                           scipy_zscore(a, axis=axis, nan_policy=nan_policy))
    b = rng.randn(70000)
    assert_bitwise(zscore(b), scipy_zscore(b))
    c = np.asfortranarray(rng.randn(700, 100))
    assert_bitwise(zscore(c, axis=0), scipy_zscore(c, axis=0))


# ---------------------------------------------------------- errors
def test_raise_policy_message_is_scipys():
    a = _nan_data()
    with pytest.raises(ValueError) as want:
        pytest.importorskip("scipy.stats").zscore(a, nan_policy="raise")
    for axis in (0, 1, None):
        with pytest.raises(ValueError) as got:
            zscore(a, axis=axis, nan_policy="raise")
        assert str(got.value) == str(want.value) == "The input contains nan values"
    # no NaN, no error
    b = _rng(26).randn(6, 3)
    assert_bitwise(zscore(b, nan_policy="raise"), scipy_zscore(b, nan_policy="raise"))


@pytest.mark.parametrize("a", [[1.0, np.inf, 2.0], [np.inf, -np.inf], [[1.0, -np.inf]]],
                         ids=str)
def test_raise_policy_with_inf_like_scipy(a):
    a = np.asarray(a)
    with pytest.raises(ValueError, match="The input contains nan values"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pytest.importorskip("scipy.stats").zscore(a, axis=-1, nan_policy="raise")
    with pytest.raises(ValueError, match="The input contains nan values"):
        zscore(a, axis=-1, nan_policy="raise")


def _policy_set(message):
    m = re.fullmatch(r"nan_policy must be one of (\{.*\})\.", message)
    assert m, message
    return set(eval(m.group(1)))  # a set literal of three strings


@pytest.mark.parametrize("policy", ["foo", "Omit", None, ""])
def test_invalid_nan_policy_like_scipy(policy):
    a = _rng(26).randn(4, 3)
    with pytest.raises(ValueError) as want:
        pytest.importorskip("scipy.stats").zscore(a, nan_policy=policy)
    with pytest.raises(ValueError) as got:
        zscore(a, nan_policy=policy)
    # SciPy formats a Python set: its order depends on the hash seed.
    assert _policy_set(str(got.value)) == _policy_set(str(want.value)) == {
        "propagate", "omit", "raise"}


@pytest.mark.parametrize("shape,axis", [((3, 2), 2), ((3, 2), -3), ((5,), 1), ((), 0),
                                        ((2, 3, 4), 3)])
def test_axis_out_of_bounds_like_scipy(shape, axis):
    a = np.ones(shape)
    with pytest.raises(np.exceptions.AxisError) as want:
        pytest.importorskip("scipy.stats").zscore(a, axis=axis)
    with pytest.raises(np.exceptions.AxisError) as got:
        zscore(a, axis=axis)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("axis", [np.int64(1), np.int32(-1), np.intp(0)])
def test_numpy_integer_axis(axis):
    a = _rng(27).randn(5, 4)
    assert_bitwise(zscore(a, axis=axis), scipy_zscore(a, axis=axis))


@pytest.mark.parametrize("axis", [1.0, 1.5, True, "1"])
def test_non_integer_axis_raises_typeerror(axis):
    a = _rng(28).randn(4, 3)
    with pytest.raises(TypeError):
        pytest.importorskip("scipy.stats").zscore(a, axis=axis)
    with pytest.raises(TypeError):
        zscore(a, axis=axis)


def test_complex_input_refused():
    """SciPy standardises complex data; isoforest refuses it rather than drop the
    imaginary part (a documented difference)."""
    with pytest.raises(TypeError, match="complex"):
        zscore(np.array([1.0 + 1j, 2.0, 3.0]))


def test_masked_array_not_silently_unmasked():
    a = np.ma.array([1.0, 2.0, 3.0, 4.0], mask=[0, 1, 0, 0])
    want = scipy_zscore(a)
    try:
        got = zscore(a)
    except (TypeError, ValueError):
        return  # refusing masked input would be fine too
    np.testing.assert_allclose(np.ma.filled(got, np.nan)[[0, 2, 3]],
                               np.ma.filled(want, np.nan)[[0, 2, 3]], rtol=RTOL)


# ---------------------------------------------------------- hypothesis
_NASTY = st.one_of(
    st.floats(-1e3, 1e3, allow_nan=False, width=64),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.1, 1e308, -1e308, 5e-324, 1e-310,
                     np.nan, np.inf, -np.inf, 2.0**52, 1.0 + 2.0**-52]),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
)


@st.composite
def zscore_problems(draw):
    ndim = draw(st.integers(1, 2))
    if ndim == 1:
        shape = (draw(st.integers(0, 300)),)
    else:
        shape = (draw(st.integers(0, 20)), draw(st.integers(0, 20)))
    nasty = draw(st.booleans())
    elements = _NASTY if nasty else st.floats(-100, 100, width=64)
    a = draw(hnp.arrays(np.float64, shape, elements=elements))
    if ndim == 2 and a.size and draw(st.booleans()):  # a constant column
        a[:, draw(st.integers(0, shape[1] - 1))] = draw(st.sampled_from([0.1, 7.0, 0.0]))
    layout = draw(st.sampled_from(["C", "F", "T", "int"]))
    if layout == "F":
        a = np.asfortranarray(a)
    elif layout == "T" and ndim == 2:
        a = a.T
    elif layout == "int":
        a = np.nan_to_num(a, posinf=0, neginf=0).clip(-1e6, 1e6).astype(np.int64)
    axis = draw(st.sampled_from([None] + list(range(-ndim, ndim))))
    ddof = draw(st.integers(0, 3))
    nan_policy = draw(st.sampled_from(["propagate", "omit"]))
    return a, axis, ddof, nan_policy


@HYPOTHESIS
@given(zscore_problems())
def test_hypothesis_matches_scipy(problem):
    a, axis, ddof, nan_policy = problem
    want = scipy_zscore(a, axis=axis, ddof=ddof, nan_policy=nan_policy)
    got = zscore(a, axis=axis, ddof=ddof, nan_policy=nan_policy)
    if bit_identical_layout(a, axis):
        assert_bitwise(got, want)
    else:
        assert_close(got, want)


@HYPOTHESIS
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 6)),
                  elements=st.floats(-1e6, 1e6, width=64)),
       st.sampled_from([0, 1, None]), st.integers(0, 2))
def test_hypothesis_matches_twin(a, axis, ddof):
    """The naive twin, summing in NumPy's order, agrees bit for bit."""
    assert_bitwise(zscore(a, axis=axis, ddof=ddof), N.zscore(a, axis=axis, ddof=ddof))


# ========================================== (b) kernels vs the naive twin
def _twin_stats(X, ddof, omit, order, axis):
    nan_policy = "omit" if omit else "propagate"
    slices = X.T if axis == 0 else X
    out = [N.slice_stats(s.tolist(), ddof, nan_policy=nan_policy, order=order)
           for s in slices]
    return tuple(np.array(v) for v in zip(*out))


@pytest.mark.parametrize("omit", [False, True])
@pytest.mark.parametrize("ddof", [0.0, 1.0, 5.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 3), (7, 3), (40, 5), (150, 2), (9, 1), (300, 1)])
def test_col_stats_match_twin(shape, dtype, ddof, omit):
    rng = _rng(30)
    X = (rng.randn(*shape) * 3 + 10).astype(dtype)
    X[rng.rand(*shape) < 0.1] = np.nan
    # NumPy's order: one column is a contiguous vector (pairwise), several are
    # summed row after row.
    order = "pairwise" if shape[1] == 1 else "sequential"
    want = _twin_stats(X.astype(np.float64), ddof, omit, order, axis=0)
    for got in (K.col_stats_serial(X, ddof, omit, 1), K.col_stats(X, ddof, omit, 1),
                K.col_stats(X, ddof, omit, 2), K.col_stats(X, ddof, omit, 3)):
        for g, w, name in zip(got, want, ("mean", "std", "count")):
            assert_bitwise(g, w, name)


@pytest.mark.parametrize("omit", [False, True])
@pytest.mark.parametrize("ddof", [0.0, 1.0])
@pytest.mark.parametrize("shape", [(3, 1), (2, 7), (4, 8), (3, 129), (2, 300), (1, 1000)])
def test_row_stats_match_twin(shape, ddof, omit):
    rng = _rng(31)
    X = rng.randn(*shape) * 2 - 4
    X[rng.rand(*shape) < 0.1] = np.nan
    want = _twin_stats(X, ddof, omit, "pairwise", axis=1)
    for got in (K.row_stats_serial(X, ddof, omit), K.row_stats(X, ddof, omit)):
        for g, w, name in zip(got, want, ("mean", "std", "count")):
            assert_bitwise(g, w, name)


def test_stats_accurate_against_exact_sums():
    """Whatever the order, the statistics are accurate: compared with fsum."""
    X = _rng(32).randn(500, 3) * [1, 1e-3, 1e3] + [1e3, 0, -1]
    mean, std, _ = K.col_stats(X, 1.0, False, 2)
    want = _twin_stats(X, 1.0, False, "exact", axis=0)
    np.testing.assert_allclose(mean, want[0], rtol=1e-14)
    np.testing.assert_allclose(std, want[1], rtol=1e-13)


@pytest.mark.parametrize("axis", [0, 1])
def test_standardize_matches_twin(axis):
    rng = _rng(33)
    X = rng.randn(6, 5)
    n = X.shape[axis ^ 1]
    center = rng.randn(n)
    scale = rng.rand(n) + 0.5
    zero = np.zeros(n, dtype=bool)
    zero[1] = True
    for kernel in (K.standardize, K.standardize_serial):
        out = np.empty_like(X)
        kernel(X, center, scale, zero, axis, out)
        want = np.empty_like(X)
        for i in range(X.shape[0]):
            for j in range(X.shape[1]):
                k = j if axis == 0 else i
                want[i, j] = math.nan if zero[k] else (X[i, j] - center[k]) / scale[k]
        assert_bitwise(out, want)


def test_chan_merge_matches_twin_and_concatenation():
    rng = _rng(34)
    for n_a, n_b in [(1, 1), (1, 50), (50, 1), (13, 29), (0, 5), (5, 0), (0, 0)]:
        A = rng.randn(n_a, 3) * [1, 10, 0.1] + [0, 100, -3]
        B = rng.randn(n_b, 3) * [1, 10, 0.1] + [0.5, 90, -3]
        sa = [N.summary(A[:, j]) for j in range(3)]
        sb = [N.summary(B[:, j]) for j in range(3)]
        n, mean, m2 = K.chan_merge(float(n_a), np.array([s[1] for s in sa]),
                                   np.array([s[2] for s in sa]), float(n_b),
                                   np.array([s[1] for s in sb]), np.array([s[2] for s in sb]))
        assert n == n_a + n_b
        for j in range(3):
            _, tmean, tm2 = N.chan_merge(sa[j], sb[j])
            assert mean[j] == pytest.approx(tmean, rel=1e-15, abs=1e-300)
            assert m2[j] == pytest.approx(tm2, rel=1e-15, abs=1e-300)
            if n_a + n_b:
                _, cmean, cm2 = N.summary(np.r_[A[:, j], B[:, j]])
                assert mean[j] == pytest.approx(cmean, rel=RTOL, abs=1e-300)
                assert m2[j] == pytest.approx(cm2, rel=RTOL, abs=1e-300)


def test_abs_z_max_matches_twin():
    rng = _rng(35)
    X = rng.randn(30, 4)
    X[:5, 2] = 1.5  # equal to the constant column's centre
    X[5, 3] = np.nan
    center = np.array([0.1, -0.2, 1.5, 0.0])
    scale = np.array([1.0, 2.0, 0.0, 0.5])
    want = np.array([N.abs_z_max(row, center, scale) for row in X])
    for kernel in (K.abs_z_max, K.abs_z_max_serial):
        out = np.empty(len(X))
        kernel(X, center, scale, out)
        assert_bitwise(out, want)
    assert np.all(np.isinf(want[5:][~np.isnan(want[5:])]))


PAIRWISE_LENGTHS = (list(range(0, 300)) + [383, 384, 385, 511, 512, 513, 1000, 1023, 1024,
                                          1025, 4095, 4096, 4097, 10007, 65536, 100003])


def test_pairwise_sum_is_numpys_sum():
    """NumPy 2.3 on sums a contiguous vector in one pairwise tree, the order the
    kernel reproduces; before, NumPy summed it 8,192 values at a time, so on those
    releases a longer vector's sum agrees to round-off only (tested as such)."""
    rng = _rng(36)
    whole = np.lib.NumpyVersion(np.__version__) >= "2.3.0"
    for n in PAIRWISE_LENGTHS:
        a = rng.randn(n) * 10.0 ** rng.uniform(-8, 8, n)  # order matters for these
        if whole or n <= 8192:
            assert 0.0 + K.pairwise_sum(a, 0, n) == np.sum(a), n
        else:
            assert np.isclose(K.pairwise_sum(a, 0, n), np.sum(a), rtol=1e-12, atol=0), n
    a = rng.randn(5000) * 1e6
    for lo, n in [(0, 0), (1, 7), (3, 128), (7, 129), (100, 1000), (999, 4001)]:
        assert 0.0 + K.pairwise_sum(a, lo, n) == np.sum(a[lo:lo + n]), (lo, n)


def test_pairwise_sum_twin():
    rng = _rng(37)
    for n in [0, 1, 7, 8, 9, 16, 127, 128, 129, 130, 255, 256, 257, 1000, 3000]:
        a = rng.randn(n) * 10.0 ** rng.uniform(-8, 8, n)
        assert N.slice_sum(a, "pairwise") == 0.0 + K.pairwise_sum(a, 0, n) == np.sum(a), n
    assert N.slice_sum([-0.0], "pairwise") == np.sum([-0.0])
    assert not np.signbit(np.sum(np.array([-0.0]))) and not np.signbit(
        0.0 + K.pairwise_sum(np.array([-0.0]), 0, 1))


# ================================================ (c) golden files
def _golden_raw():
    return GOLDEN.read_bytes()


def _golden():
    raw = _golden_raw()
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    manifest = json.loads(str(arrays.pop("__manifest__")))
    return arrays, manifest


GOLDEN_CASES = sorted(_golden()[1]["cases"]) if GOLDEN.exists() else []


def test_golden_sha256():
    got = hashlib.sha256(_golden_raw()).hexdigest()
    assert got == GOLDEN_SHA256, (
        f"{GOLDEN.name}: sha256 {got} != {GOLDEN_SHA256}; regenerate with "
        "`python reference/make_golden_zscore.py` and update GOLDEN_SHA256")


def test_golden_manifest():
    arrays, manifest = _golden()
    assert set(manifest["members"]) == set(arrays)
    for key, digest in manifest["members"].items():
        buf = io.BytesIO()
        np.lib.format.write_array(buf, arrays[key], allow_pickle=False)
        assert hashlib.sha256(buf.getvalue()).hexdigest() == digest, key
    assert {k.split("/")[0] for k in arrays} == set(manifest["cases"])
    for name, entry in manifest["cases"].items():
        a = arrays[f"{name}/a"]
        assert list(a.shape) == entry["shape"] and str(a.dtype) == entry["dtype"]
        if "error" not in entry:
            assert str(arrays[f"{name}/z"].dtype) == entry["z_dtype"]
            assert int(np.isnan(arrays[f"{name}/z"]).sum()) == entry["n_nan"]
    assert manifest["function"] == "scipy.stats.zscore"
    assert set(manifest["versions"]) >= {"scipy", "numpy", "python"}
    assert GOLDEN.stat().st_size < 200_000


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden(case):
    """isoforest reproduces the stored SciPy answers (no SciPy needed)."""
    arrays, manifest = _golden()
    entry = manifest["cases"][case]
    a = arrays[f"{case}/a"]
    if "error" in entry:
        with pytest.raises(ValueError) as exc:
            zscore(a, **entry["kwargs"])
        assert str(exc.value) == str(arrays[f"{case}/error"])
        return
    got = zscore(a, **entry["kwargs"])
    want = arrays[f"{case}/z"]
    if a.dtype == np.float32:
        assert_close(got, want, rtol=F32_TOL, atol=F32_TOL)
    else:
        assert_bitwise(got, want, case)


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden_is_current(case):
    """Live SciPy (the manifest's version) still gives the stored answers."""
    scipy = pytest.importorskip("scipy")
    arrays, manifest = _golden()
    if scipy.__version__ != manifest["versions"]["scipy"]:
        pytest.skip(f"golden file is from SciPy {manifest['versions']['scipy']}")
    entry = manifest["cases"][case]
    a = arrays[f"{case}/a"]
    if "error" in entry:
        with pytest.raises(ValueError, match=re.escape(entry["error"])):
            pytest.importorskip("scipy.stats").zscore(a, **entry["kwargs"])
    else:
        assert_bitwise(scipy_zscore(a, **entry["kwargs"]), arrays[f"{case}/z"], case)


# ==================================================== (d) the detector
def _blob(seed=40, n=400, f=3):
    rng = _rng(seed)
    return rng.randn(n, f) * [1.0, 5.0, 0.2][:f] + [0.0, 10.0, -3.0][:f]


def _twin_fit(X, ddof=0):
    """Mean and std per column, summed in NumPy's order for a C-ordered ``X``."""
    order = N.numpy_order(X.shape, 0)
    center = np.array([N.mean(X[:, j], order=order) for j in range(X.shape[1])])
    scale = np.sqrt([N.variance(X[:, j], ddof, order=order) for j in range(X.shape[1])])
    return center, scale


def test_three_sigma_rule():
    X = _blob()
    det = ZScoreDetector().fit(X)
    assert det.threshold_ == 3.0 and det.offset_ == -3.0
    center, scale = _twin_fit(X)
    np.testing.assert_array_equal(det.center_, center)
    np.testing.assert_allclose(det.scale_, scale, rtol=RTOL)
    # planted rows: 2.9 and 3.1 standard deviations out on one feature
    T = np.tile(center, (4, 1))
    T[0, 0] += 2.9 * scale[0]
    T[1, 1] -= 3.1 * scale[1]
    T[2, 2] += 10 * scale[2]
    np.testing.assert_array_equal(det.predict(T), [1, -1, -1, 1])
    z = np.array([[N.constant_rule_z(x, c, s) for x, c, s in zip(row, center, scale)]
                  for row in np.r_[X, T]])
    np.testing.assert_allclose(det.score_samples(np.r_[X, T]), -np.abs(z).max(axis=1),
                               rtol=RTOL, atol=RTOL)
    np.testing.assert_array_equal(det.predict(X), np.where(np.abs(z[:len(X)]).max(1) > 3,
                                                           -1, 1))
    np.testing.assert_array_equal(det.fit_predict(X), det.predict(X))
    np.testing.assert_allclose(det.decision_function(X), det.score_samples(X) + 3.0,
                               rtol=0, atol=0)


def test_threshold_is_exceeded_not_reached():
    det = ZScoreDetector(threshold=1.0).fit([[-1.0], [1.0]])  # mean 0, std 1
    np.testing.assert_array_equal(det.predict([[1.0], [-1.0], [1.0000001], [0.5]]),
                                  [1, 1, -1, 1])


def test_ddof_and_statistics_match_numpy():
    X = _blob(41, 60)
    for ddof in (0, 1, 2):
        det = ZScoreDetector(ddof=ddof).fit(X)
        np.testing.assert_array_equal(det.mean_, np.mean(X, axis=0))
        np.testing.assert_allclose(det.var_, np.var(X, axis=0, ddof=ddof), rtol=RTOL)
        np.testing.assert_allclose(det.scale_, _twin_fit(X, ddof)[1], rtol=RTOL)
        assert det.n_samples_seen_ == 60


def test_robust_modified_zscore():
    X = _blob(42, 201)
    X[:5, 0] = [40, -35, 50, 60, -70]  # gross outliers barely move the median
    det = ZScoreDetector(method="robust").fit(X)
    assert det.threshold_ == 3.5 and det.offset_ == -3.5
    for j in range(X.shape[1]):
        assert det.center_[j] == N.median(X[:, j])
        assert det.scale_[j] == pytest.approx(N.mad(X[:, j]) / 0.6745, rel=RTOL)
    T = np.r_[X[:20], [[0.0, 10.0, -3.0], [9.0, 10.0, -3.0]]]
    want = np.column_stack([N.modified_zscore(X[:, j], T[:, j]) for j in range(3)])
    np.testing.assert_allclose(det.zscores(T), want, rtol=RTOL, atol=1e-15)
    flagged = np.abs(want).max(axis=1) > 3.5
    assert flagged[:5].all() and not flagged[-2] and flagged[-1]
    np.testing.assert_array_equal(det.predict(T), np.where(flagged, -1, 1))


@pytest.mark.parametrize("method", ["standard", "robust"])
@pytest.mark.parametrize("constant", [7.0, 0.0, -2.5, 2.0**-1000])
def test_constant_column_rule(method, constant):
    X = _blob(43, 50, 2)
    X = np.c_[X, np.full(len(X), constant)]
    det = ZScoreDetector(method=method).fit(X)
    assert det.scale_[2] == 0.0 and det.center_[2] == constant
    T = np.array([[0.0, 10.0, constant],
                  [0.0, 10.0, np.nextafter(constant, np.inf)],
                  [0.0, 10.0, np.nextafter(constant, -np.inf)],
                  [0.0, 10.0, constant + 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no division by zero
        np.testing.assert_array_equal(det.predict(T), [1, -1, -1, -1])
        scores = det.score_samples(T)
    assert np.isfinite(scores[0]) and np.all(scores[1:] == -np.inf)
    np.testing.assert_array_equal(det.predict(X), np.where(
        np.abs(det.zscores(X)[:, :2]).max(1) > det.threshold_, -1, 1))


@pytest.mark.parametrize("method", ["standard", "robust"])
def test_zscores_on_constant_column(method):
    X = np.c_[_blob(44, 30, 1), np.full(30, 2.5)]
    det = ZScoreDetector(method=method).fit(X)
    z = det.zscores(np.array([[0.0, 2.5], [0.0, 3.0], [0.0, 2.0]]))
    np.testing.assert_array_equal(z[:, 1], [0.0, np.inf, -np.inf])


def test_zscores_constant_column_silent():
    det = ZScoreDetector().fit(np.c_[_blob(45, 30, 1), np.full(30, 2.5)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        det.zscores(np.array([[0.0, 2.5]]))


@pytest.mark.parametrize("constant,n", [(0.1, 3), (0.1, 10), (0.7, 7), (1e300, 50)])
def test_constant_column_rule_inexact_mean(constant, n):
    X = np.c_[_rng(46).randn(n), np.full(n, constant)]
    det = ZScoreDetector().fit(X)
    assert det.scale_[1] == 0.0
    z = det.zscores(np.array([[0.0, constant], [0.0, np.nextafter(constant, np.inf)]]))
    np.testing.assert_array_equal(z[:, 1], [0.0, np.inf])


def test_zscores_explain_flags():
    X = _blob(47, 300, 3)
    X[[3, 7, 11]] += [[9.0, 0, 0], [0, -40.0, 0], [0, 0, 2.0]]
    for det in (ZScoreDetector().fit(X), ZScoreDetector(method="robust").fit(X),
                ZScoreDetector(threshold=2.0, ddof=1).fit(X)):
        z = det.zscores(X)
        assert z.shape == X.shape
        flagged = (np.abs(z) > det.threshold_).any(axis=1)
        np.testing.assert_array_equal(det.predict(X) == -1, flagged)
        np.testing.assert_allclose(det.score_samples(X), -np.abs(z).max(axis=1),
                                   rtol=RTOL)
        assert {3, 7, 11} <= set(np.flatnonzero(flagged))
        # the feature that explains each planted flag
        assert np.argmax(np.abs(z[[3, 7, 11]]), axis=1).tolist() == [0, 1, 2]


@pytest.mark.parametrize("contamination", [0.01, 0.1, 0.25, 0.5])
@pytest.mark.parametrize("method", ["standard", "robust"])
def test_contamination_sets_offset_to_percentile(contamination, method):
    X = _blob(48, 400)
    det = ZScoreDetector(contamination=contamination, method=method).fit(X)
    scores = det.score_samples(X)
    assert det.offset_ == np.percentile(scores, 100.0 * contamination)
    share = np.mean(det.predict(X) == -1)
    assert abs(share - contamination) <= 1.0 / len(X)
    for c in (None, "auto"):
        d = ZScoreDetector(contamination=c, method=method).fit(X)
        assert d.offset_ == -d.threshold_


def _random_splits(n, rng, n_batches):
    cuts = np.sort(rng.choice(np.arange(1, n), size=n_batches - 1, replace=False))
    return np.split(np.arange(n), cuts)


@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_partial_fit_equals_fit(seed, ddof):
    rng = _rng(50 + seed)
    # |mean| / std up to 1e3: see test_partial_fit_offset_data for more
    X = rng.randn(240, 4) * [1.0, 30.0, 1e-3, 1e2] + [0.0, 1e3, 1e-1, -1e4]
    full = ZScoreDetector(ddof=ddof).fit(X)
    splits = [_random_splits(len(X), rng, k) for k in (2, 7, 40)]
    splits.append([np.arange(i, i + 1) for i in range(len(X))])  # one row at a time
    for parts in splits:
        det = ZScoreDetector(ddof=ddof)
        for idx in parts:
            assert det.partial_fit(X[idx]) is det
        assert det.n_samples_seen_ == full.n_samples_seen_ == len(X)
        np.testing.assert_allclose(det.mean_, full.mean_, rtol=RTOL)
        np.testing.assert_allclose(det.var_, full.var_, rtol=RTOL)
        np.testing.assert_allclose(det.score_samples(X), full.score_samples(X), rtol=1e-11)
    np.testing.assert_allclose(full.var_, [N.variance(X[:, j], ddof, order="exact")
                                           for j in range(4)], rtol=RTOL)


def test_partial_fit_first_call_equals_fit_and_continues_fit():
    X = _blob(55, 100)
    a = ZScoreDetector().partial_fit(X)
    b = ZScoreDetector().fit(X)
    np.testing.assert_array_equal(a.mean_, b.mean_)
    np.testing.assert_array_equal(a.var_, b.var_)
    c = ZScoreDetector().fit(X[:30]).partial_fit(X[30:])
    np.testing.assert_allclose(c.var_, b.var_, rtol=RTOL)
    # refitting forgets what partial_fit saw
    d = ZScoreDetector().partial_fit(X[:50]).fit(X[50:])
    assert d.n_samples_seen_ == 50
    np.testing.assert_array_equal(d.mean_, ZScoreDetector().fit(X[50:]).mean_)


def test_partial_fit_offset_data():
    X = 1e6 + _rng(56).randn(300, 2)
    full = ZScoreDetector().fit(X)
    det = ZScoreDetector()
    for i in range(len(X)):
        det.partial_fit(X[i:i + 1])
    np.testing.assert_allclose(det.var_, full.var_, rtol=RTOL)


def test_partial_fit_contamination_refused():
    """A float contamination needs all training scores at once: partial_fit refuses
    it with a message saying what to do instead (it used to freeze offset_ at the
    first batch's percentile and flag every row)."""
    X = _blob(57, 200)
    det = ZScoreDetector(contamination=0.1)
    assert not hasattr(det, "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as info:
        det.partial_fit(X[:1])
    assert "partial_fit needs contamination=None" in str(info.value.__cause__)


def test_partial_fit_robust_raises():
    X = _blob(58, 20)
    for det in (ZScoreDetector(method="robust"), ZScoreDetector(method="robust").fit(X)):
        with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as info:
            det.partial_fit(X)
        assert "partial_fit needs method='standard'" in str(info.value.__cause__)


def test_partial_fit_hidden_for_robust():
    assert not hasattr(ZScoreDetector(method="robust"), "partial_fit")


def test_partial_fit_after_robust_fit():
    X = _blob(59, 30)
    det = ZScoreDetector(method="robust").fit(X)
    det.set_params(method="standard").partial_fit(X)
    np.testing.assert_allclose(det.mean_, np.mean(X, axis=0), rtol=RTOL)


def test_parallel_matches_serial():
    X = _blob(60, 30000, 3)  # 90000 elements: the threaded kernels
    a = ZScoreDetector(n_jobs=2).fit(X)
    b = ZScoreDetector().fit(X)
    np.testing.assert_array_equal(a.mean_, b.mean_)
    np.testing.assert_array_equal(a.var_, b.var_)
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))


def test_pickle_and_clone():
    X = _blob(61, 80)
    for det in (ZScoreDetector().fit(X), ZScoreDetector(method="robust").fit(X),
                ZScoreDetector(contamination="auto", ddof=1).partial_fit(X[:40]).partial_fit(X[40:])):
        copy = pickle.loads(pickle.dumps(det))
        for method in ("score_samples", "decision_function", "predict", "zscores"):
            np.testing.assert_array_equal(getattr(copy, method)(X), getattr(det, method)(X))
        assert copy.get_params() == det.get_params()
    det = ZScoreDetector(threshold=2.0).partial_fit(X[:40])
    copy = pickle.loads(pickle.dumps(det)).partial_fit(X[40:])
    np.testing.assert_array_equal(copy.var_, det.partial_fit(X[40:]).var_)
    sklearn_base = pytest.importorskip("sklearn.base")
    cloned = sklearn_base.clone(ZScoreDetector(threshold=2.5, method="robust"))
    assert cloned.get_params()["threshold"] == 2.5 and not hasattr(cloned, "offset_")


@pytest.mark.parametrize("params,message", [
    ({"threshold": 0}, "The 'threshold' parameter of ZScoreDetector must be a float in "
     "the range (0.0, inf) or None. Got 0 instead."),
    ({"method": "mad"}, "The 'method' parameter of ZScoreDetector must be a str among "
     "{'robust', 'standard'}. Got 'mad' instead."),
    ({"ddof": -1}, "The 'ddof' parameter of ZScoreDetector must be an int in the range "
     "[0, inf). Got -1 instead."),
    ({"contamination": 0.6}, "The 'contamination' parameter of ZScoreDetector must be a "
     "str among {'auto'}, a float in the range (0.0, 0.5] or None. Got 0.6 instead."),
])
def test_invalid_params(params, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ZScoreDetector(**params).fit(_blob(62, 10))


# ---------------------------------------------------- bad input, sklearn's words
_SK_NAMES = re.compile(r"\b(EllipticEnvelope|MinCovDet|IsolationForest)\b")


def _message(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - the message is what is compared
            return type(exc), _SK_NAMES.sub("ZScoreDetector", str(exc))
    return None, None


def _bad_inputs():
    X = _rng(63).randn(20, 3)
    nan = X.copy()
    nan[2, 1] = np.nan
    inf = X.copy()
    inf[3, 0] = np.inf
    return {
        "1d": np.arange(5.0),
        "3d": np.ones((2, 3, 4)),
        "scalar": np.float64(1.0),
        "nan": nan,
        "inf": inf,
        "complex": X[:4] + 1j,
        "no_features": np.empty((5, 0)),
    }


@pytest.mark.parametrize("case", list(_bad_inputs()))
def test_bad_fit_input_like_sklearn(case):
    covariance = pytest.importorskip("sklearn.covariance")
    X = _bad_inputs()[case]
    want = _message(lambda: covariance.EllipticEnvelope(random_state=0).fit(X))
    assert want[0] is not None
    for method in ("fit", "partial_fit", "fit_predict"):
        got = _message(lambda: getattr(ZScoreDetector(), method)(X))
        assert got == want, method


def test_bad_input_empty_and_sparse_like_sklearn():
    ensemble = pytest.importorskip("sklearn.ensemble")
    covariance = pytest.importorskip("sklearn.covariance")
    sparse = pytest.importorskip("scipy.sparse")
    empty = np.empty((0, 3))
    # EllipticEnvelope needs two rows; IsolationForest, like ZScoreDetector, one
    assert _message(lambda: ZScoreDetector().fit(empty)) == _message(
        lambda: ensemble.IsolationForest().fit(empty))
    S = sparse.csr_matrix(_rng(64).randn(5, 3))
    assert _message(lambda: ZScoreDetector().fit(S)) == _message(
        lambda: covariance.EllipticEnvelope().fit(S))


@pytest.mark.parametrize("case", ["wrong_n_features", "1d", "3d", "nan", "inf", "empty"])
def test_bad_predict_input_like_sklearn(case):
    covariance = pytest.importorskip("sklearn.covariance")
    X = _rng(65).randn(30, 3)
    bad = {"wrong_n_features": np.ones((4, 5)), "empty": np.empty((0, 3)),
           **{k: v for k, v in _bad_inputs().items() if k in ("1d", "3d", "nan", "inf")}}[case]
    ref = covariance.EllipticEnvelope(random_state=0).fit(X)
    det = ZScoreDetector().fit(X)
    for method in ("predict", "decision_function", "score_samples"):
        want = _message(lambda: getattr(ref, method)(bad))
        assert want[0] is not None
        assert _message(lambda: getattr(det, method)(bad)) == want, method
    assert _message(lambda: det.zscores(bad)) == want
    if case == "wrong_n_features":
        assert _message(lambda: det.partial_fit(bad)) == want


def test_not_fitted_like_sklearn():
    exceptions = pytest.importorskip("sklearn.exceptions")
    covariance = pytest.importorskip("sklearn.covariance")
    X = _rng(66).randn(5, 3)
    for method in ("predict", "decision_function", "score_samples"):
        want = _message(lambda: getattr(covariance.EllipticEnvelope(), method)(X))
        got = _message(lambda: getattr(ZScoreDetector(), method)(X))
        assert got[1] == want[1]
        assert issubclass(got[0], exceptions.NotFittedError)
        assert issubclass(got[0], NotFittedError)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        ZScoreDetector().zscores(X)


# ---------------------------------------------------- scikit-learn's checks
try:
    from sklearn.utils.estimator_checks import parametrize_with_checks
except ImportError:  # scikit-learn not installed: the rest still runs
    parametrize_with_checks = None

#: The |z| rule (3 or 3.5) flags no row of the make_blobs data that these checks
#: use (each feature's spread covers the blobs), but the checks assert that predict
#: returns both labels. That is the rule working as documented, not a fault: with
#: contamination=0.1 every check passes.
_NO_OUTLIERS_IN_BLOBS = (
    "the |z| > threshold rule with contamination=None finds no outlier in make_blobs "
    "data, and the check expects predict to return both -1 and +1")
#: Real bug (reported): partial_fit exists on method='robust' but raises.
EXPECTED_FAILED_CHECKS = {
    "standard": {
        "check_outliers_train": _NO_OUTLIERS_IN_BLOBS,
        "check_outliers_fit_predict": _NO_OUTLIERS_IN_BLOBS,
    },
    "robust": {
        "check_outliers_train": _NO_OUTLIERS_IN_BLOBS,
        "check_outliers_fit_predict": _NO_OUTLIERS_IN_BLOBS,
    },
}


def _expected_failed_checks(estimator):
    if estimator.contamination is not None:
        return {}
    return EXPECTED_FAILED_CHECKS[estimator.method]


if parametrize_with_checks is not None:
    with warnings.catch_warnings():
        # isoforest deliberately does not inherit from sklearn.base.BaseEstimator
        warnings.filterwarnings(
            "ignore", message=".*does not inherit from `sklearn.base.BaseEstimator`")
        _checks = parametrize_with_checks(
            [ZScoreDetector(), ZScoreDetector(method="robust"),
             ZScoreDetector(contamination=0.1)],
            expected_failed_checks=_expected_failed_checks,
        )

    @_checks
    def test_sklearn_compatible_estimator(estimator, check):
        check(estimator)


# =============================================== (e) pure-Python kernels

def test_pure_python_kernels(tmp_path):
    """With NUMBA_DISABLE_JIT=1 the kernels run as plain Python: same answers as the
    twin and as SciPy."""
    rng = _rng(70)
    X = rng.randn(150, 3) * [1, 10, 0.1] + [0, 5, -1]
    X[rng.rand(150, 3) < 0.05] = np.nan
    X[:, 2] = np.where(np.isnan(X[:, 2]), np.nan, 0.25)  # a constant column
    np.save(tmp_path / "X.npy", X)
    run_pure_python("_pure_python_zscore.py", tmp_path / "X.npy", tmp_path / "out.npz",
                    timeout=300)
    got = np.load(tmp_path / "out.npz")
    assert got["jit_disabled"] and got["no_dispatcher"]
    for omit in (False, True):
        for name, ddof, order, axis, data in (
                ("col", 1.0, "sequential", 0, X), ("col_serial", 1.0, "sequential", 0, X),
                ("col1", 0.0, "pairwise", 0, X[:, :1]), ("row", 0.0, "pairwise", 1, X)):
            want = _twin_stats(data, ddof, omit, order, axis)
            for k, w in zip(("mean", "std", "count"), want):
                assert_bitwise(got[f"{name}/{omit}/{k}"], w, f"{name}/{omit}/{k}")
    assert got["pairwise"][0] == N.pairwise_sum(np.nan_to_num(X[:, 0]).tolist())
    assert got["pairwise"][1] == N.pairwise_sum((np.arange(300.0) / 7)[5:295].tolist())
    assert_bitwise(got["zscore0"], N.zscore(X, axis=0, nan_policy="omit"))
    assert_bitwise(got["zscore1"], N.zscore(X, axis=1))
    assert_bitwise(got["zscore0"], zscore(X, axis=0, nan_policy="omit"))
    Xf = np.nan_to_num(X)
    assert_bitwise(got["scores"], ZScoreDetector().fit(Xf).score_samples(Xf))
    assert_bitwise(got["robust"], ZScoreDetector(method="robust").fit(Xf).score_samples(Xf))
    want_chan = [N.chan_merge((2.0, m_a, v_a), (3.0, m_b, v_b))
                 for m_a, v_a, m_b, v_b in ((1.0, 0.5, 4.0, 1.5), (2.0, 0.0, 2.0, 0.0))]
    np.testing.assert_allclose(got["chan"], [5.0, want_chan[0][1], want_chan[1][1],
                                             want_chan[0][2], want_chan[1][2]], rtol=1e-15)

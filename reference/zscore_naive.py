"""z-scores the slow way: plain-Python twins of isoforest's z-score kernels.

Written from the definitions, one small function per idea, so that the tests can
compare ``isoforest/stats/_kernels.py`` (and ``isoforest.zscore``,
``isoforest.ZScoreDetector``) against something readable:

* the mean ``sum(x) / n`` and the variance ``sum((x - mean)**2) / n * n / (n - ddof)``,
  formed in that order because that is how SciPy forms them (``_xp_mean``, then
  ``_xp_var`` multiplies by ``n / (n - ddof)``, NaN when ``n - ddof <= 0``);
* the z-score of one slice, ``(x - mean) / std``, with SciPy's three NaN policies and
  its zero-spread rule: a slice whose ``std <= |eps * mean|`` is all NaN
  (``scipy.stats.zmap`` when ``scores is compare``);
* the modified z-score of Iglewicz & Hoaglin (1993), ``0.6745 (x - median) / MAD``;
* Chan, Golub & LeVeque's (1979) merge of two ``(n, mean, M2)`` summaries.

Summation order
---------------
Bit-for-bit agreement with SciPy needs NumPy's summation order, which depends on the
memory layout (NumPy reduces in memory order):

``"pairwise"``
    NumPy's pairwise summation (``pairwise_sum`` in NumPy's
    ``loops_utils.h.src``): used when the reduced values are the innermost,
    contiguous axis (a 1-D array, a row of a C-ordered matrix, a column of an
    F-ordered one, a whole contiguous array with ``axis=None``).
``"sequential"``
    A plain left-to-right loop: NumPy's order when the reduced axis is *not*
    innermost (a column of a C-ordered matrix with more than one column: NumPy adds
    whole rows into an accumulator row).
``"exact"``
    ``math.fsum``, the correctly rounded sum: for checking accuracy, not order.

Every sum starts from ``0.0``, as NumPy's does (``np.sum([-0.0])`` is ``0.0``).

Numbers are Python floats (IEEE float64) throughout; float32 input is widened to
float64 first (isoforest's documented choice; SciPy computes float32 in float32).
Deliberately slow: keep the arrays small.
"""

import math

import numpy as np

__all__ = [
    "EPS64",
    "MODIFIED_Z",
    "PAIRWISE_BLOCKSIZE",
    "pairwise_sum",
    "sequential_sum",
    "slice_sum",
    "numpy_order",
    "mean",
    "variance",
    "slice_stats",
    "zscore_slice",
    "zscore",
    "median",
    "mad",
    "modified_zscore",
    "summary",
    "chan_merge",
    "constant_rule_z",
    "abs_z_max",
]

EPS64 = float(np.finfo(np.float64).eps)
#: Iglewicz & Hoaglin's constant: 0.6745 ~ the 0.75 quantile of N(0, 1), so that
#: MAD / 0.6745 estimates sigma for normal data.
MODIFIED_Z = 0.6745
#: NumPy's ``PW_BLOCKSIZE``: blocks up to this size are summed with 8 accumulators.
PAIRWISE_BLOCKSIZE = 128

NAN_POLICIES = ("propagate", "omit", "raise")


# ------------------------------------------------------------------------ sums
def pairwise_sum(values):
    """NumPy's pairwise summation of a sequence of floats (without the initial 0.0).

    Fewer than 8 values: a plain loop. Up to 128: eight running sums over strides of
    8, combined as ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, then the
    remainder added one by one. More: split at half the length rounded down to a
    multiple of 8, and add the two halves' sums.
    """
    n = len(values)
    if n < 8:
        res = 0.0
        for v in values:
            res += v
        return res
    if n <= PAIRWISE_BLOCKSIZE:
        r = [float(v) for v in values[:8]]
        stop = n - n % 8
        for i in range(8, stop, 8):
            for k in range(8):
                r[k] += values[i + k]
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for i in range(stop, n):
            res += values[i]
        return res
    half = n // 2
    half -= half % 8
    return pairwise_sum(values[:half]) + pairwise_sum(values[half:])


def sequential_sum(values):
    """Left to right, from 0.0."""
    res = 0.0
    for v in values:
        res += v
    return res


def slice_sum(values, order="pairwise"):
    """Sum of ``values`` in NumPy's ``order`` (see the module docstring)."""
    values = [float(v) for v in values]
    if order == "pairwise":
        return 0.0 + pairwise_sum(values)
    if order == "sequential":
        return sequential_sum(values)
    if order == "exact":
        return math.fsum(values)
    raise ValueError(f"unknown summation order {order!r}")


def numpy_order(shape, axis):
    """The order in which NumPy sums the slices of a C-ordered array of ``shape``
    along ``axis`` (None: the flattened array): pairwise when the reduced axis is the
    innermost one of length > 1, else sequential."""
    if axis is None or len(shape) <= 1:
        return "pairwise"
    axis %= len(shape)
    if all(s == 1 for s in shape[axis + 1:]):
        return "pairwise"
    return "sequential"


# ------------------------------------------------------------ one-slice stats
def _weights(values, nan_policy):
    """SciPy's treatment of NaN: ``omit`` gives them weight 0 and value 0.0 (so they
    stay in the sum, which keeps NumPy's pairwise tree); the others keep them."""
    if nan_policy == "omit":
        keep = [not math.isnan(v) for v in values]
    else:
        keep = [True] * len(values)
    return [v if k else 0.0 for v, k in zip(values, keep)], keep


def mean(values, *, nan_policy="propagate", order="pairwise"):
    """``sum(x) / n`` (NaN for an empty slice); with ``omit``, NaN are left out."""
    values = [float(v) for v in values]
    x, keep = _weights(values, nan_policy)
    n = sum(keep)
    total = slice_sum(x, order)
    return total / n if n > 0 else math.nan


def variance(values, ddof=0, *, nan_policy="propagate", order="pairwise"):
    """SciPy's variance: the mean of squared deviations from the mean, then times
    ``n / (n - ddof)``; NaN where ``n - ddof <= 0`` (and for an empty slice)."""
    values = [float(v) for v in values]
    m = mean(values, nan_policy=nan_policy, order=order)
    x, keep = _weights(values, nan_policy)
    n = sum(keep)
    if n == 0:
        return math.nan
    sq = [(v - m) * (v - m) if k else 0.0 for v, k in zip(x, keep)]
    var = slice_sum(sq, order) / n
    if ddof != 0:
        nc = n - ddof
        var = var * (n / nc) if nc > 0 else math.nan
    return var


def slice_stats(values, ddof=0, *, nan_policy="propagate", order="pairwise"):
    """``(mean, std, count)`` of one slice, as isoforest's kernels return them."""
    values = [float(v) for v in values]
    _, keep = _weights(values, nan_policy)
    m = mean(values, nan_policy=nan_policy, order=order)
    var = variance(values, ddof, nan_policy=nan_policy, order=order)
    return m, math.sqrt(var), float(sum(keep))


def zscore_slice(values, ddof=0, *, nan_policy="propagate", order="pairwise", eps=EPS64):
    """z-scores of one slice, SciPy's way.

    'propagate': a NaN anywhere makes the mean NaN, hence the whole slice NaN.
    'omit': NaN are left out of the mean and variance and stay NaN in the output.
    'raise': a NaN raises ``ValueError("The input contains nan values")``.
    A slice with ``std <= |eps * mean|`` (no spread distinguishable from round-off)
    is all NaN; ``eps`` is the machine epsilon of the output dtype.
    """
    if nan_policy not in NAN_POLICIES:
        raise ValueError("nan_policy must be one of {'propagate', 'omit', 'raise'}.")
    values = [float(v) for v in values]
    if nan_policy == "raise" and any(math.isnan(v) for v in values):
        raise ValueError("The input contains nan values")
    m, sd, _ = slice_stats(values, ddof, nan_policy=nan_policy, order=order)
    if sd <= abs(eps * m):
        return [math.nan] * len(values)
    return [(v - m) / sd for v in values]


def zscore(a, axis=0, ddof=0, nan_policy="propagate", order=None):
    """The whole of ``scipy.stats.zscore`` for real input, slice by slice.

    ``order`` None picks NumPy's order for a C-ordered array (``numpy_order``).
    Integer and boolean input give float64; float input keeps its dtype (computed in
    float64, rounded at the end, with that dtype's epsilon in the zero-spread rule).
    """
    a = np.asarray(a)
    out_dtype = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
    eps = float(np.finfo(out_dtype).eps)
    if order is None:
        order = numpy_order(a.shape, axis)
    x = a.astype(np.float64)
    if axis is None:
        flat = zscore_slice(x.ravel().tolist(), ddof, nan_policy=nan_policy, order=order,
                            eps=eps)
        return np.array(flat, dtype=np.float64).reshape(a.shape).astype(out_dtype)
    moved = np.moveaxis(x, axis, -1)
    z = np.empty(moved.shape, dtype=np.float64)
    for idx in np.ndindex(moved.shape[:-1]):
        z[idx] = zscore_slice(moved[idx].tolist(), ddof, nan_policy=nan_policy,
                              order=order, eps=eps)
    return np.moveaxis(z, -1, axis).astype(out_dtype)


# ------------------------------------------------------------ robust z-scores
def median(values):
    """The middle value, or the mean of the two middle values (``np.median``)."""
    s = sorted(float(v) for v in values)
    n = len(s)
    if n == 0:
        return math.nan
    mid = n // 2
    if n % 2:
        return s[mid]
    return (s[mid - 1] + s[mid]) / 2.0


def mad(values):
    """Median absolute deviation from the median (not scaled)."""
    med = median(values)
    return median([abs(float(v) - med) for v in values])


def modified_zscore(values, points=None):
    """Iglewicz & Hoaglin's modified z-score ``0.6745 (x - median) / MAD`` of
    ``points`` (default: ``values`` themselves) against the sample ``values``.

    MAD = 0 (more than half the sample equal): isoforest's constant-column rule, 0
    for a point equal to the median and +/-inf for any other.
    """
    med = median(values)
    m = mad(values)
    points = values if points is None else points
    out = []
    for p in points:
        d = float(p) - med
        if m == 0.0:
            out.append(0.0 if d == 0.0 else math.copysign(math.inf, d))
        else:
            out.append(MODIFIED_Z * d / m)
    return out


# ---------------------------------------------------------------- streaming
def summary(values):
    """``(n, mean, M2)`` of a sample: M2 is the sum of squared deviations from the
    mean (two passes, pairwise sums)."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        return 0.0, 0.0, 0.0
    m = slice_sum(values) / n
    m2 = slice_sum([(v - m) * (v - m) for v in values])
    return float(n), m, m2


def chan_merge(a, b):
    """Chan, Golub & LeVeque's pairwise update of two ``(n, mean, M2)`` summaries::

        delta = mean_b - mean_a
        mean  = mean_a + delta * n_b / n
        M2    = M2_a + M2_b + delta**2 * n_a * n_b / n

    equal, up to round-off, to ``summary`` of the two samples together, however the
    data are split (stable even for one row at a time: no big sum is subtracted).
    """
    n_a, mean_a, m2_a = a
    n_b, mean_b, m2_b = b
    n = n_a + n_b
    if n == 0:
        return 0.0, 0.0, 0.0
    delta = mean_b - mean_a
    return n, mean_a + delta * n_b / n, m2_a + m2_b + delta * delta * n_a * n_b / n


# ----------------------------------------------------------------- detector
def constant_rule_z(x, center, scale):
    """``(x - center) / scale``; on a zero ``scale`` (constant column) 0 when
    ``x == center`` and +/-inf otherwise: no division by zero."""
    d = float(x) - float(center)
    if scale == 0.0:
        return 0.0 if d == 0.0 else math.copysign(math.inf, d)
    return d / scale


def abs_z_max(row, center, scale):
    """The largest |z| of one row (NaN if any |z| is NaN): what ``ZScoreDetector``
    compares with its threshold (its ``score_samples`` is the negative)."""
    best = 0.0
    for x, c, s in zip(row, center, scale):
        z = abs(constant_rule_z(x, c, s))
        if math.isnan(z):
            return math.nan
        best = max(best, z)
    return best

"""Numba kernels for z-scores: column and row statistics, standardisation, merging.

NumPy and Numba only. Statistics are two-pass (mean, then the sum of squared
deviations from it), the numerically safe way SciPy computes them, and the
variance is formed as SciPy forms it: ``mean(d**2) * n / (n - ddof)``.
"""

import numpy as np
from numba import prange

from .._config import jit, jit_parallel

@jit
def _pairwise_leaf(a, lo, n):
    """NumPy's base case: a plain loop below 8 values, else 8 running sums."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0 = a[lo]
    r1 = a[lo + 1]
    r2 = a[lo + 2]
    r3 = a[lo + 3]
    r4 = a[lo + 4]
    r5 = a[lo + 5]
    r6 = a[lo + 6]
    r7 = a[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@jit
def pairwise_sum(a, lo, n):
    """NumPy's pairwise summation of ``a[lo:lo + n]`` (``np.sum`` of a contiguous
    1-D float64 array is ``0.0 + pairwise_sum(a, 0, n)``), reproduced so the
    statistics come out in SciPy's exact floating-point order.

    NumPy recurses (halves rounded to multiples of 8, blocks of at most 128); this
    walks the same tree with an explicit stack, because Numba's on-disk cache
    cannot hold recursive functions (a cached recursive kernel segfaulted).
    """
    if n <= 128:
        return _pairwise_leaf(a, lo, n)
    st_lo = np.empty(128, dtype=np.int64)
    st_n = np.empty(128, dtype=np.int64)
    st_combine = np.empty(128, dtype=np.bool_)
    vals = np.empty(128, dtype=np.float64)
    top = 0
    nv = 0
    st_lo[0] = lo
    st_n[0] = n
    st_combine[0] = False
    top = 1
    while top > 0:
        top -= 1
        if st_combine[top]:
            right = vals[nv - 1]
            left = vals[nv - 2]
            nv -= 2
            vals[nv] = left + right
            nv += 1
            continue
        lo_k = st_lo[top]
        n_k = st_n[top]
        if n_k <= 128:
            vals[nv] = _pairwise_leaf(a, lo_k, n_k)
            nv += 1
            continue
        n2 = n_k // 2
        n2 -= n2 % 8
        st_combine[top] = True  # combine after both halves
        top += 1
        st_lo[top] = lo_k + n2  # right half, evaluated second
        st_n[top] = n_k - n2
        st_combine[top] = False
        top += 1
        st_lo[top] = lo_k  # left half, evaluated first
        st_n[top] = n2
        st_combine[top] = False
        top += 1
    return vals[0]


@jit
def _finish_var(sq, count, ddof):
    """SciPy's variance: ``mean(d**2)``, then times ``n / (n - ddof)`` (NaN if <= 0)."""
    var = sq / count
    if ddof != 0:
        nc = count - ddof
        var = var * (count / nc) if nc > 0 else np.nan
    return var


@jit
def _vector_stats(v, ddof, omit, buf):
    """Mean, std and count of a contiguous 1-D sample, summed as NumPy sums it."""
    n = v.shape[0]
    cnt = 0.0
    for i in range(n):
        x = np.float64(v[i])
        if omit and x != x:
            buf[i] = 0.0  # SciPy's 'omit' zero-weights NaN: they add 0.0
        else:
            buf[i] = x
            cnt += 1.0
    mean = (0.0 + pairwise_sum(buf, 0, n)) / cnt
    for i in range(n):
        x = np.float64(v[i])
        if omit and x != x:
            buf[i] = 0.0
        else:
            d = x - mean
            buf[i] = d * d
    var = _finish_var(0.0 + pairwise_sum(buf, 0, n), cnt, ddof)
    return mean, np.sqrt(var), cnt


@jit
def _sums8(X, j0, w, m, out, squares):
    """Column sums of ``X[:, j0:j0 + w]`` (``w <= 8``), row after row, into ``out``;
    with ``squares``, sums of ``(x - m[j])**2`` instead.

    Eight scalar accumulators keep each column's running sum in a register (summed
    through an array, every row waited on a store and a reload: three times
    slower), in NumPy's order: one column's values added in row order.
    """
    n = X.shape[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = 0.0
    if squares:
        m0 = m[0]
        m1 = m[1] if w > 1 else 0.0
        m2 = m[2] if w > 2 else 0.0
        m3 = m[3] if w > 3 else 0.0
        m4 = m[4] if w > 4 else 0.0
        m5 = m[5] if w > 5 else 0.0
        m6 = m[6] if w > 6 else 0.0
        m7 = m[7] if w > 7 else 0.0
    # Written out per column and per mode: the eight sums stay scalar accumulators
    # (see the docstring), which a loop over an array of sums would not keep.
    for i in range(n):
        if squares:
            d = np.float64(X[i, j0]) - m0
            s0 += d * d
            if w > 1:
                d = np.float64(X[i, j0 + 1]) - m1
                s1 += d * d
            if w > 2:
                d = np.float64(X[i, j0 + 2]) - m2
                s2 += d * d
            if w > 3:
                d = np.float64(X[i, j0 + 3]) - m3
                s3 += d * d
            if w > 4:
                d = np.float64(X[i, j0 + 4]) - m4
                s4 += d * d
            if w > 5:
                d = np.float64(X[i, j0 + 5]) - m5
                s5 += d * d
            if w > 6:
                d = np.float64(X[i, j0 + 6]) - m6
                s6 += d * d
            if w > 7:
                d = np.float64(X[i, j0 + 7]) - m7
                s7 += d * d
        else:
            s0 += np.float64(X[i, j0])
            if w > 1:
                s1 += np.float64(X[i, j0 + 1])
            if w > 2:
                s2 += np.float64(X[i, j0 + 2])
            if w > 3:
                s3 += np.float64(X[i, j0 + 3])
            if w > 4:
                s4 += np.float64(X[i, j0 + 4])
            if w > 5:
                s5 += np.float64(X[i, j0 + 5])
            if w > 6:
                s6 += np.float64(X[i, j0 + 6])
            if w > 7:
                s7 += np.float64(X[i, j0 + 7])
    sums = (s0, s1, s2, s3, s4, s5, s6, s7)
    for k in range(w):
        out[k] = sums[k]


@jit
def _col_group_stats(X, j0, j1, ddof, omit, mean, std, count):
    """Statistics of columns ``j0:j1``, each summed row after row."""
    n = X.shape[0]
    w = j1 - j0
    s = np.zeros(w)
    c = np.zeros(w)
    sq = np.zeros(w)
    if omit:
        for i in range(n):
            for j in range(w):
                x = np.float64(X[i, j0 + j])
                if x == x:
                    s[j] += x
                    c[j] += 1.0
                else:
                    s[j] += 0.0
        m = s / c
        for i in range(n):
            for j in range(w):
                x = np.float64(X[i, j0 + j])
                if x == x:
                    d = x - m[j]
                    sq[j] += d * d
                else:
                    sq[j] += 0.0
    else:
        c[:] = float(n)
        for k0 in range(0, w, 8):
            k1 = min(k0 + 8, w)
            _sums8(X, j0 + k0, k1 - k0, s[k0:k1], s[k0:k1], False)
        m = s / c
        for k0 in range(0, w, 8):
            k1 = min(k0 + 8, w)
            _sums8(X, j0 + k0, k1 - k0, m[k0:k1], sq[k0:k1], True)
    for j in range(w):
        mean[j0 + j] = m[j]
        std[j0 + j] = np.sqrt(_finish_var(sq[j], c[j], ddof))
        count[j0 + j] = c[j]


def _col_stats_py(X, ddof, omit, n_groups):
    """Mean, standard deviation and count of every column of a C-contiguous array.

    NumPy reduces axis 0 of a C-ordered array row after row, so each column is
    summed sequentially here too (columns split between threads, rows in order).
    A single column is a contiguous vector: NumPy sums it pairwise. With ``omit``,
    NaN entries add 0.0 and are not counted; otherwise NaN propagates.
    """
    n, f = X.shape
    mean = np.empty(f)
    std = np.empty(f)
    count = np.empty(f)
    if f == 1:
        buf = np.empty(n)
        m, sd, c = _vector_stats(X[:, 0], ddof, omit, buf)
        mean[0] = m
        std[0] = sd
        count[0] = c
        return mean, std, count
    # ``n_groups`` groups of columns (at most one per thread: each group reads every
    # row, so more groups would only multiply the memory traffic)
    n_groups = max(1, min(f, n_groups))
    for g in prange(n_groups):
        j0 = g * f // n_groups
        j1 = (g + 1) * f // n_groups
        _col_group_stats(X, j0, j1, ddof, omit, mean, std, count)
    return mean, std, count


col_stats = jit_parallel(_col_stats_py)
col_stats_serial = jit(_col_stats_py)


def _row_stats_py(X, ddof, omit):
    """``_col_stats_py`` along axis 1: each (contiguous) row is a sample, summed
    pairwise as NumPy sums it; parallel over rows."""
    n, f = X.shape
    mean = np.empty(n)
    std = np.empty(n)
    count = np.empty(n)
    for i in prange(n):
        buf = np.empty(f)
        m, sd, c = _vector_stats(X[i], ddof, omit, buf)
        mean[i] = m
        std[i] = sd
        count[i] = c
    return mean, std, count


row_stats = jit_parallel(_row_stats_py)
row_stats_serial = jit(_row_stats_py)


def _standardize_py(X, center, scale, zero_nan, axis, out):
    """``out = (X - center) / scale`` along ``axis`` (0: per column, 1: per row).

    Where ``zero_nan`` is set for a column (row), the whole slice becomes NaN:
    SciPy's rule for a standard deviation indistinguishable from zero.
    """
    n, f = X.shape
    for i in prange(n):
        if axis == 0:
            for j in range(f):
                if zero_nan[j]:
                    out[i, j] = np.nan
                else:
                    out[i, j] = (np.float64(X[i, j]) - center[j]) / scale[j]
        else:
            for j in range(f):
                if zero_nan[i]:
                    out[i, j] = np.nan
                else:
                    out[i, j] = (np.float64(X[i, j]) - center[i]) / scale[i]


standardize = jit_parallel(_standardize_py)
standardize_serial = jit(_standardize_py)


@jit
def chan_merge(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Merge two (count, mean, sum of squared deviations) summaries, per feature.

    Chan, Golub & LeVeque (1979): ``delta = mean_b - mean_a``,
    ``mean = mean_a + delta * n_b / n``, ``M2 = M2_a + M2_b + delta**2 n_a n_b / n``.
    Stable however the data are split, down to one row at a time.
    """
    n = n_a + n_b
    f = mean_a.shape[0]
    mean = np.empty(f)
    m2 = np.empty(f)
    for j in range(f):
        if n == 0:
            mean[j] = 0.0
            m2[j] = 0.0
            continue
        delta = mean_b[j] - mean_a[j]
        mean[j] = mean_a[j] + delta * (n_b / n)
        m2[j] = m2_a[j] + m2_b[j] + delta * delta * (n_a * n_b / n)
    return n, mean, m2


def _abs_z_max_py(X, center, scale, out_max):
    """``out_max[i] = max_j |X[i, j] - center[j]| / scale[j]`` with the constant-column
    rule: where ``scale[j] == 0``, a value equal to ``center[j]`` scores 0 and any
    other value scores +inf."""
    n, f = X.shape
    for i in prange(n):
        best = 0.0
        for j in range(f):
            d = abs(np.float64(X[i, j]) - center[j])
            if scale[j] == 0.0:
                z = 0.0 if d == 0.0 else np.inf
            else:
                z = d / scale[j]
            if z > best or z != z:
                best = z
        out_max[i] = best


abs_z_max = jit_parallel(_abs_z_max_py)
abs_z_max_serial = jit(_abs_z_max_py)

"""LOF from the neighbours with NumPy's arithmetic (so the scores are
scikit-learn's to the last bit), and the one-row path: one query row against the
GEMM index, products and scores in one call.

NumPy and Numba only."""

from typing import NamedTuple

import numpy as np
from numba import prange

from .._config import jit, jit_contract, jit_inline, jit_parallel
from ..stats._kernels import pairwise_sum
from ._distances import _KernelPair, _MAX_TASKS
from ._gemm import _FLOAT32_MAX_SCALED, _GEMM_MAX_ABS, _gemm_select


# ---------------------------------------------------------------------------
# LOF from the neighbours, with NumPy's arithmetic (scikit-learn computes these
# with NumPy: ``np.mean(..., axis=1)`` of a C-contiguous row is ``0.0`` plus the
# pairwise sum of the row, divided by its length)


@jit_inline
def _row_mean(buf, k):
    return (0.0 + pairwise_sum(buf, 0, k)) / k


def _local_reachability_density(distances, indices, k_distance, out):
    """``out[i] = 1 / (mean_j max(distances[i, j], k_distance[indices[i, j]]) + 1e-10)``
    with ``k_distance`` the training rows' distances to their k-th neighbour (the
    last column of their ``distances``, contiguous: a gather from the whole matrix
    touches a cache line per neighbour): scikit-learn's
    ``_local_reachability_density``, bit for bit (float64)."""
    n, k = indices.shape
    n_tasks = min(n, _MAX_TASKS)
    for c in prange(n_tasks):
        buf = np.empty(k, dtype=np.float64)
        for i in range(c * n // n_tasks, (c + 1) * n // n_tasks):
            for j in range(k):
                buf[j] = max(distances[i, j], k_distance[indices[i, j]])
            out[i] = 1.0 / (_row_mean(buf, k) + 1e-10)


# Written out beside _local_reachability_density: the per-neighbour term differs and
# sits in the inner loop (a Numba kernel takes no Python closure for it).
def _negative_outlier_factor(fit_lrd, indices, lrd, out):
    """``out[i] = -mean_j (fit_lrd[indices[i, j]] / lrd[i])``: scikit-learn's
    ``-np.mean(lrd_ratios_array, axis=1)``, bit for bit (float64)."""
    n, k = indices.shape
    n_tasks = min(n, _MAX_TASKS)
    for c in prange(n_tasks):
        buf = np.empty(k, dtype=np.float64)
        for i in range(c * n // n_tasks, (c + 1) * n // n_tasks):
            for j in range(k):
                buf[j] = fit_lrd[indices[i, j]] / lrd[i]
            out[i] = -_row_mean(buf, k)


# parallel for many rows; serial for a few (no thread-pool launch: one-row latency)
LOCAL_REACHABILITY_DENSITY = _KernelPair(jit_parallel(_local_reachability_density),
                                            jit(_local_reachability_density))
NEGATIVE_OUTLIER_FACTOR = _KernelPair(jit_parallel(_negative_outlier_factor),
                                         jit(_negative_outlier_factor))
local_reachability_density = LOCAL_REACHABILITY_DENSITY.parallel
negative_outlier_factor = NEGATIVE_OUTLIER_FACTOR.parallel


# ---------------------------------------------------------------------------
# one query row against the GEMM index, product and scores in one call
#
# The one-row path reads every training row once per call, so its products are
# bound by memory: it reads an int8 copy of the scaled rows (a quarter of the
# float32 rows' bytes; 1 MB for 20,000 x 50, which stays in a core's L2), each
# feature quantised on its own step, and folds the quantisation error into the
# candidates' bound. With q the scaled query, k_jf the codes, s_f the steps,
# e_f = max_j |C_jf - s_f k_jf| and q'_f = fl32(q_f s_f), the float32 sums
# P_j = fl32(sum_f q'_f k_jf) (any order, FMA or not) satisfy
#
#     |q . C_j - P_j| <= sum_f |q_f| e_f + gamma_{d+3} sum_f |q_f| max_j |C_jf| = E
#
# (gamma_n = n u / (1 - n u), u of float32: rounding q'_f and the d products and
# sums of each P_j; |k_jf| s_f <= max_j |C_jf|). ``_gemm_select`` then runs on the
# P_j as on float32 products with its margin widened by 2 E on each side of the
# products' part: the candidates still hold every row its exact ranking needs, and
# the neighbours and the scores are those of the generic path to the last bit.


class OneRowCodes(NamedTuple):
    """The one-row path's copy of the scaled training rows (``BruteIndex.centered``):
    ``codes`` (n_features, n_samples) int8, one feature per row (its products
    vectorise across training rows), ``step`` the features' quantisation steps and
    ``qerr`` their coefficients in the error bound E = sum_f |q_f| qerr_f."""

    codes: np.ndarray
    step: np.ndarray
    qerr: np.ndarray


#: The largest code: symmetric, so that a feature's range maps onto [-127, 127].
_CODE_MAX = 127


def build_one_row_codes(index):
    """Quantise ``index.centered`` feature by feature for the one-row path."""
    C = index.centered
    n_features = C.shape[1]
    u = float(np.finfo(np.float32).eps) / 2
    n_ops = (n_features + 3) * u
    if n_ops >= 0.5:
        return None
    gamma = n_ops / (1.0 - n_ops)
    max_abs = np.abs(C).max(axis=0)
    step = max_abs / _CODE_MAX
    safe = np.where(step > 0, step, 1.0)
    codes = np.clip(np.rint(C / safe), -_CODE_MAX, _CODE_MAX)
    err = np.abs(C - codes * step).max(axis=0)
    # err is computed in float64 (relative error ~1e-16): widened, as gamma is
    qerr = err * (1.0 + 2.0**-20) + step * 2.0**-40 + 1.01 * gamma * max_abs
    return OneRowCodes(np.ascontiguousarray(codes.T.astype(np.int8)), step, qerr)


#: Training rows per chunk of the one-row product (8 KiB of float32 sums).
_ONE_ROW_CHUNK = 2048
_lrd_serial = LOCAL_REACHABILITY_DENSITY.serial
_nof_serial = NEGATIVE_OUTLIER_FACTOR.serial


@jit_contract
def _one_row_products(qs, codes, out):
    """out[j] = sum_f qs[f] * codes[f, j] in float32, by chunks of training rows
    whose sums stay in L1 while every feature is added, four features a pass (one
    load and store of the sums per four products); 1-D slices, which the loops
    vectorise over (indexing the whole rows from j0 to j1 did not: 8x slower)."""
    n_features, n_train = codes.shape
    n_four = n_features - n_features % 4
    for j0 in range(0, n_train, _ONE_ROW_CHUNK):
        j1 = min(j0 + _ONE_ROW_CHUNK, n_train)
        m = j1 - j0
        acc = out[j0:j1]
        for j in range(m):
            acc[j] = 0.0
        for f in range(0, n_four, 4):
            q0 = qs[f]
            q1 = qs[f + 1]
            q2 = qs[f + 2]
            q3 = qs[f + 3]
            c0 = codes[f, j0:j1]
            c1 = codes[f + 1, j0:j1]
            c2 = codes[f + 2, j0:j1]
            c3 = codes[f + 3, j0:j1]
            for j in range(m):
                acc[j] += ((q0 * np.float32(c0[j]) + q1 * np.float32(c1[j]))
                           + (q2 * np.float32(c2[j]) + q3 * np.float32(c3[j])))
        for f in range(n_four, n_features):
            q = qs[f]
            col = codes[f, j0:j1]
            for j in range(m):
                acc[j] += q * np.float32(col[j])


@jit
def _one_row_lof(X, mean, scale, codes, step, qerr, Y, up_norms, lo_norms, c, c_abs, K,
                 k_distance, fit_lrd, G, out_dist, out_ind):
    """``score_samples`` (minus the local outlier factor) of the one row of ``X``
    against the training rows ``Y`` (``codes``, ``step`` and ``qerr`` their
    ``OneRowCodes``), or NaN when the row needs the generic path (non-finite, or
    too large for the float32 products).

    The products are accumulated feature by feature across a block of training
    rows held in ``G`` (no BLAS: its threads, woken for one product, cost
    milliseconds on a busy machine); their error is within the bound E above, and
    the exact distances, the neighbours and the scores are those of the generic
    path, bit for bit.
    """
    n_features = X.shape[1]
    qs = np.empty(n_features, dtype=np.float64)
    max_abs = 0.0
    for f in range(n_features):
        v = X[0, f]
        if not np.isfinite(v):
            return np.nan
        max_abs = max(max_abs, abs(v))
    if max_abs * 2.0 * np.sqrt(n_features) > _GEMM_MAX_ABS:
        return np.nan
    q_max = 0.0
    q_norm = 0.0
    bound = 0.0
    for f in range(n_features):
        qs[f] = (X[0, f] - mean[f]) * scale
        q_max = max(q_max, abs(qs[f]))
        q_norm += qs[f] * qs[f]
        bound += abs(qs[f]) * qerr[f]
    if q_max > _FLOAT32_MAX_SCALED or q_max * 2.0 * np.sqrt(n_features) > _GEMM_MAX_ABS:
        return np.nan
    q32 = np.empty(n_features, dtype=np.float32)
    for f in range(n_features):
        q32[f] = qs[f] * step[f]
    _one_row_products(q32, codes, G[0])
    # E, widened for its own float64 rounding and for underflow in the products
    bound = bound * (1.0 + 2.0**-20) + n_features * 2.0**-120
    q_norms = np.empty(1, dtype=np.float64)
    q_norms[0] = q_norm
    _gemm_select(G, 0, X, False, Y, up_norms, lo_norms, q_norms, c, c_abs + 2.0 * bound,
                 K, out_dist, out_ind)
    lrd = np.empty(1, dtype=np.float64)
    _lrd_serial(out_dist, out_ind, k_distance, lrd)
    nof = np.empty(1, dtype=np.float64)
    _nof_serial(fit_lrd, out_ind, lrd, nof)
    return nof[0]


def one_row_lof(X, mean, scale, codes, Y, up_norms, lo_norms, c, c_abs, K, k_distance,
                fit_lrd, G, out_dist, out_ind):
    """``_one_row_lof`` (see there); the caller validates the shapes: X (1, d)
    float64 C-contiguous, ``codes`` the ``OneRowCodes`` of Y (n, d), G (1, n)
    float32, the outputs (1, K)."""
    return _one_row_lof(X, mean, scale, codes.codes, codes.step, codes.qerr, Y, up_norms,
                        lo_norms, c, c_abs, K, k_distance, fit_lrd, G, out_dist, out_ind)

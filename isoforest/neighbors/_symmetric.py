"""The symmetric search: the training rows queried against themselves over the
lower triangle of block products (each pair of row blocks computed once, with
AVX-512 or AMX tiles where the CPU has them), the same neighbours as the
one-block search to the last bit (the argument below).

NumPy and Numba only, plus the IR kernels of ``_simd.gemm``."""

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numba import prange

from .._config import _variant, jit, jit_inline, jit_parallel, setting
from .._simd import gemm as _gemm_simd
from ._distances import EUCLIDEAN, _KernelPair, _MAX_TASKS, _trailing_zeros
from ._gemm import _threadpool_limits


# ---------------------------------------------------------------------------
# brute force, GEMM candidates over the lower triangle (the training rows queried)
#
# When the queries are the training rows, G_ij = G_ji: each block pair (I, J),
# I >= J, of the float32 product is computed once (BLAS, one thread each) and
# scanned while in cache for both sides, row by row for the queries of I and
# column by column for those of J (``_sym_scan``). Half the products of the
# one-block search above, and no (queries x n) block written and read back.
#
# Without the whole row of products at hand, each query i keeps
#
# - tau_i, an estimate from above of T_i: the r-th smallest U over a sample of
#   every 16th row (``_sym_seed``; infinite below 32 K rows);
# - a max-heap of the K smallest U_ij seen so far, root R_i;
# - lim_i = min(tau_i, R_i) + slack_i, which only decreases;
# - a list of the rows j seen with L_ij <= lim_i at the time, as (j, G_ij) (L and
#   U are recomputed from them by the same operations), compacted with the
#   current lim when it fills up.
#
# Every row with U_ij < tau_i reaches the heap (its L <= U < lim at its time). So
# if the final root R_i < tau_i, R_i is the K-th smallest U_ij over all rows, the
# T of the one-block search, and every row with L_ij <= T + slack_i passed its
# test of the time (lim was never below T + slack_i): the lists filtered by the
# final lim are the candidates of the one-block search, the same exact distances
# rank them, and the neighbours are the same to the last bit whatever the order
# of the blocks or the threads. A query whose root is not below tau (fewer than K
# rows under it), or whose list stays more than half full after a compaction
# (ties; float32 too coarse for the data), goes to the one-block search as a new
# query, its own row then dropped by scikit-learn's rule; when too many do, the
# one-block search answers every row (it moves on to float64 products).
#
# Pairs run in rounds of tasks over disjoint groups of blocks (``_group_rounds``),
# a round's tasks on Python threads at once: no two threads touch the same
# query's state. A task's pairs go row block by row block, its queries' state
# staying in cache (on 20,000 x 50, fit_predict 163 ms, against 180 ms with 43
# rounds of single pairs).

@dataclass(frozen=True)
class SymmetricParams:
    """The symmetric search's sizes. LOF runs ``DEFAULT_PARAMS``; tests pass small
    ones to reach many blocks, full lists and odd groupings on small data."""

    #: Rows per block (a float32 block pair: 1 MiB; 256 and 384 measured 18% and
    #: 8% slower on 20,000 x 50, 768 no faster).
    block: int = 512
    #: Rows per block on the AVX-512 tiles (``_simd.gemm``), a multiple of 48 for
    #: 8 x 48 tiles (480 and 512 measured alike with BLAS here, 640-768 4% faster,
    #: within the noise); on the AMX bfloat16 tiles a multiple of 32
    #: (``_gemm_margins`` widens the bound to bfloat16's).
    block_tiles: int = 480
    #: On the AMX tiles, rows of a pair computed and scanned at a time (a multiple
    #: of 32).
    strip: int = 96
    #: A query's list holds up to ``cap_per_k`` entries per neighbour, plus
    #: ``cap_extra``.
    cap_per_k: int = 3
    cap_extra: int = 32
    #: Every ``stride``-th row is in the sample that seeds each query's tau.
    stride: int = 16
    #: Queries per product of the seed on the AMX tiles (where it divides the
    #: block; else the block).
    seed_rows: int = 96
    #: Groups of blocks per thread for ``_group_rounds`` (more: better balance,
    #: less reuse of a row block's queries).
    groups_per_thread: int = 4
    #: Above this fraction of overflowed lists the symmetric search gives way to
    #: the one-block search (which moves on to float64 products).
    max_overflow: float = 1 / 32
    #: Take the AMX branch whatever the host, its tile products replaced by their
    #: plain twin (``_gemm_simd.emulated_amx_products``: bfloat16 products summed
    #: in float32), so that its bound and bookkeeping are tested everywhere.
    #: ``block_tiles`` must then be a multiple of 32.
    amx_emulation: bool = False


DEFAULT_PARAMS = SymmetricParams()


@jit
def _sym_seed(P, i0, sample_up, r, slack, tau, lim):
    """tau of queries ``i0 + a``: the r-th smallest upper bound U over the sample
    rows (``P`` their products with the block's queries), and lim = tau + slack.

    An estimate from above of T (about ``16 r`` rows below it for a sample of
    every 16th row): the scan keeps from the start only what could matter. It is
    checked at the end (``_sym_finish_rows``): where fewer than K rows fall below
    tau, the query is answered by the one-block search.
    """
    heap = np.empty(r, dtype=np.float64)
    for a in range(P.shape[0]):
        for t in range(r):
            heap[t] = np.inf
        top = np.inf
        row = P[a]
        for s in range(P.shape[1]):
            u = sample_up[s] - 2.0 * np.float64(row[s])
            if u < top:
                # _sift_value written out: an inlined helper taking an array costs
                # ~50 ns a call (reference counting), paid on every heap update
                pos = 0
                while True:
                    child = 2 * pos + 1
                    if child >= r:
                        break
                    right = child + 1
                    if right < r and heap[right] > heap[child]:
                        child = right
                    if heap[child] > u:
                        heap[pos] = heap[child]
                        pos = child
                    else:
                        break
                heap[pos] = u
                top = heap[0]
        tau[i0 + a] = top
        lim[i0 + a] = top + slack[i0 + a]


@jit
def _sym_compact(i, lo_norms, lim, cand, candf, ncand, overflow):
    """Query ``i``'s list is full: drop the rows above its lim; a list still more
    than half full marks the query for the one-block search."""
    cap = cand.shape[1]
    limit = lim[i]
    n = 0
    for s in range(cap):
        if lo_norms[cand[i, s, 0]] - 2.0 * np.float64(candf[i, s, 1]) <= limit:
            cand[i, n, 0] = cand[i, s, 0]
            cand[i, n, 1] = cand[i, s, 1]
            n += 1
    if 2 * n > cap:
        # nothing more to keep (the scan writes at ncand, kept below cap)
        overflow[i] = True
        lim[i] = -np.inf
        n = 0
    ncand[i] = n


@jit_inline
def _lim32(lim, margin):
    """A float32 at or above ``lim`` plus the first pass's margin (``_sym_margin``)
    and twice float32's rounding of ``lim``; infinite limits as they are."""
    if not np.isfinite(lim):
        return np.float32(lim)
    x = lim + margin + _U32_2 * abs(lim)
    # rounding to nearest moves x by at most |x| 2**-24: nudged up by 2**-23 first
    return np.float32(x + abs(x) * 2.0**-23)


#: Twice float32's unit roundoff.
_U32_2 = float(np.finfo(np.float32).eps)


def _sym_margin(lo_norms, up_norms, n_features):
    """(lo32, margin) of the scan's first pass in float32: ``lo32`` the lower norms
    rounded down to float32, and a margin M such that every entry whose float64
    test ``lo - 2 g <= lim`` passes has ``fl32(lo32 - 2 g) <= _lim32(lim, M)``:
    the float32 subtraction errs by at most u (|lo| + |2 g|), the float64 one by
    much less, and |2 g| <= 2 max U (1 + 2 d u) (Cauchy-Schwarz and the product's
    own rounding). The first pass then marks a superset of what the float64 tests
    pass, and the second one decides with them: the candidates are unchanged."""
    lo32 = lo_norms.astype(np.float32)
    high = lo32.astype(np.float64) > lo_norms
    lo32[high] = np.nextafter(lo32[high], np.float32(-np.inf))
    lo_max = float(np.max(lo_norms, initial=0.0))
    up_max = float(np.max(up_norms, initial=0.0))
    u = _U32_2 / 2
    margin = 2.0 * _U32_2 * (lo_max + 2.0 * up_max * (1.0 + 2.0 * n_features * u))
    return lo32, margin + 2.0**-120


@jit
def _sym_scan(G, Gu, P, Q, R, n_a, n_b, i0, j0, diagonal, marks, up_norms, lo_norms, lo32,
              margin, slack, uheap, lim, cand, candf, ncand, overflow, K):
    """Offer the products (rows ``i0 + a``, columns ``j0 + b``, a < n_a, b < n_b;
    ``G`` flat, the product of (a, b) at ``(a >> 4) P + (a & 15) Q + (b >> 4) R +
    (b & 15)``, ``Gu`` its bits as uint32) to the queries of both sides;
    ``diagonal``: rows of a diagonal block, each row to its own query only (every
    pair once, the query's own row included).

    A list entry is (row, product) in 8 bytes, L and U recomputed from them with
    the same operations. Per block row, a first pass marks the entries that may
    pass either side's test, in float32 with a margin (``_sym_margin``; a loop
    that vectorises over twice the lanes of float64; chunked counts did not), a
    second one offers them to the float64 tests, eight marks at a time read as
    one word. The heap and the appends are written out twice rather than called:
    an inlined helper taking the arrays cost ~50 ns a call here (reference counts),
    and so do row views (``G[a]``: 11% of the scan, measured), hence flat offsets.

    With ``marks`` (uint16, (>= n_a, ldo); shape (0, 0): none), the first pass
    runs for all the rows at once as bits (``_gemm_simd.sym_marks``: the same
    float32 tests, with the limits of the call's start, which only fall after:
    still every entry a float64 test passes), 64 marks a word; ``lo32`` must then
    be readable up to ``j0 + n_b`` rounded up to 16. Without, the layout must be
    row-major (``_gemm_simd.row_major_layout``).
    """
    cap = cand.shape[1]
    use_marks = marks.shape[0] > 0
    n_words = 0 if use_marks else (n_b + 7) // 8  # the inline pass's byte marks
    mask = np.zeros(8 * n_words, dtype=np.uint8)
    words = mask.view(np.uint64)
    lo_J = lo_norms[j0:j0 + n_b]
    up_J = up_norms[j0:j0 + n_b]
    lim_J = lim[j0:j0 + n_b]
    reach = -(-n_b // 16) * 16
    lo32_J = lo32[j0:j0 + (reach if use_marks else n_b)]
    # the columns' limits in float32, kept at or above lim_J + margin: lowered
    # where the second pass lowers lim_J (for the inline pass's later rows),
    # stale (higher) only where a compaction set it to -inf
    lim32_J = np.full(reach, -np.inf, dtype=np.float32)
    for b in range(n_b):
        lim32_J[b] = _lim32(lim_J[b], margin)
    if use_marks:
        lim32_I = np.empty(n_a, dtype=np.float32)
        for a in range(n_a):
            lim32_I[a] = _lim32(lim[i0 + a], margin)
        _gemm_simd.sym_marks(G, P, Q, R, n_a, n_b, lo32_J, lim32_J, lo32[i0:i0 + n_a],
                             lim32_I, diagonal, marks)
        marks64 = marks.view(np.uint64)
        n_row_words = (reach + 63) // 64
        per_word = 64
        tz_shift = np.uint64(0)
    else:
        marks64 = words.reshape(1, n_words)
        n_row_words = n_words
        per_word = 8
        tz_shift = np.uint64(3)
    for a in range(n_a):
        i = i0 + a
        lo_i = lo_norms[i]
        up_i = up_norms[i]
        lo32_i = lo32[i]
        lim32_i = _lim32(lim[i], margin)
        row = a if use_marks else 0
        row_at = (a >> 4) * P + (a & 15) * Q
        if not use_marks:
            # row-major here (R == 16): the row's products side by side. No
            # running "any hit" in these loops: it halved their vector width
            if diagonal:
                for b in range(n_b):
                    mask[b] = lo32_J[b] - np.float32(2.0) * G[row_at + b] <= lim32_i
            else:
                for b in range(n_b):
                    g2 = np.float32(2.0) * G[row_at + b]
                    mask[b] = (lo32_J[b] - g2 <= lim32_i) | (lo32_i - g2 <= lim32_J[b])
        any_hit = np.uint64(0)
        for w in range(n_row_words):
            any_hit |= marks64[row, w]
        if any_hit == 0:
            continue
        for w in range(n_row_words):
            word = marks64[row, w]
            while word != 0:
                b = per_word * w + np.int64(_trailing_zeros(word) >> tz_shift)
                word &= word - np.uint64(1)
                at = row_at + (b >> 4) * R + (b & 15)
                g2 = 2.0 * np.float64(G[at])
                for side in range(1 if diagonal else 2):
                    if side == 0:
                        q = i
                        r = j0 + b
                        l = lo_J[b] - g2
                        u = up_J[b] - g2
                    else:
                        q = j0 + b
                        r = i
                        l = lo_i - g2
                        u = up_i - g2
                    if l > lim[q]:
                        continue
                    if u < uheap[q, 0]:
                        # replace the root of q's max-heap of upper bounds
                        pos = 0
                        while True:
                            child = 2 * pos + 1
                            if child >= K:
                                break
                            right = child + 1
                            if right < K and uheap[q, right] > uheap[q, child]:
                                child = right
                            if uheap[q, child] > u:
                                uheap[q, pos] = uheap[q, child]
                                pos = child
                            else:
                                break
                        uheap[q, pos] = u
                        lim[q] = min(lim[q], uheap[q, 0] + slack[q])
                        if side == 1 and not use_marks:
                            lim32_J[b] = _lim32(lim[q], margin)
                        if l > lim[q]:
                            continue
                    n = ncand[q]
                    cand[q, n, 0] = r
                    cand[q, n, 1] = Gu[at]
                    ncand[q] = n + 1
                    if n + 1 == cap:
                        _sym_compact(q, lo_norms, lim, cand, candf, ncand, overflow)


# Bound per variant below: the AMX products, or their plain twin.
_AMX_TILED = None


def _sym_task_amx_template(pairs, block, strip, n, A16, B16, G, up_norms, lo_norms,
                           lo32, margin, slack, uheap, lim, cand, candf, ncand,
                           overflow, K):
    """The block pairs ``pairs`` ((i, j) block numbers) on the AMX tiles, in one
    call: each pair's products ``strip`` rows at a time into ``G`` (strip *
    block float32, whole tiles: ``_gemm_simd.amx_products_tiled``), each strip
    scanned (``_sym_scan``) while it is in cache.
    ``A16``, ``B16``: ``_gemm_simd.bf16_rows`` and ``amx_layout`` of the rows
    padded to whole blocks; ``strip`` a multiple of 32 dividing ``block``."""
    Gu = G.view(np.uint32)
    tiles = block // _gemm_simd.AMX_TILE
    P, Q, R = _gemm_simd.tiled_layout(block)
    # a row's marks: whole 64-bit words
    marks = np.zeros((strip, -(-block // 64) * 4), dtype=np.uint16)
    for p in range(pairs.shape[0]):
        i0 = pairs[p, 0] * block
        j0 = pairs[p, 1] * block
        n_a = min(block, n - i0)
        n_b = min(block, n - j0)
        B = B16[j0 // _gemm_simd.AMX_TILE:j0 // _gemm_simd.AMX_TILE + tiles]
        for a0 in range(0, n_a, strip):
            _AMX_TILED(A16[i0 + a0:i0 + a0 + strip], B, G, strip, block)
            _sym_scan(G, Gu, P, Q, R, min(strip, n_a - a0), n_b, i0 + a0, j0, i0 == j0,
                      marks, up_norms, lo_norms, lo32, margin, slack, uheap, lim, cand,
                      candf, ncand, overflow, K)


#: The task on the AMX tiles, and on their plain twin (``SymmetricParams.amx_emulation``:
#: the AMX branch on any host).
_sym_task_amx = jit(_variant(_sym_task_amx_template, "__amx", dict(
    globals(), _AMX_TILED=_gemm_simd.amx_products_tiled)))
_sym_task_amx_emulated = jit(_variant(_sym_task_amx_template, "__amx_emulated", dict(
    globals(), _AMX_TILED=_gemm_simd.emulated_amx_products_tiled)))


@jit_inline
def _sym_finish_rows(Y, start, stop, K, lo_norms, uheap, tau, lim, cand, candf, ncand,
                     overflow, out_dist, out_ind):
    """Rows ``start:stop``: their candidates' exact rdists (``_rdist``'s operations
    in its order, four candidates at a time for the independent sums), ranked by
    (rdist, index) (counted ranks), then written as ``_write_row`` does. The heap
    and row helpers are not called: inlined helpers taking arrays cost ~50 ns a
    call here."""
    n_features = Y.shape[1]
    cap = cand.shape[1]
    js = np.empty(cap, dtype=np.int64)
    rs = np.empty(cap, dtype=np.float64)
    sr = np.empty(K, dtype=np.float64)
    sj = np.empty(K, dtype=np.int64)
    for i in range(start, stop):
        # left to the caller where the list overflowed, or where fewer than K rows
        # fell below tau (then T may be above tau, and rows between were missed)
        if overflow[i] or not uheap[i, 0] < tau[i]:
            overflow[i] = True
            continue
        limit = lim[i]
        m = 0
        for s in range(ncand[i]):
            # branch-free: about half the entries pass (-15% of the finish)
            j = np.int64(cand[i, s, 0])
            js[m] = j
            m += lo_norms[j] - 2.0 * np.float64(candf[i, s, 1]) <= limit
        if m < K:  # cannot happen (the K nearest are candidates); be safe
            overflow[i] = True
            continue
        m4 = m - m % 4
        for t in range(0, m4, 4):
            j0 = js[t]
            j1 = js[t + 1]
            j2 = js[t + 2]
            j3 = js[t + 3]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            for f in range(n_features):
                x = Y[i, f]
                d0 = x - Y[j0, f]
                d1 = x - Y[j1, f]
                d2 = x - Y[j2, f]
                d3 = x - Y[j3, f]
                a0 += d0 * d0
                a1 += d1 * d1
                a2 += d2 * d2
                a3 += d3 * d3
            rs[t] = a0
            rs[t + 1] = a1
            rs[t + 2] = a2
            rs[t + 3] = a3
        for t in range(m4, m):
            j0 = js[t]
            a0 = 0.0
            for f in range(n_features):
                d0 = Y[i, f] - Y[j0, f]
                a0 += d0 * d0
            rs[t] = a0
        # each candidate's rank by (rdist, index), counted branch-free (a loop
        # that vectorises; the pairs are distinct), the K first placed in order:
        # the insertion sort's order, without its mispredicted branches
        for t in range(m):
            r = rs[t]
            j = js[t]
            rank = 0
            for u in range(m):
                rank += (rs[u] < r) | ((rs[u] == r) & (js[u] < j))
            if rank < K:
                sr[rank] = r
                sj[rank] = j
        for t in range(K):
            rs[t] = sr[t]
            js[t] = sj[t]
        skip = 0
        for t in range(K):
            if js[t] == i:
                skip = t
                break
        c = 0
        for t in range(K):
            if t != skip:
                out_ind[i, c] = js[t]
                out_dist[i, c] = np.sqrt(rs[t])
                c += 1
    return 0


def _sym_finish(Y, K, lo_norms, uheap, tau, lim, cand, candf, ncand, overflow, out_dist,
                out_ind):
    """Each training row's neighbours from its candidates (exact distances),
    without itself; rows that cannot be answered so are marked in ``overflow``."""
    n = Y.shape[0]
    n_tasks = min(n, _MAX_TASKS)
    counts = np.zeros(max(n_tasks, 1), dtype=np.int64)
    for s in prange(n_tasks):
        counts[s] = _sym_finish_rows(Y, s * n // n_tasks, (s + 1) * n // n_tasks, K,
                                     lo_norms, uheap, tau, lim, cand, candf, ncand,
                                     overflow, out_dist, out_ind)
    return counts.sum()


SYM_FINISH = _KernelPair(jit_parallel(_sym_finish), jit(_sym_finish))


def _round_robin(n_blocks):
    """Rounds of block pairs (i, j), i >= j, each block at most once per round (so
    a round's pairs run on threads at once without sharing a query): the diagonal
    blocks, then the circle method. Every pair appears once."""
    rounds = [[(b, b) for b in range(n_blocks)]]
    m = n_blocks + (n_blocks % 2)
    ring = list(range(m))
    for _ in range(m - 1):
        pairs = []
        for t in range(m // 2):
            a, b = ring[t], ring[m - 1 - t]
            if a < n_blocks and b < n_blocks:
                pairs.append((max(a, b), min(a, b)))
        if pairs:
            rounds.append(pairs)
        ring = [ring[0]] + [ring[-1]] + ring[1:-1]
    return rounds


def _group_rounds(n_blocks, n_groups):
    """Rounds of tasks, each task a run of block pairs (i, j), i >= j, for one
    thread: the blocks split into ``n_groups`` contiguous groups, ``_round_robin``
    over the groups, each pair of groups (g, h) one task holding its block pairs
    row block by row block (a row block's queries stay in cache for the group's
    column blocks). A round's tasks share no block; every pair appears once.
    Fewer, longer rounds than ``_round_robin`` over the blocks: fewer waits."""
    n_groups = max(1, min(n_groups, n_blocks))
    bounds = [g * n_blocks // n_groups for g in range(n_groups + 1)]
    rounds = []
    for pairs in _round_robin(n_groups):
        tasks = []
        for g, h in pairs:
            task = []
            for i in range(bounds[g], bounds[g + 1]):
                for j in range(bounds[h], min(bounds[h + 1], i + 1)):
                    task.append((i, j))
            tasks.append(tuple(task))
        rounds.append(tasks)
    return rounds


class SymmetricSearch:
    """The training rows' K nearest (self dropped) over the lower triangle of
    block products, in three steps: ``seed`` (each query's tau from a sample),
    ``pair`` (a block pair's products scanned for both sides), ``finish`` (the
    candidate lists ranked by exact distances). ``run`` does all three.

    The training rows take this search unless the ``lof_symmetric`` setting is off.
    Its block products use the AVX-512 tiles (``_simd.gemm``) where available
    unless ``lof_tiles`` is off, and the AMX bfloat16 tiles instead where available
    unless ``amx`` is off (the block a multiple of 32); BLAS otherwise.

    Parameters
    ----------
    Y : ndarray of shape (n, n_features)
        The training rows.
    K : int
        Neighbours per row, the row itself included.
    index : BruteIndex
        ``Y``'s index (centred float32 rows and the products' error bounds).
    n_threads : int
    params : SymmetricParams, default=DEFAULT_PARAMS
    """

    def __init__(self, Y, K, index, n_threads, params=DEFAULT_PARAMS):
        self.Y, self.K, self.index, self.n_threads, self.params = Y, K, index, n_threads, params
        n = self.n = Y.shape[0]
        emulated = params.amx_emulation
        tiles = emulated or (_gemm_simd.available() and setting("lof_tiles"))
        block = self.block = params.block_tiles if tiles else params.block
        if emulated and block % 32:
            raise ValueError(f"amx_emulation needs block_tiles a multiple of 32, got {block}")
        if emulated and not _gemm_simd.marks_available():
            raise ValueError("amx_emulation needs the marks' IR kernel, which this "
                             "Numba's LLVM cannot read; upgrade Numba")
        amx = self.amx = emulated or (tiles and block % 32 == 0
                                      and _gemm_simd.amx_available())
        self.amx_products = (_gemm_simd.emulated_amx_products if emulated
                             else _gemm_simd.amx_products)
        self.task_amx = _sym_task_amx_emulated if emulated else _sym_task_amx
        self.vectors = _gemm_simd.vectors_for(block) if tiles and not amx else 0
        C32 = self.C32 = index.centered32
        # the tiles read whole blocks: rows padded with zeros to a multiple of the
        # block (their products are computed and never read)
        n_pad = -(-n // block) * block
        if amx:
            self.A16, self.B16 = _gemm_simd.bf16_tiles(C32, n_pad)
        elif self.vectors:
            self.A_pad = np.zeros((n_pad, C32.shape[1]), dtype=np.float32)
            self.A_pad[:n] = C32
            self.BT_pad = np.zeros((C32.shape[1], n_pad), dtype=np.float32)
            self.BT_pad[:, :n] = C32.T
        # the products' own bound (bfloat16's on the AMX tiles) for the scan and
        # the lists; the seed's float32 products are bounded within it
        c, c_abs, up_norms, lo_norms = index.bounds["bfloat16" if amx else "float32"]
        self.slack = 2.0 * c * index.sq_norms + 2.0 * c_abs
        self.lo_norms = lo_norms
        self.uheap = np.full((n, K), np.inf)
        self.lim = np.full(n, np.inf)
        cap = params.cap_per_k * K + params.cap_extra
        self.cand = np.empty((n, cap, 2), dtype=np.uint32)  # (row, float32 product bits)
        self.candf = self.cand.view(np.float32)
        self.ncand = np.zeros(n, dtype=np.int64)
        self.overflow = np.zeros(n, dtype=np.bool_)
        self.starts = list(range(0, n, block))
        lo32, margin = _sym_margin(lo_norms, up_norms, Y.shape[1])
        if amx or self.vectors:
            # the marks' kernel reads whole 16-column chunks of the padded blocks
            lo32 = np.r_[lo32, np.full(n_pad - n, np.inf, dtype=np.float32)]
        self.no_marks = np.zeros((0, 0), dtype=np.uint16)
        self.state = (up_norms, lo_norms, lo32, margin, self.slack, self.uheap, self.lim,
                      self.cand, self.candf, self.ncand, self.overflow, K)
        self.buffers = threading.local()
        self.tau = np.full(n, np.inf)
        self.seeded = n >= 32 * K  # else too few sample rows: every row is kept at first
        if self.seeded:
            self.sample = np.ascontiguousarray(C32[::params.stride])
            self.sample_up = np.ascontiguousarray(up_norms[::params.stride])
            # about 16 r rows below tau, each one a hit of the scan until the heap
            # is full. The count of rows below the r-th sample is about
            # Gamma(r, 16): fewer than K (the row then goes to the one-block
            # search) with the probability that Poisson(K / 16) >= r: 4.4% for
            # K // 8 + 2 (the one-block search's first guess), 0.3% for K // 8 + 4
            # (K = 21), 5e-5 for K // 4 + 4, which was 7-11% slower on 20,000 x 50
            # here (two threads, fewer hits)
            self.r = K // 8 + 4
            if amx:
                # the sample on the tiles too, its columns padded to 32 with upper
                # bounds of +inf (never below a heap's top)
                n_s = self.sample.shape[0]
                self.n_s_pad = -(-n_s // 32) * 32
                self.S16 = _gemm_simd.bf16_tiles(self.sample, self.n_s_pad)[1]
                self.sample_up = np.r_[self.sample_up,
                                       np.full(self.n_s_pad - n_s, np.inf)]
        self.strip = params.strip if block % params.strip == 0 else block

    def rounds(self):
        """Tasks in rounds: the seed's blocks first (when seeded), then the pairs'
        groups; a round's tasks touch disjoint queries and run at once."""
        seeds = [[((start,),) for start in self.starts]] if self.seeded else []
        return seeds + _group_rounds(
            len(self.starts), self.params.groups_per_thread * max(self.n_threads, 1))

    def seed(self, start):
        """Each query of the block at ``start``: tau from its products with the sample."""
        stop = min(start + self.block, self.n)
        if not self.amx:
            P = np.dot(self.C32[start:stop], self.sample.T)
            _sym_seed(P, start, self.sample_up, self.r, self.slack, self.tau, self.lim)
            return
        # a buffer per thread, as for the pairs, of 96 rows: written and read
        # in L2 (a block's 2.4 MB on 20,000 rows went out to L3, and fresh pages
        # cost more than the products)
        seed_rows = self.params.seed_rows
        rows = seed_rows if self.block % seed_rows == 0 else self.block
        P = getattr(self.buffers, "P", None)
        if P is None:
            P = self.buffers.P = np.empty((rows, self.n_s_pad), dtype=np.float32)
        for s0 in range(start, stop, rows):
            self.amx_products(self.A16[s0:s0 + rows], self.S16, P)
            _sym_seed(P[:min(rows, stop - s0)], s0, self.sample_up, self.r, self.slack,
                      self.tau, self.lim)

    def pair(self, pair):
        """The block pair ``(bi, bj)``, ``bi >= bj``: its products, scanned for the
        queries of both blocks."""
        bi, bj = pair
        block, n, buffers = self.block, self.n, self.buffers
        i0, j0 = self.starts[bi], self.starts[bj]
        i1, j1 = min(i0 + block, n), min(j0 + block, n)
        buf = getattr(buffers, "G", None)
        if buf is None:
            buf = buffers.G = np.empty(block * block, dtype=np.float32)
        if self.vectors:
            # the whole padded block, its first pass as bits (as on the AMX tiles:
            # 20,000 x 50 on these tiles, fit_predict 188 ms, against 209 ms
            # scanning the products as floats)
            G = buf.reshape(block, block)
            _gemm_simd.block_products(self.A_pad[i0:i0 + block],
                                      self.BT_pad[:, j0:j0 + block], G, self.vectors)
            marks = getattr(buffers, "marks", None)
            if marks is None:
                marks = buffers.marks = np.zeros((block, -(-block // 64) * 4),
                                                 dtype=np.uint16)
            _sym_scan(buf, buf.view(np.uint32), *_gemm_simd.row_major_layout(block),
                      i1 - i0, j1 - j0, i0, j0, i0 == j0, marks, *self.state)
            return
        G = buf[:(i1 - i0) * (j1 - j0)]
        np.dot(self.C32[i0:i1], self.C32[j0:j1].T, out=G.reshape(i1 - i0, j1 - j0))
        _sym_scan(G, G.view(np.uint32), *_gemm_simd.row_major_layout(j1 - j0), i1 - i0,
                  j1 - j0, i0, j0, i0 == j0, self.no_marks, *self.state)

    def task(self, task):
        """One task of :meth:`rounds`: a seed block, or a group's pairs."""
        if len(task) == 1 and len(task[0]) == 1:
            self.seed(task[0][0])
        elif self.amx:
            # the task's pairs in one call, a strip of products at a time
            G = getattr(self.buffers, "strip", None)
            if G is None:
                G = self.buffers.strip = np.empty(self.strip * self.block,
                                                  dtype=np.float32)
            self.task_amx(np.array(task, dtype=np.int64).reshape(-1, 2), self.block,
                          self.strip, self.n, self.A16, self.B16, G, *self.state)
        else:
            for pair in task:
                self.pair(pair)

    def finish(self, out_dist, out_ind, requery):
        """The neighbours from the lists; False (outputs untouched) when too many
        lists overflowed. ``requery`` (``kneighbors_brute``) asks the overflowed
        rows again as new queries."""
        n, K, n_threads = self.n, self.K, self.n_threads
        if self.overflow.sum() > max(64, n * self.params.max_overflow):
            return False
        kernels = SYM_FINISH.parallel if n_threads > 1 else SYM_FINISH.serial
        kernels(self.Y, K, self.lo_norms, self.uheap, self.tau, self.lim, self.cand,
                self.candf, self.ncand, self.overflow, out_dist, out_ind)
        rest = np.flatnonzero(self.overflow)
        if rest.size:
            # as new queries (the one-block search: the same distances, bit for
            # bit), then scikit-learn's rule: drop the row itself, or the first
            # neighbour when K duplicates with smaller indices crowd it out
            dist, ind = requery(self.Y, np.ascontiguousarray(self.Y[rest]), K,
                                metric=EUCLIDEAN, index=self.index, n_threads=n_threads)
            for t, i in enumerate(rest):
                hit = np.flatnonzero(ind[t] == i)
                keep = np.ones(K, dtype=bool)
                keep[hit[0] if hit.size else 0] = False
                out_dist[i] = dist[t, keep]
                out_ind[i] = ind[t, keep]
        return True

    def run(self, out_dist, out_ind, requery):
        """Seed, pairs and finish; the return value of :meth:`finish`."""
        limits = _threadpool_limits()
        # a one-thread BLAS on every path, the rows left over included: threads of
        # its own spin after each product (~0.1 s of a core after the last one,
        # measured) and take the cores from the scans, or from whatever runs next
        # (without threadpoolctl, the pairs run on the calling thread and the BLAS
        # keeps its threads)
        with limits(limits=1, user_api="blas") if limits else contextlib.nullcontext():
            if self.n_threads > 1 and len(self.starts) > 1 and limits is not None:
                with ThreadPoolExecutor(self.n_threads) as pool:
                    for tasks in self.rounds():
                        for _ in pool.map(self.task, tasks):
                            pass
            else:
                for tasks in self.rounds():
                    for task in tasks:
                        self.task(task)
            return self.finish(out_dist, out_ind, requery)


def kneighbors_symmetric(Y, K, index, out_dist, out_ind, n_threads, requery,
                         params=DEFAULT_PARAMS):
    """The training rows' K nearest (self dropped) by :class:`SymmetricSearch`;
    False (outputs untouched) when the float32 products are too coarse for the
    data. ``requery`` is ``kneighbors_brute`` (passed in, so that this module and
    the brute force's do not import each other)."""
    return SymmetricSearch(Y, K, index, n_threads, params).run(out_dist, out_ind, requery)

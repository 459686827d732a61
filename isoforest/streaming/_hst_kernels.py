"""Numba kernels of Half-Space Trees (Tan, Ting & Liu 2011), river's rules exactly.

NumPy and Numba only. A forest of ``T`` trees of height ``h`` is a complete binary
tree per row of flat arrays in heap order (node ``i`` has children ``2i + 1`` and
``2i + 2``; the ``2**h - 1`` inner nodes come first, then the ``2**h`` leaves):

- ``feature[T, 2**h - 1]`` (int64) and ``threshold[T, 2**h - 1]`` (float64): the
  split of each inner node, ``value < threshold`` going left;
- ``r_mass[T, 2**(h + 1) - 1]`` (int64): the reference mass of every node, from the
  last complete window;
- ``l_leaf[T, 2**h]`` (int64): how many records of the current window reached each
  leaf. The latest mass of an inner node is the sum over the leaves below it (every
  learned record adds one to each node of its path), so only leaves are counted and
  inner masses are summed when the window closes, or on demand for a missing value.

Each tree's state evolves from its own walks only, so the kernels run the trees
in parallel, each over every record of a batch in order; a record's score is the
integer sum of its trees' parts, exact in any order.
"""

import numpy as np
from numba import prange

from .._config import jit, jit_inline, jit_parallel
from ..forest._mt19937 import mt_double

__all__ = ["build_trees", "score_learn", "score_learn_parallel", "score_learn_one",
           "scores_from_parts", "pivot_all", "explain_parts"]

PADDING = 0.15


@jit
def _bisect_right(cum, x, hi):
    lo = 0
    while lo < hi:
        mid = (lo + hi) // 2
        if x < cum[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@jit
def build_trees(lower, upper, height, state, feature, threshold):
    """Draw every tree's splits as river's ``make_padded_tree`` does, one tree after
    the other from one generator (``state``, Python's ``random.Random``): pre-order,
    the feature by ``choices`` weighted by the widths of the node's limits, the split
    by ``uniform(a + 0.15 (b - a), b - 0.15 (b - a))``. The caller checks that the
    limits are finite with a positive total width."""
    n_trees, n_inner = feature.shape
    d = lower.shape[0]
    lo = np.empty((height + 1, d))
    hi = np.empty((height + 1, d))
    cum = np.empty(d)
    stack = np.empty(height + 2, dtype=np.int64)
    for t in range(n_trees):
        lo[0, :] = lower
        hi[0, :] = upper
        top = 0
        stack[0] = 0
        depth_of = 0
        while top >= 0:
            i = stack[top]
            top -= 1
            # depth of heap node i: floor(log2(i + 1))
            depth_of = 0
            m = i + 1
            while m > 1:
                m >>= 1
                depth_of += 1
            k = depth_of
            if k > 0:
                p = (i - 1) // 2
                f = feature[t, p]
                lo[k, :] = lo[k - 1, :]
                hi[k, :] = hi[k - 1, :]
                if i & 1:
                    hi[k, f] = threshold[t, p]
                else:
                    lo[k, f] = threshold[t, p]
            if k == height:
                continue
            acc = 0.0
            for j in range(d):
                w = hi[k, j] - lo[k, j]
                acc = w if j == 0 else acc + w
                cum[j] = acc
            total = cum[d - 1] + 0.0
            f = _bisect_right(cum, mt_double(state) * total, d - 1)
            a = lo[k, f]
            b = hi[k, f]
            left = a + PADDING * (b - a)
            right = b - PADDING * (b - a)
            feature[t, i] = f
            threshold[t, i] = left + (right - left) * mt_double(state)
            top += 1
            stack[top] = 2 * i + 2
            top += 1
            stack[top] = 2 * i + 1


@jit
def _subtree_mass(l_leaf, t, node, depth, height, n_inner):
    """The current window's mass of ``node`` (at ``depth``): its leaves' counts."""
    width = 1 << (height - depth)
    first = (node + 1) * width - 1 - n_inner
    total = 0
    for j in range(first, first + width):
        total += l_leaf[t, j]
    return total


@jit
def leaf_scores(r_mass, table, t, height, size_limit):
    """``table[t, i]``: what the walk accumulates down to node i inclusive (each
    node's ``mass << depth``, none after the first node under ``size_limit``), so a
    leaf's entry is the tree's part of the score of every record reaching it."""
    table[t, 0] = r_mass[t, 0]
    go = np.empty(r_mass.shape[1], dtype=np.bool_)
    go[0] = r_mass[t, 0] >= size_limit
    for k in range(height):
        for i in range((1 << k) - 1, (1 << (k + 1)) - 1):
            for c in (2 * i + 1, 2 * i + 2):
                if go[i]:
                    table[t, c] = table[t, i] + (r_mass[t, c] << (k + 1))
                    go[c] = r_mass[t, c] >= size_limit
                else:
                    table[t, c] = table[t, i]
                    go[c] = False


@jit
def _pivot(r_mass, l_leaf, t, n_inner):
    """Close a window for tree t: reference masses := latest masses, latest := 0."""
    n_leaves = l_leaf.shape[1]
    for j in range(n_leaves):
        r_mass[t, n_inner + j] = l_leaf[t, j]
        l_leaf[t, j] = 0
    for i in range(n_inner - 1, -1, -1):
        r_mass[t, i] = r_mass[t, 2 * i + 1] + r_mass[t, 2 * i + 2]


@jit
def pivot_all(r_mass, l_leaf):
    """Close the window of every tree (used when a resumed state says so)."""
    n_inner = l_leaf.shape[1] - 1
    for t in range(r_mass.shape[0]):
        _pivot(r_mass, l_leaf, t, n_inner)


@jit_inline
def _take(table, l_leaf, parts, t, j, leaf, n_inner, fw, learn):
    """A row's part from its leaf (unsigned indices: no wraparound code)."""
    ju = np.uint64(j)
    parts[t, ju] = 0 if fw else table[t, leaf]
    if learn:
        l_leaf[t, leaf - n_inner] += 1


@jit
def _walk_window(feature_u, threshold, table, l_leaf, X, t, lo, hi, height, fw, learn,
                 parts):
    """Rows ``lo:hi`` of X (no NaN, within one window) in tree t: each row's part
    from its leaf's table entry, and its count at the leaf when ``learn``.

    Eight walks are interleaved: one walk is a chain of dependent loads, eight keep
    the core busy (the isolation forest's scoring kernel in ``forest/_kernels.py``
    walks its child arrays the same way; here children are heap positions, so the
    two loops share a shape, not code). Indices are unsigned (``feature_u`` is the
    feature array viewed as uint64, X is read flat): Numba then emits no
    negative-index wraparound, a third of the walk's instructions (measured, 10
    trees of height 8: 67 ns a row, against 108 ns with signed indices)."""
    n_inner_u = np.uint64(feature_u.shape[1])
    n, d = X.shape
    Xf = X.reshape(n * d)
    f = feature_u[t]
    th = threshold[t]
    one = np.uint64(1)
    two = np.uint64(2)
    du = np.uint64(d)
    j = lo
    while j + 8 <= hi:
        b0 = np.uint64(j) * du
        b1 = b0 + du
        b2 = b1 + du
        b3 = b2 + du
        b4 = b3 + du
        b5 = b4 + du
        b6 = b5 + du
        b7 = b6 + du
        i0 = i1 = i2 = i3 = i4 = i5 = i6 = i7 = np.uint64(0)
        for _ in range(height):
            i0 = two * i0 + one + np.uint64(Xf[b0 + f[i0]] >= th[i0])
            i1 = two * i1 + one + np.uint64(Xf[b1 + f[i1]] >= th[i1])
            i2 = two * i2 + one + np.uint64(Xf[b2 + f[i2]] >= th[i2])
            i3 = two * i3 + one + np.uint64(Xf[b3 + f[i3]] >= th[i3])
            i4 = two * i4 + one + np.uint64(Xf[b4 + f[i4]] >= th[i4])
            i5 = two * i5 + one + np.uint64(Xf[b5 + f[i5]] >= th[i5])
            i6 = two * i6 + one + np.uint64(Xf[b6 + f[i6]] >= th[i6])
            i7 = two * i7 + one + np.uint64(Xf[b7 + f[i7]] >= th[i7])
        _take(table, l_leaf, parts, t, j, i0, n_inner_u, fw, learn)
        _take(table, l_leaf, parts, t, j + 1, i1, n_inner_u, fw, learn)
        _take(table, l_leaf, parts, t, j + 2, i2, n_inner_u, fw, learn)
        _take(table, l_leaf, parts, t, j + 3, i3, n_inner_u, fw, learn)
        _take(table, l_leaf, parts, t, j + 4, i4, n_inner_u, fw, learn)
        _take(table, l_leaf, parts, t, j + 5, i5, n_inner_u, fw, learn)
        _take(table, l_leaf, parts, t, j + 6, i6, n_inner_u, fw, learn)
        _take(table, l_leaf, parts, t, j + 7, i7, n_inner_u, fw, learn)
        j += 8
    while j < hi:
        i = np.uint64(0)
        b = np.uint64(j) * du
        for _ in range(height):
            i = two * i + one + np.uint64(Xf[b + f[i]] >= th[i])
        _take(table, l_leaf, parts, t, j, i, n_inner_u, fw, learn)
        j += 1


@jit
def _walk_mass(feature, threshold, r_mass, l_leaf, X, t, j, height, size_limit, missing):
    """One record's walk in tree t accumulating its score part on the way (for
    tall trees, where a per-leaf table would cost more than it saves, and for
    records with missing values): (leaf, part)."""
    n_inner = feature.shape[1]
    i = 0
    acc = 0
    go = 1
    for k in range(height):
        r = r_mass[t, i]
        acc += (r << k) * go
        go &= r >= size_limit
        v = X[j, feature[t, i]]
        if missing and v != v:
            m0 = _subtree_mass(l_leaf, t, 2 * i + 1, k + 1, height, n_inner)
            m1 = _subtree_mass(l_leaf, t, 2 * i + 2, k + 1, height, n_inner)
            i = 2 * i + 2 if m0 < m1 else 2 * i + 1
        else:
            i = 2 * i + 1 + (v >= threshold[t, i])
    acc += (r_mass[t, i] << height) * go
    return i, acc


def _score_learn(feature, threshold, r_mass, l_leaf, table, X, counter, first, learn,
                 height, window, size_limit, missing, use_table, parts):
    """For every record of X in order, every tree's part of its score (the sum of
    ``r_mass * 2**depth`` down its path, stopping after the first node whose mass
    is below ``size_limit``, an int; 0 while ``first``), then, when ``learn``, the
    record counted at its leaf and the window closed every ``window`` records.

    Within a window the splits and reference masses are fixed, so a window's
    records are walked first and counted after; with ``use_table`` a record's part
    is its leaf's entry in ``table`` (``leaf_scores``, refreshed at each window's
    close). With ``missing``, a NaN value is a missing feature: the walk takes the
    child with the larger current mass (the left one on a tie), as river does for
    an absent key, so records are walked and counted one by one.
    ``counter`` is the number of records already learned in the current window.
    """
    n_trees, n_inner = feature.shape
    n = X.shape[0]
    for t in prange(n_trees):
        c = counter
        fw = first
        j = 0
        while j < n:
            end = min(n, j + window - c) if learn else n
            if missing or not use_table:
                for jj in range(j, end):
                    leaf, acc = _walk_mass(feature, threshold, r_mass, l_leaf, X, t, jj,
                                           height, size_limit, missing)
                    parts[t, jj] = 0 if fw else acc
                    if learn:
                        l_leaf[t, leaf - n_inner] += 1
            else:
                _walk_window(feature.view(np.uint64), threshold, table, l_leaf, X, t, j,
                             end, height, fw, learn, parts)
            if learn:
                c += end - j
                if c == window:
                    _pivot(r_mass, l_leaf, t, n_inner)
                    if use_table:
                        leaf_scores(r_mass, table, t, height, size_limit)
                    c = 0
                    fw = False
            j = end


score_learn = jit(_score_learn)
score_learn_parallel = jit_parallel(_score_learn)


@jit
def scores_from_parts(parts, counter, first, learn, window, max_mass, out):
    """Each record's score, ``1 - mass / max_mass`` with its trees' parts added
    (integers: exact), or 0 for a record scored in the first window (record ``j``
    is scored after ``j`` others of the call were learned when ``learn``)."""
    n_trees, n = parts.shape
    for j in range(n):
        total = 0
        for t in range(n_trees):
            total += parts[t, j]
        seen = counter + j if learn else counter
        out[j] = 0.0 if first and seen < window else 1.0 - total / max_mass


@jit
def score_learn_one(feature, threshold, r_mass, l_leaf, table, x, counter, first, learn,
                    height, window, size_limit, missing, use_table, max_mass):
    """``score_learn`` and ``scores_from_parts`` for the one row of ``x`` in one
    call: its score (Python's cost per call, not the trees, sets a record's rate)."""
    parts = np.empty((feature.shape[0], 1), dtype=np.int64)
    score_learn(feature, threshold, r_mass, l_leaf, table, x, counter, first, learn,
                height, window, size_limit, missing, use_table, parts)
    out = np.empty(1)
    scores_from_parts(parts, counter, first, learn, window, max_mass, out)
    return out[0]


@jit
def explain_parts(feature, threshold, r_mass, l_leaf, X, height, window, size_limit, out):
    """Per-feature shares of each row's mass deficit (not learning): a tree's
    deficit at depth k is ``(window - mass) * 2**k`` (the mass counted as 0 past
    the early stop), due to the split of the node above it; past the stop, the
    deficits go to the split that led to the first node under ``size_limit``
    (where the record left the data; the splits below it only cut empty space).
    ``out[j, f]`` sums the deficits credited to feature f over the trees. Summed
    over features, a row gives ``max_mass - mass score`` (the root's deficit is 0
    once a window closed)."""
    n_trees, n_inner = feature.shape
    n = X.shape[0]
    for j in range(n):
        for t in range(n_trees):
            i = 0
            go = True
            blame = 0
            for k in range(height + 1):
                r = r_mass[t, i]
                mass = r if go else 0
                if k > 0 and go:
                    blame = feature[t, (i - 1) // 2]
                out[j, blame] += (window - mass) << k
                if k == height:
                    break
                go = go and r >= size_limit
                v = X[j, feature[t, i]]
                thr = threshold[t, i]
                if v < thr:
                    i = 2 * i + 1
                elif v >= thr:
                    i = 2 * i + 2
                else:
                    m0 = _subtree_mass(l_leaf, t, 2 * i + 1, k + 1, height, n_inner)
                    m1 = _subtree_mass(l_leaf, t, 2 * i + 2, k + 1, height, n_inner)
                    i = 2 * i + 2 if m0 < m1 else 2 * i + 1

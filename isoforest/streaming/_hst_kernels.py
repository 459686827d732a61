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

from .._config import jit, jit_parallel
from ..forest._mt19937 import mt_double

__all__ = ["build_trees", "score_learn", "score_learn_parallel", "sum_parts", "pivot_all",
           "explain_parts"]

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


@jit
def _walk_leaves(feature, threshold, X, t, lo, hi, height, leaves):
    """Leaves of rows ``lo:hi`` of X in tree t (no NaN), eight walks interleaved:
    one walk is a chain of dependent loads, eight keep the core busy."""
    j = lo
    while j + 8 <= hi:
        i0 = i1 = i2 = i3 = i4 = i5 = i6 = i7 = 0
        for _ in range(height):
            i0 = 2 * i0 + 1 + (X[j, feature[t, i0]] >= threshold[t, i0])
            i1 = 2 * i1 + 1 + (X[j + 1, feature[t, i1]] >= threshold[t, i1])
            i2 = 2 * i2 + 1 + (X[j + 2, feature[t, i2]] >= threshold[t, i2])
            i3 = 2 * i3 + 1 + (X[j + 3, feature[t, i3]] >= threshold[t, i3])
            i4 = 2 * i4 + 1 + (X[j + 4, feature[t, i4]] >= threshold[t, i4])
            i5 = 2 * i5 + 1 + (X[j + 5, feature[t, i5]] >= threshold[t, i5])
            i6 = 2 * i6 + 1 + (X[j + 6, feature[t, i6]] >= threshold[t, i6])
            i7 = 2 * i7 + 1 + (X[j + 7, feature[t, i7]] >= threshold[t, i7])
        leaves[j] = i0
        leaves[j + 1] = i1
        leaves[j + 2] = i2
        leaves[j + 3] = i3
        leaves[j + 4] = i4
        leaves[j + 5] = i5
        leaves[j + 6] = i6
        leaves[j + 7] = i7
        j += 8
    while j < hi:
        i = 0
        for _ in range(height):
            i = 2 * i + 1 + (X[j, feature[t, i]] >= threshold[t, i])
        leaves[j] = i
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
        leaves = np.empty(n, dtype=np.int64)
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
                _walk_leaves(feature, threshold, X, t, j, end, height, leaves)
                for jj in range(j, end):
                    leaf = leaves[jj]
                    parts[t, jj] = 0 if fw else table[t, leaf]
                    if learn:
                        l_leaf[t, leaf - n_inner] += 1
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
def sum_parts(parts, out):
    """Each record's mass score: its trees' parts added (integers: exact)."""
    n_trees, n = parts.shape
    for j in range(n):
        total = 0
        for t in range(n_trees):
            total += parts[t, j]
        out[j] = total


@jit
def explain_parts(feature, threshold, r_mass, l_leaf, X, height, window, size_limit, out):
    """Per-feature shares of each row's mass deficit (not learning): a tree's
    deficit at depth k is ``(window - mass) * 2**k`` (the mass counted as 0 past
    the early stop), due to the split of the node above it; ``out[j, f]`` sums the
    deficits of the splits on feature f over the trees. Summed over features, a row
    gives ``max_mass - mass score`` (the root's deficit is 0 once a window closed)."""
    n_trees, n_inner = feature.shape
    n = X.shape[0]
    for j in range(n):
        for t in range(n_trees):
            i = 0
            go = True
            for k in range(height + 1):
                r = r_mass[t, i]
                mass = r if go else 0
                if k > 0:
                    p = (i - 1) // 2
                    out[j, feature[t, p]] += (window - mass) << k
                else:
                    out[j, 0] += window - mass
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

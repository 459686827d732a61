"""Numba kernels of Robust Random Cut Forest (Guha et al. 2016), rrcf's rules exactly.

NumPy and Numba only. Tree ``t`` of a forest lives in row ``t`` of flat arrays with
room for ``cap`` nodes (``2 * (tree_size + 2)``: the points a tree holds, one more
while a record is scored without being learned, and their branches):

- ``left``, ``right``, ``parent`` (int64, -1 for none; a leaf has ``left == -1``),
  ``count`` (int64: points under the node, duplicates included), ``cut_dim``,
  ``cut_val`` (a branch's cut: ``x[cut_dim] <= cut_val`` goes left), ``lo`` and
  ``hi`` (``[T, cap, D]``: the bounding box; a leaf's point is its ``lo``);
- ``free`` / ``n_free``: a stack of unused node ids; ``root`` (-1 when empty);
- ``slot``: the leaf of each point the tree holds, by ``point_slot(index)``;
- ``rng``: the tree's MT19937 state (NumPy's legacy ``RandomState``, 625 words).

rrcf's streaming loop, per tree and point ``index``: forget point
``index - tree_size`` while the tree holds more than ``tree_size`` points, insert
the point, take its collusive displacement. rrcf's quirk is kept: point 0 is never
forgotten (the first forgotten index is 1), so a full tree holds point 0 and the
last ``tree_size`` points. The floating point follows rrcf's NumPy calls: the
enlarged box's spans summed pairwise (``np.sum``), accumulated in order
(``np.cumsum``), ``r = uniform(0, total)``, ``cut = lo[q] + cumsum[q] - r``.

rrcf 0.4.4 (the release on PyPI) cuts a leaf oddly, and the kernel does the same
so the scores are rrcf's: a leaf's bounding box is one row, so rrcf's enlarged box
for it has its low side overwritten by the high side and no width. The draw is
still made (and is 0), and the cut falls on dimension 0 at ``max(leaf[0], x[0])``,
the new point on the left when ``x[0] <= leaf[0]``. Such a cut may not separate
the two points, so a later copy of the point on the right is not found as a
duplicate. (rrcf's repository fixed this after 0.4.4.)
"""

import numpy as np
from numba import prange

from .._config import jit, jit_inline, jit_parallel
from ..forest._mt19937 import N as MT_N, _mt_generate, _temper
from ..stats._kernels import pairwise_sum

NONE = np.uint64(0xFFFFFFFFFFFFFFFF)  # -1 (no node) read through an unsigned view

__all__ = ["init_trees", "score_learn", "score_learn_parallel", "point_slot",
           "mean_over_trees", "check_trees"]


@jit_inline
def point_slot(index, tree_size):
    """Where a tree keeps the leaf of point ``index``: point 0 on its own (it is
    never forgotten), the others in a ring of ``tree_size``."""
    return 0 if index == 0 else 1 + (index - 1) % tree_size


@jit_inline
def _temper_block(state, out):
    """``out[i]``: word ``i`` of the generator block ``state`` tempered (a vector
    loop; run once a block, so a call taking arrays costs nothing here)."""
    for i in range(MT_N):
        out[i] = _temper(state[i])


@jit
def init_trees(left, right, parent, count, free, n_free, root):
    n_trees, cap = left.shape
    for t in range(n_trees):
        for i in range(cap):
            left[t, i] = -1
            right[t, i] = -1
            parent[t, i] = -1
            count[t, i] = 0
            free[t, i] = cap - 1 - i
        n_free[t] = cap
        root[t] = -1


def _score_learn(left, right, parent, count, cut_dim, cut_val, lo, hi, free, n_free, root,
                 slot, rng, P, index0, tree_size, learn, parts, where):
    """For each point of P in order and each tree: (when ``learn``) forget point
    ``index - tree_size`` if the tree holds more than ``tree_size`` points, insert
    the point, and write its collusive displacement to ``parts[t, j]``. Without
    ``learn`` the point is removed again and the tree's generator restored, so the
    forest is left as it was. ``index0`` is the index of P's first point.
    ``where[t, j]`` is the cut dimension of the branch where the displacement's
    maximum is first reached from the leaf up (-1 for a lone root), the share of
    the score that ``explain`` credits to that dimension.

    One walk down from the root serves rrcf's duplicate search and its insertion
    (see the loop) and keeps the path: the new leaf's ancestors (for the counts,
    the boxes and the displacement) are the path's prefix; only the forget walks
    parent links. Each ancestor's count is its children's sum, so the
    displacement's walk up reads only the siblings' counts.
    """
    n_trees, cap = left.shape
    n, d = P.shape
    left_u = left.view(np.uint64)
    right_u = right.view(np.uint64)
    parent_u = parent.view(np.uint64)
    cut_dim_u = cut_dim.view(np.uint64)
    P_f = P.reshape(n * d)
    # Many points: temper each block of generator outputs at once (a vector loop)
    # instead of word by word; a few: temper only the words drawn.
    bulk = n >= 32
    # each tree's scratch, allocated once a call (a few records' call would
    # otherwise spend more on allocating than on the trees)
    boxes = np.empty((n_trees, 3, d))
    paths = np.empty((n_trees, cap + 1), dtype=np.uint64)  # unsigned: no wraparound code
    saves = np.empty((n_trees, MT_N + 1), dtype=np.int64)
    tempers = np.empty((n_trees, MT_N if bulk else 0), dtype=np.int64)
    for t in prange(n_trees):
        bl = boxes[t, 0]
        bh = boxes[t, 1]
        span = boxes[t, 2]
        path = paths[t]
        saved = saves[t]
        tempered = tempers[t]
        if bulk:
            _temper_block(rng[t], tempered)
        pos = rng[t, MT_N]
        here = point_slot(index0, tree_size)  # the new point's slot, kept in step
        for j in range(n):
            index = index0 + j
            pos0 = pos
            have_saved = False
            # ---- forget the oldest point -------------------------------------
            if learn and index > tree_size:
                # point index - tree_size: the ring slot the new point takes
                leaf = slot[t, here]
                if count[t, leaf] > 1:
                    a_u = np.uint64(leaf)
                    while a_u != NONE:
                        count[t, a_u] -= 1
                        a_u = parent_u[t, a_u]
                elif leaf == root[t]:
                    root[t] = -1
                    n_free[t] += 1
                    free[t, n_free[t] - 1] = leaf
                else:
                    p = parent[t, leaf]
                    sib = right[t, p] if left[t, p] == leaf else left[t, p]
                    if p == root[t]:
                        parent[t, sib] = -1
                        root[t] = sib
                    else:
                        g = parent[t, p]
                        parent[t, sib] = g
                        if left[t, g] == p:
                            left[t, g] = sib
                        else:
                            right[t, g] = sib
                        # one walk up: every ancestor loses a point; the boxes
                        # shrink from the grandparent up while the point was on
                        # their side
                        a_u = np.uint64(g)
                        fixing = True
                        while a_u != NONE:
                            count[t, a_u] -= 1
                            if fixing:
                                touches = False
                                for k in range(d):
                                    v = lo[t, leaf, k]
                                    if lo[t, a_u, k] == v or hi[t, a_u, k] == v:
                                        touches = True
                                        break
                                if touches:
                                    cl = left_u[t, a_u]
                                    cr = right_u[t, a_u]
                                    for k in range(d):
                                        lo[t, a_u, k] = min(lo[t, cl, k], lo[t, cr, k])
                                        hi[t, a_u, k] = max(hi[t, cl, k], hi[t, cr, k])
                                else:
                                    fixing = False
                            a_u = parent_u[t, a_u]
                    n_free[t] += 2
                    free[t, n_free[t] - 2] = p
                    free[t, n_free[t] - 1] = leaf
                    left[t, p] = -1
                    right[t, p] = -1
                    parent[t, p] = -1
                    parent[t, leaf] = -1
            # ---- insert -------------------------------------------------------
            # ``path[:depth]`` ends up as the new leaf's ancestors, root first
            new_leaf = -1
            branch = -1
            is_dup = False
            depth = 0
            if root[t] == -1:
                new_leaf = free[t, n_free[t] - 1]
                n_free[t] -= 1
                for k in range(d):
                    lo[t, new_leaf, k] = P[j, k]
                    hi[t, new_leaf, k] = P[j, k]
                count[t, new_leaf] = 1
                left[t, new_leaf] = -1
                right[t, new_leaf] = -1
                parent[t, new_leaf] = -1
                root[t] = new_leaf
            else:
                # One walk down from the root makes rrcf's two. At each node the
                # insertion draws its cut; while the cut leaves the point inside
                # the node's box, the walk follows the node's own cut, as rrcf's
                # duplicate search (made first) does. A point equal to the leaf it
                # reaches is a duplicate, for which rrcf draws nothing: the walk's
                # draws are given back. A cut can separate a point that lies
                # inside the box only at the box's edge (the draw hit a running
                # sum exactly); the duplicate search then goes on below.
                # (unsigned indices: no wraparound code on the chain of loads)
                node_u = np.uint64(root[t])
                pj_u = np.uint64(j * d)
                pi = 0
                q = 0
                cut = 0.0
                new_left = True
                while True:
                    path[pi] = node_u
                    at_leaf = left_u[t, node_u] == NONE
                    if at_leaf:
                        is_dup = True
                        for k in range(d):
                            if lo[t, node_u, k] != P[j, k]:
                                is_dup = False
                                break
                        if is_dup:
                            break
                    total = 0.0
                    for k in range(d):
                        x = P[j, k]
                        sp = max(hi[t, node_u, k], x) - min(lo[t, node_u, k], x)
                        span[k] = sp
                        total += sp
                    if d >= 8:  # np.sum's pairwise order (a plain loop below 8)
                        total = pairwise_sum(span, 0, d)
                    # r = uniform(0, total): legacy random_sample, 53 bits (two
                    # 32-bit outputs; a used-up block is regenerated, first saved
                    # so that the record can give its draws back)
                    a32 = 0
                    b32 = 0
                    for w in range(2):
                        if pos >= MT_N:
                            if not have_saved:
                                saved[:] = rng[t, :]
                                saved[MT_N] = pos0
                                have_saved = True
                            rng[t, MT_N] = pos
                            _mt_generate(rng[t])
                            if bulk:
                                _temper_block(rng[t], tempered)
                            pos = 0
                        out32 = tempered[pos] if bulk else _temper(rng[t, pos])
                        if w == 0:
                            a32 = out32 >> 5
                        else:
                            b32 = out32 >> 6
                        pos += 1
                    r = total * ((a32 * 67108864.0 + b32) / 9007199254740992.0)
                    if at_leaf:
                        # rrcf 0.4.4 at a leaf: its box is one row, so the
                        # enlarged box's low side is overwritten by the high
                        # side; the draw is spent, the cut is on dimension 0 at
                        # max(leaf[0], x[0])
                        q = 0
                        cut = max(hi[t, node_u, 0], P[j, 0])
                    else:
                        # the first running sum >= r, without a branch per
                        # dimension: the sums never decrease, so its index
                        # is the number of sums below r
                        acc = 0.0
                        q = 0
                        for k in range(d):
                            acc = span[k] if k == 0 else acc + span[k]
                            span[k] = acc
                            q += acc < r
                        if q == d:  # only a NaN gets here: the caller refuses them
                            q = d - 1
                        cut = min(lo[t, node_u, q], P[j, q]) + span[q] - r
                    separated = True
                    if cut <= lo[t, node_u, q]:
                        new_left = True
                    elif cut >= hi[t, node_u, q] or at_leaf:
                        new_left = False
                    else:
                        separated = False
                    if separated:
                        if not at_leaf:
                            inside = True
                            for k in range(d):
                                if not lo[t, node_u, k] <= P[j, k] <= hi[t, node_u, k]:
                                    inside = False
                                    break
                            if inside:
                                below = node_u
                                length = pi
                                while left_u[t, below] != NONE:
                                    path[length] = below
                                    length += 1
                                    if P_f[pj_u + cut_dim_u[t, below]] > cut_val[t, below]:
                                        below = right_u[t, below]
                                    else:
                                        below = left_u[t, below]
                                # the leaf test above, for the leaf below
                                is_dup = True
                                for k in range(d):
                                    if lo[t, below, k] != P[j, k]:
                                        is_dup = False
                                        break
                                if is_dup:
                                    path[length] = below
                                    pi = length
                        break
                    if P_f[pj_u + cut_dim_u[t, node_u]] > cut_val[t, node_u]:
                        node_u = right_u[t, node_u]
                    else:
                        node_u = left_u[t, node_u]
                    pi += 1
                if is_dup:
                    if have_saved:
                        rng[t, :] = saved
                        if bulk:
                            _temper_block(rng[t], tempered)
                        have_saved = False
                    pos = pos0
                    new_leaf = np.int64(path[pi])
                    depth = pi
                    count[t, path[pi]] += 1  # its ancestors: in the walk up below
                else:
                    node = np.int64(node_u)
                    above = np.int64(path[pi - 1]) if pi > 0 else -1
                    for k in range(d):  # the branch's box: the node's, with the point
                        bl[k] = min(lo[t, node, k], P[j, k])
                        bh[k] = max(hi[t, node, k], P[j, k])
                    new_leaf = free[t, n_free[t] - 1]
                    branch = free[t, n_free[t] - 2]
                    n_free[t] -= 2
                    for k in range(d):
                        lo[t, new_leaf, k] = P[j, k]
                        hi[t, new_leaf, k] = P[j, k]
                        lo[t, branch, k] = bl[k]
                        hi[t, branch, k] = bh[k]
                    count[t, new_leaf] = 1
                    left[t, new_leaf] = -1
                    right[t, new_leaf] = -1
                    cut_dim[t, branch] = q
                    cut_val[t, branch] = cut
                    if new_left:
                        left[t, branch] = new_leaf
                        right[t, branch] = node
                    else:
                        left[t, branch] = node
                        right[t, branch] = new_leaf
                    count[t, branch] = count[t, node]  # + 1 in the walk up below
                    parent[t, new_leaf] = branch
                    parent[t, node] = branch
                    parent[t, branch] = above
                    path[pi] = branch
                    depth = pi + 1
                    if above == -1:
                        root[t] = branch
                    else:
                        if left[t, above] == node:
                            left[t, above] = branch
                        else:
                            right[t, above] = branch
                        for m in range(pi - 1, -1, -1):
                            a = path[m]
                            changed = False
                            for k in range(d):
                                la = lo[t, a, k]
                                ha = hi[t, a, k]
                                changed |= (bl[k] < la) | (bh[k] > ha)
                                lo[t, a, k] = bl[k] if bl[k] < la else la
                                hi[t, a, k] = bh[k] if bh[k] > ha else ha
                            if not changed:
                                break
            # ---- collusive displacement ---------------------------------------
            # The pairs (node, parent) from the leaf up are (new_leaf, path[depth-1])
            # and (path[m], path[m-1]): known in advance, so their loads overlap.
            # The same walk counts the new point in each ancestor.
            # The largest ratio is found by exact integer cross-products and
            # divided once: the same double as rrcf's.
            codisp = 0.0
            best_dim = -1
            if new_leaf != root[t]:
                best_s = -1
                best_n = 1
                best_m = -1
                node_u = np.uint64(new_leaf)
                cn = count[t, new_leaf]
                for m in range(depth - 1, -1, -1):
                    p_u = path[m]
                    sib_u = left_u[t, p_u] ^ right_u[t, p_u] ^ node_u
                    cs = count[t, sib_u]
                    count[t, p_u] += 1
                    better = -np.int64(cs * best_n > best_s * cn)  # all ones or 0
                    best_s ^= (best_s ^ cs) & better
                    best_n ^= (best_n ^ cn) & better
                    best_m ^= (best_m ^ m) & better
                    cn += cs
                    node_u = p_u
                codisp = best_s / best_n
                best_dim = cut_dim[t, path[best_m]]
            parts[t, j] = codisp
            where[t, j] = best_dim
            if learn:
                slot[t, here] = new_leaf
            else:
                # take the point out again: the reverse of the insert above. It
                # splices a leaf out as the forget at the top does, but walks the
                # kept path instead of parent links; a helper shared by both,
                # taking the tree's arrays, cost 15% of the loop (measured), so
                # the two stay written out.
                if is_dup:
                    for m in range(depth + 1):
                        count[t, path[m]] -= 1
                elif new_leaf == root[t]:
                    root[t] = -1
                    n_free[t] += 1
                    free[t, n_free[t] - 1] = new_leaf
                else:
                    p = branch
                    sib = right[t, p] if left[t, p] == new_leaf else left[t, p]
                    g = parent[t, p]
                    parent[t, sib] = g
                    if g == -1:
                        root[t] = sib
                    else:
                        if left[t, g] == p:
                            left[t, g] = sib
                        else:
                            right[t, g] = sib
                        for m in range(depth - 1):
                            count[t, path[m]] -= 1
                        for m in range(depth - 2, -1, -1):
                            a = path[m]
                            touches = False
                            for k in range(d):
                                if lo[t, a, k] == P[j, k] or hi[t, a, k] == P[j, k]:
                                    touches = True
                                    break
                            if not touches:
                                break
                            cl = left[t, a]
                            cr = right[t, a]
                            for k in range(d):
                                lo[t, a, k] = min(lo[t, cl, k], lo[t, cr, k])
                                hi[t, a, k] = max(hi[t, cl, k], hi[t, cr, k])
                    n_free[t] += 2
                    free[t, n_free[t] - 2] = p
                    free[t, n_free[t] - 1] = new_leaf
                    left[t, p] = -1
                    right[t, p] = -1
                    parent[t, p] = -1
                    parent[t, new_leaf] = -1
                if have_saved:
                    rng[t, :] = saved
                    if bulk:
                        _temper_block(rng[t], tempered)
                    pos = saved[MT_N]
                else:
                    pos = pos0
            here = 1 if index == 0 or here == tree_size else here + 1
        rng[t, MT_N] = pos


score_learn = jit(_score_learn)
score_learn_parallel = jit_parallel(_score_learn)


@jit
def mean_over_trees(parts, out):
    """rrcf's loop's average: ``sum(codisp_t / n_trees)``, added tree by tree."""
    n_trees, n = parts.shape
    for j in range(n):
        acc = 0.0
        for t in range(n_trees):
            acc += parts[t, j] / n_trees
        out[j] = acc


@jit
def check_trees(left, right, parent, count, cut_dim, lo, hi, free, n_free, root, slot,
                n_points, tree_size, d):
    """True when every tree is a tree the kernels can walk: ids in range, each node
    reached once from its root with matching parent links, leaves' counts positive
    and branches' counts the sum of their children's, cut dimensions in range,
    every held point's slot a reachable leaf, free ids exactly the unused ones, and
    the number of points held what the stream's position says."""
    n_trees, cap = left.shape
    seen = np.zeros(cap, dtype=np.int64)
    stack = np.empty(cap + 1, dtype=np.int64)
    for t in range(n_trees):
        seen[:] = 0
        nf = n_free[t]
        if nf < 0 or nf > cap:
            return False
        for i in range(nf):
            f = free[t, i]
            if f < 0 or f >= cap or seen[f] != 0:
                return False
            seen[f] = 2
        held = 0
        r0 = root[t]
        if r0 != -1:
            if r0 < 0 or r0 >= cap or seen[r0] != 0 or parent[t, r0] != -1:
                return False
            top = 0
            stack[0] = r0
            while top >= 0:
                v = stack[top]
                top -= 1
                seen[v] = 1
                a = left[t, v]
                b = right[t, v]
                if a == -1 and b == -1:
                    if count[t, v] < 1:
                        return False
                    held += count[t, v]
                    for k in range(d):
                        if lo[t, v, k] != hi[t, v, k]:
                            return False
                    continue
                if a < 0 or a >= cap or b < 0 or b >= cap or a == b:
                    return False
                if seen[a] != 0 or seen[b] != 0:
                    return False
                if parent[t, a] != v or parent[t, b] != v:
                    return False
                if count[t, v] != count[t, a] + count[t, b]:
                    return False
                if cut_dim[t, v] < 0 or cut_dim[t, v] >= d:
                    return False
                if top + 2 >= stack.shape[0]:
                    return False
                top += 1
                stack[top] = a
                top += 1
                stack[top] = b
        for i in range(cap):
            if seen[i] == 0:
                return False
        expected = n_points if n_points <= tree_size + 1 else tree_size + 1
        if held != expected:
            return False
        # every held point's slot names a reachable leaf, and each leaf holds
        # exactly as many points as slots name it (forgetting frees it once)
        tally = np.zeros(cap, dtype=np.int64)
        first = 0 if n_points <= tree_size + 1 else n_points - tree_size
        for index in range(first, n_points):
            s = point_slot(index, tree_size)
            leaf = slot[t, s]
            if leaf < 0 or leaf >= cap or seen[leaf] != 1 or left[t, leaf] != -1:
                return False
            tally[leaf] += 1
        if n_points > tree_size + 1:
            leaf = slot[t, 0]
            if leaf < 0 or leaf >= cap or seen[leaf] != 1 or left[t, leaf] != -1:
                return False
            tally[leaf] += 1
        for i in range(cap):
            if seen[i] == 1 and left[t, i] == -1 and tally[i] != count[t, i]:
                return False
    return True

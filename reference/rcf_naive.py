"""Robust Random Cut Forest the slow way: a teaching twin of rrcf 0.4.4 on a stream.

Guha, Mishra, Roy & Schrijvers (2016), "Robust Random Cut Forest Based Anomaly
Detection on Streams" (ICML), in three ideas:

1. A *random cut tree* splits a point set by a random cut: a dimension chosen with
   probability proportional to the side length of the set's bounding box, and a
   value uniform along that side. Each tree keeps a sliding sample of the stream.
2. A point is *inserted* without rebuilding the tree (the paper's InsertPoint): at
   each node, draw a cut from the node's bounding box *enlarged by the new point*;
   if the cut separates the point from the whole box, the point becomes a new leaf
   beside the node, else go down the side of the node's own cut. A point is
   *forgotten* by splicing its leaf and the leaf's parent out of the tree.
3. The score is the *collusive displacement* (CoDisp): walking up from the point's
   leaf, the largest ratio ``sibling.n / node.n``, where ``n`` counts the points
   below a node; i.e. how many points would move up if the point and the group it
   hides in were removed, per point removed. The forest averages it over the trees.

This twin follows rrcf's documented streaming loop exactly (``index`` numbers the
points from 0)::

    for index, point in enumerate(points):
        for tree in forest:
            if len(tree.leaves) > tree_size:
                tree.forget_point(index - tree_size)
            tree.insert_point(point, index=index)
            avg_codisp[index] += tree.codisp(index) / num_trees   # from 0

Two consequences of that loop, kept on purpose: the first forget happens at
``index = tree_size + 1`` and removes point 1, so point 0 stays in every tree for
ever and a tree holds ``tree_size + 1`` points; and the average is summed tree by
tree, ``((0 + c_0 / T) + c_1 / T) + ...``, not ``sum(c) / T``.

rrcf's details, reproduced here:

* *duplicates*: before inserting, follow the cuts (``point[q] <= p`` goes left) to a
  leaf; if that leaf holds exactly the same point (``==`` in every coordinate), the
  point joins it (the leaf's count ``n`` grows) and nothing is drawn;
* *the cut*: ``span = hi - lo`` of the enlarged box, ``r = rng.uniform(0,
  span.sum())``, the cut dimension is the first ``j`` with ``cumsum(span)[j] >= r``
  and the cut value ``lo[j] + cumsum(span)[j] - r``; the new leaf goes left when the
  cut is ``<=`` the node's (not enlarged) ``lo[j]``, right when ``>= hi[j]``, and
  otherwise the search goes down. NumPy is used for exactly these sums:
  ``span.sum()`` is NumPy's pairwise sum (from 8 dimensions on it adds in a
  different order from ``cumsum``), so both are kept as NumPy computes them;
* *the cut at a leaf* (rrcf 0.4.4, not the paper): a leaf keeps its box as one row
  (shape ``(1, d)``), so the "enlarged box" rrcf builds for it has its lower bounds
  overwritten by its upper ones and spans nothing. The draw is still made
  (``rng.uniform(0, 0.0)``, always 0.0), the cut dimension is always 0 and the cut
  value ``max(leaf[0], x[0])``: the new leaf goes left when ``x[0] <= leaf[0]``, else
  right. Such a cut need not separate the two points (equal first coordinates), and
  the descent rule ``x[0] <= cut`` then sends both points left, so a later copy of
  the right-hand point is not recognised as a duplicate. rrcf fixed this after
  0.4.4 (kLabUM/rrcf pull request 101, "ensure bbox_hat has right dimensions");
  a twin of the fixed version would drop the first branch of ``_draw_cut``;
* *forgetting* a duplicate only lowers its leaf's count; a leaf that is the root
  leaves an empty tree; otherwise the sibling takes the parent's place;
* *CoDisp* of the root leaf is 0.

Random streams: with an integer ``random_state``, tree ``i`` draws from
``np.random.RandomState(seeds[i])`` where ``seeds =
np.random.RandomState(random_state).randint(2**31 - 1, size=n_estimators)``.

Shingles: with ``shingle_size = k > 1`` the trees see the last ``k`` records
flattened row by row (``rrcf.shingle``); the first ``k - 1`` records score 0.0 and
are not learned, and the first full shingle has index 0.

Scope: finite numbers (NaN breaks rrcf's cut search). Bounding boxes are recomputed
from the two children along the changed path with ``np.minimum`` / ``np.maximum``
(rrcf patches them in place); the values are the same, only the sign of a zero
bound can differ, which no comparison and hence no score can see.
"""

from collections import deque

import numpy as np

__all__ = ["RandomCutForest", "RandomCutTree", "Leaf", "Branch", "tree_seeds"]

#: ``np.iinfo(np.int32).max``: the bound of the per-tree seeds.
MAX_INT = 2**31 - 1


def tree_seeds(random_state, n_estimators):
    """One seed per tree, drawn from ``RandomState(random_state)``."""
    return np.random.RandomState(random_state).randint(MAX_INT, size=n_estimators)


class Leaf:
    """A point (``x``), how many copies of it the tree holds (``n``), its parent."""

    def __init__(self, x):
        self.x = x
        self.n = 1
        self.parent = None
        self.lo = self.hi = x                # a point's bounding box is itself


class Branch:
    """A cut ``x[dim] <= cut`` (left) / ``> cut`` (right) and the bookkeeping of the
    points below: their count ``n`` and bounding box ``[lo, hi]``."""

    def __init__(self, dim, cut, left, right):
        self.dim, self.cut = dim, cut
        self.left, self.right = left, right
        self.parent = None
        self.refresh()

    def refresh(self):
        """Count and box from the two children."""
        self.n = self.left.n + self.right.n
        self.lo = np.minimum(self.left.lo, self.right.lo)
        self.hi = np.maximum(self.left.hi, self.right.hi)


def _refresh_upwards(node):
    """After a change below ``node``: recompute the counts and boxes up to the root."""
    while node is not None:
        if isinstance(node, Branch):
            node.refresh()
        node = node.parent


def _sibling(node):
    parent = node.parent
    return parent.right if node is parent.left else parent.left


class RandomCutTree:
    """One random cut tree; ``leaves`` maps each index held to its leaf (copies of a
    point share one leaf)."""

    def __init__(self, rng):
        self.rng = rng
        self.root = None
        self.leaves = {}

    def _replace(self, old, new):
        """Put ``new`` where ``old`` hangs (old's parent, or the root)."""
        parent = old.parent
        new.parent = parent
        if parent is None:
            self.root = new
        elif parent.left is old:
            parent.left = new
        else:
            parent.right = new

    def _descend(self, x):
        """The leaf that ``x`` reaches by following the cuts."""
        node = self.root
        while isinstance(node, Branch):
            node = node.left if x[node.dim] <= node.cut else node.right
        return node

    def _draw_cut(self, node, x):
        """The paper's random cut of ``node``'s box enlarged by ``x``; at a leaf,
        rrcf 0.4.4's degenerate cut (see the module docstring)."""
        if isinstance(node, Leaf):
            self.rng.uniform(0, 0.0)         # drawn, and always 0.0
            return 0, max(node.x[0], x[0]) + 0.0
        lo = np.minimum(node.lo, x)
        hi = np.maximum(node.hi, x)
        span = hi - lo
        r = self.rng.uniform(0, span.sum())
        cumulative = np.cumsum(span)
        for dim in range(len(cumulative)):
            if cumulative[dim] >= r:
                return dim, lo[dim] + cumulative[dim] - r
        raise ValueError("no cut dimension: the cumulative span never reaches r")

    def insert(self, x, index):
        """InsertPoint: add ``x`` under ``index``."""
        if self.root is None:
            leaf = self.root = Leaf(x)
        else:
            leaf = self._descend(x)
            if (leaf.x == x).all():          # a copy: one more point in that leaf
                leaf.n += 1
                _refresh_upwards(leaf.parent)
            else:
                node = self.root
                while True:                  # always ends: a leaf's box is a point
                    dim, cut = self._draw_cut(node, x)
                    if cut <= node.lo[dim]:
                        leaf = Leaf(x)
                        self._attach(node, Branch(dim, cut, leaf, node))
                        break
                    if cut >= node.hi[dim]:
                        leaf = Leaf(x)
                        self._attach(node, Branch(dim, cut, node, leaf))
                        break
                    node = node.left if x[node.dim] <= node.cut else node.right
        self.leaves[index] = leaf

    def _attach(self, node, branch):
        """Hang ``branch`` (whose children are ``node`` and a new leaf) in ``node``'s
        place."""
        self._replace(node, branch)
        branch.left.parent = branch.right.parent = branch
        _refresh_upwards(branch.parent)

    def forget(self, index):
        """Remove the point held under ``index``."""
        leaf = self.leaves.pop(index)
        if leaf.n > 1:                       # one copy fewer
            leaf.n -= 1
            _refresh_upwards(leaf.parent)
        elif leaf is self.root:
            self.root = None
        else:                                # the sibling takes the parent's place
            parent = leaf.parent
            sibling = _sibling(leaf)
            self._replace(parent, sibling)
            _refresh_upwards(sibling.parent)

    def codisp(self, index):
        """Collusive displacement: ``max(sibling.n / node.n)`` over the path from
        the leaf up to (not including) the root; 0 for the root leaf."""
        node = self.leaves[index]
        if node is self.root:
            return 0
        best = None
        while node.parent is not None:
            ratio = _sibling(node).n / node.n
            best = ratio if best is None else max(best, ratio)
            node = node.parent
        return best


class RandomCutForest:
    """Robust random cut forest on a stream (Guha et al. 2016; rrcf's streaming loop).

    Parameters
    ----------
    n_estimators : number of trees.
    tree_size : points a tree keeps (plus point 0, see the module docstring).
    shingle_size : records per shingle (1: each record is a point).
    random_state : int seed (per-tree seeds drawn from it) or None.
    """

    def __init__(self, n_estimators=100, tree_size=256, shingle_size=1,
                 random_state=None):
        self.n_estimators = n_estimators
        self.tree_size = tree_size
        self.shingle_size = shingle_size
        self.random_state = random_state
        seeds = tree_seeds(random_state, n_estimators)
        self.trees = [RandomCutTree(np.random.RandomState(int(s))) for s in seeds]
        self.window = deque(maxlen=shingle_size)
        self.index = 0                       # index of the next point

    def score_learn_one(self, x):
        """Insert record ``x`` (a 1-D sequence) and return its average CoDisp."""
        self.window.append(np.asarray(x, dtype=np.float64).ravel())
        if len(self.window) < self.shingle_size:
            return 0.0
        point = np.asarray(self.window).ravel()
        index = self.index
        self.index += 1
        score = 0
        for tree in self.trees:
            if len(tree.leaves) > self.tree_size:
                tree.forget(index - self.tree_size)
            tree.insert(point, index)
            score += tree.codisp(index) / self.n_estimators
        return score

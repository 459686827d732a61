"""Half-Space Trees the slow way: a teaching twin of river 0.26's ``HalfSpaceTrees``.

Tan, Ting & Liu (2011), "Fast Anomaly Detection for Streaming Data" (IJCAI), in
three ideas:

1. A *half-space tree* of height ``h`` is built before any data is seen: each node
   halves the work space along a random feature at a random split, down to depth
   ``h``. Only the feature ranges (``limits``) are needed, never the data.
2. Each node counts the records that pass through it (its *mass*). Two counts are
   kept: ``l_mass``, the mass of the window being learned (the *latest* window), and
   ``r_mass``, the mass of the previous, complete window (the *reference*). Every
   ``window_size`` records the latest window becomes the reference:
   ``r_mass := l_mass`` and ``l_mass := 0``.
3. A record's score sums ``r_mass * 2**depth`` along its root-to-leaf path, stopping
   at the first node whose reference mass is small (``< 0.1 * window_size``, the
   paper's "size limit"). Normal records fall into dense regions deep down, so a
   *high* sum means normal. river flips and normalises it to ``[0, 1]``::

       score = 1 - total / (n_trees * window_size * (2**(h + 1) - 1))

   so that a high score means anomalous. During the first window there is no
   reference yet, and the score is 0.

What river adds to the paper, reproduced here exactly:

* one ``random.Random(seed)`` drives all trees; the trees are built at the first
  ``learn_one``, over the features of that first record in sorted order;
* a node picks its feature with probability proportional to the feature's current
  width (``rng.choices(features, weights=widths)``), then a split drawn uniformly in
  the middle 70 % of that width (``padding = 0.15`` at either end), and narrows the
  feature's range for the left subtree (``[lo, split)``) and the right one
  (``[split, hi)``); the left subtree is built completely before the right one, so
  the random draws come in pre-order;
* ``value < threshold`` goes left, anything else (NaN included) right;
* a feature missing from a record sends it to the child with the larger ``l_mass``
  (the left one on a tie), both when learning and when scoring.

The trees are stored as complete binary trees in flat lists, heap-ordered: node
``i`` has children ``2 i + 1`` and ``2 i + 2``; the ``2**h - 1`` first nodes are
splits and the ``2**h`` last ones leaves. Deliberately slow and short; the tests
(``tests/streaming/test_streaming_twins.py``) compare it with live river.
"""

import random

__all__ = ["HalfSpaceTrees", "PADDING", "SIZE_LIMIT_FRACTION", "DEFAULT_LIMITS"]

#: Fraction of a feature's width left out at either end when drawing a split.
PADDING = 0.15
#: The paper's size limit, as a fraction of the window: scoring stops below it.
SIZE_LIMIT_FRACTION = 0.1
#: river's default range of every feature.
DEFAULT_LIMITS = (0.0, 1.0)


def _as_dict(x):
    """A record as ``{feature: value}``: dicts as they are, sequences by position."""
    if isinstance(x, dict):
        return x
    return dict(enumerate(x))


class HalfSpaceTrees:
    """Half-space trees for a stream of records (Tan, Ting & Liu 2011).

    Same numbers as ``river.anomaly.HalfSpaceTrees(n_trees=n_estimators,
    height=height, window_size=window_size, limits=limits, seed=random_state)``.

    Parameters
    ----------
    n_estimators : number of trees.
    height : depth of the leaves; a tree has ``2**(height + 1) - 1`` nodes.
    window_size : records per window.
    limits : ``{feature: (lo, hi)}``; features not named range over ``(0, 1)``.
    random_state : seed of the one ``random.Random`` shared by all trees.

    Records are dicts ``{feature: value}`` or 1-D sequences (feature = position).
    """

    def __init__(self, n_estimators=10, height=8, window_size=250, limits=None,
                 random_state=None):
        self.n_estimators = n_estimators
        self.height = height
        self.window_size = window_size
        self.limits = dict(limits) if limits is not None else {}
        self.random_state = random_state
        self.rng = random.Random(random_state)
        self.trees = []          # one dict of flat, heap-ordered lists per tree
        self.n_learned = 0       # records learned in the current window
        self.first_window = True

    # ------------------------------------------------------------------ building
    def _build_tree(self, features):
        """One tree: every split drawn in pre-order from the shared generator."""
        n_nodes = 2 ** (self.height + 1) - 1
        tree = {
            "feature": [None] * n_nodes,     # split feature (None at the leaves)
            "threshold": [None] * n_nodes,   # split value (None at the leaves)
            "l_mass": [0] * n_nodes,         # mass in the latest window
            "r_mass": [0] * n_nodes,         # mass in the reference window
        }
        ranges = {f: tuple(self.limits.get(f, DEFAULT_LIMITS)) for f in features}

        def grow(node, depth):
            if depth == self.height:
                return                       # a leaf: nothing to draw
            widths = [ranges[f][1] - ranges[f][0] for f in features]
            f = self.rng.choices(features, weights=widths)[0]
            lo, hi = ranges[f]
            split = self.rng.uniform(lo + PADDING * (hi - lo), hi - PADDING * (hi - lo))
            tree["feature"][node] = f
            tree["threshold"][node] = split
            ranges[f] = (lo, split)          # left half-space: [lo, split)
            grow(2 * node + 1, depth + 1)
            ranges[f] = (split, hi)          # right half-space: [split, hi)
            grow(2 * node + 2, depth + 1)
            ranges[f] = (lo, hi)

        grow(0, 0)
        return tree

    # ----------------------------------------------------------------- the path
    def _child(self, tree, node, x):
        """The child of split ``node`` that record ``x`` goes to."""
        left, right = 2 * node + 1, 2 * node + 2
        f = tree["feature"][node]
        if f not in x:                       # missing feature: the busier child
            return right if tree["l_mass"][left] < tree["l_mass"][right] else left
        return left if x[f] < tree["threshold"][node] else right

    # ------------------------------------------------------------------ the API
    def learn_one(self, x):
        """Add record ``x`` to the latest window's masses; swap windows when full."""
        x = _as_dict(x)
        if not self.trees:
            features = sorted(x)
            self.trees = [self._build_tree(features) for _ in range(self.n_estimators)]

        for tree in self.trees:
            node = 0
            for _ in range(self.height):
                tree["l_mass"][node] += 1
                node = self._child(tree, node, x)
            tree["l_mass"][node] += 1        # the leaf

        self.n_learned += 1
        if self.n_learned == self.window_size:
            for tree in self.trees:
                tree["r_mass"] = tree["l_mass"]
                tree["l_mass"] = [0] * len(tree["r_mass"])
            self.n_learned = 0
            self.first_window = False

    def score_one(self, x):
        """Anomaly score of ``x`` in ``[0, 1]`` (high = anomalous); 0 in the first
        window. ``x`` is not learned."""
        if self.first_window:
            return 0.0
        x = _as_dict(x)
        size_limit = SIZE_LIMIT_FRACTION * self.window_size
        total = 0.0
        for tree in self.trees:
            tree_total = 0.0
            node, weight = 0, 1              # weight = 2**depth
            for _ in range(self.height):
                mass = tree["r_mass"][node]
                tree_total += mass * weight
                if mass < size_limit:
                    break
                node = self._child(tree, node, x)
                weight *= 2
            else:
                tree_total += tree["r_mass"][node] * weight   # the leaf
            total += tree_total
        max_total = self.n_estimators * self.window_size * (2 ** (self.height + 1) - 1)
        return 1 - total / max_total

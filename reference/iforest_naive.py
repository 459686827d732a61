"""Isolation Forest the slow way: a teaching twin of scikit-learn 1.9.1's trees.

Liu, Ting & Zhou (2008), "Isolation Forest" (ICDM), in three ideas:

1. An *iTree* is grown on a random subsample of ``psi`` rows by recursively picking
   a random attribute ``q`` and a random split value ``p`` between the node's minimum
   and maximum of ``q``, until a row is alone, all rows are equal, or a height limit
   ``ceil(log2(psi))`` is reached.
2. The path length ``h(x)`` of a row is the number of edges from the root to the leaf
   it falls in, plus ``c(n)``, the average path length of an unsuccessful search in a
   binary search tree of ``n`` points, for the ``n`` training rows the leaf still holds.
3. The anomaly score is ``s(x) = 2 ** (-E[h(x)] / c(psi))``; scikit-learn's
   ``score_samples`` returns ``-s(x)`` (higher is more normal).

scikit-learn grows each iTree as an ``ExtraTreeRegressor(max_features=1)`` fitted on a
dummy random target, so reproducing its trees *bit for bit* means replaying its random
streams and a few of its bookkeeping habits exactly. This module does that in plain
Python, one small function per step, so that anyone can read why a tree looks the way
it does. It is deliberately slow; the tests compare isoforest's Numba kernels against
it. What is identical and where the tests check it: docs/parity.md.

Scope: dense X (NaN and inf allowed), integer ``random_state``, no ``sample_weight``.

Numbers: scikit-learn rounds X to float32 once and then compares float32 values with
float64 thresholds; here every X value is an ``np.float32`` and every other quantity a
Python ``float`` (IEEE float64), so each operation rounds exactly as scikit-learn's C.
"""

import math

import numpy as np

__all__ = [
    "c",
    "path_length",
    "anomaly_score",
    "effective_max_samples",
    "effective_max_features",
    "itree_height_limit",
    "sample_without_replacement",
    "draw_bagging",
    "TreeRandom",
    "xorshift",
    "rand_int",
    "rand_uniform",
    "node_split",
    "build_itree",
    "fit_forest",
    "score_samples",
]

#: ``np.iinfo(np.int32).max``: bound of every seed scikit-learn draws, and the
#: largest value its tree generator returns (``RAND_R_MAX``).
MAX_INT = 2**31 - 1
RAND_R_MAX = MAX_INT
#: ``DBL_EPSILON``: slack that scikit-learn adds to its two impurity leaf tests.
DBL_EPSILON = float(np.finfo(np.float64).eps)
#: A feature whose ``max <= min + FEATURE_THRESHOLD`` (float32 arithmetic) is constant.
FEATURE_THRESHOLD = np.float32(1e-7)
#: scikit-learn's markers in the node arrays.
TREE_LEAF = -1
TREE_UNDEFINED = -2
#: Each iTree node considers one random attribute (the paper's q): scikit-learn's
#: IsolationForest builds ``ExtraTreeRegressor(max_features=1)``.
ITREE_MAX_FEATURES = 1


# =====================================================================================
# 1. The paper's quantities
# =====================================================================================


def c(n):
    """Average path length of an unsuccessful BST search among ``n`` points.

    ``c(n) = 2 H(n - 1) - 2 (n - 1) / n`` with ``H(i) ~ ln(i) + Euler's gamma``
    (Liu et al. 2008, eq. 1); ``c(2) = 1`` and ``c(n) = 0`` for ``n <= 1``.
    The logarithm is NumPy's, as in scikit-learn, because another libm ``log`` could
    differ in the last bit; the rest is plain float64 arithmetic in the same order.
    """
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    n = float(n)
    log_term = float(np.log(np.array([n - 1.0]))[0])
    return 2.0 * (log_term + np.euler_gamma) - 2.0 * (n - 1.0) / n


def find_leaf(x, tree):
    """Walk row ``x`` (float32 values of the tree's feature subset) to its leaf.

    Returns ``(leaf, depth)`` with the root at depth 1, scikit-learn's convention.
    A float32 value is compared with the float64 threshold after exact promotion;
    NaN follows the side recorded at the split. Write the test as ``x <= t`` (go
    left), never as ``x > t`` (go right): a threshold can be NaN (see
    :func:`node_split`), and then every non-NaN value must go right.
    """
    node, depth = 0, 1
    while tree["children_left"][node] != TREE_LEAF:
        v = x[tree["feature"][node]]
        if math.isnan(v):
            go_left = bool(tree["missing_go_to_left"][node])
        else:
            go_left = float(v) <= tree["threshold"][node]
        node = tree["children_left"][node] if go_left else tree["children_right"][node]
        depth += 1
    return node, depth


def path_length(x, tree):
    """The paper's ``h(x)``: edges from the root to x's leaf, plus c(leaf size).

    scikit-learn counts the root as depth 1 and subtracts 1.0 afterwards; the sum is
    written in that order, ``(depth + c(n)) - 1.0``, because ``edges + c(n)`` can
    round differently in the last bit.
    """
    leaf, depth = find_leaf(x, tree)
    return (float(depth) + c(tree["n_node_samples"][leaf])) - 1.0


def anomaly_score(total_path_length, n_trees, max_samples):
    """``s = 2 ** (-E[h(x)] / c(psi))`` for an array of summed path lengths.

    ``E[h(x)]`` is the sum over trees divided by ``n_trees``; scikit-learn divides the
    sum by ``n_trees * c(psi)`` in one go, and so do we. With ``psi = 1`` the
    denominator is 0 and scikit-learn defines the exponent as -1 (score 0.5).
    NumPy's ``power`` is used, as in scikit-learn, so the last bit matches.
    """
    totals = np.asarray(total_path_length, dtype=np.float64)
    denominator = np.array([n_trees * c(max_samples)])
    exponent = np.ones_like(totals)
    if denominator[0] != 0:
        exponent = totals / denominator
    return 2 ** (-exponent)


# =====================================================================================
# 2. scikit-learn's parameters and bagging draws (NumPy's legacy RandomState)
# =====================================================================================


def effective_max_samples(max_samples, n_samples):
    """The subsample size psi: 'auto' -> min(256, n); int -> min(value, n);
    float -> int(value * n), computed in float64 (int(0.29 * 100) == 28)."""
    if isinstance(max_samples, str):
        if max_samples != "auto":
            raise ValueError("max_samples must be 'auto', an int or a float")
        return min(256, n_samples)
    if isinstance(max_samples, (int, np.integer)):
        return min(int(max_samples), n_samples)
    return int(max_samples * n_samples)


def effective_max_features(max_features, n_features):
    """Columns drawn per tree: int -> itself, float -> int(value * F); at least 1."""
    if isinstance(max_features, (int, np.integer)):
        k = int(max_features)
    else:
        k = int(max_features * n_features)
    if k > n_features:
        raise ValueError("max_features must be <= n_features")
    return max(1, k)


def itree_height_limit(max_samples):
    """The paper's height limit ``ceil(log2(psi))`` (scikit-learn's ``max_depth``)."""
    return int(np.ceil(np.log2(max(max_samples, 2))))


def sample_without_replacement(n_population, n_samples, rng):
    """``sklearn.utils.random.sample_without_replacement`` with method 'auto'.

    Which algorithm runs decides which numbers are drawn from ``rng``, so the three
    branches are kept as scikit-learn has them (``ratio = n_samples / n_population``):

    - ``0.01 < ratio < 0.99``: the first ``n_samples`` of a legacy ``permutation``;
    - ``ratio < 0.2`` (so ratio <= 0.01): "tracking selection", draw ``randint(N)``
      until a value not seen yet, ``n_samples`` times;
    - otherwise (ratio >= 0.99): reservoir sampling, which draws nothing at ratio 1.
    """
    ratio = n_samples / n_population if n_population != 0 else 1.0
    if 0.01 < ratio < 0.99:
        return rng.permutation(n_population)[:n_samples]
    out = []
    if ratio < 0.2:
        seen = set()
        for _ in range(n_samples):
            j = rng.randint(n_population)
            while j in seen:
                j = rng.randint(n_population)
            seen.add(j)
            out.append(j)
    else:
        out = list(range(n_samples))
        for i in range(n_samples, n_population):
            j = rng.randint(0, i + 1)
            if j < n_samples:
                out[j] = i
    return np.array(out, dtype=np.int64)


def draw_bagging(seed, n_samples, n_features, max_samples, max_features, bootstrap):
    """One tree's feature subset, row weights and tree seed, from its bagging seed.

    scikit-learn's ``BaseBagging`` uses a ``RandomState(seed)`` to draw the columns
    first and then the rows; the tree estimator itself gets
    ``RandomState(seed).randint(MAX_INT)`` from a second, fresh generator. Rows are
    handed to the tree as integer sample weights (``bincount``), never by indexing.
    """
    rng = np.random.RandomState(seed)
    features = sample_without_replacement(n_features, max_features, rng)
    if bootstrap:
        rows = rng.randint(0, n_samples, max_samples)
    else:
        rows = sample_without_replacement(n_samples, max_samples, rng)
    sample_weight = np.bincount(rows, minlength=n_samples).astype(np.float64)
    tree_seed = int(np.random.RandomState(seed).randint(MAX_INT))
    return np.asarray(features, dtype=np.int64), sample_weight, tree_seed


# =====================================================================================
# 3. The tree's own random stream: a 32-bit xorshift (sklearn/utils/_random.pxd)
# =====================================================================================


class TreeRandom:
    """The 32-bit state of one tree's xorshift generator (mutable, shared by nodes)."""

    def __init__(self, tree_seed):
        # The splitter seeds its generator with one draw from RandomState(tree_seed).
        self.state = int(np.random.RandomState(tree_seed).randint(0, RAND_R_MAX))


def xorshift(rng):
    """Advance the generator and return a value in [0, RAND_R_MAX].

    Marsaglia's xorshift on a uint32: Python ints are unbounded, so every left shift
    is masked back to 32 bits as the C ``uint32_t`` would wrap. State 0 is a fixed
    point of xorshift, so scikit-learn replaces it by 1.
    """
    s = rng.state
    if s == 0:
        s = 1
    s ^= (s << 13) & 0xFFFFFFFF
    s ^= s >> 17
    s ^= (s << 5) & 0xFFFFFFFF
    rng.state = s
    return s % (RAND_R_MAX + 1)


def rand_int(rng, low, high):
    """An integer in [low, high) by modulo (biased, but that is what is drawn)."""
    return low + xorshift(rng) % (high - low)


def rand_uniform(rng, low, high):
    """A float in [low, high]: ``((high - low) * r / RAND_R_MAX) + low`` in float64.

    The parenthesisation is scikit-learn's. ``r`` close to ``RAND_R_MAX`` can give
    ``high`` itself, which the splitter maps back to ``low`` (see :func:`node_split`).
    """
    r = xorshift(rng)
    return ((float(high) - float(low)) * float(r) / float(RAND_R_MAX)) + float(low)


# =====================================================================================
# 4. The dummy-target statistics scikit-learn's MSE criterion keeps per node
# =====================================================================================
#
# The tree is a regressor fitted on y ~ U(0, 1). y never chooses a split (one random
# feature, one random threshold), but two leaf tests look at its weighted variance
# ("impurity"): a node whose impurity is <= DBL_EPSILON is not split, and a split whose
# impurity improvement is below -DBL_EPSILON is undone. They rarely fire, yet when they
# do the rest of the tree changes, so the sums are formed exactly as scikit-learn does:
# sequentially in the current order of the node's rows, never pairwise.


def node_sums(tree, start, end):
    """``(S, Q, W) = (sum w*y, sum (w*y)*y, sum w)`` over samples[start:end], in order."""
    s = q = wsum = 0.0
    for p in range(start, end):
        i = tree.samples[p]
        wy = tree.w[i] * tree.y[i]
        s += wy
        q += wy * tree.y[i]
        wsum += tree.w[i]
    return s, q, wsum


def variance(s, q, wsum):
    """Weighted variance ``Q/W - (S/W)^2``, scikit-learn's MSE node impurity.

    scikit-learn writes the square as ``x ** 2.0``, which its C evaluates as
    ``pow(x, 2.0)``: exactly ``x * x``. A product says so plainly; other power
    routines can differ in the last bit.
    """
    if wsum == 0.0:
        return math.nan  # what C's 0.0 / 0.0 gives (an empty subsample)
    mean = s / wsum
    return q / wsum - mean * mean


def children_impurity(tree, start, pos, end, node_s, node_q, node_w):
    """Impurities of samples[start:pos] and samples[pos:end], and the split's weights.

    scikit-learn's ``criterion.reset(); criterion.update(pos)`` fills the left sums by
    walking from whichever end is closer: forward from zero when the left side is the
    shorter, else backwards from the node totals by subtraction. The two give
    different roundings, so both are kept. The left square sum is always forward.
    """
    if (pos - start) <= (end - pos):
        s_left = w_left = 0.0
        for p in range(start, pos):
            i = tree.samples[p]
            s_left += tree.w[i] * tree.y[i]
            w_left += tree.w[i]
    else:
        s_left, w_left = node_s, node_w
        for p in range(end - 1, pos - 1, -1):
            i = tree.samples[p]
            s_left -= tree.w[i] * tree.y[i]
            w_left -= tree.w[i]
    w_right = node_w - w_left
    s_right = node_s - s_left
    q_left = 0.0
    for p in range(start, pos):
        i = tree.samples[p]
        q_left += tree.w[i] * tree.y[i] * tree.y[i]
    q_right = node_q - q_left
    m_left = s_left / w_left
    m_right = s_right / w_right
    impurity_left = q_left / w_left - m_left * m_left
    impurity_right = q_right / w_right - m_right * m_right
    return impurity_left, impurity_right, w_left, w_right


# =====================================================================================
# 5. Splitting one node: scikit-learn's node_split_random with max_features = 1
# =====================================================================================


class ITreeState:
    """What persists across all nodes while one tree grows.

    ``samples`` lists the tree's rows (those with weight > 0, increasing); each node
    owns a slice ``samples[start:end]`` and splitting reorders that slice in place.
    ``features`` is a permutation of the tree's columns and ``constant_features`` a
    buffer; both are shared by all nodes and every draw depends on their current order,
    so they must evolve exactly as scikit-learn's do.
    """

    def __init__(self, X, y, w, tree_seed):
        self.X = X  # float32, the tree's columns only
        self.y = [float(v) for v in y]
        self.w = [float(v) for v in w]
        self.samples = [i for i in range(X.shape[0]) if self.w[i] != 0.0]
        self.weighted_n_samples = 0.0  # W at the root: the sum of all weights
        for wi in self.w:
            self.weighted_n_samples += wi
        self.features = list(range(X.shape[1]))
        self.constant_features = [0] * X.shape[1]
        self.rng = TreeRandom(tree_seed)


def find_min_max(tree, f, start, end):
    """Min and max of column f over the node's rows, ignoring NaN; and the NaN count."""
    n_missing = 0
    lo = hi = None
    for p in range(start, end):
        v = tree.X[tree.samples[p], f]
        if math.isnan(v):
            n_missing += 1
        elif lo is None:
            lo = hi = v
        elif v < lo:
            lo = v
        elif v > hi:
            hi = v
    if lo is None:
        lo, hi = np.float32(np.inf), np.float32(-np.inf)
    return lo, hi, n_missing


def partition_samples(tree, f, start, end, threshold, missing_go_to_left):
    """Reorder samples[start:end] so rows going left come first; return the split pos.

    Two pointers, as in scikit-learn's DensePartitioner: a row that goes left stays
    and the front pointer advances; any other row is swapped with the last unexamined
    one. The resulting order is not sorted and not stable, and later sums and splits
    run over it, so it must be exactly this swap sequence.
    """
    front, back = start, end
    while front < back:
        v = tree.X[tree.samples[front], f]
        if math.isnan(v):
            goes_left = missing_go_to_left
        else:
            goes_left = float(v) <= threshold  # float32 promoted exactly to float64
        if goes_left:
            front += 1
        else:
            back -= 1
            s = tree.samples
            s[front], s[back] = s[back], s[front]
    return back


def is_constant(lo, hi):
    """scikit-learn's test ``max <= min + 1e-7`` evaluated in float32.

    In float32, 1.0 + 1e-7 rounds up to 1 + 2**-23, so {1.0, 1 + 2**-23} counts as
    constant; float64 arithmetic would call it a usable feature.
    """
    return bool(hi <= np.float32(lo + FEATURE_THRESHOLD))


def node_split(tree, start, end, impurity, n_known_constants, node_s, node_q, node_w):
    """Pick the paper's random attribute q and split value p for samples[start:end].

    Returns ``(split, n_total_constants)``; ``split`` is None when no split was found
    (every attribute drawn was constant at this node, or the threshold left one side
    empty), else a dict with the chosen feature, threshold, position, side for NaN,
    child impurities and impurity improvement.

    The attribute is drawn by an incremental Fisher-Yates over ``tree.features`` that
    also skips columns already known to be constant here (constant at an ancestor
    stays constant below it). The layout of ``features`` during the loop:

    - ``[:n_drawn_constants]``: known constants already drawn at this node;
    - ``[n_drawn_constants:n_known_constants]``: known constants not drawn yet;
    - ``[n_known_constants:n_total_constants]``: constants discovered at this node;
    - ``[n_total_constants:f_i]``: not drawn yet and not known to be constant;
    - ``[f_i:]``: drawn and not constant.

    Drawing a known constant costs a draw but no scan; discovering a constant costs a
    draw and a scan; the loop stops after the first non-constant attribute
    (``max_features = 1``), whether its threshold gives a valid split or not.
    """
    rng = tree.rng
    features = tree.features
    n_features = len(features)
    f_i = n_features
    n_found_constants = 0
    n_drawn_constants = 0
    n_total_constants = n_known_constants
    n_visited = 0
    best = None

    while f_i > n_total_constants and (
        n_visited < ITREE_MAX_FEATURES
        or n_visited <= n_found_constants + n_drawn_constants
    ):
        n_visited += 1
        f_j = rand_int(rng, n_drawn_constants, f_i - n_found_constants)

        if f_j < n_known_constants:
            # A column already known to be constant: move it to the drawn block.
            features[n_drawn_constants], features[f_j] = (
                features[f_j], features[n_drawn_constants])
            n_drawn_constants += 1
            continue

        # Skip over the block of constants found at this node.
        f_j += n_found_constants
        q = features[f_j]
        lo, hi, n_missing = find_min_max(tree, q, start, end)

        if end - start == n_missing or (n_missing == 0 and is_constant(lo, hi)):
            # Constant here (or all NaN): remember it for the children.
            features[f_j], features[n_total_constants] = features[n_total_constants], q
            n_found_constants += 1
            n_total_constants += 1
            continue

        f_i -= 1
        features[f_i], features[f_j] = features[f_j], features[f_i]
        has_missing = n_missing != 0

        # The paper's split value p, uniform between min and max of q. If the range
        # is infinite (a -inf here, or r = 0 with max = +inf), inf - inf or 0 * inf
        # makes p NaN: ``x <= nan`` is false, so every non-NaN row goes right and the
        # split survives only if the NaN rows were sent left. scikit-learn keeps it.
        threshold = rand_uniform(rng, lo, hi)
        # With NaN present, one more draw decides which side all NaN go to.
        missing_go_to_left = bool(rand_int(rng, 0, 2)) if has_missing else False
        # p == max would send every non-missing row left: use min instead.
        if threshold == float(hi):
            threshold = float(lo)

        pos = partition_samples(tree, q, start, end, threshold, missing_go_to_left)
        n_left, n_right = pos - start, end - pos
        if n_left < 1 or n_right < 1:
            continue  # min_samples_leaf = 1: reject, and the loop then ends

        # With one attribute per node the first valid split is the best one (its
        # proxy improvement is finite and beats the initial -inf).
        best = {
            "feature": q,
            "threshold": threshold,
            "pos": pos,
            # Where NaN go at prediction: the drawn side if NaN were seen while
            # training, else the larger child.
            "missing_go_to_left": missing_go_to_left if has_missing else n_left > n_right,
        }

    if best is not None:
        impurity_left, impurity_right, w_left, w_right = children_impurity(
            tree, start, best["pos"], end, node_s, node_q, node_w)
        best["impurity_left"] = impurity_left
        best["impurity_right"] = impurity_right
        best["improvement"] = (node_w / tree.weighted_n_samples) * (
            impurity
            - (w_right / node_w * impurity_right)
            - (w_left / node_w * impurity_left)
        )

    # Put the known constants back in their original order (siblings rely on it),
    # then record the constants discovered here for this node's children.
    features[:n_known_constants] = tree.constant_features[:n_known_constants]
    tree.constant_features[n_known_constants:n_known_constants + n_found_constants] = (
        features[n_known_constants:n_known_constants + n_found_constants])
    return best, n_total_constants


# =====================================================================================
# 6. Growing one iTree, depth first, left child first
# =====================================================================================


def build_itree(X, y, sample_weight, tree_seed, max_depth):
    """Grow one isolation tree exactly as scikit-learn's DepthFirstTreeBuilder does.

    ``X`` holds the tree's columns as float32 (all training rows; rows of zero weight
    are simply not used), ``y`` the dummy target, ``sample_weight`` how many times
    each row was drawn. Returns the node arrays with scikit-learn's names.

    Nodes wait on a LIFO stack; a split pushes its right child, then its left, so the
    left child is popped first and the whole left subtree is built (and draws its
    random numbers) before the right one: a pre-order, left-first traversal. Node
    ids are given in that pop order.
    """
    tree = ITreeState(X, y, sample_weight, tree_seed)
    nodes = []
    # (start, end, depth, parent, is_left, impurity, n_constant_features)
    stack = [(0, len(tree.samples), 0, TREE_UNDEFINED, False, math.inf, 0)]
    first = True

    while stack:
        start, end, depth, parent, is_left, impurity, n_constants = stack.pop()
        n_node_samples = end - start  # distinct rows: repeats only add weight
        node_s, node_q, node_w = node_sums(tree, start, end)

        # The paper's stopping rules: height limit reached, or fewer than two rows.
        is_leaf = depth >= max_depth or n_node_samples < 2
        if first:
            # Only the root computes its impurity from its own sums; every other
            # node uses the value its parent computed for it in node_split.
            impurity = variance(node_s, node_q, node_w)
            first = False
        # Dummy target constant (up to rounding): a regression tree would stop here.
        is_leaf = is_leaf or impurity <= DBL_EPSILON

        split = None
        if not is_leaf:
            split, n_constants = node_split(
                tree, start, end, impurity, n_constants, node_s, node_q, node_w)
            is_leaf = split is None or split["improvement"] + DBL_EPSILON < 0.0

        node_id = len(nodes)
        if parent != TREE_UNDEFINED:
            nodes[parent]["children_left" if is_left else "children_right"] = node_id
        node = {
            "feature": TREE_UNDEFINED,
            "threshold": float(TREE_UNDEFINED),
            "children_left": TREE_LEAF,
            "children_right": TREE_LEAF,
            "n_node_samples": n_node_samples,
            "weighted_n_node_samples": node_w,
            "impurity": impurity,
            "missing_go_to_left": False,
        }
        nodes.append(node)
        if not is_leaf:
            node["feature"] = split["feature"]
            node["threshold"] = split["threshold"]
            node["missing_go_to_left"] = split["missing_go_to_left"]
            pos = split["pos"]
            stack.append((pos, end, depth + 1, node_id, False,
                          split["impurity_right"], n_constants))
            stack.append((start, pos, depth + 1, node_id, True,
                          split["impurity_left"], n_constants))

    dtypes = {
        "feature": np.int64,
        "threshold": np.float64,
        "children_left": np.int64,
        "children_right": np.int64,
        "n_node_samples": np.int64,
        "weighted_n_node_samples": np.float64,
        "impurity": np.float64,
        "missing_go_to_left": np.uint8,
    }
    return {key: np.array([nd[key] for nd in nodes], dtype=dt) for key, dt in dtypes.items()}


# =====================================================================================
# 7. The forest
# =====================================================================================


def fit_forest(X, n_estimators=100, max_samples="auto", max_features=1.0,
               bootstrap=False, random_state=0):
    """Fit ``n_estimators`` iTrees as ``sklearn.ensemble.IsolationForest`` 1.9.1 does.

    Parameters mean what they mean in scikit-learn; ``random_state`` must be an int.
    Returns a list of trees, each a dict of NumPy arrays: ``feature`` (index into the
    tree's ``features``; -2 at leaves), ``threshold`` (-2.0 at leaves),
    ``children_left``, ``children_right`` (-1 at leaves), ``n_node_samples``,
    ``weighted_n_node_samples``, ``impurity``, ``missing_go_to_left`` (meaningless at
    leaves), plus ``features`` (the tree's column subset, in the tree's order),
    ``max_depth`` and ``random_state`` (the tree estimator's seed).
    """
    # scikit-learn fits on float32 (rounded to nearest): all thresholds lie between
    # float32 values, and values equal in float32 are equal to the trees. Values
    # beyond float32's range become +-inf, as there (hence no overflow warning).
    with np.errstate(over="ignore"):
        X = np.asarray(X, dtype=np.float32)
    n_samples, n_features = X.shape
    psi = effective_max_samples(max_samples, n_samples)
    k = effective_max_features(max_features, n_features)
    max_depth = itree_height_limit(psi)

    # Two independent generators from the same seed: the dummy regression target ...
    y = np.random.RandomState(random_state).uniform(size=n_samples)
    # ... and the per-tree bagging seeds.
    seeds = np.random.RandomState(random_state).randint(MAX_INT, size=n_estimators)

    trees = []
    for seed in seeds:
        features, sample_weight, tree_seed = draw_bagging(
            seed, n_samples, n_features, psi, k, bootstrap)
        tree = build_itree(X[:, features], y, sample_weight, tree_seed, max_depth)
        tree["features"] = features
        tree["max_depth"] = max_depth
        tree["random_state"] = tree_seed
        trees.append(tree)
    return trees


def score_samples(trees, X, max_samples):
    """scikit-learn's ``IsolationForest.score_samples``: ``-s(x)`` for each row.

    ``max_samples`` is the subsample size psi actually used (``max_samples_``; see
    :func:`effective_max_samples`). Each row's path lengths are summed tree by tree,
    in tree order, as scikit-learn accumulates them.
    """
    with np.errstate(over="ignore"):  # rows are compared as float32, as in fit
        X = np.asarray(X, dtype=np.float32)
    totals = []
    for row in X:
        total = 0.0
        for tree in trees:
            total += path_length(row[tree["features"]], tree)
        totals.append(total)
    return -anomaly_score(totals, len(trees), max_samples)


def naive_drawn_rows(rows, n_rows):
    """Every row drawn by any tree (``rows[t, :n_rows[t]]``), once, increasing: what
    a row source's ``take`` is asked for."""
    drawn = set()
    for t in range(len(rows)):
        drawn.update(int(r) for r in rows[t][: n_rows[t]])
    return np.array(sorted(drawn), dtype=np.int64)


def naive_rank_rows(rows, n_rows):
    """Position of each drawn row in ``naive_drawn_rows`` (0 past ``n_rows[t]``):
    where a tree finds its row in the matrix of the drawn rows."""
    drawn = list(naive_drawn_rows(rows, n_rows))
    ranks = np.zeros(np.shape(rows), dtype=np.int64)
    for t in range(len(rows)):
        for i in range(n_rows[t]):
            ranks[t, i] = drawn.index(int(rows[t][i]))
    return ranks

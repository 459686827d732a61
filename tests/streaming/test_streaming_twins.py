"""The streaming naive twins against the live libraries they reproduce.

* ``reference/hst_naive.py`` against ``river.anomaly.HalfSpaceTrees``, prequentially:
  each record is scored, then learned.
* ``reference/rcf_naive.py`` against ``rrcf.RCTree`` driven by rrcf's documented
  streaming loop (forget ``index - tree_size`` once a tree holds more than
  ``tree_size`` points, insert, average the CoDisp tree by tree), with
  ``rrcf.shingle`` for shingles.

Scores must agree to ``ATOL`` on random streams, duplicated records, constant
features, one feature, dict records, missing keys (HST), given limits (HST) and
shingles (RRCF). Small trees and short streams keep the module at a few seconds.
"""

import numpy as np
import pytest

anomaly = pytest.importorskip("river.anomaly")
rrcf = pytest.importorskip("rrcf")

from reference import hst_naive, rcf_naive  # noqa: E402
from _streaming_peers import prequential as hst_scores  # noqa: E402
from _streaming_peers import river_hst  # noqa: E402
from _streaming_peers import rrcf_stream as rrcf_scores  # noqa: E402

ATOL = 1e-12
HST_PARAMS = dict(n_estimators=3, height=4, window_size=20)
RCF_PARAMS = dict(n_estimators=4, tree_size=16)


# ================================================================ Half-Space Trees
def check_hst(records, twin_records=None, **params):
    """Twin and river on the same stream (the twin may see another form of it)."""
    twin_records = records if twin_records is None else twin_records
    expected = hst_scores(river_hst(**params), records)
    got = hst_scores(hst_naive.HalfSpaceTrees(**params), twin_records)
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)
    window = params["window_size"]
    assert np.all(got[:window] == 0.0)       # no reference window yet
    if params["height"] > 0:                 # (a lone leaf always scores 0)
        assert np.any(got[window + 1:] != 0.0)   # the comparison is not vacuous
    return got


def as_dicts(X):
    return [{j: float(v) for j, v in enumerate(row)} for row in X]


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("n_features", [1, 2, 3])
def test_hst_random_streams(seed, n_features):
    rng = np.random.default_rng(seed)
    X = rng.random((200, n_features))
    X[rng.random(200) < 0.05] += 0.8        # a few records out of range
    check_hst(as_dicts(X), twin_records=[list(row) for row in X],
              random_state=seed, **HST_PARAMS)


def test_hst_duplicates_and_constant_feature():
    rng = np.random.default_rng(3)
    base = rng.random((10, 2)).round(2)
    X = np.column_stack([base[rng.integers(0, 10, 240)], np.full(240, 0.5)])
    check_hst(as_dicts(X), random_state=11, **HST_PARAMS)


def test_hst_threshold_ties():
    """Values equal to a split go right (``value < threshold`` goes left)."""
    params = dict(HST_PARAMS, random_state=5)
    twin = hst_naive.HalfSpaceTrees(**params)
    twin.learn_one({0: 0.5})
    splits = [t for tree in twin.trees for t in tree["threshold"] if t is not None]
    rng = np.random.default_rng(5)
    values = np.concatenate([np.repeat(splits, 3), rng.random(100)])
    rng.shuffle(values)
    check_hst([{0: 0.5}] + [{0: float(v)} for v in values], **params)


def test_hst_string_keys_unsorted():
    rng = np.random.default_rng(4)
    X = rng.random((200, 3))
    records = [{"zeta": r[0], "alpha": r[1], "mid": r[2]} for r in X]
    check_hst(records, random_state=2, **HST_PARAMS)


def test_hst_missing_keys():
    rng = np.random.default_rng(5)
    X = rng.random((300, 3))
    records = []
    for i, row in enumerate(X):
        rec = {"a": row[0], "b": row[1], "c": row[2]}
        if i > 0 and rng.random() < 0.3:     # the first record builds the trees
            del rec[rng.choice(["a", "b", "c"])]
        if i > 0 and rng.random() < 0.1:
            rec.pop("b", None)
            rec.pop("c", None)
        records.append(rec)
    check_hst(records, random_state=8, **HST_PARAMS)


def test_hst_limits():
    rng = np.random.default_rng(6)
    X = np.column_stack([rng.normal(50, 10, 250), rng.random(250), rng.integers(-3, 4, 250)])
    limits = {0: (0.0, 100.0), 2: (-3, 3)}   # feature 1 keeps the default (0, 1)
    check_hst(as_dicts(X), limits=limits, random_state=9, **HST_PARAMS)


def test_hst_height_and_window_variants():
    rng = np.random.default_rng(7)
    X = rng.random((150, 2))
    for height, window in [(0, 10), (1, 7), (6, 30)]:
        check_hst(as_dicts(X), n_estimators=2, height=height, window_size=window,
                  random_state=height)


def test_hst_same_trees_as_river():
    """The pre-order draws give river's trees, node for node."""
    x = {"b": 0.3, "a": 0.6, "c": 0.1}
    params = dict(HST_PARAMS, n_estimators=10, random_state=42)
    ours = hst_naive.HalfSpaceTrees(**params)
    theirs = river_hst(**params)
    ours.learn_one(x)
    theirs.learn_one(x)

    def walk(node, i, tree):
        if i >= 2 ** HST_PARAMS["height"] - 1:
            assert tree["l_mass"][i] == node.l_mass
            return
        assert (tree["feature"][i], tree["threshold"][i]) == (node.feature, node.threshold)
        assert tree["l_mass"][i] == node.l_mass
        walk(node.left, 2 * i + 1, tree)
        walk(node.right, 2 * i + 2, tree)

    for tree, root in zip(ours.trees, theirs.trees):
        walk(root, 0, tree)


# ============================================================ Random Cut Forest
def twin_scores(records, **params):
    model = rcf_naive.RandomCutForest(**params)
    return np.array([model.score_learn_one(x) for x in records])


def check_rcf(X, random_state, **params):
    params = dict(RCF_PARAMS, **params)
    k = params.get("shingle_size", 1)
    if k > 1:
        points = rrcf.shingle(list(X), size=k)
    else:
        points = list(X)
    expected = rrcf_scores(points, params["n_estimators"], params["tree_size"],
                           random_state)
    got = twin_scores(list(X), random_state=random_state, **params)
    assert np.all(got[:k - 1] == 0.0)
    np.testing.assert_allclose(got[k - 1:], expected, rtol=0, atol=ATOL)
    assert np.any(expected > 0)
    return got


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("n_features", [1, 2, 3])
def test_rcf_random_streams(seed, n_features):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, n_features))
    X[rng.random(200) < 0.05] *= 6.0
    check_rcf(X, random_state=seed)


def test_rcf_duplicates_and_constant_feature():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(6, 2)).round(1)
    X = np.column_stack([base[rng.integers(0, 6, 250)], np.full(250, 2.0)])
    X[::17] = 0.0
    X[5::17] = -0.0                           # signed zeros are the same point
    check_rcf(X, random_state=4)


def test_rcf_integer_records():
    rng = np.random.default_rng(8)
    X = rng.integers(0, 4, size=(200, 2))     # many duplicates, many ties on cuts
    check_rcf(X, random_state=12, tree_size=8)


def test_rcf_one_feature_scalar_records():
    rng = np.random.default_rng(5)
    x = rng.normal(size=200)
    x[100:110] += 5.0
    check_rcf(x[:, None], random_state=6)
    got = twin_scores(list(x), random_state=6, **RCF_PARAMS)   # plain numbers
    np.testing.assert_allclose(got, check_rcf(x[:, None], random_state=6), rtol=0, atol=0)


@pytest.mark.parametrize("n_features", [1, 3])
def test_rcf_shingles(n_features):
    """``shingle_size=3`` with 3 features: 9 dimensions, where ``np.sum`` adds in
    NumPy's pairwise order and ``np.cumsum`` left to right."""
    rng = np.random.default_rng(9 + n_features)
    t = np.arange(220)
    X = np.sin(t / 6.0)[:, None] + 0.1 * rng.normal(size=(220, n_features))
    X[150:153] += 3.0
    check_rcf(X if n_features > 1 else X[:, 0], random_state=13, shingle_size=3)


def test_rcf_many_dimensions():
    rng = np.random.default_rng(10)
    X = rng.normal(size=(150, 11)) * rng.uniform(0.1, 10.0, size=11)
    check_rcf(X, random_state=3)


def test_rcf_forgets_from_point_one():
    """rrcf's loop never forgets point 0: a tree holds tree_size + 1 points."""
    model = rcf_naive.RandomCutForest(n_estimators=2, tree_size=5, random_state=0)
    for v in range(20):
        model.score_learn_one([float(v)])
    for tree in model.trees:
        assert sorted(tree.leaves) == [0] + list(range(15, 20))
        assert tree.root.n == 6


def test_rcf_leaf_cut_as_rrcf_044():
    """rrcf 0.4.4 cuts a leaf at ``max(leaf[0], x[0])``: after 1.0 then 0.0, the
    descent for 1.0 ends at 0.0's leaf, so a second 1.0 gets a leaf of its own."""
    tree = rrcf.RCTree(random_state=0)
    twin = rcf_naive.RandomCutTree(np.random.RandomState(0))
    for i, v in enumerate([1.0, 0.0, 1.0]):
        tree.insert_point(np.array([v]), index=i)
        twin.insert(np.array([v]), i)
    assert (tree.leaves[0] is tree.leaves[2]) is (twin.leaves[0] is twin.leaves[2]) is False
    assert twin.codisp(2) == tree.codisp(2) == 1.0
    assert twin.root.n == tree.root.n == 3

"""The streaming forests ``isoforest.HalfSpaceTrees`` and ``isoforest.RandomCutForest``.

* Against the live libraries, on hypothesis-generated streams: Half-Space Trees
  against ``river.anomaly.HalfSpaceTrees`` (score each record, then learn it), Random
  Cut Forest against ``rrcf.RCTree`` driven by rrcf's documented streaming loop
  (``rrcf.shingle`` for shingles), to ``ATOL``; duplicates, constant features, one
  feature, dict records (str keys in any order, missing keys), given limits.
* Against themselves: ``score_learn`` in one call, in two, one record at a time
  and with two threads give the same numbers; ``score_samples``, ``score_one`` and
  ``explain`` leave the model exactly as it was; a model saved (or pickled)
  mid-stream and loaded goes on with the very scores of the unbroken stream.
* Refusals: NaN, inf, non-numbers, a wrong width, no rows, bad parameters; a
  tampered model file (re-signed, so the structural checks are what is tested).
* river's ``compose.Pipeline`` with a ``MinMaxScaler`` in front; ``explain``'s
  shares add up to ``score_samples``; ``offset_`` and ``predict``.

Small trees and short streams keep the module at a few seconds; everything is
seeded (hypothesis derandomized), so it also runs under ``NUMBA_BOUNDSCHECK=1``.
"""

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from _fuzz import examples
from numpy.testing import assert_allclose, assert_array_equal

from isoforest import (HalfSpaceTrees, ModelFileError, RandomCutForest, explain, load_model,
                       save_model)
from isoforest._validation import InvalidParameterError, NotFittedError
from isoforest._config import effective_n_jobs
from isoforest.streaming import _hst_kernels, _rcf_kernels
from isoforest.streaming._base import HISTORY
from isoforest.streaming._hst import _has_nan
from _model_parts import read_parts, write_parts
from _streaming_peers import prequential, river_hst, rrcf_stream

# kernels index raw memory: `make test-boundscheck` runs these tests again with
# NUMBA_BOUNDSCHECK=1
pytestmark = pytest.mark.kernels

try:
    from river import anomaly, compose, preprocessing
except ImportError:  # only the comparisons with river need it
    anomaly = None
try:
    import rrcf
except ImportError:  # only the comparisons with rrcf need it
    rrcf = None

needs_river = pytest.mark.skipif(anomaly is None, reason="needs river")
needs_rrcf = pytest.mark.skipif(rrcf is None, reason="needs rrcf")

ATOL = 1e-12
HYPOTHESIS = settings(max_examples=examples(30),
                      suppress_health_check=[HealthCheck.too_slow,
                                             HealthCheck.data_too_large])
SEEDS = st.integers(0, 2**32 - 1)
HST_SMALL = dict(n_estimators=3, height=4, window_size=20)
RCF_SMALL = dict(n_estimators=4, tree_size=16)


# ====================================================================== helpers
def as_dicts(X):
    return [dict(enumerate(float(v) for v in row)) for row in X]


def rrcf_scores(X, n_estimators, tree_size, shingle_size, random_state):
    """rrcf on X's rows (or on ``rrcf.shingle(list(X), k)``), as the scores of X's
    records: the first k - 1 records complete no shingle and score 0."""
    k = shingle_size
    if X.shape[0] < k:
        return np.zeros(X.shape[0])
    points = list(X) if k == 1 else list(rrcf.shingle(list(X), size=k))
    out = np.zeros(X.shape[0])
    out[k - 1:] = rrcf_stream(points, n_estimators, tree_size, random_state)
    return out


def state_of(model):
    """Everything a streaming model carries from record to record. Random Cut
    Forest's free nodes hold stale values nothing reads (a node is written whole
    when taken): they are blanked, the free stack's order is kept."""
    arrays = {k: np.array(v) for k, v in model._state_arrays().items()}
    arrays["history"] = np.array(model._history)
    scalars = dict(model._fitted_scalars(), n_samples_seen_=model.n_samples_seen_,
                   _n_history=model._n_history)
    if isinstance(model, HalfSpaceTrees):
        arrays["table"] = np.array(model._table)
    else:
        for t, nf in enumerate(arrays["n_free"]):
            free = arrays["free"][t, :nf]
            for name in ("left", "right", "parent", "count", "cut_dim", "cut_val", "lo",
                         "hi"):
                arrays[name][t, free] = 0
            arrays["free"][t, nf:] = 0
    return arrays, scalars


def assert_same_state(a, b):
    arrays_a, scalars_a = state_of(a)
    arrays_b, scalars_b = state_of(b)
    assert scalars_a == scalars_b
    assert sorted(arrays_a) == sorted(arrays_b)
    for name in arrays_a:
        assert_array_equal(arrays_a[name], arrays_b[name], err_msg=name)


def hst(**params):
    return HalfSpaceTrees(**dict(HST_SMALL, **params))


def rcf(**params):
    return RandomCutForest(**dict(RCF_SMALL, **params))


# ============================================== Half-Space Trees against river
VALUES = np.array([0.0, 0.05, 0.25, 0.3, 0.5, 0.75, 0.95, 1.0, -0.2, 1.3])
#: Hypothesis picks the sizes (first entry: what a failure shrinks to) and a seed; the
#: values come from NumPy, so even the early, "simple" examples are varied streams.
POOLS = st.sampled_from([30, 8, 3, 1])
EXTRA = st.sampled_from([60, 25, 5, 1])


def hst_values(rng, shape, small):
    """A small set (duplicates everywhere, equal values across features) or
    continuous values slightly outside [0, 1]."""
    if small:
        return rng.choice(VALUES, shape)
    return rng.uniform(-0.25, 1.25, shape)


@st.composite
def hst_streams(draw):
    """(X, params): rows drawn from a pool (duplicates are frequent), past the first
    window, maybe a constant feature, maybe limits for some features (by position)."""
    d = draw(st.integers(1, 3))
    params = dict(n_estimators=draw(st.integers(1, 4)), height=draw(st.integers(1, 5)),
                  window_size=draw(st.integers(1, 25)), random_state=draw(SEEDS))
    rng = np.random.RandomState(draw(SEEDS))
    pool = hst_values(rng, (draw(POOLS), d), draw(st.booleans()))
    X = pool[rng.randint(0, pool.shape[0], params["window_size"] + draw(EXTRA))]
    if draw(st.booleans()):
        X[:, draw(st.integers(0, d - 1))] = draw(st.sampled_from(list(VALUES)))
    if draw(st.booleans()):
        features = draw(st.sets(st.integers(0, d - 1), min_size=1))
        params["limits"] = {j: (draw(st.sampled_from([-1.0, 0.0, 0.2])),
                                draw(st.sampled_from([0.6, 1.0, 2.0, 10.0])))
                            for j in sorted(features)}
    return X, params


@needs_river
@HYPOTHESIS
@given(case=hst_streams(), cut=st.floats(0.0, 1.0))
def test_hst_equals_river(case, cut):
    X, params = case
    expected = prequential(river_hst(**params), as_dicts(X))
    # river's API with dict records
    got = prequential(HalfSpaceTrees(**params), as_dicts(X))
    assert_allclose(got, expected, rtol=0, atol=ATOL)
    # the batch API: one call, two calls, one record at a time, two threads
    batch = HalfSpaceTrees(**params).score_learn(X)
    assert_allclose(batch, expected, rtol=0, atol=ATOL)
    model = HalfSpaceTrees(**params)
    assert_array_equal([model.score_learn_one(row) for row in X], batch)
    c = int(cut * X.shape[0])
    if 0 < c < X.shape[0]:
        model = HalfSpaceTrees(**params)
        assert_array_equal(np.concatenate([model.score_learn(X[:c]),
                                           model.score_learn(X[c:])]), batch)
    assert_array_equal(HalfSpaceTrees(n_jobs=2, **params).score_learn(X), batch)
    assert np.all(batch[:params["window_size"]] == 0.0)  # no reference window yet


@st.composite
def hst_dict_streams(draw):
    """Records with str keys in random insertion order, some keys missing (never
    all of the first record's), maybe limits by name."""
    names = draw(st.lists(st.text("abxyzAB_", min_size=1, max_size=3), min_size=1,
                          max_size=4, unique=True))
    params = dict(n_estimators=draw(st.integers(1, 4)), height=draw(st.integers(1, 5)),
                  window_size=draw(st.integers(1, 20)), random_state=draw(SEEDS))
    rng = np.random.RandomState(draw(SEEDS))
    pool = hst_values(rng, (draw(POOLS), len(names)), draw(st.booleans()))
    X = pool[rng.randint(0, pool.shape[0], params["window_size"] + draw(EXTRA))]
    p_missing = draw(st.sampled_from([0.2, 0.0, 0.6]))
    records = []
    for i, row in enumerate(X):
        keep = rng.rand(len(names)) >= p_missing
        if i == 0 and not keep.any():  # later, an empty dict is every key missing
            keep[rng.randint(len(names))] = True
        records.append({names[j]: float(row[j]) for j in rng.permutation(len(names))
                        if keep[j]})
    if draw(st.booleans()):
        named = draw(st.sets(st.sampled_from(names), min_size=1))
        params["limits"] = {k: (-0.5, draw(st.sampled_from([0.5, 1.0, 3.0])))
                            for k in sorted(named)}
    return records, params


@needs_river
@HYPOTHESIS
@given(case=hst_dict_streams())
def test_hst_dict_records_equal_river(case):
    """Keys in any order (sorted, as river does), a missing key down the child with
    more mass in the current window (river's rule), keys the first record lacks
    ignored, limits by name."""
    records, params = case
    expected = prequential(river_hst(**params), records)
    model = HalfSpaceTrees(**params)
    got = prequential(model, records)
    assert_allclose(got, expected, rtol=0, atol=ATOL)
    assert list(model.feature_names_in_) == sorted(records[0])
    again = HalfSpaceTrees(**params)
    assert_array_equal([again.score_learn_one(x) for x in records], got)


@needs_river
def test_hst_equals_river_with_every_feature_of_a_record_missing():
    """Mid-stream, an empty dict is a record with every feature missing: river walks
    it down the heavier child at every node (only a first record must have keys)."""
    rng = np.random.RandomState(3)
    records = [{"a": float(a), "b": float(b)} for a, b in rng.rand(120, 2)]
    for i in range(30, 120, 7):
        records[i] = {}
    for i in range(33, 120, 11):
        records[i] = {"b": records[i].get("b", 0.5)}
    expected = prequential(river_hst(**HST_SMALL, random_state=4), records)
    assert np.any(expected[20:] != 0.0)
    got = prequential(hst(random_state=4), records)
    assert_allclose(got, expected, rtol=0, atol=ATOL)


@needs_river
def test_hst_equals_river_on_a_long_stream():
    """Past a chunk's end (4096 rows a kernel call) and many windows. (Threads are
    left out: each kernel compiles again for the last, partial chunk's buffers.)"""
    X = np.random.RandomState(5).rand(4500, 2)
    X[::97] = [0.02, 0.98]
    params = dict(n_estimators=4, height=6, window_size=50, random_state=6)
    expected = prequential(river_hst(**params), as_dicts(X))
    got = HalfSpaceTrees(**params).score_learn(X)
    assert_allclose(got, expected, rtol=0, atol=ATOL)


# ====================================== Random Cut Forest against rrcf's loop
@st.composite
def rcf_streams(draw):
    """(X, params): values with one decimal from a pool (duplicates, ties with
    cuts), maybe a constant feature, shingles of 1 to 4 records; mostly long enough
    for the trees to fill and forget."""
    d = draw(st.integers(1, 3))
    params = dict(n_estimators=draw(st.integers(1, 5)), tree_size=draw(st.integers(4, 24)),
                  shingle_size=draw(st.integers(1, 4)), random_state=draw(SEEDS))
    rng = np.random.RandomState(draw(SEEDS))
    pool = (1.5 * rng.randn(draw(POOLS), d)).round(1)
    low = draw(st.sampled_from([params["tree_size"] + params["shingle_size"] + 2, 1]))
    X = pool[rng.randint(0, pool.shape[0], low + draw(EXTRA))]
    if draw(st.booleans()):
        X[:, draw(st.integers(0, d - 1))] = draw(st.sampled_from([0.0, 1.5, -2.0]))
    return X, params


@needs_rrcf
@HYPOTHESIS
@given(case=rcf_streams(), cut=st.floats(0.0, 1.0))
def test_rcf_equals_rrcf(case, cut):
    X, params = case
    expected = rrcf_scores(X, **params)
    batch = RandomCutForest(**params).score_learn(X)
    assert_allclose(batch, expected, rtol=0, atol=ATOL)
    assert np.all(batch[:params["shingle_size"] - 1] == 0.0)
    # two calls (cut anywhere, inside the first shingle too), one record at a
    # time, river's API with dicts, two threads: the same numbers
    c = int(cut * X.shape[0])
    if 0 < c < X.shape[0]:
        model = RandomCutForest(**params)
        assert_array_equal(np.concatenate([model.score_learn(X[:c]),
                                           model.score_learn(X[c:])]), batch)
    model = RandomCutForest(**params)
    assert_array_equal([model.score_learn_one(row) for row in X], batch)
    model = RandomCutForest(**params)
    assert_array_equal([model.score_learn_one(x) for x in as_dicts(X)], batch)
    assert_array_equal(RandomCutForest(n_jobs=2, **params).score_learn(X), batch)


@needs_rrcf
@pytest.mark.parametrize("n_features, shingle_size", [(9, 1), (3, 4), (8, 2)])
def test_rcf_equals_rrcf_in_many_dimensions(n_features, shingle_size):
    """From 8 dimensions on, the box's span is summed in NumPy's pairwise order."""
    rng = np.random.RandomState(n_features)
    X = rng.randn(70, n_features) * rng.uniform(0.1, 10.0, n_features)
    X[40] *= 5.0
    params = dict(n_estimators=3, tree_size=12, shingle_size=shingle_size, random_state=2)
    assert_allclose(RandomCutForest(**params).score_learn(X), rrcf_scores(X, **params),
                    rtol=0, atol=ATOL)


def test_rcf_long_stream_across_chunks():
    """Past a kernel call's 4096 points: one call, one record at a time, and (not
    learning) scoring and explaining 4200 rows at once. (Threads are left out: each
    kernel compiles again for the last, partial chunk's buffers.)"""
    X = np.random.RandomState(3).randn(4300, 2).round(2)
    params = dict(n_estimators=2, tree_size=16, shingle_size=2, random_state=4)
    batch = RandomCutForest(**params).score_learn(X)
    model = RandomCutForest(**params)
    assert_array_equal([model.score_learn_one(row) for row in X], batch)
    model = RandomCutForest(**dict(params, shingle_size=1))
    model.score_learn(X[:100])
    Q = X[100:4300]
    scores = model.score_samples(Q)
    assert_array_equal(np.concatenate([model.score_samples(Q[:2000]),
                                       model.score_samples(Q[2000:])]), scores)
    assert_allclose(explain(model, Q).values.sum(axis=1), scores, rtol=0, atol=ATOL)


@needs_rrcf
@pytest.mark.parametrize("shingle_size", [1, 3])
def test_rcf_score_one_inserts_without_forgetting(shingle_size):
    """``score_one`` (and ``score_samples``) score a record as rrcf would if it were
    inserted into the current trees as they are (no point forgotten first), the
    shingle it would complete; then the record is learned as rrcf's loop does."""
    k = shingle_size
    X = np.random.RandomState(7).randn(60, 2).round(1)
    X[45] = [4.0, -4.0]
    n_estimators, tree_size = 4, 12
    model = RandomCutForest(n_estimators=n_estimators, tree_size=tree_size,
                            shingle_size=k, random_state=8)
    seeds = np.random.RandomState(8).randint(np.iinfo(np.int32).max, size=n_estimators)
    forest = [rrcf.RCTree(random_state=int(s)) for s in seeds]
    for i, row in enumerate(X):
        got = model.score_one(row)
        if i:
            assert model.score_samples(row[None, :])[0] == -got
        if i < k - 1:
            assert got == 0.0
            model.learn_one(row)
            continue
        index = i - (k - 1)
        point = X[index: i + 1].ravel()
        expected = 0.0
        for tree in forest:
            if index:                      # rrcf's codisp of a lone root is undefined
                copy = pickle.loads(pickle.dumps(tree))
                copy.insert_point(point, index=index)
                expected += copy.codisp(index) / n_estimators
        assert abs(got - expected) <= ATOL, i
        learned = model.score_learn_one(row)
        expected_learned = 0.0
        for tree in forest:
            if len(tree.leaves) > tree_size:
                tree.forget_point(index - tree_size)
            tree.insert_point(point, index=index)
            expected_learned += tree.codisp(index) / n_estimators
        assert abs(learned - expected_learned) <= ATOL, i


# ===================================================================== refusals
BOTH = [pytest.param(hst, id="hst"), pytest.param(rcf, id="rcf")]


def started(make):
    model = make(random_state=0)
    model.score_learn(np.random.RandomState(0).rand(30, 2))
    return model


ROW_CALLS = {
    "score_learn": lambda m, X: m.score_learn(X),
    "partial_fit": lambda m, X: m.partial_fit(X),
    "fit": lambda m, X: m.fit(X),
    "score_samples": lambda m, X: m.score_samples(X),
    "decision_function": lambda m, X: m.decision_function(X),
    "predict": lambda m, X: m.predict(X),
    "explain": lambda m, X: explain(m, X),
}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("make", BOTH)
def test_non_finite_rows_refused_at_the_start(make, bad):
    for name in ("score_learn", "partial_fit", "fit"):
        with pytest.raises(ValueError, match="NaN|infinity|infinite"):
            ROW_CALLS[name](make(random_state=0), np.array([[0.1, 0.2], [0.3, bad]]))


@pytest.mark.parametrize("name", ["score_learn", "fit"])
@pytest.mark.parametrize("make", BOTH)
def test_refused_first_batch_leaves_the_model_unstarted(make, name):
    X = np.random.RandomState(1).rand(30, 2)
    model = make(random_state=0)
    with pytest.raises(ValueError, match="NaN"):
        ROW_CALLS[name](model, np.array([[0.1, 0.2], [0.3, np.nan]]))
    assert_array_equal(model.score_learn(X), make(random_state=0).score_learn(X))


@pytest.mark.parametrize("make", BOTH)
def test_refused_fit_mid_stream_leaves_a_usable_model(make):
    """Refused, fit either left the stream as it was or forgot it whole: the next
    records are scored as by one of those two models, never an AttributeError."""
    X = np.random.RandomState(1).rand(30, 2)
    model = started(make)
    kept = pickle.loads(pickle.dumps(model)).score_learn(X)
    fresh = make(random_state=0).score_learn(X)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(np.array([[0.1, 0.2], [0.3, np.nan]]))
    got = model.score_learn(X)
    assert np.array_equal(got, kept) or np.array_equal(got, fresh)


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("method", [m for m in ROW_CALLS if m != "fit"])
@pytest.mark.parametrize("make", BOTH)
def test_non_finite_rows_refused_mid_stream(make, method, bad):
    model = started(make)
    twin = pickle.loads(pickle.dumps(model))
    with pytest.raises(ValueError, match="NaN|infinity|infinite"):
        ROW_CALLS[method](model, np.array([[0.1, 0.2], [0.3, bad]]))
    assert_same_state(model, twin)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("make", BOTH)
def test_non_finite_records_refused(make, bad):
    model = make(random_state=0)
    with pytest.raises(ValueError, match="NaN|infinity|infinite"):
        model.learn_one([0.1, bad])
    with pytest.raises(ValueError, match="feature 'b'.*(NaN|infinite)"):
        model.learn_one({"a": 0.1, "b": bad})
    model = started(make)
    n = model.n_samples_seen_
    for call in (model.learn_one, model.score_one, model.score_learn_one):
        with pytest.raises(ValueError, match="NaN|infinity|infinite"):
            call([0.1, bad])
        with pytest.raises(ValueError, match="(NaN|infinite)"):
            call({0: 0.1, 1: bad})
    assert model.n_samples_seen_ == n


@pytest.mark.parametrize("make", BOTH)
def test_non_numbers_refused(make):
    model = make(random_state=0)
    with pytest.raises(ValueError, match="feature 'b': not a number"):
        model.learn_one({"a": 0.1, "b": "x"})
    with pytest.raises(ValueError, match="not a number"):
        model.learn_one({"a": 0.1, "b": True})
    with pytest.raises(ValueError, match="numbers only"):
        model.learn_one([0.1, "x"])
    with pytest.raises(TypeError, match="dict or a 1-D sequence"):
        model.learn_one("ab")
    with pytest.raises(ValueError):
        model.score_learn([[0.1, "x"]])
    with pytest.raises(ValueError, match="1-D record"):
        model.learn_one([[0.1, 0.2]])
    assert not hasattr(model, "n_features_in_")


@pytest.mark.parametrize("make", BOTH)
def test_wrong_width_refused_mid_stream(make):
    model = started(make)
    n = model.n_samples_seen_
    msg = "expecting 2 features"
    with pytest.raises(ValueError, match=msg):
        model.score_learn(np.ones((3, 3)))
    with pytest.raises(ValueError, match=msg):
        model.partial_fit(np.ones((3, 1)))
    with pytest.raises(ValueError, match=msg):
        model.score_samples(np.ones((3, 3)))
    with pytest.raises(ValueError, match=msg):
        explain(model, np.ones((3, 3)))
    for call in (model.learn_one, model.score_one, model.score_learn_one):
        with pytest.raises(ValueError, match=msg):
            call([1.0, 2.0, 3.0])
    assert model.n_samples_seen_ == n
    # fit forgets the stream: a new width is fine
    assert make(random_state=0).fit(np.ones((5, 3))).n_features_in_ == 3
    assert model.fit(np.random.RandomState(1).rand(5, 3)).n_features_in_ == 3


@pytest.mark.parametrize("make", BOTH)
def test_no_rows_no_features_refused(make):
    with pytest.raises(ValueError, match="0 sample"):
        make(random_state=0).score_learn(np.empty((0, 2)))
    with pytest.raises(ValueError, match="0 feature"):
        make(random_state=0).score_learn(np.empty((3, 0)))
    with pytest.raises(ValueError, match="0 features"):
        make(random_state=0).learn_one([])
    model = started(make)
    n = model.n_samples_seen_
    for method in ("score_learn", "partial_fit", "score_samples"):
        with pytest.raises(ValueError, match="0 sample"):
            getattr(model, method)(np.empty((0, 2)))
    assert model.n_samples_seen_ == n
    with pytest.raises(ValueError, match="Expected 2D array"):
        make(random_state=0).score_learn(np.ones(3))


@pytest.mark.parametrize("make", [
    pytest.param(hst, id="hst"),
    pytest.param(rcf, id="rcf"),
])
def test_empty_dict_record_refused(make):
    model = make(random_state=0)
    with pytest.raises(ValueError, match="0 features"):
        model.learn_one({})
    assert not hasattr(model, "n_features_in_")


def test_hst_refused_first_record_leaves_the_model_unstarted():
    model = hst(random_state=0, limits={0: (1.0, 0.0)})
    with pytest.raises(ValueError, match="low <= high"):
        model.learn_one([0.5, 0.5])
    assert not hasattr(model, "n_features_in_")
    model.set_params(limits=None)
    assert model.score_learn_one([0.5, 0.5]) == 0.0


@pytest.mark.parametrize("make, params", [
    (hst, {"n_estimators": 0}), (hst, {"window_size": 0}), (hst, {"height": 0}),
    (hst, {"height": 31}), (hst, {"contamination": 0.7}), (hst, {"contamination": 0.0}),
    (hst, {"random_state": -1}), (hst, {"limits": "wide"}), (hst, {"n_jobs": 1.5}),
    (rcf, {"n_estimators": 0}), (rcf, {"tree_size": 0}), (rcf, {"shingle_size": 0}),
    (rcf, {"contamination": 0.7}), (rcf, {"random_state": -1}), (rcf, {"n_jobs": "2"}),
])
def test_bad_parameters_refused_at_first_learning(make, params):
    model = make(**params)                          # scikit-learn's rule: not yet
    assert model.score_one([0.5, 0.5]) == 0.0
    for call in (lambda m: m.learn_one([0.5, 0.5]), lambda m: m.score_learn_one([0.5, 0.5]),
                 lambda m: m.score_learn([[0.5, 0.5]]), lambda m: m.fit([[0.5, 0.5]])):
        model = make(**params)
        with pytest.raises(InvalidParameterError, match=next(iter(params))):
            call(model)
        assert not getattr(model, "n_samples_seen_", 0)
    # a record refused, the parameter mended: the stream starts afresh
    for call in (lambda m: m.learn_one([0.5, 0.5]), lambda m: m.score_learn_one([0.5, 0.5])):
        model = make(**params)
        with pytest.raises(InvalidParameterError):
            call(model)
        model.set_params(**{k: make().get_params()[k] for k in params})
        assert model.score_learn_one([0.5, 0.5]) == 0.0


@pytest.mark.parametrize("name", ["score_learn", "fit"])
@pytest.mark.parametrize("make, params", [(hst, {"window_size": 0}),
                                          (rcf, {"shingle_size": 0})])
def test_bad_parameters_refused_batch_leaves_the_model_unstarted(make, params, name):
    model = make(random_state=0, **params)
    with pytest.raises(InvalidParameterError):
        ROW_CALLS[name](model, [[0.5, 0.5]])
    model.set_params(**{k: make().get_params()[k] for k in params})
    assert_array_equal(model.score_learn([[0.5, 0.5]]), [0.0])


@pytest.mark.parametrize("limits, match", [
    ({0: (0.0, 1.0, 2.0)}, "pair"), ({0: "ab"}, "pair"), ({0: (1.0, 0.0)}, "low <= high"),
    ({0: (0.0, np.inf)}, "finite"), ({0: (0.5, 0.5), 1: (0.2, 0.2)}, "positive total"),
    ([[0.0, 1.0]], "shape"),
])
def test_hst_bad_limits_refused(limits, match):
    with pytest.raises(ValueError, match=match):
        hst(limits=limits, random_state=0).learn_one([0.5, 0.5])


@pytest.mark.parametrize("make", BOTH)
def test_not_fitted(make):
    model = make(random_state=0)
    for method in ("score_samples", "decision_function", "predict"):
        with pytest.raises(NotFittedError):
            getattr(model, method)(np.ones((2, 2)))
    with pytest.raises(NotFittedError):
        explain(model, np.ones((2, 2)))
    assert model.score_one({"a": 1.0}) == 0.0       # river's: nothing learned, no score


@pytest.mark.parametrize("make", BOTH)
def test_rcf_and_hst_missing_keys(make):
    """A missing key is river's rule for HST; RCF needs every feature."""
    model = make(random_state=0)
    model.learn_one({"a": 0.1, "b": 0.2})
    if make is rcf:
        with pytest.raises(ValueError, match=r"lacks \['b'\]"):
            model.learn_one({"a": 0.3})
        with pytest.raises(ValueError, match=r"lacks \['b'\]"):
            model.score_one({"a": 0.3, "c": 0.1})
        assert model.n_samples_seen_ == 1
    else:
        model.learn_one({"a": 0.3})
        assert model.n_samples_seen_ == 2


@pytest.mark.parametrize("make", BOTH)
def test_a_lone_record_runs_the_serial_kernel(make, monkeypatch):
    """Waking the threads costs more than one record's trees: a call on one record
    runs the serial kernel whatever ``n_jobs`` asks; a call on several runs the
    parallel kernel where more than one thread is asked for and available."""
    kernels = _hst_kernels if make is hst else _rcf_kernels
    parallel = kernels.score_learn_parallel

    def refused(*args):
        raise AssertionError("the parallel kernel ran")

    X = rcf_stream(6)
    for n_jobs in (None, 1, 2, -1):
        model = make(n_jobs=n_jobs)
        monkeypatch.setattr(kernels, "score_learn_parallel", refused)
        model.learn_one(X[0])
        model.score_one(dict(enumerate(X[1])))
        model.score_learn_one(X[1])
        model.score_learn(X[2:3])
        model.score_samples(X[3:4])
        monkeypatch.setattr(kernels, "score_learn_parallel", parallel)
        threaded = effective_n_jobs(n_jobs) > 1
        assert model._kernel(kernels, 5)[0] is (parallel if threaded else kernels.score_learn)
    model = make(n_jobs=0)
    for call in (model.learn_one, model.score_learn_one):
        with pytest.raises(ValueError, match="n_jobs == 0"):
            call(X[0])


@pytest.mark.parametrize("make", BOTH)
def test_a_strided_record_reads_as_its_values(make):
    """A record cut from a wider or Fortran-ordered array (not contiguous) is read
    as its values."""
    X = np.asfortranarray(rcf_stream(40, d=4))
    a, b = make(random_state=0), make(random_state=0)
    got = [a.score_learn_one(X[i, ::2]) for i in range(40)]
    want = [b.score_learn_one(np.ascontiguousarray(X[i, ::2])) for i in range(40)]
    assert_array_equal(got, want)
    assert a.score_one(X[0, 1::2]) == b.score_one(X[0, 1::2].copy())


@pytest.mark.parametrize("make", BOTH)
def test_a_record_of_any_numbers_reads_as_floats(make):
    """A dict of Python floats takes a shorter way than one of ints, NumPy scalars
    or a mix; both give the same row."""
    model = make(random_state=0)
    model.learn_one({"a": 0.25, "b": 2.0, "c": -1.5})
    floats = model._row({"a": 0.25, "b": 2.0, "c": -1.5}, reset=False)
    for record in ({"a": np.float64(0.25), "b": 2, "c": -1.5},
                   {"a": np.float32(0.25), "b": np.int64(2), "c": np.float64(-1.5)}):
        assert_array_equal(model._row(record, reset=False), floats)
    assert floats.dtype == np.float64 and floats.shape == (1, 3)
    assert_array_equal(model._row([0.25, 2, -1.5], reset=False), floats)


@pytest.mark.parametrize("shape", [(1, 3), (200, 3)], ids=["a record", "a batch"])
def test_has_nan_both_ways(shape):
    X = np.random.RandomState(0).rand(*shape)
    assert not _has_nan(X)
    X[-1, 1] = np.nan
    assert _has_nan(X)


# =============================================================== river's Pipeline
def _pipeline_records():
    rng = np.random.RandomState(11)
    X = rng.randn(260, 3) * [1.0, 50.0, 0.01] + [0.0, 100.0, 5.0]
    X[rng.rand(260) < 0.03] *= 6.0
    return [{"amount": float(a), "time": float(b), "v1": float(c)} for a, b, c in X]


@needs_river
def test_river_pipeline_with_min_max_scaler():
    """river's pipeline (its constructor, and ``|``) scales each record online and
    scores it with our forest exactly as with river's own."""
    records = _pipeline_records()
    params = dict(n_estimators=5, height=5, window_size=40)
    theirs = compose.Pipeline(preprocessing.MinMaxScaler(),
                              river_hst(random_state=42, **params))
    expected = prequential(theirs, records)
    assert np.any(expected[40:] != 0.0)
    for pipe in (compose.Pipeline(preprocessing.MinMaxScaler(),
                                  HalfSpaceTrees(random_state=42, **params)),
                 preprocessing.MinMaxScaler() | HalfSpaceTrees(random_state=42, **params)):
        assert_allclose(prequential(pipe, records), expected, rtol=0, atol=ATOL)
        assert list(pipe.steps.values())[-1].n_samples_seen_ == len(records)


# ========================================================= saving and resuming
def hst_stream(n=100, d=2, seed=0):
    X = np.random.RandomState(seed).rand(n, d)
    X[7::23] = 0.99
    return X


def rcf_stream(n=90, d=2, seed=0):
    t = np.arange(n)
    X = np.column_stack([np.sin(t / 5.0) + 0.05 * np.random.RandomState(seed).randn(n)
                         for _ in range(d)])
    X[60:62] += 3.0
    return X


def _resume_by_file(tmp_path):
    def resume(model):
        path = tmp_path / "mid.npz"
        save_model(model, path)
        return load_model(path)
    return resume


def _resume_by_pickle(tmp_path):
    return lambda model: pickle.loads(pickle.dumps(model))


RESUME = [pytest.param(_resume_by_file, id="file"), pytest.param(_resume_by_pickle, id="pickle")]


def check_resume(make, X, cut, resume):
    whole = make().score_learn(X)
    model = make()
    head = model.score_learn(X[:cut])
    loaded = resume(model)
    assert loaded.n_samples_seen_ == cut
    assert loaded.offset_ == model.offset_
    tail = loaded.score_learn(X[cut:])
    assert_array_equal(np.concatenate([head, tail]), whole)
    # the original, left alone, goes on the same way
    assert_array_equal(model.score_learn(X[cut:]), tail)
    assert_same_state(model, loaded)
    assert loaded.offset_ == model.offset_
    assert_array_equal(loaded.predict(X), model.predict(X))
    return whole


@pytest.mark.parametrize("resume", RESUME)
@pytest.mark.parametrize("cut", [1, 5, 19, 20, 40, 47, 99])
def test_hst_resume_mid_stream(tmp_path, resume, cut):
    """Cuts in the first window, right at a window's close (20, 40), mid-window."""
    X = hst_stream()
    whole = check_resume(lambda: hst(random_state=3), X, cut, resume(tmp_path))
    assert np.all(whole[:20] == 0.0) and np.all(whole[20:] > 0.0)


@pytest.mark.parametrize("resume", RESUME)
@pytest.mark.parametrize("cut", [1, 2, 3, 16, 18, 45, 61])
def test_rcf_resume_mid_stream_with_shingles(tmp_path, resume, cut):
    """shingle_size=3: cuts inside the first shingle (1, 2), at the first point (3),
    when the trees fill (16, 18: tree_size + shingle - 1) and start forgetting."""
    X = rcf_stream()
    check_resume(lambda: rcf(shingle_size=3, random_state=5), X, cut, resume(tmp_path))


@pytest.mark.parametrize("resume", RESUME)
def test_dict_streams_resume_with_their_keys(tmp_path, resume):
    rng = np.random.RandomState(2)
    records = [{"z": float(a), "a": float(b)} for a, b in rng.rand(90, 2)]
    records[50] = {"z": 0.01, "a": 0.99}
    for make in (lambda: hst(random_state=1), lambda: rcf(shingle_size=2, random_state=1)):
        unbroken = make()
        whole = [unbroken.score_learn_one(x) for x in records]
        model = make()
        head = [model.score_learn_one(x) for x in records[:37]]
        loaded = resume(tmp_path)(model)
        assert list(loaded.feature_names_in_) == ["a", "z"]
        tail = [loaded.score_learn_one(x) for x in records[37:]]
        assert_array_equal(head + tail, whole)
        # a dict scored after the resume reads its features by name
        assert loaded.score_one({"a": 0.5, "z": 0.25}) == unbroken.score_one({"z": 0.25,
                                                                              "a": 0.5})
        assert_same_state(loaded, unbroken)


def test_hst_resume_int_keys_and_limits(tmp_path):
    records = as_dicts(hst_stream() * [10.0, 1.0])
    make = lambda: hst(random_state=9, limits={0: (0.0, 10.0)})   # noqa: E731
    model = make()
    whole = prequential(model, records)
    model = make()
    head = prequential(model, records[:33])
    path = tmp_path / "m.npz"
    save_model(model, path)
    loaded = load_model(path)
    assert loaded.get_params()["limits"] in ({0: [0.0, 10.0]}, {"0": [0.0, 10.0]},
                                             {0: (0.0, 10.0)})
    assert_array_equal(np.concatenate([head, prequential(loaded, records[33:])]), whole)


def test_save_before_learning_refused(tmp_path):
    for model in (hst(), rcf()):
        with pytest.raises(TypeError, match="learned at least one record"):
            save_model(model, tmp_path / "m.npz")


# ============================================ scoring leaves the model unchanged
@pytest.mark.parametrize("make", [
    pytest.param(lambda: hst(random_state=4), id="hst"),
    pytest.param(lambda: hst(random_state=4, n_jobs=2), id="hst-threads"),
    pytest.param(lambda: rcf(random_state=4), id="rcf"),
    pytest.param(lambda: rcf(random_state=4, shingle_size=3), id="rcf-shingles"),
    pytest.param(lambda: rcf(random_state=4, n_jobs=2), id="rcf-threads"),
])
@pytest.mark.parametrize("cut", [9, 33])
def test_scoring_leaves_the_model_unchanged(make, cut):
    """Stream A learns X1, is scored every way on Q, learns X2; stream B learns X1
    then X2: the same X2 scores, the same state, the same threshold. (9: HST's
    first window is still open.)"""
    X = rcf_stream(120)
    X1, X2 = X[:cut], X[cut:]
    Q = np.vstack([X[:40][::-1], [[9.0, -9.0], [0.0, 0.0]]])
    a, b = make(), make()
    a.score_learn(X1)
    b.score_learn(X1)
    a.score_samples(Q)
    a.decision_function(Q)
    a.predict(Q)
    explain(a, Q)
    for row in Q:
        a.score_one(row)
        a.score_one(dict(enumerate(row)))
    a.score_samples(Q[:1])
    assert_same_state(a, b)
    assert_array_equal(a.score_learn(X2), b.score_learn(X2))
    assert_same_state(a, b)
    assert a.offset_ == b.offset_


def test_rcf_score_samples_generator_wraps():
    """Scoring draws from each tree's generator and must put it back, even when the
    draws run past the end of the 624-word block (a refill)."""
    X = np.random.RandomState(0).randn(400, 3)
    a, b = rcf(random_state=1, n_estimators=2), rcf(random_state=1, n_estimators=2)
    a.score_learn(X[:200])
    b.score_learn(X[:200])
    for _ in range(30):       # each call uses ~2 words a level: many refills
        a.score_samples(X[200:260])
    assert_same_state(a, b)
    assert_array_equal(a.score_learn(X[200:]), b.score_learn(X[200:]))


def _untemper(y):
    """The MT19937 state word whose tempered output is ``y`` (tempering undone)."""
    y ^= y >> 18
    y ^= (y << 15) & 0xEFC60000
    x = y
    for _ in range(4):
        x = y ^ ((x << 7) & 0x9D2C5680)
    z = x
    for _ in range(2):
        z = x ^ (z >> 11)
    return z & 0xFFFFFFFF


@needs_rrcf
def test_rcf_duplicate_found_when_the_cut_falls_on_the_box_edge():
    """rrcf looks for a duplicate before it draws; the kernel draws as it walks down
    and gives the draws back when the leaf it reaches is the point. A draw that lands
    exactly on a running sum of the spans puts the cut on the box's edge, which
    separates even a point inside the box: that point must still be found as the
    duplicate it is (rrcf's answer), and no draw spent on it. Here the root's box
    is [0, 1]^2 (spans 1 and 1) and the next draw is made exactly 0.5, so r = 1 is
    the first running sum and the cut falls on the low edge."""
    A, B = [1.0, 1.0], [0.0, 0.0]  # B left of the cut at 1 (rrcf 0.4.4's leaf cut)
    model = RandomCutForest(n_estimators=1, tree_size=8, random_state=0)
    model.score_learn(np.array([A, B]))
    tree = rrcf.RCTree(random_state=0)
    tree.insert_point(np.array(A), index=0)
    tree.insert_point(np.array(B), index=1)
    words = model._rng[0, :624].copy()
    words[622], words[623] = _untemper(2**31), _untemper(0)  # next double: 0.5
    state = ("MT19937", words.astype(np.uint32), 622, 0, 0.0)
    probe = np.random.RandomState()
    probe.set_state(state)
    assert probe.random_sample() == 0.5
    model._rng[0, :624] = words
    model._rng[0, 624] = 622
    tree.rng.set_state(state)
    X = np.array([B, [0.25, 0.75], [3.0, -1.0], B])
    theirs = []
    for index, point in enumerate(X, start=2):
        tree.insert_point(point, index=index)
        theirs.append(tree.codisp(index))
    assert_allclose(model.score_learn(X), theirs, rtol=0, atol=ATOL)
    assert model._count[0, model._root[0]] == 6


@needs_rrcf
@pytest.mark.parametrize("values", [4, 7])
@pytest.mark.parametrize("learn", [True, False])
def test_rcf_duplicates_across_generator_refills(learn, values):
    """A duplicate's walk down draws cuts that it then gives back; when those draws
    ran past the end of the 624-word block the generator was refilled, and giving
    them back restores the block. Four values in two features make nearly every
    record a duplicate, seven about half; 3,000 records cross the block's end many
    times, both when learning and when only scoring."""
    X = np.random.RandomState(0).randint(0, values, size=(3000, 2)).astype(float)
    model = rcf(random_state=3, n_estimators=2, tree_size=16)
    if learn:
        assert_allclose(model.score_learn(X), rrcf_stream(X, 2, 16, 3), rtol=0, atol=ATOL)
    else:
        # one call (its outputs tempered a block at a time) against a row a call
        other = rcf(random_state=3, n_estimators=2, tree_size=16)
        model.score_learn(X[:40])
        other.score_learn(X[:40])
        for m in (model, other):  # scoring gives its draws back: start near the end
            m._rng[:, 624] = 620
        one_call = model.score_samples(X[40:1040])
        by_row = [other.score_samples(row[None, :])[0] for row in X[40:1040]]
        assert_array_equal(one_call, by_row)
        assert_same_state(model, other)


# ===================================================== tampered model files
@pytest.fixture(scope="module")
def saved_streams(tmp_path_factory):
    d = tmp_path_factory.mktemp("streams")
    models = {
        "hst": hst(random_state=0, height=3, window_size=10),
        "rcf": rcf(random_state=0, n_estimators=3, tree_size=8, shingle_size=2),
    }
    models["hst"].score_learn(hst_stream(25))          # counter 5, first window over
    models["rcf"].score_learn(rcf_stream(40))          # trees full, forgetting
    paths = {}
    for kind, model in models.items():
        paths[kind] = d / f"{kind}.npz"
        save_model(model, paths[kind])
    return paths


def tampered(saved_streams, tmp_path, kind, mutate):
    entries, meta = read_parts(saved_streams[kind])
    mutate(entries, meta)
    return write_parts(tmp_path / "tampered.npz", entries, meta, sync_arrays=True)


@pytest.mark.parametrize("kind", ["hst", "rcf"])
def test_resigned_untampered_copy_loads(saved_streams, tmp_path, kind):
    path = tampered(saved_streams, tmp_path, kind, lambda e, m: None)
    X = hst_stream(30, seed=1)
    assert_array_equal(load_model(path).score_learn(X),
                       load_model(saved_streams[kind]).score_learn(X))


def _set(name, index, value):
    def mutate(e, m):
        e[name][index] = value
    return mutate


def _fit(name, value):
    def mutate(e, m):
        m["fitted"][name] = value(m["fitted"][name]) if callable(value) else value
    return mutate


def _param(name, value):
    def mutate(e, m):
        m["params"][name] = value
    return mutate


def _reshape(name, f):
    def mutate(e, m):
        e[name] = f(e[name])
    return mutate


HST_CASES = {
    "feature >= n_features": _set("feature", (0, 0), 2),
    "feature negative": _set("feature", (1, 2), -1),
    "threshold NaN": _set("threshold", (0, 1), np.nan),
    "threshold inf": _set("threshold", (2, 0), np.inf),
    "r_mass negative": _set("r_mass", (0, 3), -1),
    "l_leaf negative": _set("l_leaf", (1, 0), -5),
    "r_mass a column short": _reshape("r_mass", lambda a: a[:, :-1]),
    "feature a tree short": _reshape("feature", lambda a: a[:-1]),
    "threshold 1-D": _reshape("threshold", lambda a: a.ravel()),
    "feature as float": _reshape("feature", lambda a: a.astype(np.float64)),
    "l_leaf as int32": _reshape("l_leaf", lambda a: a.astype(np.int32)),
    "history short": _reshape("history", lambda a: a[:-1]),
    "history NaN": _set("history", 3, np.nan),
    "array missing": lambda e, m: e.pop("l_leaf"),
    "counter off by one": _fit("_counter", lambda v: v + 1),
    "counter = window_size": _fit("_counter", 10),
    "counter negative": _fit("_counter", -1),
    "n_samples_seen_ off by one": _fit("n_samples_seen_", lambda v: v + 1),
    "n_samples_seen_ in the first window": _fit("n_samples_seen_", 5),
    "first window flipped": _fit("_first_window", True),
    "first window not a bool": _fit("_first_window", 0),
    "n_history zero": _fit("_n_history", 0),
    "keys too many": _fit("keys", [0, 1, 2]),
    "keys of another kind": _fit("keys", [0.5, 1.5]),
    "height changed": _param("height", 4),
    "height 0": _param("height", 0),
    "window_size changed": _param("window_size", 12),
    "n_estimators changed": _param("n_estimators", 4),
    "unknown parameter": _param("depth", 3),
}


@pytest.mark.parametrize("case", list(HST_CASES))
def test_hst_tampered_state_refused(saved_streams, tmp_path, case):
    path = tampered(saved_streams, tmp_path, "hst", HST_CASES[case])
    with pytest.raises(ModelFileError):
        load_model(path)


def _root(e, t=0):
    return int(e["root"][t])


def _cap(e):
    return e["left"].shape[1]


def _branch_child(e, t=0):
    """A child of the root that is a branch itself (or the root's left child)."""
    r = _root(e, t)
    for c in (int(e["left"][t, r]), int(e["right"][t, r])):
        if e["left"][t, c] != -1:
            return c
    return int(e["left"][t, r])


def _a_leaf(e, t=0):
    r = _root(e, t)
    node = r
    while e["left"][t, node] != -1:
        node = int(e["left"][t, node])
    return node


def _swap_parent(e, m):
    r = _root(e)
    e["parent"][0, e["left"][0, r]] = e["right"][0, r]


def _free_dup(e, m):
    n = int(e["n_free"][0])
    assert n >= 2
    e["free"][0, 0] = e["free"][0, 1]


def _leaf_count(e, m):
    leaf = _a_leaf(e)
    a = leaf
    while a != -1:           # consistent up the path: only the total is wrong
        e["count"][0, a] += 1
        a = int(e["parent"][0, a])


def _leaf_box(e, m):
    e["lo"][0, _a_leaf(e), 0] -= 1.0


def _slot_to_branch(e, m):
    held = [s for s in range(e["slot"].shape[1]) if e["slot"][0, s] >= 0]
    e["slot"][0, held[0]] = _root(e)


def _slot_to_free(e, m):
    n = int(e["n_free"][0])
    e["slot"][0, 1] = e["free"][0, n - 1]


def _detach_subtree(e, m):
    # the root's right child replaced by its left child's copy: a node reached twice
    r = _root(e)
    e["right"][0, r] = e["left"][0, r]


def _cycle(e, m):
    # a branch's child pointing back at the root: a walk that never ends
    c = _branch_child(e)
    e["left"][0, c] = _root(e)


def _slot_alias(e, m):
    """Two held points' slots on one count-1 leaf: counts, links and boxes all
    consistent, but forgetting the points frees the leaf twice."""
    slots = e["slot"][0]
    leaves = [int(s) for s in slots]
    single = [i for i, leaf in enumerate(leaves) if e["count"][0, leaf] == 1]
    assert len(single) >= 2
    e["slot"][0, single[1]] = e["slot"][0, single[0]]


RCF_CASES = {
    "left child out of range": lambda e, m: e["left"].__setitem__((0, _root(e)), _cap(e)),
    "left child negative": lambda e, m: e["left"].__setitem__((0, _root(e)), -2),
    "right child = cap": lambda e, m: e["right"].__setitem__((1, _root(e, 1)), _cap(e)),
    "parent link wrong": _swap_parent,
    "a node reached twice": _detach_subtree,
    "a cycle": _cycle,
    "root count wrong": lambda e, m: e["count"].__setitem__((0, _root(e)),
                                                            e["count"][0, _root(e)] + 1),
    "leaf count and its path": _leaf_count,
    "leaf count zero": lambda e, m: e["count"].__setitem__((0, _a_leaf(e)), 0),
    "cut_dim out of range": lambda e, m: e["cut_dim"].__setitem__(
        (0, _root(e)), e["lo"].shape[2]),
    "cut_dim negative": lambda e, m: e["cut_dim"].__setitem__((1, _root(e, 1)), -1),
    "rng pos 700": _set("rng", (0, 624), 700),
    "rng pos negative": _set("rng", (2, 624), -1),
    "rng word > 32 bits": _set("rng", (1, 5), 2**32),
    "rng word negative": _set("rng", (1, 6), -1),
    "n_free one less": lambda e, m: e["n_free"].__setitem__(0, e["n_free"][0] - 1),
    "n_free one more": lambda e, m: e["n_free"].__setitem__(0, e["n_free"][0] + 1),
    "n_free > cap": lambda e, m: e["n_free"].__setitem__(0, _cap(e) + 1),
    "n_free negative": _set("n_free", 1, -1),
    "free id listed twice": _free_dup,
    "free id out of range": lambda e, m: e["free"].__setitem__((0, 0), _cap(e)),
    "root out of range": lambda e, m: e["root"].__setitem__(0, _cap(e)),
    "root -2": _set("root", 0, -2),
    "root a child": lambda e, m: e["root"].__setitem__(0, e["left"][0, _root(e)]),
    "root none while points are held": _set("root", 0, -1),
    "slot on a branch": _slot_to_branch,
    "slot on a free node": _slot_to_free,
    "slot out of range": lambda e, m: e["slot"].__setitem__((0, 2), _cap(e)),
    "slot -1": _set("slot", (1, 3), -1),
    "leaf box not a point": _leaf_box,
    "lo NaN": _set("lo", (0, 0, 0), np.nan),
    "hi inf": _set("hi", (1, 2, 1), np.inf),
    "cut_val NaN": _set("cut_val", (0, 1), np.nan),
    "left a column short": _reshape("left", lambda a: a[:, :-1]),
    "lo of another width": _reshape("lo", lambda a: a[:, :, :-1]),
    "slot a column short": _reshape("slot", lambda a: a[:, :-1]),
    "rng a word short": _reshape("rng", lambda a: a[:, :-1]),
    "count as float": _reshape("count", lambda a: a.astype(np.float64)),
    "recent a row short": _reshape("recent", lambda a: a[:0]),
    "recent NaN": _set("recent", (0, 0), np.nan),
    "array missing": lambda e, m: e.pop("free"),
    "n_points off by one": _fit("_n_points", lambda v: v + 1),
    "n_samples_seen_ off by one": _fit("n_samples_seen_", lambda v: v + 1),
    "n_samples_seen_ and n_points both small": lambda e, m: (
        _fit("_n_points", 4)(e, m), _fit("n_samples_seen_", 5)(e, m)),
    "tree_size changed": _param("tree_size", 9),
    "shingle_size changed": _param("shingle_size", 1),
    "n_estimators changed": _param("n_estimators", 2),
    "n_features_in_ 1": _fit("n_features_in_", 1),
}


@pytest.mark.parametrize("case", list(RCF_CASES))
def test_rcf_tampered_state_refused(saved_streams, tmp_path, case):
    path = tampered(saved_streams, tmp_path, "rcf", RCF_CASES[case])
    with pytest.raises(ModelFileError):
        load_model(path)


def test_rcf_two_slots_on_one_leaf_refused(saved_streams, tmp_path):
    path = tampered(saved_streams, tmp_path, "rcf", _slot_alias)
    with pytest.raises(ModelFileError):
        load_model(path)


# ===================================================================== explain
@pytest.mark.parametrize("make", [
    pytest.param(lambda: hst(random_state=2, window_size=15), id="hst"),
    pytest.param(lambda: rcf(random_state=2), id="rcf"),
    pytest.param(lambda: rcf(random_state=2, shingle_size=3), id="rcf-shingles"),
])
def test_explain_shares_add_up_to_score_samples(make):
    model = make()
    X = rcf_stream(100)
    model.score_learn(X[:70])
    Q = np.vstack([X[70:], [[3.0, -3.0], [0.5, 0.5]]])
    e = explain(model, Q)
    assert e.method == "score_shares"
    assert e.values.shape == Q.shape
    assert_allclose(e.values.sum(axis=1), model.score_samples(Q), rtol=0, atol=ATOL)
    assert_array_equal(e.base_values, 0.0)
    assert np.any(e.values != 0.0)


def test_explain_hst_first_window_is_zero():
    model = hst(random_state=2)
    model.score_learn(hst_stream(10))
    e = explain(model, hst_stream(5, seed=1))
    assert_array_equal(e.values, 0.0)
    assert_array_equal(model.score_samples(hst_stream(5, seed=1)), 0.0)


@pytest.mark.parametrize("random_state", [0, 3])
def test_explain_rcf_names_the_outlying_feature(random_state):
    rng = np.random.RandomState(4)
    X = 0.05 * rng.randn(400, 2)
    model = rcf(random_state=random_state, n_estimators=20, tree_size=64)
    model.score_learn(X)
    outlier = np.array([[0.0, 8.0], [0.0, -8.0], [8.0, 0.0], [-8.0, 0.01]])
    e = explain(model, outlier)
    assert_array_equal(np.argmin(e.values, axis=1), [1, 1, 0, 0])
    assert_allclose(e.values.sum(axis=1), model.score_samples(outlier), rtol=0, atol=ATOL)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_explain_feature_names_from_dict_keys():
    model = rcf(random_state=0)
    for a, b in rcf_stream(40):
        model.learn_one({"y": a, "x": b})
    e = explain(model, np.array([[0.0, 0.0]]))
    assert list(e.feature_names) == ["x", "y"]


# ===================================================== offset_ and predict
@pytest.mark.parametrize("make", [
    pytest.param(lambda: hst(random_state=5, n_estimators=10, height=6, window_size=50,
                             contamination=0.02), id="hst"),
    pytest.param(lambda: rcf(random_state=5, n_estimators=10, tree_size=64,
                             contamination=0.02), id="rcf"),
])
def test_predict_flags_a_far_outlier(make):
    rng = np.random.RandomState(6)
    X = 0.5 + 0.08 * rng.randn(400, 2)
    X[[150, 230, 310, 390]] = [[0.97, 0.03], [0.03, 0.97], [0.98, 0.98], [0.02, 0.02]]
    model = make()
    with pytest.raises(NotFittedError):
        model.offset_
    scores = model.score_learn(X)
    assert model.offset_ == np.quantile(-scores, 0.02)
    Q = np.array([[0.5, 0.5], [0.01, 0.99]])
    assert_array_equal(model.predict(Q), [1, -1])
    assert_array_equal(model.decision_function(Q), model.score_samples(Q) - model.offset_)
    # the threshold follows the stream: one more record moves it
    last = model.score_learn_one([0.5, 0.5])
    assert model.offset_ == np.quantile(-np.append(scores, last), 0.02)


@pytest.mark.parametrize("make", [
    pytest.param(lambda: hst(random_state=5), id="hst"),
    pytest.param(lambda: rcf(random_state=5, n_estimators=2, tree_size=8), id="rcf"),
])
def test_offset_uses_the_latest_history_scores(make):
    """The ring keeps the latest HISTORY prequential scores whatever the batch
    sizes (one over HISTORY included)."""
    X = np.random.RandomState(7).rand(12_000, 2)
    model = make()
    parts = []
    for lo, hi in [(0, 3), (3, 900), (900, 901), (901, 901 + HISTORY + 5),
                   (901 + HISTORY + 5, len(X))]:
        parts.append(model.score_learn(X[lo:hi]))
        seen = np.concatenate(parts)
        assert model.offset_ == np.quantile(-seen[-HISTORY:], model.contamination)
    assert_array_equal(seen, make().score_learn(X))


def test_fit_forgets_partial_fit_continues():
    X = hst_stream(80)
    for make in (lambda: hst(random_state=0), lambda: rcf(random_state=0, shingle_size=2)):
        a = make().fit(X[:30])
        a.fit(X[30:])
        b = make().fit(X[30:])
        assert_same_state(a, b)
        c = make().partial_fit(X[:30]).partial_fit(X[30:])
        d = make()
        d.score_learn(X)
        assert_same_state(c, d)
        assert c.n_samples_seen_ == 80


def test_hst_explain_names_the_feature_that_left_the_data():
    """Past the early stop the deficits go to the split that left the data, not to
    whatever splits the empty space below it."""
    right = 0
    rows = np.array([[0.5, 0.98], [0.02, 0.5]])
    for seed in range(6):
        X = 0.5 + 0.05 * np.random.RandomState(4 + seed).randn(400, 2)
        model = HalfSpaceTrees(n_estimators=10, height=6, window_size=100, random_state=seed)
        model.score_learn(X)
        values = explain(model, rows).values
        assert_allclose(values.sum(axis=1), model.score_samples(rows), rtol=0, atol=1e-12)
        right += int(np.argmin(values[0]) == 1) + int(np.argmin(values[1]) == 0)
    assert right == 12

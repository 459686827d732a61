"""Fitting from a RowSource builds the very forest fit(X) builds, reading few rows."""

import copy
import warnings

import numpy as np
import pytest

from isoforest import IsolationForest
from isoforest.forest import ArraySource, RowSource
from isoforest.forest import _kernels as K

from reference.iforest_naive import naive_drawn_rows, naive_rank_rows

# kernels index raw memory: `make test-boundscheck` runs these tests again with
# NUMBA_BOUNDSCHECK=1
pytestmark = pytest.mark.kernels


class ChunkedSource:
    """The protocol over an array held in chunks, without subclassing RowSource;
    it records every take() and iter_blocks() call."""

    def __init__(self, X, chunk=333, feature_names=None, dtype=None):
        X = np.asarray(X)
        self.chunks = [X[i:i + chunk] for i in range(0, len(X), chunk)]
        self.starts = np.arange(0, len(X), chunk)
        self.n_samples, self.n_features = X.shape
        self.feature_names = feature_names
        self.dtype = dtype
        self.taken = []
        self.n_block_passes = 0

    def take(self, rows):
        assert rows.dtype == np.int64
        assert np.all(np.diff(rows) > 0), "rows must be sorted and unique"
        self.taken.append(rows.copy())
        which = np.searchsorted(self.starts, rows, side="right") - 1
        out = np.stack([self.chunks[c][r - self.starts[c]] for c, r in zip(which, rows)]) \
            if len(rows) else np.empty((0, self.n_features))
        return out if self.dtype is None else out.astype(self.dtype)

    def iter_blocks(self):
        self.n_block_passes += 1
        for c in self.chunks:
            yield c if self.dtype is None else c.astype(self.dtype)


class SubclassSource(ChunkedSource, RowSource):
    """The same, as a RowSource subclass (so plain ``fit`` accepts it)."""


def _data(n=3000, d=5, seed=0):
    X = np.random.RandomState(seed).randn(n, d)
    X[::97, 1] = np.nan
    X[5, 2] = np.inf
    X[:, 4] = np.round(X[:, 4])  # ties
    return X


def _assert_same_fit(a, b, X):
    fa, fb = a.forest_, b.forest_
    for name, arr in fa.node_arrays().items():
        np.testing.assert_array_equal(fb.node_arrays()[name], arr, err_msg=name)
    np.testing.assert_array_equal(fa.features, fb.features)
    np.testing.assert_array_equal(fa.tree_offsets, fb.tree_offsets)
    assert a.offset_ == b.offset_
    assert a.max_samples_ == b.max_samples_
    assert a.n_features_in_ == b.n_features_in_
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    for ea, eb in zip(a.estimators_samples_, b.estimators_samples_):
        np.testing.assert_array_equal(ea, eb)


CASES = [
    dict(random_state=0),
    dict(random_state=7, n_jobs=2),
    dict(random_state=np.random.RandomState(3)),
    dict(random_state=None),
    dict(random_state=1, bootstrap=True),
    dict(random_state=2, max_features=0.6),
    dict(random_state=2, max_features=2, bootstrap=True),
    dict(random_state=4, contamination=0.1),
    dict(random_state=np.random.RandomState(5), contamination=0.25),
    dict(random_state=5, max_samples=100),
    dict(random_state=5, max_samples=0.3),
    dict(random_state=5, max_samples=0.999),
    dict(random_state=5, max_samples="auto", n_estimators=7),
    dict(random_state=6, max_samples=10**6),  # > n_samples: warned, then n_samples
]


def _fit_both(params, X, fit_kwargs=None, source_cls=ChunkedSource):
    fit_kwargs = fit_kwargs or {}
    p1, p2 = copy.deepcopy(params), copy.deepcopy(params)
    src = source_cls(X)
    with warnings.catch_warnings(record=True) as w1:
        warnings.simplefilter("always")
        if params.get("random_state", 0) is None:
            np.random.seed(11)
        a = IsolationForest(**p1).fit(X, **fit_kwargs)
    with warnings.catch_warnings(record=True) as w2:
        warnings.simplefilter("always")
        if params.get("random_state", 0) is None:
            np.random.seed(11)
        b = IsolationForest(**p2)._fit_source(src, **fit_kwargs)
    # fit's own warnings (UserWarning); NumPy's RuntimeWarnings of the pure-Python
    # kernels under NUMBA_DISABLE_JIT differ in number with the rows read
    def user(ws):
        return [str(x.message) for x in ws if x.category is UserWarning]

    assert user(w1) == user(w2)
    return a, b, src


@pytest.mark.parametrize("params", CASES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items())[:60])
def test_source_fit_identical_to_array_fit(params):
    X = _data()
    a, b, src = _fit_both(params, X)
    _assert_same_fit(a, b, X)
    # one take, of the sorted union of the drawn rows, bounded by the draws
    assert len(src.taken) == 1
    rows = src.taken[0]
    drawn = np.unique(np.concatenate(a.estimators_samples_))
    np.testing.assert_array_equal(rows, drawn)
    assert len(rows) <= b.n_estimators * b.max_samples_
    assert src.n_block_passes == (0 if b.contamination == "auto" else 1)


def test_max_samples_over_n_warns_like_fit():
    X = _data(n=200)
    with pytest.warns(UserWarning, match=r"max_samples \(500\) is greater than the total "
                                         r"number of samples \(200\)"):
        IsolationForest(max_samples=500, random_state=0)._fit_source(ChunkedSource(X))


@pytest.mark.parametrize("params", [dict(random_state=0), dict(random_state=None),
                                    dict(random_state=3, bootstrap=True, contamination=0.1),
                                    dict(random_state=np.random.RandomState(2),
                                         max_features=0.5)])
def test_sample_weight_path_identical(params):
    X = _data(n=1500)
    sw = np.random.RandomState(9).uniform(0, 2, len(X))
    sw[::10] = 0
    a, b, src = _fit_both(params, X, dict(sample_weight=sw))
    _assert_same_fit(a, b, X)
    assert len(src.taken) == 1
    assert len(src.taken[0]) <= b.n_estimators * b.max_samples_
    # rows of zero weight are never drawn, hence never read
    assert not np.isin(src.taken[0], np.flatnonzero(sw == 0)).any()


def test_warm_start_identical_and_takes_only_new_trees():
    X = _data()
    a = IsolationForest(n_estimators=10, warm_start=True, random_state=0).fit(X)
    b = IsolationForest(n_estimators=10, warm_start=True, random_state=0)
    src = ChunkedSource(X)
    b._fit_source(src)
    a.set_params(n_estimators=25).fit(X)
    b.set_params(n_estimators=25)._fit_source(src)
    _assert_same_fit(a, b, X)
    assert len(src.taken) == 2
    new = np.unique(np.concatenate(a.estimators_samples_[10:]))
    np.testing.assert_array_equal(src.taken[1], new)
    # no new trees: fit's warning, nothing read
    with pytest.warns(UserWarning, match="does not fit new trees"):
        b._fit_source(src)
    assert len(src.taken) == 2


def test_take_reads_few_rows_of_a_big_source():
    X = np.random.RandomState(0).randn(200_000, 3)
    src = ChunkedSource(X, chunk=50_000)
    est = IsolationForest(n_estimators=20, random_state=0)._fit_source(src)
    assert len(src.taken) == 1 and len(src.taken[0]) <= 20 * 256
    ref = IsolationForest(n_estimators=20, random_state=0).fit(X)
    _assert_same_fit(est, ref, X[:5000])


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_source_dtypes_like_fit(dtype):
    X = (np.random.RandomState(1).randn(800, 4) * 1000).astype(dtype)
    src = ChunkedSource(X, dtype=None)
    a = IsolationForest(random_state=0, contamination=0.05).fit(X)
    b = IsolationForest(random_state=0, contamination=0.05)._fit_source(src)
    _assert_same_fit(a, b, X)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_array_source_and_fit_routing():
    pd = pytest.importorskip("pandas")
    X = _data(n=900)
    df = pd.DataFrame(X, columns=list("abcde"))
    a = IsolationForest(random_state=0, contamination=0.1).fit(df)
    b = IsolationForest(random_state=0, contamination=0.1).fit(ArraySource(df))
    _assert_same_fit(a, b, X)
    np.testing.assert_array_equal(b.feature_names_in_, np.array(list("abcde"), object))
    # a subclass of RowSource goes through plain fit too, names included
    names = np.array(list("vwxyz"), dtype=object)
    c = IsolationForest(random_state=0).fit(SubclassSource(X, feature_names=names))
    np.testing.assert_array_equal(c.feature_names_in_, names)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        c.score_samples(X)
    # a refit from a source without names forgets them, as fit on an array does
    c._fit_source(ChunkedSource(X))
    assert not hasattr(c, "feature_names_in_")


def test_array_source_sparse():
    sp = pytest.importorskip("scipy.sparse")
    X = sp.random(2000, 6, density=0.3, format="csr", random_state=0)
    a = IsolationForest(random_state=0, contamination=0.2).fit(X)
    b = IsolationForest(random_state=0, contamination=0.2).fit(
        ArraySource(X, block_rows=700))
    _assert_same_fit(a, b, X.toarray())


def test_bad_sources_raise():
    X = _data(n=300)

    class Short(ChunkedSource):
        def take(self, rows):
            return super().take(rows)[:-1]

    with pytest.raises(ValueError, match=r"take\(\) returned an array of shape"):
        IsolationForest(random_state=0)._fit_source(Short(X))

    class FewBlocks(ChunkedSource):
        def iter_blocks(self):
            yield self.chunks[0]

    with pytest.raises(ValueError, match=r"iter_blocks\(\) yielded 300 rows, expected "
                                         r"n_samples=400"):
        IsolationForest(random_state=0, contamination=0.1)._fit_source(
            FewBlocks(_data(n=400), chunk=300))

    empty = ChunkedSource(X)
    empty.n_samples = 0
    with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\) \(shape=\(0, 5\)\) "
                                         r"while a minimum of 1 is required by IsolationForest"):
        IsolationForest()._fit_source(empty)
    wrong_names = ChunkedSource(X, feature_names=["a", "b"])
    with pytest.raises(ValueError, match="2 feature names for 5 features"):
        IsolationForest()._fit_source(wrong_names)
    # parameter errors come first, as in fit
    with pytest.raises(ValueError, match="The 'n_estimators' parameter"):
        IsolationForest(n_estimators=0)._fit_source(ChunkedSource(X))
    with pytest.raises(ValueError, match="max_features must be <= n_features"):
        IsolationForest(max_features=9)._fit_source(ChunkedSource(X))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_drawn_rows_and_rank_rows_kernels_match_naive(seed):
    rng = np.random.RandomState(seed)
    n = 5000
    n_trees, m = 6, 300
    rows = np.sort(rng.randint(0, n, (n_trees, m)), axis=1)
    rows[0, :4] = [0, 63, 64, n - 1]
    n_rows = rng.randint(1, m + 1, n_trees)
    bits = np.zeros(n // 64 + 1, dtype=np.uint64)
    prefix = np.empty(bits.shape[0], dtype=np.int64)
    n_drawn = K.mark_rows(rows, n_rows, bits, prefix)
    np.testing.assert_array_equal(K.drawn_rows(bits, n_drawn),
                                  naive_drawn_rows(rows, n_rows))
    ranks = np.full_like(rows, -1)
    K.rank_rows(rows, n_rows, bits, prefix, ranks)
    np.testing.assert_array_equal(ranks, naive_rank_rows(rows, n_rows))

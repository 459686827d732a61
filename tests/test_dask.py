"""Dask input on a real two-process cluster: the same forest, the same scores, lazily.

One ``distributed.LocalCluster`` (2 worker processes x 1 thread) serves the module;
every comparison is against the in-memory estimator on ``X.compute()``, bit for bit
(z-score moments to 1e-12 relative).
"""

import os
import signal
import sys
import time
import tracemalloc

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")

import cloudpickle  # noqa: E402  (a dependency of distributed)

from isoforest import IsolationForest, LocalOutlierFactor, ZScoreDetector  # noqa: E402
from isoforest import dask as _dask  # noqa: E402

# Functions of this module travel to the workers by value: the workers need not
# import the tests.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

FOREST_ARRAYS = ("feature", "threshold", "children_left", "children_right",
                 "n_node_samples", "weighted_n_node_samples", "impurity",
                 "missing_go_to_left", "leaf_value", "features", "tree_offsets")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, timeout=60, death_timeout=60,
    )
    c = distributed.Client(cluster, timeout=60)
    try:
        c.wait_for_workers(2, timeout=60)
        yield c
    finally:
        c.close(timeout=30)
        cluster.close(timeout=30)


def data(n=2000, d=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    X[:20] += 5.0
    return X


def assert_same_forest(a, b):
    for name in FOREST_ARRAYS:
        assert np.array_equal(getattr(a.forest_, name), getattr(b.forest_, name)), name
    assert a.max_samples_ == b.max_samples_
    assert a.offset_ == b.offset_
    assert a.n_features_in_ == b.n_features_in_


def _unknown(X, chunks):
    """X with unknown (NaN) row-chunk sizes, as after a boolean filter."""
    x = da.from_array(X, chunks=chunks)
    return x[x[:, 0] > -np.inf]


# ------------------------------------------------------------------------ fit
@pytest.mark.parametrize("chunks", [
    (2000, 5),                      # one partition
    (500, 5),
    (333, 2),                       # rows and columns chunked
    ((700, 0, 1, 1000, 0, 299), (5,)),  # empty partitions, a one-row partition
    "unknown",
])
def test_fit_identical_for_any_chunking(client, chunks):
    X = data()
    ref = IsolationForest(random_state=3, n_estimators=20).fit(X)
    Xd = _unknown(X, (300, 5)) if chunks == "unknown" else da.from_array(X, chunks=chunks)
    if chunks == "unknown":
        assert np.isnan(Xd.chunks[0][0])
    got = IsolationForest(random_state=3, n_estimators=20).fit(Xd)
    assert_same_forest(got, ref)
    scores = got.score_samples(Xd)
    assert isinstance(scores, da.Array)
    if chunks != "unknown":
        assert scores.chunks == (Xd.chunks[0],)
    assert np.array_equal(scores.compute(), ref.score_samples(X))
    assert np.array_equal(got.decision_function(Xd).compute(), ref.decision_function(X))
    assert np.array_equal(got.predict(Xd).compute(), ref.predict(X))


@pytest.mark.parametrize("params", [
    dict(max_samples=100, max_features=0.6),
    dict(max_samples=0.3, bootstrap=True),
    dict(max_samples=2000),  # every row drawn
    dict(random_state="instance"),  # the dummy target before the seeds, as in memory
    dict(sample_weight=True),  # weights come to the caller; rows still taken
])
def test_fit_identical_for_parameters(client, params):
    X = data(1500, 4, seed=1)
    params = dict(params)
    if params.get("random_state") == "instance":
        ref = IsolationForest(n_estimators=10, random_state=np.random.RandomState(7)).fit(X)
        got = IsolationForest(n_estimators=10, random_state=np.random.RandomState(7))
        got.fit(da.from_array(X, chunks=(400, 2)))
    elif params.pop("sample_weight", False):
        w = np.random.RandomState(3).rand(len(X))
        ref = IsolationForest(n_estimators=10, random_state=0).fit(X, sample_weight=w)
        got = IsolationForest(n_estimators=10, random_state=0)
        got.fit(da.from_array(X, chunks=(400, 2)), sample_weight=da.from_array(w, 400))
    else:
        ref = IsolationForest(n_estimators=10, random_state=0, **params).fit(X)
        got = IsolationForest(n_estimators=10, random_state=0, **params)
        got.fit(da.from_array(X, chunks=(400, 2)))
    assert_same_forest(got, ref)


@pytest.mark.parametrize("npartitions", [1, 3, 7])
def test_dataframe_fit_and_score(client, npartitions):
    X = data(1200, 4, seed=2)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"], index=np.arange(1200) * 3)
    ddf = dd.from_pandas(df, npartitions=npartitions)
    ref = IsolationForest(random_state=0, n_estimators=15).fit(df)
    got = IsolationForest(random_state=0, n_estimators=15).fit(ddf)
    assert_same_forest(got, ref)
    assert list(got.feature_names_in_) == ["a", "b", "c", "d"]
    s = got.score_samples(ddf[["c", "a", "d", "b"]])  # columns in another order
    assert isinstance(s, dd.Series)
    s = s.compute()
    assert np.array_equal(s.index, df.index)
    assert np.array_equal(s.to_numpy(), ref.score_samples(df))
    p = got.predict(ddf).compute()
    assert np.array_equal(p.to_numpy(), ref.predict(df))


def _poison(block):
    raise RuntimeError("a task ran")


def test_bad_columns_refused_before_any_task(client):
    X = data(600, 4)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = IsolationForest(random_state=0, n_estimators=5).fit(df)
    # Collections whose every task fails: a refusal must come before any runs.
    ddf = dd.from_pandas(df, npartitions=3).map_partitions(_poison, meta=df.iloc[:0])
    with pytest.raises(ValueError, match="Feature names seen at fit time, yet now missing"):
        model.score_samples(ddf[["a", "b", "c"]])
    with pytest.raises(ValueError, match="Feature names unseen at fit time"):
        model.predict(ddf.assign(e=1.0))
    plain = IsolationForest(random_state=0, n_estimators=5).fit(X)
    Xd = da.from_array(X[:, :3], chunks=(200, 3)).map_blocks(_poison, dtype=float)
    with pytest.raises(ValueError, match="X has 3 features, but IsolationForest is "
                                         "expecting 4 features as input."):
        plain.score_samples(Xd)
    with pytest.raises(ValueError, match="X has 3 features"):
        plain.decision_function(Xd)


def test_only_drawn_rows_reach_the_caller(client):
    # 80 MB generated on the workers; the caller gets the drawn rows (<= 2 MB) only.
    n = 1_000_000
    X = da.random.RandomState(0).standard_normal((n, 10), chunks=(100_000, 10))
    source = _dask.DaskSource(X)
    est = IsolationForest(random_state=0, n_estimators=50, max_samples=256)
    est._validate_params()
    _dask.fit_forest(est, X, source=source)
    drawn = np.unique(np.concatenate(est.estimators_samples_))
    assert source.rows_taken == len(drawn) <= 50 * 256
    assert source.bytes_taken == len(drawn) * 10 * 8
    tracemalloc.start()
    try:
        IsolationForest(random_state=0, n_estimators=50).fit(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, peak


def test_large_float_max_samples_warns():
    est = IsolationForest(max_samples=0.5)
    est._validate_params()

    class Rows:  # a RowSource large enough for the warning, never read
        n_samples, n_features, feature_names = 5_000_000, 2, None

        def take(self, rows):
            raise AssertionError

    with pytest.raises(AssertionError), pytest.warns(ResourceWarning, match="permutation"):
        est.n_estimators = 1
        _dask.fit_forest(est, None, source=Rows())


# ------------------------------------------------------ exact percentile
@pytest.mark.parametrize("chunks", [(2000, 5), (250, 5), ((1000, 0, 1, 999), (5,))])
def test_float_contamination_exact(client, chunks):
    X = data()
    for c in (0.01, 0.1, 0.37, 0.5):
        ref = IsolationForest(random_state=0, n_estimators=10, contamination=c).fit(X)
        got = IsolationForest(random_state=0, n_estimators=10, contamination=c).fit(
            da.from_array(X, chunks=chunks))
        assert got.offset_ == ref.offset_
        assert type(got.offset_) is type(ref.offset_)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy too, on -inf
def test_exact_percentile_every_pass(client, monkeypatch):
    # Few values fetched per bracket: the histogram passes must narrow it exactly.
    monkeypatch.setattr(_dask, "SELECT_FETCH_MAX", 7)
    monkeypatch.setattr(_dask, "SELECT_BINS", 16)
    rng = np.random.RandomState(5)
    cases = [
        rng.randn(3001),
        np.round(rng.randn(2000), 1),             # many ties
        np.r_[np.full(900, -np.inf), rng.rand(300)],  # -inf scores (constant columns)
        np.full(500, -0.5),
        np.array([0.25]),
        -rng.rand(1000) ** 8,                      # crowded near 0
    ]
    for v in cases:
        x = da.from_array(v, chunks=max(1, len(v) // 5))
        for q in (0.0, 1.0, 10.0, 33.3, 50.0, 99.9, 100.0):
            want = np.percentile(v, q)
            got = _dask.exact_percentile(x, q)
            assert (got == want) or (np.isnan(got) and np.isnan(want)), (q, got, want)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy too, on inf - inf
def test_percentile_from_two_order_statistics():
    """The interpolation that turns two order statistics into ``np.percentile``'s
    value is NumPy's linear rule written out (NumPy's own helpers are private and
    moved in NumPy 2.0): the same double for sizes 1 to 4,096, ties, infinities and
    percentiles on and between ranks. Zeros compare equal whatever their sign (the
    order of -0.0 and 0.0 among ties is the sort's)."""
    rng = np.random.RandomState(0)
    for trial in range(3000):
        n = int(rng.choice([1, 2, 3, 10, 17, 1001, 4096]))
        v = rng.randn(n) * 10.0 ** rng.randint(-5, 6)
        if trial % 3 == 1:
            v = np.round(v, 1)
        elif trial % 3 == 2 and n > 2:
            v[rng.randint(n)], v[rng.randint(n)] = -np.inf, np.inf
        q = float(rng.choice([0.0, 100.0, 50.0, 5.0, 99.9, rng.uniform(0, 100)]))
        s = np.sort(v)
        k0, k1 = _dask._percentile_ranks(n, q)
        got = _dask._np_percentile_from(n, q, s[k0], s[k1])
        want = np.percentile(v, q)
        assert type(got) is np.float64
        assert got == want or (np.isnan(got) and np.isnan(want)), (n, q, got, want)


# -------------------------------------------------------------- z-scores
def test_zscore_moments_and_scores(client):
    X = data(3000, 4) * [1.0, 1e3, 1e-3, 5.0] + [0.0, 1e6, -3.0, 10.0]
    ref = ZScoreDetector().fit(X)
    Xd = da.from_array(X, chunks=((1000, 0, 1, 1999), (2, 2)))
    got = ZScoreDetector().fit(Xd)
    assert got.n_samples_seen_ == ref.n_samples_seen_
    np.testing.assert_allclose(got.mean_, ref.mean_, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got.var_, ref.var_, rtol=1e-12, atol=0)
    assert np.array_equal(got.min_, ref.min_) and np.array_equal(got.max_, ref.max_)
    s = got.score_samples(Xd)
    assert isinstance(s, da.Array)
    # lazy scores are the model's in-memory scores, bit for bit (the model's own
    # statistics differ from ref's in the last bits, which a 1e6 mean amplifies)
    assert np.array_equal(s.compute(), got.score_samples(X))
    np.testing.assert_allclose(s.compute(), ref.score_samples(X), rtol=1e-9)
    # partial_fit over two dask batches equals one fit
    part = ZScoreDetector(ddof=1).partial_fit(Xd[:1200]).partial_fit(Xd[1200:])
    whole = ZScoreDetector(ddof=1).fit(X)
    np.testing.assert_allclose(part.mean_, whole.mean_, rtol=1e-12)
    np.testing.assert_allclose(part.var_, whole.var_, rtol=1e-12)
    assert part.n_samples_seen_ == 3000
    # float contamination: offset_ is the exact percentile of the dask scores
    c = ZScoreDetector(contamination=0.05).fit(Xd)
    assert c.offset_ == np.percentile(c.score_samples(X), 5.0)
    with pytest.raises(ValueError, match="robust"):
        ZScoreDetector(method="robust").fit(Xd)


# ------------------------------------------------------------------- LOF
def test_lof_novelty_lazy_and_outlier_mode_refused(client):
    X = data(800, 3)
    Xd = da.from_array(X, chunks=(300, 3))
    ref = LocalOutlierFactor(novelty=True, n_neighbors=10).fit(X)
    s = ref.score_samples(Xd)
    assert isinstance(s, da.Array)
    assert np.array_equal(s.compute(), ref.score_samples(X))
    assert np.array_equal(ref.predict(Xd).compute(), ref.predict(X))
    assert np.array_equal(ref.decision_function(Xd).compute(), ref.decision_function(X))
    with pytest.warns(UserWarning, match="computes the dask collection"):
        fitted = LocalOutlierFactor(novelty=True, n_neighbors=10).fit(Xd)
    assert np.array_equal(fitted.score_samples(X), ref.score_samples(X))
    with pytest.raises(ValueError, match="novelty=False.*cannot fit or fit_predict"):
        LocalOutlierFactor(n_neighbors=10).fit_predict(Xd)


# ------------------------------------------------------------ the workers
def _kernel_signatures():
    from isoforest.forest import _kernels as K

    out = {}
    for name, obj in vars(K).items():
        sigs = getattr(obj, "signatures", None)
        if sigs is not None:
            out[name] = (id(obj), tuple(str(s) for s in sigs))
    return out


def test_kernels_stay_compiled_on_each_worker(client):
    X = data(4000, 5)
    model = IsolationForest(random_state=0, n_estimators=10).fit(X)
    Xd = da.from_array(X, chunks=(500, 5))
    first = model.score_samples(Xd).compute()
    before = client.run(_kernel_signatures)
    assert any(any(sig) for _, sig in next(iter(before.values())).values())
    second = model.score_samples(Xd + 0.0).compute()  # a new graph, same kernels
    after = client.run(_kernel_signatures)
    assert before == after  # no new compilation, the same dispatchers
    assert np.array_equal(first, second)


def test_model_embedded_once_per_graph():
    X = data(1000, 3)
    model = IsolationForest(random_state=0, n_estimators=5).fit(X)
    s = model.score_samples(da.from_array(X, chunks=(100, 3)))
    graph = dict(s.__dask_graph__())
    held = [k for k, v in graph.items() if isinstance(v, IsolationForest)
            or type(getattr(v, "value", None)) is IsolationForest]
    assert len(held) == 1


def _slow(block):
    time.sleep(0.15)
    return block


@pytest.mark.slow
def test_worker_killed_during_scoring(client):
    X = data(4000, 4)
    model = IsolationForest(random_state=0, n_estimators=10).fit(X)
    Xd = da.from_array(X, chunks=(100, 4)).map_blocks(_slow, dtype=float)
    fut = client.compute(model.score_samples(Xd))
    time.sleep(1.0)  # a few of the 40 slowed tasks done, most to go
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    os.kill(victim, signal.SIGKILL)
    got = fut.result(timeout=90)
    assert np.array_equal(got, model.score_samples(X))
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.run(os.getpid).values()


# ---------------------------------------------------------- command line
def test_cli_scores_files_through_dask(client, tmp_path, capsys):
    pytest.importorskip("pyarrow")
    from isoforest import cli

    rng = np.random.RandomState(0)
    frames = []
    for i in range(3):
        df = pd.DataFrame(rng.randn(300, 3), columns=["a", "b", "c"])
        df["id"] = np.arange(300) + 300 * i
        df.to_parquet(tmp_path / f"d{i}.parquet", index=False)
        frames.append(df)
    whole = pd.concat(frames)
    whole.to_csv(tmp_path / "all.csv", index=False)
    model = str(tmp_path / "m.iso")
    assert cli.main(["fit", str(tmp_path / "all.csv"), "--model", model,
                     "--columns", "a,b,c"]) == 0
    out = tmp_path / "out"
    assert cli.main(["score", model, str(tmp_path / "d*.parquet"), "--out", str(out),
                     "--scheduler", client.scheduler.address]) == 0
    assert sorted(os.listdir(out)) == ["part.0.parquet", "part.1.parquet",
                                       "part.2.parquet"]
    got = pd.read_parquet(out)
    from isoforest import load_model

    m = load_model(model)
    s = m.score_samples(whole[["a", "b", "c"]].to_numpy())
    assert np.array_equal(got["id"].to_numpy(), whole["id"].to_numpy())
    assert np.array_equal(got["anomaly_score"].to_numpy(), -s)
    assert np.array_equal(got["is_anomaly"].to_numpy(), (s - m.offset_ < 0).astype(np.int8))
    assert cli.main(["score", model, str(tmp_path / "nothing*.parquet"), "--out",
                     str(out), "--scheduler", client.scheduler.address]) == 1


def test_import_and_numpy_input_load_no_dask():
    import subprocess

    code = (
        "import sys, numpy as np, isoforest\n"
        "X = np.random.RandomState(0).randn(300, 3)\n"
        "m = isoforest.IsolationForest(n_estimators=5, random_state=0).fit(X)\n"
        "m.predict(X); isoforest.ZScoreDetector().fit(X).predict(X)\n"
        "bad = [k for k in sys.modules if k.split('.')[0] in ('dask', 'distributed')"
        " or k == 'isoforest.dask']\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)

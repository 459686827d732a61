"""LocalOutlierFactor and its neighbour kernels.

Compared against, in turn:

- the naive twin ``reference/lof_naive.py`` (Breunig et al.'s definitions, O(n^2)):
  neighbour indices and distances to the last bit (ties included: both order
  neighbours by (distance, index)), scores to 1e-9;
- itself across algorithms, thread counts and leaf sizes: identical neighbours;
- the golden archive ``reference/data/lof_golden.npz`` made by live scikit-learn
  (these tests need only NumPy);
- live scikit-learn 1.9 where installed: scores to 1e-9 (hypothesis, seeded), error
  messages and warnings word for word, and ``parametrize_with_checks``.
"""

import functools
import io
import json
import pickle
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from _fuzz import examples
from _scripts import run_pure_python
from numpy.testing import assert_allclose, assert_array_equal

from isoforest.neighbors import _kernels as NK
from isoforest.neighbors import _gemm
from isoforest.neighbors._lof import LocalOutlierFactor
from isoforest._validation import InvalidParameterError, NotFittedError
from reference import lof_naive as naive

# kernels index raw memory: `make test-boundscheck` runs these tests again with
# NUMBA_BOUNDSCHECK=1
pytestmark = pytest.mark.kernels

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "reference" / "data" / "lof_golden.npz"
RTOL = 1e-9
HYPOTHESIS = settings(max_examples=examples(25),
                      suppress_health_check=[HealthCheck.too_slow])

#: (estimator parameters, naive twin parameters) for each metric.
METRICS = {
    "euclidean": ({}, {"metric": "euclidean"}),
    "manhattan": ({"p": 1}, {"metric": "manhattan"}),
    "chebyshev": ({"metric": "chebyshev"}, {"metric": "chebyshev"}),
    "minkowski3": ({"p": 3}, {"metric": "minkowski", "p": 3.0}),
    "weighted": ({"p": 1.5, "metric_params": {"w": np.array([0.5, 2.0, 1.0])}},
                 {"metric": "minkowski", "p": 1.5, "w": [0.5, 2.0, 1.0]}),
}


def quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def tie_free(seed, n, d, scale=1.0):
    return np.random.RandomState(seed).randn(n, d) * scale


# ---------------------------------------------------------------- naive twin
# 'ball_tree' runs isoforest's kd-tree too; it is the tree scikit-learn allows with
# Minkowski weights.
@pytest.mark.parametrize("algorithm", ["ball_tree", "brute"])
@pytest.mark.parametrize("metric", list(METRICS))
def test_neighbours_and_scores_equal_naive(algorithm, metric):
    params, twin = METRICS[metric]
    X, Q = tie_free(0, 90, 3), tie_free(1, 15, 3, scale=2.0)
    est = LocalOutlierFactor(n_neighbors=7, algorithm=algorithm, novelty=True,
                             leaf_size=5, **params).fit(X)
    expected, parts = naive.lof_training_scores(X, 7, **twin)
    dist, ind = est.kneighbors(n_neighbors=7)
    assert_array_equal(ind, parts["indices"])
    assert_array_equal(dist, parts["distances"])
    dist, ind = est.kneighbors(Q, n_neighbors=9)
    n_dist, n_ind = naive.nearest_neighbors(X, Q, 9, **twin)
    assert_array_equal(ind, n_ind)
    assert_array_equal(dist, n_dist)
    assert_allclose(est.negative_outlier_factor_, expected, rtol=RTOL)
    assert_allclose(est.score_samples(Q), naive.lof_novelty_scores(X, Q, 7, **twin),
                    rtol=RTOL)


def test_matrix_product_brute_force_equals_naive():
    # 40 features: the euclidean brute force ranks candidates from matrix products,
    # then recomputes their distances exactly.
    X, Q = tie_free(2, 120, 40), tie_free(3, 20, 40)
    est = LocalOutlierFactor(n_neighbors=10, novelty=True).fit(X)
    assert est._fit_method == "brute" and est._brute_index is not None
    expected, parts = naive.lof_training_scores(X, 10)
    assert_array_equal(est.kneighbors(n_neighbors=10)[1], parts["indices"])
    assert_array_equal(est.kneighbors(n_neighbors=10)[0], parts["distances"])
    assert_array_equal(est.kneighbors(Q, 10)[1], naive.nearest_neighbors(X, Q, 10)[1])
    assert_allclose(est.negative_outlier_factor_, expected, rtol=RTOL)
    assert_allclose(est.score_samples(Q), naive.lof_novelty_scores(X, Q, 10), rtol=RTOL)


def test_paper_definitions_agree_without_ties():
    X = tie_free(4, 70, 2)
    est = LocalOutlierFactor(n_neighbors=6).fit(X)
    assert_allclose(-est.negative_outlier_factor_, naive.lof_paper(X, 6), rtol=RTOL)


def test_precomputed_equals_features():
    X, Q = tie_free(5, 60, 3), tie_free(6, 10, 3)
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    DQ = np.sqrt(((Q[:, None] - X[None]) ** 2).sum(-1))
    a = LocalOutlierFactor(n_neighbors=5, novelty=True).fit(X)
    b = LocalOutlierFactor(n_neighbors=5, novelty=True, metric="precomputed").fit(D)
    assert_array_equal(a.kneighbors()[1], b.kneighbors()[1])
    assert_allclose(a.negative_outlier_factor_, b.negative_outlier_factor_, rtol=1e-12)
    assert_allclose(a.score_samples(Q), b.score_samples(DQ), rtol=1e-12)


@st.composite
def tied_problems(draw):
    """Small grids of integers: many tied distances and duplicate rows."""
    n = draw(st.integers(2, 40))
    d = draw(st.integers(1, 4))
    levels = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    X = np.random.RandomState(seed).randint(0, levels, size=(n, d)).astype(np.float64)
    k = draw(st.integers(1, n - 1)) if n > 1 else 1
    metric = draw(st.sampled_from(["euclidean", "manhattan", "chebyshev"]))
    return X, k, metric


@HYPOTHESIS
@given(tied_problems())
def test_ties_and_duplicates_follow_naive_rule(problem):
    """With ties, neighbours are the k smallest (distance, index) pairs, and the
    training row itself is left out by index (or the first neighbour when duplicates
    crowd it out): the kernels and the twin must agree exactly."""
    X, k, metric = problem
    params = {"euclidean": {}, "manhattan": {"p": 1}, "chebyshev": {"metric": "chebyshev"}}
    expected, parts = naive.lof_training_scores(X, k, metric=metric)
    for algorithm in ("kd_tree", "brute"):
        est = quiet(LocalOutlierFactor(n_neighbors=k, algorithm=algorithm, leaf_size=3,
                                       **params[metric]).fit, X)
        dist, ind = est.kneighbors(n_neighbors=est.n_neighbors_)
        assert_array_equal(ind, parts["indices"])
        assert_array_equal(dist, parts["distances"])
        assert_allclose(est.negative_outlier_factor_, expected, rtol=RTOL)


# ------------------------------------------------------------ self-consistency
def _nasty_data():
    rng = np.random.RandomState(7)
    return {
        "duplicates": np.repeat(rng.randn(30, 3), 4, axis=0),
        "constant_column": np.c_[rng.randn(150, 2), np.full(150, 3.0)],
        "grid": rng.randint(0, 3, size=(200, 2)).astype(float),
        "offset": 1e8 + rng.randn(150, 4),
        "tiny": 1e-200 * rng.randn(150, 4),
        "huge": 1e150 * rng.randn(150, 4),
        "high_dim_ties": rng.randint(0, 2, size=(100, 20)).astype(float),
    }


@pytest.mark.parametrize("name", list(_nasty_data()))
def test_kd_tree_and_brute_force_identical(name):
    X = _nasty_data()[name]
    Q = X[::7] + 0.5
    results = []
    for algorithm, leaf_size in [("kd_tree", 1), ("kd_tree", 4), ("kd_tree", 1000),
                                 ("brute", 30)]:
        est = quiet(LocalOutlierFactor(n_neighbors=8, algorithm=algorithm,
                                       leaf_size=leaf_size, novelty=True).fit, X)
        results.append((est.kneighbors(n_neighbors=8), est.kneighbors(Q, 8),
                        est.negative_outlier_factor_, est.score_samples(Q)))
    # the direct brute force (no matrix products) too
    direct = NK.kneighbors_brute(np.ascontiguousarray(X, dtype=float), None, 9,
                                 metric=NK.EUCLIDEAN, exclude_self=True)
    for (d, i), (qd, qi), nof, ss in results[1:]:
        assert_array_equal(i, results[0][0][1])
        assert_array_equal(d, results[0][0][0])
        assert_array_equal(qi, results[0][1][1])
        assert_array_equal(qd, results[0][1][0])
        assert_array_equal(nof, results[0][2])
        assert_array_equal(ss, results[0][3])
    assert_array_equal(direct[1], results[0][0][1])
    assert_array_equal(direct[0], results[0][0][0])


@pytest.mark.parametrize("algorithm", ["kd_tree", "brute"])
def test_n_jobs_does_not_change_results(algorithm, configured):
    # small blocks: the brute force then runs its threads (one product each)
    configured(gemm_block=400 * 16)
    X, Q = tie_free(8, 400, 4), tie_free(9, 100, 4)
    X[::10] = X[1::10]  # some duplicates
    runs = []
    for n_jobs in (None, 1, 2, -1):
        est = quiet(LocalOutlierFactor(n_neighbors=10, algorithm=algorithm,
                                       novelty=True, n_jobs=n_jobs).fit, X)
        runs.append((est.kneighbors(), est.negative_outlier_factor_, est.score_samples(Q)))
    for (d, i), nof, ss in runs[1:]:
        assert_array_equal(d, runs[0][0][0])
        assert_array_equal(i, runs[0][0][1])
        assert_array_equal(nof, runs[0][1])
        assert_array_equal(ss, runs[0][2])


def test_kernels_serial_and_parallel_agree():
    X = tie_free(10, 300, 3)
    tree = NK.build_kdtree(X, 10)
    for metric in (NK.EUCLIDEAN, NK.MANHATTAN, NK.CHEBYSHEV, NK.MINKOWSKI):
        a = NK.kneighbors_kdtree(tree, None, 6, metric=metric, p=1.5, exclude_self=True,
                                 n_threads=2)
        b = NK.kneighbors_kdtree(tree, None, 6, metric=metric, p=1.5, exclude_self=True,
                                 n_threads=1)
        c = NK.kneighbors_brute(X, None, 6, metric=metric, p=1.5, exclude_self=True,
                                n_threads=1)
        for x, y in ((a, b), (a, c)):
            assert_array_equal(x[0], y[0])
            assert_array_equal(x[1], y[1])


@pytest.mark.parametrize("n_features", [3, 9])
@pytest.mark.parametrize("metric", [NK.EUCLIDEAN, NK.MANHATTAN, NK.CHEBYSHEV,
                                    NK.MINKOWSKI])
def test_kdtree_groups_and_single_queries_equal_brute_force(n_features, metric):
    """The kd-tree answers the training rows a group at a time (one walk per group:
    a leaf, or a subtree of up to ``group_max`` rows, ranked first when at most 64
    rows, walked like the others above) and other queries one at a time or grouped
    by a tree over them, with kernels compiled for the exact feature count up to 8
    and for any count above: every way gives the direct brute force's neighbours,
    ties (duplicate rows) included."""
    rng = np.random.RandomState(n_features)
    X = rng.randn(400, n_features)
    X[::9] = X[3::9][:len(X[::9])]  # duplicates: exact ties, broken by index
    Q = np.r_[rng.randn(200, n_features) * 2, X[:5]]
    w = rng.uniform(0.5, 2.0, n_features)
    expected_train = NK.kneighbors_brute(X, None, 12, metric=metric, p=1.5, w=w,
                                         exclude_self=True)
    expected_query = NK.kneighbors_brute(X, Q, 12, metric=metric, p=1.5, w=w)
    for leaf_size in (1, 6, 40, 400):
        tree = NK.build_kdtree(X, leaf_size)
        for n_threads, group_max in ((1, 0), (2, 0), (1, 32), (2, 64), (1, 1000)):
            options = dict(metric=metric, p=1.5, w=w, n_threads=n_threads)
            got_train = NK.kneighbors_kdtree(tree, None, 12, exclude_self=True,
                                             group_max=group_max, **options)
            got_query = NK.kneighbors_kdtree(tree, Q, 12, **options)
            got_grouped = NK.kneighbors_kdtree(tree, Q, 12, group_queries=True,
                                               group_max=group_max, **options)
            for got, expected in ((got_train, expected_train),
                                  (got_query, expected_query),
                                  (got_grouped, expected_query)):
                assert_array_equal(got[1], expected[1])
                assert_array_equal(got[0], expected[0])


@pytest.mark.parametrize("k", [1, 7, 20, 130, 300])
def test_score_kernels_are_numpys_arithmetic(k):
    """The density and score kernels give scikit-learn's NumPy expressions to the
    last bit (its row means are pairwise sums: k = 130 and 300 recurse)."""
    rng = np.random.RandomState(k)
    n = 3000
    dist = np.sort(rng.rand(n, k) * rng.rand(n, 1) * 10, axis=1)
    ind = rng.randint(0, n, size=(n, k))
    lrd = 1.0 / (np.mean(np.maximum(dist, dist[ind, k - 1]), axis=1) + 1e-10)
    nof = -np.mean(lrd[ind] / lrd[:, np.newaxis], axis=1)
    got_lrd, got_nof = np.empty(n), np.empty(n)
    NK.local_reachability_density(dist, ind, np.ascontiguousarray(dist[:, k - 1]), got_lrd)
    NK.negative_outlier_factor(got_lrd, ind, got_lrd, got_nof)
    assert_array_equal(got_lrd, lrd)
    assert_array_equal(got_nof, nof)


@pytest.mark.parametrize("parallel", [False, True])
def test_estimator_scores_with_numpys_arithmetic(parallel):
    from isoforest.neighbors._lof import SCORE_PARALLEL_MIN_ROWS

    n = SCORE_PARALLEL_MIN_ROWS + 100 if parallel else SCORE_PARALLEL_MIN_ROWS // 2
    X = tie_free(31, n, 3)
    Q = tie_free(32, n - 50, 3)
    est = LocalOutlierFactor(n_neighbors=10, novelty=True, n_jobs=2).fit(X)
    dist, ind = est.kneighbors()
    lrd = 1.0 / (np.mean(np.maximum(dist, dist[ind, 9]), axis=1) + 1e-10)
    assert_array_equal(est.negative_outlier_factor_,
                       -np.mean(lrd[ind] / lrd[:, np.newaxis], axis=1))
    for queries in (Q, Q[:1]):
        q_dist, q_ind = est.kneighbors(queries)
        q_lrd = 1.0 / (np.mean(np.maximum(q_dist, dist[q_ind, 9]), axis=1) + 1e-10)
        assert_array_equal(est.score_samples(queries),
                           -np.mean(lrd[q_ind] / q_lrd[:, np.newaxis], axis=1))


@pytest.mark.parametrize("n_threads", [1, 2])
def test_gemm_switches_to_float64_when_float32_is_too_coarse(configured, n_threads):
    """Two tight clusters far apart: float32 products cannot tell the points of a
    cluster apart, so every one is a candidate; the search notices and finishes in
    float64. Either way the neighbours are exact."""
    configured(gemm_block=300 * 10)
    rng = np.random.RandomState(12)
    X = np.r_[1000 + 1e-4 * rng.randn(150, 30), -1000 + 1e-4 * rng.randn(150, 30)]
    index = NK.build_brute_index(X)
    expected = NK.kneighbors_brute(X, None, 8, metric=NK.EUCLIDEAN, exclude_self=True)
    got = NK.kneighbors_brute(X, None, 8, metric=NK.EUCLIDEAN, index=index,
                              exclude_self=True, n_threads=n_threads)
    assert_array_equal(got[1], expected[1])
    assert_array_equal(got[0], expected[0])
    search = _gemm._GemmSearch(X, X, 8, index, True, *map(np.empty_like, expected))
    for start in search.starts():
        search.run_block(start, parallel=False)
    assert search.dtype == np.float64
    _, parts = naive.lof_training_scores(X[::10], 3)
    assert_array_equal(LocalOutlierFactor(n_neighbors=3, algorithm="brute").fit(
        X[::10]).kneighbors(n_neighbors=3)[1], parts["indices"])


def test_sparse_input_is_densified():
    sparse = pytest.importorskip("scipy.sparse")
    X = tie_free(22, 60, 3)
    X[X < 0.3] = 0.0
    dense = LocalOutlierFactor(n_neighbors=5, novelty=True).fit(X)
    for container in (sparse.csr_matrix, sparse.csc_matrix):
        est = LocalOutlierFactor(n_neighbors=5, novelty=True).fit(container(X))
        assert est._fit_method == "brute"
        assert_array_equal(est.negative_outlier_factor_, dense.negative_outlier_factor_)
        assert_array_equal(est.score_samples(container(X[:7])), dense.score_samples(X[:7]))
    with pytest.raises(TypeError, match="dense precomputed distance matrix"):
        LocalOutlierFactor(metric="precomputed").fit(sparse.csr_matrix(np.eye(5)))


def test_unsupported_metric_is_refused():
    with pytest.raises(InvalidParameterError, match="The 'metric' parameter of "
                       "LocalOutlierFactor must be a str among .*'chebyshev'.*Got "
                       "'cosine' instead."):
        LocalOutlierFactor(metric="cosine").fit(tie_free(23, 10, 2))
    with pytest.raises(TypeError, match="takes no metric_params"), pytest.warns(
            SyntaxWarning, match="Parameter p is found in metric_params"):
        LocalOutlierFactor(metric="euclidean", metric_params={"p": 3}).fit(
            tie_free(23, 10, 2))


def test_kdtree_layout():
    X = tie_free(11, 1000, 3)
    for leaf_size in (1, 7, 30, 999, 1000, 5000):
        tree = NK.build_kdtree(X, leaf_size)
        n_nodes = tree.node_start.shape[0]
        leaves = np.arange(n_nodes // 2, n_nodes)
        sizes = tree.node_end[leaves] - tree.node_start[leaves]
        # scikit-learn's layout: leaf_size to 2 * leaf_size rows per leaf
        assert sizes.sum() == len(X)
        assert sizes.max() <= 2 * leaf_size or n_nodes == 1
        assert sizes.min() >= min(leaf_size, len(X)) // 2
        assert sorted(tree.idx) == list(range(len(X)))
        assert_array_equal(tree.data_T.T, X[tree.idx])
        for node in range(n_nodes):  # boxes hold their rows
            rows = tree.data_T.T[tree.node_start[node]:tree.node_end[node]]
            assert np.all(rows >= tree.bound_lo[node])
            assert np.all(rows <= tree.bound_hi[node])


# ------------------------------------------------------------------ behaviour
def test_novelty_switches_methods():
    X = tie_free(12, 30, 2)
    outlier = LocalOutlierFactor(n_neighbors=5).fit(X)
    novelty = LocalOutlierFactor(n_neighbors=5, novelty=True).fit(X)
    for method in ("predict", "decision_function", "score_samples"):
        assert not hasattr(outlier, method)
        assert hasattr(novelty, method)
        with pytest.raises(AttributeError, match=f"has no attribute '{method}'") as info:
            getattr(outlier, method)
        assert isinstance(info.value.__cause__, AttributeError)
        assert f"{method} is not available when novelty=False" in str(info.value.__cause__)
    assert hasattr(outlier, "fit_predict") and not hasattr(novelty, "fit_predict")
    with pytest.raises(AttributeError, match="'LocalOutlierFactor' has no attribute "
                       "'fit_predict'") as info:
        getattr(novelty, "fit_predict")
    assert "fit_predict is not available when novelty=True" in str(info.value.__cause__)
    # the switch follows the parameter, not the fit
    outlier.set_params(novelty=True)
    assert hasattr(outlier, "score_samples") and not hasattr(outlier, "fit_predict")
    # unfitted estimators too (hasattr does not need a fit)
    assert not hasattr(LocalOutlierFactor(), "predict")
    assert hasattr(LocalOutlierFactor(novelty=True), "predict")


def test_fit_predict_and_offsets():
    X = np.r_[tie_free(13, 60, 2), [[8.0, 8.0], [-9.0, 7.0]]]
    est = LocalOutlierFactor(n_neighbors=10)
    labels = est.fit_predict(X)
    assert est.offset_ == -1.5
    assert_array_equal(labels, np.where(est.negative_outlier_factor_ < -1.5, -1, 1))
    assert labels[-1] == labels[-2] == -1
    est = LocalOutlierFactor(n_neighbors=10, contamination=0.1).fit(X)
    assert est.offset_ == np.percentile(est.negative_outlier_factor_, 10.0)
    assert (est._predict() == -1).sum() == 7


def test_refit_forgets_previous_fit():
    est = LocalOutlierFactor(n_neighbors=5, novelty=True)
    est.fit(tie_free(14, 50, 20))
    assert est._brute_index is not None
    X = tie_free(15, 40, 2)
    est.fit(X)
    assert est._tree is not None and est._brute_index is None
    fresh = LocalOutlierFactor(n_neighbors=5, novelty=True).fit(X)
    assert_array_equal(est.negative_outlier_factor_, fresh.negative_outlier_factor_)
    assert est.n_features_in_ == 2


def test_n_neighbors_clipped_with_warning():
    X = tie_free(16, 6, 2)
    message = ("n_neighbors (20) is greater than the total number of samples (6). "
               "n_neighbors will be set to (n_samples - 1) for estimation.")
    with pytest.warns(UserWarning, match=re.escape(message)):
        est = LocalOutlierFactor().fit(X)
    assert est.n_neighbors_ == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # equal to n_samples: clipped, no warning
        assert LocalOutlierFactor(n_neighbors=6).fit(X).n_neighbors_ == 5
    with pytest.raises(ValueError, match="Expected n_neighbors < n_samples_fit, but "
                       "n_neighbors = 1, n_samples_fit = 1, n_samples = 1"):
        LocalOutlierFactor(n_neighbors=1).fit(X[:1])


def test_duplicate_warning():
    x = np.r_[np.full(30, 0.5), np.linspace(0.5, 1.0, 40)[1:], [50.0, 70.0]]
    message = ("Duplicate values are leading to incorrect results. "
               "Increase the number of neighbors for more accurate results.")
    with pytest.warns(UserWarning, match=re.escape(message)):
        LocalOutlierFactor(n_neighbors=5).fit(x.reshape(-1, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # novelty=True: no warning
        est = LocalOutlierFactor(n_neighbors=5, novelty=True).fit(x.reshape(-1, 1))
    assert est.negative_outlier_factor_.min() < -1e7


def test_float32_kept():
    X = tie_free(17, 50, 3).astype(np.float32)
    est = LocalOutlierFactor(n_neighbors=5, novelty=True).fit(X)
    assert est.negative_outlier_factor_.dtype == np.float32
    assert est.score_samples(X).dtype == np.float32
    assert est.score_samples(X.astype(np.float64)).dtype == np.float64
    assert est.kneighbors(X)[0].dtype == np.float64
    est64 = LocalOutlierFactor(n_neighbors=5, novelty=True).fit(X.astype(np.float64))
    assert_allclose(est.negative_outlier_factor_, est64.negative_outlier_factor_, rtol=1e-5)


def test_pickle_and_clone_and_repr():
    X, Q = tie_free(18, 80, 3), tie_free(19, 10, 3)
    for algorithm in ("kd_tree", "brute"):
        est = LocalOutlierFactor(n_neighbors=6, novelty=True, algorithm=algorithm).fit(X)
        again = pickle.loads(pickle.dumps(est))
        assert_array_equal(again.score_samples(Q), est.score_samples(Q))
        assert_array_equal(again.negative_outlier_factor_, est.negative_outlier_factor_)
        clone = est.__sklearn_clone__()
        assert clone.get_params() == est.get_params() and not hasattr(clone, "offset_")
    assert repr(LocalOutlierFactor(n_neighbors=3, novelty=True)) == (
        "LocalOutlierFactor(n_neighbors=3, novelty=True)")


def test_feature_names():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(tie_free(20, 40, 3), columns=["a", "b", "c"])
    est = LocalOutlierFactor(n_neighbors=5, novelty=True).fit(X)
    assert list(est.feature_names_in_) == ["a", "b", "c"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.score_samples(X)
        est.kneighbors(X)
    with pytest.warns(UserWarning, match="X does not have valid feature names, but "
                      "LocalOutlierFactor was fitted with feature names"):
        est.score_samples(X.to_numpy())
    with pytest.raises(ValueError, match="The feature names should match"):
        est.score_samples(X[["c", "b", "a"]])


def test_errors_without_sklearn():
    X = tie_free(21, 20, 3)
    with pytest.raises(InvalidParameterError, match=re.escape(
            "The 'n_neighbors' parameter of LocalOutlierFactor must be an int in the "
            "range [1, inf) or None. Got 0 instead.")):
        LocalOutlierFactor(n_neighbors=0).fit(X)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN.\nLocalOutlierFactor "
                       "does not accept missing values encoded as NaN natively"):
        LocalOutlierFactor().fit(Xn)
    est = LocalOutlierFactor(n_neighbors=3, novelty=True).fit(X)
    with pytest.raises(ValueError, match="^Input contains NaN.$"):
        est.score_samples(Xn)
    with pytest.raises(ValueError, match="X has 2 features, but LocalOutlierFactor "
                       "is expecting 3 features as input."):
        est.predict(X[:, :2])
    with pytest.raises(NotFittedError, match="This LocalOutlierFactor instance is not "
                       "fitted yet"):
        LocalOutlierFactor(novelty=True).score_samples(X)
    with pytest.raises(NotFittedError):
        LocalOutlierFactor().kneighbors(X)


# ---------------------------------------------------------------------- golden
@functools.lru_cache(maxsize=None)
def _golden():
    with np.load(io.BytesIO(GOLDEN.read_bytes()), allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    manifest = json.loads(str(arrays.pop("manifest")))
    return arrays, manifest


GOLDEN_CASES = list(_golden()[1]["cases"])


def test_golden_archive_intact():
    sys.path.insert(0, str(ROOT))
    from reference.make_golden_lof import array_sha256

    arrays, manifest = _golden()
    assert sorted(arrays) == sorted(manifest["sha256"])
    for key, value in arrays.items():
        assert array_sha256(value) == manifest["sha256"][key], key
    assert GOLDEN.stat().st_size < 300_000


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden(case):
    from reference.make_golden_lof import estimator_params

    arrays, manifest = _golden()
    g = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(case + "/")}
    params = estimator_params(json.loads(str(g["params"])))
    X, X_test = g["X_train"], g["X_test"]
    exact_ties = case not in ("duplicate_pairs", "duplicates_warning")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = LocalOutlierFactor(**params)
        labels = est.fit_predict(X)
        novelty = LocalOutlierFactor(novelty=True, **params).fit(X)
    assert sorted({str(w.message) for w in caught}) == manifest["cases"][case]["warnings"]
    nof = g["negative_outlier_factor_"]
    assert est.negative_outlier_factor_.dtype == nof.dtype
    assert_allclose(est.negative_outlier_factor_, nof, rtol=RTOL)
    assert_array_equal(labels, g["fit_predict"])
    assert est.offset_ == pytest.approx(float(g["offset_"]), rel=RTOL)
    assert est.n_neighbors_ == int(g["n_neighbors_"])
    assert_allclose(novelty.score_samples(X_test), g["score_samples"], rtol=RTOL)
    assert_allclose(novelty.decision_function(X_test), g["decision_function"], rtol=RTOL,
                    atol=1e-12)
    assert_array_equal(novelty.predict(X_test), g["predict"])
    dist, ind = est.kneighbors(n_neighbors=est.n_neighbors_)
    assert_allclose(dist, g["kneighbors_dist"], rtol=RTOL, atol=1e-300)
    if exact_ties:
        assert_array_equal(ind, g["kneighbors_ind"])
    elif case == "duplicate_pairs":  # the same sets, ties in another order
        assert_array_equal(np.sort(ind, axis=1), np.sort(g["kneighbors_ind"], axis=1))


# -------------------------------------------------------- live scikit-learn
@pytest.fixture(scope="module")
def SkLOF():
    return pytest.importorskip("sklearn.neighbors").LocalOutlierFactor


@st.composite
def continuous_problems(draw):
    n = draw(st.integers(3, 80))
    d = draw(st.sampled_from([1, 2, 3, 5, 16, 30]))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.RandomState(seed)
    scale = draw(st.sampled_from([1e-3, 1.0, 1e4]))
    offset = draw(st.sampled_from([0.0, 100.0]))
    X = offset + scale * rng.standard_t(3, size=(n, d))
    Q = offset + scale * rng.standard_t(3, size=(draw(st.integers(1, 10)), d)) * 1.5
    params = {"n_neighbors": draw(st.integers(1, 25))}
    params.update(draw(st.sampled_from([{}, {"p": 1}, {"p": 3}, {"metric": "chebyshev"},
                                        {"algorithm": "brute"}, {"algorithm": "kd_tree"},
                                        {"contamination": 0.2}])))
    return X, Q, params, offset != 0.0


@HYPOTHESIS
@given(continuous_problems())
def test_same_scores_as_sklearn(SkLOF, problem):
    X, Q, params, uncentred = problem
    ours = quiet(LocalOutlierFactor(**params).fit, X)
    theirs = quiet(SkLOF(**params).fit, X)
    sk_brute = theirs._fit_method == "brute" and theirs.effective_metric_ == "euclidean"
    if uncentred and sk_brute:
        # scikit-learn's euclidean brute force takes |x|^2 - 2 x.y + |y|^2 on the raw
        # rows: with an offset of 100 and a spread of 1e-3 it loses up to ~12 digits
        # of a small distance. Ours are exact: the naive twin is the reference here.
        k = ours.n_neighbors_
        assert_allclose(ours.negative_outlier_factor_,
                        naive.lof_training_scores(X, k)[0], rtol=RTOL)
        novelty = quiet(LocalOutlierFactor(novelty=True, **params).fit, X)
        assert_allclose(novelty.score_samples(Q), naive.lof_novelty_scores(X, Q, k),
                        rtol=RTOL)
        return
    assert_allclose(ours.negative_outlier_factor_, theirs.negative_outlier_factor_,
                    rtol=RTOL)
    assert ours.offset_ == pytest.approx(theirs.offset_, rel=RTOL)
    assert_array_equal(ours._predict(), theirs._predict())
    dist = ours.kneighbors(n_neighbors=ours.n_neighbors_)[0]
    sk_dist = theirs.kneighbors(n_neighbors=ours.n_neighbors_)[0]
    if sk_brute:
        # scikit-learn's euclidean brute force rounds |x|^2 - 2 x.y + |y|^2 to about
        # eps (|x|^2 + |y|^2): a distance far below the rows' norms (near-duplicate
        # rows) keeps fewer digits there. Ours are exact (the naive twin's), and
        # scikit-learn's agree with them within its own rounding.
        _, parts = naive.lof_training_scores(X, ours.n_neighbors_)
        assert_allclose(dist, parts["distances"], rtol=RTOL)
        norms = np.einsum("ij,ij->i", X, X).max()
        assert np.all(np.abs(dist ** 2 - sk_dist ** 2)
                      <= 8 * np.finfo(float).eps * 2 * norms + RTOL * sk_dist ** 2)
    else:
        assert_allclose(dist, sk_dist, rtol=RTOL)
    ours = quiet(LocalOutlierFactor(novelty=True, **params).fit, X)
    theirs = quiet(SkLOF(novelty=True, **params).fit, X)
    assert_allclose(ours.score_samples(Q), theirs.score_samples(Q), rtol=RTOL)
    assert_array_equal(ours.predict(Q), theirs.predict(Q))
    for attr in ("n_neighbors_", "n_samples_fit_", "n_features_in_", "effective_metric_",
                 "effective_metric_params_"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr


def _sorted_sets(message):
    """scikit-learn prints a set of options in hash order (it varies between
    processes); compare them sorted."""
    return re.sub(r"\{([^{}]*)\}",
                  lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", message)


def _outcome(func):
    """(exception type name, message) or ("ok", warnings) of a call."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            func()
        except Exception as exc:  # noqa: BLE001 - the point is to compare them
            cause = exc.__cause__
            return (type(exc).__name__, _sorted_sets(str(exc)),
                    None if cause is None else (type(cause).__name__, str(cause)))
    return ("ok", sorted({(w.category.__name__, str(w.message)) for w in caught}))


def _error_cases():
    rng = np.random.RandomState(0)
    X = rng.rand(12, 3)
    Xnan, Xinf = X.copy(), X.copy()
    Xnan[2, 1], Xinf[4, 0] = np.nan, np.inf
    D = np.abs(rng.rand(12, 12))
    D = D + D.T
    np.fill_diagonal(D, 0)
    Dnan = D.copy()
    Dnan[1, 2] = np.nan
    fit = lambda **kw: (lambda cls: cls(**kw).fit(X))  # noqa: E731
    fitted = lambda call, **kw: (lambda cls: call(cls(**kw).fit(X)))  # noqa: E731
    cases = {
        f"param_{name}_{value!r}": fit(**{name: value})
        for name, value in [("n_neighbors", 0), ("n_neighbors", 2.5), ("p", 0), ("p", -1),
                            ("algorithm", "x"), ("leaf_size", 0), ("contamination", 0.7),
                            ("contamination", "x"), ("metric_params", 3), ("novelty", 1),
                            ("n_jobs", 1.5), ("n_neighbors", None)]
    }
    cases.update({
        "nan_fit": lambda cls: cls().fit(Xnan),
        "inf_fit": lambda cls: cls().fit(Xinf),
        "nan_score": fitted(lambda m: m.score_samples(Xnan), novelty=True),
        "inf_predict": fitted(lambda m: m.predict(Xinf), novelty=True),
        "nan_kneighbors": fitted(lambda m: m.kneighbors(Xnan, 3)),
        "features": fitted(lambda m: m.score_samples(X[:, :2]), novelty=True),
        "features_kneighbors": fitted(lambda m: m.kneighbors(X[:, :2], 2)),
        "one_d": lambda cls: cls().fit(X[:, 0]),
        "empty": lambda cls: cls().fit(X[:0]),
        "one_row": lambda cls: cls().fit(X[:1]),
        "clip_warning": fit(n_neighbors=30),
        "kneighbors_zero": fitted(lambda m: m.kneighbors(n_neighbors=0)),
        "kneighbors_float": fitted(lambda m: m.kneighbors(n_neighbors=2.5)),
        "kneighbors_too_many": fitted(lambda m: m.kneighbors(n_neighbors=12)),
        "kneighbors_X_too_many": fitted(lambda m: m.kneighbors(X, n_neighbors=13)),
        "kneighbors_default": fitted(lambda m: m.kneighbors(), n_neighbors=30),
        "p_below_one_brute": fit(n_neighbors=3, p=0.5),
        "p_below_one_tree": fit(n_neighbors=3, p=0.5, algorithm="kd_tree"),
        "p_in_metric_params": fit(n_neighbors=3, metric_params={"p": 3}),
        "weights_kd_tree": fit(n_neighbors=3, metric_params={"w": np.ones(3)},
                               algorithm="kd_tree"),
        "weights_wrong_size": fit(n_neighbors=3, metric_params={"w": np.ones(2)}),
        "precomputed_tree": lambda cls: cls(metric="precomputed",
                                            algorithm="kd_tree").fit(D),
        "precomputed_not_square": lambda cls: cls(metric="precomputed").fit(D[:5]),
        "precomputed_negative": lambda cls: cls(metric="precomputed").fit(-D),
        "precomputed_query_shape": lambda cls: cls(
            n_neighbors=3, metric="precomputed", novelty=True
        ).fit(D).score_samples(D[:, :5]),
        "precomputed_nan_score": lambda cls: cls(
            n_neighbors=3, metric="precomputed", novelty=True).fit(D).score_samples(Dnan),
        "precomputed_nan_kneighbors": lambda cls: cls(
            n_neighbors=3, metric="precomputed").fit(D).kneighbors(Dnan),
        "precomputed_nan_fit": lambda cls: cls(metric="precomputed").fit(Dnan),
        "predict_novelty_false": fitted(lambda m: m.predict),
        "decision_novelty_false": fitted(lambda m: m.decision_function),
        "score_novelty_false": fitted(lambda m: m.score_samples),
        "fit_predict_novelty_true": lambda cls: cls(novelty=True).fit_predict,
        "unfitted_score": lambda cls: cls(novelty=True).score_samples(X),
        "sparse_tree": lambda cls: pytest.importorskip("scipy.sparse") and cls(
            n_neighbors=3, algorithm="kd_tree").fit(
            pytest.importorskip("scipy.sparse").csr_matrix(X)),
    })
    return cases


ERROR_CASES = _error_cases()


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_errors_and_warnings_match_sklearn(SkLOF, case):
    call = ERROR_CASES[case]
    assert _outcome(lambda: call(LocalOutlierFactor)) == _outcome(lambda: call(SkLOF))


#: How far live scikit-learn may move from the archive on another CPU: its brute
#: force computes distances with BLAS matrix products, whose rounding depends on
#: the CPU's kernel (seen: up to 1 ulp of the distances, 3e-14 relative on a
#: decision_function near 0, between an AMD EPYC and an Intel Xeon). Minkowski
#: distances for p other than 1, 2 go through libm's ``pow``, whose last bit also
#: differs between those two machines (seen on p = 3: 1 ulp of the distances, with
#: ours equal to live scikit-learn bit for bit on each machine).
BLAS_RTOL = 1e-12
BLAS_ATOL = 1e-14


def test_golden_is_current(SkLOF):
    """Live scikit-learn still produces the stored golden archive (when the
    manifest's version is the installed one): the same cases, warnings, labels and
    neighbour indices exactly, and the same floats, bit for bit except for the
    brute-force cases' BLAS round-off and the general-p cases' ``pow`` round-off."""
    import sklearn

    from reference.make_golden_lof import estimator_params

    stored, manifest = _golden()
    if sklearn.__version__ != manifest["versions"]["scikit-learn"]:
        pytest.skip("golden archive made with another scikit-learn")
    from reference.make_golden_lof import generate

    with np.load(io.BytesIO(generate()), allow_pickle=False) as npz:
        fresh = {key: npz[key] for key in npz.files}
    fresh_manifest = json.loads(str(fresh.pop("manifest")))
    assert fresh_manifest["cases"] == manifest["cases"]
    assert sorted(fresh) == sorted(stored)
    brute, general_p = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in manifest["cases"]:
            params = estimator_params(json.loads(str(stored[case + "/params"])))
            fitted = SkLOF(**params).fit(stored[case + "/X_train"])
            brute[case] = fitted._fit_method == "brute"
            general_p[case] = (fitted.effective_metric_ == "minkowski"
                               and fitted.p not in (1, 2))
    assert any(brute.values()) and not all(brute.values())
    assert any(general_p.values()) and not all(general_p.values())
    for key, want in stored.items():
        got = fresh[key]
        assert got.dtype == want.dtype and got.shape == want.shape, key
        case = key.split("/")[0]
        if got.dtype.kind == "f" and (brute[case] or general_p[case]):
            assert_allclose(got, want, rtol=BLAS_RTOL, atol=BLAS_ATOL, err_msg=key)
        else:
            assert_array_equal(got, want, err_msg=key)


def _sklearn_checks():
    try:
        from sklearn.utils.estimator_checks import parametrize_with_checks
    except ImportError:
        return pytest.mark.skip(reason="scikit-learn not installed")
    # scikit-learn declares no expected failures for its own LocalOutlierFactor
    # (PER_ESTIMATOR_XFAIL_CHECKS in sklearn/utils/_test_common/instance_generator.py
    # has no entry for it), so neither do we.
    with warnings.catch_warnings():
        # isoforest deliberately does not inherit from sklearn.base.BaseEstimator.
        warnings.filterwarnings(
            "ignore", message=".*does not inherit from `sklearn.base.BaseEstimator`")
        return parametrize_with_checks(
            [LocalOutlierFactor(), LocalOutlierFactor(novelty=True)])


@_sklearn_checks()
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        # the checks fit on tiny data: n_neighbors=20 is clipped, with its warning
        warnings.filterwarnings("ignore", message="n_neighbors .* is greater than")
        check(estimator)


# ------------------------------------------------------- pure-Python kernel path
#: kd-tree with a fixed feature count (euclidean, manhattan) and any count
#: (chebyshev), small leaves grouped; the GEMM brute force (20 features).
JIT_DISABLED_LOF = [
    ({"n_neighbors": 5, "algorithm": "kd_tree", "leaf_size": 4}, 3),
    ({"n_neighbors": 5, "algorithm": "kd_tree", "metric": "manhattan"}, 3),
    ({"n_neighbors": 4, "algorithm": "kd_tree", "metric": "chebyshev"}, 10),
    ({"n_neighbors": 6, "algorithm": "brute"}, 20),
]


def test_pure_python_kernels_equal_compiled(tmp_path):
    """With NUMBA_DISABLE_JIT=1 the neighbour and score kernels run as plain Python
    (``_trailing_zeros`` included): the same neighbours and scores, bit for bit."""
    rng = np.random.RandomState(21)
    arrays = {}
    for c, (_, d) in enumerate(JIT_DISABLED_LOF):
        X = rng.randn(90, d)
        X[10:12] = X[20]  # duplicates: ties broken by index
        arrays[f"X{c}"] = X
    np.savez(tmp_path / "data.npz", **arrays)
    params = [p for p, _ in JIT_DISABLED_LOF]
    run_pure_python("_pure_python_neighbors.py", tmp_path / "data.npz",
                    tmp_path / "out.npz", json.dumps(params))
    got = np.load(tmp_path / "out.npz")
    assert got["jit_disabled"]
    for c, p in enumerate(params):
        X = arrays[f"X{c}"]
        est = LocalOutlierFactor(**p).fit(X)
        dist, ind = est.kneighbors()
        score = LocalOutlierFactor(novelty=True, **p).fit(X).score_samples(X[:7] + 0.25)
        assert_array_equal(got[f"{c}/dist"], dist)
        assert_array_equal(got[f"{c}/ind"], ind)
        assert_array_equal(got[f"{c}/nof"], est.negative_outlier_factor_)
        assert_array_equal(got[f"{c}/score"], score)

"""The symmetric GEMM search over the training rows and the one-row novelty path.

Both must give what the one-block GEMM search and the naive twin give, to the last
bit: neighbour indices, distances, and the scores built on them. The cases are the
ones where a candidate filter could lose a neighbour: ties and duplicates (more of
them than K), K close to n, one feature, and rows that float32 products cannot tell
apart. Small blocks and small candidate lists (a ``SymmetricParams`` passed in) make a few hundred
rows exercise every path: several rounds of block pairs, the sample-seeded
threshold, list compaction, and the rows handed back to the one-block search.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from _scripts import run_pure_python
from isoforest import config_context
from isoforest._simd import gemm as _gemm_simd
from isoforest.neighbors import _kernels as NK
from isoforest.neighbors import _scoring, _symmetric
from isoforest.neighbors._lof import LocalOutlierFactor
from reference import lof_naive as naive

# kernels index raw memory: `make test-boundscheck` runs these tests again with
# NUMBA_BOUNDSCHECK=1
pytestmark = pytest.mark.kernels


def _problems():
    rng = np.random.RandomState(3)
    near = 1.0 + 1e-9 * rng.randn(120, 6)  # equal in float32
    near[:, 0] += np.arange(120) * 1e-6
    return {
        "tie_free": rng.randn(160, 12),
        "duplicates": np.repeat(rng.randn(20, 5), 8, axis=0),  # 8 copies, K > 8 below
        "grid": rng.randint(0, 3, size=(150, 3)).astype(float),
        "one_feature": rng.randn(140, 1),
        "one_feature_ties": rng.randint(0, 10, size=(130, 1)).astype(float),
        "float32_near_ties": near,
        "offset": 1e6 + rng.randn(120, 8),
        "binary_high_dim": rng.randint(0, 2, size=(110, 24)).astype(float),
    }


PROBLEMS = _problems()


def _search(X, K, n_threads=1, params=_symmetric.DEFAULT_PARAMS):
    index = NK.build_brute_index(X)
    return NK.kneighbors_brute(X, None, K, metric=NK.EUCLIDEAN, index=index,
                               exclude_self=True, n_threads=n_threads, sym_params=params)


def _small(block=16, per_k=3, extra=32, **more):
    """Small pieces: blocks of ``block`` rows (8 x 16 tiles where 16 | block) and
    lists of ``per_k * K + extra`` entries."""
    return _symmetric.SymmetricParams(block=block, block_tiles=block, cap_per_k=per_k,
                                      cap_extra=extra, **more)


@pytest.mark.parametrize("name", list(PROBLEMS))
@pytest.mark.parametrize("k", [1, 4, 12])
def test_symmetric_search_equals_naive(name, k):
    X = PROBLEMS[name]
    _, parts = naive.lof_training_scores(X, k)
    for n_threads in (1, 2):
        dist, ind = _search(X, k + 1, n_threads, _small())
        assert_array_equal(ind, parts["indices"])
        assert_array_equal(dist, parts["distances"])


@pytest.mark.parametrize("name", ["tie_free", "duplicates", "float32_near_ties"])
def test_k_near_n(name):
    X = PROBLEMS[name][:40]
    for k in (37, 38, 39):
        _, parts = naive.lof_training_scores(X, k)
        dist, ind = _search(X, k + 1, params=_small(block=8))
        assert_array_equal(ind, parts["indices"])
        assert_array_equal(dist, parts["distances"])


@pytest.mark.parametrize("per_k, extra", [(1, 2), (3, 32)])
@pytest.mark.parametrize("block", [7, 64, 96, 256])
def test_symmetric_equals_one_block_search(block, per_k, extra):
    """Against the one-block search on more rows (seeded thresholds from n >= 32 K),
    with lists so short that many queries are handed back to it."""
    rng = np.random.RandomState(5)
    X = np.r_[rng.randn(1500, 20), np.repeat(rng.randn(10, 20), 30, axis=0)]
    with config_context(lof_symmetric=False):
        expected = _search(X, 11, 2)
    for n_threads in (1, 2):
        got = _search(X, 11, n_threads, _small(block, per_k, extra))
        assert_array_equal(got[1], expected[1])
        assert_array_equal(got[0], expected[0])


needs_tiles = pytest.mark.skipif(not _gemm_simd.available(),
                                 reason="the block-product tiles need AVX-512F and the JIT")


@needs_tiles
@pytest.mark.parametrize("block, vectors", [(16, 1), (48, 3), (480, 3)])
@pytest.mark.parametrize("n_features", [1, 7, 50])
def test_block_products_are_float32_products(block, vectors, n_features):
    assert _gemm_simd.vectors_for(block) == vectors
    rng = np.random.RandomState(6)
    A = rng.randn(3 * block, n_features).astype(np.float32)
    BT = np.ascontiguousarray(A.T)
    G = np.full((block, block), np.nan, dtype=np.float32)
    _gemm_simd.block_products(A[block:2 * block], BT[:, 2 * block:], G, vectors)
    exact = A[block:2 * block].astype(np.float64) @ BT[:, 2 * block:].astype(np.float64)
    scale = np.abs(A[block:2 * block]).astype(np.float64) @ np.abs(BT[:, 2 * block:])
    u = np.finfo(np.float32).eps / 2
    assert np.all(np.abs(G - exact) <= n_features * u * scale)  # every entry written


def test_vectors_for_blocks():
    assert [_gemm_simd.vectors_for(b) for b in (8, 16, 48, 96, 480, 512, 7)] == \
        [0, 1, 3, 3, 3, 1, 0]


@needs_tiles
@pytest.mark.parametrize("name", ["tie_free", "duplicates", "float32_near_ties", "offset"])
def test_tiles_give_the_blas_path_neighbours(name):
    X = np.r_[PROBLEMS[name], PROBLEMS[name] + 0.5]  # more than a block
    with config_context(lof_tiles=False):
        expected = _search(X, 9, 2, _small(block=48))
    got = _search(X, 9, 2, _small(block=48))
    assert_array_equal(got[1], expected[1])
    assert_array_equal(got[0], expected[0])


needs_amx = pytest.mark.skipif(not _gemm_simd.amx_available(),
                               reason="the bfloat16 tiles need AMX-BF16, Linux's grant "
                                      "and the JIT")
#: The AMX tiles where the host has them, and everywhere their plain twin (bfloat16
#: products summed in float32), so that the AMX branch's bound and bookkeeping are
#: tested on every host.
AMX_KINDS = [pytest.param("amx", marks=needs_amx), "emulated"]


def _amx(kind):
    """(row-major products, tiled products) of the kind."""
    if kind == "amx":
        return _gemm_simd.amx_products, _gemm_simd.amx_products_tiled
    return _gemm_simd.emulated_amx_products, _gemm_simd.emulated_amx_products_tiled


def _bf16_reference(A32):
    """Each float32 to the nearest bfloat16 (ties to the even one), as uint16 bits,
    decided in float64: the two neighbours in bfloat16, and their distances."""
    bits = A32.view(np.uint32).astype(np.uint64)
    down = bits >> 16
    lo = (down << 16).astype(np.uint32).view(np.float32).astype(np.float64)
    hi = ((down + 1) << 16).astype(np.uint32).view(np.float32).astype(np.float64)
    x = A32.astype(np.float64)
    up = (np.abs(hi - x) < np.abs(x - lo)) | ((np.abs(hi - x) == np.abs(x - lo))
                                              & (down % 2 == 1))
    return (down + up).astype(np.uint16)


def test_bf16_rows_round_to_nearest_even():
    rng = np.random.RandomState(9)
    A = rng.randn(37, 45).astype(np.float32)
    # exact ties both ways, and values at the top of a binade
    A[0, :4] = np.array([1 + 2.0**-8, 1 + 3 * 2.0**-8, -(1 + 2.0**-8), 2 - 2.0**-9],
                        dtype=np.float32)
    out = _gemm_simd.bf16_rows(A, 48)
    assert out.shape == (48, 64) and out.dtype == np.uint16
    assert_array_equal(out[:37, :45], _bf16_reference(A))
    assert not out[37:].any() and not out[:, 45:].any()
    assert_array_equal(out[0, :4], [0x3F80, 0x3F82, 0xBF80, 0x4000])


@pytest.mark.parametrize("threads", [1, 2])
def test_brute_index_is_the_centred_scaled_rows(threads):
    """The three passes (serial or on threads) give X - mean scaled by a power of
    two, its float32 copy and squared norms, and refuse what would overflow."""
    import numba

    from isoforest._config import num_threads

    rng = np.random.RandomState(11)
    X = rng.randn(3000, 7) * [1, 10, 1e-3, 1, 1, 1e3, 2] + 5
    with num_threads(threads):
        index = NK.build_brute_index(X)
        assert numba.get_num_threads() == threads
    assert_allclose(index.mean, X.mean(axis=0), rtol=1e-12)
    C = X - index.mean
    assert index.scale == 2.0 ** -int(np.frexp(np.abs(C).max())[1])
    assert_array_equal(index.centered, C * index.scale)
    assert_array_equal(index.centered32, index.centered.astype(np.float32))
    assert_allclose(index.sq_norms, np.einsum("ij,ij->i", index.centered, index.centered),
                    rtol=1e-13)
    assert NK.build_brute_index(np.full((2000, 3), 2.0**499)) is None
    assert NK.build_brute_index(np.empty((0, 3))) is None


def _tiled(G):
    """G (rows, cols multiples of 16) in ``amx_products_tiled``'s layout, flat."""
    m, n = G.shape
    return np.ascontiguousarray(G.reshape(m // 16, 16, n // 16, 16).transpose(0, 2, 1, 3)
                                ).ravel()


@pytest.mark.parametrize("tiled", [False, True])
@pytest.mark.parametrize("one_sided", [False, True])
@pytest.mark.parametrize("n_b", [480, 470, 5])
def test_sym_marks_are_the_float32_first_pass(one_sided, n_b, tiled):
    """Bit k of chunk c: column 16 c + k's float32 tests, as the scan's inline
    first pass writes them, read from either layout; nothing past n_b, even where
    the buffer held bits."""
    rng = np.random.RandomState(12)
    n_a = 37
    G = rng.randn(48, 480).astype(np.float32)
    loJ, limJ = rng.randn(2, 480).astype(np.float32)
    loI, limI = rng.randn(2, 48).astype(np.float32)
    limI[3] = np.inf  # an unseeded row: every column
    out = np.full((48, 32), 0xFFFF, dtype=np.uint16)
    if tiled:
        G1, layout = _tiled(G), _gemm_simd.tiled_layout(480)
    else:
        G1, layout = G.ravel(), _gemm_simd.row_major_layout(480)
    _gemm_simd.sym_marks(G1, *layout, n_a, n_b, loJ, limJ, loI, limI, one_sided, out)
    g2 = np.float32(2.0) * G[:n_a, :n_b]
    expected = loJ[None, :n_b] - g2 <= limI[:n_a, None]
    if not one_sided:
        expected |= loI[:n_a, None] - g2 <= limJ[None, :n_b]
    bits = np.unpackbits(out[:n_a].view(np.uint8), axis=1, bitorder="little")
    assert_array_equal(bits[:, :n_b], expected)
    assert not bits[:, n_b:].any()
    assert (out[n_a:] == 0xFFFF).all()  # rows past n_a untouched
    assert 0 < expected.sum() < expected.size
    with pytest.raises(ValueError, match="shapes"):
        _gemm_simd.sym_marks(G1, *layout, n_a, 481, loJ, limJ, loI, limI, one_sided, out)
    with pytest.raises(ValueError, match="shapes"):
        _gemm_simd.sym_marks(G1, *layout, 49, n_b, loJ, limJ, loI, limI, one_sided, out)
    with pytest.raises(ValueError, match="shapes"):
        _gemm_simd.sym_marks(G1[:-1], *layout, 48, 480, loJ, limJ, loI, limI, one_sided,
                             out)


def test_bf16_tiles_are_the_rows_and_their_layout():
    rng = np.random.RandomState(10)
    for n, d, n_rows in [(37, 45, 48), (64, 64, 64), (5, 1, 16)]:
        A = rng.randn(n, d).astype(np.float32)
        A16, B16 = _gemm_simd.bf16_tiles(A, n_rows)
        expected = _gemm_simd.bf16_rows(A, n_rows)
        assert_array_equal(A16, expected)
        assert_array_equal(B16, _gemm_simd.amx_layout(expected))
    with pytest.raises(ValueError, match="multiple of 16"):
        _gemm_simd.bf16_tiles(A, 20)


@pytest.mark.parametrize("kind", AMX_KINDS)
@pytest.mark.parametrize("block", [32, 96, 480])
@pytest.mark.parametrize("n_features", [1, 33, 50])
def test_amx_products_within_the_bfloat16_bound(block, n_features, kind):
    """The tiles' products against the exact ones of the float64 rows: within
    ``_gemm_margins``' bfloat16 bound, every entry written, and the bound not
    vacuous (the float32 one is exceeded)."""
    rng = np.random.RandomState(6)
    X = rng.randn(3 * block, n_features)
    index = NK.build_brute_index(X)
    A16 = _gemm_simd.bf16_rows(index.centered32, 3 * block)
    B16 = _gemm_simd.amx_layout(A16)
    G = np.full((block, block), np.nan, dtype=np.float32)
    _amx(kind)[0](A16[block:], B16[2 * block // 16:], G)
    C = index.centered
    exact = C[block:2 * block] @ C[2 * block:].T
    sq = index.sq_norms
    pair = sq[block:2 * block, None] + sq[None, 2 * block:]
    err = np.abs(G - exact)
    c, c_abs, _, _ = index.bounds["bfloat16"]
    assert np.all(err <= c * pair + c_abs)
    c32, c_abs32, _, _ = index.bounds["float32"]
    assert np.any(err > c32 * pair + c_abs32)


@pytest.mark.parametrize("kind", AMX_KINDS)
@pytest.mark.parametrize("m, n", [(32, 64), (96, 480)])
def test_amx_tiled_products_are_the_row_major_ones_as_tiles(m, n, kind):
    products, tiled = _amx(kind)
    rng = np.random.RandomState(13)
    A16 = _gemm_simd.bf16_rows(rng.randn(m + n, 50).astype(np.float32), m + n)
    B16 = _gemm_simd.amx_layout(A16)
    G = np.full((m, n), np.nan, dtype=np.float32)
    products(A16, B16[m // 16:], G)
    G1 = np.full(m * n + 7, np.nan, dtype=np.float32)
    tiled(A16, B16[m // 16:], G1, m, n)
    assert_array_equal(G1[:m * n], _tiled(G))
    assert np.isnan(G1[m * n:]).all()  # nothing written past the product
    with pytest.raises(ValueError, match="shapes"):
        tiled(A16, B16[m // 16:], G1[:m * n - 1], m, n)


@pytest.mark.parametrize("kind", AMX_KINDS)
def test_amx_products_check_their_shapes(kind):
    """The same checks on both kinds (the IR reads raw memory)."""
    products = _amx(kind)[0]
    A16 = np.zeros((64, 32), dtype=np.uint16)
    B16 = _gemm_simd.amx_layout(A16)
    with pytest.raises(ValueError, match="shapes"):
        products(A16, B16, np.empty((48, 64), dtype=np.float32))
    with pytest.raises(ValueError, match="shapes"):
        products(A16[:32], B16, np.empty((64, 64), dtype=np.float32))


@pytest.mark.parametrize("kind", AMX_KINDS)
@pytest.mark.parametrize("name", ["tie_free", "duplicates", "float32_near_ties", "offset",
                                  "binary_high_dim"])
def test_amx_tiles_give_the_blas_path_neighbours(name, kind):
    X = np.r_[PROBLEMS[name], PROBLEMS[name] + 0.5, PROBLEMS[name] - 0.25]
    with config_context(lof_tiles=False):
        expected = _search(X, 9, 2)
    for block in (32, 64, 192):  # 192: the seed's products in 96-row pieces
        params = _small(block=block, amx_emulation=kind == "emulated")
        assert _symmetric.SymmetricSearch(X, 9, NK.build_brute_index(X), 1, params).amx
        for n_threads in (1, 2):
            got = _search(X, 9, n_threads, params)
            assert_array_equal(got[1], expected[1])
            assert_array_equal(got[0], expected[0])


@pytest.mark.parametrize("kind", AMX_KINDS)
def test_amx_path_needs_its_bfloat16_bound(kind):
    """Exact with bfloat16's bound, not with float32's (the test can fail): rows
    closer together than bfloat16 resolves."""
    X, _ = _clustered()
    X = np.r_[X, X[:200] + 1e-4]
    params = _small(block=64, amx_emulation=kind == "emulated")
    with config_context(lof_tiles=False):
        expected = _search(X, 9)
    assert_array_equal(_search(X, 9, params=params)[1], expected[1])
    index = NK.build_brute_index(X)
    index.bounds["bfloat16"] = index.bounds["float32"]
    got = NK.kneighbors_brute(X, None, 9, metric=NK.EUCLIDEAN, index=index,
                              exclude_self=True, sym_params=params)
    assert not np.array_equal(got[1], expected[1])


def test_amx_emulation_needs_blocks_of_32():
    X = PROBLEMS["tie_free"]
    with pytest.raises(ValueError, match="multiple of 32"):
        _search(X, 5, params=_small(block=48, amx_emulation=True))


def test_estimator_scores_unchanged():
    rng = np.random.RandomState(8)
    X = rng.randn(700, 30)
    new = LocalOutlierFactor(n_neighbors=15, n_jobs=2).fit(X)
    with config_context(lof_symmetric=False):
        old = LocalOutlierFactor(n_neighbors=15, n_jobs=2).fit(X)
    assert new._fit_method == "brute"
    assert_array_equal(new.negative_outlier_factor_, old.negative_outlier_factor_)
    assert_array_equal(new._distances_fit_X_, old._distances_fit_X_)


def test_round_robin_pairs_each_block_pair_once():
    for n_blocks in (1, 2, 5, 8):
        rounds = _symmetric._round_robin(n_blocks)
        pairs = [p for r in rounds for p in r]
        assert sorted(pairs) == sorted((i, j) for i in range(n_blocks)
                                       for j in range(i + 1))
        for r in rounds:
            blocks = [b for p in r for b in set(p)]
            assert len(blocks) == len(set(blocks))  # disjoint within a round


def test_group_rounds_pair_each_block_pair_once():
    for n_blocks, n_groups in [(1, 8), (2, 8), (5, 2), (8, 3), (42, 8), (9, 9)]:
        rounds = _symmetric._group_rounds(n_blocks, n_groups)
        pairs = [p for r in rounds for task in r for p in task]
        assert sorted(pairs) == sorted((i, j) for i in range(n_blocks)
                                       for j in range(i + 1))
        for r in rounds:
            # no block in two tasks of a round (they run on threads at once)
            blocks = [set(b for p in task for b in p) for task in r]
            assert sum(map(len, blocks)) == len(set().union(*blocks))
        for task in (t for r in rounds for t in r):  # row block by row block
            assert [p[0] for p in task] == sorted(p[0] for p in task)


@pytest.mark.parametrize("groups", [1, 3])
def test_symmetric_search_equals_naive_in_any_grouping(groups):
    X = np.r_[PROBLEMS["tie_free"], PROBLEMS["tie_free"] * 1.5]
    _, parts = naive.lof_training_scores(X, 9)
    for n_threads in (1, 2):
        dist, ind = _search(X, 10, n_threads, _small(block=32, groups_per_thread=groups))
        assert_array_equal(ind, parts["indices"])
        assert_array_equal(dist, parts["distances"])


def test_scan_first_pass_in_float32_marks_every_row_the_float64_test_passes():
    """At the float64 tests' boundary (lim = lo - 2 g exactly), the float32 test
    with its margin still passes; without the margin it does not always."""
    rng = np.random.RandomState(5)
    for n_features in (1, 5, 50):
        X = rng.randn(300, n_features) * rng.choice([1e-3, 1.0, 1e3], size=n_features)
        index = NK.build_brute_index(X)
        _, _, up_norms, lo_norms = index.bounds["float32"]
        lo32, margin = _symmetric._sym_margin(lo_norms, up_norms, n_features)
        assert np.all(lo32 <= lo_norms)
        G = index.centered32 @ index.centered32[:40].T  # (300, 40)
        g2 = 2.0 * G.astype(np.float64)
        lim = lo_norms[:, None] - g2  # the boundary of each float64 test
        f32 = np.float32(2.0) * G
        lims = np.vectorize(lambda v: _symmetric._lim32(v, margin), otypes=[np.float32])(lim)
        assert np.all(lo32[:, None] - f32 <= lims)
        bare = lim.astype(np.float32)
        assert not np.all(lo_norms.astype(np.float32)[:, None] - f32 <= bare)
    assert _symmetric._lim32(np.inf, 1.0) == np.inf and _symmetric._lim32(-np.inf, 1.0) == -np.inf


# ------------------------------------------------------------- one-row path
def _generic(model, X, method):
    """The generic path of ``method`` (the short path switched off)."""
    T = model._brute_T
    model._brute_T = None
    try:
        return getattr(model, method)(X)
    finally:
        model._brute_T = T


@pytest.mark.parametrize("name", ["tie_free", "duplicates", "grid", "one_feature",
                                  "float32_near_ties", "offset"])
def test_one_row_path_equals_generic(name):
    X = PROBLEMS[name]
    rng = np.random.RandomState(1)
    model = LocalOutlierFactor(n_neighbors=9, novelty=True, algorithm="brute").fit(X)
    assert model._brute_T is not None
    queries = np.r_[X[:5], X[:5] + 1e-3 * rng.randn(5, X.shape[1]),
                    10 * rng.randn(3, X.shape[1]) + X.mean(axis=0)]
    for q in queries:
        row = np.ascontiguousarray(q[None, :])
        for method in ("score_samples", "decision_function", "predict"):
            got = getattr(model, method)(row)
            expected = _generic(model, row, method)
            assert got.dtype == expected.dtype and got.shape == expected.shape
            assert_array_equal(got, expected)
        if name == "tie_free":  # the twin's scores agree to 1e-9 (Python floats)
            assert_allclose(model.score_samples(row), naive.lof_novelty_scores(X, row, 9),
                            rtol=1e-9)


def _clustered(seed=4):
    """Spread rows (a quantisation step near 0.03) and 200 rows within 0.002 of one
    point: the int8 codes cannot tell the cluster apart, its bound must."""
    rng = np.random.RandomState(seed)
    X = rng.randn(1500, 6)
    X[:200] = X[0] + 0.002 * rng.randn(200, 6)
    queries = X[0] + 0.001 * rng.randn(6, 6)
    return X, queries


def test_one_row_codes_bound_the_products():
    X, queries = _clustered()
    index = NK.build_brute_index(X)
    codes = NK.build_one_row_codes(index)
    assert codes.codes.dtype == np.int8 and codes.codes.shape == (6, 1500)
    assert np.abs(codes.codes).max() == 127
    for q in queries:
        qs = (q - index.mean) * index.scale
        out = np.empty(X.shape[0], dtype=np.float32)
        _scoring._one_row_products((qs * codes.step).astype(np.float32), codes.codes, out)
        err = np.abs(index.centered @ qs - out)
        bound = np.abs(qs) @ codes.qerr
        assert err.max() <= bound
        assert err.max() > bound / 20  # the bound is not vacuous


def test_one_row_path_needs_its_quantisation_bound():
    """Exact with the bound on the codes' error, not without it (the test can fail)."""
    X, queries = _clustered()
    model = LocalOutlierFactor(n_neighbors=9, novelty=True, algorithm="brute").fit(X)
    for q in queries:
        row = np.ascontiguousarray(q[None, :])
        assert_array_equal(model.score_samples(row), _generic(model, row, "score_samples"))
    codes = model._brute_T
    model._brute_T = codes._replace(qerr=np.zeros_like(codes.qerr))
    wrong = [model.score_samples(np.ascontiguousarray(q[None, :]))[0]
             != _generic(model, np.ascontiguousarray(q[None, :]), "score_samples")[0]
             for q in queries]
    assert any(wrong)


def test_one_row_path_declines_what_it_cannot_serve():
    rng = np.random.RandomState(2)
    X = rng.randn(200, 20)
    model = LocalOutlierFactor(n_neighbors=5, novelty=True).fit(X)
    assert model._score_one(np.ascontiguousarray(X[:1])) is not None
    assert model._score_one(X[:2]) is None  # two rows
    assert model._score_one(X[:1].astype(np.float32)) is None
    assert model._score_one(np.asfortranarray(X[:1, :3])) is None  # 3 features
    assert model._score_one(np.full((1, 20), np.nan)) is None
    assert model._score_one(np.full((1, 20), 1e300)) is None  # beyond float32 range
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.full((1, 20), np.nan))
    far = np.full((1, 20), 1e300)
    assert_array_equal(model.score_samples(far), _generic(model, far, "score_samples"))
    with pytest.raises(ValueError, match="features"):
        model.predict(np.zeros((1, 19)))
    # a model pickled before the int8 codes held the float32 rows: generic path
    codes = model._brute_T
    model._brute_T = np.ascontiguousarray(X.T.astype(np.float32))
    assert model._score_one(np.ascontiguousarray(X[:1])) is None
    assert_array_equal(model.predict(X[:1]), _generic(model, X[:1], "predict"))
    model._brute_T = codes
    # refit without novelty forgets the one-row layout
    model.set_params(novelty=False).fit(X)
    assert model._brute_T is None


@pytest.mark.slow  # ~20 s: Numba's pure-Python mode
def test_pure_python_equals_compiled(tmp_path):
    """NUMBA_DISABLE_JIT=1: the symmetric search (several blocks, seeded) and the
    one-row path run as plain Python, with the compiled kernels' results."""
    rng = np.random.RandomState(4)
    X = np.r_[rng.randn(200, 8), np.repeat(rng.randn(3, 8), 4, axis=0)]
    np.savez(tmp_path / "data.npz", X=X)
    run_pure_python("_pure_python_lof.py", tmp_path / "data.npz", tmp_path / "out.npz")
    got = np.load(tmp_path / "out.npz")
    dist, ind = _search(X, 6, params=_small(block=32))
    assert_array_equal(got["ind"], ind)
    assert_array_equal(got["dist"], dist)
    model = LocalOutlierFactor(n_neighbors=5, novelty=True).fit(X)
    assert_array_equal(got["score"],
                       model.score_samples(np.ascontiguousarray(X[3:4] + 0.25)))

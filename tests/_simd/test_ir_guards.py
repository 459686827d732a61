"""The checks in front of the IR kernels, on every host.

Bounds checking (``NUMBA_BOUNDSCHECK=1``) cannot reach into hand-written IR, so each
IR kernel's wrapper checks what the IR relies on before calling it: the forest's
vector walk (``forest._kernels.check_complete_walk``), the Extended Isolation
Forest's (``forest._eif_kernels.check_simd_table`` when the table is made,
``check_simd_walk`` on every call) and the LOF block products
(``_simd.gemm.check_block_products``). The checks are plain Numba
functions: they are tested here whatever the CPU, each with arrays that fit and
with every way of not fitting.
"""

import numpy as np
import pytest

from isoforest import ExtendedIsolationForest
from isoforest._simd import eif_walk as _eif_simd
from isoforest._simd import forest_walk as _simd
from isoforest._simd import gemm as _gemm_simd
from isoforest.forest import _eif_kernels
from isoforest.forest import _kernels as forest_kernels

pytestmark = pytest.mark.kernels


# --------------------------------------------------------------- forest walk
def _walk_arrays(depth=3, n_trees=4, n_features=5, n_rows=7):
    loaded = n_trees * ((1 << depth) - 1) + _simd.PAD
    feat = np.zeros(loaded, dtype=np.uint32)
    feat[: loaded - _simd.PAD] = np.arange(loaded - _simd.PAD) % n_features
    thr = np.zeros(loaded, dtype=np.float32)
    leaf = np.zeros(n_trees << depth)
    X = np.zeros((n_rows, n_features))
    out = np.zeros(n_rows)
    return dict(X=X, depth=depth, feat=feat, thr=thr, leaf=leaf, n_trees=n_trees, out=out)


def _walk(a):
    forest_kernels.check_complete_walk(a["X"], a["depth"], a["feat"], a["thr"], a["leaf"],
                                       a["n_trees"], a["out"])


def test_complete_walk_accepts_arrays_that_fit():
    for depth in (1, 3, _simd.MAX_DEPTH):
        _walk(_walk_arrays(depth=depth))
    _walk(_walk_arrays(n_trees=0))


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(depth=0), "out of range"),
    (lambda a: a.update(depth=_simd.MAX_DEPTH + 1), "out of range"),
    (lambda a: a.update(n_trees=5), "too short"),         # more trees than the arrays
    (lambda a: a.update(feat=a["feat"][:-1]), "too short"),  # a spare entry missing
    (lambda a: a.update(thr=a["thr"][:-1]), "too short"),
    (lambda a: a.update(leaf=a["leaf"][:-1]), "too short"),
    (lambda a: a.update(out=a["out"][:-1]), "too short"),
    (lambda a: a.update(X=a["X"][:, :4]), "column"),        # a node tests column 4
    (lambda a: a["feat"].__setitem__(-1, 5), "column"),     # so does a spare entry
])
def test_complete_walk_refuses_arrays_that_do_not_fit(change, message):
    a = _walk_arrays()
    change(a)
    with pytest.raises(ValueError, match=message):
        _walk(a)


# --------------------------------------------------------- extended forest walk
def _eif(n_features=3):
    X = np.random.RandomState(0).randn(200, n_features)
    return ExtendedIsolationForest(n_estimators=5, random_state=0).fit(X), X


def test_eif_table_and_walk_accept_the_fitted_forest():
    model, X = _eif()
    forest = model.forest_
    table = forest.simd_table()
    _eif_kernels.check_simd_table(table, X.shape[1])
    _eif_kernels.check_simd_walk(X, table, forest.tree_offsets, forest.n_levels,
                                 np.zeros(len(X)), _eif_simd.width(X.shape[1]))


@pytest.mark.parametrize("value", [np.nan, -8.0, 4.0, 1e12, np.inf])
def test_eif_table_refuses_an_offset_outside_it(value):
    model, X = _eif()
    table = model.forest_.simd_table().copy()
    width = table.shape[1]
    # 4.0: inside the table but not the start of a row; the others outside it
    table[3, X.shape[1] + 1 + (value == 4.0)] = value * (1 if value != 1e12 else width)
    with pytest.raises(ValueError, match="not a row of it"):
        _eif_kernels.check_simd_table(table, X.shape[1])


def test_eif_table_refuses_a_width_without_room():
    table = np.zeros((4, 8))
    with pytest.raises(ValueError, match="narrower"):
        _eif_kernels.check_simd_table(table, 5)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(width=a["width"] + 8), "do not fit"),
    (lambda a: a.update(X=np.zeros((3, a["width"] - 3))), "do not fit"),
    (lambda a: a.update(n_levels=-1), "do not fit"),
    (lambda a: a.update(out=np.zeros(1)), "do not fit"),
    (lambda a: a["tree_offsets"].__setitem__(2, 10**6), "outside"),
    (lambda a: a["tree_offsets"].__setitem__(1, -1), "outside"),
])
def test_eif_walk_refuses_what_does_not_fit(change, message):
    model, X = _eif()
    forest = model.forest_
    a = dict(X=X[:3], table=forest.simd_table(), tree_offsets=forest.tree_offsets.copy(),
             n_levels=forest.n_levels, out=np.zeros(3), width=_eif_simd.width(X.shape[1]))
    change(a)
    with pytest.raises(ValueError, match=message):
        _eif_kernels.check_simd_walk(a["X"], a["table"], a["tree_offsets"], a["n_levels"],
                                     a["out"], a["width"])


@pytest.mark.skipif(not _eif_simd.available(), reason="the vector walk needs Numba's JIT")
def test_eif_scoring_checks_before_the_walk():
    """Through the estimator: a tree starting outside the table is refused with a
    ValueError before the IR reads anything."""
    model, X = _eif()
    forest = model.forest_
    forest.simd_table()
    forest.tree_offsets[1] = forest.tree_offsets[-1] + 10**6
    with pytest.raises(ValueError, match="outside"):
        model.score_samples(X[:20])


# ------------------------------------------------------------- block products
def _products(m=16, n=32, d=5, vectors=1):
    A = np.zeros((m, d), dtype=np.float32)
    BT = np.zeros((d, n + 16), dtype=np.float32)[:, :n]  # a view, rows contiguous
    G = np.zeros((m, n), dtype=np.float32)
    return dict(A=A, BT=BT, G=G, vectors=vectors)


def _check(a):
    _gemm_simd.check_block_products(a["A"], a["BT"], a["G"], a["vectors"])


def test_block_products_accept_shapes_that_fit():
    _check(_products())
    _check(_products(m=8, n=48, vectors=3))


@pytest.mark.parametrize("change", [
    lambda a: a.update(vectors=2),
    lambda a: a.update(G=np.zeros((12, 32), dtype=np.float32)),   # rows not tiles
    lambda a: a.update(G=np.zeros((16, 40), dtype=np.float32)),   # columns not tiles
    lambda a: a.update(A=a["A"][:8]),                             # fewer rows than G
    lambda a: a.update(BT=a["BT"][:4]),                           # fewer features
    lambda a: a.update(BT=a["BT"][:, :16]),                       # fewer columns
    lambda a: a.update(A=np.asfortranarray(a["A"])),
    lambda a: a.update(BT=np.asfortranarray(a["BT"])),
    lambda a: a.update(G=np.zeros((16, 64), dtype=np.float32)[:, :32]),
])
def test_block_products_refuse_shapes_that_do_not_fit(change):
    a = _products()
    change(a)
    with pytest.raises(ValueError, match="shapes do not fit"):
        _check(a)

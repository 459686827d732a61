"""Where this process's LLVM cannot read the kernels' IR (Numba releases older than
the LLVM the IR is written for), every IR kernel is off and its plain twin runs:
functions that hold a call to a kernel still compile, and the estimators score as
they do with the kernels switched off."""

import numpy as np
from numba import njit
from numba.core import types
from numba.extending import intrinsic
from numpy.testing import assert_array_equal

from isoforest import ExtendedIsolationForest, LocalOutlierFactor, config_context
from isoforest._simd import _ir, eif_walk, forest_walk, gemm

READERS = (eif_walk, forest_walk, gemm)


def test_ir_parses_tells_readable_from_unreadable():
    assert _ir.ir_parses("define void @isoforest_probe() {\n  ret void\n}\n")
    assert not _ir.ir_parses("define void @isoforest_probe( {\n")


def test_a_function_calling_an_unreadable_kernel_still_compiles():
    def refuse(data_layout):
        raise RuntimeError("LLVM IR parsing error")

    @intrinsic
    def unreadable(typingctx, x):
        return types.void(x), _ir.ir_codegen("isoforest_test_unreadable", refuse)

    @njit
    def total(x, call):
        if call:
            unreadable(x)
        return x.sum()

    assert total(np.ones(3), False) == 3.0


def _clear_caches():
    for module in READERS:
        module._reads_ir.cache_clear()
    gemm.marks_available.cache_clear()


def test_estimators_fall_back_when_the_ir_is_refused(monkeypatch):
    X = np.random.RandomState(0).normal(size=(400, 4))
    eif = ExtendedIsolationForest(n_estimators=20, random_state=0).fit(X)
    with config_context(simd=False):
        want_eif = eif.score_samples(X)
        want_lof = LocalOutlierFactor(n_neighbors=10).fit(X).negative_outlier_factor_
    for module in READERS:
        monkeypatch.setattr(module, "ir_parses", lambda text: False)
    _clear_caches()
    try:
        assert not (eif_walk.available() or forest_walk.available() or gemm.available())
        assert not gemm.marks_available()
        assert_array_equal(eif.score_samples(X), want_eif)
        assert_array_equal(LocalOutlierFactor(n_neighbors=10).fit(X).negative_outlier_factor_,
                           want_lof)
    finally:
        _clear_caches()

"""Every hand-written IR kernel parsed, verified and compiled on every host, for the
CPUs it is written for, whatever this CPU is.

The vector kernels run only where the host has the instructions (AVX-512, AMX), so
on other hosts their run-time tests skip; here llvmlite compiles their IR for
explicit targets (an AVX-512 Skylake server, an AMX Sapphire Rapids) and the
assembly is checked for the instructions the kernels exist for. An edit that breaks
the IR of a path this machine cannot run fails here, on every machine.
"""

import platform

import pytest
from llvmlite import binding as ll

import isoforest  # noqa: F401  (Numba initialises LLVM's native x86 target)
from isoforest._simd import eif_walk as _eif_simd
from isoforest._simd import forest_walk as _simd
from isoforest._simd import gemm as _gemm_simd

pytestmark = [
    pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                       reason="the IR is written for x86-64 CPUs"),
    # the kernels are then off and their plain twins run (tests/_simd/test_ir_fallback.py)
    pytest.mark.skipif(not _eif_simd._reads_ir(),
                       reason="this Numba's LLVM cannot read the kernels' IR (written for "
                              "the LLVM of recent Numba releases)"),
]

TRIPLE = "x86_64-unknown-linux-gnu"
AVX512 = "skylake-avx512"
AMX = "sapphirerapids"


def compile_for(text, cpu):
    """Assembly of the IR ``text`` compiled for ``cpu`` (parsed and verified)."""
    machine = ll.Target.from_triple(TRIPLE).create_target_machine(cpu=cpu, opt=2)
    module = ll.parse_assembly(text)
    module.triple = TRIPLE
    module.data_layout = str(machine.target_data)
    module.verify()
    asm = machine.emit_assembly(module)
    assert machine.emit_object(module)
    return asm


@pytest.mark.parametrize("depth", [1, 2, 5, _simd.MAX_DEPTH])
@pytest.mark.parametrize("n_select", [0, 1, 3, _simd.MAX_SELECT_FEATURES])
def test_forest_walk_compiles_for_avx512(depth, n_select):
    asm = compile_for(_simd.ir_text(depth, n_select), AVX512)
    assert _simd.function_name(depth, n_select) in asm
    assert "zmm" in asm  # 16 float32 lanes: the AVX-512 registers


def test_forest_walk_refuses_parameters_it_has_no_code_for():
    with pytest.raises(ValueError, match="depth"):
        _simd.ir_text(_simd.MAX_DEPTH + 1, 0)
    with pytest.raises(ValueError, match="n_select"):
        _simd.ir_text(3, _simd.MAX_SELECT_FEATURES + 1)


@pytest.mark.parametrize("n_features", [1, 2, 4, 5, 12, _eif_simd.MAX_FEATURES])
@pytest.mark.parametrize("cpu", [AVX512, "x86-64-v3", "x86-64"])
def test_eif_walk_compiles_for_every_x86_level(n_features, cpu):
    """Extended Isolation Forest's walk is generic vector IR: it runs on any x86-64
    (LLVM splits its 8-lane vectors where the registers are narrower)."""
    asm = compile_for(_eif_simd.ir_text(n_features), cpu)
    assert _eif_simd.function_name(n_features) in asm
    assert ("zmm" in asm) == (cpu == AVX512)


@pytest.mark.parametrize("vectors", [1, 3])
def test_lof_block_products_compile_for_avx512(vectors):
    asm = compile_for(_gemm_simd.ir_text(vectors), AVX512)
    assert _gemm_simd.function_name(vectors) in asm
    assert "zmm" in asm and "vfmadd" in asm


def test_lof_amx_products_compile_for_sapphire_rapids():
    asm = compile_for(_gemm_simd.amx_ir_text(), AMX)
    for instruction in ("tdpbf16ps", "tileloadd", "tilestored", "ldtilecfg"):
        assert instruction in asm, instruction

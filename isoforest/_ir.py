"""LLVM-IR plumbing shared by the hand-written vector kernels (the forests' tree
walks, the neighbours' block products): parse a module for this process, link it
into a Numba function through an intrinsic, and decide whether such kernels run.

Imports Numba and llvmlite only; each kernel module writes its own IR text.
"""

import os

import numba
from llvmlite import binding as ll
from llvmlite import ir
from numba.core import cgutils, types

__all__ = ["host_has_avx512", "simd_allowed", "parse_module", "ir_codegen"]


def host_has_avx512():
    """Whether this CPU has AVX-512F (as LLVM sees it)."""
    try:
        features = ll.get_host_cpu_features()
    except Exception:  # pragma: no cover - llvmlite without host detection
        return False
    return bool(features.get("avx512f", False))


def simd_allowed():
    """Numba compiles (not ``NUMBA_DISABLE_JIT``) and ``ISOFOREST_SIMD`` is not 0."""
    if numba.config.DISABLE_JIT:
        return False
    flag = os.environ.get("ISOFOREST_SIMD", "1").strip().lower()
    return flag not in ("0", "false", "no", "off")


def parse_module(text, data_layout):
    """The LLVM module of IR ``text``, for this process's target, verified."""
    module = ll.parse_assembly(text)
    module.triple = ll.get_process_triple()
    module.data_layout = data_layout
    module.verify()
    return module


def ir_codegen(name, make_module):
    """Numba codegen calling ``void @name(...)`` from the module ``make_module(data
    layout)`` returns: arrays are passed as their data pointers, scalars as i64."""

    def codegen(context, builder, signature, args):
        # weak_odr: linked eagerly (a linkonce body would be dropped before its
        # caller is linked in) and merged where several kernels carry it
        module = make_module(str(context.codegen().target_data))
        context.active_code_library.add_llvm_module(module)
        ptr, i64 = ir.IntType(8).as_pointer(), ir.IntType(64)
        arg_types = [ptr if isinstance(ty, types.Array) else i64 for ty in signature.args]
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), arg_types), name)
        values = []
        for ty, value in zip(signature.args, args):
            if isinstance(ty, types.Array):
                ary = context.make_array(ty)(context, builder, value)
                values.append(builder.bitcast(ary.data, ptr))
            else:
                values.append(context.cast(builder, value, ty, types.int64))
        builder.call(fn, values)
        return context.get_dummy_value()

    return codegen

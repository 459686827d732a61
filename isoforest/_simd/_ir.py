"""LLVM-IR plumbing shared by the hand-written vector kernels (the forests' tree
walks, the neighbours' block products): parse a module for this process, link it
into a Numba function through an intrinsic, and decide whether such kernels run.

Imports Numba and llvmlite only; each kernel module writes its own IR text with an
``Emitter``.
"""

import ctypes
import functools
import platform
import sys

import numba
from llvmlite import binding as ll
from llvmlite import ir
from numba.core import cgutils, types

from .._config import setting

__all__ = ["Emitter", "host_has_avx512", "host_has_amx_bf16", "request_amx",
           "simd_allowed", "ir_parses", "parse_module", "ir_codegen"]


class Emitter:
    """How every IR kernel here is written: lines collected by calling the emitter,
    value names handed out by ``new`` (unique within the function), the text by
    ``text``."""

    def __init__(self):
        self.lines = []
        self.n = 0

    def new(self, stem):
        self.n += 1
        return f"%{stem}.{self.n}"

    def __call__(self, line):
        self.lines.append(line)

    def text(self):
        return "\n".join(self.lines)


@functools.lru_cache(maxsize=None)
def host_has_avx512():
    """Whether this CPU has AVX-512F (as LLVM sees it; asked once, ~0.2 ms)."""
    try:
        features = ll.get_host_cpu_features()
    except Exception:  # pragma: no cover - llvmlite without host detection
        return False
    return bool(features.get("avx512f", False))


@functools.lru_cache(maxsize=None)
def host_has_amx_bf16():
    """Whether this CPU has AMX tiles with bfloat16 products (as LLVM sees it; asked
    once)."""
    try:
        features = ll.get_host_cpu_features()
    except Exception:  # pragma: no cover - llvmlite without host detection
        return False
    return bool(features.get("amx-tile", False) and features.get("amx-bf16", False))


_AMX_GRANTED = None


def request_amx():
    """Ask Linux for this process's permission to use AMX tile data (once; the
    answer is kept): without it the first tile instruction raises SIGILL.

    ``arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`` only grants the
    permission (as oneDNN and PyTorch ask for it): nothing changes for code
    that does not use the tiles. False off Linux x86-64 or where it is refused.
    """
    global _AMX_GRANTED
    if _AMX_GRANTED is None:
        granted = False
        if sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64"):
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                # SYS_arch_prctl = 158, ARCH_REQ_XCOMP_PERM = 0x1023, XTILEDATA = 18
                granted = libc.syscall(ctypes.c_long(158), ctypes.c_long(0x1023),
                                       ctypes.c_long(18)) == 0
            except (OSError, AttributeError):  # pragma: no cover - no libc syscall
                granted = False
        _AMX_GRANTED = granted
    return _AMX_GRANTED


def simd_allowed():
    """Numba compiles (not ``NUMBA_DISABLE_JIT``) and the ``simd`` setting is on
    (``isoforest.get_config()``, ``ISOFOREST_SIMD``)."""
    return not numba.config.DISABLE_JIT and setting("simd")


def ir_parses(text):
    """Whether this process's llvmlite reads and verifies IR ``text`` (each kernel
    module asks once and keeps the answer). The kernels
    are written in the IR of the LLVM that recent Numba releases bundle (opaque
    ``ptr``, ``align`` on gathers' pointer vectors, ``splat``); older releases'
    LLVM refuses that text, and there each kernel's ``available()`` is False and
    its plain twin runs."""
    try:
        ll.parse_assembly(text).verify()
    except RuntimeError:
        return False
    return True


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
        ptr, i64 = ir.IntType(8).as_pointer(), ir.IntType(64)
        arg_types = [ptr if isinstance(ty, types.Array) else i64 for ty in signature.args]
        try:
            module = make_module(str(context.codegen().target_data))
        except RuntimeError:
            module = None  # an LLVM that cannot read the kernel's IR (see ir_parses)
        if module is not None:
            context.active_code_library.add_llvm_module(module)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), arg_types), name)
        if module is None and fn.is_declaration:
            # Functions that hold a call to the kernel still compile; the call is
            # never made, as the kernel's available() is False here, and would
            # stop the process rather than run without the kernel.
            body = ir.IRBuilder(fn.append_basic_block("entry"))
            trap = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.trap")
            body.call(trap, [])
            body.unreachable()
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

"""AVX-512 block products for the symmetric brute force, written in LLVM IR.

``G = A @ B.T`` in float32 for a block pair of the scaled training rows (A: the
block's rows, row-major; B: the other block's rows, held feature-major as ``BT``),
the whole d-long sum of each product in registers: a tile of ``ROWS`` rows by
``16 * vectors`` columns keeps ``ROWS * vectors`` accumulators, each step over the
features loading the tile's columns as vectors and broadcasting each row's value
into fused multiply-adds. OpenBLAS's sgemm, built for long inner dimensions, ran at
121-125 GFLOP/s a core on 512 x 512 x 50 here; 8 x 48 tiles at 172 (8 x 16: 152).

The sums run in feature order with one rounding per step (FMA): within the float32
products' error bound (``_gemm_margins``, any order), so the candidates, and the
neighbours the exact recheck picks from them, are those of the BLAS path to the
last bit. Full tiles only: callers pad the rows to a multiple of the block and the
block to a multiple of ``ROWS`` and 16. Used where the host has AVX-512F and Numba
compiles (``isoforest._ir.simd_allowed``); elsewhere the BLAS path runs.
"""

from numba.core import types
from numba.extending import intrinsic

from .._config import jit
from .._ir import host_has_avx512, ir_codegen, parse_module, simd_allowed

__all__ = ["AVAILABLE", "ROWS", "vectors_for", "block_products"]

#: Rows per tile.
ROWS = 8
#: True when the symmetric search computes its block products here.
AVAILABLE = simd_allowed() and host_has_avx512()

_F = "<16 x float>"


def vectors_for(block):
    """Column vectors per tile for a block of ``block`` rows: 3 (8 x 48, the fastest
    measured) where it divides, else 1; 0 where no tile fits."""
    if block % ROWS or block % 16:
        return 0
    return 3 if block % 48 == 0 else 1


def function_name(vectors):
    return f"isoforest_block_products_v{vectors}"


def ir_text(vectors):
    """LLVM IR of ``void @function_name(ptr A, i64 lda, ptr BT, i64 ldb, ptr G,
    i64 ldg, i64 row_tiles, i64 col_tiles, i64 d)``: for the tiles (t, u) below
    (row_tiles, col_tiles), ``G[i, j] = sum_k A[i, k] BT[k, j]`` for the rows
    ``i`` of tile t (``ROWS`` each) and the columns ``j`` of tile u (16 * vectors
    each); strides in floats."""
    if vectors not in (1, 2, 3):
        raise ValueError(f"vectors must be 1, 2 or 3, got {vectors}")
    R, V = ROWS, vectors
    L = []
    e = L.append
    e(f"declare {_F} @llvm.fma.v16f32({_F}, {_F}, {_F})")
    e(f"define weak_odr void @{function_name(V)}(ptr %A, i64 %lda, ptr %BT, i64 %ldb, "
      "ptr %G, i64 %ldg, i64 %ntr, i64 %ntc, i64 %d) {")
    e("entry:")
    e("  br label %u_head")
    # columns outside, rows inside: a column tile's features (d x 16 vectors
    # floats) stay in L1 while every row tile passes
    e("u_head:")
    e("  %u = phi i64 [0, %entry], [%u_next, %t_done]")
    e("  %u_ok = icmp slt i64 %u, %ntc")
    e("  br i1 %u_ok, label %t_head, label %exit")
    e("t_head:")
    e("  %t = phi i64 [0, %u_head], [%t_next, %k_done]")
    e("  %t_ok = icmp slt i64 %t, %ntr")
    e("  br i1 %t_ok, label %k_pre, label %t_done")
    e("k_pre:")
    e(f"  %row0 = mul i64 %t, {R}")
    e(f"  %col0 = mul i64 %u, {16 * V}")
    for r in range(R):
        e(f"  %arow_{r} = add i64 %row0, {r}")
        e(f"  %abase_{r} = mul i64 %arow_{r}, %lda")
    e("  br label %k_head")
    e("k_head:")
    e("  %k = phi i64 [0, %k_pre], [%k_next, %k_body]")
    for r in range(R):
        for c in range(V):
            e(f"  %acc_{r}_{c} = phi {_F} [zeroinitializer, %k_pre], "
              f"[%sum_{r}_{c}, %k_body]")
    e("  %k_ok = icmp slt i64 %k, %d")
    e("  br i1 %k_ok, label %k_body, label %k_done")
    e("k_body:")
    e("  %bk = mul i64 %k, %ldb")
    e("  %bkc = add i64 %bk, %col0")
    for c in range(V):
        e(f"  %bo_{c} = add i64 %bkc, {16 * c}")
        e(f"  %bp_{c} = getelementptr float, ptr %BT, i64 %bo_{c}")
        e(f"  %b_{c} = load {_F}, ptr %bp_{c}, align 4")
    for r in range(R):
        e(f"  %ao_{r} = add i64 %abase_{r}, %k")
        e(f"  %ap_{r} = getelementptr float, ptr %A, i64 %ao_{r}")
        e(f"  %a_{r} = load float, ptr %ap_{r}, align 4")
        e(f"  %ai_{r} = insertelement {_F} undef, float %a_{r}, i32 0")
        e(f"  %av_{r} = shufflevector {_F} %ai_{r}, {_F} undef, <16 x i32> zeroinitializer")
        for c in range(V):
            e(f"  %sum_{r}_{c} = call {_F} @llvm.fma.v16f32({_F} %av_{r}, {_F} %b_{c}, "
              f"{_F} %acc_{r}_{c})")
    e("  %k_next = add i64 %k, 1")
    e("  br label %k_head")
    e("k_done:")
    for r in range(R):
        e(f"  %go_{r} = mul i64 %arow_{r}, %ldg")
        e(f"  %goc_{r} = add i64 %go_{r}, %col0")
        for c in range(V):
            e(f"  %gi_{r}_{c} = add i64 %goc_{r}, {16 * c}")
            e(f"  %gp_{r}_{c} = getelementptr float, ptr %G, i64 %gi_{r}_{c}")
            e(f"  store {_F} %acc_{r}_{c}, ptr %gp_{r}_{c}, align 4")
    e("  %t_next = add i64 %t, 1")
    e("  br label %t_head")
    e("t_done:")
    e("  %u_next = add i64 %u, 1")
    e("  br label %u_head")
    e("exit:")
    e("  ret void")
    e("}")
    return "\n".join(L)


def _intrinsic(vectors):
    name = function_name(vectors)
    text = ir_text(vectors)

    def products(typingctx, A, lda, BT, ldb, G, ldg, row_tiles, col_tiles, d):
        sig = types.void(A, lda, BT, ldb, G, ldg, row_tiles, col_tiles, d)
        return sig, ir_codegen(name, lambda layout: parse_module(text, layout))

    products.__name__ = name
    return intrinsic(products)


_products_1 = _intrinsic(1)
_products_3 = _intrinsic(3)


@jit
def block_products(A, BT, G, vectors):
    """``G[:] = A @ BT`` (float32; A (m, d) C-contiguous, BT (d, >= n) a view whose
    rows are contiguous, G (m, n) C-contiguous) by tiles: m a multiple of ``ROWS``,
    n of 16 * vectors. The caller checks the shapes: the kernel indexes raw memory."""
    m, n = G.shape
    d = A.shape[1]
    ldb = BT.strides[0] // 4
    if vectors == 3:
        _products_3(A, d, BT, ldb, G, n, m // ROWS, n // 48, d)
    else:
        _products_1(A, d, BT, ldb, G, n, m // ROWS, n // 16, d)

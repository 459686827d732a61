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

Where the host has AMX with bfloat16 products (Sapphire Rapids on), the block
products run on the tiles instead (``amx_products``): the rows rounded to bfloat16
(``bf16_rows``), 16 x 16 float32 sums of 32-feature steps, four at a time. Their
error is bfloat16's, ~2**-8 of the norms (``_kernels._gemm_margins`` gives its
bound), so the candidates' bound widens (~20% more candidates on 20,000 x 50)
while the exact recheck keeps the neighbours to the last bit; 480 x 480 x 50 took
~60 us against ~130 for the AVX-512 tiles here.
"""

import numpy as np
from numba.core import types
from numba.extending import intrinsic

from .._config import jit
from .._ir import (host_has_amx_bf16, host_has_avx512, ir_codegen, parse_module,
                   request_amx, simd_allowed)

__all__ = ["AVAILABLE", "ROWS", "vectors_for", "block_products", "amx_available",
           "AMX_STEP", "AMX_TILE", "bf16_rows", "amx_layout", "bf16_tiles", "amx_products"]

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


# ---------------------------------------------------------------------------
# AMX: bfloat16 tiles

#: Features per step of a tile product, and rows (and columns) per tile.
AMX_STEP = 32
AMX_TILE = 16
_AMX_NAME = "isoforest_amx_bf16_products"
_AMX = None


def amx_available():
    """Whether the block products may run on AMX tiles: the host has AMX-BF16, Numba
    compiles, ``ISOFOREST_SIMD`` allows, and Linux grants the tile data (asked on
    the first call, not at import)."""
    global _AMX
    if _AMX is None:
        _AMX = simd_allowed() and host_has_amx_bf16() and request_amx()
    return _AMX


def amx_ir_text():
    """LLVM IR of ``void @isoforest_amx_bf16_products(ptr A, i64 lda, ptr B, ptr G,
    i64 ldg, i64 row_pairs, i64 col_pairs, i64 steps)``: ``G`` (float32, row stride
    ``ldg`` bytes) of 32 x 32 output pairs, (t, u) below (row_pairs, col_pairs),
    each the sum over ``steps`` of two A tiles (16 rows of 32 bfloat16 features,
    row stride ``lda`` bytes) by two B tiles (``amx_layout``: 1 KiB each, per
    16 columns and step). The compiler configures the tiles (``ldtilecfg``) on
    entry; they are released on exit."""
    T = "x86_amx"
    L = []
    e = L.append
    e(f"declare {T} @llvm.x86.tileloadd64.internal(i16, i16, ptr, i64)")
    e(f"declare {T} @llvm.x86.tilezero.internal(i16, i16)")
    e(f"declare {T} @llvm.x86.tdpbf16ps.internal(i16, i16, i16, {T}, {T}, {T})")
    e(f"declare void @llvm.x86.tilestored64.internal(i16, i16, ptr, i64, {T})")
    e("declare void @llvm.x86.tilerelease()")
    e(f"define weak_odr void @{_AMX_NAME}(ptr %A, i64 %lda, ptr %B, ptr %G, i64 %ldg, "
      "i64 %ntr2, i64 %ntc2, i64 %ks) #0 {")
    e("entry:")
    e("  br label %u_head")
    # column pairs outside (their B tiles stay in L1), row pairs inside
    e("u_head:")
    e("  %u = phi i64 [0, %entry], [%u_next, %t_done]")
    e("  %u_ok = icmp slt i64 %u, %ntc2")
    e("  br i1 %u_ok, label %t_head, label %exit")
    e("t_head:")
    e("  %t = phi i64 [0, %u_head], [%t_next, %k_done]")
    e("  %t_ok = icmp slt i64 %t, %ntr2")
    e("  br i1 %t_ok, label %k_pre, label %t_done")
    e("k_pre:")
    for c in range(4):
        e(f"  %z{c} = call {T} @llvm.x86.tilezero.internal(i16 16, i16 64)")
    e("  %r0 = mul i64 %t, 32")
    e("  %ra0 = mul i64 %r0, %lda")
    e("  %r1 = add i64 %r0, 16")
    e("  %ra1 = mul i64 %r1, %lda")
    e("  %u0 = mul i64 %u, 2")
    e("  %u1 = add i64 %u0, 1")
    e("  %ub0 = mul i64 %u0, %ks")
    e("  %ub1 = mul i64 %u1, %ks")
    e("  br label %k_head")
    e("k_head:")
    e("  %s = phi i64 [0, %k_pre], [%s_next, %k_body]")
    for c in range(4):
        e(f"  %acc{c} = phi {T} [%z{c}, %k_pre], [%n{c}, %k_body]")
    e("  %s_ok = icmp slt i64 %s, %ks")
    e("  br i1 %s_ok, label %k_body, label %k_done")
    e("k_body:")
    e("  %so = mul i64 %s, 64")
    for r in range(2):
        e(f"  %ao{r} = add i64 %ra{r}, %so")
        e(f"  %ap{r} = getelementptr i8, ptr %A, i64 %ao{r}")
        e(f"  %a{r} = call {T} @llvm.x86.tileloadd64.internal(i16 16, i16 64, "
          f"ptr %ap{r}, i64 %lda)")
    for c in range(2):
        e(f"  %bi{c} = add i64 %ub{c}, %s")
        e(f"  %bo{c} = mul i64 %bi{c}, 1024")
        e(f"  %bp{c} = getelementptr i8, ptr %B, i64 %bo{c}")
        e(f"  %b{c} = call {T} @llvm.x86.tileloadd64.internal(i16 16, i16 64, "
          f"ptr %bp{c}, i64 64)")
    for c, (r, q) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        e(f"  %n{c} = call {T} @llvm.x86.tdpbf16ps.internal(i16 16, i16 64, i16 64, "
          f"{T} %acc{c}, {T} %a{r}, {T} %b{q})")
    e("  %s_next = add i64 %s, 1")
    e("  br label %k_head")
    e("k_done:")
    e("  %g0 = mul i64 %r0, %ldg")
    e("  %g1 = mul i64 %r1, %ldg")
    e("  %c0 = mul i64 %u0, 64")
    e("  %c1 = add i64 %c0, 64")
    for c, (g, q) in enumerate([("g0", "c0"), ("g0", "c1"), ("g1", "c0"), ("g1", "c1")]):
        e(f"  %go{c} = add i64 %{g}, %{q}")
        e(f"  %gp{c} = getelementptr i8, ptr %G, i64 %go{c}")
        e(f"  call void @llvm.x86.tilestored64.internal(i16 16, i16 64, ptr %gp{c}, "
          f"i64 %ldg, {T} %acc{c})")
    e("  %t_next = add i64 %t, 1")
    e("  br label %t_head")
    e("t_done:")
    e("  %u_next = add i64 %u, 1")
    e("  br label %u_head")
    e("exit:")
    e("  call void @llvm.x86.tilerelease()")
    e("  ret void")
    e("}")
    e('attributes #0 = { "target-features"="+amx-tile,+amx-bf16" }')
    return "\n".join(L)


@intrinsic
def _amx_products(typingctx, A, lda, B, G, ldg, row_pairs, col_pairs, steps):
    sig = types.void(A, lda, B, G, ldg, row_pairs, col_pairs, steps)
    text = amx_ir_text()
    return sig, ir_codegen(_AMX_NAME, lambda layout: parse_module(text, layout))


@jit
def bf16_rows(A32, n_rows):
    """``A32`` (float32, (n, d)) rounded to bfloat16 (to nearest, ties to even; as
    uint16 bits), in ``n_rows`` >= n rows of ``AMX_STEP``-multiple width, zeros
    around (finite input: no NaN to keep)."""
    n, d = A32.shape
    width = -(-d // AMX_STEP) * AMX_STEP
    out = np.zeros((n_rows, width), dtype=np.uint16)
    bits = A32.view(np.uint32)
    for i in range(n):
        for f in range(d):
            w = bits[i, f]
            w += np.uint32(0x7FFF) + ((w >> np.uint32(16)) & np.uint32(1))
            out[i, f] = np.uint16(w >> np.uint32(16))
    return out


def amx_layout(A16):
    """The B side of the tile products: ``A16`` (``bf16_rows``) as (n / 16, steps,
    16, 16, 2), [u, s, k, j, t] the feature 32 s + 2 k + t of row 16 u + j
    (pairs of features side by side, as TDPBF16PS reads them)."""
    n, width = A16.shape
    steps = width // AMX_STEP
    return np.ascontiguousarray(
        A16.reshape(n // AMX_TILE, AMX_TILE, steps, AMX_TILE, 2).transpose(0, 2, 3, 1, 4))


@jit
def _bf16_tiles(A32, n_rows):
    n, d = A32.shape
    width = -(-d // AMX_STEP) * AMX_STEP
    A16 = np.zeros((n_rows, width), dtype=np.uint16)
    B16 = np.zeros((n_rows // AMX_TILE, width // AMX_STEP, AMX_TILE, AMX_TILE, 2),
                   dtype=np.uint16)
    bits = A32.view(np.uint32)
    for i in range(n):
        u = i // AMX_TILE
        jj = i % AMX_TILE
        for f in range(d):
            w = bits[i, f]
            w += np.uint32(0x7FFF) + ((w >> np.uint32(16)) & np.uint32(1))
            h = np.uint16(w >> np.uint32(16))
            A16[i, f] = h
            B16[u, f // AMX_STEP, (f % AMX_STEP) // 2, jj, f % 2] = h
    return A16, B16


def bf16_tiles(A32, n_rows):
    """Both sides of the tile products for the rows ``A32`` (float32) padded to
    ``n_rows`` (a multiple of 16), in one pass: ``bf16_rows`` and its
    ``amx_layout`` (0.8 ms for 20,000 x 50 here, against 3.2 ms; threads made it
    slower)."""
    if n_rows % AMX_TILE or n_rows < A32.shape[0]:
        raise ValueError("bf16_tiles: n_rows must be a multiple of 16, at least the rows")
    return _bf16_tiles(np.ascontiguousarray(A32, dtype=np.float32), n_rows)


@jit
def amx_products(A16, B16, G):
    """``G[:] = A @ B.T`` for the rows ``A16`` (``bf16_rows``, at least G's rows)
    and the column tiles ``B16`` (``amx_layout``, at least G's columns / 16), in
    float32 sums of bfloat16 products: G's rows and columns multiples of 32, its
    rows contiguous. Call only where ``amx_available()``; the shapes are checked
    here, as the kernel indexes raw memory."""
    m, n = G.shape
    steps = A16.shape[1] // AMX_STEP
    if (m % 32 or n % 32 or A16.shape[0] < m or B16.shape[0] * AMX_TILE < n
            or B16.shape[1] != steps or B16.strides[0] != steps * 1024
            or G.strides[1] != 4 or A16.strides[1] != 2):
        raise ValueError("amx_products: shapes do not fit")
    _amx_products(A16, A16.strides[0], B16, G, G.strides[0], m // 32, n // 32, steps)

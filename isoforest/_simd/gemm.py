"""The symmetric brute force's vector kernels, written in LLVM IR: its block
products (AVX-512 register tiles, or AMX bfloat16 tiles) and its scan's first pass.

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
compiles (``_ir.simd_allowed``); elsewhere the BLAS path runs.

Where the host has AMX with bfloat16 products (Sapphire Rapids on), the block
products run on the tiles instead (``amx_products``): the rows rounded to bfloat16
(``bf16_rows``), 16 x 16 float32 sums of 32-feature steps, four at a time. Their
error is bfloat16's, ~2**-8 of the norms (``_kernels._gemm_margins`` gives its
bound), so the candidates' bound widens (on 20,000 x 50 the final lists keep ~25
rows a query for K = 21) while the exact recheck keeps the neighbours to the last
bit; 480 x 480 x 50 took ~60 us against ~130 for the AVX-512 tiles here, ~35 us
stored as whole tiles (``amx_products_tiled``).

``sym_marks`` is the scan's float32 first pass as bits, 16 columns a compare, for
products in either layout (``row_major_layout``, ``tiled_layout``).
"""

import functools

import numpy as np
from numba.core import types
from numba.extending import intrinsic

from .._config import jit, jit_inline, setting
from ._ir import (Emitter, host_has_amx_bf16, host_has_avx512, ir_codegen, ir_parses,
                  parse_module, request_amx, simd_allowed)

__all__ = ["available", "ROWS", "vectors_for", "block_products", "check_block_products",
           "amx_available", "AMX_STEP", "AMX_TILE", "bf16_rows", "amx_layout", "bf16_tiles",
           "amx_products", "amx_products_tiled", "check_amx_products",
           "check_amx_products_tiled", "emulated_amx_products",
           "emulated_amx_products_tiled", "tiled_layout", "row_major_layout", "sym_marks",
           "marks_available"]

#: Rows per tile.
ROWS = 8
def available():
    """Whether the symmetric search computes its block products here now (AVX-512F,
    Numba compiling, the ``simd`` setting on, an LLVM that reads the products' and
    the marks' IR: ``_ir.ir_parses``)."""
    return simd_allowed() and host_has_avx512() and _reads_ir()


@functools.lru_cache(maxsize=None)
def _reads_ir():
    return all(ir_parses(ir_text(v)) for v in (1, 2, 3)) and marks_available()


@functools.lru_cache(maxsize=None)
def marks_available():
    """Whether this LLVM reads the first pass's IR (``sym_marks``), which the AVX-512
    and AMX tiles and their emulation use."""
    return ir_parses(marks_ir_text())

_F = "<16 x float>"


def vectors_for(block):
    """Column vectors per tile for a block of ``block`` rows: 3 (8 x 48, the fastest
    measured) where it divides, else 1; 0 where no tile fits."""
    if block % ROWS or block % 16:
        return 0
    return 3 if block % 48 == 0 else 1


def function_name(vectors):
    return f"isoforest_block_products_v{vectors}"


def _tile_loops_open(e, n_cols, n_rows):
    """The IR of ``entry`` and the two loops over column tiles ``%u`` (outside)
    and row tiles ``%t`` (inside), up to ``%t``'s body at label ``k_pre``; the
    body ends by branching to ``k_done``, which must reach ``_tile_loops_close``."""
    e("entry:")
    e("  br label %u_head")
    e("u_head:")
    e("  %u = phi i64 [0, %entry], [%u_next, %t_done]")
    e(f"  %u_ok = icmp slt i64 %u, {n_cols}")
    e("  br i1 %u_ok, label %t_head, label %exit")
    e("t_head:")
    e("  %t = phi i64 [0, %u_head], [%t_next, %k_done]")
    e(f"  %t_ok = icmp slt i64 %t, {n_rows}")
    e("  br i1 %t_ok, label %k_pre, label %t_done")
    e("k_pre:")


def _tile_loops_close(e, *at_exit):
    """The two loops' ends after ``k_done``'s work, then ``exit`` (``at_exit``
    lines first) and the function's end."""
    e("  %t_next = add i64 %t, 1")
    e("  br label %t_head")
    e("t_done:")
    e("  %u_next = add i64 %u, 1")
    e("  br label %u_head")
    e("exit:")
    for line in at_exit:
        e(line)
    e("  ret void")
    e("}")


def ir_text(vectors):
    """LLVM IR of ``void @function_name(ptr A, i64 lda, ptr BT, i64 ldb, ptr G,
    i64 ldg, i64 row_tiles, i64 col_tiles, i64 d)``: for the tiles (t, u) below
    (row_tiles, col_tiles), ``G[i, j] = sum_k A[i, k] BT[k, j]`` for the rows
    ``i`` of tile t (``ROWS`` each) and the columns ``j`` of tile u (16 * vectors
    each); strides in floats."""
    if vectors not in (1, 2, 3):
        raise ValueError(f"vectors must be 1, 2 or 3, got {vectors}")
    R, V = ROWS, vectors
    e = Emitter()
    e(f"declare {_F} @llvm.fma.v16f32({_F}, {_F}, {_F})")
    e(f"define weak_odr void @{function_name(V)}(ptr %A, i64 %lda, ptr %BT, i64 %ldb, "
      "ptr %G, i64 %ldg, i64 %ntr, i64 %ntc, i64 %d) {")
    # columns outside, rows inside: a column tile's features (d x 16 vectors
    # floats) stay in L1 while every row tile passes
    _tile_loops_open(e, "%ntc", "%ntr")
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
    _tile_loops_close(e)
    return e.text()


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
def check_block_products(A, BT, G, vectors):
    """Raise ValueError unless ``block_products(A, BT, G, vectors)`` stays inside
    its arrays: the IR reads ``A[i * d + k]`` for i < m, k < d, ``BT[k * ldb + j]``
    for j < n and writes ``G[i * n + j]``, with ``(m, n) = G.shape``."""
    m, n = G.shape
    d = A.shape[1]
    if ((vectors != 1 and vectors != 3) or m % ROWS != 0 or n % (16 * vectors) != 0
            or A.shape[0] < m or BT.shape[0] < d or BT.shape[1] < n
            or A.strides[1] != 4 or A.strides[0] != 4 * d or BT.strides[1] != 4
            or BT.strides[0] % 4 != 0 or G.strides[1] != 4 or G.strides[0] != 4 * n):
        raise ValueError("block_products: shapes do not fit")


@jit
def block_products(A, BT, G, vectors):
    """``G[:] = A @ BT`` (float32; A (m, d) C-contiguous, BT (d, >= n) a view whose
    rows are contiguous, G (m, n) C-contiguous) by tiles: m a multiple of ``ROWS``,
    n of 16 * vectors. The shapes are checked here (``check_block_products``): the
    kernel indexes raw memory."""
    check_block_products(A, BT, G, vectors)
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
    compiles, the ``simd`` and ``amx`` settings are on, and Linux grants the tile
    data (asked on the first call, not at import)."""
    if not (simd_allowed() and setting("amx")):
        return False
    global _AMX
    if _AMX is None:
        _AMX = (host_has_amx_bf16() and ir_parses(amx_ir_text()) and marks_available()
                and request_amx())
    return _AMX


def amx_ir_text():
    """LLVM IR of ``void @isoforest_amx_bf16_products(ptr A, i64 lda, ptr B, ptr G,
    i64 trow, i64 tcol, i64 ldg, i64 row_pairs, i64 col_pairs, i64 steps)``: the
    16 x 16 output tile (r, q) at byte ``r trow + q tcol`` of ``G`` (float32, its
    rows ``ldg`` bytes apart), for the 32 x 32 output pairs (t, u) below
    (row_pairs, col_pairs),
    each the sum over ``steps`` of two A tiles (16 rows of 32 bfloat16 features,
    row stride ``lda`` bytes) by two B tiles (``amx_layout``: 1 KiB each, per
    16 columns and step). The compiler configures the tiles (``ldtilecfg``) on
    entry; they are released on exit."""
    T = "x86_amx"
    e = Emitter()
    e(f"declare {T} @llvm.x86.tileloadd64.internal(i16, i16, ptr, i64)")
    e(f"declare {T} @llvm.x86.tilezero.internal(i16, i16)")
    e(f"declare {T} @llvm.x86.tdpbf16ps.internal(i16, i16, i16, {T}, {T}, {T})")
    e(f"declare void @llvm.x86.tilestored64.internal(i16, i16, ptr, i64, {T})")
    e("declare void @llvm.x86.tilerelease()")
    e(f"define weak_odr void @{_AMX_NAME}(ptr %A, i64 %lda, ptr %B, ptr %G, i64 %trow, "
      "i64 %tcol, i64 %ldg, i64 %ntr2, i64 %ntc2, i64 %ks) #0 {")
    # column pairs outside (their B tiles stay in L1), row pairs inside
    _tile_loops_open(e, "%ntc2", "%ntr2")
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
    e("  %tt0 = mul i64 %t, 2")
    e("  %tt1 = add i64 %tt0, 1")
    e("  %g0 = mul i64 %tt0, %trow")
    e("  %g1 = mul i64 %tt1, %trow")
    e("  %c0 = mul i64 %u0, %tcol")
    e("  %c1 = add i64 %c0, %tcol")
    for c, (g, q) in enumerate([("g0", "c0"), ("g0", "c1"), ("g1", "c0"), ("g1", "c1")]):
        e(f"  %go{c} = add i64 %{g}, %{q}")
        e(f"  %gp{c} = getelementptr i8, ptr %G, i64 %go{c}")
        e(f"  call void @llvm.x86.tilestored64.internal(i16 16, i16 64, ptr %gp{c}, "
          f"i64 %ldg, {T} %acc{c})")
    _tile_loops_close(e, "  call void @llvm.x86.tilerelease()")
    e('attributes #0 = { "target-features"="+amx-tile,+amx-bf16" }')
    return e.text()


@intrinsic
def _amx_products(typingctx, A, lda, B, G, trow, tcol, ldg, row_pairs, col_pairs, steps):
    sig = types.void(A, lda, B, G, trow, tcol, ldg, row_pairs, col_pairs, steps)
    text = amx_ir_text()
    return sig, ir_codegen(_AMX_NAME, lambda layout: parse_module(text, layout))


@jit_inline
def _bf16_bits(w):
    """The bfloat16 (uint16 bits) nearest the float32 of bits ``w``, ties to even
    (finite input)."""
    w += np.uint32(0x7FFF) + ((w >> np.uint32(16)) & np.uint32(1))
    return np.uint16(w >> np.uint32(16))


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
            out[i, f] = _bf16_bits(bits[i, f])
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
            h = _bf16_bits(bits[i, f])
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
def check_amx_products(A16, B16, G):
    """Raise ValueError unless ``amx_products(A16, B16, G)`` (or its twin) stays
    inside its arrays."""
    m, n = G.shape
    steps = A16.shape[1] // AMX_STEP
    if (m % 32 or n % 32 or A16.shape[0] < m or B16.shape[0] * AMX_TILE < n
            or B16.shape[1] != steps or B16.strides[0] != steps * 1024
            or G.strides[1] != 4 or A16.strides[1] != 2):
        raise ValueError("amx_products: shapes do not fit")


@jit
def check_amx_products_tiled(A16, B16, G1, m, n):
    """Raise ValueError unless ``amx_products_tiled(A16, B16, G1, m, n)`` (or its
    twin) stays inside its arrays."""
    steps = A16.shape[1] // AMX_STEP
    if (m % 32 or n % 32 or m < 0 or A16.shape[0] < m or B16.shape[0] * AMX_TILE < n
            or B16.shape[1] != steps or B16.strides[0] != steps * 1024
            or G1.shape[0] < m * n or G1.strides[0] != 4 or A16.strides[1] != 2):
        raise ValueError("amx_products_tiled: shapes do not fit")


@jit
def amx_products(A16, B16, G):
    """``G[:] = A @ B.T`` for the rows ``A16`` (``bf16_rows``, at least G's rows)
    and the column tiles ``B16`` (``amx_layout``, at least G's columns / 16), in
    float32 sums of bfloat16 products: G's rows and columns multiples of 32, its
    rows contiguous. Call only where ``amx_available()``; the shapes are checked
    here, as the kernel indexes raw memory."""
    m, n = G.shape
    steps = A16.shape[1] // AMX_STEP
    check_amx_products(A16, B16, G)
    ldg = G.strides[0]
    _amx_products(A16, A16.strides[0], B16, G, AMX_TILE * ldg, 64, ldg, m // 32, n // 32,
                  steps)


@jit
def amx_products_tiled(A16, B16, G1, m, n):
    """As ``amx_products`` for an (m, n) product, each 16 x 16 tile stored whole:
    tile (r, q) at ``G1[(r * n / 16 + q) * 256:][:256]``, row-major inside (the
    tiles' stores were ~40% of a 480 x 480 block row-major, ~30% so): read it by
    ``tiled_layout(n)``'s offsets. m, n multiples of 32."""
    steps = A16.shape[1] // AMX_STEP
    check_amx_products_tiled(A16, B16, G1, m, n)
    _amx_products(A16, A16.strides[0], B16, G1, n * 64, 1024, 64, m // 32, n // 32, steps)


@jit_inline
def _bf16_value(h):
    """The float32 a bfloat16 (uint16 bits) stands for: its bits are the top half."""
    w = np.empty(1, dtype=np.uint32)
    w[0] = np.uint32(h) << np.uint32(16)
    return w.view(np.float32)[0]


@jit_inline
def _emulated_row(A16, i, a):
    """Row ``i`` of ``A16`` as float32 values, into ``a``."""
    for f in range(a.shape[0]):
        a[f] = _bf16_value(A16[i, f])


@jit_inline
def _emulated_entry(a, B16, j):
    """The product of a row (float32 values of bfloat16s) with row ``j`` of the B
    side (``amx_layout``): bfloat16 products (exact in float32: 8-bit
    significands) summed in float32 in feature order."""
    u = j // AMX_TILE
    jj = j % AMX_TILE
    acc = np.float32(0.0)
    for f in range(a.shape[0]):
        b = _bf16_value(B16[u, f // AMX_STEP, (f % AMX_STEP) // 2, jj, f % 2])
        acc = np.float32(acc + a[f] * b)
    return acc


@jit
def emulated_amx_products(A16, B16, G):
    """``amx_products`` without AMX: the same arguments, the same checks, products
    summed in float32 in feature order (``_emulated_entry``: a legitimate order
    within bfloat16's bound, not the hardware's bit for bit). Runs on any host, so the
    AMX branch of the symmetric search is tested everywhere."""
    m, n = G.shape
    steps = A16.shape[1] // AMX_STEP
    check_amx_products(A16, B16, G)
    a = np.empty(steps * AMX_STEP, dtype=np.float32)
    for i in range(m):
        _emulated_row(A16, i, a)
        for j in range(n):
            G[i, j] = _emulated_entry(a, B16, j)


@jit
def emulated_amx_products_tiled(A16, B16, G1, m, n):
    """``amx_products_tiled`` without AMX (see ``emulated_amx_products``)."""
    steps = A16.shape[1] // AMX_STEP
    check_amx_products_tiled(A16, B16, G1, m, n)
    a = np.empty(steps * AMX_STEP, dtype=np.float32)
    tiles = n // AMX_TILE
    for i in range(m):
        _emulated_row(A16, i, a)
        base = (i // AMX_TILE) * tiles * 256 + (i % AMX_TILE) * AMX_TILE
        for j in range(n):
            G1[base + (j // AMX_TILE) * 256 + j % AMX_TILE] = _emulated_entry(a, B16, j)


@jit
def tiled_layout(n):
    """(P, Q, R) of ``amx_products_tiled``'s layout for n columns: entry (a, b) at
    ``(a >> 4) P + (a & 15) Q + (b >> 4) R + (b & 15)``."""
    return 16 * n, 16, 256


@jit
def row_major_layout(ld):
    """(P, Q, R) of a row-major matrix with rows ``ld`` entries apart."""
    return 16 * ld, ld, 16


# ---------------------------------------------------------------------------
# the symmetric scan's first pass: marks as bits

_MARKS_NAME = "isoforest_sym_marks"


def marks_ir_text():
    """LLVM IR of ``void @isoforest_sym_marks(ptr G, i64 P, i64 Q, i64 R, i64 n_a,
    i64 n_b, ptr loJ, ptr limJ, ptr loI, ptr limI, i64 one_sided, ptr out, i64
    ldo)``: G[a, b] the float at ``(a >> 4) P + (a & 15) Q + (b >> 4) R + (b &
    15)`` (``row_major_layout``, ``tiled_layout``); for rows a < n_a and 16-column
    chunks c < ldo, the i16 ``out[a * ldo + c]`` whose bit k says, for column
    b = 16 c + k < n_b, ``loJ[b] - 2 G[a, b] <= limI[a]``
    or (unless one_sided) ``loI[a] - 2 G[a, b] <= limJ[b]``, in float32 with
    the operations of ``_kernels._sym_scan``'s first pass (a multiply, a
    subtraction, an ordered compare: no contraction). Chunks past n_b are
    zero; G, loJ and limJ are read up to the chunk holding column n_b - 1."""
    F = "<16 x float>"
    e = Emitter()
    e(f"define weak_odr void @{_MARKS_NAME}(ptr %G, i64 %P, i64 %Q, i64 %R, i64 %na, "
      "i64 %nb, "
      "ptr %loJ, ptr %limJ, ptr %loI, ptr %limI, i64 %one, ptr %out, i64 %ldo) {")
    e("entry:")
    e("  %nb15 = add i64 %nb, 15")
    e("  %nc = lshr i64 %nb15, 4")
    e("  %two_sided = icmp eq i64 %one, 0")
    e("  %ts1 = insertelement <16 x i1> undef, i1 %two_sided, i32 0")
    e("  %ts = shufflevector <16 x i1> %ts1, <16 x i1> undef, <16 x i32> zeroinitializer")
    e("  %nbi1 = insertelement <16 x i64> undef, i64 %nb, i32 0")
    e("  %nbv = shufflevector <16 x i64> %nbi1, <16 x i64> undef, <16 x i32> zeroinitializer")
    lanes = ", ".join(f"i64 {k}" for k in range(16))
    e("  br label %a_head")
    e("a_head:")
    e("  %a = phi i64 [0, %entry], [%a_next, %z_done]")
    e("  %a_ok = icmp slt i64 %a, %na")
    e("  br i1 %a_ok, label %a_body, label %exit")
    e("a_body:")
    e("  %lip = getelementptr float, ptr %limI, i64 %a")
    e("  %li = load float, ptr %lip, align 4")
    e("  %lop = getelementptr float, ptr %loI, i64 %a")
    e("  %lo = load float, ptr %lop, align 4")
    e(f"  %li1 = insertelement {F} undef, float %li, i32 0")
    e(f"  %liv = shufflevector {F} %li1, {F} undef, <16 x i32> zeroinitializer")
    e(f"  %lo1 = insertelement {F} undef, float %lo, i32 0")
    e(f"  %lov = shufflevector {F} %lo1, {F} undef, <16 x i32> zeroinitializer")
    e("  %ah = lshr i64 %a, 4")
    e("  %al = and i64 %a, 15")
    e("  %gph = mul i64 %ah, %P")
    e("  %gql = mul i64 %al, %Q")
    e("  %grow = add i64 %gph, %gql")
    e("  %orow = mul i64 %a, %ldo")
    e("  br label %c_head")
    e("c_head:")
    e("  %c = phi i64 [0, %a_body], [%c_next, %c_body]")
    e("  %c_ok = icmp slt i64 %c, %nc")
    e("  br i1 %c_ok, label %c_body, label %z_head")
    e("c_body:")
    e("  %col = mul i64 %c, 16")
    e("  %gc = mul i64 %c, %R")
    e("  %gi = add i64 %grow, %gc")
    e("  %gp = getelementptr float, ptr %G, i64 %gi")
    e(f"  %g = load {F}, ptr %gp, align 4")
    e(f"  %g2 = fmul {F} %g, " + "<" + ", ".join(["float 2.0"] * 16) + ">")
    e("  %ljp = getelementptr float, ptr %loJ, i64 %col")
    e(f"  %lj = load {F}, ptr %ljp, align 4")
    e("  %mjp = getelementptr float, ptr %limJ, i64 %col")
    e(f"  %mj = load {F}, ptr %mjp, align 4")
    e(f"  %d1 = fsub {F} %lj, %g2")
    e(f"  %t1 = fcmp ole {F} %d1, %liv")
    e(f"  %d2 = fsub {F} %lov, %g2")
    e(f"  %t2a = fcmp ole {F} %d2, %mj")
    e("  %t2 = and <16 x i1> %t2a, %ts")
    e("  %t = or <16 x i1> %t1, %t2")
    e("  %c1 = insertelement <16 x i64> undef, i64 %col, i32 0")
    e("  %cv = shufflevector <16 x i64> %c1, <16 x i64> undef, <16 x i32> zeroinitializer")
    e(f"  %bv = add <16 x i64> %cv, <{lanes}>")
    e("  %inb = icmp slt <16 x i64> %bv, %nbv")
    e("  %m = and <16 x i1> %t, %inb")
    e("  %bits = bitcast <16 x i1> %m to i16")
    e("  %oi = add i64 %orow, %c")
    e("  %op = getelementptr i16, ptr %out, i64 %oi")
    e("  store i16 %bits, ptr %op, align 2")
    e("  %c_next = add i64 %c, 1")
    e("  br label %c_head")
    # zero the chunks past n_b up to the row's stride
    e("z_head:")
    e("  %z = phi i64 [%nc, %c_head], [%z_next, %z_body]")
    e("  %z_ok = icmp slt i64 %z, %ldo")
    e("  br i1 %z_ok, label %z_body, label %z_done")
    e("z_body:")
    e("  %zi = add i64 %orow, %z")
    e("  %zp = getelementptr i16, ptr %out, i64 %zi")
    e("  store i16 0, ptr %zp, align 2")
    e("  %z_next = add i64 %z, 1")
    e("  br label %z_head")
    e("z_done:")
    e("  %a_next = add i64 %a, 1")
    e("  br label %a_head")
    e("exit:")
    e("  ret void")
    e("}")
    return e.text()


@intrinsic
def _sym_marks(typingctx, G, P, Q, R, n_a, n_b, loJ, limJ, loI, limI, one_sided, out, ldo):
    sig = types.void(G, P, Q, R, n_a, n_b, loJ, limJ, loI, limI, one_sided, out, ldo)
    text = marks_ir_text()
    return sig, ir_codegen(_MARKS_NAME, lambda layout: parse_module(text, layout))


@jit
def sym_marks(G1, P, Q, R, n_a, n_b, loJ, limJ, loI, limI, one_sided, out):
    """The symmetric scan's first pass over the products ``G1`` (float32, flat, in
    the (P, Q, R) layout of ``marks_ir_text``) for rows < n_a, columns < n_b, as
    bits: ``out`` (uint16, (>= n_a, ldo), ldo * 16 >= n_b). The shapes are checked
    here: the kernel indexes raw memory. Plain IR vectors: any host LLVM targets
    (used with the AMX and AVX-512 tiles)."""
    chunks = -(-n_b // 16)
    reach = chunks * 16
    last = 0
    if n_a > 0 and chunks > 0:
        a = n_a - 1
        last = (a >> 4) * P + (a & 15) * Q + (chunks - 1) * R + 15
    if (n_a > out.shape[0] or n_a > loI.shape[0] or n_a > limI.shape[0]
            or last >= G1.shape[0] or reach > loJ.shape[0] or reach > limJ.shape[0]
            or out.shape[1] * 16 < n_b or min(P, Q, R) < 0
            or G1.strides[0] != 4 or out.strides[1] != 2 or loJ.strides[0] != 4
            or limJ.strides[0] != 4 or loI.strides[0] != 4 or limI.strides[0] != 4):
        raise ValueError("sym_marks: shapes do not fit")
    _sym_marks(G1, P, Q, R, n_a, n_b, loJ, limJ, loI, limI, 1 if one_sided else 0, out,
               out.strides[0] // 2)

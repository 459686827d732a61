"""Vector walk of Extended Isolation Forest trees, written in LLVM IR.

Why IR: the lock-step kernel (``_eif_kernels.path_length_sum_blocked``) spends its
time on scalar multiply-adds: each row's dot product is a chain summed in feature
order, and LLVM vectorises nothing there (the normals a block of rows needs sit at
different nodes, a gather per feature). This walk keeps every row's sum in feature
order and vectorises across rows without gathers:

* each node is one row of a table of ``W`` float64 (``W = width(n_features)``, a
  multiple of 8): the normal, then the intercept, the next node's offset on each
  side (``node * W``, exact in float64) and the node's leaf value. Each row of data
  is padded the same way, with 1.0 under those four slots;
* for 8 rows, each row's node row is loaded 8 slots at a time and multiplied by the
  row's own values (one vector per row), and the 8 products are transposed in
  registers (three rounds of shuffles) into one vector per slot, lanes = rows. The
  feature slots are then added in feature order, from 0.0, exactly as the scalar
  ``s += x[j] * normal[j]``; the intercept, the two offsets and the leaf value come
  out of the same transpose (times 1.0: the same numbers);
* a lane goes right when not ``s <= intercept`` and takes that side's offset; the
  next level loads the node rows at the lanes' offsets. ``GROUPS`` sets of 8 rows
  walk at once (their chains of dependent adds overlap).

Leaves point to themselves, so ``n_levels`` steps end every walk at its leaf
whatever the leaf's normal holds. The result is the scalar kernel's to the last
bit. The IR is plain LLVM (no target intrinsics): it compiles for any CPU, and
uses AVX-512 where the host has it. The walk indexes raw memory and checks
nothing itself: ``_eif_kernels.check_simd_table`` checks every offset of a table
when it is made, and ``check_simd_walk`` the shapes on every call.
"""

import functools

from numba.core import types
from numba.extending import intrinsic

from ._ir import Emitter, ir_codegen, ir_parses, parse_module, simd_allowed

__all__ = ["available", "GROUPS", "LANES", "MAX_FEATURES", "ROWS", "width", "ir_text",
           "walk_intrinsic"]

#: Rows per vector.
LANES = 8
#: Sets of ``LANES`` rows walked at once (200,000 x 10, 100 trees, one thread here:
#: 1: 0.43 s, 2: 0.28 s, 3: 0.34 s, 4: 0.33 s).
GROUPS = 2
#: Rows walked together; tiles of rows are a multiple of this.
ROWS = LANES * GROUPS
#: Widest data the walk is generated for (its code grows with the width).
MAX_FEATURES = 60
#: Slots after the normal: intercept, left offset, right offset, leaf value.
EXTRA = 4

_D = f"<{LANES} x double>"

def available():
    """Whether scoring uses the vector walk now (Numba compiling, the ``simd``
    setting on, an LLVM that reads the walk's IR: ``_ir.ir_parses``)."""
    return simd_allowed() and _reads_ir()


@functools.lru_cache(maxsize=None)
def _reads_ir():
    return ir_parses(ir_text(3))  # every width is written with the same constructs


def width(n_features):
    """Slots per node row (and per data row) for ``n_features`` columns."""
    return -(-(n_features + EXTRA) // LANES) * LANES


def _mask(pairs):
    return "<" + ", ".join(f"i32 {p}" for p in pairs) + ">"


def _transpose(e, vecs):
    """``out[j]`` lane ``k`` = ``vecs[k]`` lane ``j``, for 8 vectors of 8 doubles.

    Three rounds of two-input shuffles; which lane holds what is tracked as labels
    ``(k, j)`` while emitting, so the masks are derived, not hand-written.
    """
    labels = [[(k, j) for j in range(LANES)] for k in range(LANES)]
    names = list(vecs)
    for span in (1, 2, 4):
        new_names, new_labels = [None] * LANES, [None] * LANES
        for a in range(LANES):
            if a & span:
                continue
            b = a + span
            # lo takes element blocks of size `span` at even block positions from a,
            # then b; hi the odd ones
            for out, parity in ((a, 0), (b, 1)):
                mask, lab = [], []
                for blk in range(LANES // (2 * span)):
                    src = 2 * blk + parity
                    for i in range(span):
                        mask.append(src * span + i)
                        lab.append(labels[a][src * span + i])
                    for i in range(span):
                        mask.append(LANES + src * span + i)
                        lab.append(labels[b][src * span + i])
                s = e.new("t")
                e(f"  {s} = shufflevector {_D} {names[a]}, {_D} {names[b]}, "
                  f"<{LANES} x i32> {_mask(mask)}")
                new_names[out], new_labels[out] = s, lab
        names, labels = new_names, new_labels
    out = [None] * LANES
    for v in range(LANES):
        js = {j for _, j in labels[v]}
        ks = [k for k, _ in labels[v]]
        assert len(js) == 1 and ks == list(range(LANES)), labels[v]
        out[js.pop()] = names[v]
    return out


def function_name(n_features):
    return f"isoforest_eif_walk_f{n_features}_g{GROUPS}"


def ir_text(n_features):
    """LLVM IR of ``void @function_name(ptr xr, i64 n_sets, ptr table, i64 root,
    i64 n_levels, ptr total)``.

    ``xr``: ``n_sets * ROWS`` data rows of ``width(n_features)`` float64; ``table``:
    node rows as the module docstring says, ``root`` the tree's root offset
    (``root node * W``). For each row ``i``: ``total[i] += leaf value`` of the leaf
    it reaches in ``n_levels`` steps.
    """
    if not 1 <= n_features <= MAX_FEATURES:
        raise ValueError(f"n_features must be in [1, {MAX_FEATURES}], got {n_features}")
    W = width(n_features)
    nf = n_features
    e = Emitter()
    e(f"define weak_odr void @{function_name(nf)}(ptr %xr, i64 %nsets, ptr %table, "
      f"i64 %root, i64 %nlevels, ptr %total) {{")
    e("entry:")
    e("  %any = icmp sgt i64 %nsets, 0")
    e("  br i1 %any, label %set_head, label %done")
    e("set_head:")
    e("  %s = phi i64 [0, %entry], [%sn, %set_latch]")
    e(f"  %r0 = mul i64 %s, {ROWS}")
    e("  %walk = icmp sgt i64 %nlevels, 0")
    e("  br i1 %walk, label %lvl, label %set_latch")
    e("lvl:")
    lanes = [(g, k) for g in range(GROUPS) for k in range(LANES)]
    node = {gk: f"%node.{gk[0]}.{gk[1]}" for gk in lanes}
    nxt = {}
    body = Emitter()
    body.n = 1000
    # row base pointers (loop-invariant; LLVM hoists them)
    xrow = {}
    for g, k in lanes:
        ri, ro, p = body.new("ri"), body.new("ro"), body.new("xp")
        body(f"  {ri} = add i64 %r0, {LANES * g + k}")
        body(f"  {ro} = mul i64 {ri}, {W}")
        body(f"  {p} = getelementptr double, ptr %xr, i64 {ro}")
        xrow[g, k] = p
    trow = {}
    for g, k in lanes:
        p = body.new("tp")
        body(f"  {p} = getelementptr double, ptr %table, i64 {node[g, k]}")
        trow[g, k] = p
    acc = {g: "0.0" for g in range(GROUPS)}
    extra = {g: {} for g in range(GROUPS)}
    first = {g: True for g in range(GROUPS)}
    for c in range(W // LANES):
        slots = range(LANES * c, LANES * (c + 1))
        if all(s >= nf + EXTRA - 1 for s in slots):  # only the leaf value: not needed here
            break
        for g in range(GROUPS):
            prods = []
            for k in range(LANES):
                tp, t, xp, x, p = (body.new("tc"), body.new("tv"), body.new("xc"),
                                   body.new("xv"), body.new("pr"))
                body(f"  {tp} = getelementptr double, ptr {trow[g, k]}, i64 {LANES * c}")
                body(f"  {t} = load {_D}, ptr {tp}, align 8")
                body(f"  {xp} = getelementptr double, ptr {xrow[g, k]}, i64 {LANES * c}")
                body(f"  {x} = load {_D}, ptr {xp}, align 8")
                body(f"  {p} = fmul {_D} {x}, {t}")
                prods.append(p)
            cols = _transpose(body, prods)
            for i, s in enumerate(slots):
                if s < nf:  # feature order, from 0.0: the scalar sum's rounding
                    a = body.new("acc")
                    prev = "zeroinitializer" if first[g] else acc[g]
                    body(f"  {a} = fadd {_D} {prev}, {cols[i]}")
                    acc[g], first[g] = a, False
                elif s < nf + 3:
                    extra[g][s - nf] = cols[i]
    for g in range(GROUPS):
        right, off, oi = body.new("right"), body.new("off"), body.new("oi")
        icpt, left_off, right_off = extra[g][0], extra[g][1], extra[g][2]
        body(f"  {right} = fcmp ugt {_D} {acc[g]}, {icpt}")
        body(f"  {off} = select <{LANES} x i1> {right}, {_D} {right_off}, {_D} {left_off}")
        body(f"  {oi} = fptosi {_D} {off} to <{LANES} x i64>")
        for k in range(LANES):
            v = body.new("nn")
            body(f"  {v} = extractelement <{LANES} x i64> {oi}, i32 {k}")
            nxt[g, k] = v
    for g, k in lanes:
        e(f"  {node[g, k]} = phi i64 [%root, %set_head], [{nxt[g, k]}, %lvl]")
    e("  %l = phi i64 [0, %set_head], [%ln, %lvl]")
    e.lines.extend(body.lines)
    e.n = body.n
    e("  %ln = add i64 %l, 1")
    e("  %more = icmp slt i64 %ln, %nlevels")
    e("  br i1 %more, label %lvl, label %set_latch")
    e("set_latch:")
    fins = {}
    for g, k in lanes:  # phis first, at the top of the block
        fins[g, k] = e.new("fin")
        e(f"  {fins[g, k]} = phi i64 [%root, %set_head], [{nxt[g, k]}, %lvl]")
    for g, k in lanes:
        fin = fins[g, k]
        lp, lv, ri, tp, tv, sm = (e.new("lp"), e.new("lv"), e.new("ri"), e.new("sp"),
                                  e.new("sv"), e.new("sm"))
        e(f"  {lp} = getelementptr double, ptr %table, i64 {fin}")
        e(f"  {lp}.l = getelementptr double, ptr {lp}, i64 {nf + 3}")
        e(f"  {lv} = load double, ptr {lp}.l, align 8")
        e(f"  {ri} = add i64 %r0, {LANES * g + k}")
        e(f"  {tp} = getelementptr double, ptr %total, i64 {ri}")
        e(f"  {tv} = load double, ptr {tp}, align 8")
        e(f"  {sm} = fadd double {tv}, {lv}")
        e(f"  store double {sm}, ptr {tp}, align 8")
    e("  %sn = add i64 %s, 1")
    e("  %smore = icmp slt i64 %sn, %nsets")
    e("  br i1 %smore, label %set_head, label %done")
    e("done:")
    e("  ret void")
    e("}")
    return e.text()


_INTRINSICS = {}


def walk_intrinsic(n_features):
    """A Numba intrinsic ``walk(xr, n_sets, table, root, n_levels, total)`` running
    ``ir_text(n_features)`` (float64 arrays ``xr``, ``table`` and ``total``)."""
    key = int(n_features)
    if key in _INTRINSICS:
        return _INTRINSICS[key]
    ir_text(key)  # validates the argument now rather than at compile time
    name = function_name(key)

    def walk(typingctx, xr, n_sets, table, root, n_levels, total):
        sig = types.void(xr, n_sets, table, root, n_levels, total)
        return sig, ir_codegen(name, lambda layout: parse_module(ir_text(key), layout))

    walk.__name__ = name
    _INTRINSICS[key] = intrinsic(walk)
    return _INTRINSICS[key]

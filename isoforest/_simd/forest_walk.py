"""AVX-512 tree walk for Isolation Forest scoring, written in LLVM IR.

Why IR: the scalar kernel (``_kernels._score_block``) walks eight rows in
lockstep and is bound by its chain of dependent loads (node -> feature -> value).
LLVM does not vectorise that walk, and AVX-512 gathers measured here cost about as
much as the scalar walk itself. This kernel walks 16 rows per vector and gathers
almost nothing:

* a group of 16 rows is laid out feature-major: one vector per feature;
* the nodes of level ``l`` of a complete tree are contiguous (slots
  ``2**l - 1 .. 2**(l+1) - 2``). On levels of at most 8 nodes each node's feature
  is a scalar, so each node's row values are one vector load and the lane's own
  node picks among them (a tree of selects on the bits of its position). Below
  that, a lane's feature and threshold come from in-register permutes of the
  level's table (``vpermd`` for 16 nodes, ``vpermi2d`` for 32, several and selects
  for 64 and 128), and its row value from a tree of selects over the feature
  vectors (or a gather for more than ``MAX_SELECT_FEATURES`` features);
* three trees are walked at once (independent chains that overlap; measured
  faster than two, no slower than four) and their leaf values are added to each
  row's sum in tree order, so every sum is the scalar kernel's to the last bit.

The code is generated for one tree depth and one feature count at a time (small
functions that compile in well under a second) and linked into the Numba function
that calls the intrinsic ``walk_intrinsic(depth, n_select)`` returns. It is used
only where the host CPU has AVX-512F and Numba compiles (not under
``NUMBA_DISABLE_JIT``); the ``simd`` setting turns it off. The kernel indexes raw
memory and checks nothing itself: the scoring kernels that call it first run
``_kernels.check_complete_walk`` (arrays padded as ``PAD`` says, node features
below the data's feature count), since bounds checking cannot reach into IR.
"""

import functools

from numba.core import types
from numba.extending import intrinsic

from ._ir import (Emitter, host_has_avx512, ir_codegen, ir_parses, parse_module,
                  simd_allowed)

__all__ = ["available", "LANES", "MAX_DEPTH", "MAX_SELECT_FEATURES", "PAD", "walk_intrinsic"]

#: Rows per vector.
LANES = 16
#: Deepest complete tree the kernel walks.
MAX_DEPTH = 10
#: Features held as vectors and selected per lane; more features gather the value.
MAX_SELECT_FEATURES = 16
#: Spare entries the node arrays (feature, threshold) need after the last tree:
#: levels of fewer than 16 nodes still load 16 entries from their first slot.
PAD = 16
# Levels with at most this many nodes load each node's row values directly.
_DIRECT_NODES = 8
# Levels with at most this many nodes read their tables by permutes; deeper gather.
_PERMUTE_NODES = 128
# Trees walked at once for each group (2: 137 ms, 3: 120 ms, 4: 121 ms on the
# 1,000,000 x 10 benchmark here).
_TREES_AT_ONCE = 3


def available():
    """Whether scoring uses the vector kernel now (AVX-512F, Numba compiling, the
    ``simd`` setting on, an LLVM that reads the kernel's IR: ``_ir.ir_parses``)."""
    return simd_allowed() and host_has_avx512() and _reads_ir()


@functools.lru_cache(maxsize=None)
def _reads_ir():
    # depth 8 holds both ways of reading a level (permutes, then gathers); n_select
    # 0 gathers the features and 3 holds them in registers
    return ir_parses(ir_text(8, 0)) and ir_parses(ir_text(8, 3))


_V = f"<{LANES} x i32>"
_F = f"<{LANES} x float>"
_M = f"<{LANES} x i1>"
_P = f"<{LANES} x ptr>"
_D8 = "<8 x double>"
_ALL16 = "<" + ", ".join(["i1 true"] * LANES) + ">"
_ALL8 = "<" + ", ".join(["i1 true"] * 8) + ">"
_LANE_IDS = "<" + ", ".join(f"i32 {i}" for i in range(LANES)) + ">"
_DECLARATIONS = [
    f"declare {_V} @llvm.x86.avx512.permvar.si.512({_V}, {_V})",
    f"declare {_F} @llvm.x86.avx512.permvar.sf.512({_F}, {_V})",
    f"declare {_V} @llvm.x86.avx512.vpermi2var.d.512({_V}, {_V}, {_V})",
    f"declare {_F} @llvm.x86.avx512.vpermi2var.ps.512({_F}, {_V}, {_F})",
    f"declare {_V} @llvm.masked.gather.v16i32.v16p0({_P}, {_M}, {_V})",
    f"declare {_F} @llvm.masked.gather.v16f32.v16p0({_P}, {_M}, {_F})",
    f"declare {_D8} @llvm.masked.gather.v8f64.v8p0(<8 x ptr>, <8 x i1>, {_D8})",
]


def _const(value):
    return "<" + ", ".join([f"i32 {value}"] * LANES) + ">"


class _WalkEmitter(Emitter):
    """The emitter with the walk's two vector idioms."""

    def bit_mask(self, vec, bit):
        """The lanes of ``vec`` whose bit ``bit`` is set."""
        m, c = self.new("and"), self.new("bit")
        self(f"  {m} = and {_V} {vec}, {_const(1 << bit)}")
        self(f"  {c} = icmp ne {_V} {m}, zeroinitializer")
        return c

    def select_tree(self, ty, values, index, first_bit=0):
        """``values[index]`` per lane: selects on bits ``first_bit, ...`` of
        ``index`` (an odd one out passes up unchanged; indexes stay in range)."""
        bit = first_bit
        while len(values) > 1:
            c = self.bit_mask(index, bit)
            nxt = []
            for j in range(0, len(values) - 1, 2):
                s = self.new("sel")
                self(f"  {s} = select {_M} {c}, {ty} {values[j + 1]}, {ty} {values[j]}")
                nxt.append(s)
            if len(values) % 2:
                nxt.append(values[-1])
            values = nxt
            bit += 1
        return values[0]


def _table(e, kind, base, n_nodes, p):
    """Each lane's entry ``p`` of a level's table (``kind`` 'i32' feature or 'float'
    threshold) of ``n_nodes`` entries starting at ``base``."""
    vec = _V if kind == "i32" else _F
    if n_nodes == 1:
        s, ins, out = e.new("s"), e.new("ins"), e.new("splat")
        e(f"  {s} = load {kind}, ptr {base}, align 4")
        e(f"  {ins} = insertelement {vec} poison, {kind} {s}, i32 0")
        e(f"  {out} = shufflevector {vec} {ins}, {vec} poison, {_V} zeroinitializer")
        return out
    if n_nodes <= 16:
        tab, out = e.new("tab"), e.new("perm")
        name = "si" if kind == "i32" else "sf"
        e(f"  {tab} = load {vec}, ptr {base}, align 4")
        e(f"  {out} = call {vec} @llvm.x86.avx512.permvar.{name}.512({vec} {tab}, {_V} {p})")
        return out
    if n_nodes <= _PERMUTE_NODES:
        name = "d" if kind == "i32" else "ps"
        pieces = []
        for h in range(n_nodes // 32):
            halves = []
            for q in range(2):
                ptr, tab = e.new("tp"), e.new("tab")
                e(f"  {ptr} = getelementptr {kind}, ptr {base}, i64 {32 * h + 16 * q}")
                e(f"  {tab} = load {vec}, ptr {ptr}, align 4")
                halves.append(tab)
            out = e.new("perm")
            e(f"  {out} = call {vec} @llvm.x86.avx512.vpermi2var.{name}.512"
              f"({vec} {halves[0]}, {_V} {p}, {vec} {halves[1]})")
            pieces.append(out)
        return e.select_tree(vec, pieces, p, first_bit=5)
    ptrs, out = e.new("gp"), e.new("gat")
    e(f"  {ptrs} = getelementptr {kind}, ptr {base}, {_V} {p}")
    e(f"  {out} = call {vec} @llvm.masked.gather.v16{'i32' if kind == 'i32' else 'f32'}.v16p0"
      f"({_P} align 4 {ptrs}, {_M} {_ALL16}, {vec} poison)")
    return out


def _row_values(e, feat_level, n_nodes, p, f_regs, group):
    """Each lane's row value of the feature its node splits on."""
    if n_nodes <= _DIRECT_NODES:
        values = []
        for n in range(n_nodes):
            fp, f, vp, v = e.new("fp"), e.new("f"), e.new("vp"), e.new("v")
            e(f"  {fp} = getelementptr i32, ptr {feat_level}, i64 {n}")
            e(f"  {f} = load i32, ptr {fp}, align 4")
            e(f"  {vp} = getelementptr {_F}, ptr {group}, i32 {f}")
            e(f"  {v} = load {_F}, ptr {vp}, align 4")
            values.append(v)
        return e.select_tree(_F, values, p)
    f = _table(e, "i32", feat_level, n_nodes, p)
    if f_regs is not None:
        return e.select_tree(_F, f_regs, f)
    sh, idx, ptrs, out = e.new("sh"), e.new("xi"), e.new("xp"), e.new("xg")
    e(f"  {sh} = shl {_V} {f}, {_const(4)}")
    e(f"  {idx} = or {_V} {sh}, {_LANE_IDS}")
    e(f"  {ptrs} = getelementptr float, ptr {group}, {_V} {idx}")
    e(f"  {out} = call {_F} @llvm.masked.gather.v16f32.v16p0"
      f"({_P} align 4 {ptrs}, {_M} {_ALL16}, {_F} poison)")
    return out


def _walk(e, depth, tree, f_regs, group):
    """Walk one tree for a group; returns its two halves of 8 leaf values."""
    feat, thr, leaf = tree
    p = "zeroinitializer"  # position in the level = leaf index at the end
    for level in range(depth):
        n_nodes, first = 1 << level, (1 << level) - 1
        fl, tl = e.new("fl"), e.new("tl")
        e(f"  {fl} = getelementptr i32, ptr {feat}, i64 {first}")
        e(f"  {tl} = getelementptr float, ptr {thr}, i64 {first}")
        t = _table(e, "float", tl, n_nodes, p)
        x = _row_values(e, fl, n_nodes, p, f_regs, group)
        right, twice, odd, nxt = e.new("right"), e.new("twice"), e.new("odd"), e.new("p")
        # right when not (x <= t): a NaN threshold sends every number right
        e(f"  {right} = fcmp ugt {_F} {x}, {t}")
        e(f"  {twice} = shl {_V} {p}, {_const(1)}")
        e(f"  {odd} = or {_V} {twice}, {_const(1)}")
        e(f"  {nxt} = select {_M} {right}, {_V} {odd}, {_V} {twice}")
        p = nxt
    halves = []
    for h in range(2):
        idx, ptrs, v = e.new("li"), e.new("lp"), e.new("lv")
        lanes = ", ".join(f"i32 {8 * h + i}" for i in range(8))
        e(f"  {idx} = shufflevector {_V} {p}, {_V} poison, <8 x i32> <{lanes}>")
        e(f"  {ptrs} = getelementptr double, ptr {leaf}, <8 x i32> {idx}")
        e(f"  {v} = call {_D8} @llvm.masked.gather.v8f64.v8p0(<8 x ptr> align 8 {ptrs}, "
          f"<8 x i1> {_ALL8}, {_D8} poison)")
        halves.append(v)
    return halves


def _group(e, g, trees, depth, n_select):
    """Walk ``trees`` for group ``g`` and add their leaf values in tree order."""
    offset, group = e.new("go"), e.new("group")
    e(f"  {offset} = mul i64 {g}, %nvec")
    e(f"  {group} = getelementptr {_F}, ptr %xt, i64 {offset}")
    f_regs = None
    if n_select:
        f_regs = []
        for j in range(n_select):
            rp, r = e.new("rp"), e.new("r")
            e(f"  {rp} = getelementptr {_F}, ptr {group}, i64 {j}")
            e(f"  {r} = load {_F}, ptr {rp}, align 4")
            f_regs.append(r)
    values = [_walk(e, depth, tree, f_regs, group) for tree in trees]
    g2, lo, hi = e.new("g2"), e.new("acc_lo"), e.new("acc_hi")
    e(f"  {g2} = shl i64 {g}, 1")
    e(f"  {lo} = getelementptr {_D8}, ptr %acc, i64 {g2}")
    e(f"  {hi} = getelementptr double, ptr {lo}, i64 8")
    for h, ptr in enumerate((lo, hi)):
        a = e.new("a")
        e(f"  {a} = load {_D8}, ptr {ptr}, align 8")
        for v in values:  # tree order: the scalar kernel's sum, bit for bit
            a2 = e.new("a")
            e(f"  {a2} = fadd {_D8} {a}, {v[h]}")
            a = a2
        e(f"  store {_D8} {a}, ptr {ptr}, align 8")


def _tree(e, t, k, depth):
    """Pointers to the node and leaf arrays of tree ``t + k``."""
    tk, ib, lb = e.new("tk"), e.new("ib"), e.new("lb")
    e(f"  {tk} = add i64 {t}, {k}")
    e(f"  {ib} = mul i64 {tk}, {(1 << depth) - 1}")
    e(f"  {lb} = mul i64 {tk}, {1 << depth}")
    ft, tt, lt = e.new("ft"), e.new("tt"), e.new("lt")
    e(f"  {ft} = getelementptr i32, ptr %feat, i64 {ib}")
    e(f"  {tt} = getelementptr float, ptr %thr, i64 {ib}")
    e(f"  {lt} = getelementptr double, ptr %leaf, i64 {lb}")
    return ft, tt, lt


def function_name(depth, n_select):
    return f"isoforest_walk_d{depth}_s{n_select}"


def ir_text(depth, n_select):
    """LLVM IR of ``void @function_name(ptr xt, i64 ngroups, ptr feat, ptr thr,
    ptr leaf, i64 ntrees, i64 nvec, ptr acc)``.

    For each tree in order and each group ``g`` of 16 rows:
    ``acc[16 g + lane] += leaf value``. ``xt`` holds the groups one after another,
    ``nvec`` vectors of 16 float32 each (one per feature). ``n_select`` > 0: the
    data have that many features, held in registers; 0: gathered.
    """
    if not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be in [1, {MAX_DEPTH}], got {depth}")
    if not 0 <= n_select <= MAX_SELECT_FEATURES:
        raise ValueError(f"n_select must be in [0, {MAX_SELECT_FEATURES}], got {n_select}")
    e = _WalkEmitter()
    for line in _DECLARATIONS:
        e(line)
    e(f"define weak_odr void @{function_name(depth, n_select)}(ptr %xt, i64 %ngroups, "
      f"ptr %feat, ptr %thr, ptr %leaf, i64 %ntrees, i64 %nvec, ptr %acc) {{")
    e("entry:")
    e("  br label %w_head")
    # _TREES_AT_ONCE trees at a time, then the rest one at a time
    for width, tag, prev, start, after in ((_TREES_AT_ONCE, "w", "entry", "0", "s_head"),
                                           (1, "s", "w_head", "%w_t", "done")):
        e(f"{tag}_head:")
        e(f"  %{tag}_t = phi i64 [{start}, %{prev}], [%{tag}_tn, %{tag}_latch]")
        e(f"  %{tag}_end = add i64 %{tag}_t, {width}")
        e(f"  %{tag}_ok = icmp sle i64 %{tag}_end, %ntrees")
        e(f"  br i1 %{tag}_ok, label %{tag}_trees, label %{after}")
        e(f"{tag}_trees:")
        trees = [_tree(e, f"%{tag}_t", k, depth) for k in range(width)]
        e(f"  br label %{tag}_group")
        e(f"{tag}_group:")
        e(f"  %{tag}_g = phi i64 [0, %{tag}_trees], [%{tag}_gn, %{tag}_group]")
        _group(e, f"%{tag}_g", trees, depth, n_select)
        e(f"  %{tag}_gn = add i64 %{tag}_g, 1")
        e(f"  %{tag}_more = icmp slt i64 %{tag}_gn, %ngroups")
        e(f"  br i1 %{tag}_more, label %{tag}_group, label %{tag}_latch")
        e(f"{tag}_latch:")
        e(f"  %{tag}_tn = add i64 %{tag}_t, {width}")
        e(f"  br label %{tag}_head")
    e("done:")
    e("  ret void")
    e("}")
    return e.text()


def _module(depth, n_select, data_layout):
    return parse_module(ir_text(depth, n_select), data_layout)


_INTRINSICS = {}


def walk_intrinsic(depth, n_select):
    """A Numba intrinsic ``walk(xt, n_groups, feat, thr, leaf, n_trees, n_vec, acc)``
    running ``ir_text(depth, n_select)`` (arrays: float32 ``xt``, uint32 ``feat``
    and float32 ``thr`` of complete trees plus ``PAD`` spare entries, float64
    ``leaf`` and ``acc``)."""
    key = (int(depth), int(n_select))
    if key in _INTRINSICS:
        return _INTRINSICS[key]
    ir_text(*key)  # validates the arguments now rather than at compile time
    name = function_name(*key)

    def walk(typingctx, xt, n_groups, feat, thr, leaf, n_trees, n_vec, acc):
        sig = types.void(xt, n_groups, feat, thr, leaf, n_trees, n_vec, acc)
        return sig, ir_codegen(name, lambda layout: _module(*key, layout))

    walk.__name__ = name
    _INTRINSICS[key] = intrinsic(walk)
    return _INTRINSICS[key]

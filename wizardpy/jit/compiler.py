"""Wasm function -> LLVM IR (llvmlite.ir), one pass over the validator's internal code.

Input: the internal code of a function (docs/internal-code.md) as it is *now* in the module's
code buffer, so a word patched to OP_PROBE compiles to a probe site (the original opcode comes
from `probe_ops`). Branch targets, arities and heights are already resolved by the validator.

Lowering
- Locals live in allocas (promoted to SSA by mem2reg/SROA). The operand stack is a compile-time
  stack of SSA values. At a branch target ("label") the whole operand stack is passed through
  typed slot allocas, one per (height, type): every incoming edge stores, the label loads; mem2reg
  turns that into phis (and removes the trivial ones). Code after an unconditional transfer is
  skipped until a label that some reachable edge targets.
- ABI: `i32 fn(wz_thread *t, wz_func *f, i32 fp)`; arguments are at t->stack[fp..] (locals
  0..). The function pushes its wz_frame at t->frames[t->nframes] exactly like the interpreter,
  writes results to t->stack[fp..], pops the frame and returns 0, or returns a trap code.
- Lean functions (`ModuleCompiler.lean_set`: nothing in them, nor in what they call, can run
  Python) have no wz_frame: `{i32 status, results} fn(t, f, frame index, fp, params...)`,
  locals in registers, no deoptimization point; their frame record is written only when a
  trap unwinds through them. Their wz_func entry is a wrapper with the ABI above; code that is
  not lean calls them while `g->jit_entry` is unchanged (a probe inserted below them
  invalidates them: codegen.JIT.invalidate), else through the dispatcher.
- Traps: a shared cold block calls `wz_jit_trap(t, frame, ip, code)` (sets frames[frame].ip and
  t->trap_nframes like the interpreter) and returns the code; a callee's nonzero status is
  returned unchanged (status codes, never unwinding).
- Before every call out (call, call_indirect, probe) the frame's ip/sp are written out, and the
  arguments (calls) or the locals and operands (probes; calls too while frames are inspected:
  only the locals changed since their last write, see `clean`), so FrameAccessor and
  backtraces see compiled frames exactly as interpreted ones. After a call its status is tested
  (nonzero: returned through a shared block), then one test (stale code | global probes |
  limits | frame written; a probe's status too) leads to the function's shared deopt exits
  (wz_jit_deopt), which write the locals there (phis of their values at each site), the
  operands per site. A function with more generic probe sites than jit_max_generic_probes
  deoptimizes to fire them (`deopt_fire`).
- Less IR, same code: LLVM would clean up the rest, but every instruction emitted costs building
  (Python), parsing, optimising and code generation. Addresses of the fixed bases' fields are
  computed once in the entry block (`fptr`); within a region dominated by the current point,
  local values, invariant loads, the memory size and bounds checks already done are reused
  (`vc`; at a label what every edge into it carries); a comparison consumed right away by
  br_if/if/select stays an i1.
- TBAA: linear memory, probe counters, globals and the value stack are told apart (counters of
  a loop header stay in registers through the loop).
- Armed HitProbes (coverage): one byte store where a straight run of them ends (`flush_hits`;
  a trap inside the run stores the locations it passed); in a loop that calls nothing but lean
  code and fires no Python probe the runs set flags and mask bits kept in registers instead,
  stored where the loop is left (`flag_loops`: exits, the loop's trap block, the
  fall-through, a call that goes through the dispatcher, a callee's trap). An innermost loop
  inside a bigger such region (a lean body) folds its flags into the region's mask bits where
  it is left (`iloop_end`). In a function without HitProbes, innermost loops that count add
  their counters and 2-way tallies up in registers the same way (`acc_add`).
- Memory: base from the wz_memory (never moves), size reloaded after anything that can grow it;
  every access checks `zext(addr) <= mem.size - (offset + size)` in signed 64-bit arithmetic,
  the right side computed once per memory size (unless an earlier check of the same address
  value covered it: memory never shrinks).
- Struct offsets come from cffi (`ffi.offsetof`) at compile time, never hard-coded.
"""
from __future__ import annotations

import contextlib
import gc

from llvmlite import ir

from ..types import EXTERNREF, F32, F64, FUNCREF, I32, I64

OP_PROBE = 0x120
OP_ENTRY = 0x121

T_UNREACHABLE, T_MEM_OOB, T_DIV_ZERO, T_INT_OVERFLOW, T_INVALID_CONV = 1, 2, 3, 4, 5
T_UNDEF_ELEM, T_UNINIT_ELEM, T_INDIRECT_SIG, T_TABLE_OOB, T_STACK = 6, 7, 8, 9, 10

i1 = ir.IntType(1)
i8 = ir.IntType(8)
i16 = ir.IntType(16)
i32 = ir.IntType(32)
i64 = ir.IntType(64)
f32 = ir.FloatType()
f64 = ir.DoubleType()
ptr = ir.PointerType()

LLTYPE = {I32: i32, I64: i64, F32: f32, F64: f64, FUNCREF: i64, EXTERNREF: i64}

FN_TYPE = ir.FunctionType(i32, [ptr, ptr, i32])


def lean_type(ftype) -> ir.FunctionType:
    """A lean function (ModuleCompiler.lean_set): `{i32 status, results...} fn(wz_thread *t,
    wz_func *f, i32 frame index, i32 fp, params...)`; fp is where its frame would start in the
    value stack (its stack room is checked as if it were there)."""
    ret = ir.LiteralStructType([i32] + [LLTYPE[wt] for wt in ftype.results])
    return ir.FunctionType(ret, [ptr, ptr, i32, i32] + [LLTYPE[wt] for wt in ftype.params])


def to_bits(b, v, wt):
    """Value `v` of wasm type wt as the i64 of a value-stack slot."""
    if wt == I32:
        return b.zext(v, i64)
    if wt == F32:
        return b.zext(b.bitcast(v, i32), i64)
    if wt == F64:
        return b.bitcast(v, i64)
    return v


def from_bits(b, v, wt):
    """The i64 of a value-stack slot as a value of wasm type wt."""
    if wt == I32:
        return b.trunc(v, i32)
    if wt == F32:
        return b.bitcast(b.trunc(v, i32), f32)
    if wt == F64:
        return b.bitcast(v, f64)
    return v


# C helpers (native/jit_support.c): name -> (return type, argument types)
HELPERS = {
    "wz_jit_call": (i32, [ptr, ptr, i32]),
    "wz_jit_trap": (i32, [ptr, i32, i32, i32]),
    "wz_jit_probe": (i32, [ptr, ptr, i32]),
    "wz_jit_deopt": (i32, [ptr, i32, i32, i32, i32]),
    "wz_jit_memory_grow": (i32, [ptr, i32]),
    "wz_jit_memory_init": (i32, [ptr, i32, i32, i32, i32]),
    "wz_jit_memory_copy": (i32, [ptr, i32, i32, i32]),
    "wz_jit_memory_fill": (i32, [ptr, i32, i32, i32]),
    "wz_jit_table_get": (i32, [ptr, i32, i32, ptr]),
    "wz_jit_table_set": (i32, [ptr, i32, i32, i64]),
    "wz_jit_table_size": (i32, [ptr, i32]),
    "wz_jit_table_grow": (i32, [ptr, i32, i64, i32]),
    "wz_jit_table_fill": (i32, [ptr, i32, i32, i64, i32]),
    "wz_jit_table_init": (i32, [ptr, i32, i32, i32, i32, i32]),
    "wz_jit_table_copy": (i32, [ptr, i32, i32, i32, i32, i32]),
    "wz_jit_elem_drop": (ir.VoidType(), [ptr, i32]),
    "wz_jit_data_drop": (ir.VoidType(), [ptr, i32]),
}

# immediates per opcode (words after the opcode word); br_table is variable
_IMM = {0x04: 1, 0x05: 1, 0x0C: 3, 0x0D: 3, 0x0F: 1, 0x10: 1, 0x11: 2,
        0x20: 1, 0x21: 1, 0x22: 1, 0x23: 1, 0x24: 1, 0x25: 1, 0x26: 1,
        0x41: 1, 0x42: 2, 0x43: 1, 0x44: 2, 0xD2: 1,
        0x108: 1, 0x109: 1, 0x10C: 2, 0x10D: 1, 0x10E: 2, 0x10F: 1, 0x110: 1, 0x111: 1}
for _op in range(0x28, 0x3F):
    _IMM[_op] = 1


def instr_len(op: int, words, ip: int) -> int:
    if op == 0x0E:
        return 2 + 3 * (words[ip + 1] + 1)
    return 1 + _IMM.get(op, 0)


class Layout:
    """Byte offsets of the native structures (from cffi, never hard-coded)."""

    def __init__(self, ffi):
        o = ffi.offsetof
        self.t_stack = o("wz_thread", "stack")
        self.t_sp = o("wz_thread", "sp")
        self.t_frames = o("wz_thread", "frames")
        self.t_nframes = o("wz_thread", "nframes")
        self.t_max_frames = o("wz_thread", "max_frames")
        self.t_stack_size = o("wz_thread", "stack_size")
        self.t_stack_limit = o("wz_thread", "jit_stack_limit")
        self.t_global_probes = o("wz_thread", "global_probes")
        try:
            self.t_limits = o("wz_thread", "limits")
        except (KeyError, AttributeError, TypeError):
            self.t_limits = None
        self.f_jit_entry = o("wz_func", "jit_entry")
        self.f_probe_counts = o("wz_func", "probe_counts")
        self.f_probe_hits = o("wz_func", "probe_hits")
        self.f_code = o("wz_func", "code")
        self.fr_size = ffi.sizeof("wz_frame")
        self.fr_func = o("wz_frame", "func")
        self.fr_ip = o("wz_frame", "ip")
        self.fr_fp = o("wz_frame", "fp")
        self.fr_sp = o("wz_frame", "sp")
        self.fr_ret_ip = o("wz_frame", "ret_ip")
        self.fr_deopt = o("wz_frame", "deopt")
        self.f_jit_version = o("wz_func", "jit_version")
        self.fr_serial = o("wz_frame", "serial")
        self.f_inst = o("wz_func", "inst")
        self.f_sig = o("wz_func", "sig")
        self.i_funcs = o("wz_instance", "funcs")
        self.i_tables = o("wz_instance", "tables")
        self.i_mems = o("wz_instance", "mems")
        self.i_globals = o("wz_instance", "globals")
        self.m_base = o("wz_memory", "base")
        self.m_size = o("wz_memory", "size")
        self.g_value = o("wz_global", "value")
        self.tb_elems = o("wz_table", "elems")
        self.tb_size = o("wz_table", "size")
        assert ffi.sizeof("wz_val") == 8 and ffi.sizeof("void *") == 8


class _Label:
    __slots__ = ("bb", "types", "back", "vcs", "cleans", "dirty")

    def __init__(self, bb):
        self.bb = bb
        self.types = None      # wasm types of the operand stack at the label (None: no edge yet)
        self.back = False      # targeted by a branch at or after it (a loop header)
        self.vcs = []          # FunctionCompiler.vc at each edge emitted so far
        self.cleans = []       # FunctionCompiler.clean at each edge emitted so far
        self.dirty = ()        # a loop header: locals set between it and its last back-edge


# An innermost loop with more armed HitProbe sites than this keeps its runs in mask bits, not
# in a flag each: such loops are mostly clang's unrolled ones, whose copies leave the loop on
# many paths; every flag then needed a phi at every merge, one mask merges them all. Measured
# (coverage vs none, CPU time of the run, 3 reps): grpo 1.09x -> 1.06x, actor-critic 1.09x ->
# 1.03x; interaction-basis' tight loops need their flags (all in masks: 1.11x; limit 8:
# 1.11x; 16: 1.01-1.03x).
FLAG_LOOP_SITES = 16


# value-cache entries that stay valid around a loop (see FunctionCompiler.enter_label): all but
# local values (int keys) and the memory size
def _pure(key) -> bool:
    return type(key) is tuple


def _drop_lims(vc: dict) -> None:
    """Forget the bounds-check limits ("lim<end>": memory size - end) of a value cache: the
    memory size they were computed from is stale."""
    for k in [k for k in vc if type(k) is str and k.startswith("lim")]:
        del vc[k]


def max_generic_probes(config) -> int:
    """A function with more generic probe sites than this fires them by deoptimizing
    (FunctionCompiler.deopt_fire): config.jit_max_generic_probes, default 8."""
    mg = config.jit_max_generic_probes
    return 8 if mg is None else max(0, int(mg))


class ModuleCompiler:
    """Builds one LLVM module holding the compiled functions of one Wasm module."""

    def __init__(self, module, layout: Layout, engine, name: str):
        self.wmod = module
        self.defn = module.defn
        self.L = layout
        self.engine = engine
        self.ffi = engine.ffi
        self.llmod = _Module(name=name)
        self.helpers = {}
        for hname, (rt, args) in HELPERS.items():
            fn = ir.Function(self.llmod, ir.FunctionType(rt, args), hname)
            fn.attributes.add("nounwind")
            self.helpers[hname] = fn
        self.intrinsics = {}
        self.invariant = self.llmod.add_metadata([])
        # TBAA: linear memory, probe counters, globals and the value stack are distinct memory (each access to
        # them is tagged; the runtime's structures stay untagged: may alias anything), so LLVM
        # may keep a loop's counters in registers across its loads and stores
        root = self.llmod.add_metadata([ir.MetaDataString(self.llmod, "wizardpy")])

        def tbaa(name):
            ty = self.llmod.add_metadata([ir.MetaDataString(self.llmod, name), root,
                                          ir.Constant(i64, 0)])
            return self.llmod.add_metadata([ty, ty, ir.Constant(i64, 0)])
        self.tbaa_mem = tbaa("wasm memory")
        self.tbaa_count = tbaa("probe counter")
        self.tbaa_hit = tbaa("probe hit")
        self.keep: list = []        # cdata the compiled code points at (TallyProbe counts)
        self.tbaa_global = tbaa("wasm global")
        self.tbaa_stack = tbaa("value stack")
        self.cold_weights = self.llmod.add_metadata(
            [ir.MetaDataString(self.llmod, "branch_weights"), ir.Constant(i32, 1),
             ir.Constant(i32, 1000)])
        self.hot_weights = self.llmod.add_metadata(
            [ir.MetaDataString(self.llmod, "branch_weights"), ir.Constant(i32, 1000),
             ir.Constant(i32, 1)])
        self.functions: dict[int, ir.Function] = {}
        self.lean_fns: dict[int, ir.Function] = {}     # lean functions (lean_set): their code
        # the LLVM optimisation level the module is compiled at (codegen.JIT sets it; see
        # FunctionCompiler.flag_loops for what depends on it)
        self.opt_level = 2
        self.lean: set = set()
        self.lean_reach: dict = {}
        self._words: dict = {}
        # wz_func.jit_version each function is compiled for (codegen.JIT): compiled code
        # deoptimizes when the function's version changed (its probes changed)
        self.versions: dict[int, int] = {}
        # Frame inspection (FrameAccessor of a caller frame) needs every local and operand of a
        # compiled frame written out before each call; without instrumentation only the
        # arguments, ip and sp are (backtraces need just ip). The JIT recompiles everything
        # when the engine's instrumentation is created.
        ins = engine.__dict__.get("_instrument")
        self.frame_state = engine.config.jit_frame_state or (
            ins is not None and ins.frames_inspected())
        self.ins = ins
        # more generic probe sites than this in a function: they deoptimize to fire
        # (FunctionCompiler.deopt_fire); the threshold of the tiered tier, beyond which such a
        # function is not compiled at all
        self.max_generic = max_generic_probes(engine.config)
        L = layout
        self.t_flags = [o for o in (L.t_global_probes, L.t_limits) if o is not None]

    def intrinsic(self, name, rt, args):
        fn = self.intrinsics.get(name)
        if fn is None:
            fn = ir.Function(self.llmod, ir.FunctionType(rt, args), name)
            self.intrinsics[name] = fn
        return fn

    def symbol(self, d: int) -> str:
        return f"wasm_f{self.defn.num_imported_funcs + d}"

    def compile(self, defined: list[int]) -> dict[int, str]:
        out = {}
        self.lean, self.lean_reach = self.lean_set(defined)
        for d in defined:
            fn = ir.Function(self.llmod, FN_TYPE, self.symbol(d))
            fn.attributes.add("nounwind")
            self.functions[d] = fn
            if d in self.lean:
                ft = self.defn.func_type(self.defn.num_imported_funcs + d)
                lf = ir.Function(self.llmod, lean_type(ft), self.symbol(d) + "_lean")
                lf.attributes.add("nounwind")
                lf.linkage = "internal"     # LLVM may pick its calling convention, inline it
                self.lean_fns[d] = lf
        with _gc_paused():
            for d in defined:
                if d in self.lean:
                    FunctionCompiler(self, d, fn=self.lean_fns[d], lean=True).compile()
                    self.lean_entry(d)
                else:
                    FunctionCompiler(self, d).compile()
                out[d] = self.symbol(d)
        return out

    def code_words(self, d: int):
        """(words, probe_ops) of defined function d as its code is now: the interpreter's
        superinstructions (wizardpy/fusion.py) replaced by their original opcodes."""
        got = self._words.get(d)
        if got is None:
            wmod = self.wmod
            n = len(wmod.codes[d].code)
            words = self.ffi.unpack(wmod.code_ptr(d), n)
            probe_ops = self.ffi.unpack(wmod.probe_ops_ptr(d), n)
            if wmod.__dict__.get("_fused_count"):
                for ip in wmod.codes[d].pc_of_ip:
                    if words[ip] >= 0x200:      # the original word is in probe_ops
                        words[ip] = probe_ops[ip]
            got = self._words[d] = (words, probe_ops)
        return got

    def lean_set(self, defined) -> tuple[set, dict]:
        """The functions of `defined` compiled lean, and {d: the lean functions d's code calls,
        directly or not}. A function is lean when nothing in it can run Python: no
        call_indirect, no probe but counters and HitProbes, and every call goes to a lean
        function of this LLVM module. Python then never sees a lean activation, so it needs no
        wz_frame: it takes its arguments and returns its results in registers, keeps its locals
        there, has no deoptimization points, and writes its frame record only on the way out
        of a trap (for the backtrace). Its wz_func entry is a small wrapper (`lean_entry`)."""
        nimp = self.defn.num_imported_funcs
        defs = set(defined)
        callees = {}                # d -> its callees, for d that may be lean
        called = set()              # functions of `defined` called directly by one of them
        for d in defined:
            words, probe_ops = self.code_words(d)
            out = set()
            ok = True
            ips = self.wmod.codes[d].pc_of_ip
            for ip in ([0] if words[0] == OP_PROBE and 0 not in ips else []) + list(ips):
                op = words[ip]
                if op == OP_PROBE:
                    if ok and self.probe_kind(d, ip) not in (None, "count"):
                        ok = False
                    op = probe_ops[ip]
                if op == 0x11:
                    ok = False
                elif op == 0x10:
                    c = words[ip + 1] - nimp
                    if c in defs:
                        out.add(c)
                        called.add(c)
                    else:
                        ok = False
            if ok:
                callees[d] = out
        lean = set(callees)
        changed = True
        while changed:
            changed = False
            for d in list(lean):
                if not callees[d] <= lean:
                    lean.discard(d)
                    changed = True
        # only functions that compiled code calls: a lean body behind its wrapper alone gains
        # nothing (and matmul's machine code, the same loops with other register choices, ran
        # 1.26x slower). The callees of a lean function stay lean: they are called.
        lean &= called
        reach = {}
        for d in lean:
            seen, todo = set(), list(callees[d])
            while todo:
                e = todo.pop()
                if e not in seen:
                    seen.add(e)
                    todo.extend(callees[e])
            reach[d] = seen
        return lean, reach

    def lean_entry(self, d: int) -> None:
        """wz_func entry of lean function d (the ABI of every compiled function): loads the
        arguments from the value stack, calls the lean code for the frame index t->nframes
        (the wz_frame it would have; written only if it traps) and stores the results."""
        fn = self.functions[d]
        L = self.L
        t, f, fp = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        stack = b.load(b.gep(t, [ir.Constant(i64, L.t_stack)], source_etype=i8), typ=ptr)
        depth = b.load(b.gep(t, [ir.Constant(i64, L.t_nframes)], source_etype=i8), typ=i32)
        lp = b.gep(stack, [b.zext(fp, i64)], source_etype=i64)
        ft = self.defn.func_type(self.defn.num_imported_funcs + d)

        def slot(i):
            return b.gep(lp, [ir.Constant(i64, i)], source_etype=i64)
        args = []
        for i, wt in enumerate(ft.params):
            v = b.load(slot(i), typ=i64)
            v.set_metadata("tbaa", self.tbaa_stack)
            args.append(from_bits(b, v, wt))
        r = b.call(self.lean_fns[d], [t, f, depth, fp] + args)
        rc = b.extract_value(r, 0)
        fail = fn.append_basic_block("trap")
        done = fn.append_basic_block("ret")
        b.cbranch(b.icmp_unsigned("!=", rc, ir.Constant(i32, 0)), fail, done) \
            .set_metadata("prof", self.cold_weights)
        b.position_at_end(fail)
        b.ret(rc)
        b.position_at_end(done)
        for i, wt in enumerate(ft.results):
            b.store(to_bits(b, b.extract_value(r, 1 + i), wt), slot(i)) \
                .set_metadata("tbaa", self.tbaa_stack)
        b.ret(ir.Constant(i32, 0))

    def probe_kind(self, d: int, ip: int):
        """None / "count" / "operand" / "generic": how the probes at ip of d compile."""
        if self.ins is None:
            return "generic"
        return self.ins.native_kind(self.wmod, d, ip)

    def hit_region(self, d: int, ips) -> int | None:
        """Address of a fresh region byte for HitProbe locations ips of d (None: no
        instrumentation; then each is stored itself)."""
        if self.ins is None:
            return None
        return self.ins.hit_region(self.wmod, d, ips)

    def hit_region_bits(self, d: int, runs) -> int:
        """Address of a fresh region word: bit k implies the HitProbe locations runs[k] of d."""
        return self.ins.hit_region_bits(self.wmod, d, runs)

    def native_parts(self, d: int, ip: int) -> tuple[bool, bool, object]:
        """(count, hit, tally) of a "count" site (Instrumentation.native_parts)."""
        if self.ins is None:
            return True, False, None
        return self.ins.native_parts(self.wmod, d, ip)

    def compile_osr(self, d: int, ip: int) -> str:
        """An on-stack-replacement variant of defined function `d`: same ABI, but it continues
        an interpreted frame (locals and operands in the value stack) at the loop header `ip`."""
        name = f"{self.symbol(d)}_osr{ip}"
        fn = ir.Function(self.llmod, FN_TYPE, name)
        fn.attributes.add("nounwind")
        with _gc_paused():
            FunctionCompiler(self, d, fn=fn, osr_ip=ip).compile()
        return name


class _Module(ir.Module):
    """An llvmlite module whose text is rendered with the cyclic GC paused (as it is built:
    rendering allocates millions of short-lived containers, and every collection they trigger
    traverses the whole IR: 2-4x the rendering time)."""

    def __repr__(self):
        with _gc_paused():
            return super().__repr__()


class _gc_paused:
    """Python's cyclic GC paused while IR is built: llvmlite.ir allocates ~5 tracked objects per
    instruction, and the collections this triggers traverse the whole (growing) heap again and
    again: 2-5x the build time of a big module."""

    def __enter__(self):
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.was:
            gc.enable()


class FunctionCompiler:
    def __init__(self, mc: ModuleCompiler, d: int, fn=None, osr_ip=None, lean=False):
        self.mc = mc
        self.osr_ip = osr_ip
        self.lean = lean            # ModuleCompiler.lean_set: no wz_frame, no deopt points
        self.L = mc.L
        self.d = d
        wmod = mc.wmod
        self.fc = fc = wmod.codes[d]
        self.words, self.probe_ops = mc.code_words(d)
        self.nl = fc.num_locals
        self.nimp = mc.defn.num_imported_funcs
        self.local_types = list(fc.local_types)
        self.fn = fn if fn is not None else mc.functions[d]
        self.version = mc.versions.get(d, 0)
        self.has_mem = bool(mc.defn.all_memories())
        self.fuse = False
        self.deopt_fire = False

    # ------------------------------------------------------------------ small helpers
    def fptr(self, base, off):
        """Pointer `base + off` (bytes). For the function's fixed bases (thread, function,
        frame, memory, instance, locals) the address is computed once, in the entry block."""
        if not off:
            return base
        key = (id(base), off)
        p = self.ptrs.get(key)
        if p is not None:
            return p
        b = self.b
        if id(base) not in self.entry_vals:
            return b.gep(base, [ir.Constant(i64, off)], source_etype=i8, inbounds=True)
        with self.at_entry():
            p = b.gep(base, [ir.Constant(i64, off)], source_etype=i8, inbounds=True)
        self.ptrs[key] = p
        return p

    @contextlib.contextmanager
    def at_entry(self, start=False):
        """Emit into the entry block (at its start: allocas; else before its terminator),
        then continue exactly where the builder was."""
        b = self.b
        blk, anchor = b._block, b._anchor
        if blk is self.entry_bb and not start:
            yield                   # (the prologue, or nested: already there)
            return
        if start:
            b.position_at_start(self.entry_bb)
        elif self.entry_bb.terminator is not None:
            b.position_before(self.entry_bb.terminator)
        else:
            b.position_at_end(self.entry_bb)
        try:
            yield
        finally:
            if blk is self.entry_bb:    # instructions inserted at its start: shifted
                anchor += b._anchor
            b._block, b._anchor = blk, anchor

    def fld(self, base, off, ty, invariant=False, name=""):
        v = self.b.load(self.fptr(base, off), typ=ty, name=name)
        if invariant:
            v.set_metadata("invariant.load", self.mc.invariant)
        return v

    def ifld(self, base, off, ty):
        """An invariant field, loaded once per dominating region (see `vc`)."""
        key = ("f", id(base), off)
        v = self.vc.get(key)
        if v is None:
            v = self.vc[key] = self.fld(base, off, ty, invariant=True)
        return v

    def store_fld(self, base, off, ty, val):
        self.b.store(val, self.fptr(base, off))

    def slot_ptr(self, index):
        """Pointer to value-stack slot fp + index (index: i32 value or int)."""
        if isinstance(index, int):
            return self.fptr(self.lp, 8 * index)
        return self.b.gep(self.lp, [self.b.zext(index, i64)], source_etype=i64, inbounds=True)

    def sload(self, index, ty=i64):
        """Load value-stack slot fp + index (an int)."""
        v = self.b.load(self.slot_ptr(index), typ=ty)
        v.set_metadata("tbaa", self.mc.tbaa_stack)
        return v

    def sstore(self, bits, index):
        """Store i64 `bits` to value-stack slot fp + index (an int)."""
        self.b.store(bits, self.slot_ptr(index)).set_metadata("tbaa", self.mc.tbaa_stack)

    def get_local(self, x):
        v = self.vc.get(x)
        if v is None:
            v = self.vc[x] = self.b.load(self.locals[x], typ=LLTYPE[self.local_types[x]])
        return v

    def set_local(self, x, v):
        self.b.store(v, self.locals[x])
        self.vc[x] = v
        self.clean.discard(x)

    def mem_size(self):
        v = self.vc.get("msize")
        if v is None:
            v = self.vc["msize"] = self.b.load(self.msize, typ=i64)
        return v

    def to_bits(self, v, wt):
        return to_bits(self.b, v, wt)

    def from_bits(self, v, wt):
        return from_bits(self.b, v, wt)

    def c32(self, v):
        return ir.Constant(i32, v & 0xFFFFFFFF)

    def c64(self, v):
        return ir.Constant(i64, v & 0xFFFFFFFFFFFFFFFF)

    def push(self, v, wt):
        self.vs.append((v, wt))

    def pop(self):
        return self.vs.pop()[0]

    # ------------------------------------------------------------------ traps
    def cold_branch(self, cond, cold, cont):
        """cbranch to `cold` when cond holds, weighted as (almost) never taken."""
        br = self.b.cbranch(cond, cold, cont)
        br.set_metadata("prof", self.mc.cold_weights)
        return br

    def trap_if(self, cond, code, ip):
        """Branch to the trap block when `cond` (i1) holds (HitProbe locations passed since the
        last flush are stored one by one on the way: their run did not reach its end)."""
        b = self.b
        cont = self.fn.append_basic_block()
        if self.pending_hits:
            pre = self.fn.append_basic_block()
            self.cold_branch(cond, pre, cont)
            b.position_at_end(pre)
            self.store_hits(self.pending_hits)
            self.tphi_ip.add_incoming(self.c32(ip), pre)
            self.tphi_code.add_incoming(self.c32(code), pre)
            b.branch(self.tbb)
        else:
            self.tphi_ip.add_incoming(self.c32(ip), b.block)
            self.tphi_code.add_incoming(self.c32(code), b.block)
            self.cold_branch(cond, self.tbb, cont)
        b.position_at_end(cont)

    def store_hits(self, ips):
        """probe_hits[ip] = 1 for each ip (on a cold path: the field is loaded here, not
        taken from or left in the cache of values of the dominating region)."""
        b = self.b
        hp = self.fld(self.f, self.L.f_probe_hits, ptr, invariant=True)
        for ip in ips:
            p = b.gep(hp, [self.c64(ip)], source_etype=i8, inbounds=True)
            b.store(ir.Constant(i8, 1), p).set_metadata("tbaa", self.mc.tbaa_hit)

    def flush_hits(self):
        """The armed HitProbe locations passed since the last flush form a straight-line run
        (no label, branch, call or Python call in it): one byte stored here means each of them
        ran (Instrumentation.hit_region). Called before anything that leaves the run."""
        ips = self.pending_hits
        if not ips:
            return
        self.pending_hits = []
        if self.mc.ins is None:
            self.store_hits(ips)
            return
        if self.floop is not None:
            self.floop_run(ips)
            return
        addr = self.mc.hit_region(self.d, ips)
        self.b.store(ir.Constant(i8, 1), self.b.inttoptr(ir.Constant(i64, addr), ptr)) \
            .set_metadata("tbaa", self.mc.tbaa_hit)

    # ------------------------------------------------------------------ flagged loops
    # A loop that calls nothing but lean code and fires no Python probe (nothing can look at
    # HitProbe state while it runs) keeps what its runs did in registers: a flag per run of an
    # innermost loop, a bit of a mask (one i64 per 64 runs) for the others (`floop_run`). Where
    # the loop is left it stores the region byte of each flag set and ORs each mask into a
    # region word of its own (Instrumentation.hit_region_bits): at its exits (branches out,
    # return, falling out after its last back-edge, a callee's trap, a call through the
    # dispatcher) and on its way to the trap block. Nothing per run and iteration: coverage
    # then costs (almost) nothing in it.

    def floop_run(self, ips):
        """A run of HitProbe locations `ips` in the flagged loop: a run inside an innermost loop
        (self.innermost: with at most FLAG_LOOP_SITES HitProbe sites) sets a flag of its own
        (LLVM sinks such stores out of the loop), any other a bit of a
        mask (one i64 per 64 runs: a flag each made LLVM spill dozens of them in big loop nests;
        a mask in a tight loop chains the loop's conditional runs through one register)."""
        b = self.b
        fl = self.floop
        if any(h <= ips[-1] <= e for h, e in self.innermost.items()):
            flag = self.zeroed(i8)
            b.store(ir.Constant(i8, 1), flag)
            il = self.iloop
            if il is not None and il["head"] <= ips[-1] <= il["end"]:
                fold = (flag, *self.mask_bit(ips))
                il["folds"].append(fold)
                fl["folded"].append(fold)       # (the region's exits fold it too)
            else:
                fl["flags"].append((flag, self.mc.hit_region(self.d, ips)))
            return
        m, bit = self.mask_bit(ips)
        b.store(b.or_(b.load(m, typ=i64), self.c64(1 << bit)), m)

    def mask_bit(self, ips):
        """A bit of a mask of the flagged loop for run `ips`: (mask alloca, bit)."""
        masks = self.floop["masks"]
        if not masks or len(masks[-1][1]) == 64:
            masks.append((self.zeroed(i64), []))
        m, runs = masks[-1]
        runs.append(ips)
        return m, len(runs) - 1

    def zeroed(self, ty):
        """An alloca of `ty` (a register once promoted), set to 0 at function entry."""
        with self.at_entry(start=True):
            a = self.b.alloca(ty)
        with self.at_entry():
            self.b.store(ir.Constant(ty, 0), a)
        return a

    def flag_bit(self, flag, bit):
        """i64: flag (0 or 1) shifted to mask bit `bit`."""
        v = self.b.zext(self.b.load(flag, typ=i8), i64)
        return self.b.shl(v, self.c64(bit)) if bit else v

    def patch_exits(self, blocks, emit):
        """Run `emit()` in each of `blocks` (each ending in an unconditional branch), before
        that branch."""
        b = self.b
        for blk in blocks:
            target = blk.terminator.operands[0]
            with b.goto_block(blk):
                b.remove(blk.terminator)
                emit()
                b.branch(target)

    def exit_block(self, lab, exits):
        """A block of its own for an edge to `lab` that leaves a flagged loop or innermost
        loop (appended to `exits`: patched when the walk leaves the loop)."""
        e = self.fn.append_basic_block()
        with self.b.goto_block(e):
            self.b.branch(lab.bb)
        exits.append(e)
        return e

    # An innermost loop inside a bigger flagged region (a lean body, an outer flagged loop):
    # its runs' flags are folded into mask bits of the region wherever the loop is left inside
    # the region, and cleared there (`iloop_end`). A flag is then live only in its loop: kept
    # until the region ends, the flags of every loop of a big lean body were live (on the way
    # to its returns and to the trap block) all through it, and spilled.

    def iloop_start(self, head, end):
        self.iloop = {"head": head, "end": end, "folds": [], "exits": []}

    def iloop_fold(self, folds):
        """At the builder: OR each flag into its mask bit and clear it."""
        b = self.b
        for flag, m, bit in folds:
            b.store(b.or_(b.load(m, typ=i64), self.flag_bit(flag, bit)), m)
            b.store(ir.Constant(i8, 0), flag)

    def iloop_end(self):
        """The walk left the innermost loop: fold its flags on the fall-through (if reachable)
        and in its exit blocks (edge_to)."""
        il, self.iloop = self.iloop, None
        folds = il["folds"]
        if not folds:
            return
        if self.reachable:
            self.iloop_fold(folds)
        self.patch_exits(il["exits"], lambda: self.iloop_fold(folds))

    def flag_loops(self, ips, last_back) -> dict:
        """{loop header ip: its last back-edge ip} of the loops that keep their HitProbe runs in
        registers: nothing in them calls out (call_indirect, calls but those of lean code,
        generic or operand probes) and armed HitProbes are there. In a function without
        HitProbes (self.sums), compiled at -O1 or above: the innermost such loops with
        counters or tallies, which add them up in registers (only innermost ones: sums kept
        through a whole loop nest made LLVM spill them, and bapo's branches slower; at -O0,
        tier tiered's level, only SROA and CFG simplification run, and the sums made
        interaction-basis' tiered hotness run 1.6x slower, cause not analysed). `ips`: the
        function's instruction ips, sorted."""
        if self.mc.ins is None or not last_back:
            return {}
        from bisect import bisect_left, bisect_right
        calls = [0]                 # prefix counts over ips: calls, armed HitProbes, counters
        hits = [0]
        cnts = [0]
        for ip in ips:
            op, c, h, n = self.words[ip], 0, 0, 0
            if op == OP_PROBE:
                kind = self.kinds.get(ip)
                c = kind in ("generic", "operand")
                n = kind == "count"
                h = ip in self.hit_sites
                op = self.probe_ops[ip]
            cnts.append(cnts[-1] + n)
            # (a call of lean code runs no Python: the loop stays flagged; from code that is not
            # lean its way through the dispatcher stores the flags first, see lean_call)
            c = c or op == 0x11 or (op == 0x10 and self.words[ip + 1] - self.nimp
                                    not in self.mc.lean)
            calls.append(calls[-1] + c)
            hits.append(hits[-1] + bool(h))
        out = {}
        for head, end in last_back.items():
            lo, hi = bisect_left(ips, head), bisect_right(ips, end)
            if calls[hi] == calls[lo] and hits[hi] > hits[lo]:
                out[head] = end
        self.sums = not hits[-1] and not out and self.mc.opt_level >= 1
        if self.sums:
            # no HitProbe in the function: innermost loops that count add up in registers
            heads = sorted(last_back)
            for head, end in last_back.items():
                lo, hi = bisect_left(ips, head), bisect_right(ips, end)
                if (calls[hi] == calls[lo] and cnts[hi] > cnts[lo]
                        and not any(head < h2 <= end for h2 in heads)):
                    out[head] = end
        return out

    def flag_loop_start(self, head, end):
        """The walk enters flagged loop [head, end] (or a lean body): its runs set flags and mask
        bits (floop_run), its exits get blocks of their own (edge_to, i_return, lean_call,
        check_callee_rc), its traps a trap block of its own (trap_if, trap, check_rc_at):
        `flag_loop_end` stores the flags and masks in all of them."""
        b = self.b
        tbb = self.fn.append_basic_block("loop_trap")
        with b.goto_block(tbb):
            self.tphi_ip = b.phi(i32)
            self.tphi_code = b.phi(i32)
        self.tbb = tbb
        self.floop = {"head": head, "end": end, "masks": [], "flags": [], "folded": [],
                      "accs": {}, "exits": []}

    def flag_exit(self, blk):
        """`blk` (ending in an unconditional branch) leaves the flagged loop: its flags and
        masks are stored there, before that branch."""
        self.floop["exits"].append(blk)

    def flag_syncs(self, flags, masks, accs=(), folded=()):
        """At the builder: store the region byte of each flag that is set; OR each mask into
        its region word, with the flags of `folded` ((flag, mask, bit): an innermost loop's,
        see iloop_start) in their bits; add each sum to its counter and zero it."""
        b = self.b
        sums = [(b.load(acc, typ=i64), sub, addr) for acc, addr, sub in accs]
        for v, sub, addr in sums:
            if sub is not None:
                v = b.sub(v, b.load(sub, typ=i64))
            p = addr() if callable(addr) else b.inttoptr(ir.Constant(i64, addr), ptr)
            old = b.load(p, typ=i64)
            old.set_metadata("tbaa", self.mc.tbaa_count)
            b.store(b.add(old, v), p).set_metadata("tbaa", self.mc.tbaa_count)
        for acc, _, _ in accs:
            b.store(self.c64(0), acc)
        for mask, addr in masks:
            p = b.inttoptr(ir.Constant(i64, addr), ptr)
            old = b.load(p, typ=i64)
            old.set_metadata("tbaa", self.mc.tbaa_hit)
            v = b.load(mask, typ=i64)
            for flag, m, bit in folded:
                if m is mask:
                    v = b.or_(v, self.flag_bit(flag, bit))
            b.store(b.or_(old, v), p).set_metadata("tbaa", self.mc.tbaa_hit)
        for flag, addr in flags:
            v = b.load(flag, typ=i8)
            st = self.fn.append_basic_block()
            nxt = self.fn.append_basic_block()
            b.cbranch(b.icmp_unsigned("!=", v, ir.Constant(i8, 0)), st, nxt)
            b.position_at_end(st)
            b.store(ir.Constant(i8, 1), b.inttoptr(ir.Constant(i64, addr), ptr)) \
                .set_metadata("tbaa", self.mc.tbaa_hit)
            b.branch(nxt)
            b.position_at_end(nxt)

    def flag_loop_end(self):
        """The walk left the flagged loop: store its flags and masks on the fall-through (if
        reachable), in every exit block and on the way to the trap block."""
        fl = self.floop
        self.floop = None
        b = self.b
        flags, folded = fl["flags"], fl["folded"]
        masks = [(m, self.mc.hit_region_bits(self.d, runs)) for m, runs in fl["masks"]]
        accs = list(fl["accs"].values())
        tbb, self.tbb = self.tbb, self.trap_bb
        phi_ip, phi_code = self.tphi_ip, self.tphi_code
        self.tphi_ip, self.tphi_code = self.trap_phi_ip, self.trap_phi_code
        if (flags or masks or accs) and self.reachable:
            self.flag_syncs(flags, masks, accs, folded)
        self.patch_exits(fl["exits"], lambda: self.flag_syncs(flags, masks, accs, folded))
        if not phi_ip.incomings:
            self.fn.blocks.remove(tbb)
            return
        with b.goto_block(tbb):
            self.flag_syncs(flags, masks, accs, folded)
            self.trap_phi_ip.add_incoming(phi_ip, b.block)
            self.trap_phi_code.add_incoming(phi_code, b.block)
            b.branch(self.trap_bb)

    def close_run(self):
        """The run of HitProbe locations ends here (a label, a flagged loop's bounds): stored
        when the walk is in reachable code, dropped otherwise."""
        if self.reachable:
            self.flush_hits()
        self.pending_hits = []

    def trap(self, code, ip):
        b = self.b
        self.tphi_ip.add_incoming(self.c32(ip), b.block)
        self.tphi_code.add_incoming(self.c32(code), b.block)
        b.branch(self.tbb)

    def check_callee_rc(self, rc, ip=None):
        """A callee's nonzero status (its trap, recorded already) is returned as it is, through
        the function's shared block. `ip`: the call at ip went to lean code (nothing written
        before it): on that path this frame's ip (a lean frame: its whole record) is written
        first, and a flagged loop's flags are stored."""
        b = self.b
        rb = self.__dict__.get("_rc_bb")
        if rb is None:
            rb = self._rc_bb = self.fn.append_basic_block("callee_trap")
            with b.goto_block(rb):
                self._rc_phi = b.phi(i32)
                self.ret_status(self._rc_phi)
        cont = self.fn.append_basic_block()
        fails = b.icmp_unsigned("!=", rc, self.c32(0))
        if ip is None:
            self._rc_phi.add_incoming(rc, b.block)
            self.cold_branch(fails, rb, cont)
        else:
            site = self.fn.append_basic_block()
            self.cold_branch(fails, site, cont)
            b.position_at_end(site)
            if self.lean:
                self.write_record()
            self.store_fld(self.frame, self.L.fr_ip, i32, self.c32(ip))
            if self.floop is not None:      # the flags are stored in `site`, before its branch
                post = self.fn.append_basic_block()
                b.branch(post)
                self.flag_exit(site)
                b.position_at_end(post)
            self._rc_phi.add_incoming(rc, b.block)
            b.branch(rb)
        b.position_at_end(cont)

    def write_record(self):
        """This activation's wz_frame record: func, fp, serial 0, deopt 0 (a lean function's only
        on the way out of a trap; ip is written by whoever records the trap point)."""
        L = self.L
        self.store_fld(self.frame, L.fr_func, ptr, self.f)
        self.store_fld(self.frame, L.fr_fp, i32, self.fp)
        self.store_fld(self.frame, L.fr_serial, i64, self.c64(0))
        self.store_fld(self.frame, L.fr_deopt, i32, self.c32(0))

    def ret_status(self, rc):
        """Return status `rc` (a trap code; a lean function's results are then undefined)."""
        b = self.b
        if self.lean:
            agg = b.insert_value(ir.Constant(self.fn.function_type.return_type, ir.Undefined),
                                 rc, 0)
            return b.ret(agg)
        return b.ret(rc)

    def check_rc_at(self, rc, ip):
        """A helper returned a trap code (not yet recorded): trap at ip."""
        b = self.b
        cont = self.fn.append_basic_block()
        fail = b.icmp_unsigned("!=", rc, self.c32(0))
        self.tphi_ip.add_incoming(self.c32(ip), b.block)
        self.tphi_code.add_incoming(rc, b.block)
        self.cold_branch(fail, self.tbb, cont)
        b.position_at_end(cont)

    # ------------------------------------------------------------------ frame state
    def write_out(self, ip, height, thread_sp=True, args=None, sp=None):
        """Write the frame state (ip, sp, locals, operands[0:height]) to the native stacks.
        Calls (`args` = number of arguments) write only the arguments and ip/sp when the module
        is compiled without frame inspection (ModuleCompiler.frame_state False); `sp`: the
        frame's sp to record instead of fp + locals + height."""
        b = self.b
        L = self.L
        first = 0
        if args is None or self.mc.frame_state:
            clean = self.clean
            for i, wt in enumerate(self.local_types):
                if i not in clean:
                    self.sstore(self.to_bits(self.get_local(i), wt), i)
            self.clean = set(range(self.nl))
        else:
            first = height - args
        for h in range(first, height):
            v, wt = self.vs[h]
            self.sstore(self.to_bits(v, wt), self.nl + h)
        if sp is None:
            sp = self.sp_at(height)
        self.store_fld(self.frame, L.fr_ip, i32, self.c32(ip))
        self.store_fld(self.frame, L.fr_sp, i32, sp)
        if thread_sp:      # calls: wz_jit_call sets t->sp itself where it matters
            self.store_fld(self.t, L.t_sp, i32, sp)

    def sp_at(self, height):
        """fp + locals + height (i32), once per dominating region."""
        key = ("sp", height)
        v = self.vc.get(key)
        if v is None:
            n = self.nl + height
            v = self.vc[key] = self.b.add(self.fp, self.c32(n)) if n else self.fp
        return v

    def reload_msize(self):
        if self.has_mem:
            v = self.fld(self.mem, self.L.m_size, i64)
            self.b.store(v, self.msize)
            self.vc["msize"] = v
            _drop_lims(self.vc)

    def probe(self, ip):
        """A probe site (ARCHITECTURE §3): counters inline, OperandProbes as a direct call with
        the top of stack, anything else through the generic path (frame written out)."""
        kind = self.kinds[ip] if ip in self.kinds else self.mc.probe_kind(self.d, ip)
        if kind is None:            # no probe there now (e.g. removed): nothing
            return
        if kind == "count":
            self.count_probe(ip)
            return
        self.flush_hits()           # Python runs here: what ran so far must be visible
        b = self.b
        h = len(self.vs)
        if kind == "operand":
            self.operand_probe(ip, h)
            return
        # Generic: only while the probe is still there (a removed probe, e.g. coverage's
        # self-removing ones, costs one load + compare until the function is recompiled)
        code = self.ifld(self.f, self.L.f_code, ptr)
        word = b.load(b.gep(code, [self.c64(ip)], source_etype=i32, inbounds=True), typ=i32)
        present = b.icmp_unsigned("==", word, self.c32(OP_PROBE))
        if self.deopt_fire:
            # a function full of them (see compile): the interpreter fires the probe and runs
            # the rest of this activation (the tiered tier does not compile such a function)
            self.deopt_if(present, ip, h, after_probe=False, write=h)
            return
        fire = self.fn.append_basic_block()
        cont = self.fn.append_basic_block()
        b.cbranch(present, fire, cont)
        vc = dict(self.vc)
        clean = set(self.clean)
        b.position_at_end(fire)
        self.write_out(ip, h)
        rc = b.call(self.mc.helpers["wz_jit_probe"], [self.t, self.f, self.c32(ip)])
        # a trap, or the probe may have changed probes (stale code), inserted a global probe,
        # set limits or written this frame (FrameWriter marks it): continue in the interpreter
        # (the value stack holds the state). Otherwise locals and operands are unchanged.
        self.deopt_check(ip, h, after_probe=True, rc=rc)
        self.reload_msize()
        b.branch(cont)
        b.position_at_end(cont)
        vc.pop("msize", None)       # (values computed in `fire` do not dominate `cont`)
        _drop_lims(vc)
        self.vc = vc
        self.clean = clean

    def count_probe(self, ip):
        """Only native probes here: for CountProbe/CountMoreProbe `probe_counts[ip] += 1`
        inline, no call (the counter buffer of the module never moves; an "add n" probe is
        firings * n); for armed HitProbes `probe_hits[ip] = 1` (they are gone once it is set:
        code compiled after that has nothing there); for TallyProbes `c[min(top, n - 1)] += 1`
        in their counts buffer {n, c[0..n)} (its address is a constant: a change of the
        TallyProbes there recompiles; the JIT keeps the buffer alive for this code)."""
        b = self.b
        count, hit, tally = self.mc.native_parts(self.d, ip)
        if tally is not None:
            self.mc.keep.append(tally)
            n = int(tally[0])
            top, _ = self.vs[-1]
            addr = int(self.mc.ffi.cast("uintptr_t", tally)) + 8
            if n == 2:
                # a condition: c[0] += (v == 0), c[1] += (v != 0), at fixed addresses, so
                # that LLVM may keep both counters in registers through a loop
                nz = b.icmp_unsigned("!=", top, ir.Constant(i32, 0))
                if self.floop is not None and self.sums:
                    # the sums are "taken" and "all" (c[0] gets all - taken where the loop is
                    # left): "all" grows by a constant, an induction variable LLVM can derive
                    # from the loop's own
                    self.acc_add(("t", addr + 8), addr + 8, b.zext(nz, i64))
                    self.acc_add(("t", addr), addr, minus=("t", addr + 8))
                else:
                    self.bump(b.inttoptr(ir.Constant(i64, addr), ptr), b.zext(b.not_(nz), i64))
                    self.bump(b.inttoptr(ir.Constant(i64, addr + 8), ptr), b.zext(nz, i64))
            else:
                idx = b.zext(top, i64)
                lim = self.c64(n - 1)
                idx = b.select(b.icmp_unsigned("<", idx, lim), idx, lim) if n > 1 else lim
                self.bump(b.gep(b.inttoptr(ir.Constant(i64, addr), ptr), [idx],
                                source_etype=i64, inbounds=True))
        if hit:
            self.pending_hits.append(ip)     # stored where the run ends (flush_hits)
        if not count:
            return
        if self.floop is not None and self.sums:
            self.acc_add(("c", ip), lambda: self.b.gep(self.counts_base(), [self.c64(ip)],
                                                       source_etype=i64, inbounds=True))
            return
        cp = self.ifld(self.f, self.L.f_probe_counts, ptr)
        self.bump(b.gep(cp, [self.c64(ip)], source_etype=i64, inbounds=True))

    def counts_base(self):
        """wz_func.probe_counts, loaded once in the entry block (for the exits of flagged
        loops, which the value cache does not reach)."""
        cb = self.__dict__.get("_counts_base")
        if cb is None:
            with self.at_entry():
                cb = self._counts_base = self.fld(self.f, self.L.f_probe_counts, ptr,
                                                  invariant=True)
        return cb

    def acc_add(self, key, addr, inc=None, minus=None):
        """In a counting loop (flag_loops): add `inc` (default 1) to the loop's sum for the
        counter at `addr` (an address, or a function making the pointer where the sum is
        added), an alloca (a register once promoted) added to the counter where the loop is
        left, less the sum of key `minus` if given (made before this one). A counter's
        read-modify-write per iteration chains each iteration to the last through
        store-to-load forwarding; the sum does not."""
        b = self.b
        accs = self.floop["accs"]
        got = accs.get(key)
        if got is None:
            got = accs[key] = (self.zeroed(i64), addr, None if minus is None else accs[minus][0])
        b.store(b.add(b.load(got[0], typ=i64), self.c64(1) if inc is None else inc), got[0])

    def bump(self, p, inc=None):
        """`*(uint64_t *)p += inc` (default 1): a native probe counter."""
        b = self.b
        v = b.load(p, typ=i64)
        v.set_metadata("tbaa", self.mc.tbaa_count)
        b.store(b.add(v, self.c64(1) if inc is None else inc), p) \
            .set_metadata("tbaa", self.mc.tbaa_count)

    def operand_probe(self, ip, h):
        """OperandProbes (and counters) only: the callback needs the top of stack, not the frame.
        Only that value, sp and ip are stored (no locals, no reload afterwards: an OperandProbe
        cannot write the frame), then the probe helper calls Python directly."""
        b = self.b
        L = self.L
        if h:
            v, wt = self.vs[h - 1]
            self.sstore(self.to_bits(v, wt), self.nl + h - 1)
        sp = self.sp_at(h)
        self.store_fld(self.frame, L.fr_ip, i32, self.c32(ip))
        self.store_fld(self.frame, L.fr_sp, i32, sp)
        self.store_fld(self.t, L.t_sp, i32, sp)
        rc = b.call(self.mc.helpers["wz_jit_probe"], [self.t, self.f, self.c32(ip)])
        # Python ran: a trap, or probes/limits may have changed (locals and lower operands are
        # written out only on that cold path)
        self.deopt_check(ip, h, after_probe=True, write=max(h - 1, 0), rc=rc)

    def deopt_check(self, ip, height, after_probe=False, write=None, rc=None):
        """After a call or probe returns (the only points where Python ran): if this code is
        stale (wz_func.jit_version), compiled code may not run now (global probes, limits) or a
        FrameWriter wrote this frame (wz_frame.deopt), continue the frame in the interpreter at
        `ip` with operand height `height` (wz_jit_deopt) and return its status. `write`: operand
        heights [0, write) and the locals are not in the value stack yet (calls compiled without
        frame state): write them first. `rc`: a probe's status, tested in the same branch
        (nonzero: recorded as a trap at ip)."""
        b = self.b
        L = self.L
        # one test: status | global probes | limits | frame written | (version ^ compiled one)
        ver = self.fld(self.f, L.f_jit_version, i32)
        if self.version:
            ver = b.xor(ver, self.c32(self.version))
        flags = ver if rc is None else b.or_(rc, ver)
        for off in self.mc.t_flags:
            flags = b.or_(flags, self.fld(self.t, off, i32))
        flags = b.or_(flags, self.fld(self.frame, L.fr_deopt, i32))
        stale = b.icmp_unsigned("!=", flags, self.c32(0))
        self.deopt_if(stale, ip, height, after_probe, write, rc)

    def deopt_if(self, stale, ip, height, after_probe=False, write=None, rc=None):
        """Continue in the interpreter at ip (operand height `height`) when i1 `stale` holds
        (see deopt_check for the rest)."""
        b = self.b
        cont = self.fn.append_basic_block()
        bb, phis = self.deopt_block(write is not None, after_probe, rc is not None)
        src = b.block
        if write:       # operands below the ones in the value stack: stored on a per-site path
            site = self.fn.append_basic_block()
            self.cold_branch(stale, site, cont)
            b.position_at_end(site)
            for h in range(write):
                v, wt = self.vs[h]
                self.sstore(self.to_bits(v, wt), self.nl + h)
            b.branch(bb)
            src = site
        else:
            self.cold_branch(stale, bb, cont)
        phis[0].add_incoming(self.c32(ip), src)
        phis[1].add_incoming(self.c32(self.nl + height), src)
        if rc is not None:
            phis[2].add_incoming(rc, src)
        b.position_at_end(cont)

    def deopt_block(self, write_locals, after_probe, with_rc):
        """The function's shared deoptimization exit (one per kind; phis for ip, sp and a
        status): `with_rc`: a nonzero status is a trap at ip; `write_locals`: store every local
        to the value stack (mem2reg turns the loads into phis of the values at each site)."""
        key = (write_locals, after_probe, with_rc)
        blk = self.deopt_bbs.get(key)
        if blk is None:
            b = self.b
            bb = self.fn.append_basic_block("deopt")
            with b.goto_block(bb):
                phis = [b.phi(i32), b.phi(i32)]
                if with_rc:
                    phis.append(b.phi(i32))
                    go = self.fn.append_basic_block("deopt")
                    fail = b.icmp_unsigned("!=", phis[2], self.c32(0))
                    self.trap_phi_ip.add_incoming(phis[0], b.block)
                    self.trap_phi_code.add_incoming(phis[2], b.block)
                    b.cbranch(fail, self.trap_bb, go)
                    b.position_at_end(go)
                if write_locals:
                    for i, wt in enumerate(self.local_types):
                        self.sstore(self.to_bits(b.load(self.locals[i], typ=LLTYPE[wt]), wt), i)
                rc = b.call(self.mc.helpers["wz_jit_deopt"],
                            [self.t, self.fidx, phis[0], b.add(self.fp, phis[1]),
                             self.c32(1 if after_probe else 0)])
                b.ret(rc)
            blk = self.deopt_bbs[key] = (bb, phis)
        return blk

    # ------------------------------------------------------------------ labels
    def label(self, ip):
        lab = self.labels.get(ip)
        if lab is None:
            lab = self.labels[ip] = _Label(self.fn.append_basic_block(f"L{ip}"))
        return lab

    def slot(self, h, wt):
        key = (h, LLTYPE[wt])
        a = self.slots.get(key)
        if a is None:
            with self.at_entry(start=True):
                a = self.b.alloca(LLTYPE[wt])
            self.slots[key] = a
        return a

    def edge_to(self, ip, stack):
        """Store `stack` (list of (value, wt)) into the label's slots; the caller branches.
        Leaving a flagged loop: to a block of its own (the loop's flags are stored there)."""
        lab = self.label(ip)
        types = [wt for _, wt in stack]
        if lab.types is None:
            lab.types = types
        for h, (v, wt) in enumerate(stack):
            self.b.store(v, self.slot(h, wt))
        lab.vcs.append(dict(self.vc))
        lab.cleans.append(frozenset(self.clean))
        for lp in (self.floop, self.iloop):     # leaving a flagged loop, an innermost loop
            if lp is not None and ip != -1 and not lp["head"] <= ip <= lp["end"]:
                return self.exit_block(lab, lp["exits"])
        return lab.bb

    def branch_stack(self, arity, height):
        vs = self.vs
        base = vs[:height]
        return base + (vs[len(vs) - arity:] if arity else [])

    def enter_label(self, lab):
        """Continue at a label. Values valid there: those cached (`vc`) on every edge into it
        (each dominates its edge, so all of them dominate the label); a loop header's
        back-edges come later: there, only the entries of the edges so far that no loop body
        can change."""
        b = self.b
        b.position_at_end(lab.bb)
        vcs = lab.vcs
        vc = {}
        if vcs:
            first = vcs[0]
            rest = vcs[1:]
            # OSR variants: a loop header's back-edges may come from code entered at the OSR
            # point, which the header's first edge does not dominate: keep nothing there
            back = lab.back
            if back and self.osr_ip is not None:
                first = {}
            for key, v in first.items():
                if back and not _pure(key):
                    continue
                if type(key) is tuple and key[0] == "chk":    # bounds checked on every path
                    for o in rest:
                        w = o.get(key)
                        if w is None:
                            break
                        v = min(v, w)
                    else:
                        vc[key] = v
                elif all(o.get(key) is v for o in rest):
                    vc[key] = v
        lab.vcs = []
        self.vc = vc
        # locals whose value-stack slot holds their value on every path (see write_out)
        cleans = lab.cleans
        clean = set(cleans[0]).intersection(*cleans[1:]) if cleans else set()
        clean.difference_update(lab.dirty)
        lab.cleans = []
        self.clean = clean
        self.vs = [(b.load(self.slot(h, wt), typ=LLTYPE[wt]), wt) for h, wt in enumerate(lab.types)]
        self.reachable = True

    # ------------------------------------------------------------------ the function
    def compile(self):
        fc = self.fc
        L = self.L
        fn = self.fn
        words = self.words
        self.entry_bb = fn.append_basic_block("entry")
        b = self.b = ir.IRBuilder(self.entry_bb)
        if self.lean:
            self.t, self.f, self.fidx, self.fp = fn.args[:4]
        else:
            self.t, self.f, self.fp = fn.args
        self.labels: dict[int, _Label] = {}
        self.slots = {}
        self.deopt_bbs = {}
        self.ptrs = {}          # (id(base), offset) -> address computed in the entry block
        self.entry_vals = set() # ids of the values those bases may be
        # values valid wherever code is emitted next (dominating it): local index -> value,
        # "msize", invariant fields, sp; cleared at labels (see enter_label)
        self.vc = {}
        ops = set()
        generic = 0
        self.kinds = {}
        self.pending_hits: list[int] = []      # ips of armed HitProbes since the last flush
        for ip in fc.pc_of_ip:
            op = words[ip]
            if op == OP_PROBE:
                ops.add(self.probe_ops[ip])
                kind = self.kinds[ip] = self.mc.probe_kind(self.d, ip)
                if kind == "generic":
                    generic += 1
            else:
                ops.add(op)
        # A function with many generic probe sites (the tiered tier leaves such a function to
        # the interpreter) deoptimizes to fire them: the interpreter fires the probe and runs
        # the rest of the activation. The sites then share the function's deopt exit (locals as
        # phis there), instead of a block each that writes every local out: ~1/5 of the IR.
        self.deopt_fire = generic > self.mc.max_generic
        calls = bool(ops & {0x10, 0x11})
        self.has_mem = self.has_mem and any(0x28 <= op <= 0x40 for op in ops)
        self.entry_vals.update((id(self.t), id(self.f)))
        # the frame
        self.stack = self.fld(self.t, L.t_stack, ptr, invariant=True)
        self.fp64 = b.zext(self.fp, i64)
        self.lp = b.gep(self.stack, [self.fp64], source_etype=i64, inbounds=True)
        frames = self.fld(self.t, L.t_frames, ptr, invariant=True)
        if not self.lean:
            self.fidx = self.fld(self.t, L.t_nframes, i32)
        self.frame = b.gep(frames, [b.mul(b.zext(self.fidx, i64), self.c64(L.fr_size))],
                           source_etype=i8, inbounds=True)
        self.entry_vals.update((id(self.lp), id(self.frame)))
        self.nf = b.add(self.fidx, self.c32(1))
        if not self.lean:
            # push the frame: func, fp, serial 0. ip/sp are written where anything can look
            # at them (before calls, probes and traps); ret_ip is private to the interpreter.
            # (A lean function writes its record only on the way out of a trap.)
            self.write_record()
            self.store_fld(self.t, L.t_nframes, i32, self.nf)
        self.inst = self.fld(self.f, L.f_inst, ptr, invariant=True)
        self.entry_vals.add(id(self.inst))
        if calls:
            self.max_frames = self.fld(self.t, L.t_max_frames, i32, invariant=True)
            self.stack_size = b.zext(self.fld(self.t, L.t_stack_size, i32, invariant=True), i64)
        if self.has_mem:
            mems = self.fld(self.inst, L.i_mems, ptr, invariant=True)
            self.mem = self.fld(mems, 0, ptr, invariant=True)
            self.entry_vals.add(id(self.mem))
            self.mbase = self.fld(self.mem, L.m_base, ptr, invariant=True)
            self.msize = b.alloca(i64)
            b.store(self.fld(self.mem, L.m_size, i64), self.msize)
        # locals
        self.locals = []
        for i, wt in enumerate(self.local_types):
            a = b.alloca(LLTYPE[wt])
            self.locals.append(a)
        for i, wt in enumerate(self.local_types):
            if self.lean and i < fc.num_params:
                v = fn.args[4 + i]
            elif i < fc.num_params or self.osr_ip is not None:   # OSR: every local is live
                v = self.from_bits(self.sload(i), wt)
            else:
                v = ir.Constant(LLTYPE[wt], 0)
            b.store(v, self.locals[i])
        # locals whose value-stack slot holds their current value (write_out skips them): the
        # parameters (OSR: all locals) until set
        self.clean = set(range(self.nl if self.osr_ip is not None else fc.num_params))
        # shared exits
        self.trap_bb = fn.append_basic_block("trap")
        with b.goto_block(self.trap_bb):
            self.trap_phi_ip = b.phi(i32)
            self.trap_phi_code = b.phi(i32)
            if self.lean:
                self.write_record()
            r = b.call(self.mc.helpers["wz_jit_trap"],
                       [self.t, self.fidx, self.trap_phi_ip, self.trap_phi_code])
            self.ret_status(r)
        # where traps go: the trap block, or a flagged loop's (flag_loop_start)
        self.tbb, self.tphi_ip, self.tphi_code = self.trap_bb, self.trap_phi_ip, self.trap_phi_code
        self.floop = None
        self.iloop = None                   # an innermost loop in the flagged region (iloop_*)
        body = fn.append_basic_block("body")
        b.branch(body)
        b.position_at_end(body)

        self.vs = []
        self.reachable = True
        osr = self.osr_ip
        if osr is not None:
            # on-stack replacement: the interpreter stopped at the loop header `osr` (its probe,
            # if any, already fired); load the operand stack and continue after that probe,
            # at the pseudo-label -1 that the walk below places there
            from ..validation import operand_types
            all_types = operand_types(self.mc.defn, self.mc.defn.num_imported_funcs + self.d)
            k_of_ip = {fc.ip_of_pc[pc]: k for k, (pc, _) in enumerate(fc.instrs)}
            types = all_types[k_of_ip[osr]]
            self.vs = [(self.from_bits(self.sload(self.nl + h), wt), wt)
                       for h, wt in enumerate(types)]
            b.branch(self.edge_to(-1, self.vs))
            self.reachable = False
        elif words[0] == OP_PROBE:            # function-entry probe
            self.probe(0)
        # every branch target
        ips = sorted(fc.pc_of_ip)
        last_back = {}          # loop header -> its last back-edge
        sets = []               # (ip, local) of every local.set / local.tee
        for k, ip in enumerate(ips):
            op = words[ip]
            probed = op == OP_PROBE
            if probed:
                op = self.probe_ops[ip]
            if op == 0x21 or op == 0x22:
                sets.append((ip, words[ip + 1]))
            for tgt in self.targets_of(op, ip):
                if tgt <= ip:
                    self.labels[tgt].back = True
                    last_back[tgt] = ip
                if osr is not None and tgt < osr < ip:
                    # OSR: a loop enclosing the OSR loop, reached only by back-edges from after
                    # the OSR point, i.e. after the walk below passed its header: its code
                    # (header .. OSR loop) must be compiled, so its label gets its operand
                    # types (validation) before the walk instead of from a first edge
                    lab = self.labels[tgt]
                    lt = all_types[k_of_ip[tgt]]
                    if lab.types is None and all(lt):
                        lab.types = list(lt)
        for tgt, end in last_back.items():
            self.labels[tgt].dirty = {x for ip, x in sets if tgt <= ip <= end}
        # armed HitProbe locations
        self.hit_sites = {ip for ip, kind in self.kinds.items()
                          if kind == "count" and self.mc.native_parts(self.d, ip)[1]}
        self.sums = False                   # (flag_loops: counting loops add up in registers)
        flagged = self.flag_loops(ips, last_back)
        if self.lean and self.hit_sites:
            # nothing can look at HitProbe state while lean code runs: the whole body keeps it
            # in registers (stored at its returns and traps, like a flagged loop's exits)
            flagged = {ips[0]: ips[-1]}
        # innermost loops (no loop header inside) with at most FLAG_LOOP_SITES armed HitProbes:
        # their runs keep a flag each (floop_run)
        heads = sorted(last_back)
        self.innermost = {h: e for h, e in last_back.items()
                          if not any(h < h2 <= e for h2 in heads)
                          and sum(1 for x in self.hit_sites if h <= x <= e) <= FLAG_LOOP_SITES}
        for ip in ips:
            if self.iloop is not None and ip > self.iloop["end"]:
                self.close_run()
                self.iloop_end()
            if self.floop is not None and ip > self.floop["end"]:
                self.close_run()            # (the last run: into its mask)
                self.flag_loop_end()
            if self.floop is None and ip in flagged:
                self.close_run()            # (the run before the loop: stored)
                self.flag_loop_start(ip, flagged[ip])
            elif self.floop is not None and ip in self.innermost:
                self.close_run()            # (an innermost loop inside the region)
                self.iloop_start(ip, self.innermost[ip])
            op = words[ip]
            probed = op == OP_PROBE
            if probed:
                op = self.probe_ops[ip]
            lab = self.labels.get(ip)
            if ip == osr and lab is not None and lab.types is None:
                lab.types = self.labels[-1].types   # only back-edges reach the OSR loop header
            if lab is not None:
                self.close_run()
                if self.reachable:
                    b.branch(self.edge_to(ip, self.vs))
                if lab.types is not None:
                    self.enter_label(lab)
                else:
                    self.reachable = False
            if ip == osr:
                if self.reachable:
                    if probed:
                        self.probe(ip)
                    self.flush_hits()
                    b.branch(self.edge_to(-1, self.vs))
                self.enter_label(self.labels[-1])
                self.instr(op, ip)
                continue
            if not self.reachable:
                continue
            if probed:
                self.probe(ip)
            if op not in _STRAIGHT:
                self.flush_hits()
            self.instr(op, ip)
        if self.reachable:   # cannot happen: the last instruction is the final end (return)
            b.unreachable()
        if self.floop is not None:          # a lean body's region (returns stored it)
            self.close_run()
            self.flag_loop_end()
        # unused shared blocks still need valid terminators/phis
        if not self.trap_phi_ip.incomings:
            fn.blocks.remove(self.trap_bb)
        # labels created for targets but never reached
        for lab in self.labels.values():
            if not lab.bb.is_terminated:
                with b.goto_block(lab.bb):
                    b.unreachable()

    def targets_of(self, op, ip) -> list[int]:
        """Create the labels of the branch targets of the instruction at ip; returns them."""
        w = self.words
        if op in (0x0C, 0x0D, 0x04, 0x05):
            tgts = [w[ip + 1]]
        elif op == 0x0E:
            tgts = [w[ip + 2 + 3 * k] for k in range(w[ip + 1] + 1)]
        else:
            return []
        for t in tgts:
            self.label(t)
        return tgts

    # ------------------------------------------------------------------ instructions
    def instr(self, op, ip):
        h = _HANDLERS.get(op)
        if h is not None:
            h(self, ip)
            return
        h = _SIMPLE.get(op)
        if h is None:
            raise NotImplementedError(f"jit: opcode 0x{op:x}")
        if op in _COMPARES:
            # a comparison consumed right away by br_if/if/select (no label or probe between)
            # stays an i1 (no zext + compare with 0)
            nxt = self.words[ip + 1]
            self.fuse = nxt in (0x0D, 0x04, 0x1B) and (ip + 1) not in self.labels
        h(self)
        self.fuse = False

    def bool_result(self, c):
        """The i32 result of a comparison (i1 `c`), or `c` itself when fused (see instr)."""
        return c if self.fuse else self.b.zext(c, i32)

    # control
    def i_unreachable(self, ip):
        self.trap(T_UNREACHABLE, ip)
        self.reachable = False

    def i_nop(self, ip):
        pass

    def cond(self):
        """Pop an i32 condition as an i1 (a comparison right before is used directly)."""
        c = self.pop()
        if c.type == i1:
            return c
        return self.b.icmp_unsigned("!=", c, self.c32(0))

    def edge_block(self, ip, stack):
        """A block that passes `stack` to the label at ip: the label's own block when nothing
        is passed, else a new block storing it."""
        if not stack:
            return self.edge_to(ip, stack)
        b = self.b
        e = self.fn.append_basic_block()
        with b.goto_block(e):
            b.branch(self.edge_to(ip, stack))
        return e

    def i_if(self, ip):
        b = self.b
        c = self.cond()
        then = self.fn.append_basic_block()
        b.cbranch(c, then, self.edge_block(self.words[ip + 1], self.vs))
        b.position_at_end(then)

    def i_else(self, ip):
        self.b.branch(self.edge_to(self.words[ip + 1], self.vs))
        self.reachable = False

    def i_br(self, ip):
        w = self.words
        self.b.branch(self.edge_to(w[ip + 1], self.branch_stack(w[ip + 2], w[ip + 3])))
        self.reachable = False

    def i_br_if(self, ip):
        b = self.b
        w = self.words
        c = self.cond()
        cont = self.fn.append_basic_block()
        b.cbranch(c, self.edge_block(w[ip + 1], self.branch_stack(w[ip + 2], w[ip + 3])), cont)
        b.position_at_end(cont)

    def i_br_table(self, ip):
        b = self.b
        w = self.words
        n = w[ip + 1]
        idx = self.pop()
        edges = {}
        blocks = []
        for k in range(n + 1):
            key = tuple(w[ip + 2 + 3 * k: ip + 5 + 3 * k])
            e = edges.get(key)
            if e is None:
                e = edges[key] = self.edge_block(key[0], self.branch_stack(key[1], key[2]))
            blocks.append(e)
        sw = b.switch(idx, blocks[n])
        for k in range(n):
            if blocks[k] is not blocks[n]:
                sw.add_case(self.c32(k), blocks[k])
        self.reachable = False

    def i_return(self, ip):
        b = self.b
        n = self.words[ip + 1]
        vals = self.vs[len(self.vs) - n:] if n else []
        if self.lean:
            if self.floop is not None:      # the loop's flags are stored on the way out
                rb = self.fn.append_basic_block("ret")
                b.branch(rb)
                self.flag_exit(b.block)
                b.position_at_end(rb)
            agg = ir.Constant(self.fn.function_type.return_type, ir.Undefined)
            agg = b.insert_value(agg, self.c32(0), 0)
            for i, (v, wt) in enumerate(vals):
                agg = b.insert_value(agg, v, 1 + i)
            b.ret(agg)
            self.reachable = False
            return
        for i, (v, wt) in enumerate(vals):
            self.sstore(self.to_bits(v, wt), i)
        self.store_fld(self.t, self.L.t_nframes, i32, self.fidx)
        if self.floop is not None:          # the loop's flags are stored on the way out
            b.branch(self.ret_bb())
            self.flag_exit(b.block)
        else:
            b.ret(self.c32(0))
        self.reachable = False

    def ret_bb(self):
        """A block returning 0 (status: the function returned)."""
        rb = self.__dict__.get("_ret_bb")
        if rb is None:
            rb = self._ret_bb = self.fn.append_basic_block("ret")
            with self.b.goto_block(rb):
                self.b.ret(self.c32(0))
        return rb

    def do_call(self, ip, g, ftype, direct=None, next_ip=None):
        """Call wz_func* `g` (any kind) of type `ftype` with its arguments on the stack.
        `direct`: defined index of a callee compiled in this LLVM module: when `g->jit_entry`
        still is that code, call it directly (checks inline, LLVM may inline it), else go
        through the dispatcher (interpreter, host, recompiled code)."""
        if direct is not None and direct in self.mc.lean:
            return self.lean_call(ip, g, ftype, direct, next_ip)
        assert not self.lean, "a lean function calls only lean code"
        b = self.b
        L = self.L
        np_ = len(ftype.params)
        h = len(self.vs)
        base_h = h - np_
        base = self.sp_at(base_h)
        # like the interpreter: while a frame calls, its operand stack excludes the arguments
        # (they are the callee's locals): sp = base
        self.write_out(ip, h, thread_sp=False, args=np_, sp=base)
        if direct is None:
            rc = b.call(self.mc.helpers["wz_jit_call"], [self.t, g, base])
        else:
            callee = self.mc.functions[direct]
            cfc = self.mc.wmod.codes[direct]
            entry = self.fld(g, L.f_jit_entry, ptr)
            ok = b.icmp_unsigned("==", entry, callee)
            # frame limit and C stack (once per activation), value stack room; no check of
            # t->global_probes / t->limits: wz_invoke and the dispatcher send new activations to
            # the interpreter when they are set, running compiled frames deoptimize at returns
            ok = b.and_(ok, self.call_ok())
            need = self.nl + base_h + cfc.num_locals + cfc.max_stack
            if need:
                ok = b.and_(ok, b.icmp_unsigned("<=", self.c64(need), self.stack_room()))
            fast = self.fn.append_basic_block()
            slow = self.fn.append_basic_block()
            join = self.fn.append_basic_block()
            b.cbranch(ok, fast, slow).set_metadata("prof", self.mc.hot_weights)
            b.position_at_end(fast)
            rc1 = b.call(callee, [self.t, g, base])
            b.branch(join)
            b.position_at_end(slow)
            rc2 = b.call(self.mc.helpers["wz_jit_call"], [self.t, g, base])
            b.branch(join)
            b.position_at_end(join)
            rc = b.phi(i32)
            rc.add_incoming(rc1, fast)
            rc.add_incoming(rc2, slow)
        del self.vs[base_h:]
        for v, wt in zip(self.call_returned(rc, ftype, base_h, next_ip), ftype.results):
            self.push(v, wt)
        self.reload_msize()

    def call_returned(self, rc, ftype, base_h, next_ip):
        """After a call that may have run Python: the callee's status, the deoptimization test
        at next_ip, then its results, loaded from the value stack (returned)."""
        # the callee's status first, on its own: folded into the deopt test below, fib's calls
        # were 4% slower (the test then waits for the flag loads)
        self.check_callee_rc(rc)
        self.deopt_check(next_ip, base_h + len(ftype.results),
                         write=None if self.mc.frame_state else base_h)
        return [self.from_bits(self.sload(self.nl + base_h + i), wt)
                for i, wt in enumerate(ftype.results)]

    def lean_call(self, ip, g, ftype, d, next_ip):
        """Call lean function d (ModuleCompiler.lean_set) with its arguments in registers.
        Nothing is written before the call: no Python runs until it returns. From lean code
        the call checks the frame limit and the stack room itself (a trap at ip, as
        wz_jit_call would record it); from other code, while `g->jit_entry` is still d's entry
        of this module, else (or without room) it goes through the dispatcher as any call."""
        b = self.b
        np_ = len(ftype.params)
        h = len(self.vs)
        base_h = h - np_
        base = self.sp_at(base_h)
        args = [v for v, _ in self.vs[base_h:]]
        cfc = self.mc.wmod.codes[d]
        ok = self.call_ok()
        need = self.nl + base_h + cfc.num_locals + cfc.max_stack
        if need:
            ok = b.and_(ok, b.icmp_unsigned("<=", self.c64(need), self.stack_room()))
        callee = self.mc.lean_fns[d]
        if self.lean:
            self.trap_if(b.not_(ok), T_STACK, ip)
            r = b.call(callee, [self.t, g, self.nf, base] + args)
            self.check_callee_rc(b.extract_value(r, 0), ip)
            results = [b.extract_value(r, 1 + i) for i in range(len(ftype.results))]
        else:
            entry = self.fld(g, self.L.f_jit_entry, ptr)
            ok = b.and_(b.icmp_unsigned("==", entry, self.mc.functions[d]), ok)
            fast = self.fn.append_basic_block()
            slow = self.fn.append_basic_block()
            join = self.fn.append_basic_block()
            b.cbranch(ok, fast, slow).set_metadata("prof", self.mc.hot_weights)
            b.position_at_end(fast)
            r = b.call(callee, [self.t, g, self.nf, base] + args)
            self.check_callee_rc(b.extract_value(r, 0), ip)
            fast_res = [b.extract_value(r, 1 + i) for i in range(len(ftype.results))]
            fast_end = b.block
            b.branch(join)
            # the dispatcher (Python may run): the frame is written out, flags stored
            b.position_at_end(slow)
            if self.floop is not None:
                go = self.fn.append_basic_block()
                b.branch(go)
                self.flag_exit(slow)
                b.position_at_end(go)
            vc, clean = dict(self.vc), set(self.clean)
            self.write_out(ip, h, thread_sp=False, args=np_, sp=base)
            rc = b.call(self.mc.helpers["wz_jit_call"], [self.t, g, base])
            slow_res = self.call_returned(rc, ftype, base_h, next_ip)
            slow_end = b.block
            b.branch(join)
            self.vc, self.clean = vc, clean
            b.position_at_end(join)
            results = []
            for v1, v2, wt in zip(fast_res, slow_res, ftype.results):
                phi = b.phi(LLTYPE[wt])
                phi.add_incoming(v1, fast_end)
                phi.add_incoming(v2, slow_end)
                results.append(phi)
        del self.vs[base_h:]
        for v, wt in zip(results, ftype.results):
            self.push(v, wt)
        self.reload_msize()

    def stack_room(self):
        """i64: value-stack slots from fp to the end of the stack (once, in the entry block)."""
        room = self.__dict__.get("_room")
        if room is None:
            with self.at_entry():
                room = self._room = self.b.sub(self.stack_size, self.fp64)
        return room

    def call_ok(self):
        """i1: a direct call may push a frame (frame limit) and has C stack room. Both are
        fixed for an activation: computed once, in the entry block (the C stack pointer is
        constant inside a function; the thread's stack limit is per OS thread)."""
        ok = self.__dict__.get("_call_ok")
        if ok is None:
            b = self.b
            L = self.L
            with self.at_entry():
                ok = b.icmp_unsigned("<", self.nf, self.max_frames)
                sp_now = b.ptrtoint(b.call(self.mc.intrinsic("llvm.stacksave.p0", ptr, []), []),
                                    i64)
                lim = self.fld(self.t, L.t_stack_limit, i64, invariant=True)
                ok = self._call_ok = b.and_(ok, b.icmp_unsigned(">=", sp_now, lim))
        return ok

    def i_call(self, ip):
        idx = self.words[ip + 1]
        funcs = self.ifld(self.inst, self.L.i_funcs, ptr)
        g = self.ifld(funcs, 8 * idx, ptr)
        nimp = self.mc.defn.num_imported_funcs
        direct = idx - nimp if idx >= nimp and (idx - nimp) in self.mc.functions else None
        self.do_call(ip, g, self.mc.defn.func_type(idx), direct, ip + 2)

    def i_call_indirect(self, ip):
        b = self.b
        L = self.L
        ti, tab = self.words[ip + 1], self.words[ip + 2]
        ftype = self.mc.defn.types[ti]
        sig = self.mc.engine.sig_id(ftype)
        i = self.pop()
        tables = self.ifld(self.inst, L.i_tables, ptr)
        tp = self.ifld(tables, 8 * tab, ptr)
        size = self.fld(tp, L.tb_size, i32)
        self.trap_if(b.icmp_unsigned(">=", i, size), T_UNDEF_ELEM, ip)
        elems = self.fld(tp, L.tb_elems, ptr)
        gv = b.load(b.gep(elems, [b.zext(i, i64)], source_etype=i64, inbounds=True), typ=i64)
        self.trap_if(b.icmp_unsigned("==", gv, self.c64(0)), T_UNINIT_ELEM, ip)
        g = b.inttoptr(gv, ptr)
        gsig = self.fld(g, L.f_sig, i32)
        self.trap_if(b.icmp_unsigned("!=", gsig, self.c32(sig)), T_INDIRECT_SIG, ip)
        self.do_call(ip, g, ftype, next_ip=ip + 3)

    # parametric / variables
    def i_drop(self, ip):
        self.vs.pop()

    def i_select(self, ip):
        c = self.cond()
        bv = self.pop()
        av, wt = self.vs.pop()
        self.push(self.b.select(c, av, bv), wt)

    def i_local_get(self, ip):
        x = self.words[ip + 1]
        self.push(self.get_local(x), self.local_types[x])

    def i_local_set(self, ip):
        self.set_local(self.words[ip + 1], self.pop())

    def i_local_tee(self, ip):
        self.set_local(self.words[ip + 1], self.vs[-1][0])

    def global_ptr(self, x):
        key = ("gp", x)
        gp = self.vc.get(key)
        if gp is None:
            gl = self.ifld(self.inst, self.L.i_globals, ptr)
            gp = self.ifld(gl, 8 * x, ptr)
            if self.L.g_value:
                gp = self.b.gep(gp, [self.c64(self.L.g_value)], source_etype=i8, inbounds=True)
            self.vc[key] = gp
        return gp

    def i_global_get(self, ip):
        x = self.words[ip + 1]
        gt = self.mc.defn.all_globals()[x]
        wt = gt.valtype
        v = self.b.load(self.global_ptr(x), typ=LLTYPE[wt])
        v.set_metadata("tbaa", self.mc.tbaa_global)
        self.push(v, wt)

    def i_global_set(self, ip):
        st = self.b.store(self.pop(), self.global_ptr(self.words[ip + 1]))
        st.set_metadata("tbaa", self.mc.tbaa_global)

    def i_table_get(self, ip):
        b = self.b
        tab = self.words[ip + 1]
        i = self.pop()
        out = self.tmp64()
        rc = b.call(self.mc.helpers["wz_jit_table_get"], [self.f, self.c32(tab), i, out])
        self.check_rc_at(rc, ip)
        self.push(b.load(out, typ=i64), self.mc.defn.all_tables()[tab].elem_type)

    def tmp64(self):
        a = getattr(self, "_tmp", None)
        if a is None:
            with self.at_entry(start=True):
                a = self._tmp = self.b.alloca(i64)
        return a

    def i_table_set(self, ip):
        b = self.b
        tab = self.words[ip + 1]
        v = self.pop()
        i = self.pop()
        rc = b.call(self.mc.helpers["wz_jit_table_set"], [self.f, self.c32(tab), i, v])
        self.check_rc_at(rc, ip)

    # memory
    def addr(self, ip, size):
        """Checked address of a `size`-byte access at the popped address + offset. A check
        implied by an earlier one of the same address value (same or larger end) is left
        out: memory never shrinks."""
        b = self.b
        a = self.pop()
        off = self.words[ip + 1]
        end = off + size
        if isinstance(a, ir.Constant):
            za = self.c64(a.constant)
        else:
            zkey = ("za", id(a))
            za = self.vc.get(zkey)
            if za is None:
                za = self.vc[zkey] = b.zext(a, i64)
        ckey = ("chk", a.constant if isinstance(a, ir.Constant) else id(a))
        if self.vc.get(ckey, -1) < end:
            if isinstance(a, ir.Constant):
                bad = b.icmp_unsigned(">", self.c64(a.constant + end), self.mem_size())
            else:
                # zext(a) > size - end, signed: one compare against a value LLVM computes
                # once per memory size (no add per access); size < end makes it negative,
                # below every address (both sides are far from 2^63)
                lkey = f"lim{end}"       # (not _pure: dropped with "msize", _drop_lims)
                lim = self.vc.get(lkey)
                if lim is None:
                    lim = self.vc[lkey] = b.sub(self.mem_size(), self.c64(end))
                bad = b.icmp_signed(">", za, lim)
            self.trap_if(bad, T_MEM_OOB, ip)
            self.vc[ckey] = end
        p = b.gep(self.mbase, [za], source_etype=i8, inbounds=True)
        if off:
            p = b.gep(p, [self.c64(off)], source_etype=i8, inbounds=True)
        return p

    def load(self, ip, ty, size, wt, ext=None, signed=False):
        b = self.b
        p = self.addr(ip, size)
        v = b.load(p, typ=ty, align=1)
        v.set_metadata("tbaa", self.mc.tbaa_mem)
        if ext is not None:
            v = b.sext(v, ext) if signed else b.zext(v, ext)
        self.push(v, wt)

    def store(self, ip, size, trunc=None):
        b = self.b
        v = self.pop()
        p = self.addr(ip, size)
        if trunc is not None:
            v = b.trunc(v, trunc)
        b.store(v, p, align=1).set_metadata("tbaa", self.mc.tbaa_mem)

    def i_memory_size(self, ip):
        b = self.b
        self.push(b.trunc(b.lshr(self.mem_size(), self.c64(16)), i32), I32)

    def i_memory_grow(self, ip):
        b = self.b
        n = self.pop()
        r = b.call(self.mc.helpers["wz_jit_memory_grow"], [self.f, n])
        self.reload_msize()
        self.push(r, I32)

    def helper_rc(self, ip, name, args):
        b = self.b
        rc = b.call(self.mc.helpers[name], [self.f] + args)
        self.check_rc_at(rc, ip)

    def i_memory_init(self, ip):
        n, s, d = self.pop(), self.pop(), self.pop()
        self.helper_rc(ip, "wz_jit_memory_init", [self.c32(self.words[ip + 1]), d, s, n])

    def i_data_drop(self, ip):
        self.b.call(self.mc.helpers["wz_jit_data_drop"], [self.f, self.c32(self.words[ip + 1])])

    def i_memory_copy(self, ip):
        n, s, d = self.pop(), self.pop(), self.pop()
        self.helper_rc(ip, "wz_jit_memory_copy", [d, s, n])

    def i_memory_fill(self, ip):
        n, v, d = self.pop(), self.pop(), self.pop()
        self.helper_rc(ip, "wz_jit_memory_fill", [d, v, n])

    def i_table_init(self, ip):
        n, s, d = self.pop(), self.pop(), self.pop()
        w = self.words
        self.helper_rc(ip, "wz_jit_table_init", [self.c32(w[ip + 1]), self.c32(w[ip + 2]), d, s, n])

    def i_elem_drop(self, ip):
        self.b.call(self.mc.helpers["wz_jit_elem_drop"], [self.f, self.c32(self.words[ip + 1])])

    def i_table_copy(self, ip):
        n, s, d = self.pop(), self.pop(), self.pop()
        w = self.words
        self.helper_rc(ip, "wz_jit_table_copy", [self.c32(w[ip + 1]), self.c32(w[ip + 2]), d, s, n])

    def i_table_grow(self, ip):
        n, init = self.pop(), self.pop()
        r = self.b.call(self.mc.helpers["wz_jit_table_grow"], [self.f, self.c32(self.words[ip + 1]), init, n])
        self.push(r, I32)

    def i_table_size(self, ip):
        r = self.b.call(self.mc.helpers["wz_jit_table_size"], [self.f, self.c32(self.words[ip + 1])])
        self.push(r, I32)

    def i_table_fill(self, ip):
        n, v, i = self.pop(), self.pop(), self.pop()
        self.helper_rc(ip, "wz_jit_table_fill", [self.c32(self.words[ip + 1]), i, v, n])

    # constants, references
    def i_i32_const(self, ip):
        self.push(self.c32(self.words[ip + 1]), I32)

    def i_i64_const(self, ip):
        w = self.words
        self.push(self.c64(w[ip + 1] | (w[ip + 2] << 32)), I64)

    def i_f32_const(self, ip):
        self.push(ir.Constant(i32, self.words[ip + 1]).bitcast(f32), F32)

    def i_f64_const(self, ip):
        w = self.words
        self.push(self.c64(w[ip + 1] | (w[ip + 2] << 32)).bitcast(f64), F64)

    def i_ref_null(self, ip):
        self.push(self.c64(0), FUNCREF)

    def i_ref_is_null(self, ip):
        b = self.b
        self.push(b.zext(b.icmp_unsigned("==", self.pop(), self.c64(0)), i32), I32)

    def i_ref_func(self, ip):
        funcs = self.fld(self.inst, self.L.i_funcs, ptr, invariant=True)
        g = self.fld(funcs, 8 * self.words[ip + 1], ptr, invariant=True)
        self.push(self.b.ptrtoint(g, i64), FUNCREF)

    # integer division (traps)
    def divrem(self, ip, ty, signed, rem):
        b = self.b
        y = self.pop()
        x = self.pop()
        zero = ir.Constant(ty, 0)
        self.trap_if(b.icmp_unsigned("==", y, zero), T_DIV_ZERO, ip)
        wt = I32 if ty is i32 else I64
        bits = ty.width
        if signed:
            minus1 = ir.Constant(ty, -1)
            if not rem:
                intmin = ir.Constant(ty, -(1 << (bits - 1)))
                ovf = b.and_(b.icmp_unsigned("==", x, intmin), b.icmp_unsigned("==", y, minus1))
                self.trap_if(ovf, T_INT_OVERFLOW, ip)
                self.push(b.sdiv(x, y), wt)
            else:
                # x rem -1 = 0 (and INT_MIN rem -1 must not fault)
                ism1 = b.icmp_unsigned("==", y, minus1)
                ysafe = b.select(ism1, ir.Constant(ty, 1), y)
                self.push(b.srem(x, ysafe), wt)
        else:
            self.push(b.urem(x, y) if rem else b.udiv(x, y), wt)

    # float -> int, trapping
    def trunc(self, ip, fty, ity, signed):
        b = self.b
        x = self.pop()
        self.trap_if(b.fcmp_unordered("uno", x, x), T_INVALID_CONV, ip)
        bits = ity.width
        if signed:
            hi = float(1 << (bits - 1))
            lo = -hi
            # the exact bounds: lo is representable; below it, lo-1 may not be (f32)
            if fty is f64 and bits == 32:
                ok = b.and_(b.fcmp_ordered(">", x, ir.Constant(fty, lo - 1.0)),
                            b.fcmp_ordered("<", x, ir.Constant(fty, hi)))
            else:
                ok = b.and_(b.fcmp_ordered(">=", x, ir.Constant(fty, lo)),
                            b.fcmp_ordered("<", x, ir.Constant(fty, hi)))
            self.trap_if(b.not_(ok), T_INT_OVERFLOW, ip)
            v = b.fptosi(x, ity)
        else:
            hi = float(1 << bits)
            ok = b.and_(b.fcmp_ordered(">", x, ir.Constant(fty, -1.0)),
                        b.fcmp_ordered("<", x, ir.Constant(fty, hi)))
            self.trap_if(b.not_(ok), T_INT_OVERFLOW, ip)
            v = b.fptoui(x, ity)
        self.push(v, I32 if ity is i32 else I64)

    def trunc_sat(self, fty, ity, signed):
        b = self.b
        x = self.pop()
        kind = "fptosi" if signed else "fptoui"
        fname = f"llvm.{kind}.sat.i{ity.width}.{'f32' if fty is f32 else 'f64'}"
        fn = self.mc.intrinsic(fname, ity, [fty])
        self.push(b.call(fn, [x]), I32 if ity is i32 else I64)


def _opaque(fc, v, ty, always=False):
    """Hide a float operand from LLVM's folding (an empty inline asm: no instruction). Folds
    that are exact for numbers (x - 0.0 -> x, x * 1.0 -> x, demote(promote(x)) -> x) return a
    signalling NaN unquieted, where Wasm requires an arithmetic (quiet) NaN."""
    if always or isinstance(v, ir.Constant):
        return fc.b.asm(ir.FunctionType(ty, [ty]), "", "=x,0", [v], False)
    return v


def _bin(fn, wt):
    def h(fc):
        y = fc.pop()
        x = fc.pop()
        fc.push(fn(fc, x, y), wt)
    return h


def _un(fn, wt):
    def h(fc):
        fc.push(fn(fc, fc.pop()), wt)
    return h


def _icmp(pred, signed, ty):
    def f(fc, x, y):
        b = fc.b
        c = b.icmp_signed(pred, x, y) if signed else b.icmp_unsigned(pred, x, y)
        return fc.bool_result(c)
    return _bin(f, I32)


def _fcmp(pred, ty):
    def f(fc, x, y):
        b = fc.b
        c = b.fcmp_unordered(pred, x, y) if pred == "!=" else b.fcmp_ordered(pred, x, y)
        return fc.bool_result(c)
    return _bin(f, I32)


def _intr1(name, ty, wt, extra=()):
    def f(fc, x):
        fn = fc.mc.intrinsic(name, ty, [ty] + [e.type for e in extra])
        return fc.b.call(fn, [x, *extra])
    return _un(f, wt)


def _intr2(name, ty, wt):
    def f(fc, x, y):
        fn = fc.mc.intrinsic(name, ty, [ty, ty])
        return fc.b.call(fn, [x, y])
    return _bin(f, wt)


def _farith(opname, ty, wt):
    def f(fc, x, y):
        x = _opaque(fc, x, ty)
        y = _opaque(fc, y, ty)
        return getattr(fc.b, opname)(x, y)
    return _bin(f, wt)


def _fminmax(name, ty, wt):
    def f(fc, x, y):
        b = fc.b
        fn = fc.mc.intrinsic(name, ty, [ty, ty])
        r = b.call(fn, [x, y])
        nan = b.fcmp_unordered("uno", x, y)
        return b.select(nan, b.fadd(_opaque(fc, x, ty), _opaque(fc, y, ty)), r)
    return _bin(f, wt)


def _fround(name, ty, wt):
    def f(fc, x):
        fn = fc.mc.intrinsic(name, ty, [ty])
        return fc.b.call(fn, [_opaque(fc, x, ty)])
    return _un(f, wt)


def _shift(opname, ty, wt):
    def f(fc, x, y):
        b = fc.b
        y = b.and_(y, ir.Constant(ty, ty.width - 1))
        return getattr(b, opname)(x, y)
    return _bin(f, wt)


def _rot(name, ty, wt):
    def f(fc, x, y):
        fn = fc.mc.intrinsic(name, ty, [ty, ty, ty])
        return fc.b.call(fn, [x, x, y])
    return _bin(f, wt)


def _eqz(ty):
    def f(fc, x):
        return fc.bool_result(fc.b.icmp_unsigned("==", x, ir.Constant(ty, 0)))
    return _un(f, I32)


def _cnt(name, ty, wt, with_flag):
    def f(fc, x):
        if with_flag:
            fn = fc.mc.intrinsic(name, ty, [ty, i1])
            return fc.b.call(fn, [x, ir.Constant(i1, 0)])
        fn = fc.mc.intrinsic(name, ty, [ty])
        return fc.b.call(fn, [x])
    return _un(f, wt)


def _conv(opname, to, wt):
    def f(fc, x):
        return getattr(fc.b, opname)(x, to)
    return _un(f, wt)


def _extend(src, dst, wt):
    def f(fc, x):
        b = fc.b
        return b.sext(b.trunc(x, src), dst)
    return _un(f, wt)


def _fneg(ty, wt):
    return _un(lambda fc, x: fc.b.fneg(x), wt)


_SIMPLE = {
    0x45: _eqz(i32),
    0x46: _icmp("==", False, i32), 0x47: _icmp("!=", False, i32),
    0x48: _icmp("<", True, i32), 0x49: _icmp("<", False, i32),
    0x4A: _icmp(">", True, i32), 0x4B: _icmp(">", False, i32),
    0x4C: _icmp("<=", True, i32), 0x4D: _icmp("<=", False, i32),
    0x4E: _icmp(">=", True, i32), 0x4F: _icmp(">=", False, i32),
    0x50: _eqz(i64),
    0x51: _icmp("==", False, i64), 0x52: _icmp("!=", False, i64),
    0x53: _icmp("<", True, i64), 0x54: _icmp("<", False, i64),
    0x55: _icmp(">", True, i64), 0x56: _icmp(">", False, i64),
    0x57: _icmp("<=", True, i64), 0x58: _icmp("<=", False, i64),
    0x59: _icmp(">=", True, i64), 0x5A: _icmp(">=", False, i64),
    0x5B: _fcmp("==", f32), 0x5C: _fcmp("!=", f32), 0x5D: _fcmp("<", f32),
    0x5E: _fcmp(">", f32), 0x5F: _fcmp("<=", f32), 0x60: _fcmp(">=", f32),
    0x61: _fcmp("==", f64), 0x62: _fcmp("!=", f64), 0x63: _fcmp("<", f64),
    0x64: _fcmp(">", f64), 0x65: _fcmp("<=", f64), 0x66: _fcmp(">=", f64),
    0x67: _cnt("llvm.ctlz.i32", i32, I32, True), 0x68: _cnt("llvm.cttz.i32", i32, I32, True),
    0x69: _cnt("llvm.ctpop.i32", i32, I32, False),
    0x6A: _bin(lambda fc, x, y: fc.b.add(x, y), I32),
    0x6B: _bin(lambda fc, x, y: fc.b.sub(x, y), I32),
    0x6C: _bin(lambda fc, x, y: fc.b.mul(x, y), I32),
    0x71: _bin(lambda fc, x, y: fc.b.and_(x, y), I32),
    0x72: _bin(lambda fc, x, y: fc.b.or_(x, y), I32),
    0x73: _bin(lambda fc, x, y: fc.b.xor(x, y), I32),
    0x74: _shift("shl", i32, I32), 0x75: _shift("ashr", i32, I32), 0x76: _shift("lshr", i32, I32),
    0x77: _rot("llvm.fshl.i32", i32, I32), 0x78: _rot("llvm.fshr.i32", i32, I32),
    0x79: _cnt("llvm.ctlz.i64", i64, I64, True), 0x7A: _cnt("llvm.cttz.i64", i64, I64, True),
    0x7B: _cnt("llvm.ctpop.i64", i64, I64, False),
    0x7C: _bin(lambda fc, x, y: fc.b.add(x, y), I64),
    0x7D: _bin(lambda fc, x, y: fc.b.sub(x, y), I64),
    0x7E: _bin(lambda fc, x, y: fc.b.mul(x, y), I64),
    0x83: _bin(lambda fc, x, y: fc.b.and_(x, y), I64),
    0x84: _bin(lambda fc, x, y: fc.b.or_(x, y), I64),
    0x85: _bin(lambda fc, x, y: fc.b.xor(x, y), I64),
    0x86: _shift("shl", i64, I64), 0x87: _shift("ashr", i64, I64), 0x88: _shift("lshr", i64, I64),
    0x89: _rot("llvm.fshl.i64", i64, I64), 0x8A: _rot("llvm.fshr.i64", i64, I64),
    0x8B: _intr1("llvm.fabs.f32", f32, F32), 0x8C: _fneg(f32, F32),
    0x8D: _fround("llvm.ceil.f32", f32, F32), 0x8E: _fround("llvm.floor.f32", f32, F32),
    0x8F: _fround("llvm.trunc.f32", f32, F32), 0x90: _fround("llvm.roundeven.f32", f32, F32),
    0x91: _fround("llvm.sqrt.f32", f32, F32),
    0x92: _farith("fadd", f32, F32), 0x93: _farith("fsub", f32, F32),
    0x94: _farith("fmul", f32, F32), 0x95: _farith("fdiv", f32, F32),
    0x96: _fminmax("llvm.minimum.f32", f32, F32), 0x97: _fminmax("llvm.maximum.f32", f32, F32),
    0x98: _intr2("llvm.copysign.f32", f32, F32),
    0x99: _intr1("llvm.fabs.f64", f64, F64), 0x9A: _fneg(f64, F64),
    0x9B: _fround("llvm.ceil.f64", f64, F64), 0x9C: _fround("llvm.floor.f64", f64, F64),
    0x9D: _fround("llvm.trunc.f64", f64, F64), 0x9E: _fround("llvm.roundeven.f64", f64, F64),
    0x9F: _fround("llvm.sqrt.f64", f64, F64),
    0xA0: _farith("fadd", f64, F64), 0xA1: _farith("fsub", f64, F64),
    0xA2: _farith("fmul", f64, F64), 0xA3: _farith("fdiv", f64, F64),
    0xA4: _fminmax("llvm.minimum.f64", f64, F64), 0xA5: _fminmax("llvm.maximum.f64", f64, F64),
    0xA6: _intr2("llvm.copysign.f64", f64, F64),
    0xA7: _conv("trunc", i32, I32),
    0xAC: _conv("sext", i64, I64), 0xAD: _conv("zext", i64, I64),
    0xB2: _conv("sitofp", f32, F32), 0xB3: _conv("uitofp", f32, F32),
    0xB4: _conv("sitofp", f32, F32), 0xB5: _conv("uitofp", f32, F32),
    0xB6: _un(lambda fc, x: fc.b.fptrunc(_opaque(fc, x, f64, True), f32), F32),
    0xB7: _conv("sitofp", f64, F64), 0xB8: _conv("uitofp", f64, F64),
    0xB9: _conv("sitofp", f64, F64), 0xBA: _conv("uitofp", f64, F64),
    0xBB: _un(lambda fc, x: fc.b.fpext(_opaque(fc, x, f32), f64), F64),
    0xBC: _conv("bitcast", i32, I32), 0xBD: _conv("bitcast", i64, I64),
    0xBE: _conv("bitcast", f32, F32), 0xBF: _conv("bitcast", f64, F64),
    0xC0: _extend(i8, i32, I32), 0xC1: _extend(i16, i32, I32),
    0xC2: _extend(i8, i64, I64), 0xC3: _extend(i16, i64, I64), 0xC4: _extend(i32, i64, I64),
    0x100: lambda fc: fc.trunc_sat(f32, i32, True), 0x101: lambda fc: fc.trunc_sat(f32, i32, False),
    0x102: lambda fc: fc.trunc_sat(f64, i32, True), 0x103: lambda fc: fc.trunc_sat(f64, i32, False),
    0x104: lambda fc: fc.trunc_sat(f32, i64, True), 0x105: lambda fc: fc.trunc_sat(f32, i64, False),
    0x106: lambda fc: fc.trunc_sat(f64, i64, True), 0x107: lambda fc: fc.trunc_sat(f64, i64, False),
}

_COMPARES = frozenset(range(0x45, 0x67))
# instructions that neither branch, call, end a block nor run a helper: a run of HitProbe
# locations continues across them (flush_hits); the ones that trap store the run on that path
_STRAIGHT = frozenset([0x01, 0x1A, 0x1B, 0x1C, *range(0x20, 0x25), *range(0x28, 0x3F),
                       *range(0x41, 0xC5), 0xD0, 0xD1, 0xD2, *range(0x100, 0x108)])

F = FunctionCompiler
_HANDLERS = {
    0x00: F.i_unreachable, 0x01: F.i_nop, 0x02: F.i_nop, 0x03: F.i_nop, 0x0B: F.i_nop,
    OP_ENTRY: F.i_nop,
    0x04: F.i_if, 0x05: F.i_else, 0x0C: F.i_br, 0x0D: F.i_br_if, 0x0E: F.i_br_table,
    0x0F: F.i_return, 0x10: F.i_call, 0x11: F.i_call_indirect,
    0x1A: F.i_drop, 0x1B: F.i_select,
    0x20: F.i_local_get, 0x21: F.i_local_set, 0x22: F.i_local_tee,
    0x23: F.i_global_get, 0x24: F.i_global_set, 0x25: F.i_table_get, 0x26: F.i_table_set,
    0x3F: F.i_memory_size, 0x40: F.i_memory_grow,
    0x41: F.i_i32_const, 0x42: F.i_i64_const, 0x43: F.i_f32_const, 0x44: F.i_f64_const,
    0xD0: F.i_ref_null, 0xD1: F.i_ref_is_null, 0xD2: F.i_ref_func,
    0x6D: lambda fc, ip: fc.divrem(ip, i32, True, False),
    0x6E: lambda fc, ip: fc.divrem(ip, i32, False, False),
    0x6F: lambda fc, ip: fc.divrem(ip, i32, True, True),
    0x70: lambda fc, ip: fc.divrem(ip, i32, False, True),
    0x7F: lambda fc, ip: fc.divrem(ip, i64, True, False),
    0x80: lambda fc, ip: fc.divrem(ip, i64, False, False),
    0x81: lambda fc, ip: fc.divrem(ip, i64, True, True),
    0x82: lambda fc, ip: fc.divrem(ip, i64, False, True),
    0xA8: lambda fc, ip: fc.trunc(ip, f32, i32, True),
    0xA9: lambda fc, ip: fc.trunc(ip, f32, i32, False),
    0xAA: lambda fc, ip: fc.trunc(ip, f64, i32, True),
    0xAB: lambda fc, ip: fc.trunc(ip, f64, i32, False),
    0xAE: lambda fc, ip: fc.trunc(ip, f32, i64, True),
    0xAF: lambda fc, ip: fc.trunc(ip, f32, i64, False),
    0xB0: lambda fc, ip: fc.trunc(ip, f64, i64, True),
    0xB1: lambda fc, ip: fc.trunc(ip, f64, i64, False),
    0x28: lambda fc, ip: fc.load(ip, i32, 4, I32),
    0x29: lambda fc, ip: fc.load(ip, i64, 8, I64),
    0x2A: lambda fc, ip: fc.load(ip, f32, 4, F32),
    0x2B: lambda fc, ip: fc.load(ip, f64, 8, F64),
    0x2C: lambda fc, ip: fc.load(ip, i8, 1, I32, i32, True),
    0x2D: lambda fc, ip: fc.load(ip, i8, 1, I32, i32, False),
    0x2E: lambda fc, ip: fc.load(ip, i16, 2, I32, i32, True),
    0x2F: lambda fc, ip: fc.load(ip, i16, 2, I32, i32, False),
    0x30: lambda fc, ip: fc.load(ip, i8, 1, I64, i64, True),
    0x31: lambda fc, ip: fc.load(ip, i8, 1, I64, i64, False),
    0x32: lambda fc, ip: fc.load(ip, i16, 2, I64, i64, True),
    0x33: lambda fc, ip: fc.load(ip, i16, 2, I64, i64, False),
    0x34: lambda fc, ip: fc.load(ip, i32, 4, I64, i64, True),
    0x35: lambda fc, ip: fc.load(ip, i32, 4, I64, i64, False),
    0x36: lambda fc, ip: fc.store(ip, 4),
    0x37: lambda fc, ip: fc.store(ip, 8),
    0x38: lambda fc, ip: fc.store(ip, 4),
    0x39: lambda fc, ip: fc.store(ip, 8),
    0x3A: lambda fc, ip: fc.store(ip, 1, i8),
    0x3B: lambda fc, ip: fc.store(ip, 2, i16),
    0x3C: lambda fc, ip: fc.store(ip, 1, i8),
    0x3D: lambda fc, ip: fc.store(ip, 2, i16),
    0x3E: lambda fc, ip: fc.store(ip, 4, i32),
    0x108: F.i_memory_init, 0x109: F.i_data_drop, 0x10A: F.i_memory_copy,
    0x10B: F.i_memory_fill, 0x10C: F.i_table_init, 0x10D: F.i_elem_drop,
    0x10E: F.i_table_copy, 0x10F: F.i_table_grow, 0x110: F.i_table_size, 0x111: F.i_table_fill,
}
del F

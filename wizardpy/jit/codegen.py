"""llvmlite back end: target machine, optimisation pipeline, MCJIT engine, compiled-code registry,
tiering (tier-up, on-stack replacement) and invalidation.

One `JIT` per `Engine`; its only module-level object is the pool of idle LLVM pass builders
(`_BUILDERS`, no engine state: see `_BuilderPool` for why it is process-wide). LLVM is set up
on the first compilation, so an engine of tier "tiered" that never gets hot pays nothing for
it. Native helpers
(native/jit_support.c) are resolved by name through `llvm.add_symbol`.

Compiled code is per Wasm module and shared by its instances (functions reach their instance
through `wz_func.inst`); `_point` sets `wz_func.jit_entry` of every instance's function. The
JIT's state per module (`_ModuleCode`) refers to the module and its functions only weakly: the
JIT never keeps a module alive. All machine code lives in the JIT's one MCJIT execution engine,
freed with the JIT (an engine per module would cost ~1 MiB of RSS each, and a module is only
collected with its Engine anyway: the Engine keeps its instances).

Tiering (wizard.h: wz_func.tier_count / osr_count, wz_thread.jit_hook): the interpreter
decrements a function's call counter at every call and its loop counter at every `loop`
instruction; at 0 it calls `_hook` (through the thread's jit_hook): ip 0 compiles that one
function ("tier-up"); a loop header compiles an OSR variant of the function that loads the
frame's locals and operands from the value stack and continues at that loop, and the
interpreter replaces its frame by the compiled one (on-stack replacement). Tier "jit" compiles a
whole module at instantiation instead (direct calls between its functions).

Invalidation (probes changed in a function): its `jit_version` is bumped and its entry dropped;
the next call recompiles it (re-armed call counter, backing off for functions whose probes keep
changing). Compiled frames still running it deoptimize: after every call and probe they compare
the version (and the thread's global-probe/limits flags and their frame's FrameWriter mark) and
continue in the interpreter (`wz_jit_deopt`) when anything changed.

Memory (measured with malloc_trim, see tests/test_lifecycle.py): each compilation parses its IR
into an LLVM context of its own, and once its machine code is finalized the IR module is removed
from the execution engine and freed with its context (MCJIT keeps code and symbols without it;
the global context would keep every constant and type ever parsed). llvmlite 0.50 frees no
execution engine or pass builder when its Python object is collected: the JIT's engine is closed
by a finalizer (`_free_llvm`); module pass managers are disposed after their run (`_dispose_pm`:
llvmlite's `close()` is a no-op for them, ~75 KiB per O2 compilation); a PassBuilder leaks its
PassInstrumentationCallbacks (~1.5 KiB) when disposed and every run adds a callback to them, so
builders are shared by the JITs of the process and reused for a few dozen runs (`_BuilderPool`).
"""
from __future__ import annotations

import threading
import time
import weakref

import llvmlite.binding as llvm

from .compiler import HELPERS, Layout, ModuleCompiler, max_generic_probes


class CompileStats:
    """One compilation: functions, IR instructions, and its time: building the IR, optimising,
    machine code, and `setup_seconds` (the engine's LLVM target machine and execution engine,
    made on its first compilation; 0 afterwards). `seconds` is their sum."""

    __slots__ = ("_module", "funcs", "ir_instrs", "seconds", "ir_seconds", "opt_seconds",
                 "mc_seconds", "setup_seconds")

    def __init__(self, module, funcs, ir_instrs, ir_s, opt_s, mc_s, setup_s=0.0):
        self._module = weakref.ref(module)  # a record of a compilation never keeps its module
        self.funcs = funcs
        self.ir_instrs = ir_instrs
        self.ir_seconds = ir_s
        self.opt_seconds = opt_s
        self.mc_seconds = mc_s
        self.setup_seconds = setup_s
        self.seconds = setup_s + ir_s + opt_s + mc_s

    @property
    def module(self):
        """The compiled module (None once it was collected)."""
        return self._module()

    def __repr__(self) -> str:
        return (f"<CompileStats funcs={self.funcs} ir_instrs={self.ir_instrs} "
                f"{self.seconds * 1e3:.1f} ms (ir {self.ir_seconds * 1e3:.1f}, opt "
                f"{self.opt_seconds * 1e3:.1f}, mc {self.mc_seconds * 1e3:.1f}, set-up "
                f"{self.setup_seconds * 1e3:.1f})>")


def _free_llvm(ee) -> None:
    """Free a JIT's LLVM objects: its execution engine (with the machine code and its target
    machine)."""
    ee.close()


def _dispose_pm(pm) -> None:
    """Free a module pass manager. In llvmlite 0.50 `ModulePassManager.close()` frees nothing:
    its bases are (ObjectRef, NewPassManager), so ObjectRef's no-op `_dispose` hides the one that
    deletes the pass manager, and with it every pass's state (~75 KiB per O2 compilation)."""
    if type(pm)._dispose is llvm.ffi.ObjectRef._dispose:
        llvm.newpassmanagers.NewPassManager._dispose(pm)
        pm.detach()
    else:                       # a fixed llvmlite
        pm.close()


class _BuilderPool:
    """Idle LLVM pass builders, shared by the JITs of the process: the one process-wide object
    of the JIT. It holds no engine state (a builder is a stateless recipe for the optimisation
    pipeline); it exists because llvmlite cannot free a PassBuilder completely.

    llvmlite leaks a PassBuilder's PassInstrumentationCallbacks (~1.5 KiB) when it is disposed,
    and each run registers one more callback in them that is never removed (~45 bytes; and every
    later run calls all of them, so a builder that lives forever makes compilation slower and
    slower: 3x after 1000 runs). A builder is therefore used for `RUNS` runs, then disposed.
    Builders were per JIT before: every JIT engine leaked ~1.5 KiB (tests/test_lifecycle.py).
    The stale callbacks belong to the OptNone instrumentation of a finished run; they only read
    their (dead) object for functions marked `optnone`, which the JIT never emits.

    A builder is taken for one run and given back (a lock guards the lists: llvmlite releases
    the GIL while LLVM runs, so two threads compiling get two builders). Builders are made with
    a target machine of the pool's own per (cpu, features), which lives as long as they do."""

    RUNS = 32

    def __init__(self):
        self._lock = threading.Lock()
        self._idle: dict = {}        # (cpu, features, level) -> [[pto, PassBuilder, runs], ...]
        self._tms: dict = {}         # (cpu, features) -> TargetMachine

    def run(self, mod, level: int, target, cpu: str, features: str) -> None:
        """Optimise `mod` at `level` with a builder for this target."""
        key = (cpu, features, level)
        with self._lock:
            idle = self._idle.setdefault(key, [])
            b = idle.pop() if idle else None
            if b is None:
                tm = self._tms.get(key[:2])
                if tm is None:
                    tm = self._tms[key[:2]] = target.create_target_machine(
                        cpu=cpu, features=features, opt=min(max(level, 1), 3), jit=True)
                pto = llvm.create_pipeline_tuning_options(level)
                b = [pto, llvm.create_pass_builder(tm, pto), 0]
        b[2] += 1
        pb = b[1]
        try:
            if level == 0:
                pm = llvm.create_new_module_pass_manager()
                pm.add_sroa_pass()           # locals and label slots -> SSA (what mem2reg does)
                pm.add_simplify_cfg_pass()
            else:
                pm = pb.getModulePassManager()
            try:
                pm.run(mod, pb)
            finally:
                _dispose_pm(pm)
        finally:
            if b[2] >= self.RUNS:
                b[1].close()
                b[0].close()
            else:
                with self._lock:
                    self._idle[key].append(b)


# the JIT engines' shared pass builders (see `_BuilderPool`: why this one object is process-wide)
_BUILDERS = _BuilderPool()


class _ModuleCode:
    """What one JIT holds for one Wasm module: the compiled code and tiering state of its defined
    functions (by defined index). Its instances' functions are held weakly."""

    __slots__ = ("code", "osr", "version", "changes", "funcs", "held", "full", "keep",
                 "lean_users")

    def __init__(self):
        self.code: dict = {}        # defined index -> address of its current compiled code
        self.osr: dict = {}         # (defined index, loop ip) -> OSR entry
        self.version: dict = {}     # defined index -> jit_version
        self.changes: dict = {}     # defined index -> invalidations so far
        self.funcs: dict = {}       # defined index -> [weakref to the Func of each instance]
        self.held: set = set()      # defined indices kept interpreted for their probes: compiled
                                    # at their next call once eligible
        self.full = False           # compiled whole (tier "jit")
        self.keep: dict = {}        # id -> cdata its compiled code points at (TallyProbe counts;
                                    # the code stays in the engine as long as the module lives)
        self.lean_users: dict = {}  # defined index d -> [(e, address of e's code)]: lean code
                                    # of e calls d's lean code (compiler.py lean_set), so e's
                                    # code is invalid when d's is

    def instances(self, d):
        """The live Func of defined function d in every instance."""
        for r in self.funcs.get(d, ()):
            fn = r()
            if fn is not None:
                yield fn


class JIT:
    """The JIT tier of one Engine."""

    HOOK_TYPE = "void *(*)(wz_thread *, wz_func *, uint32_t)"

    def __init__(self, engine):
        self.engine = engine
        cfg = engine.config
        self.opt_level = int(cfg.jit_opt_level)
        if cfg.tier == "tiered" and cfg.jit_tiered_opt_level is not None:
            self.opt_level = int(cfg.jit_tiered_opt_level)
        if not 0 <= self.opt_level <= 3:
            raise ValueError(f"jit_opt_level must be 0..3, got {self.opt_level}")
        self.osr_opt_level = self.opt_level if cfg.jit_osr_opt_level is None \
            else int(cfg.jit_osr_opt_level)
        if not 0 <= self.osr_opt_level <= 3:
            raise ValueError(f"jit_osr_opt_level must be 0..3, got {self.osr_opt_level}")
        self.eager = cfg.tier == "jit"
        self.threshold = max(1, int(cfg.jit_threshold))
        self.osr_threshold = max(1, int(cfg.jit_osr_threshold)) if cfg.jit_osr else 0
        # tier "tiered": functions with more generic probe sites than this stay interpreted
        mg = cfg.jit_max_generic_probes
        self.max_generic = None if mg is None or self.eager else max(0, int(mg))
        self.probe_holds = 0              # tier-ups / OSR entries refused for generic probes
        ffi = engine.ffi
        self.ffi = ffi
        self.layout = Layout(ffi)
        self.ee = None                    # LLVM, set up on the first compilation
        self._counter = 0
        self._mods = weakref.WeakKeyDictionary()   # Module -> _ModuleCode
        self.stats: list[CompileStats] = []
        self.keep_ir = cfg.jit_keep_ir
        self.last_ir = weakref.WeakKeyDictionary()  # Module -> optimised IR text (jit_keep_ir)
        self._listening = False
        # counters for `report_stats` / `wizardpy run --stats`
        self.functions_compiled = 0       # function compilations (recompilations included)
        self.lean_compiled = 0            # of which lean (no wz_frame: compiler.py lean_set)
        self.osr_compiled = 0             # OSR variants compiled
        self.compile_seconds = 0.0
        self.tier_ups = 0                 # functions compiled because their call counter expired
        self.osr_entries = 0              # interpreted frames continued in compiled code
        self.errors: list = []            # exceptions of failed compilations (function stays
                                          # interpreted)
        self._hook_cb = ffi.callback(self.HOOK_TYPE, self._hook)
        engine.thread.jit_hook = self._hook_cb

    def _rec(self, module) -> _ModuleCode:
        rec = self._mods.get(module)
        if rec is None:
            rec = self._mods[module] = _ModuleCode()
        return rec

    @property
    def _changes(self) -> dict:
        """{(Module, defined index): invalidations so far} (a snapshot)."""
        return {(m, d): n for m, rec in list(self._mods.items()) for d, n in rec.changes.items()}

    # ------------------------------------------------------------------ LLVM
    def _ensure_llvm(self):
        if self.ee is not None:
            return
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        cfg = self.engine.config
        ffi, lib = self.ffi, self.engine.lib
        for name in HELPERS:
            llvm.add_symbol(name, int(ffi.cast("uintptr_t", ffi.addressof(lib, name))))
        triple = llvm.get_process_triple()
        target = llvm.Target.from_triple(triple)
        cpu = cfg.jit_cpu or llvm.get_host_cpu_name()
        features = llvm.get_host_cpu_features().flatten() if not cfg.jit_cpu else ""
        tm = target.create_target_machine(cpu=cpu, features=features,
                                          opt=min(self.opt_level, 3), jit=True)
        self.triple = triple
        self._target = (target, cpu, features)   # what the optimisation pipeline is tuned for
        empty = llvm.parse_assembly("")
        empty.triple = triple
        self.ee = llvm.create_mcjit_compiler(empty, tm)     # owns the target machine
        # llvmlite doesn't free it when the Python object is collected (~3 MiB per Engine stayed
        # before): freed with the JIT (the Engine's functions, the only users of the code, are
        # gone by then)
        self._free = weakref.finalize(self, _free_llvm, self.ee)

    def _compile(self, module, defined, osr=None) -> dict:
        """Compile defined functions `defined` of `module` (as its code is now, probes
        included) and, with osr=(d, ip), an OSR variant of d at loop ip. Returns
        {d: address} (+ {("osr", d, ip): address})."""
        ts = time.perf_counter()
        self._ensure_llvm()
        rec = self._rec(module)
        ee = self.ee
        t0 = time.perf_counter()
        self._counter += 1
        name = f"wasm{self._counter}"
        mc = ModuleCompiler(module, self.layout, self.engine, name)
        mc.prefix = name
        mc.opt_level = self.opt_level if osr is None else self.osr_opt_level
        mc.versions = {d: rec.version.get(d, 0) for d in
                       set(defined) | ({osr[0]} if osr else set())}
        syms = mc.compile(list(defined))
        if osr is not None:
            syms[("osr",) + tuple(osr)] = mc.compile_osr(*osr)
        mc.llmod.triple = self.triple
        text = str(mc.llmod)
        t1 = time.perf_counter()
        # instructions of the unoptimised IR: in llvmlite's text every instruction, and nothing
        # else, is a line indented by two spaces (walking them through the bindings cost ~8% of
        # the compile time)
        ninstr = text.count("\n  ")
        ctx = llvm.create_context()
        mod = None
        try:
            mod = llvm.parse_assembly(text, ctx)
            mod.verify()
            _BUILDERS.run(mod, self.opt_level if osr is None else self.osr_opt_level,
                          *self._target)
            t2 = time.perf_counter()
            if self.keep_ir:
                self.last_ir[module] = str(mod)
            ee.add_module(mod)
            try:
                ee.finalize_object()
                out = {k: ee.get_function_address(s) for k, s in syms.items()}
            finally:
                ee.remove_module(mod)   # the machine code stays in the engine
        finally:
            if mod is not None:
                mod.close()             # before its context
            ctx.close()
        t3 = time.perf_counter()
        for buf in mc.keep:
            rec.keep[id(buf)] = buf
        self.stats.append(CompileStats(module, len(defined), ninstr, t1 - t0, t2 - t1, t3 - t2,
                                       t0 - ts))
        self.compile_seconds += t3 - ts
        self.functions_compiled += len(defined)
        self.lean_compiled += len(mc.lean)
        for k, addr in out.items():
            if isinstance(k, tuple):
                self.osr_compiled += 1
                rec.osr[k[1:]] = addr
            else:
                rec.code[k] = addr
        for e, reach in mc.lean_reach.items():
            for d in reach:
                if d != e:
                    rec.lean_users.setdefault(d, []).append((e, out[e]))
        self._listen()
        return out

    def compile_module(self, module) -> dict:
        """Compile every defined function of `module` that has no current code."""
        rec = self._rec(module)
        todo = [d for d in range(len(module.codes)) if d not in rec.code]
        if todo:
            self._compile(module, todo)
        for d in todo:
            self._point(rec, d)
        return dict(rec.code)

    # ------------------------------------------------------------------ functions
    def _point(self, rec: _ModuleCode, d):
        """Point every instance's function d at its current compiled code."""
        addr = rec.code.get(d)
        if addr is None:
            return
        entry = self.ffi.cast("void *", addr)
        for fn in rec.instances(d):
            p = fn._ptr
            p.jit_entry = entry
            p.tier_count = 0

    def register(self, func) -> None:
        """A defined function of a new instance (Engine.register_func): arm its counters, or
        (tier "jit") compile its module."""
        module = func._instance.module
        d = func.index - module.num_imported_funcs
        rec = self._rec(module)
        rec.funcs.setdefault(d, []).append(weakref.ref(func))
        p = func._ptr
        p.jit_version = rec.version.get(d, 0) & 0xFFFFFFFF
        p.osr_count = self.osr_threshold
        if d in rec.code:
            self._point(rec, d)
        elif self.eager and not rec.full:
            rec.full = True
            self.compile_module(module)
        else:
            p.tier_count = 1 if self.eager else self.threshold

    attach = register

    def _too_probed(self, module, d) -> bool:
        """Tier "tiered": d holds more generic probe sites than jit_max_generic_probes (compiled
        code would call Python with the frame written out at each, and compiling thousands of
        them takes minutes): it stays in the interpreter until enough of them are removed."""
        return self.max_generic is not None and self._generic_sites(module, d) > self.max_generic

    def _fires_by_deopt(self, module, d) -> bool:
        """d's compiled code fires its generic probes by deoptimizing (more of them than
        jit_max_generic_probes, default 8: compiler.py deopt_fire)."""
        return self._generic_sites(module, d) > max_generic_probes(self.engine.config)

    def _generic_sites(self, module, d) -> int:
        """Locations of defined function d holding a generic probe (0: no instrumentation)."""
        ins = self.engine.__dict__.get("_instrument")
        return 0 if ins is None else ins.generic_sites(module, d)

    def _hold(self, rec: _ModuleCode, d, fptr) -> None:
        """Keep d interpreted: counters off (0 wraps: no hook for 2^32 decrements) until a probe
        change makes it eligible (`invalidate` re-arms them)."""
        rec.held.add(d)
        self.probe_holds += 1
        for fn in rec.instances(d):
            fn._ptr.tier_count = 0
            fn._ptr.osr_count = 0
        fptr.tier_count = fptr.osr_count = 0

    def _hook(self, t, fptr, ip):
        """wz_thread.jit_hook: a call counter (ip 0) or loop counter (ip) of `fptr` expired."""
        null = self.ffi.NULL
        try:
            f = self.engine.func_from_ptr(fptr)
            if f is None or f._instance is None:
                fptr.tier_count = fptr.osr_count = 0
                return null
            module = f._instance.module
            d = f.index - module.num_imported_funcs
            rec = self._rec(module)
            if d not in rec.code and self._too_probed(module, d):
                self._hold(rec, d, fptr)
                return null
            if ip == 0:
                if d not in rec.code:
                    self._compile(module, [d])
                    self.tier_ups += 1
                self._point(rec, d)
                return null
            th = self.engine.thread
            if th.limits or th.global_probes:       # compiled code may not run now
                fptr.osr_count = self.osr_threshold
                return null
            addr = rec.osr.get((d, ip))
            if addr is None and d in rec.code and self._fires_by_deopt(module, d):
                # its compiled code deoptimizes to fire its many generic probes (compiler.py
                # deopt_fire): an OSR variant would do the same at the next probe, after a
                # compilation that costs as much as the function's. No OSR until its probes
                # change (invalidate re-arms the counters)
                self.probe_holds += 1
                fptr.osr_count = 0
                return null
            if addr is None:
                fresh = d not in rec.code
                self._compile(module, [d] if fresh else [], osr=(d, ip))
                if fresh:
                    self.tier_ups += 1
                    self._point(rec, d)
                addr = rec.osr[(d, ip)]
            fptr.osr_count = self.osr_threshold     # again if this frame deoptimizes
            self.osr_entries += 1
            return self.ffi.cast("void *", addr)
        except Exception as e:  # noqa: BLE001 - the function stays in the interpreter
            self.errors.append(e)
            fptr.tier_count = 0
            fptr.osr_count = 0
            return null

    def invalidate(self, module, func=None, removed=False) -> None:
        """The probes of `func` (function index; None: every function) of `module` changed:
        drop its compiled code (calls go to the interpreter until it is recompiled at a later
        call) and bump its version, so frames running the old code deoptimize at their next
        call/probe return. removed: the change only removed probes (no backoff); a function
        held in the interpreter for its generic probes (`_hold`) that became eligible is
        compiled at its next call. (The old code stays in the module's execution engine until
        the module is collected: a frame may still be running it.)"""
        nimp = module.num_imported_funcs
        rec = self._rec(module)
        ds = list(range(len(module.codes))) if func is None else [func - nimp]
        # lean code that calls d's lean code, directly or not, is invalid too (no check in
        # lean code: compiled callers of it test its wz_func's entry)
        todo, seen = list(ds), set(ds)
        while todo:
            for e, addr in rec.lean_users.pop(todo.pop(), ()):
                if e not in seen and rec.code.get(e) == addr:
                    seen.add(e)
                    ds.append(e)
                    todo.append(e)
        null = self.ffi.NULL
        for d in ds:
            v = rec.version[d] = (rec.version.get(d, 0) + 1) & 0xFFFFFFFF
            had = rec.code.pop(d, None) is not None
            for k in [k for k in rec.osr if k[0] == d]:
                del rec.osr[k]
            n = rec.changes.get(d, 0)
            if not removed:
                # only insertions delay recompilation (removals make the code cheaper)
                n = rec.changes[d] = n + 1
            # recompile at the next call (tier "jit") / after `threshold` calls, backing off
            # exponentially for a function whose probes keep changing
            rearm = (1 if self.eager and had else self.threshold) << min(n // 4, 16)
            osr = self.osr_threshold
            held = d in rec.held
            if held:
                if self._too_probed(module, d):
                    rearm = osr = 0               # still too many generic probes: interpreted
                else:
                    rec.held.discard(d)           # hot already: compile at its next call
                    rearm = 1
            for fn in rec.instances(d):
                p = fn._ptr
                p.jit_entry = null
                p.jit_version = v
                if had or held or self.eager or p.tier_count == 0:
                    p.tier_count = rearm
                p.osr_count = osr

    def before_invoke(self, func_ptr) -> None:
        """Called by Engine.invoke for an outermost call from Python (tiering is native now)."""

    # ------------------------------------------------------------------ instrumentation
    def _listen(self):
        if self._listening:
            return
        ins = self.engine.__dict__.get("_instrument")
        if ins is None:
            return
        ins.add_listener(self._on_probe_change)
        self._listening = True

    def on_instrument(self, ins) -> None:
        """The engine created its instrumentation: follow probe changes from now on."""
        if not self._listening:
            ins.add_listener(self._on_probe_change)
            self._listening = True
        self._frames_check(ins)

    def _frames_check(self, ins) -> bool:
        """Compiled code writes every local and operand out before each call only while some
        probe may inspect frames (`ins.frames_inspected()`: a probe other than counters and
        OperandProbes exists; config.jit_frame_state forces it): when that flips, everything is
        recompiled (on: FrameAccessor of caller frames; off: back to the uninstrumented code)."""
        on = ins.frames_inspected()
        if on == self.__dict__.get("_frames_on", False):
            return False
        self._frames_on = on
        if self.engine.config.jit_frame_state:
            return False
        for module, rec in list(self._mods.items()):
            if rec.code:
                self.invalidate(module, removed=not on)
        return True

    def _on_probe_change(self, module, func, pc) -> None:
        ins = self.engine.__dict__.get("_instrument")
        if ins is not None and self._frames_check(ins):
            return      # everything invalidated already
        if module is None:
            return      # global probes: compiled frames check t->global_probes and deoptimize
        rec = self._mods.get(module)
        if rec is not None and rec.funcs:
            self.invalidate(module, func,
                            removed=bool(ins is not None and ins.last_change_removed))

    # ------------------------------------------------------------------ reporting
    def counters(self) -> dict:
        t = self.engine.thread
        return {"functions compiled": self.functions_compiled,
                "lean functions compiled": self.lean_compiled,
                "OSR variants compiled": self.osr_compiled,
                "compile time (ms)": round(self.compile_seconds * 1e3, 1),
                "tier-ups": self.tier_ups,
                "OSR entries": self.osr_entries,
                "held for probes": self.probe_holds,
                "deoptimizations": int(t.jit_deopts),
                # failed compilations (the function stays interpreted: results stay right,
                # but a nonzero figure here is a JIT bug worth reporting)
                "compile errors": len(self.errors)}

    def compile_report(self) -> str:
        lines = []
        for s in self.stats:
            per = s.seconds / max(s.funcs, 1)
            lines.append(f"{s.module!r}: {s.funcs} functions, {s.ir_instrs} IR instructions, "
                         f"{s.seconds * 1e3:.1f} ms ({per * 1e3:.2f} ms/function; "
                         f"IR {s.ir_seconds * 1e3:.1f}, opt {s.opt_seconds * 1e3:.1f}, "
                         f"codegen {s.mc_seconds * 1e3:.1f}"
                         + (f", LLVM set-up {s.setup_seconds * 1e3:.1f}" if s.setup_seconds
                            else "") + ")")
        return "\n".join(lines)

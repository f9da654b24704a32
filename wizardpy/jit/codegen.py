"""llvmlite back end: target machine, optimisation pipeline, MCJIT engine, compiled-code registry.

One `JIT` per `Engine` (no module-level state): it owns the LLVM target machine and the MCJIT
execution engine into which every compiled Wasm module is added (one LLVM module per Wasm module
and compilation). Native helpers (native/jit_support.c) are resolved by name through
`llvm.add_symbol` with the addresses cffi gives for them.

Compiled code is shared by every instance of a Wasm module (functions reach their instance
through `wz_func.inst`); `attach(func)` points a `wz_func.jit_entry` at it. `invalidate(module,
func)` drops the entries (e.g. when probes change: compiled code bakes probe sites in) and marks
the module for recompilation on the next outermost call (`refresh()`); code of frames still
running stays alive (the engine keeps every LLVM module it ever added).
"""
from __future__ import annotations

import time

import llvmlite.binding as llvm

from .compiler import HELPERS, Layout, ModuleCompiler


class CompileStats:
    __slots__ = ("module", "funcs", "ir_instrs", "seconds", "ir_seconds", "opt_seconds",
                 "mc_seconds")

    def __init__(self, module, funcs, ir_instrs, ir_s, opt_s, mc_s):
        self.module = module
        self.funcs = funcs
        self.ir_instrs = ir_instrs
        self.ir_seconds = ir_s
        self.opt_seconds = opt_s
        self.mc_seconds = mc_s
        self.seconds = ir_s + opt_s + mc_s

    def __repr__(self) -> str:
        return (f"<CompileStats funcs={self.funcs} ir_instrs={self.ir_instrs} "
                f"{self.seconds * 1e3:.1f} ms (ir {self.ir_seconds * 1e3:.1f}, opt "
                f"{self.opt_seconds * 1e3:.1f}, mc {self.mc_seconds * 1e3:.1f})>")


class JIT:
    """The JIT tier of one Engine."""

    def __init__(self, engine):
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        self.engine = engine
        cfg = engine.config
        self.opt_level = int(cfg.jit_opt_level)
        if not 0 <= self.opt_level <= 3:
            raise ValueError(f"jit_opt_level must be 0..3, got {self.opt_level}")
        ffi, lib = engine.ffi, engine.lib
        self.layout = Layout(ffi)
        for name in HELPERS:
            llvm.add_symbol(name, int(ffi.cast("uintptr_t", ffi.addressof(lib, name))))
        triple = llvm.get_process_triple()
        target = llvm.Target.from_triple(triple)
        cpu = cfg.jit_cpu or llvm.get_host_cpu_name()
        features = llvm.get_host_cpu_features().flatten() if not cfg.jit_cpu else ""
        self.tm = target.create_target_machine(cpu=cpu, features=features,
                                               opt=min(self.opt_level, 3), jit=True)
        self.triple = triple
        empty = llvm.parse_assembly("")
        empty.triple = triple
        self.ee = llvm.create_mcjit_compiler(empty, self.tm)
        self._counter = 0
        self._entries: dict = {}        # Module -> {defined index: address}
        self._dirty: set = set()        # modules whose code must be recompiled
        self._attached: dict = {}       # Module -> list of Func (defined functions of instances)
        self.stats: list[CompileStats] = []
        self.keep_ir = cfg.jit_keep_ir
        self.last_ir: dict = {}         # Module -> optimised IR text (jit_keep_ir)
        self._listening = False

    # ------------------------------------------------------------------ compilation
    def _pipeline(self, mod):
        if self.opt_level == 0:
            pto = llvm.create_pipeline_tuning_options(0)
            pb = llvm.create_pass_builder(self.tm, pto)
            pm = llvm.create_new_module_pass_manager()
            pm.add_sroa_pass()           # locals and label slots -> SSA (what mem2reg does)
            pm.add_simplify_cfg_pass()
            pm.run(mod, pb)
            return
        pto = llvm.create_pipeline_tuning_options(self.opt_level)
        pb = llvm.create_pass_builder(self.tm, pto)
        pb.getModulePassManager().run(mod, pb)

    def compile_module(self, module) -> dict:
        """Compile every defined function of `module` (as its code is now, probes included)."""
        t0 = time.perf_counter()
        self._counter += 1
        name = f"wasm{self._counter}"
        mc = ModuleCompiler(module, self.layout, self.engine, name)
        mc.prefix = name
        defined = list(range(len(module.codes)))
        syms = mc.compile(defined)
        mc.llmod.triple = self.triple
        text = str(mc.llmod)
        t1 = time.perf_counter()
        mod = llvm.parse_assembly(text)
        mod.verify()
        ninstr = sum(1 for f in mod.functions for b in f.blocks for _ in b.instructions)
        self._pipeline(mod)
        t2 = time.perf_counter()
        if self.keep_ir:
            self.last_ir[module] = str(mod)
        self.ee.add_module(mod)
        self.ee.finalize_object()
        entries = {d: self.ee.get_function_address(s) for d, s in syms.items()}
        t3 = time.perf_counter()
        self.stats.append(CompileStats(module, len(defined), ninstr, t1 - t0, t2 - t1, t3 - t2))
        self._entries[module] = entries
        self._dirty.discard(module)
        self._listen()
        return entries

    def entries(self, module) -> dict:
        e = self._entries.get(module)
        if e is None or module in self._dirty:
            e = self.compile_module(module)
            for fn in self._attached.get(module, ()):
                self._point(fn, e)
        return e

    # ------------------------------------------------------------------ functions
    def _point(self, func, entries):
        d = func.index - func._instance.module.num_imported_funcs
        func._ptr.jit_entry = self.engine.ffi.cast("void *", entries[d])

    def attach(self, func) -> None:
        """Point a defined function's `jit_entry` at its compiled code (compiling on first use)."""
        module = func._instance.module
        self._point(func, self.entries(module))
        self._attached.setdefault(module, []).append(func)

    def invalidate(self, module, func=None) -> None:
        """Drop compiled code of `func` (index; None: every function) of `module`: calls go to
        the interpreter until `refresh()` recompiles. Running compiled frames are not affected."""
        nimp = module.num_imported_funcs
        null = self.engine.ffi.NULL
        for fn in self._attached.get(module, ()):
            if func is None or fn.index == func:
                fn._ptr.jit_entry = null
        if module in self._entries:
            self._dirty.add(module)

    @property
    def dirty(self) -> bool:
        return bool(self._dirty)

    def refresh(self) -> None:
        """Recompile the invalidated modules and re-point their functions."""
        for module in list(self._dirty):
            self.entries(module)

    def before_invoke(self, func_ptr) -> None:
        """Called by Engine.invoke for an outermost call from Python."""
        if self._dirty:
            self.refresh()
        if self.engine.config.tier == "tiered" and func_ptr.jit_entry == self.engine.ffi.NULL \
                and func_ptr.calls >= self.engine.config.jit_threshold and func_ptr.kind == 0:
            f = self.engine.func_from_ptr(func_ptr)
            if f is not None and f._instance is not None:
                self.tier_up(f._instance)

    def tier_up(self, instance) -> None:
        """Compile the module of `instance` and attach all its defined functions."""
        nimp = instance.module.num_imported_funcs
        for fn in instance.funcs[nimp:]:
            if fn._instance is instance:
                self.attach(fn)

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
        """The engine created its instrumentation: follow probe changes from now on, and
        recompile everything with full frame state at calls (FrameAccessor of compiled frames)."""
        if not self._listening:
            ins.add_listener(self._on_probe_change)
            self._listening = True
        for module in list(self._entries):
            self.invalidate(module)

    def _on_probe_change(self, module, func, pc) -> None:
        if module is None:
            return      # global probes: wz_jit_call/wz_invoke route calls to the interpreter
        if module in self._entries:
            self.invalidate(module, func)

    # ------------------------------------------------------------------ reporting
    def compile_report(self) -> str:
        lines = []
        for s in self.stats:
            per = s.seconds / max(s.funcs, 1)
            lines.append(f"{s.module!r}: {s.funcs} functions, {s.ir_instrs} IR instructions, "
                         f"{s.seconds * 1e3:.1f} ms ({per * 1e3:.2f} ms/function; "
                         f"IR {s.ir_seconds * 1e3:.1f}, opt {s.opt_seconds * 1e3:.1f}, "
                         f"codegen {s.mc_seconds * 1e3:.1f})")
        return "\n".join(lines)

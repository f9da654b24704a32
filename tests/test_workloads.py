"""Workload tests (see workloads/README.md for the conventions these tests enforce).

For every workload directory ``workloads/<name>/``:

* ``test_workload_files``      - README.md, <name>.c, <name>.wasm and the reference exist.
* ``test_reference``           - ``<name>.wasm SIZE`` under wasmtime; the reference
  ``tests/workload_refs/<name_>.py`` recomputes the results independently (numpy) and checks them.
* ``test_kernels_deterministic`` - every exported ``kernel_*`` function can be called without
  running ``_start`` and returns the same value twice in one instance and once in a fresh one.
* ``test_wizardpy_parity``     - wizardpy's stdout equals wasmtime's stdout byte for byte
  (engine hook: ``run_wizardpy``).
"""
from __future__ import annotations

import atexit
import importlib.util
import os
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ROOT / "workloads"
REFS = Path(__file__).resolve().parent / "workload_refs"

# Default arguments used when calling a kernel_* export in the determinism test; a reference
# may override per kernel with ``KERNEL_ARGS = {"kernel_x": (a, b, ...)}``.
DEFAULT_INT_ARG = 8
DEFAULT_FLOAT_ARG = 0.5


def workload_dirs() -> list[str]:
    return sorted(p.name for p in WORKLOADS.iterdir()
                  if p.is_dir() and not p.name.startswith((".", "_")))


NAMES = workload_dirs()


def ref_path(name: str) -> Path:
    return REFS / f"{name.replace('-', '_')}.py"


@lru_cache(maxsize=None)
def load_ref(name: str):
    path = ref_path(name)
    if not path.is_file():
        pytest.fail(f"missing reference {path.relative_to(ROOT)}")
    sys.path.insert(0, str(REFS))          # so references can `import _common`
    try:
        spec = importlib.util.spec_from_file_location(f"workload_ref_{path.stem}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(REFS))
    assert isinstance(mod.SIZE, int) and callable(mod.check)
    return mod


def wasm_path(name: str) -> Path:
    path = WORKLOADS / name / f"{name}.wasm"
    if not path.is_file():
        pytest.fail(f"{path.relative_to(ROOT)} not built (run `make workloads`)")
    return path


# ----------------------------------------------------------------------------------- wasmtime
@lru_cache(maxsize=None)
def _wasmtime_module(path: str):
    import wasmtime
    engine = wasmtime.Engine()
    return engine, wasmtime.Module.from_file(engine, path)


atexit.register(_wasmtime_module.cache_clear)   # free wasmtime objects before interpreter teardown


def _wasmtime_instance(path: Path, argv: list[str], stdout_file: str | None = None):
    import wasmtime
    engine, module = _wasmtime_module(str(path))
    store = wasmtime.Store(engine)
    cfg = wasmtime.WasiConfig()
    cfg.argv = argv
    if stdout_file is not None:
        cfg.stdout_file = stdout_file
    cfg.inherit_stderr()
    store.set_wasi(cfg)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    return store, linker.instantiate(store, module)


@lru_cache(maxsize=None)
def run_wasmtime(wasm: str, argv: tuple[str, ...]) -> str:
    """Run a WASI command module under wasmtime; return its stdout (asserts exit status 0)."""
    import wasmtime
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "stdout")
        store, inst = _wasmtime_instance(Path(wasm), list(argv), out)
        try:
            inst.exports(store)["_start"](store)
        except wasmtime.ExitTrap as exc:
            assert exc.code == 0, f"{wasm} exited with status {exc.code}"
        with open(out, encoding="utf-8") as f:
            return f.read()


# ----------------------------------------------------------------------------------- wizardpy
# ENGINE HOOK: how the workloads are run under wizardpy. The engine is imported lazily, in a
# child process so that WASI's stdout (whatever the engine writes it to: fd 1 or sys.stdout)
# is captured exactly, and an engine crash cannot take the test process down.
_WIZARDPY_RUNNER = r"""
import sys
from wizardpy import Engine, Module, Linker, WasiConfig, ExitStatus
wasm, argv = sys.argv[1], sys.argv[2:]
engine = Engine()
module = Module.from_file(engine, wasm)
linker = Linker(engine)
linker.define_wasi(WasiConfig(argv=argv))
instance = linker.instantiate(module)
code = 0
try:
    instance.exports["_start"]()
except ExitStatus as exc:
    code = next((getattr(exc, a) for a in ("code", "status", "exit_code") if hasattr(exc, a)),
                exc.args[0] if exc.args else 1)
sys.stdout.flush()
sys.exit(code)
"""


def run_wizardpy(wasm: str | os.PathLike, argv: list[str], timeout: float = 900) -> str:
    """Run a WASI command module under wizardpy; return its stdout (asserts exit status 0)."""
    proc = subprocess.run([sys.executable, "-c", _WIZARDPY_RUNNER, str(wasm), *argv],
                          capture_output=True, timeout=timeout, cwd=str(ROOT))
    assert proc.returncode == 0, (f"wizardpy exited with {proc.returncode}\n"
                                  f"{proc.stderr.decode(errors='replace')[-4000:]}")
    return proc.stdout.decode("utf-8")


def workload_argv(name: str, size: int) -> list[str]:
    return [f"{name}.wasm", str(size)]


# -------------------------------------------------------------------------------------- tests
def test_there_are_workloads():
    assert NAMES, "no workload directories under workloads/"


@pytest.mark.parametrize("name", NAMES)
def test_workload_files(name):
    d = WORKLOADS / name
    missing = [str(p.relative_to(ROOT)) for p in
               (d / "README.md", d / f"{name}.c", d / f"{name}.wasm", ref_path(name))
               if not p.is_file()]
    assert not missing, f"workload {name} is incomplete, missing: {missing}"
    listed = (WORKLOADS / "README.md").read_text(encoding="utf-8")
    assert f"`{name}`" in listed or f"[{name}]" in listed, \
        f"workload {name} is not listed in workloads/README.md"


@pytest.mark.parametrize("name", NAMES)
def test_reference(name):
    ref = load_ref(name)
    stdout = run_wasmtime(str(wasm_path(name)), tuple(workload_argv(name, ref.SIZE)))
    assert stdout.strip(), f"{name} printed nothing"
    ref.check(stdout, ref.SIZE)


@pytest.mark.parametrize("name", NAMES)
def test_kernels_deterministic(name):
    import wasmtime
    ref = load_ref(name)
    overrides = getattr(ref, "KERNEL_ARGS", {})
    path = wasm_path(name)
    _, module = _wasmtime_module(str(path))
    kernels = [e for e in module.exports
               if e.name.startswith("kernel_") and isinstance(e.type, wasmtime.FuncType)]
    assert len(kernels) >= 3, f"{name} exports {len(kernels)} kernel_* functions, want 3-4"

    def call_all(store, inst, twice):
        results = {}
        for e in kernels:
            ty = e.type
            for t in list(ty.params) + list(ty.results):
                assert str(t) in ("i32", "i64", "f64"), f"{e.name}: type {t} not i32/i64/f64"
            if e.name in overrides:
                args = list(overrides[e.name])
            else:
                args = [DEFAULT_FLOAT_ARG if str(t) == "f64" else DEFAULT_INT_ARG
                        for t in ty.params]
            fn = inst.exports(store)[e.name]
            vals = [fn(store, *args) for _ in range(2 if twice else 1)]
            if twice:
                assert _same(vals[0], vals[1]), f"{e.name}{tuple(args)}: {vals[0]} != {vals[1]}"
            results[e.name] = vals[0]
        return results

    first = call_all(*_wasmtime_instance(path, [path.name]), twice=True)
    fresh = call_all(*_wasmtime_instance(path, [path.name]), twice=False)
    for k in first:
        assert _same(first[k], fresh[k]), f"{k}: {first[k]} != {fresh[k]} in a fresh instance"


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    return a == b


@pytest.mark.parametrize("name", NAMES)
def test_wizardpy_parity(name):
    ref = load_ref(name)
    size = getattr(ref, "PARITY_SIZE", ref.SIZE)
    path = wasm_path(name)
    argv = workload_argv(name, size)
    expected = run_wasmtime(str(path), tuple(argv))
    got = run_wizardpy(path, argv)
    assert got == expected

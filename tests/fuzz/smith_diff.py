"""Differential fuzzing against wasmtime with `wasm-tools smith` modules.

    python tests/fuzz/smith_diff.py [-n 2000] [--seed S] [--out DIR] [--tiers int,jit,tiered]
    python tests/fuzz/smith_diff.py --replay FILE.wasm...

Module i of seed S is `wasm-tools smith` run on 64..4096 pseudo-random bytes derived from (S, i),
with the features we support only (Wasm 2.0: bulk memory, reference types, multi-value,
saturating conversions, sign extension; no SIMD, threads, tail calls, exceptions, GC, memory64,
multi-memory, extended-const, relaxed-simd, custom page sizes, wide arithmetic), no imports,
every item exported, and `--ensure-termination` (smith's own global fuel counter) with a budget.

Each module runs in wasmtime and in wizardpy in every available tier, plain and with random
probes (the public instrumentation API: FuncProbes reading frames, CountProbes, OperandProbes and a
temporary global probe, inserted and removed at random sites *while the program runs*, from inside
firing probes). Every exported function is called in export order with arguments drawn from the
same seed; after each call the result (floats compared bit-exactly except that any NaN equals any
NaN), or the trap reason (mapped between the engines' wordings, `TRAP_MAP`), must agree, and at the
end the exported globals and memories must be equal. A stack overflow on either side ends the
comparison of that module (the engines' stack limits differ by design), as does wizardpy's own fuel
backstop. Every discrepancy is saved (DIR/diff-S-i.wasm + .txt); exit status 0 iff there was none.
"""
from __future__ import annotations

import argparse
import hashlib
import math
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

DEFAULT_OUT = ROOT / "build" / "fuzz"
SMITH_FUEL = 1000
BACKSTOP_FUEL = 50_000_000

SMITH_FLAGS = [
    "--ensure-termination", "--fuel", str(SMITH_FUEL),
    "--simd-enabled", "false", "--relaxed-simd-enabled", "false", "--threads-enabled", "false",
    "--shared-everything-threads-enabled", "false", "--tail-call-enabled", "false",
    "--exceptions-enabled", "false", "--gc-enabled", "false", "--memory64-enabled", "false",
    "--max-memories", "1", "--extended-const-enabled", "false",
    "--custom-page-sizes-enabled", "false", "--wide-arithmetic-enabled", "false",
    "--custom-descriptors-enabled", "false", "--compact-imports-enabled", "false",
    "--bulk-memory-enabled", "true", "--reference-types-enabled", "true",
    "--multi-value-enabled", "true", "--saturating-float-to-int-enabled", "true",
    "--sign-extension-ops-enabled", "true",
    "--max-imports", "0", "--export-everything", "true", "--min-funcs", "1",
    "--max-memory32-bytes", str(64 * 65536), "--max-table-elements", "1000",
    "--allow-start-export", "true",
]

# wasmtime TrapCode name -> wizardpy trap reason(s) it corresponds to
TRAP_MAP = {
    "STACK_OVERFLOW": {"call stack exhausted"},
    "MEMORY_OUT_OF_BOUNDS": {"out of bounds memory access"},
    "HEAP_MISALIGNED": {"out of bounds memory access"},
    "TABLE_OUT_OF_BOUNDS": {"out of bounds table access", "undefined element"},
    "INDIRECT_CALL_TO_NULL": {"uninitialized element"},
    "BAD_SIGNATURE": {"indirect call type mismatch"},
    "INTEGER_OVERFLOW": {"integer overflow"},
    "INTEGER_DIVISION_BY_ZERO": {"integer divide by zero"},
    "BAD_CONVERSION_TO_INTEGER": {"invalid conversion to integer"},
    "UNREACHABLE": {"unreachable"},
    "UNREACHABLE_CODE_REACHED": {"unreachable"},
    "NULL_REFERENCE": {"null reference"},
}
# message fragments for errors that come without a trap code (e.g. instantiation)
MSG_MAP = [("out of bounds memory", "out of bounds memory access"),
           ("out of bounds table", "out of bounds table access"),
           ("table out of bounds", "out of bounds table access"),
           ("stack overflow", "call stack exhausted"),
           ("unreachable", "unreachable"), ("divide by zero", "integer divide by zero"),
           ("integer overflow", "integer overflow"),
           ("invalid conversion", "invalid conversion to integer"),
           ("indirect call type mismatch", "indirect call type mismatch"),
           ("uninitialized element", "uninitialized element"),
           ("undefined element", "undefined element")]


def wasm_tools() -> str:
    p = Path(sys.executable).parent / "wasm-tools"
    return str(p) if p.exists() else "wasm-tools"


def smith(seed: int, i: int) -> bytes | None:
    rng = random.Random(f"smith:{seed}:{i}")
    raw = rng.randbytes(rng.choice([64, 256, 1024, 2048, 4096]))
    p = subprocess.run([wasm_tools(), "smith", *SMITH_FLAGS], input=raw, capture_output=True,
                       timeout=60)
    if p.returncode:
        return None
    return p.stdout


# ----------------------------------------------------------------------------------------------
# values
# ----------------------------------------------------------------------------------------------

def arg_values(rng: random.Random, params) -> list:
    """Raw-ish Python values for wasmtime and wizardpy: ints, floats, None for refs."""
    from wizardpy.types import F32, F64, I32, I64

    out = []
    for p in params:
        if p == I32:
            out.append(rng.choice([0, 1, -1, 7, 0x7FFFFFFF, -0x80000000, rng.randrange(-2**31, 2**31)]))
        elif p == I64:
            out.append(rng.choice([0, 1, -1, 2**63 - 1, -2**63, rng.randrange(-2**63, 2**63)]))
        elif p in (F32, F64):
            v = rng.choice([0.0, -0.0, 1.5, -2.25, 1e30, float("inf"), rng.uniform(-1e6, 1e6)])
            out.append(struct.unpack("<f", struct.pack("<f", v))[0] if p == F32 else v)
        else:
            out.append(None)
    return out


def norm(v):
    """Comparable form of a result: floats by bits (all NaNs equal), refs by null-ness."""
    if type(v).__name__ == "Val":          # wasmtime-py wraps (null) references in a Val
        return norm(getattr(v, "value", None))
    if isinstance(v, float):
        return "nan" if math.isnan(v) else struct.pack("<d", v).hex()
    if isinstance(v, int):
        return v
    if v is None:
        return None
    if isinstance(v, (tuple, list)):
        return tuple(norm(x) for x in v)
    return "ref"        # a non-null funcref/externref: identity is engine-specific


def norm_trap_wasmtime(e) -> str:
    code = getattr(e, "trap_code", None)
    name = getattr(code, "name", None) if code is not None else None
    if name in TRAP_MAP:
        return "trap:" + "|".join(sorted(TRAP_MAP[name]))
    msg = str(e).lower()
    for frag, reason in MSG_MAP:
        if frag in msg:
            return "trap:" + "|".join(sorted(_class_of(reason)))
    return "trap:?" + msg.splitlines()[0][:80] if msg else "trap:?"


def _class_of(reason: str) -> set[str]:
    for rs in TRAP_MAP.values():
        if reason in rs:
            return rs
    return {reason}


def norm_trap_wizard(reason: str) -> str:
    return "trap:" + "|".join(sorted(_class_of(reason)))


# ----------------------------------------------------------------------------------------------
# the two engines
# ----------------------------------------------------------------------------------------------

def run_wasmtime(data: bytes, seed_rng_state) -> dict:
    import wasmtime

    cfg = wasmtime.Config()
    eng = wasmtime.Engine(cfg)
    store = wasmtime.Store(eng)
    try:
        mod = wasmtime.Module(eng, data)
    except Exception as e:  # noqa: BLE001
        return {"module": "error: " + str(e).splitlines()[0]}
    try:
        inst = wasmtime.Instance(store, mod, [])
    except wasmtime.Trap as e:
        return {"module": "ok", "inst": norm_trap_wasmtime(e), "calls": []}
    except Exception as e:  # noqa: BLE001
        return {"module": "ok", "inst": norm_trap_wasmtime(e), "calls": []}
    exports = inst.exports(store)
    calls = []
    rng = random.Random(seed_rng_state)
    for exp in mod.exports:
        item = exports[exp.name]
        if not isinstance(item, wasmtime.Func):
            continue
        ty = item.type(store)
        params = [_wt_valtype(t) for t in ty.params]
        args = arg_values(rng, params)
        try:
            r = item(store, *args)
            calls.append((exp.name, "ok", norm(r)))
        except wasmtime.Trap as e:
            calls.append((exp.name, norm_trap_wasmtime(e), None))
        except Exception as e:  # noqa: BLE001
            calls.append((exp.name, norm_trap_wasmtime(e), None))
    final = {}
    for exp in mod.exports:
        item = exports[exp.name]
        if isinstance(item, wasmtime.Memory):
            final[exp.name] = hashlib.sha256(bytes(item.read(store, 0, item.data_len(store)))).hexdigest()
        elif isinstance(item, wasmtime.Global):
            final[exp.name] = norm(item.value(store))
    return {"module": "ok", "inst": "ok", "calls": calls, "final": final}


def _wt_valtype(t) -> int:
    from wizardpy.types import EXTERNREF, F32, F64, FUNCREF, I32, I64

    s = str(t)
    return {"i32": I32, "i64": I64, "f32": F32, "f64": F64, "funcref": FUNCREF,
            "externref": EXTERNREF}.get(s, 0)


class RandomProbes:
    """Random probe plan: a few initial FuncProbes/CountProbes/OperandProbes; every firing may
    insert or remove probes elsewhere (and a temporary global probe). Never writes anything."""

    def __init__(self, engine, module, rng: random.Random):
        from wizardpy import CountProbe, FuncProbe, OperandProbe

        self.engine, self.module, self.rng = engine, module, rng
        self.sites = []
        for f in range(module.defn.num_imported_funcs, module.defn.num_funcs):
            code = module.code_of(f)
            self.sites += [(f, 0)] + [(f, pc) for pc, _ in code.instrs]
        self.live: list = []
        self.gprobe = None
        self.firings = 0
        self.kinds = (CountProbe, FuncProbe, OperandProbe)
        for _ in range(rng.randint(1, 6)):
            self.insert()

    def make(self):
        from wizardpy import CountProbe, FuncProbe, OperandProbe

        k = self.rng.randrange(4)
        if k == 0:
            return CountProbe()
        if k == 1:
            return OperandProbe(lambda v: None)
        return FuncProbe(self.fire)

    def insert(self):
        if not self.sites:
            return
        f, pc = self.rng.choice(self.sites)
        p = self.make()
        try:
            self.engine.instrument.insert(self.module, f, pc, p)
        except ValueError:       # e.g. an OperandProbe where the stack is empty
            return
        self.live.append((f, pc, p))

    def remove(self):
        if self.live:
            f, pc, p = self.live.pop(self.rng.randrange(len(self.live)))
            self.engine.instrument.remove(self.module, f, pc, p)

    def fire(self, loc):
        self.firings += 1
        fr = loc.frame                       # read the frame: must not change anything
        for i in range(fr.num_locals):
            fr.get_local(i)
        for i in range(min(fr.num_operands, 3)):
            fr.get_operand(i)
        if self.firings > 5000:
            return None
        r = self.rng.random()
        if r < 0.05:
            self.insert()
        elif r < 0.08:
            self.remove()
        elif r < 0.085 and self.gprobe is None:
            from wizardpy import FuncProbe

            self.gleft = self.rng.randint(1, 50)
            self.gprobe = FuncProbe(self.gfire)
            self.engine.instrument.insert_global(self.gprobe)
        return None

    def gfire(self, loc):
        self.gleft -= 1
        loc.frame.num_operands
        if self.gleft <= 0 and self.gprobe is not None:
            self.engine.instrument.remove_global(self.gprobe)
            self.gprobe = None
        return None


def run_wizard(data: bytes, seed_rng_state, tier: str, probes_seed=None) -> dict:
    from wizardpy import Engine, EngineConfig, Instance, Module, Trap
    from wizardpy.externs import Func, Global, Memory

    engine = Engine(EngineConfig(tier=tier, fuel=BACKSTOP_FUEL, timeout=60))
    try:
        mod = Module(engine, data)
    except Exception as e:  # noqa: BLE001 - wasmtime decides whether the module is valid
        return {"module": "error: " + str(e).splitlines()[0]}
    if probes_seed is not None:
        RandomProbes(engine, mod, random.Random(probes_seed))
    try:
        inst = Instance(engine, mod, [])
    except Trap as t:
        return {"module": "ok", "inst": norm_trap_wizard(t.reason), "calls": []}
    calls = []
    rng = random.Random(seed_rng_state)
    for exp in mod.exports:
        if exp.kind != "func":
            continue
        f = inst.exports[exp.name]
        args = arg_values(rng, f.type.params)
        engine.set_fuel(BACKSTOP_FUEL)
        try:
            r = f(*args)
            calls.append((exp.name, "ok", norm(r)))
        except Trap as t:
            if t.reason == "fuel exhausted":
                calls.append((exp.name, "FUEL", None))
                break
            calls.append((exp.name, norm_trap_wizard(t.reason), None))
    final = {}
    for exp in mod.exports:
        item = inst.exports[exp.name]
        if isinstance(item, Memory):
            final[exp.name] = hashlib.sha256(bytes(item.data)).hexdigest()
        elif isinstance(item, Global):
            final[exp.name] = norm(item.value)
    return {"module": "ok", "inst": "ok", "calls": calls, "final": final}


def compare(ref: dict, got: dict) -> str | None:
    """None if `got` (wizardpy) agrees with `ref` (wasmtime), else a description."""
    if ref["module"] != "ok" or got["module"] != "ok":
        if (ref["module"] == "ok") != (got["module"] == "ok"):
            return f"module: wasmtime {ref['module']!r} vs wizardpy {got['module']!r}"
        return None
    if ref["inst"] != got["inst"]:
        if "call stack exhausted" in ref["inst"] + got["inst"]:
            return None
        return f"instantiation: wasmtime {ref['inst']} vs wizardpy {got['inst']}"
    for a, b in zip(ref["calls"], got["calls"]):
        if b[1] == "FUEL":
            return None                       # our backstop: inconclusive from here on
        if "call stack exhausted" in a[1] + b[1]:
            return None                       # stack limits differ by design
        if a != b:
            return f"call {a[0]}: wasmtime {a[1:]} vs wizardpy {b[1:]}"
    if len(ref["calls"]) != len(got["calls"]):
        return f"number of calls {len(ref['calls'])} vs {len(got['calls'])}"
    if ref.get("final") != got.get("final"):
        return f"final state differs: {ref.get('final')} vs {got.get('final')}"
    return None


def check_module(data: bytes, seed: int, i: int, tiers, probes: bool = True) -> list[str]:
    """All discrepancies of one module (empty: agreement)."""
    arg_seed = f"args:{seed}:{i}"
    ref = run_wasmtime(data, arg_seed)
    out = []
    variants = [(t, None) for t in tiers]
    if probes:
        variants += [(t, f"probes:{seed}:{i}:{t}") for t in tiers]
    for tier, ps in variants:
        got = run_wizard(data, arg_seed, tier, ps)
        d = compare(ref, got)
        if d:
            out.append(f"[{tier}{' +probes' if ps else ''}] {d}")
    return out


def campaign(n: int, seed: int, out: Path, tiers, probes: bool = True, quiet: bool = False,
             start: int = 0) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    counts: Counter = Counter()
    failures = []
    t0 = time.monotonic()
    for i in range(start, start + n):
        data = smith(seed, i)
        if data is None:
            counts["smith-failed"] += 1
            continue
        try:
            diffs = check_module(data, seed, i, tiers, probes)
        except Exception:  # noqa: BLE001 - an exception of ours is a finding too
            diffs = ["exception:\n" + traceback.format_exc()]
        if diffs:
            stem = out / f"diff-{seed}-{i}"
            stem.with_suffix(".wasm").write_bytes(data)
            stem.with_suffix(".txt").write_text("\n".join(diffs))
            failures.append((i, diffs))
            counts["DIFF"] += 1
        else:
            counts["agree"] += 1
        if not quiet and (i - start + 1) % 250 == 0:
            print(f"  {i - start + 1} modules, {time.monotonic() - t0:.0f} s, {dict(counts)}",
                  flush=True)
    return {"n": n, "seconds": time.monotonic() - t0, "counts": dict(counts),
            "failures": failures, "out": str(out)}


def main(argv=None) -> int:
    from mutate import available_tiers

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--tiers", default=None)
    ap.add_argument("--no-probes", action="store_true")
    ap.add_argument("--replay", nargs="+")
    a = ap.parse_args(argv)
    tiers = a.tiers.split(",") if a.tiers else available_tiers()
    if a.replay:
        bad = 0
        for p in a.replay:
            diffs = check_module(Path(p).read_bytes(), 0, 0, tiers, not a.no_probes)
            print(p, "agree" if not diffs else "\n  ".join(["DIFF"] + diffs))
            bad += bool(diffs)
        return 1 if bad else 0
    seed = a.seed if a.seed is not None else int(time.time())
    out = Path(a.out) if a.out else DEFAULT_OUT / f"smith-{seed}"
    print(f"smith differential campaign: {a.n} modules, seed {seed}, tiers {','.join(tiers)}"
          f"{'' if a.no_probes else ' (+ random probes)'}, out {out}", flush=True)
    res = campaign(a.n, seed, out, tiers, not a.no_probes, start=a.start)
    print(f"done: {res['n']} modules in {res['seconds']:.0f} s: {res['counts']}")
    for i, diffs in res["failures"]:
        print(f"DISCREPANCY module {i}: {diffs[0].splitlines()[0]}  (see {out})")
    return 1 if res["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())

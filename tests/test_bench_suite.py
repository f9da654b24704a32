"""The benchmark suite's harness (bench/suite.py, bench/report.py, bench/native.py) keeps working:
the quick mode on one workload with one repetition writes the JSON, the Markdown report and the
PNG charts with the expected structure; an output mismatch (injected) fails the run loudly.

Not a timing test: nothing here depends on how fast anything is.
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
    assert "runs" in proc.stderr          # the progress bar


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
    fns = res["compile"]["functions"][WORKLOAD]
    assert fns and all(f["body_bytes"] > 0 and f["validate_s"] >= 0 for f in fns)


def test_markdown_and_charts(quick_run):
    out, proc = quick_run
    md = (out / "RESULTS.md").read_text()
    for heading in ("## Targets", "## Kernels", "## Workloads: engines", "## Workloads: analysis overhead, tier `int`",
                    "## Small inputs", "## Every configuration"):
        assert heading in md, heading
    assert "interpreter vs wasm3: fib" in md and "not available" in md
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

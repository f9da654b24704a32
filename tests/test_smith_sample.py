"""A fixed sample of the differential campaign against wasmtime (tests/fuzz/smith_diff.py;
`make fuzz` runs 2,000 modules): wasm-tools smith modules agree on results, traps (mapped
reasons) and final state in every tier, with and without random probes inserted/removed while
they run."""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "fuzz"))
import mutate  # noqa: E402
import smith_diff  # noqa: E402

SEED = 7
N = 100


def test_smith_differential_sample(tmp_path):
    res = smith_diff.campaign(N, SEED, tmp_path, mutate.available_tiers(), probes=True, quiet=True)
    print(f"\n{N} smith modules in {res['seconds']:.1f} s: {res['counts']}")
    msgs = [f"module {i}: " + "\n".join(d) for i, d in res["failures"]]
    assert not res["failures"], "\n\n".join(msgs)
    assert res["counts"].get("agree", 0) >= N * 0.9


def test_trap_wordings_map_onto_ours():
    from wizardpy.traps import TRAP_MESSAGES

    ours = set(TRAP_MESSAGES.values())
    for reasons in smith_diff.TRAP_MAP.values():
        assert reasons <= ours, reasons


# ---- discrepancies found by the campaign (inputs in tests/data/regressions/) -----------------
REGRESSIONS = HERE / "data" / "regressions"


def _probe_every_pc_reading_operands(path):
    """Run every export with a FuncProbe at every pc that reads all operands; return the
    exception a probe raised (None if none)."""
    from wizardpy import Engine, FuncProbe, Instance, Module, Trap

    e = Engine()
    m = Module(e, path.read_bytes())

    def read(loc):
        fr = loc.frame
        for i in range(fr.num_operands):
            fr.get_operand(i)
    for f in range(m.defn.num_imported_funcs, m.defn.num_funcs):
        for pc in [0] + [pc for pc, _ in m.code_of(f).instrs]:
            e.instrument.insert(m, f, pc, FuncProbe(read))
    inst = Instance(e, m, [])
    for exp in m.exports:
        if exp.kind == "func":
            fn = inst.exports[exp.name]
            args = [mutate._zero(t) for t in fn.type.params]
            try:
                fn(*args)
            except Trap:
                pass
            except Exception as exc:  # noqa: BLE001
                return exc
    return None


import pytest  # noqa: E402


# Regression (smith seed 42 module 803, minimized to `(func (result i32) i32.const 7 br 0)`):
# a branch to the function label lands on the final `end` with the results on the stack; the
# validator used to record that `end` with the polymorphic height 0, so a probe there failed.
@pytest.mark.parametrize("name", ["br-func-label-probe-at-end.wasm",
                                  "smith-42-803-br-func-label-probe-at-end.wasm"])
def test_regression_probe_at_final_end_after_branch(name):
    exc = _probe_every_pc_reading_operands(REGRESSIONS / name)
    assert exc is None, repr(exc)

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

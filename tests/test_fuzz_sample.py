"""A fixed-seed sample of the malformed-input campaign (tests/fuzz/mutate.py; `make fuzz` runs
10,000+ mutants) and the saved regressions: every mutant ends in DecodeError / ValidationError /
LinkError / Trap / ExitStatus / a resource-limit error or a normal result in every tier — never a
crash, a hang or another Python exception."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "fuzz"))
import mutate  # noqa: E402

SEED = 20240601
N = 300
ACCEPTED = {"decode", "invalid", "link", "limit", "trap", "fuel", "exit", "ok"}


def test_mutation_sample(tmp_path):
    res = mutate.campaign(N, SEED, tmp_path, mutate.available_tiers(), hang_timeout=120,
                          quiet=True)
    print(f"\n{res['n']} mutants in {res['seconds']:.1f} s: {res['counts']}")
    details = []
    for kind, i, desc in res["failures"]:
        txt = tmp_path / f"{kind}-{SEED}-{i}.txt"
        details.append(f"{kind} mutant {i} ({desc}):\n{txt.read_text() if txt.exists() else ''}")
    assert not res["failures"], "\n\n".join(details)
    assert res["n"] == N
    assert set(res["counts"]) <= ACCEPTED


def test_mutants_are_deterministic():
    corpus = mutate.load_corpus(spec=False)
    assert [mutate.make_mutant(5, i, corpus) for i in range(20)] == \
           [mutate.make_mutant(5, i, corpus) for i in range(20)]


REGRESSIONS = sorted((HERE / "data" / "regressions").glob("*.wasm"))


@pytest.mark.skipif(not REGRESSIONS, reason="no saved regression inputs")
def test_saved_regressions():
    """Every saved input (mutation crashes/bugs and smith discrepancies) now ends normally."""
    p = subprocess.run([sys.executable, str(HERE / "fuzz" / "mutate.py"), "--replay",
                        *map(str, REGRESSIONS)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    for line in p.stdout.splitlines():
        path, outcome = line.rsplit(" ", 1)
        assert outcome in ACCEPTED, line

"""python -m bench [suite|interp] [options]

    suite   the benchmark matrix: workloads x tiers x analyses, and the peers (default;
            `python -m bench suite --help`; `--quick` for the ~2-minute smoke run)
    interp  the interpreter-throughput kernels only: wizardpy vs wasm3, wabt, pywasm, wasmtime
            (`python -m bench interp --help`)

Exit status 1 on any output mismatch, crash or engine failure.
"""
from __future__ import annotations

import sys

BENCHMARKS = ("suite", "interp")


def main(argv: list[str] | None = None, prog: str = "python -m bench") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    which = "suite"
    if argv and not argv[0].startswith("-"):
        which = argv.pop(0)
    if which in ("help",) or which not in BENCHMARKS:
        print(__doc__)
        print("benchmarks: " + ", ".join(BENCHMARKS))
        return 0 if which == "help" else 2
    if which == "interp":
        from . import interp
        return interp.main(argv)
    from . import suite
    return suite.main(argv, prog=f"{prog} suite" if prog == "python -m bench" else prog)


if __name__ == "__main__":
    raise SystemExit(main())

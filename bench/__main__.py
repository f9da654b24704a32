"""python -m bench [interp] [--quick] [--reps N] [--kernels ...] [--engines ...] [--no-load]

With no sub-command, runs the standard benchmark (``interp``). Exit status 1 on any checksum
mismatch or engine failure.
"""
from __future__ import annotations

import sys

BENCHMARKS = ("interp",)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    which = "interp"
    if argv and not argv[0].startswith("-"):
        which = argv.pop(0)
    if which in ("-h", "--help", "help") or which not in BENCHMARKS:
        print(__doc__)
        print("benchmarks: " + ", ".join(BENCHMARKS))
        return 0 if which in ("-h", "--help", "help") else 2
    if which == "interp":
        from . import interp
        return interp.main(argv)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

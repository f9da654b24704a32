"""LCOV tracefiles from per-instruction counts and DWARF line info (for `genhtml`, IDEs, CI).

`lcov_text(module, counts)` / `write_lcov(path, module, counts)` turn `{(func, pc): count}` —
every instrumented instruction, 0 for the ones that never ran (a coverage run gives 0/1, a
hotness run real counts) — into one LCOV record per source file:

    TN:<test name>
    SF:<source file>
    FN:<line>,<function>       line of the function's first instruction that has line info
    FNDA:<count>,<function>    count of that first instruction (= calls, for a hotness run)
    FNF:/FNH:                  functions found / hit
    DA:<line>,<count>          count = MAX over the instructions attributed to that line
    LF:/LH:                    lines found / hit
    end_of_record

Why max, not sum: a source line compiles to many instructions, so a sum would report a line run
once as executed ~10 times; the max is the number of times the line's most-executed piece ran
(the loop condition of a `for` line, for example), which is what a person reading an annotated
source expects, and it is 1 for a line a coverage run saw execute.

Instructions without line info (no DWARF row, or line 0 = compiler-generated) are left out.
Function names are the name-section names (`#N` without one); LCOV separates fields with commas,
so commas in names become `_`. The test name (TN) keeps only [A-Za-z0-9_], as genhtml wants.
"""
from __future__ import annotations

import os
import re
from typing import IO, Mapping

__all__ = ["lcov_text", "write_lcov", "LcovError"]


class LcovError(ValueError):
    """The module has no DWARF line info to attribute counts to."""


def _fn_name(module, func: int) -> str:
    ref = module.func_name(func)          # '"name"' or '#N'
    if ref.startswith('"') and ref.endswith('"'):
        ref = ref[1:-1]
    return ref.replace(",", "_").replace("\n", " ") or f"#{func}"


def lcov_text(module, counts: Mapping[tuple[int, int], int], *, test_name: str = "wizardpy",
              source_lines: Mapping[tuple[int, int], tuple[str, int]] | None = None) -> str:
    """The LCOV tracefile text. `source_lines` defaults to `module.source_lines()`; raises
    LcovError when there is none."""
    if source_lines is None:
        source_lines = module.source_lines()
    if not source_lines:
        raise LcovError("the module has no DWARF line info (.debug_line); build it with -g")
    lines: dict[str, dict[int, int]] = {}
    first: dict[int, tuple[int, str, int]] = {}          # func -> (pc, file, line)
    for (f, pc), cnt in counts.items():
        loc = source_lines.get((f, pc))
        if loc is None:
            continue
        file, line = loc
        per = lines.setdefault(file, {})
        per[line] = max(per.get(line, 0), int(cnt))
        if f not in first or pc < first[f][0]:
            first[f] = (pc, file, line)
    funcs: dict[str, list[tuple[int, str, int]]] = {}
    for f, (pc, file, line) in first.items():
        funcs.setdefault(file, []).append((line, _fn_name(module, f), int(counts.get((f, pc), 0))))
    tn = re.sub(r"\W", "_", test_name, flags=re.ASCII) or "wizardpy"   # genhtml: [A-Za-z0-9_]
    out = []
    for file in sorted(lines):
        out.append(f"TN:{tn}")
        out.append(f"SF:{file}")
        fl = sorted(funcs.get(file, ()))
        seen = set()
        uniq = []
        for line, name, cnt in fl:
            if name in seen:      # LCOV keys functions by name within a file
                continue
            seen.add(name)
            uniq.append((line, name, cnt))
        for line, name, _ in uniq:
            out.append(f"FN:{line},{name}")
        for _, name, cnt in uniq:
            out.append(f"FNDA:{cnt},{name}")
        out.append(f"FNF:{len(uniq)}")
        out.append(f"FNH:{sum(1 for u in uniq if u[2])}")
        per = lines[file]
        for line in sorted(per):
            out.append(f"DA:{line},{per[line]}")
        out.append(f"LF:{len(per)}")
        out.append(f"LH:{sum(1 for c in per.values() if c)}")
        out.append("end_of_record")
    return "\n".join(out) + "\n" if out else ""


def write_lcov(dest: str | os.PathLike | IO[str], module, counts: Mapping[tuple[int, int], int],
               *, test_name: str = "wizardpy",
               source_lines: Mapping[tuple[int, int], tuple[str, int]] | None = None) -> None:
    """Write the tracefile to a path or an open text file (see `lcov_text`)."""
    text = lcov_text(module, counts, test_name=test_name, source_lines=source_lines)
    if hasattr(dest, "write"):
        dest.write(text)  # type: ignore[union-attr]
        return
    with open(os.fspath(dest), "w", encoding="utf-8") as fh:  # type: ignore[arg-type]
        fh.write(text)

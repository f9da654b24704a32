"""DWARF line info (wizardpy/dwarf.py), Module.source_* and LCOV output (wizardpy/lcov.py).

Oracles: `wasm-tools addr2line` (gimli) on every instruction of real zig-cc builds (DWARF 4 from
the prebuilt libc, DWARF 5 with line_strp and MD5 for our own unit); a hand-written C program
where the source line of given instructions is known; hand-assembled line programs for the
opcodes compilers rarely emit (DWARF 2/3, DWARF64, const_add_pc, fixed_advance_pc, define_file,
an unknown standard opcode); malformed DWARF, which must never break a run. End to end: an LCOV
file from a coverage and a hotness run through the CLI, rendered by `genhtml` (Debian `lcov`).
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from wizardpy.binary import decode_module
from wizardpy.disasm import format_instruction, iter_instructions
from wizardpy.dwarf import DwarfError, LineTable, parse_debug_line

ROOT = Path(__file__).resolve().parent.parent
LINDBLAD = ROOT / "workloads" / "lindblad" / "lindblad.debug.wasm"
VENV_BIN = Path(sys.executable).parent
WASM_TOOLS = shutil.which("wasm-tools", path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")

C_SOURCE = """\
#include <stdio.h>

static int square(int x) {
    return x * x;          /* line 4 */
}

int main(void) {
    int s = 0;
    for (int i = 0; i < 10; i++)
        s += square(i);    /* line 10 */
    if (s < 0)
        puts("never");     /* line 12 */
    printf("%d\\n", s);
    return 0;
}
"""


def _zig_cc(src: Path, out: Path, *flags: str) -> None:
    cmd = [sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi", "-O0",
           "-fno-sanitize=undefined", *flags, "-o", str(out), str(src)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=src.parent, timeout=600)
    assert r.returncode == 0, f"zig cc failed: {r.stderr}"


@pytest.fixture(scope="module")
def cprog(tmp_path_factory):
    """The C program built with DWARF 4 and DWARF 5: {'src': path, 4: wasm, 5: wasm}."""
    d = tmp_path_factory.mktemp("dwarfc")
    src = d / "prog.c"
    src.write_text(C_SOURCE)
    out = {"src": src}
    for v in (4, 5):
        _zig_cc(src, d / f"prog{v}.wasm", f"-gdwarf-{v}")
        out[v] = d / f"prog{v}.wasm"
    return out


def _table(path):
    d = decode_module(Path(path).read_bytes())
    return d, LineTable.from_module_def(d)


def _func(d, name):
    for i, n in d.names.funcs.items():
        if n == name:
            return i
    raise KeyError(name)


# ------------------------------------------------------------------------------ the oracle
def _addr2line(path, addrs):
    """{module offset: (file, line) | None} from `wasm-tools addr2line` (innermost frame)."""
    out = {}
    for k in range(0, len(addrs), 4000):
        r = subprocess.run([WASM_TOOLS, "addr2line", str(path)] + [hex(a) for a in addrs[k:k + 4000]],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        for line in r.stdout.splitlines():
            m = re.match(r"0x([0-9a-f]+): (.*)$", line)
            if not m:
                continue      # an inlined caller's frame
            a = int(m.group(1), 16)
            if a in out:
                continue
            rest = m.group(2)
            if rest.startswith("no dwarf"):
                out[a] = None
                continue
            parts = rest.split(" ", 1)[1].split(":")
            if len(parts) >= 3 and parts[-1].isdigit() and parts[-2].isdigit():
                loc = (":".join(parts[:-2]), int(parts[-2]))
            elif len(parts) >= 2 and parts[-1].isdigit():
                loc = (":".join(parts[:-1]), int(parts[-1]))
            else:
                loc = None                      # line 0: no source line
            out[a] = loc if loc and loc[1] else None
    return out


def _check_against_addr2line(path):
    d, t = _table(path)
    assert t is not None and len(t) > 0
    addrs = []
    for f in range(d.num_imported_funcs, d.num_funcs):
        base = d.codes[f - d.num_imported_funcs].body_offset
        addrs += [base + pc for pc, _, _ in iter_instructions(d, f)]
    oracle = _addr2line(path, addrs)
    bad = [(hex(a), t.lookup(a), oracle.get(a, "missing")) for a in addrs
           if t.lookup(a) != oracle.get(a, "missing")]
    assert not bad, f"{len(bad)} of {len(addrs)} instructions differ, e.g. {bad[:5]}"
    with_info = sum(1 for a in addrs if oracle.get(a))
    assert with_info > len(addrs) // 2
    return d, t


def test_lindblad_matches_addr2line():
    d, t = _check_against_addr2line(LINDBLAD)
    files = {e[2] for e in t.rows()}
    assert any(f.endswith("workloads/lindblad/lindblad.c") and f.startswith("/") for f in files), \
        "comp_dir from .debug_info joins the relative file names"


@pytest.mark.parametrize("version", [4, 5])
def test_c_program_matches_addr2line(cprog, version):
    _check_against_addr2line(cprog[version])


@pytest.mark.parametrize("version", [4, 5])
def test_known_lines(cprog, version):
    """The C program: the multiply is line 4, the call to square line 10, puts line 12."""
    d, t = _table(cprog[version])
    src = str(cprog["src"])
    sq = _func(d, "square")
    mp = t.for_function(d, sq)
    pcs = {format_instruction(d, op, imm): pc for pc, op, imm in iter_instructions(d, sq)}
    assert mp[pcs["i32.mul"]] == (src, 4)
    assert {f for f, _ in mp.values()} == {src}
    assert set(ln for _, ln in mp.values()) <= {3, 4, 5}
    mainf = _func(d, "__original_main")
    mm = t.for_function(d, mainf)
    calls = {}
    for pc, op, imm in iter_instructions(d, mainf):
        text = format_instruction(d, op, imm)
        if text.startswith("call "):
            calls[text.split("<")[-1].strip('">')] = pc
    assert mm[calls["square"]] == (src, 10)
    assert mm[calls["puts"]] == (src, 12)
    # lookup by module offset agrees with for_function
    base = d.codes[mainf - d.num_imported_funcs].body_offset
    assert t.lookup(base + calls["puts"]) == (src, 12)
    assert t.lookup(base) is None or t.lookup(base)[0] == src   # pc 0: the locals, usually none


def test_v5_uses_line_strp_and_md5(cprog):
    """Our own unit in the -gdwarf-5 build is a v5 unit (line_strp paths, data16 MD5)."""
    d = decode_module(cprog[5].read_bytes())
    names = [c[0] for c in d.customs]
    assert ".debug_line_str" in names
    off, size = next((o, s) for n, o, s in d.customs if n == ".debug_line")
    sec = d.raw[off:off + size]
    versions = set()
    pos = 0
    while pos < len(sec):
        ln, = struct.unpack_from("<I", sec, pos)
        versions.add(struct.unpack_from("<H", sec, pos + 4)[0])
        pos += 4 + ln
    assert 5 in versions and 4 in versions


# ------------------------------------------------------------------------------ hand-assembled
def _uleb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _sleb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if (n == 0 and not b & 0x40) or (n == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def _unit(program, *, version=3, dwarf64=False, opcode_base=13, std_lengths=None,
          dirs=("inc",), files=(("a.c", 0), ("b.h", 1)), line_base=-5, line_range=14,
          min_inst=1):
    std = list(std_lengths or [0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1][:opcode_base - 1])
    std += [1] * (opcode_base - 1 - len(std))
    hdr = bytes([min_inst]) + (bytes([1]) if version >= 4 else b"") + bytes(
        [1, line_base & 0xFF, line_range, opcode_base]) + bytes(std)
    for dname in dirs:
        hdr += dname.encode() + b"\0"
    hdr += b"\0"
    for fname, di in files:
        hdr += fname.encode() + b"\0" + _uleb(di) + _uleb(0) + _uleb(0)
    hdr += b"\0"
    osz = 8 if dwarf64 else 4
    body = struct.pack("<H", version) + len(hdr).to_bytes(osz, "little") + hdr + program
    if dwarf64:
        return b"\xff\xff\xff\xff" + struct.pack("<Q", len(body)) + body
    return struct.pack("<I", len(body)) + body


def _set_address(a):
    return b"\0" + _uleb(5) + b"\x02" + struct.pack("<I", a)


END_SEQ = b"\0\x01\x01"


@pytest.mark.parametrize("version,dwarf64", [(2, False), (3, False), (4, False), (3, True)])
def test_hand_assembled_program(version, dwarf64):
    prog = (_set_address(0x10) + b"\x01"                      # copy: 0x10 line 1
            + bytes([13 + 2 * 14 + 5 + 2])                    # special: +2 addr, +2 line
            + b"\x03" + _sleb(40) + b"\x05" + _uleb(7)         # line 43, column 7
            + b"\x08" + b"\x01"                                # const_add_pc (+17), copy
            + b"\x09" + struct.pack("<H", 300) + b"\x04\x02" + b"\x01"  # fixed +300, file 2
            + b"\0" + _uleb(2) + b"\x04" + _uleb(3)              # set_discriminator (skipped)
            + b"\x02" + _uleb(4) + b"\x03" + _sleb(-42) + b"\x01"   # +4, line 1
            + b"\x02" + _uleb(1) + END_SEQ)
    rows = parse_debug_line(_unit(prog, version=version, dwarf64=dwarf64),
                            comp_dirs={0: "/src"})
    got = [(r.address, r.file, r.line, r.column, r.end_sequence) for r in rows]
    assert got == [
        (0x10, "/src/a.c", 1, 0, False),
        (0x12, "/src/a.c", 3, 0, False),
        (0x12 + 17, "/src/a.c", 43, 7, False),
        (0x12 + 17 + 300, "/src/inc/b.h", 43, 7, False),
        (0x12 + 17 + 304, "/src/inc/b.h", 1, 7, False),
        (0x12 + 17 + 305, "/src/inc/b.h", 1, 7, True),
    ]
    t = LineTable(rows, code_base=1000)
    assert t.lookup(1000 + 0x10) == ("/src/a.c", 1)
    assert t.lookup(1000 + 0x11) == ("/src/a.c", 1)
    assert t.lookup(1000 + 0x12) == ("/src/a.c", 3)
    assert t.lookup(1000 + 0x12 + 17 + 300) == ("/src/inc/b.h", 43)
    assert t.lookup(1000 + 0x12 + 17 + 305) is None       # end of the sequence
    assert t.lookup(1000 + 0xF) is None


def test_unknown_standard_opcode_define_file_and_line_zero():
    """opcode_base 14: opcode 13 is a standard opcode with 2 ULEB operands, not a special one."""
    prog = (_set_address(0x20) + b"\x0d" + _uleb(300) + _uleb(5)   # unknown op 13: skipped
            + b"\0" + _uleb(1 + 4 + 3) + b"\x03" + b"d.c\0" + _uleb(0) + _uleb(0) + _uleb(0)  # define_file 3
            + b"\x04\x03" + b"\x03" + _sleb(9) + b"\x01"          # file 3, line 10
            + b"\x02" + _uleb(2) + b"\x03" + _sleb(-10) + b"\x01"  # line 0 at 0x22
            + b"\x02" + _uleb(2) + END_SEQ)
    rows = parse_debug_line(_unit(prog, opcode_base=14, std_lengths=[0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1, 2]))
    assert [(r.address, r.file, r.line) for r in rows] == [
        (0x20, "d.c", 10), (0x22, "d.c", 0), (0x24, "d.c", 0)]
    t = LineTable(rows)
    assert t.lookup(0x21) == ("d.c", 10)
    assert t.lookup(0x22) is None                          # line 0 = no source line


def test_last_row_at_an_address_wins_and_sequences_sort():
    seq_b = _set_address(0x40) + b"\x03" + _sleb(99) + b"\x01" + b"\x02" + _uleb(4) + END_SEQ
    seq_a = (_set_address(0x30) + b"\x01" + b"\x03" + _sleb(1) + b"\x01"   # two rows at 0x30
             + b"\x02" + _uleb(4) + END_SEQ)
    t = LineTable(parse_debug_line(_unit(seq_b + seq_a)))
    assert t.lookup(0x30) == ("a.c", 2)
    assert t.lookup(0x41) == ("a.c", 100)
    assert t.lookup(0x3C) is None


def test_dead_code_sequences_dropped():
    """Sequences outside every function body (linker tombstones) are ignored."""
    prog = (_set_address(0) + b"\x03" + _sleb(49) + b"\x01" + b"\x02" + _uleb(0x100) + END_SEQ
            + _set_address(0x50) + b"\x03" + _sleb(6) + b"\x01" + b"\x02" + _uleb(4) + END_SEQ)
    rows = parse_debug_line(_unit(prog))
    t = LineTable(rows, valid=[(0x4F, 0x60)])
    assert t.lookup(0x52) == ("a.c", 7)
    assert t.lookup(0x10) is None


@pytest.mark.parametrize("data,msg", [
    (b"\x10\x00\x00", "truncated"),
    (struct.pack("<IH", 2, 9), "version 9"),
    (struct.pack("<I", 100) + b"\x03\x00", "past the section end"),
    (_unit(b"\0\x05\x02\x00"), "past the unit"),
    (_unit(b"\x00"), "truncated"),
    (_unit(b"", line_range=0), "line_range 0"),
])
def test_malformed_raises_dwarf_error(data, msg):
    with pytest.raises(DwarfError, match=msg):
        parse_debug_line(data)


# ------------------------------------------------------------------------------ in a module
def _custom(name, payload):
    n = name.encode()
    body = _uleb(len(n)) + n + payload
    return b"\0" + _uleb(len(body)) + body


def _module_with_debug_line(debug_line: bytes) -> bytes:
    """(func (export "f") (result i32) i32.const 7 i32.const 5 i32.add) + a .debug_line."""
    code = bytes([0x00, 0x41, 0x07, 0x41, 0x05, 0x6A, 0x0B])     # no locals; body
    return (b"\0asm\x01\0\0\0"
            + b"\x01\x05\x01\x60\x00\x01\x7f"                     # type [] -> [i32]
            + b"\x03\x02\x01\x00"                                 # func 0: type 0
            + b"\x07\x05\x01\x01f\x00\x00"                        # export "f"
            + b"\x0a" + _uleb(1 + 1 + len(code)) + b"\x01" + _uleb(len(code)) + code
            + _custom(".debug_line", debug_line))


def test_module_source_api_on_synthetic_module():
    # code payload: [count=1][size=7][locals 0][i32.const 7 @3][i32.const 5 @5][add @7][end @8]
    prog = (_set_address(3) + b"\x03" + _sleb(10) + b"\x01"
            + b"\x02" + _uleb(4) + b"\x03" + _sleb(1) + b"\x01"     # 7: line 12
            + b"\x02" + _uleb(2) + END_SEQ)
    raw = _module_with_debug_line(_unit(prog, files=(("m.c", 0),)))
    d = decode_module(raw)
    t = LineTable.from_module_def(d)
    assert t.for_function(d, 0) == {1: ("m.c", 11), 3: ("m.c", 11), 5: ("m.c", 12), 6: ("m.c", 12)}
    import wizardpy

    m = wizardpy.Module(wizardpy.Engine(), raw)
    assert m.has_source_info
    assert m.source_location(0, 5) == ("m.c", 12)
    assert m.source_location(0, 0) is None
    assert m.source_lines() == {(0, 1): ("m.c", 11), (0, 3): ("m.c", 11),
                                (0, 5): ("m.c", 12), (0, 6): ("m.c", 12)}


@pytest.mark.parametrize("garbage", [b"", b"\xff" * 7, struct.pack("<IH", 60, 4) + b"\0" * 10,
                                     _unit(b"\0\x09\x02\x01")])
def test_bad_dwarf_never_breaks_a_module(garbage):
    import wizardpy

    raw = _module_with_debug_line(garbage)
    engine = wizardpy.Engine()
    m = wizardpy.Module(engine, raw)
    assert not m.has_source_info
    assert m.source_lines() is None
    assert m.source_location(0, 1) is None
    assert wizardpy.Instance(engine, m).exports["f"]() == 12


def test_no_dwarf():
    import wizardpy

    m = wizardpy.Module(wizardpy.Engine(), _module_with_debug_line(b"")[:-len(_custom(".debug_line", b""))])
    assert not m.has_source_info and m.source_lines() is None


# ------------------------------------------------------------------------------ monitors, LCOV
def _run_cli(*argv, cwd):
    return subprocess.run([sys.executable, "-m", "wizardpy", *map(str, argv)], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def _record(info: str, suffix: str) -> dict:
    """The LCOV record of the source file ending in `suffix`: {'DA': {line: n}, 'FNDA': {...}}."""
    for rec in info.split("end_of_record"):
        lines = rec.strip().splitlines()
        sf = next((ln[3:] for ln in lines if ln.startswith("SF:")), None)
        if sf and sf.endswith(suffix):
            out = {"SF": sf, "DA": {}, "FN": {}, "FNDA": {}}
            for ln in lines:
                key, _, val = ln.partition(":")
                if key == "DA":
                    a, b = val.split(",")[:2]
                    out["DA"][int(a)] = int(b)
                elif key == "FN":
                    a, b = val.split(",", 1)
                    out["FN"][b] = int(a)
                elif key == "FNDA":
                    a, b = val.split(",", 1)
                    out["FNDA"][b] = int(a)
                elif key in ("LF", "LH", "FNF", "FNH"):
                    out[key] = int(val)
            return out
    raise AssertionError(f"no record for {suffix} in the tracefile")


def test_lcov_coverage_and_hotness_through_cli_and_genhtml(cprog, tmp_path):
    wasm, src = cprog[5], cprog["src"]
    # coverage: 0/1 per line; the text report names the source line totals and file:line
    r = _run_cli("run", "--monitor", "coverage:funcs", "--lcov", tmp_path / "cov.info", wasm,
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("285\n")
    assert "Line coverage:" in r.stdout and re.search(r'"square".*prog\.c:3', r.stdout)
    cov = _record((tmp_path / "cov.info").read_text(), "prog.c")
    assert cov["SF"] == str(src)
    assert cov["DA"][4] == 1 and cov["DA"][10] == 1 and cov["DA"][12] == 0
    assert cov["FN"]["square"] == 3 and cov["FNDA"]["square"] == 1
    assert cov["LF"] == len(cov["DA"]) and cov["LH"] == cov["LF"] - 1    # only `puts` missed
    # hotness: DA = the most-executed instruction of the line; FNDA = calls
    r = _run_cli("run", "--monitor", "hotness", "--lcov", tmp_path / "hot.info", wasm, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "hottest source lines" in r.stdout and "prog.c:9" in r.stdout
    hot = _record((tmp_path / "hot.info").read_text(), "prog.c")
    assert hot["DA"][4] == 10 and hot["DA"][10] == 10 and hot["DA"][9] == 11 and hot["DA"][12] == 0
    assert hot["FNDA"] == {"square": 10, "__original_main": 1}
    # genhtml turns it into an HTML report
    genhtml = shutil.which("genhtml")
    if genhtml is None:
        pytest.fail("genhtml not found: install the Debian package lcov "
                    "(`command -v genhtml || apt-get install -y lcov`)")
    out = tmp_path / "html"
    g = subprocess.run([genhtml, "--quiet", str(tmp_path / "hot.info"), "-o", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert g.returncode == 0, g.stderr
    assert "WARNING" not in g.stderr, g.stderr
    index = (out / "index.html").read_text(errors="replace")
    assert "prog.c" in index or Path(src).parent.name in index
    page = next(out.rglob("prog.c.gcov.html")).read_text(errors="replace")
    assert "square" in page


def test_lcov_errors_and_monitors_without_dwarf(tmp_path):
    from wizardpy.lcov import LcovError, lcov_text

    raw = _module_with_debug_line(b"")[:-len(_custom(".debug_line", b""))]
    (tmp_path / "m.wasm").write_bytes(raw)
    r = _run_cli("run", "--monitor", "coverage", "--lcov", tmp_path / "x.info", "--invoke", "f",
                 tmp_path / "m.wasm", cwd=tmp_path)
    assert r.returncode == 2 and "no usable DWARF line info" in r.stderr
    r = _run_cli("run", "--lcov", tmp_path / "x.info", "--invoke", "f", tmp_path / "m.wasm",
                 cwd=tmp_path)
    assert r.returncode == 2 and "--lcov needs --monitor" in r.stderr
    # a module with malformed DWARF runs its monitors as if it had none
    (tmp_path / "bad.wasm").write_bytes(_module_with_debug_line(b"\xff" * 9))
    r = _run_cli("run", "--monitor", "coverage", "--monitor", "hotness", "--invoke", "f",
                 tmp_path / "bad.wasm", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "12" in r.stdout and "Line coverage" not in r.stdout
    import wizardpy

    with pytest.raises(LcovError):
        lcov_text(wizardpy.Module(wizardpy.Engine(), raw), {(0, 1): 1})


def test_lcov_text_synthetic():
    """Max over a line's instructions; functions keyed by name; TN sanitized."""
    import wizardpy

    prog = (_set_address(3) + b"\x03" + _sleb(10) + b"\x01"
            + b"\x02" + _uleb(4) + b"\x03" + _sleb(1) + b"\x01"
            + b"\x02" + _uleb(2) + END_SEQ)
    m = wizardpy.Module(wizardpy.Engine(), _module_with_debug_line(_unit(prog, files=(("m.c", 0),))))
    from wizardpy.lcov import lcov_text

    text = lcov_text(m, {(0, 1): 3, (0, 3): 5, (0, 5): 0, (0, 6): 0}, test_name="a-b.wasm")
    assert text == ("TN:a_b_wasm\nSF:m.c\nFN:11,#0\nFNDA:3,#0\nFNF:1\nFNH:1\n"
                    "DA:11,5\nDA:12,0\nLF:2\nLH:1\nend_of_record\n")

"""The suite's report: the targets and whether they are met, Markdown tables, PNG charts.

    summarize(result)               -> {"targets": [...], ...}   (stored in the JSON)
    markdown(result, base, json)    -> bench/RESULTS.md text
    charts(result, out_dir)         -> [overhead.png, throughput.png, compile_time.png]
    console(result)                 -> the short text printed at the end of a run

Every cell a missing tier/monitor/peer would fill says "not available" (with the reason in the
list under the table); failures are listed first, in bold.
"""
from __future__ import annotations

import math
import os
import statistics
from pathlib import Path
from typing import Any

from .suite import ANALYSES, MONITORS, PROBES, REMOVED, TARGETS, TIERS

NA = "not available"
ENGINE_ORDER = ["native", "wasmtime", "wizardpy-jit", "wizardpy-tiered", "wizardpy-int", "wasm3", "pywasm"]
CHARTS = ("overhead.png", "throughput.png", "compile_time.png")


# ---------------------------------------------------------------------------------------------
# formatting

def fmt_ips(x: float | None) -> str:
    if x is None:
        return "–"
    if x >= 1e9:
        return f"{x / 1e9:.2f} G"
    if x >= 1e6:
        return f"{x / 1e6:.1f} M" if x < 1e8 else f"{x / 1e6:.0f} M"
    if x >= 1e3:
        return f"{x / 1e3:.0f} k"
    return f"{x:.0f}"


def fmt_s(x: float | None) -> str:
    if x is None:
        return "–"
    if x >= 10:
        return f"{x:.1f} s"
    if x >= 1:
        return f"{x:.2f} s"
    if x >= 1e-3:
        return f"{x * 1e3:.1f} ms" if x < 0.1 else f"{x * 1e3:.0f} ms"
    return f"{x * 1e6:.0f} µs"


def fmt_ratio(st: dict | None, digits: int = 2) -> str:
    if not st:
        return "–"
    return f"{st['median']:.{digits}f}× ({st['min']:.{digits}f}–{st['max']:.{digits}f})"


def short(text: str, n: int = 300) -> str:
    """One line, at most n characters (failure messages can carry whole output lines)."""
    t = " ".join(str(text).split())
    return t if len(t) <= n else t[:n - 1] + "…"


def geomean(xs: list[float]) -> float | None:
    xs = [x for x in xs if x and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def _groups(result: dict, section: str) -> list[tuple[str, dict]]:
    return [(k, g) for k, g in result.get("groups", {}).items() if g.get("section") == section]


def _na(why: str | None) -> str:
    """The cell for a configuration that did not run: why, in one word."""
    if not why:
        return "–"
    if why.startswith("skipped"):
        return "*skipped*"
    if why.startswith("not run"):
        return "*not run*"
    if why.startswith("TIMEOUT"):
        return "**TIMEOUT**"
    return f"*{NA}*"


def _tier_gap(result: dict, tier: str, analysis: str) -> str:
    """Why a tier x analysis has no figure: unavailable tier/monitor, or groups not run."""
    av = result.get("availability", {})
    if tier not in result.get("config", {}).get("tiers", TIERS):
        return f"{NA}: tier {tier} not selected in this run (--tiers)"
    t = av.get("tiers", {}).get(tier)
    if t is not None and not t.get("available"):
        return f"{NA}: {t.get('why')}"
    m = av.get("monitors", {}).get(analysis)
    if m is not None and not m.get("available"):
        return f"{NA}: {m.get('why')}"
    for g in result.get("groups", {}).values():
        for n, why in g.get("unavailable", {}).items():
            if n == f"wizardpy-{tier}+{analysis}" and why.startswith(("TIMEOUT", "not run")):
                return why
    for g in result.get("groups", {}).values():
        for n, why in g.get("unavailable", {}).items():
            if n.startswith(f"wizardpy-{tier}") and why.startswith(("TIMEOUT", "not run")):
                return why
    for g in result.get("groups", {}).values():
        for n, cr in g.get("configs", {}).items():
            if n.startswith(f"wizardpy-{tier}") and cr.get("analysis") == analysis and "error" in cr:
                return f"FAILED: {cr['error']}"
    return f"{NA}: not measured"


def _cell_unavailable(g: dict, name: str) -> str | None:
    un = g.get("unavailable", {})
    if name in un:
        return un[name]
    if "all" in un:
        return un["all"]
    return None


def inputs_label(result: dict, section: str, tier: str | None = None) -> str:
    """"main inputs (58–998 M instr)": which input a figure comes from, with the range of
    executed instructions over the workloads measured."""
    gs = [g for _, g in _groups(result, section) if tier is None or g.get("tier") == tier]
    if not gs:
        return "–"
    inp = next((g.get("inputs") for g in gs if g.get("inputs")), section)
    fuel = [g["fuel"] for g in gs if g.get("fuel") and g.get("configs")]
    name = {"main": "main inputs", "large": "large inputs", "small": "small inputs",
            "quick": "quick inputs"}.get(inp, f"{inp} inputs")
    if not fuel:
        return name
    lo, hi = min(fuel), max(fuel)
    def m(x: float) -> str:
        return f"{x / 1e6:.0f}" if x >= 1e7 else f"{x / 1e6:.1f}"
    rng = f"{m(lo)} M" if lo == hi else f"{m(lo)}–{m(hi)} M"
    return f"{name} ({rng} instr)"


# ---------------------------------------------------------------------------------------------
# the targets

def summarize(result: dict) -> dict:
    avail = result.get("availability", {})
    tiers_av = {t: v.get("available", False) for t, v in avail.get("tiers", {}).items()}
    tier_why = {t: v.get("why", "") for t, v in avail.get("tiers", {}).items()}
    targets: list[dict] = []

    inputs = ""

    def add(name: str, figure: str, measured: str, met: bool | None, detail: str = "") -> None:
        targets.append({"target": name, "figure": figure, "measured": measured, "inputs": inputs,
                        "met": met, "status": "not available" if met is None else ("met" if met else "NOT met"),
                        "detail": detail})

    # kernels: interpreter vs wasm3, JIT vs wasmtime
    kern = [(g["target"], g) for k, g in _groups(result, "kernels") if "@" not in k]
    for key, figure, what, tier in (("int/wasm3 throughput", f"≥ {TARGETS['int_vs_wasm3']}× wasm3 throughput", "interpreter vs wasm3", "int"),
                                    ("jit/wasmtime time", f"≤ {TARGETS['jit_vs_wasmtime']}× wasmtime time", "JIT vs wasmtime", "jit")):
        for kname, g in kern:
            inputs = f"kernel {kname}({g['size']:,}), {g.get('fuel', 0) / 1e6:.0f} M instr"
            r = g.get("ratios", {}).get(key)
            if r is None:
                why = _cell_unavailable(g, f"wizardpy-{tier}") or g["configs"].get(f"wizardpy-{tier}", {}).get("error") \
                    or "not measured"
                add(f"{what}: {kname}", figure, f"{NA}: {why}" if tier != "int" or not r else "–", None)
                continue
            if tier == "int":
                met = r["median"] >= TARGETS["int_vs_wasm3"]
            else:
                met = r["median"] <= TARGETS["jit_vs_wasmtime"]
            add(f"{what}: {kname}", figure, fmt_ratio(r), met)

    # monitor overheads per tier
    per: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    for k, g in _groups(result, "main"):
        for name, cr in g["configs"].items():
            if cr.get("engine") == "wizardpy" and "overhead" in cr:
                per.setdefault((cr["tier"], cr["analysis"]), []).append((g["target"], cr["overhead"]))
    overhead_rows = {}
    for tier in TIERS:
        tt = TARGETS["overhead"].get("jit" if tier != "int" else "int")
        inputs = inputs_label(result, "main", tier)
        for mon in MONITORS:
            lim = tt[mon]
            label = f"{mon} overhead, {tier}" + (" (JIT targets)" if tier == "tiered" else "")
            rows = per.get((tier, mon), [])
            if not rows:
                add(label, f"≤ {lim}×", _tier_gap(result, tier, mon), None)
                continue
            meds = [o["median"] for _, o in rows]
            gm = geomean(meds)
            worst = max(rows, key=lambda x: x[1]["median"])
            n_ok = sum(1 for m in meds if m <= lim)
            not_run = sum(1 for k, g in _groups(result, "main") if k.endswith(f"/{tier}")
                          and f"wizardpy-{tier}+{mon}" not in g["configs"])
            overhead_rows[(tier, mon)] = {"geomean": gm, "worst": worst[1]["median"], "worst_workload": worst[0],
                                          "within": n_ok, "n": len(meds), "not_run": not_run}
            add(label, f"≤ {lim}×", f"geomean {gm:.2f}×, worst {worst[1]['median']:.2f}× ({worst[0]}); "
                f"{n_ok}/{len(meds)} workload{'s' if len(meds) != 1 else ''} within"
                + (f"; **{not_run} workload(s) not measured** (time budget or failure)" if not_run else ""),
                n_ok == len(meds))

    # Python probes
    for an, key, lim, unit in (("probe-branch", "probe_us_per_firing", TARGETS["probe_us_per_firing"], "µs per firing"),
                               ("probe-global", "global_us_per_instr", TARGETS["global_us_per_instr"], "µs per instruction")):
        for tier in TIERS:
            inputs = inputs_label(result, "small", tier)
            vals = []
            skipped = []
            for k, g in _groups(result, "small"):
                cr = g["configs"].get(f"wizardpy-{tier}+{an}")
                if cr and "us_per_firing" in cr:
                    vals.append((g["target"], cr["us_per_firing"]["median"], cr.get("firings")))
                elif f"wizardpy-{tier}+{an}" in g.get("unavailable", {}):
                    skipped.append(g["target"])
            what = ("empty Python probe at every branch" if an == "probe-branch"
                    else "global empty Python probe") + f", {tier}"
            if not vals:
                add(what, f"≤ {lim} {unit}", _tier_gap(result, tier, an), None)
                continue
            med = statistics.median(v for _, v, _ in vals)
            worst = max(vals, key=lambda x: x[1])
            add(what, f"≤ {lim} {unit}",
                f"median {med:.3f}, worst {worst[1]:.3f} ({worst[0]}) over {len(vals)} workload{'s' if len(vals) != 1 else ''}"
                + (f"; {len(skipped)} skipped (input too large)" if skipped else ""),
                all(v <= lim for _, v, _ in vals))

    # zero cost when unused
    inputs = inputs_label(result, "main", "int")
    rows = [(g["target"], cr.get("run_overhead") or cr["overhead"])
            for _, g in _groups(result, "main") for cr in g["configs"].values()
            if cr.get("engine") == "wizardpy" and cr.get("tier") == "int"
            and cr.get("analysis") == REMOVED and "overhead" in cr]
    if rows:
        meds = [o["median"] for _, o in rows]
        gm = geomean(meds)
        worst = max(rows, key=lambda x: x[1]["median"])
        add("no-probe interpreter speed unchanged (run time after probes were inserted at every "
            "branch and removed again, vs never instrumented)",
            f"≤ {(TARGETS['no_probe_slowdown'] - 1) * 100:.0f}% slower",
            f"geomean {(gm - 1) * 100:+.1f}%, worst {(worst[1]['median'] - 1) * 100:+.1f}% ({worst[0]})",
            gm <= TARGETS["no_probe_slowdown"],
            "met = geometric mean over workloads; single workloads vary with the machine's noise; "
            "the run alone (inserting and removing the probes is in the probe-removed column); "
            "bench/probe_free.py compares builds with and without the probe support")
    else:
        add("no-probe interpreter speed unchanged", "≤ 2% slower", f"{NA}: not measured", None)

    # graphviz load
    load = result.get("load") or {}
    inputs = f"graphviz.wasm ({load['bytes'] / 1e3:.0f} kB)" if load.get("bytes") else "graphviz.wasm"
    wz = (load.get("engines") or {}).get("wizardpy (Module: decode+validate)", {})
    if "time_s" in wz:
        add("graphviz.wasm load (decode + validate)", f"< {TARGETS['graphviz_load_s']} s",
            fmt_s(wz["time_s"]["median"]) + f" ({fmt_s(wz['time_s']['min'])}–{fmt_s(wz['time_s']['max'])})",
            wz["time_s"]["median"] < TARGETS["graphviz_load_s"])
    else:
        add("graphviz.wasm load (decode + validate)", "< 1 s", f"{NA}: {load.get('error') or wz.get('error') or 'not measured'}", None)

    # tiered faster than int where int > 1 s
    inputs = inputs_label(result, "large") if _groups(result, "large") else inputs_label(result, "main", "int")
    over = []
    for k, g in _groups(result, "large") + _groups(result, "main"):
        ci = g["configs"].get("wizardpy-int", {})
        ct = g["configs"].get("wizardpy-tiered", {})
        if "time" in ci and ci["time"]["median"] > TARGETS["tiered_over_s"] and "time" in ct:
            r = g.get("ratios", {}).get("tiered/int time")
            if r:
                over.append((g["target"], g["size"], r["median"]))
    if over:
        slow = [o for o in over if o[2] >= 1.0]
        add("tiered faster than int on every workload where int takes > 1 s", "tiered/int < 1×",
            f"{len(over) - len(slow)}/{len(over)} faster; worst {max(o[2] for o in over):.2f}× "
            f"({max(over, key=lambda o: o[2])[0]})", not slow)
    else:
        why = tier_why.get("tiered") if not tiers_av.get("tiered", False) else \
            next((w for g in (g for _, g in _groups(result, "large")) for w in g.get("unavailable", {}).values()
                  if w.startswith("not run")), "no large-input group measured int and tiered together")
        add("tiered faster than int on every workload where int takes > 1 s", "tiered/int < 1×", f"{NA}: {why}", None)

    return {"targets": targets,
            "overhead": {f"{t}/{m}": v for (t, m), v in overhead_rows.items()},
            "failures": len(result.get("failures", []))}


# ---------------------------------------------------------------------------------------------
# Markdown

def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def targets_table(result: dict) -> list[str]:
    rows = []
    for t in result.get("summary", {}).get("targets", []):
        st = {"met": "met", "NOT met": "**NOT met**", "not available": "**not available**"}[t["status"]]
        rows.append([t["target"], t["figure"], t["measured"], t.get("inputs") or "–", st])
    return _table(["target", "goal", "measured", "measured on", "status"], rows)


def _cell(g: dict, name: str, render) -> str:
    """The cell of configuration `name` of group `g`: why it is missing, **FAIL**, or
    `render(its result)` (None: "–")."""
    cr = g["configs"].get(name)
    if cr is None:
        return _na(_cell_unavailable(g, name))
    if "error" in cr:
        return "**FAIL**"
    txt = render(cr)
    return "–" if txt is None else txt


def _time_cell(g: dict, name: str) -> str:
    def render(cr):
        if "time" not in cr:
            return None
        t = cr["time"]
        return f"{fmt_s(t['median'])} ({fmt_s(t['min'])}–{fmt_s(t['max'])})"
    return _cell(g, name, render)


def _ips_text(cr: dict) -> str | None:
    if "instr_per_s" not in cr:
        return None
    s = cr["instr_per_s"]
    return f"{fmt_ips(s['median'])} ({fmt_ips(s['min'])}–{fmt_ips(s['max'])})"


def _firing_text(cr: dict) -> str | None:
    if "us_per_firing" not in cr:
        return None
    u = cr["us_per_firing"]
    return f"{u['median']:.3f} µs × {cr.get('firings', 0):,}"


TIMING_NOTE = {
    "int": "wall time = Module() + probe insertion + instantiation + run + the monitor's report, a "
           "fresh Engine per run.",
    "tiered": "a fresh Engine per run (end to end); the tier-up compile time of each run is "
              "subtracted from both sides and reported separately.",
    "jit": "one worker per configuration decodes the module, inserts the probes and compiles the "
           "whole module once (not in the times; see load/compile below); each run = a fresh "
           "instance with the monitor attached + `_start` + the monitor's report. Recompilations "
           "during a run (a probe change invalidates compiled code, e.g. coverage's self-removing "
           "probes) are in the time: they are the monitor's cost. A configuration whose probes change "
           "while it runs gets a fresh Engine + Module per run (timing \"fresh\"), its initial "
           "compilation left out the same way.",
}


def _limit(result: dict) -> str:
    c = result.get("config", {})
    return f"{c.get('warmup_limit_s', '?')} s in this run"


def _compile_note(cr: dict) -> str:
    out = ""
    if cr.get("compile"):
        once = cr.get("timing") == "warm" or (cr.get("compile_once_s") is not None
                                              and not cr.get("compile_s"))
        out += f" (JIT compile {fmt_s(cr['compile']['median'])}{', once' if once else ''})"
    if cr.get("recompile") and cr["recompile"]["median"] > 0:
        out += f" (recompiles {fmt_s(cr['recompile']['median'])}/run, in the time)"
    return out


def inputs_section(result: dict) -> list[str]:
    """Per workload: the size and executed instructions of each input the run used."""
    cols: dict[str, dict[str, tuple]] = {}
    kinds: list[str] = []
    for k, g in result.get("groups", {}).items():
        if g.get("section") == "kernels" or not g.get("fuel"):
            continue
        kind = {"main": "main", "small": "small", "large": "large"}[g["section"]]
        if g["section"] == "main":
            kind = "main" if g.get("inputs") in ("main", "quick", None) else f"{g.get('inputs')} (jit)"
        if kind == "large" or kind.startswith("large"):
            kind = "large (jit, tier-up)"
        if kind not in kinds:
            kinds.append(kind)
        cols.setdefault(g["target"], {})[kind] = (g["size"], g["fuel"])
    if not cols:
        return []
    order = [k for k in ("main", "large (jit, tier-up)", "small") if k in kinds] + \
        [k for k in kinds if k not in ("main", "large (jit, tier-up)", "small")]
    rows = []
    for w, d in cols.items():
        rows.append([w] + [f"{d[k][0]:,}: {d[k][1] / 1e6:,.1f} M" if k in d else "–" for k in order])
    L = ["## Inputs", ""]
    L += _table(["workload"] + [f"{k} input: size: instr" for k in order], rows)
    L.append("")
    L.append("main: the int and tiered matrices, wasmtime and native; large: the jit matrix (so that "
             "compiled code runs ~0.2–0.3 s) and the tier-up group (the interpreter needs > 1 s); small: "
             "Python probes and pywasm (the smallest input). Instructions: wasmtime fuel.")
    L.append("")
    return L


def plan_section(result: dict) -> list[str]:
    """How the run was laid out and how long each part took."""
    t = result.get("timing") or {}
    p = result.get("plan") or {}
    cfg = result.get("config", {})
    if not t:
        return []
    L = ["## Run plan and durations", ""]
    est = p.get("sections_s", {})
    cpu = t.get("sections_cpu_s", {})
    rows = []
    for sec, took in t.get("sections_s", {}).items():
        n = sum(1 for g in result.get("groups", {}).values()
                if (g.get("section") == sec or (g.get("section") in ("main", "small") and g.get("tier") == sec)))
        rows.append([sec, str(n), fmt_s(est.get(sec)) if sec in est else "–", fmt_s(took),
                     fmt_s(cpu.get(sec)) if sec in cpu else "–"])
    for k, name in (("load_s", "graphviz load"), ("compile_s", "compile time vs size")):
        if k in t:
            rows.append([name, "–", "–", fmt_s(t[k]), "–"])
    L += _table(["part", "groups", "estimated", "took (sum of its groups)", "CPU of its workers"], rows)
    L.append("")
    jobs = cfg.get("jobs", 1)
    L.append(f"Whole run {fmt_s(result.get('elapsed_s'))} (plan estimate {fmt_s(p.get('total_s'))}, budget "
             f"{fmt_s(cfg.get('budget_s'))}). "
             + (f"{jobs} lanes: {jobs} blocks (a workload on one tier) ran at a time, each timing one run "
                "at a time, so the sums above exceed the wall time; ratios are paired within a lane, "
                "absolute times include a busy neighbour core. " if jobs > 1 else
                "One timed run at a time on the whole machine. ")
             + f"Load average at the start: {result.get('machine', {}).get('loadavg_at_start')} (CPU "
             "seconds of the workers are what the run costs on an idle machine). "
             + f"Warm-ups (untimed) ran {cfg.get('warmup_parallel', 1)} at a time per lane; a warm-up "
             f"longer than {cfg.get('warmup_limit_s', '?')} s is stopped (TIMEOUT). Per-group durations: "
             "`elapsed_s` of each group in the JSON.")
    not_run = sorted({k for k, g in result.get("groups", {}).items()
                      if any(str(w).startswith("not run: the time budget") for w in g.get("unavailable", {}).values())})
    if not_run:
        L.append("")
        L.append(f"**Not run (time budget): {len(not_run)} group(s)**: " + ", ".join(not_run[:40])
                 + (" …" if len(not_run) > 40 else ""))
    L.append("")
    return L


def markdown(result: dict, base: Path, json_path: Path | None = None) -> str:
    m = result["machine"]
    cfg = result["config"]
    L: list[str] = []
    L.append(f"# wizardpy benchmark results ({cfg['mode']} run)")
    L.append("")
    L.append(f"{result['date']} · {m.get('cpu')} ({m.get('cpus')} CPUs, load average at start "
             f"{m.get('loadavg_at_start')}) · {m.get('platform')} · Python {m.get('python')} · wizardpy "
             f"{m.get('git_commit')}{' (dirty tree)' if m.get('git_dirty') else ''} · "
             f"{cfg['reps']} timed repetitions per configuration after a warm-up · run took "
             f"{result.get('elapsed_s', 0) / 60:.1f} min"
             + (f" on {cfg['jobs']} lanes" if cfg.get("jobs", 1) > 1 else ""))
    L.append("")
    vers = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items() if v and v != "?")
    L.append(f"Versions: {vers}.")
    if json_path is not None:
        try:
            rel = os.path.relpath(json_path, base)
        except ValueError:
            rel = str(json_path)
        L.append(f"Raw data: [`{rel}`]({rel}). Regenerate with `make bench` (full, ≤ 30 min) or "
                 f"`wizardpy bench --quick` (a ~2-minute smoke run).")
    L.append("")
    fails = result.get("failures", [])
    if fails:
        L.append(f"## **FAILURES ({len(fails)})**")
        L.append("")
        L += [f"- **{short(f)}**" for f in fails]
        L.append("")
        L.append("(Full messages in the JSON: `failures`, and `error` of each configuration.)")
        L.append("")
    touts = result.get("timeouts", [])
    if touts:
        L.append(f"## **TIMEOUTS ({len(touts)})**")
        L.append("")
        L += [f"- **{short(t)}**" for t in touts]
        L.append("")
        L.append(f"A configuration stopped at the warm-up time limit ({_limit(result)}) is not tried "
                 "on the other workloads; every cell it would fill says **TIMEOUT**. (Not a wrong "
                 "result: the run's exit status stays 0 unless something failed.)")
        L.append("")
    av = result.get("availability", {})
    missing = [f"tier `{t}`: {v['why']}" for t, v in av.get("tiers", {}).items() if not v["available"]]
    missing += [f"monitor `{k}`: {v['why']}" for k, v in av.get("monitors", {}).items() if not v["available"]]
    missing += [f"peer `{k}`: {v['why']}" for k, v in av.get("peers", {}).items() if not v["available"]]
    if missing:
        L.append("## Not available in this run")
        L.append("")
        L += [f"- **{x}** — every cell it would fill says *not available*" for x in missing]
        L.append("")

    L.append("## Targets")
    L.append("")
    L += targets_table(result)
    L.append("")
    L.append("Ratios are medians of per-repetition paired ratios (configuration and baseline run in "
             "the same round-robin round), with min–max in parentheses. \"measured on\" names the input "
             "each figure comes from (the range: executed Wasm instructions, wasmtime fuel, over the "
             "workloads); the sizes per workload are in [Inputs](#inputs).")
    L.append("")
    L += inputs_section(result)
    L += plan_section(result)
    for c in CHARTS:
        if (base / "results" / c).exists() or result.get("charts"):
            pass
    charts = result.get("charts") or []
    if charts:
        for c in charts:
            rel = os.path.relpath(c, base)
            L.append(f"![{Path(c).stem}]({rel})")
        L.append("")

    # kernels
    kg = _groups(result, "kernels")
    if kg:
        L.append("## Kernels (bench/kernels, pure functions: no WASI)")
        L.append("")
        engines = ["wizardpy-int", "wizardpy-jit", "wizardpy-tiered", "wasm3", "wasmtime", "pywasm"]
        rows = []
        for k, g in kg:
            row = [f"{g['target']}({g['size']:,})", f"{g.get('fuel', 0):,}"]
            for e in engines:
                row.append(_cell(g, e, _ips_text))
            r = g.get("ratios", {})
            row.append(fmt_ratio(r.get("int/wasm3 throughput")))
            row.append(fmt_ratio(r.get("jit/wasmtime time")))
            rows.append(row)
        L += _table(["kernel(n)", "instr (fuel)"] + [f"{e} instr/s" for e in engines]
                    + ["int/wasm3 throughput", "jit/wasmtime time"], rows)
        L.append("")
        L.append("pywasm runs a reduced size (its own row `kernel@pywasm`, with wasm3 alongside for scale).")
        L.append("")

    # workloads: engines
    mg = _groups(result, "main")
    if mg:
        L.append("## Workloads: engines (no analysis)")
        L.append("")
        by_w: dict[str, dict] = {}
        for k, g in mg:
            by_w.setdefault(g["target"], {})[k.split("/")[-1]] = g
        rows = []
        for w, gs in by_w.items():
            gi = gs.get("int") or next(iter(gs.values()))
            row = [f"{w}({gi['size']})", f"{gi.get('fuel', 0) / 1e6:,.0f} M"]
            for name, tier in (("native", "int"), ("wasmtime", "int"), ("wizardpy-int", "int"),
                               ("wizardpy-tiered", "tiered"), ("wizardpy-jit", "jit")):
                g = gs.get(tier)
                if g is None:
                    row.append(f"*{NA}*" if tier not in cfg["tiers"] else "–")
                    continue
                cr = g["configs"].get(name)
                cell = _time_cell(g, name)
                if cr and "instr_per_s" in cr and "error" not in cr:
                    cell += f"<br>{fmt_ips(cr['instr_per_s']['median'])}/s"
                if g is not gi and g.get("size") != gi.get("size") and cr is not None:
                    cell += f"<br>(input {g['size']}: {g.get('fuel', 0) / 1e6:,.0f} M)"
                row.append(cell)
            r = gi.get("ratios", {})
            row.append(fmt_ratio(r.get("wasmtime/native time")))
            row.append(fmt_ratio(r.get("int/wasmtime time"), 1))
            rows.append(row)
        L += _table(["workload(size)", "instr", "native gcc -O2", "wasmtime", "wizardpy int",
                     "wizardpy tiered", "wizardpy jit (large input)",
                     "wasmtime/native (execution)", "int/wasmtime (execution)"], rows)
        L.append("")
        L.append("Main inputs, except the jit column: the jit tier runs the large inputs (a main input "
                 "takes compiled code only ~5–40 ms); compare engines by instr/s (wasmtime fuel / "
                 "execution time). Wall time median (min–max): module load/compile + instantiation + "
                 "`_start` (native: the whole process; wasmtime: Cranelift compiles the module in every "
                 "run, ~60–100 ms here; tiered: its tier-up compilations included; jit: instantiation + "
                 "`_start`, the module compiled once per worker, see the load/compile column below); "
                 "the ratios compare execution only (`_start`, native: the process). The interpreter's "
                 "peers run in its group (interleaved with it); jit and tiered run in their own groups.")
        L.append("")

        # overheads per tier
        for tier in cfg["tiers"]:
            L.append(f"## Workloads: analysis overhead, tier `{tier}`")
            L.append("")
            tt = TARGETS["overhead"]["jit" if tier != "int" else "int"]
            cols = [a for a in list(MONITORS) + [REMOVED] if a in cfg["analyses"] or a == REMOVED]
            rows = []
            for w, gs in by_w.items():
                g = gs.get(tier)
                if g is None:
                    continue
                row = [w, _time_cell(g, f"wizardpy-{tier}")]
                for a in cols:
                    def overhead(cr, lim=tt.get(a)):
                        if "overhead" not in cr:
                            return None
                        o = cr["overhead"]
                        bad = lim is not None and o["median"] > lim
                        txt = fmt_ratio(o) if not cr.get("once") else f"{o['median']:.2f}×"
                        return (f"**{txt}**" if bad else txt) + (" (1 run†)" if cr.get("once") else "")
                    row.append(_cell(g, f"wizardpy-{tier}+{a}", overhead))
                rows.append(row)
            head = ["workload", "no analysis"] + [f"{a} (≤{tt[a]}×)" if a in tt else a for a in cols]
            L += _table(head, rows)
            L.append("")
            L.append(f"{inputs_label(result, 'main', tier)[0].upper()}{inputs_label(result, 'main', tier)[1:]}. "
                     "Overhead = wall time with the analysis / without (same tier, paired per round), "
                     "median (min–max); " + TIMING_NOTE[tier])
            if any(cr.get("once") for gs in by_w.values() if gs.get(tier)
                   for cr in gs[tier]["configs"].values()):
                L.append("")
                L.append(f"† measured once, by its warm-up run (untimed warm-ups may run beside "
                         f"another one): one run costs more than {cfg.get('max_repeat_cpu_s', '?')} CPU s "
                         "(see its note in Every configuration), so it is not repeated.")
            ov = result.get("summary", {}).get("overhead", {})
            gm = [f"{a} {ov[f'{tier}/{a}']['geomean']:.2f}×" for a in MONITORS if f"{tier}/{a}" in ov]
            if gm:
                L.append("")
                L.append("Geometric means over workloads: " + ", ".join(gm) + ". Bold: above the target.")
            L.append("")

    # small inputs
    sg = []
    merged: dict[str, dict] = {}
    for k, g in _groups(result, "small"):
        m = merged.get(g["target"])
        if m is None:
            m = merged[g["target"]] = {"target": g["target"], "size": g["size"], "fuel": g.get("fuel"),
                                       "configs": {}, "unavailable": {}}
            sg.append((g["target"], m))
        m["configs"].update(g.get("configs", {}))
        m["unavailable"].update(g.get("unavailable", {}))
        m["fuel"] = m["fuel"] or g.get("fuel")
    if sg:
        L.append("## Small inputs: Python probes, pywasm")
        L.append("")
        rows = []
        for k, g in sg:
            row = [f"{g['target']}({g['size']})", f"{g.get('fuel', 0) / 1e6:.1f} M" if g.get("fuel") else "–"]
            for tier in cfg["tiers"]:
                for an in PROBES:
                    row.append(_cell(g, f"wizardpy-{tier}+{an}", _firing_text))
            cr = g["configs"].get("pywasm")
            if cr and "instr_per_s" in cr:
                row.append(f"{fmt_ips(cr['instr_per_s']['median'])}/s")
            elif cr and "error" in cr:
                row.append("**FAIL**")
            else:
                row.append("*skipped*" if "pywasm" in g.get("unavailable", {}) else "–")
            rows.append(row)
        head = ["workload(size)", "instr"]
        for tier in cfg["tiers"]:
            head += [f"{tier}: per branch probe", f"{tier}: per global firing"]
        head.append("pywasm")
        L += _table(head, rows)
        L.append("")
        L.append("Cost per firing = (time with the empty probe − time without) / firings, paired per "
                 "repetition; firings counted by a native CountProbe in the warm-up run. `× N` = firings "
                 "per run.")
        skips = sorted({why for k, g in sg for n, why in g.get("unavailable", {}).items() if why.startswith("skipped")})
        if skips:
            L.append("")
            L.append("Skipped:")
            for k, g in sg:
                for n, why in g.get("unavailable", {}).items():
                    if why.startswith("skipped"):
                        L.append(f"- {g['target']} {n}: {why}")
        L.append("")

    # large inputs
    lg = _groups(result, "large")
    if lg:
        L.append("## Large inputs: tier-up")
        L.append("")
        rows = []
        for k, g in lg:
            if not g["configs"]:
                rows.append([f"{g['target']}({g['size']})", f"*{NA}*", f"*{NA}*", f"*{NA}*", "–"])
                continue
            row = [f"{g['target']}({g['size']})"]
            jg = result.get("groups", {}).get(f"{g['target']}/main/jit")
            for name in ("wizardpy-int", "wizardpy-jit", "wizardpy-tiered"):
                if name == "wizardpy-jit" and name not in g["configs"] and jg and jg.get("size") == g["size"]:
                    cell = _time_cell(jg, name)
                    row.append(cell + (" (jit group)" if name in jg["configs"] else ""))
                    continue
                row.append(_time_cell(g, name))
            row.append(fmt_ratio(g.get("ratios", {}).get("tiered/int time")))
            rows.append(row)
        L += _table(["workload(size)", "int", "jit", "tiered", "tiered/int"], rows)
        L.append("")
        L.append("Wall times; tiered/int = whole wall times paired per round (tiered's tier-up "
                 "compilations included: they are part of what it claims). The jit column is the jit "
                 "tier's matrix at the same input (its own group: compiled once per worker, not paired "
                 "with int).")
        why = {g["unavailable"].get("all") for k, g in lg if "all" in g.get("unavailable", {})}
        if why:
            L.append("")
            L.append("Not run: " + "; ".join(sorted(w for w in why if w)))
        L.append("")

    # graphviz load
    load = result.get("load") or {}
    if load.get("engines"):
        L.append(f"## graphviz.wasm load time ({load.get('bytes', 0):,} bytes)")
        L.append("")
        rows = []
        for n, r in load["engines"].items():
            if "time_s" in r:
                s = r["time_s"]
                rows.append([n, f"{fmt_s(s['median'])} ({fmt_s(s['min'])}–{fmt_s(s['max'])})"])
            else:
                rows.append([n, f"**FAIL**: {r.get('error')}"])
        L += _table(["engine", "time"], rows)
        L.append("")

    # compile
    comp = result.get("compile") or {}
    if comp.get("functions"):
        L.append("## Compile time vs function size")
        L.append("")
        allf = [f for fs in comp["functions"].values() for f in fs]
        tot_b = sum(f["body_bytes"] for f in allf)
        tot_t = sum(f["validate_s"] for f in allf)
        big = max(allf, key=lambda f: f["body_bytes"])
        L.append(f"wizardpy's interpreter \"compiles\" by validating (side table, stack heights): "
                 f"{len(allf)} functions, {tot_b / 1e3:.0f} kB of code in {fmt_s(tot_t)} "
                 f"({tot_t / max(tot_b, 1) * 1e9:.0f} ns/byte); the largest function ({big['body_bytes']:,} bytes) "
                 f"in {fmt_s(big['validate_s'])}. JIT per-function compile times: "
                 + ("see the chart." if _jit_points(result) else f"*{NA}* (the JIT tier reports none)."))
        L.append("")

    # every configuration
    L.append("## Every configuration")
    L.append("")
    rows = []
    for k, g in result.get("groups", {}).items():
        for name, cr in g.get("configs", {}).items():
            if "error" in cr:
                rows.append([k, name, f"**FAIL: {short(cr['error'], 160)}**", "", "", "", "", ""])
                continue
            t = cr.get("time")
            load_t = cr.get("load")
            rows.append([k, name,
                         f"{fmt_s(t['median'])} ({fmt_s(t['min'])}–{fmt_s(t['max'])})" if t else "–",
                         fmt_s(cr["run"]["median"]) if cr.get("run") else "–",
                         f"{cr.get('instr', 0):,}" if cr.get("instr") else "–",
                         fmt_ips(cr["instr_per_s"]["median"]) if cr.get("instr_per_s") else "–",
                         (fmt_s(load_t["median"]) if load_t else "–") + _compile_note(cr),
                         f"{cr.get('rss_kb', 0) / 1024:.0f} MB" if cr.get("rss_kb") else "–"])
            if cr.get("note"):
                rows[-1][2] += f" ({cr['note']})"
    L += _table(["group", "configuration", "wall time median (min–max)", "execution", "instr (fuel)",
                 "instr/s", "load/compile", "peak RSS"], rows)
    L.append("")
    L.append("load/compile: wizardpy `Module()` (decode + validate); JIT compile: tier tiered's "
             "tier-up compilations per run (subtracted for the overhead ratios), tier jit's whole-module "
             "compilation once per worker (not in the wall time), and its recompilations after probe "
             "changes per run (in the wall time); wasmtime `Module()` (Cranelift), wasm3 `load` (it "
             "compiles lazily, during the warm-up call); peak RSS of the configuration's own process "
             "(Python and its imports included, ~40–60 MB).")
    warns = result.get("warnings", [])
    if warns:
        L.append("")
        L.append("## Warnings")
        L.append("")
        L += [f"- {w}" for w in warns]
    return "\n".join(L)


# ---------------------------------------------------------------------------------------------
# console

def console(result: dict) -> str:
    L = []
    for t in result.get("timeouts", []):
        L.append(f"[TIMEOUT] {t}")
    for t in result.get("summary", {}).get("targets", []):
        mark = {"met": "ok ", "NOT met": "NO ", "not available": "n/a"}[t["status"]]
        L.append(f"[{mark}] {t['target']}: {t['measured']} (goal {t['figure']})")
    return "\n".join(L)


# ---------------------------------------------------------------------------------------------
# charts

def _jit_points(result: dict) -> list[tuple[float, float]]:
    """(LLVM IR instructions, compile seconds) per module compiled by the JIT, one per
    (workload, tier) configuration without analysis."""
    pts = []
    for g in result.get("groups", {}).values():
        for cr in g.get("configs", {}).values():
            if cr.get("analysis", "none") != "none":
                continue
            for st in cr.get("jit_stats") or []:
                if isinstance(st, dict) and st.get("ir_instrs") and st.get("seconds"):
                    pts.append((float(st["ir_instrs"]), float(st["seconds"])))
    return pts


def charts(result: dict, out_dir: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    cfg = result["config"]
    colors = {"int": "#1f77b4", "jit": "#d62728", "tiered": "#2ca02c"}

    # 1. overhead per monitor per tier
    fig, ax = plt.subplots(figsize=(10, 4.8))
    cols = list(MONITORS) + [REMOVED]
    width = 0.8 / max(len(TIERS), 1)
    per: dict[tuple[str, str], list[float]] = {}
    for k, g in _groups(result, "main"):
        for cr in g["configs"].values():
            if "overhead" in cr:
                per.setdefault((cr["tier"], cr["analysis"]), []).append(cr["overhead"]["median"])
    av = result.get("availability", {}).get("tiers", {})
    for i, tier in enumerate(TIERS):
        xs, ys, lo, hi = [], [], [], []
        for j, a in enumerate(cols):
            v = per.get((tier, a))
            if v:
                gm = geomean(v)
                xs.append(j + (i - 1) * width)
                ys.append(gm)
                lo.append(max(gm - min(v), 0.0))
                hi.append(max(max(v) - gm, 0.0))
        label = tier if tier in cfg["tiers"] and av.get(tier, {}).get("available") else f"{tier}: {NA}"
        if xs:
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, color=colors[tier], label=label, alpha=0.85)
        else:
            ax.bar([], [], width, color=colors[tier], label=label, alpha=0.3)
        tt = TARGETS["overhead"]["jit" if tier != "int" else "int"]
        if tier != "tiered":
            for j, a in enumerate(cols):
                if a in tt:
                    x = j + (i - 1) * width
                    ax.plot([x - width / 2, x + width / 2], [tt[a]] * 2, color="k", lw=2)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols)
    ax.set_ylabel("time with analysis / without (geomean over workloads)")
    ax.set_yscale("log")
    ax.set_title("Monitor overhead per tier (bars: geomean, whiskers: min–max over workloads; "
                 "black: target)", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    p = out_dir / "overhead.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)

    # 2. throughput per engine per workload
    rows: list[tuple[str, dict[str, float]]] = []
    for k, g in _groups(result, "kernels"):
        if "@" in k:
            continue
        d = {n: cr["instr_per_s"]["median"] for n, cr in g["configs"].items() if "instr_per_s" in cr}
        pk = result["groups"].get(f"{k}@pywasm", {}).get("configs", {}).get("pywasm", {})
        if "instr_per_s" in pk:
            d["pywasm"] = pk["instr_per_s"]["median"]
        rows.append((f"kernel {g['target']}", d))
    by_w: dict[str, dict[str, float]] = {}
    for k, g in _groups(result, "main"):
        d = by_w.setdefault(g["target"], {})
        for n, cr in g["configs"].items():
            if "instr_per_s" in cr and cr.get("analysis", "none") == "none":
                d[n] = cr["instr_per_s"]["median"]
    for k, g in _groups(result, "small"):
        cr = g["configs"].get("pywasm", {})
        if "instr_per_s" in cr:
            by_w.setdefault(g["target"], {})["pywasm"] = cr["instr_per_s"]["median"]
    rows += sorted(by_w.items())
    engines = [e for e in ENGINE_ORDER if any(e in d for _, d in rows)]
    ecol = {"native": "#7f7f7f", "wasmtime": "#9467bd", "wizardpy-jit": "#d62728",
            "wizardpy-tiered": "#2ca02c", "wizardpy-int": "#1f77b4", "wasm3": "#ff7f0e", "pywasm": "#8c564b"}
    fig, ax = plt.subplots(figsize=(10, max(3.0, 0.42 * len(rows) + 1.2)))
    h = 0.8 / max(len(engines), 1)
    for i, e in enumerate(engines):
        ys = [r - 0.4 + h * (i + 0.5) for r in range(len(rows)) if e in rows[r][1]]
        xs = [rows[r][1][e] for r in range(len(rows)) if e in rows[r][1]]
        ax.barh(ys, xs, h, color=ecol.get(e), label=e + (" (small size)" if e == "pywasm" else ""))
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("Wasm instructions per second (wasmtime fuel / execution time)")
    missing = [t for t in TIERS if not av.get(t, {}).get("available")]
    ax.set_title("Throughput per engine" + (f" — {', '.join(missing)}: {NA}" if missing else ""), fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    p = out_dir / "throughput.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)

    # 3. compile time vs function size
    fig, (a1, a3, a2) = plt.subplots(1, 3, figsize=(14, 4.4))
    comp = (result.get("compile") or {}).get("functions") or {}
    pts = [(f["body_bytes"], f["validate_s"]) for fs in comp.values() for f in fs if f["body_bytes"] > 0]
    if pts:
        a1.scatter([x for x, _ in pts], [y * 1e3 for _, y in pts], s=6, alpha=0.5,
                   label="validate + side table (the interpreter's compile)")
        a1.set_xscale("log")
        a1.set_yscale("log")
        a1.legend(fontsize=7, loc="upper left")
    a1.set_xlabel("function body size (bytes)")
    a1.set_ylabel("time (ms)")
    a1.set_title("wizardpy int: per function", fontsize=10)
    jp = _jit_points(result)
    if jp:
        a3.scatter([x for x, _ in jp], [y * 1e3 for _, y in jp], s=12, alpha=0.7, color="#d62728",
                   label="wizardpy jit: whole module (IR + opt + codegen)")
        xs = sorted(x for x, _ in jp)
        for per_k, ls, lab in ((3.0, ":", "~3 ms / 1k IR instr (llvmlite O0)"),
                               (30.0, "--", "~30 ms / 1k IR instr (llvmlite O2)")):
            a3.plot(xs, [x / 1000 * per_k for x in xs], ls, color="grey", lw=1, label=lab)
        a3.set_xscale("log")
        a3.set_yscale("log")
        a3.legend(fontsize=7, loc="upper left")
    else:
        a3.text(0.05, 0.5, f"JIT compile time: {NA}", transform=a3.transAxes, fontsize=9, color="#d62728")
    a3.set_xlabel("LLVM IR instructions of the module")
    a3.set_ylabel("compile time (ms)")
    a3.set_title("wizardpy jit: per compiled module", fontsize=10)
    mods: dict[str, list[tuple[float, float]]] = {}
    sizes = {}
    for k, g in _groups(result, "main"):
        w = g["target"]
        if w not in sizes:
            try:
                sizes[w] = (Path(__file__).resolve().parent.parent / "workloads" / w / f"{w}.wasm").stat().st_size
            except OSError:
                continue
        for n, cr in g["configs"].items():
            if cr.get("analysis", "none") != "none" or "load" not in cr or n == "native":
                continue
            mods.setdefault(n, []).append((sizes[w], cr["load"]["median"]))
    for n, v in sorted(mods.items()):
        a2.scatter([x / 1e3 for x, _ in v], [y * 1e3 for _, y in v], s=14, label=f"{n}: Module()",
                   color=ecol.get(n))
    a2.set_xlabel("module size (kB)")
    a2.set_ylabel("Module() time (ms)")
    a2.set_yscale("log")
    a2.set_title("per module: load / compile (workloads)", fontsize=10)
    if mods:
        a2.legend(fontsize=7)
    fig.suptitle("Compile time vs size", fontsize=11)
    fig.tight_layout()
    p = out_dir / "compile_time.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)
    return paths


# ---------------------------------------------------------------------------------------------
# README section

def readme_section(result: dict, results_rel: str = "bench/results", report_rel: str = "bench/RESULTS.md") -> str:
    """The README's benchmark section: the headline chart and the targets table."""
    m = result["machine"]
    cfg = result["config"]
    L = ["## Benchmarks", ""]
    L.append(f"`make bench` (= `wizardpy bench`) runs the whole matrix — {len(cfg['workloads'])} workloads × "
             f"tiers {', '.join(cfg['tiers'])} × analyses (none, {', '.join(MONITORS)}, an empty Python probe "
             f"at every branch, a global one on a small input), the kernels, and the peers wasmtime, wasm3, "
             f"pywasm and native `gcc -O2` — with every output checked against wasmtime's; "
             f"`wizardpy bench --quick` is a ~2-minute smoke run. Full tables: [{report_rel}]({report_rel}).")
    L.append("")
    L.append(f"Latest {cfg['mode']} run: {result['date'][:10]}, {m.get('cpu')} ({m.get('cpus')} CPUs, load average "
             f"{m.get('loadavg_at_start')} at the start: a shared, busy machine), wizardpy {m.get('git_commit')}, "
             f"{cfg['reps']} repetitions per configuration.")
    L.append("")
    L.append(f"![monitor overhead per tier]({results_rel}/overhead.png)")
    L.append("")
    L += targets_table(result)
    fails = result.get("failures", [])
    if fails:
        L.append("")
        L.append(f"**{len(fails)} failure(s) in that run** — listed at the top of {report_rel}.")
    return "\n".join(L) + "\n"

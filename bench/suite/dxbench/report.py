"""Markdown reports and their charts, from the results of `suite.run_fixture`.

Per fixture: `<date>-<fixture>.md` (headline ratios, install table, sizes, runtime), the charts
`<date>-<fixture>-install.svg` and `<date>-<fixture>-runtime.svg`, and the raw
`<date>-<fixture>.json`. Across fixtures of one date: `<date>-scaling.md` and one
`<date>-scaling-<scenario>.svg` per scenario, cost against package count.

Real-registry (network) rows, when the run measured them (`run.py --real-registry`), sit in
the same tables under titles that start with "real registry (network)", get a chart of their
own (`<date>-<fixture>-network.svg`), and their scaling sections say so.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import svg
from .scenarios import ALL_SCENARIOS, BY_KEY

DX, DXM = "dx (mount)", "dx --materialize"
PEERS = ("bun", "pnpm", "npm")


def _s(v: float | None) -> str:
    return "–" if v is None else f"{v:.4f}" if v < 1 else f"{v:.3f}" if v < 100 else f"{v:.1f}"


def _mb(v: int | None) -> str:
    return "–" if v is None else f"{v / 1e6:.1f}"


def _rss(kb: int | None) -> str:
    return "–" if kb is None else f"{kb / 1024:.0f}"


def ratio(a: float | None, b: float | None) -> str:
    """dx ÷ peer, with the speed-up spelled out."""
    if not a or not b:
        return "–"
    r = a / b
    if abs(r - 1) < 0.005:
        return "1.00"
    factor = 1 / r if r < 1 else r
    times = f"{factor:.2f}×" if factor < 10 else f"{factor:.1f}×" if factor < 100 else f"{factor:.0f}×"
    return f"{r:.3f} ({times} faster)" if r < 1 else f"{r:.2f} ({times} slower)"


def medians(section: dict) -> dict[str, float | None]:
    """tool → median of one scenario or workload."""
    return {label: cell.get("median") for label, cell in section.items()}


def headline(results: dict) -> list[str]:
    """The ratio table: dx (mount) and dx --materialize against each peer, per scenario."""
    peers = [p for p in PEERS if any(p in sec for sec in results["install"].values())]
    if not peers:
        return []
    out = ["| scenario | " + " | ".join(f"dx ÷ {p}" for p in peers) + " | "
           + " | ".join(f"dx --materialize ÷ {p}" for p in peers) + " |",
           "|---|" + "---|" * (2 * len(peers))]
    for key, sec in results["install"].items():
        m = medians(sec)
        out.append(f"| {BY_KEY[key].title} | " + " | ".join(ratio(m.get(DX), m.get(p)) for p in peers) + " | "
                   + " | ".join(ratio(m.get(DXM), m.get(p)) for p in peers) + " |")
    for wkey, entry in results.get("runtime", {}).items():
        for kind in ("warm", "cold"):
            m = medians(entry.get(kind, {}))
            if m.get(DX):
                out.append(f"| runtime: {wkey} ({'first run' if kind == 'cold' else 'warm'}) | "
                           + " | ".join(ratio(m.get(DX), m.get(p)) for p in peers) + " | "
                           + " | ".join(ratio(m.get(DXM), m.get(p)) for p in peers) + " |")
    return out


def install_table(results: dict) -> list[str]:
    """Every install cell with all its figures."""
    out = ["| scenario | tool | median s | min | max | runs | first run s | CPU s (user+sys) | peak RSS MB | "
           "written MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for key, sec in results["install"].items():
        for label, c in sec.items():
            if c.get("error"):
                out.append(f"| {BY_KEY[key].title} | {label} | failed: {c['error']} |||||||| ")
                continue
            out.append(f"| {BY_KEY[key].title} | {label} | {_s(c['median'])} | {_s(c['min'])} | {_s(c['max'])} | "
                       f"{c['runs']} | {_s(c['first'])} | {_s(c['cpu'])} | "
                       f"{_rss(c['rss_kb'])} | {_mb(c['write_bytes'])} |")
    return out


def runtime_tables(results: dict) -> list[str]:
    """One table per workload: warm and first-run medians, ratio to each tree."""
    out = []
    for wkey, entry in results.get("runtime", {}).items():
        out += [f"### {entry['title']}", ""]
        if any(entry["outputs"].values()):
            out += ["Last output line per tree (require-all prints loaded/total; an error leaves the tree out): "
                    + ", ".join(f"{k}: `{v}`" for k, v in entry["outputs"].items()), ""]
        out += ["| tree | warm median s | min | max | CPU s | peak RSS MB | first run median s | min | max | "
                "dx ÷ tree (warm) | dx ÷ tree (first) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        warm, cold = entry.get("warm", {}), entry.get("cold", {})
        for label in entry["outputs"]:
            w, c = warm.get(label, {}), cold.get(label, {})
            out.append(f"| {label} | {_s(w.get('median'))} | {_s(w.get('min'))} | {_s(w.get('max'))} | "
                       f"{_s(w.get('cpu'))} | {_rss(w.get('rss_kb'))} | {_s(c.get('median'))} | "
                       f"{_s(c.get('min'))} | {_s(c.get('max'))} | "
                       f"{ratio((warm.get(DX) or {}).get('median'), w.get('median'))} | "
                       f"{ratio((cold.get(DX) or {}).get('median'), c.get('median'))} |")
        out.append("")
    return out


def charts(results: dict, out_dir: Path, stem: str) -> list[str]:
    """Writes the fixture's SVGs; returns markdown image links."""
    links = []
    tools = list(results["tools"])
    for network, suffix, title in ((False, "install", "install scenarios"),
                                   (True, "network", "real registry (network) rows")):
        install = {k: sec for k, sec in results["install"].items() if BY_KEY[k].network == network}
        if not install:
            continue
        installed = [t for t in tools if any(t in sec for sec in install.values())]
        groups = [BY_KEY[k].short for k in install]
        values = {(BY_KEY[k].short, t): (sec.get(t) or {}).get("median") for k, sec in install.items() for t in tools}
        name = f"{stem}-{suffix}.svg"
        (out_dir / name).write_text(svg.bar_chart(f"{results['fixture']}: {title}", groups, installed, values))
        links.append(f"![{title}, median wall time]({name})")
    if results.get("runtime"):
        groups, values = [], {}
        for wkey, entry in results["runtime"].items():
            for kind in ("warm", "cold"):
                if entry.get(kind):
                    g = f"{wkey}, {'first run' if kind == 'cold' else 'warm'}"
                    groups.append(g)
                    for t in tools:
                        values[(g, t)] = (entry[kind].get(t) or {}).get("median")
        name = f"{stem}-runtime.svg"
        (out_dir / name).write_text(svg.bar_chart(f"{results['fixture']}: code running on each tree", groups, tools,
                                                  values))
        links.append(f"![runtime workloads, median wall time]({name})")
    return links


def network_note(results: dict) -> list[str]:
    """What the real-registry (network) rows are, when the run has them."""
    net = results.get("network")
    if not net:
        return []
    counts = ", ".join(f"{k} {t['packages']}" for k, t in net["tools"].items() if t.get("packages"))
    lines = ["", "Real-registry (network) rows (`--real-registry`): the same tools against the registry npm is "
             "configured with (`npm config get registry`; its address is not written into reports), over this "
             "machine's network, given to every tool in its environment. For them each tool has a second project, "
             "cache/store and base lockfile, written by a first install from that registry (packages: "
             f"{counts or '–'}). {net['runs']} timed runs per cell after the warm-up run; the network varies "
             "from run to run, so these medians are noisier than the mirror's. Rows measured here: "
             + "; ".join(f"“{BY_KEY[k].title.split(': ', 1)[-1]}”" for k in net["scenarios"])
             + (f"; they took {net['seconds']:.0f} s in all, base installs included." if net.get("seconds") else ".")]
    for label, t in net["tools"].items():
        if t.get("error"):
            lines.append(f"- {label} (real registry): {t['error']}")
    return lines


def write_fixture_report(results: dict, out_dir: Path, command: str) -> Path:
    """Writes the markdown, the charts and the JSON of one fixture; returns the markdown path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{results['date']}-{results['fixture']}"
    if (out_dir / f"{stem}.md").exists() and not (out_dir / f"{stem}.json").exists():
        stem += "-suite"  # a report of that name predates the suite: never overwrite it
    results["report"] = f"{stem}.md"
    results["command"] = command
    (out_dir / f"{stem}.json").write_text(json.dumps(results, indent=1))
    m, mach = results["mirror"], results["machine"]
    lines = [f"# {results['fixture']}: dx against Bun, pnpm and npm ({results['date']})", "",
             f"{results['description']}. Run {results['started']} → {results['finished']}, "
             f"{mach['cpus']} CPUs, {mach['mem_gib']} GiB, Linux {mach['kernel']}, work dir on {mach['fs']}; load average "
             f"(1, 5, 15 min) {mach.get('load_start')} at the start, {mach.get('load_end')} at the end (other jobs "
             "shared the machine when these exceed about 2).", "",
             f"Reproduce: `{command}` (dx at commit {results.get('commit', '?')}).", "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".", "",
             f"Mirror: {m['server']} on 127.0.0.1, {m.get('packuments', '?')} packuments, {m.get('tarballs', '?')} "
             f"tarballs ({_mb(m.get('tarball_bytes'))} MB); added latency: {results['latency']}. Each tool has its "
             "own cache/store directory; lifecycle scripts are off for all (`--ignore-scripts`).", "",
             f"Timing: {results['timer']}; {results['runs']} timed runs per cell after one instrumented warm-up "
             f"run, {results['slow_runs']} when that first run took over {results['slow_seconds']:.0f} s (column "
             "runs). Each run's state is prepared (unmeasured) and then flushed with `sync`, so no install's "
             "writeback lands in a later timed run. CPU = user + sys of the command and its children (hyperfine's means); peak RSS = "
             "`/usr/bin/time -f %M` of the warm-up run (largest single process; dx's mount daemon is "
             "detached and not included); written = growth of `write_bytes` in /proc/self/io of the "
             "harness across the warm-up run (reaped children included).", ""]
    for label, t in results["tools"].items():
        for note in t.get("notes", []):
            lines.append(f"- {label}: {note}.")
        if t.get("error"):
            lines.append(f"- {label}: {t['error']}")
    for w in m.get("warnings", []):
        lines.append(f"- mirror warning: {w}")
    lines += network_note(results)
    lines += ["", "Packages per tool (its lockfile): " + ", ".join(
        f"{k} {t['packages']}" for k, t in results["tools"].items() if t.get("packages")) + ".", ""]
    lines += ["## Headline: dx ÷ peer (median wall time; below 1 = dx faster)", ""] + headline(results) + [""]
    lines += charts(results, out_dir, stem) + [""]
    lines += ["## Install scenarios", "", "| scenario | state before each run |", "|---|---|"]
    lines += [f"| {BY_KEY[k].title} | {BY_KEY[k].state} |" for k in results["install"]] + [""]
    lines += install_table(results) + [""]
    lines += ["## Disk", "", "After the no-op state (everything installed). node_modules = bytes on disk "
              "(allocated); dx's mount writes nothing there (its apparent size is what the mount shows); "
              "store = the tool's cache/store directories; together = both, hardlinks counted once.", "",
              "| tool | node_modules MB | apparent MB | store MB | together MB |", "|---|---|---|---|---|"]
    for label, s in results["sizes"].items():
        lines.append(f"| {label} | {_mb(s['node_modules'])} | {_mb(s['apparent'])} | {_mb(s['store'])} | "
                     f"{_mb(s['total'])} |")
    lines.append("")
    if results.get("runtime"):
        lines += ["## Runtime", "", "First run: page cache, dentries and inodes dropped before each run. "
                  f"{results['runtime_runs']} runs per cell (warm: after 2 warm-up runs).", ""]
        lines += runtime_tables(results)
    elif results.get("runtime_skipped"):
        lines += [f"Runtime skipped: {results['runtime_skipped']}.", ""]
    path = out_dir / f"{stem}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_scaling(out_dir: Path, date: str) -> Path | None:
    """Cost against package count across the fixtures of `date` that have results."""
    runs = []
    for p in sorted(out_dir.glob(f"{date}-*.json")):
        r = json.loads(p.read_text())
        if isinstance(r, dict) and r.get("install") and r.get("fixture") not in ("smoke",):
            n = (r["tools"].get(DX) or r["tools"].get(DXM) or {}).get("packages")
            if n:
                runs.append((n, r))
    if len(runs) < 2:
        return None
    runs.sort(key=lambda x: x[0])
    tools = []
    for _, r in runs:
        tools += [t for t in r["tools"] if t not in tools and any(t in sec for sec in r["install"].values())]
    xs = [(r["fixture"], float(n)) for n, r in runs]
    lines = [f"# How install cost grows with package count ({date})", "",
             "Package count: dx's lockfile of each fixture. Median wall seconds, from the fixture reports "
             "(" + ", ".join(f"[{r['fixture']}]({r.get('report', date + '-' + r['fixture'] + '.md')})" for _, r in runs)
             + ").", ""]
    for s in ALL_SCENARIOS:
        have = [(n, r) for n, r in runs if s.key in r["install"]]
        if not have:
            continue
        values = {(float(n), t): (r["install"].get(s.key, {}).get(t) or {}).get("median") for n, r in runs for t in tools}
        lines += [f"## {s.title}", ""]
        if s.network:
            lines += ["Against the configured registry over the network (`--real-registry`), not the mirror; "
                      "package counts on the axis are the mirror's. Fixtures without this row: –.", ""]
        if len(have) > 1:
            name = f"{date}-scaling-{s.key}.svg"
            (out_dir / name).write_text(svg.line_chart(f"{s.title}: cost vs package count", xs, tools, values,
                                                       "median wall time"))
            lines += [f"![{s.title}]({name})", ""]
        lines += ["| tool | " + " | ".join(f"{r['fixture']} ({n})" for n, r in runs) + " |",
                  "|---|" + "---|" * len(runs)]
        for t in tools:
            lines.append(f"| {t} | " + " | ".join(_s(values.get((float(n), t))) for n, _ in runs) + " |")
        for dx in (DX, DXM):
            if dx in tools and "bun" in tools and any(values.get((float(n), dx)) for n, _ in runs):
                lines.append(f"| {dx} ÷ bun | " + " | ".join(
                    ratio(values.get((float(n), dx)), values.get((float(n), "bun"))) for n, _ in runs) + " |")
        lines.append("")
    path = out_dir / f"{date}-scaling.md"
    path.write_text("\n".join(lines) + "\n")
    return path

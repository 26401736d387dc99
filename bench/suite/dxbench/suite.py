"""One fixture, end to end: projects, base lockfiles, install scenarios, sizes, runtime.

The result is a JSON-ready dict (`results`) that `report` renders; it is also written next
to the report so a later run can build the scaling chart from several fixtures.

With `Options.real_registry` set, the fixture also gets the real-registry (network) rows: a
second set of tools (`<fixture work>/net/<tool>`) installs from the configured registry, and
the scenarios of `Options.network_scenarios` are measured with them, into the same
`results["install"]` (their keys start with `net-`) so the headline and the tables show them
beside the mirror rows.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import fixtures as fxs
from . import measure, runtime, scenarios
from .tools import Tool, make_tool, tool_env, version_of


@dataclass
class Options:
    """What to run and how often (from run.py's flags)."""

    work: Path
    dx: Path
    tools: list[str]
    scenarios: list[str]
    runs: int
    slow_runs: int
    slow_seconds: float
    runtime_runs: int
    cold_runtime: bool
    use_hyperfine: bool
    runtime: bool
    latency: str
    squashfuse: bool = True
    real_registry: str = ""
    network_scenarios: list[str] = field(default_factory=list)
    network_runs: int = 3


def log(msg: str) -> None:
    """Progress on stderr, with the time of day."""
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def count_packages(tool: Tool) -> int | None:
    """Packages in the tool's base lockfile (each format counted its own way)."""
    path = tool.lock(".base")
    if not path.exists():
        return None
    text = path.read_text(errors="replace")
    if tool.lockfile == "dx.lock":
        return len(re.findall(r"^package ", text, re.M))
    if tool.lockfile == "package-lock.json":
        pk = json.loads(text).get("packages", {})
        return sum(1 for k, v in pk.items() if k and not v.get("link"))
    if tool.lockfile == "bun.lock":
        return len(re.findall(r'^    "[^"]+": \["', text, re.M))
    if tool.lockfile == "pnpm-lock.yaml":
        m = re.search(r"^packages:\n(.*?)(?=^\S|\Z)", text, re.M | re.S)
        return len(re.findall(r"^  \S.*:$", m.group(1), re.M)) if m else 0
    return None


def sh(command: str, tool: Tool, log_path: Path) -> int:
    """Runs a setup command, output to the log; returns its exit status."""
    with open(log_path, "a") as out:
        out.write(f"$ {command}\n")
        out.flush()
        return subprocess.run(["bash", "-c", command], env=tool_env(tool), stdout=out, stderr=out).returncode


def baseline(tool: Tool, log_path: Path) -> str | None:
    """A first clean install, whose lockfile becomes `<lockfile>.base`; an error or None."""
    status = sh(scenarios.prepare("clean", tool), tool, log_path)
    status = status or sh(tool.install_cmd(), tool, log_path)
    if status or not tool.lock().exists():
        return f"first install failed (exit {status}); see {log_path}"
    shutil.copy(tool.lock(), tool.lock(".base"))
    return None


def install_cell(scenario: str, tool: Tool, opts: Options, out_dir: Path, log_path: Path,
                 runs: int | None = None) -> measure.Cell:
    """One (scenario, tool): an instrumented first run (the warm-up), then the timed runs
    (`runs` of them when given, at most `--slow-runs` of them when the warm-up was slow)."""
    cell = measure.Cell(tool.label)
    env = tool_env(tool)
    try:
        setup = scenarios.setup(scenario, tool)
        if setup:
            sh(setup, tool, log_path)
        prepare = scenarios.prepare(scenario, tool) or None
        timed = scenarios.command(scenario, tool) or tool.install
        cell.first, cell.rss_kb, cell.write_bytes = measure.instrumented_run(prepare, tool.sh(timed), env, log_path)
        slow = cell.first > opts.slow_seconds
        if runs is None:
            runs = opts.slow_runs if slow else opts.runs
        elif slow:
            runs = min(runs, opts.slow_runs)
        result = measure.run_repeated(tool.label, timed, cwd=tool.project, prepare=prepare, runs=runs,
                                      warmup=0, env=env,
                                      json_path=out_dir / f"{scenario}-{tool.key}.json", log=log_path,
                                      use_hyperfine=opts.use_hyperfine)
        measure.fill(cell, result)
    except measure.MeasureError as e:
        cell.error = str(e)
    return cell


def sizes(tool: Tool) -> dict:
    """node_modules on disk (0 for dx's mount: nothing is written), its apparent size, the
    store/caches, and both together with hardlinks counted once."""
    nm = tool.project / "node_modules"
    apparent = measure.du_bytes([nm], apparent=True)
    store = measure.du_bytes(tool.caches)
    if tool.unmount:
        return {"node_modules": 0, "apparent": apparent, "store": store, "total": store}
    return {"node_modules": measure.du_bytes([nm]), "apparent": apparent, "store": store,
            "total": measure.du_bytes([nm, *tool.caches])}


def machine(work: Path) -> dict:
    """What the run ran on (`work`: the work directory, whose filesystem the report names)."""
    mem = ""
    try:
        mem = next(x for x in open("/proc/meminfo") if x.startswith("MemTotal")).split()[1]
    except (OSError, StopIteration):
        pass
    fs = subprocess.run(["df", "-T", str(work)], capture_output=True, text=True).stdout.splitlines()[-1].split()[1]
    if fs == "ext4" and not ext4_has_journal(work):
        fs = "ext4 (no journal)"
    return {"cpus": os.cpu_count(), "load_start": [round(x, 2) for x in os.getloadavg()], "kernel": platform.release(), "mem_gib": round(int(mem or 0) / 2**20, 1),
            "fs": fs}


def ext4_has_journal(path: Path) -> bool:
    """Whether the ext4 filesystem holding `path` has a journal (true when it cannot tell).

    Without one, ext4 will not reuse an inode for a minute after it was freed, and finds that
    out by looking at each candidate inode's block: creating files right after a large `rm -rf`
    (what every cold and clean run's preparation does) then costs several times what it costs
    on a journaled ext4, most of it in the kernel, and differently for each tool (bench/README.md,
    "Measuring cold installs").
    """
    source = subprocess.run(["findmnt", "-no", "SOURCE", "--target", str(path)], capture_output=True, text=True).stdout.strip()
    try:
        return Path(f"/sys/fs/ext4/{Path(source).name}/journal_task").read_text().strip() != "<none>"
    except OSError:
        return True


def commit() -> str:
    """The repository's commit, and whether the work tree differs from it (read-only git)."""
    head = subprocess.run(["git", "-C", str(fxs.REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(fxs.REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True)
    if head.returncode:
        return "unknown"
    return head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def run_fixture(fx: fxs.Fixture, opts: Options, progress=None) -> dict:
    """Runs everything for one fixture and returns the results; `progress(results)` is called
    after each scenario and workload (the report is rewritten, marked partial, as it grows)."""

    def checkpoint() -> None:
        if progress:
            results["finished"] = "(partial: still running or interrupted)"
            results["machine"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
            progress(results)

    work = opts.work
    fwork = work / "runs" / fx.key
    out_dir = fwork / "json"
    for tool_dir in opts.tools:
        for p in (fwork / tool_dir / "project", fwork / "net" / tool_dir / "project"):
            if p.exists():  # a stale mount from an interrupted run must go before the directory
                subprocess.run([str(opts.dx), "unmount", "--cwd", str(p)], capture_output=True)
    runtime.unmount_squashfs(fwork / "squashfuse" / "project")
    shutil.rmtree(fwork, ignore_errors=True)
    out_dir.mkdir(parents=True)
    log_path = fwork / "commands.log"
    mdir, root_deps, warnings = fxs.prepare_mirror(fx, work, opts.dx, log)
    server, registry = fxs.serve(fx, mdir, work, opts.dx)
    results: dict = {"fixture": fx.key, "description": fx.description, "date": time.strftime("%Y-%m-%d"),
                     "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(work), "commit": commit(),
                     "mirror": {"server": "dx registry serve" if fx.server == "dx" else "nginx",
                                **json.loads((mdir / "complete.json").read_text()), "warnings": warnings},
                     "latency": opts.latency, "runs": opts.runs, "slow_runs": opts.slow_runs,
                     "slow_seconds": opts.slow_seconds, "runtime_runs": opts.runtime_runs,
                     "timer": "hyperfine" if opts.use_hyperfine else "the built-in timer (smoke mode)",
                     "versions": {}, "tools": {}, "install": {}, "sizes": {}, "runtime": {}}
    results["mirror"].pop("root", None)
    tools: list[Tool] = []
    net_tools: list[Tool] = []
    try:
        files = fxs.project_files(fx, root_deps)
        for key in opts.tools:
            tool = make_tool(key, fwork, registry, opts.dx, fx.npm_legacy_peer_deps)
            fxs.write_project(tool.project, files, fx.added)
            results["versions"][tool.label] = version_of(key, opts.dx)
            error = baseline(tool, log_path)
            results["tools"][tool.label] = {"key": key, "packages": count_packages(tool), "error": error,
                                            "notes": tool.notes, "command": tool.install}
            log(f"{fx.key}: {tool.label} base install: {error or f'{count_packages(tool)} packages'}")
            if not error:
                tools.append(tool)
        for s in opts.scenarios:
            run_scenario(fx, s, tools, opts, out_dir, log_path, results)
            checkpoint()
        if opts.real_registry and opts.network_scenarios:
            run_network(fx, files, fwork, opts, out_dir, log_path, results, net_tools, checkpoint)
        for tool in tools:
            sh(scenarios.base_state(tool), tool, log_path)
            results["sizes"][tool.label] = sizes(tool)
        checkpoint()
        if opts.runtime:
            run_workloads(fx, tools, opts, out_dir, log_path, results, checkpoint)
    finally:
        for tool in tools + net_tools:
            if tool.unmount:
                sh(tool.sh(tool.unmount), tool, log_path)
        server.stop()
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    results["machine"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
    for extra in ("node", "hyperfine", "nginx"):
        results["versions"][extra] = version_of(extra, opts.dx)
    return results


def run_scenario(fx: fxs.Fixture, s: str, tools: list[Tool], opts: Options, out_dir: Path, log_path: Path,
                 results: dict, runs: int | None = None) -> None:
    """One scenario with every tool that has a command for it, into `results["install"]`."""
    results["install"][s] = {}
    for tool in tools:
        if scenarios.command(s, tool) is None:
            continue
        cell = install_cell(s, tool, opts, out_dir, log_path, runs)
        results["install"][s][tool.label] = cell.as_dict()
        log(f"{fx.key}: {s:16} {tool.label:17} "
            + (f"median {cell.median:.4f}s ({cell.runs} runs) first {cell.first:.3f}s" if cell.median is not None
               else f"FAILED: {cell.error}"))


def run_network(fx: fxs.Fixture, files: dict[str, bytes], fwork: Path, opts: Options, out_dir: Path,
                log_path: Path, results: dict, net_tools: list[Tool], checkpoint) -> None:
    """The real-registry rows: every tool again, with its own project and caches under
    `fwork/net`, the registry in its environment (no URL in any command or report), a first
    install from that registry as its base (which warms its caches), then each network
    scenario. Tools that get a base are appended to `net_tools` (the caller unmounts them)."""
    started = time.monotonic()
    net = results["network"] = {"runs": opts.network_runs, "scenarios": list(opts.network_scenarios), "tools": {}}
    for key in opts.tools:
        tool = make_tool(key, fwork / "net", opts.real_registry, opts.dx, fx.npm_legacy_peer_deps,
                         added=fx.added, registry_in_env=True)
        fxs.write_project(tool.project, files, fx.added)
        error = baseline(tool, log_path)
        net["tools"][tool.label] = {"packages": count_packages(tool), "error": error}
        log(f"{fx.key}: {tool.label} base install from the real registry: "
            + (error or f"{count_packages(tool)} packages"))
        if not error:
            net_tools.append(tool)
    for s in opts.network_scenarios:
        run_scenario(fx, s, net_tools, opts, out_dir, log_path, results, runs=opts.network_runs)
        checkpoint()
    net["seconds"] = round(time.monotonic() - started, 1)


def run_workloads(fx: fxs.Fixture, tools: list[Tool], opts: Options, out_dir: Path, log_path: Path,
                  results: dict, checkpoint) -> None:
    """The runtime workloads on every tree, warm and (when allowed) first run."""
    if not shutil.which("node"):
        results["runtime_skipped"] = "node is missing"
        return
    require_all = fxs.REPO / "bench" / "scripts" / "require-all.js"
    cold = opts.cold_runtime and runtime.can_drop_caches()
    trees = list(tools)
    bun = next((t for t in tools if t.key == "bun"), None)
    squash = runtime.squashfs_tree(bun, opts.work / "runs" / fx.key, log_path) if bun and opts.squashfuse else None
    if squash:
        trees.append(squash)
        results["tools"].setdefault(squash.label, {"key": squash.key, "packages": None, "error": None,
                                                   "notes": ["runtime only: bun's node_modules as a zstd squashfs image"],
                                                   "command": ""})
    try:
        for w in runtime.workloads(fx.workloads, require_all):
            run_workload(w, trees, cold, opts, out_dir, log_path, results, fx.key)
            checkpoint()
    finally:
        if squash:
            runtime.unmount_squashfs(squash.project)


def run_workload(w: runtime.Workload, tools: list[Tool], cold: bool, opts: Options, out_dir: Path, log_path: Path,
                 results: dict, fixture: str) -> None:
    """One workload on every tree: a checked run each, then warm and first-run cells."""
    entry = {"title": w.title, "outputs": {}, "warm": {}, "cold": {}}
    results["runtime"][w.key] = entry
    for tool in tools:
        try:
            entry["outputs"][tool.label] = runtime.check(w, tool, log_path)
        except measure.MeasureError as e:
            entry["outputs"][tool.label] = f"error: {e}"
    for kind in (["warm", "cold"] if cold else ["warm"]):
        for tool in tools:
            if entry["outputs"][tool.label].startswith("error"):
                continue
            cell = runtime.measure_workload(w, tool, cold=kind == "cold", runs=opts.runtime_runs, out_dir=out_dir,
                                            log=log_path, use_hyperfine=opts.use_hyperfine)
            entry[kind][tool.label] = cell.as_dict()
            log(f"{fixture}: {w.key} {kind} {tool.label:17} "
                + (f"median {cell.median:.4f}s" if cell.median is not None else f"FAILED: {cell.error}"))

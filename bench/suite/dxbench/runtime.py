"""Code running on each tool's node_modules: the same workload on every tree, first run and warm.

Workloads: `require` (bench/scripts/require-all.js: require every loadable direct dependency),
`tsc` (`tsc --noEmit` of the app fixture) and `vite` (`vite build` of it). "first run" drops
the page cache, dentries and inodes before each run (`sync; echo 3 > /proc/sys/vm/drop_caches`,
which needs root); "warm" runs after warm-up runs. The trees are the ones the install scenarios
left in place (everything installed), dx's still mounted.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import measure
from .tools import Tool, tool_env

DROP_CACHES = "sync; echo 3 > /proc/sys/vm/drop_caches"


@dataclass(frozen=True)
class Workload:
    """One runtime workload: a command run in the project directory."""

    key: str
    title: str
    command: str


def workloads(keys: list[str], require_all: Path) -> list[Workload]:
    """The workloads named by `keys`."""
    known = {
        "require": Workload("require", "require every loadable direct dependency",
                            f"node {shlex.quote(str(require_all))}"),
        "tsc": Workload("tsc", "tsc --noEmit (app)", "node node_modules/typescript/bin/tsc --noEmit -p ."),
        "vite": Workload("vite", "vite build (app)",
                         "node node_modules/vite/bin/vite.js build --logLevel error --emptyOutDir --outDir dist"),
    }
    return [known[k] for k in keys]


def can_drop_caches() -> bool:
    """Whether this process may drop the page cache (root, writable /proc/sys/vm)."""
    try:
        with open("/proc/sys/vm/drop_caches", "w"):
            return True
    except OSError:
        return False


def check(workload: Workload, tool: Tool, log: Path) -> str:
    """Runs the workload once and returns its last output line (require-all prints how many
    dependencies loaded, which must match across trees); raises MeasureError on failure."""
    p = subprocess.run(["bash", "-c", tool.sh(workload.command)], env=tool_env(tool), capture_output=True,
                       text=True)
    with open(log, "a") as out:
        out.write(f"$ {workload.command} [{tool.label}]\n{p.stdout}{p.stderr}\n")
    if p.returncode:
        raise measure.MeasureError(f"{workload.key} failed on {tool.label} (exit {p.returncode}); see {log}")
    lines = p.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def measure_workload(workload: Workload, tool: Tool, *, cold: bool, runs: int, out_dir: Path, log: Path,
                     use_hyperfine: bool) -> measure.Cell:
    """One (workload, tree, first-run-or-warm) cell."""
    cell = measure.Cell(tool.label)
    kind = "cold" if cold else "warm"
    try:
        result = measure.run_repeated(tool.label, workload.command, cwd=tool.project,
                                      prepare=DROP_CACHES if cold else None,
                                      runs=runs, warmup=0 if cold else 2, env=tool_env(tool),
                                      json_path=out_dir / f"{workload.key}-{kind}-{tool.key}.json", log=log,
                                      use_hyperfine=use_hyperfine)
        measure.fill(cell, result)
        if not cold:
            _, cell.rss_kb, cell.write_bytes = measure.instrumented_run(None, tool.sh(workload.command),
                                                                        tool_env(tool), log)
    except measure.MeasureError as e:
        cell.error = str(e)
    return cell


def squashfs_tree(bun: Tool, work: Path, log: Path) -> Tool | None:
    """Bun's native tree as a zstd squashfs image served by `squashfuse_ll -o clone_fd,
    timeout=86400` (a tuned FUSE peer of dx's mount), or None when the tools are missing.
    Unmount with `unmount_squashfs`."""
    if not (shutil.which("squashfuse_ll") and shutil.which("mksquashfs") and (bun.project / "node_modules").is_dir()):
        return None
    root = work / "squashfuse"
    project = root / "project"
    unmount_squashfs(project)
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(bun.project, project, ignore=shutil.ignore_patterns("node_modules"))
    (project / "node_modules").mkdir()
    image = root / "node_modules.sqfs"
    with open(log, "a") as out:
        steps = [["mksquashfs", str(bun.project / "node_modules"), str(image), "-comp", "zstd", "-quiet", "-noappend"],
                 ["squashfuse_ll", "-o", "clone_fd,timeout=86400", str(image), str(project / "node_modules")]]
        for argv in steps:
            if subprocess.run(argv, stdout=out, stderr=out).returncode:
                return None
    return Tool("squashfuse", "squashfuse_ll (bun's tree)", project, "", [], {}, "")


def unmount_squashfs(project: Path) -> None:
    """Unmounts the squashfuse tree if it is mounted."""
    nm = project / "node_modules"
    if nm.exists():
        subprocess.run(["fusermount3", "-u", str(nm)], capture_output=True)

"""Measuring one command: wall and CPU time over repeated runs, and one instrumented run.

Repeated runs go through hyperfine (median, min, max wall; user + sys CPU from its JSON).
Without hyperfine (the smoke mode on a machine that lacks it) `run_repeated` times the runs
itself and writes the same JSON shape, so everything downstream is exercised either way.

The instrumented run is separate from the timed ones: `/usr/bin/time -f %M` gives the peak
RSS of the largest process of the run, and the bytes written to disk are the growth of this
Python process's own `/proc/self/io` `write_bytes` across the run: Linux adds a reaped child's
I/O counters to its parent's, so the counter includes everything the command and its children
wrote (page-cache writes are counted when dirtied, before they reach the disk). A daemon that
detaches (dx's mount daemon) is not reaped by us, so its own writes are not counted; it
writes nothing unless code writes into node_modules.
"""

from __future__ import annotations

import json
import resource
import shlex
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


class MeasureError(Exception):
    """A measured command failed; the message says which and where its output is."""


@dataclass
class Cell:
    """What was measured for one (scenario or workload, tool)."""

    label: str
    runs: int = 0
    median: float | None = None
    min: float | None = None
    max: float | None = None
    cpu: float | None = None
    rss_kb: int | None = None
    write_bytes: int | None = None
    first: float | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """A JSON-ready copy."""
        return dict(self.__dict__)


def have_hyperfine() -> bool:
    """Whether hyperfine is on PATH."""
    return shutil.which("hyperfine") is not None


def _io_write_bytes() -> int:
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return 0


def instrumented_run(prepare: str | None, command: str, env: dict, log: Path) -> tuple[float, int | None, int]:
    """Runs `prepare` (unmeasured), then `command` once; returns wall s, peak RSS KiB, bytes
    written. Raises MeasureError when either fails."""
    with open(log, "a") as out:
        if prepare:
            p = subprocess.run(["bash", "-c", prepare], env=env, stdout=out, stderr=out)
            if p.returncode:
                raise MeasureError(f"prepare failed ({p.returncode}): {prepare}; see {log}")
        rss_file = log.with_suffix(".rss")
        timer = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file)] if Path("/usr/bin/time").exists() else []
        out.write(f"$ {command}\n")
        out.flush()
        before = _io_write_bytes()
        start = time.monotonic()
        p = subprocess.run([*timer, "bash", "-c", command], env=env, stdout=out, stderr=out)
        wall = time.monotonic() - start
        written = _io_write_bytes() - before
    if p.returncode:
        raise MeasureError(f"exit {p.returncode}: {command}; see {log}")
    rss = None
    if timer:
        lines = [x for x in rss_file.read_text().split() if x.isdigit()]
        rss = int(lines[-1]) if lines else None
    else:  # the largest child so far: right when this run holds the largest process
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, rss, written


def run_repeated(label: str, command: str, *, cwd: Path, prepare: str | None, runs: int, warmup: int, env: dict,
                 json_path: Path, log: Path, use_hyperfine: bool) -> dict:
    """`runs` timed runs of `command` in `cwd` (each after `prepare`, a shell script); returns
    hyperfine's result dict. `command` is one command line in shell-words quoting: hyperfine
    runs it without a shell (`-N`), so even a millisecond no-op is timed without shell noise."""
    if use_hyperfine:
        argv = ["hyperfine", "--style", "basic", "-N", "--runs", str(runs), "--warmup", str(warmup),
                "--export-json", str(json_path), "-n", label]
        if prepare:
            argv += ["--prepare", f"bash -c {shlex.quote(prepare)}"]
        argv.append(command)
        with open(log, "a") as out:
            p = subprocess.run(argv, env=env, cwd=cwd, stdout=out, stderr=out)
        if p.returncode:
            raise MeasureError(f"hyperfine failed for {label}; see {log}")
        return json.loads(json_path.read_text())["results"][0]
    times, users, systems = [], [], []
    with open(log, "a") as out:
        for i in range(warmup + runs):
            if prepare and subprocess.run(["bash", "-c", prepare], env=env, stdout=out, stderr=out).returncode:
                raise MeasureError(f"prepare failed for {label}; see {log}")
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.monotonic()
            p = subprocess.run(shlex.split(command), env=env, cwd=cwd, stdout=out, stderr=out)
            wall = time.monotonic() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if p.returncode:
                raise MeasureError(f"exit {p.returncode} for {label}; see {log}")
            if i >= warmup:
                times.append(wall)
                users.append(after.ru_utime - before.ru_utime)
                systems.append(after.ru_stime - before.ru_stime)
    result = {"command": label, "mean": statistics.fmean(times), "median": statistics.median(times),
              "min": min(times), "max": max(times), "user": statistics.fmean(users),
              "system": statistics.fmean(systems), "times": times,
              "stddev": statistics.stdev(times) if len(times) > 1 else 0.0}
    json_path.write_text(json.dumps({"results": [result]}, indent=1))
    return result


def fill(cell: Cell, result: dict) -> None:
    """Copies hyperfine's figures into `cell`."""
    cell.runs = len(result.get("times", []))
    cell.median, cell.min, cell.max = result["median"], result["min"], result["max"]
    cell.cpu = result["user"] + result["system"]


def du_bytes(paths: list[Path], apparent: bool = False) -> int:
    """Bytes on disk of `paths` together (hardlinked files counted once), 0 for missing ones."""
    existing = [str(p) for p in paths if p.exists()]
    if not existing:
        return 0
    argv = ["du", "-s", "-c", "-b" if apparent else "-B1", *existing]
    out = subprocess.run(argv, capture_output=True, text=True)
    for line in out.stdout.splitlines()[::-1]:
        if line.endswith("total"):
            return int(line.split()[0])
    return 0

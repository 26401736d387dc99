#!/usr/bin/env python3
"""dx's benchmark suite: one command, a report with charts per fixture (see bench/README.md).

    python3 bench/suite/run.py                      # react-small, alotta, synthetic, app
    python3 bench/suite/run.py --fixtures alotta --tools dx,dxm,bun
    python3 bench/suite/run.py --smoke              # 3 packages, dx only, 1 run, no network
    python3 bench/suite/run.py --real-registry      # + rows against the configured registry (network)

Python 3.11 standard library only. Needs hyperfine, nginx, node and the peers (bun, pnpm, npm)
for the real suite; the first run of a fixture needs the network once, to record its mirror.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dxbench import fixtures as fxs  # noqa: E402
from dxbench import latency, measure, mirror, report, runtime, suite  # noqa: E402
from dxbench.scenarios import SCENARIOS  # noqa: E402
from dxbench.tools import ALL_TOOLS, available  # noqa: E402

DEFAULT_FIXTURES = "react-small,alotta,synthetic,app"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line (see --help)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="one tiny fixture end to end, dx only, 1 run, no network")
    p.add_argument("--fixtures", default=DEFAULT_FIXTURES, help=f"comma-separated (default {DEFAULT_FIXTURES})")
    p.add_argument("--tools", default=",".join(ALL_TOOLS), help="dx (mount), dxm (dx --materialize), bun, pnpm, npm")
    p.add_argument("--scenarios", default=",".join(s.key for s in SCENARIOS),
                   help="the mirror scenarios (the network rows come with --real-registry; '' for none)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per cell, after a warm-up run (default 5)")
    p.add_argument("--slow-runs", type=int, default=3, help="runs when the warm-up took over --slow-seconds")
    p.add_argument("--slow-seconds", type=float, default=20.0)
    p.add_argument("--runtime-runs", type=int, default=5)
    p.add_argument("--mirror-only", action="store_true",
                   help="record (or generate) the fixtures' mirrors and stop: the only step that needs the network")
    p.add_argument("--no-runtime", action="store_true", help="skip the runtime workloads")
    p.add_argument("--no-cold-runtime", action="store_true", help="skip first-run (page cache dropped) workloads")
    p.add_argument("--no-squashfuse", action="store_true",
                   help="leave out the squashfuse_ll tree (bun's node_modules as a squashfs image) from runtime")
    p.add_argument("--synthetic-count", type=int, default=3800,
                   help="package names of the synthetic fixture (3800 give about 5,100 packages)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="round-trip delay added on the mirror's port (tc netem)")
    p.add_argument("--port-offset", type=int, default=0,
                   help="added to every mirror's port (4881-4884), to run beside another suite; give it its own --work")
    p.add_argument("--work", type=Path, default=Path("/tmp/dx-bench-suite"), help="work dir (mirrors, projects)")
    p.add_argument("--out", type=Path, default=fxs.REPO / "bench" / "results", help="where reports are written")
    p.add_argument("--real-registry", action="store_true",
                   help="also measure against the registry npm is configured with, over the network, in the same run: "
                        "resolution only with warm caches on every real fixture, and on the --real-registry-mid "
                        "fixtures cold with lockfile and adding one package too")
    p.add_argument("--real-registry-mid", default="app",
                   help="comma-separated fixtures that get the cold-with-lockfile and add-one-package network rows "
                        "(default app, the mid-size one); only those also in --fixtures run")
    p.add_argument("--real-registry-runs", type=int, default=3,
                   help="timed runs per network cell, after a warm-up run (default 3)")
    p.add_argument("--dx", type=Path, default=fxs.REPO / "target" / "release" / "dx", help="the dx binary")
    return p.parse_args(argv)


def network_scenarios(fx: fxs.Fixture, mid: set[str]) -> list[str]:
    """The real-registry rows of one fixture: none for generated fixtures (their packages exist
    only in their mirror), resolution only for the others, cold with lockfile and adding one
    package too for the mid-size ones."""
    if fx.source is None:
        return []
    return ["net-resolve-only"] + (["net-cold-lock", "net-add"] if fx.key in mid else [])


def main(argv: list[str]) -> int:
    """Runs the fixtures asked for, writes their reports; the exit status."""
    # SIGTERM, and SIGINT even where a background job ignores it, unwind through the cleanups
    # (unmount dx, stop nginx); the report written so far stays.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args = parse_args(argv)
    if args.smoke:
        args.fixtures, args.runs, args.slow_runs, args.runtime_runs = "smoke", 1, 1, 1
        args.tools = "dx,dxm"
        args.no_cold_runtime = True
    if args.smoke and args.real_registry:
        print("--smoke never touches the network: leave out --real-registry", file=sys.stderr)
        return 2
    real_registry = ""
    if args.real_registry:
        try:
            real_registry = mirror.configured_registry()
        except mirror.MirrorError as e:
            print(f"--real-registry: {e}", file=sys.stderr)
            return 2
    mid = {f for f in args.real_registry_mid.split(",") if f}
    if not args.dx.exists():
        print(f"missing {args.dx}: cargo build --release -p dx-cli (or pass --dx)", file=sys.stderr)
        return 2
    use_hyperfine = measure.have_hyperfine() and not args.smoke
    if not use_hyperfine and not args.smoke:
        print("hyperfine is missing: apt-get install -y hyperfine", file=sys.stderr)
        return 2
    tools = []
    for key in args.tools.split(","):
        if available(key):
            tools.append(key)
        else:
            print(f"skipping {key}: not on PATH", file=sys.stderr)
    all_fixtures = fxs.fixtures(args.synthetic_count, args.port_offset)
    unknown = [f for f in args.fixtures.split(",") if f not in all_fixtures]
    if unknown:
        print(f"unknown fixtures {unknown}; known: {', '.join(all_fixtures)}", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    if suite.machine(args.work)["fs"] == "ext4 (no journal)":
        print(f"warning: {args.work} is on an ext4 without a journal: the cold and clean rows measure the kernel's "
              "inode allocator after the preparation's rm -rf more than the tools (bench/README.md, "
              "'Measuring cold installs'); give --work a directory on a journaled filesystem", file=sys.stderr)
    # A private copy: a rebuild of target/release/dx during the run must not change what is measured.
    (args.work / "bin").mkdir(exist_ok=True)
    dx_copy = args.work / "bin" / "dx"
    shutil.copy2(args.dx, dx_copy.with_suffix(".tmp"))
    dx_copy.with_suffix(".tmp").replace(dx_copy)
    args.dx = dx_copy
    command = "python3 bench/suite/run.py " + " ".join(shlex.quote(a) for a in argv)
    delay = None
    written = []
    for key in args.fixtures.split(","):
        problem = fxs.mirror_problem(all_fixtures[key], args.work)
        if problem:
            print(problem, file=sys.stderr)
            return 2
    if args.mirror_only:
        for key in args.fixtures.split(","):
            mdir, _, warnings = fxs.prepare_mirror(all_fixtures[key], args.work, args.dx.resolve(), suite.log)
            print(f"{key}: {mdir}" + "".join(f"\n  warning: {w}" for w in warnings))
        return 0
    try:
        for key in args.fixtures.split(","):
            fx = all_fixtures[key]
            delay_text = "none"
            if args.latency_ms > 0 and fx.server == "nginx":
                delay = latency.Delay(fx.port, args.latency_ms)
                delay_text = delay.start()
            opts = suite.Options(work=args.work, dx=args.dx.resolve(), tools=tools,
                                 scenarios=[s for s in args.scenarios.split(",") if s], runs=args.runs, slow_runs=args.slow_runs,
                                 slow_seconds=args.slow_seconds, runtime_runs=args.runtime_runs,
                                 cold_runtime=not args.no_cold_runtime, use_hyperfine=use_hyperfine,
                                 runtime=not args.no_runtime, latency=delay_text,
                                 squashfuse=not args.no_squashfuse, real_registry=real_registry,
                                 network_scenarios=network_scenarios(fx, mid) if real_registry else [],
                                 network_runs=args.real_registry_runs)
            def progress(partial: dict) -> None:
                report.write_fixture_report(partial, args.out, command)

            try:
                results = suite.run_fixture(fx, opts, progress)
            finally:
                if delay:
                    delay.stop()
                    delay = None
            path = report.write_fixture_report(results, args.out, command)
            written.append(path)
            suite.log(f"wrote {path}")
        scaling = report.write_scaling(args.out, time.strftime("%Y-%m-%d"))
        if scaling:
            written.append(scaling)
            suite.log(f"wrote {scaling}")
    finally:
        if delay:
            delay.stop()
    print("\n".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

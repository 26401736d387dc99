"""The fixtures: what is installed, and how its mirror is made and served.

Real fixtures (react-small, alotta, app) are snapshotted from the configured registry through
`mirror.Recorder`; the synthetic ones are generated (`synthetic`). All are served by nginx,
except the smoke fixture, served by `dx registry serve` so the smoke test needs no nginx.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import mirror, synthetic
from .tools import ALL_TOOLS, available, make_tool, tool_env

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared" / "bench" / "fixtures"


@dataclass
class Fixture:
    """One fixture: its files (or generator size), its mirror port and its particulars."""

    key: str
    source: Path | None
    port: int
    npm_legacy_peer_deps: bool = False
    added: tuple[str, str] = ("is-odd", "^3.0.1")
    workloads: list[str] = field(default_factory=lambda: ["require"])
    synthetic_count: int = 0
    server: str = "nginx"
    description: str = ""


def fixtures(synthetic_count: int, port_offset: int = 0) -> dict[str, Fixture]:
    """Every fixture the suite knows, by key; `port_offset` moves every mirror's port (a second
    suite beside a running one, with a work dir of its own)."""
    found = {
        "react-small": Fixture("react-small", SHARED / "react-small", 4881,
                               description="react + react-dom, pinned (../shared/bench/fixtures/react-small)"),
        "alotta": Fixture("alotta", SHARED / "alotta", 4882, npm_legacy_peer_deps=True,
                          description="pnpm's own benchmark fixture (../shared/bench/fixtures/alotta)"),
        "synthetic": Fixture("synthetic", None, 4883, added=("syn-extra", "^1.0.0"), synthetic_count=synthetic_count,
                             description=f"{synthetic_count} generated package names (bench/suite/dxbench/synthetic.py)"),
        "app": Fixture("app", REPO / "bench" / "fixtures" / "app", 4884, workloads=["tsc", "vite", "require"],
                       description="a tiny TypeScript + React + Vite app (bench/fixtures/app)"),
        "smoke": Fixture("smoke", None, 0, added=("syn-extra", "^1.0.0"), synthetic_count=3, server="dx",
                         description="3 generated packages served by `dx registry serve` (smoke mode)"),
    }
    for fx in found.values():
        if fx.port:
            fx.port += port_offset
    return found


def project_files(fx: Fixture, root_deps: dict[str, str] | None) -> dict[str, bytes]:
    """The files of the fixture's project (package.json and, for the app, its sources)."""
    if fx.source is None:
        manifest = {"name": f"bench-{fx.key}", "version": "1.0.0", "private": True, "dependencies": root_deps or {}}
        return {"package.json": json.dumps(manifest, indent=2).encode()}
    files = {}
    for path in sorted(fx.source.rglob("*")):
        rel = path.relative_to(fx.source)
        if path.is_file() and not {"node_modules", "dist"} & set(rel.parts):
            files[str(rel)] = path.read_bytes()
    return files


def with_added(manifest: bytes, added: tuple[str, str]) -> bytes:
    """package.json with the re-resolution dependency added."""
    pj = json.loads(manifest)
    pj.setdefault("dependencies", {})[added[0]] = added[1]
    return json.dumps(pj, indent=2).encode()


def write_project(project: Path, files: dict[str, bytes], added: tuple[str, str]) -> None:
    """A fresh project directory with package.json, package.json.base and package.json.added."""
    project.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_bytes(data)
    (project / "package.json.base").write_bytes(files["package.json"])
    (project / "package.json.added").write_bytes(with_added(files["package.json"], added))


def mirror_problem(fx: Fixture, work: Path) -> str | None:
    """Why the fixture's recorded mirror under `work` cannot serve on the fixture's port (its
    tarball URLs name the port it was recorded for), or None."""
    marker = work / "mirrors" / fx.key / "complete.json"
    if fx.synthetic_count or not marker.exists():
        return None
    recorded = json.loads(marker.read_text()).get("port", fx.port)
    if recorded == fx.port:
        return None
    return (f"{marker.parent} was recorded for port {recorded}, not {fx.port}: use another --work, or the "
            "--port-offset it was recorded with")


def prepare_mirror(fx: Fixture, work: Path, dx: Path, log) -> tuple[Path, dict[str, str] | None, list[str]]:
    """Makes (once) the fixture's mirror; returns its directory, the root dependencies of a
    synthetic fixture, and warnings from recording."""
    mdir = work / "mirrors" / fx.key
    marker = mdir / "complete.json"
    warnings: list[str] = []
    if fx.synthetic_count:
        wanted = {"count": fx.synthetic_count, "seed": 7, "port": fx.port}
        if marker.exists() and json.loads(marker.read_text()).get("params") == wanted:
            return mdir, json.loads(marker.read_text())["root"], warnings
        shutil.rmtree(mdir, ignore_errors=True)
        base = f"http://127.0.0.1:{fx.port}" if fx.port else "http://127.0.0.1:1"
        log(f"generating {fx.synthetic_count} synthetic packages into {mdir}")
        root, _ = synthetic.generate(mdir, base, fx.synthetic_count, 7, direct=max(1, min(150, fx.synthetic_count // 30)),
                                     extra=fx.added[0])
        marker.write_text(json.dumps({"params": wanted, "root": root, **mirror.summary(mdir)}))
        return mdir, root, warnings
    if marker.exists():
        problem = mirror_problem(fx, work)
        if problem:
            raise mirror.MirrorError(problem)
        return mdir, None, warnings
    upstream = mirror.configured_registry()
    log(f"recording the {fx.key} mirror from the configured registry into {mdir}")
    recorder = mirror.Recorder(mdir, upstream, fx.port)
    recorder.start()
    try:
        files = project_files(fx, None)
        for key in ("npm", "dx", "bun", "pnpm"):
            if not available(key):
                continue
            tool = make_tool(key, work / "record" / fx.key, f"http://127.0.0.1:{fx.port}/", dx, fx.npm_legacy_peer_deps)
            shutil.rmtree(tool.project.parent, ignore_errors=True)
            write_project(tool.project, files, fx.added)
            for manifest in ("package.json.base", "package.json.added"):
                shutil.copy(tool.project / manifest, tool.project / "package.json")
                p = subprocess.run(["bash", "-c", tool.install_cmd()], env=tool_env(tool), capture_output=True, text=True)
                if p.returncode:
                    warnings.append(f"recording with {key} ({manifest}) failed: {(p.stderr or p.stdout)[-400:]}")
            subprocess.run(["bash", "-c", tool.reset_modules()], env=tool_env(tool))
            log(f"  recorded what {key} needs")
    finally:
        recorder.stop()
    warnings += recorder.errors[:20]
    summary = mirror.summary(mdir)
    marker.write_text(json.dumps({"warnings": warnings, "port": fx.port, **summary}))
    log(f"  mirror: {summary}")
    return mdir, None, warnings


def serve(fx: Fixture, mdir: Path, work: Path, dx: Path):
    """Starts the fixture's server; returns it (with `.stop()`) and its registry URL."""
    run_dir = work / "servers" / fx.key
    run_dir.mkdir(parents=True, exist_ok=True)
    if fx.server == "dx":
        server = mirror.DxServer(dx, mdir / "tarballs", run_dir / "server.log")
        server.start()
        return server, server.base_url + "/"
    server = mirror.Nginx(mdir, fx.port, run_dir)
    server.start()
    return server, f"http://127.0.0.1:{fx.port}/"



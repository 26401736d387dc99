#!/usr/bin/env python3
"""Replays every layout case in ../cases against a real npm and records npm's tree.

For each `<case>.json` this writes the case's packuments as real tarballs into a temporary
directory, serves them with dx's own registry server on 127.0.0.1, runs `npm install` in a
temporary project holding the case's package.json, and writes what npm produced to
`<case>.npm.json`: every installed path (relative to node_modules) -> `name@version`, the
planned-but-skipped paths (optional packages for another platform), and every `.bin` link.

npm is only ever pointed at 127.0.0.1: no user or global npmrc, a throwaway cache, no audit,
no fund, no update check. See ../cases/README.md.
"""

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = HERE.parent / "cases"
WORKSPACE = HERE.parents[3]


def tar_add(tar, path, data, mode=0o644):
    info = tarfile.TarInfo(path)
    info.size = len(data)
    info.mode = mode
    info.mtime = 499162500  # npm's fixed tarball mtime: deterministic bytes
    tar.addfile(info, io.BytesIO(data))


def bin_targets(manifest):
    bin_field = manifest.get("bin")
    if isinstance(bin_field, str):
        return [bin_field]
    if isinstance(bin_field, dict):
        return [v for v in bin_field.values() if isinstance(v, str)]
    return []


def write_tarball(registry_dir, name, version, fields):
    fields = dict(fields)
    bundled = fields.pop("_bundled", {})
    manifest = {"name": name, "version": version}
    manifest.update(fields)
    base = name.rsplit("/", 1)[-1]
    target = registry_dir / name
    target.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.USTAR_FORMAT) as tar:
        tar_add(tar, "package/package.json", json.dumps(manifest, indent=2).encode())
        for rel in sorted(set(bin_targets(manifest))):
            rel = os.path.normpath(rel)
            tar_add(tar, f"package/{rel}", b"#!/usr/bin/env node\n", 0o755)
        # `_bundled` (a case field, not written to package.json): name -> version of packages
        # shipped in the tarball's own node_modules (npm's bundleDependencies).
        for dep, dep_version in sorted(bundled.items()):
            inner = json.dumps({"name": dep, "version": dep_version}).encode()
            tar_add(tar, f"package/node_modules/{dep}/package.json", inner)
    (target / f"{base}-{version}.tgz").write_bytes(buf.getvalue())


def write_registry(registry_dir, packages):
    tags = {}
    for name, doc in packages.items():
        for version, fields in doc.get("versions", {}).items():
            write_tarball(registry_dir, name, version, fields)
        if doc.get("dist-tags"):
            tags[name] = doc["dist-tags"]
    (registry_dir / "dist-tags.json").write_text(json.dumps(tags))


def start_registry(dx, registry_dir):
    proc = subprocess.Popen(
        [dx, "registry", "serve", "--dir", str(registry_dir), "--port", "0", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    marker = "listening on "
    if marker not in line:
        proc.kill()
        sys.exit(f"dx registry did not start: {line!r}")
    url = line.split(marker, 1)[1].strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        sys.exit(f"refusing a registry that is not on 127.0.0.1: {url}")
    return proc, url


def npm_env(work):
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    # Empty files of our own (npm refuses the same file for both).
    for config in ("userconfig", "globalconfig"):
        (work / f"{config}.npmrc").touch()
        env[f"npm_config_{config}"] = str(work / f"{config}.npmrc")
    env["npm_config_update_notifier"] = "false"
    env["npm_config_cache"] = str(work / "cache")
    env["HOME"] = str(work / "home")
    return env


def run_npm(project, url, work, platform, extra):
    args = [
        "npm", "install", "--ignore-scripts", "--no-audit", "--no-fund",
        "--registry", url, "--cache", str(work / "cache"),
        "--os", platform["os"], "--cpu", platform["cpu"],
    ]
    if platform.get("libc"):
        args += ["--libc", platform["libc"]]
    return subprocess.run(
        args + extra, cwd=project, env=npm_env(work), capture_output=True, text=True
    )


def relative_key(path):
    """A package-lock path as the fixtures name it: relative to the root node_modules, so a
    workspace member's own node_modules is `../packages/a/node_modules/x`."""
    if path.startswith("node_modules/"):
        return path[len("node_modules/"):]
    return f"../{path}"


def bin_dirs(top):
    """Every `.bin` directory under `top`, without following symlinks (members are links)."""
    for dirpath, dirnames, _ in os.walk(top, followlinks=False):
        if os.path.basename(dirpath) == ".bin":
            dirnames[:] = []
            yield Path(dirpath)


def record_layout(project, members):
    lock = json.loads((project / "package-lock.json").read_text())
    installed, skipped = {}, []
    for path, entry in lock.get("packages", {}).items():
        if "node_modules/" not in path or entry.get("inBundle"):
            continue  # the root, the members' own entries, what a tarball ships
        rel = relative_key(path)
        if entry.get("link"):
            installed[rel] = "link:" + os.readlink(project / path)
            continue
        name = entry.get("name") or rel.rsplit("node_modules/", 1)[-1]
        if (project / path / "package.json").is_file():
            installed[rel] = f"{name}@{entry['version']}"
        else:
            skipped.append(rel)
    bins = {}
    root = project / "node_modules"
    tops = [root] + [project / m / "node_modules" for m in members]
    for top in tops:
        if not top.is_dir():
            continue
        for bin_dir in sorted(bin_dirs(top)):
            for link in sorted(bin_dir.iterdir()):
                if link.is_symlink():
                    rel = os.path.relpath(link, root)
                    bins[rel] = os.readlink(link)
    return installed, sorted(skipped), bins


def tool_version(tool):
    out = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.strip()
    return out.removeprefix("v")


def regenerate(dx, case_path, keep):
    case = json.loads(case_path.read_text())
    platform = {"os": "linux", "cpu": "x64", "libc": "glibc"}
    platform.update(case.get("platform", {}))
    work = Path(tempfile.mkdtemp(prefix=f"dx-npm-{case_path.stem}-"))
    try:
        registry_dir = work / "registry"
        registry_dir.mkdir()
        write_registry(registry_dir, case["packages"])
        (work / "home").mkdir()
        proc, url = start_registry(dx, registry_dir)
        try:
            flags = []
            project = work / "project"
            project.mkdir()
            root = dict(case["root"])
            root.setdefault("name", "project")
            root.setdefault("version", "1.0.0")
            members = case.get("workspaces", {})
            if members:
                root.setdefault("workspaces", sorted(members))
            (project / "package.json").write_text(json.dumps(root, indent=2))
            # `directories`: package directories of the project that are not workspace
            # members (what `file:` dependencies name).
            for member, manifest in {**members, **case.get("directories", {})}.items():
                (project / member).mkdir(parents=True)
                (project / member / "package.json").write_text(json.dumps(manifest, indent=2))
                for rel in sorted(set(bin_targets(manifest))):
                    target = project / member / os.path.normpath(rel)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text("#!/usr/bin/env node\n")
                    target.chmod(0o755)
            result = run_npm(project, url, work, platform, flags)
            if result.returncode != 0 and "ERESOLVE" in result.stderr:
                # --force: npm still installs peers and overrides the conflicting one, which is
                # what dx does (with a warning); --legacy-peer-deps would skip every peer.
                flags = ["--force"]
                result = run_npm(project, url, work, platform, flags)
            if result.returncode != 0:
                sys.exit(f"{case_path.name}: npm failed\n{result.stdout}\n{result.stderr}")
            installed, skipped, bins = record_layout(
                project, sorted({**members, **case.get("directories", {})})
            )
        finally:
            proc.kill()
            proc.wait()
    finally:
        if keep:
            print(f"  kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    out = {
        "generated_by": f"npm {tool_version('npm')} via tests/npm-fixtures/regenerate.sh",
        # npm prefers versions whose engines.node this node meets.
        "node": tool_version("node"),
        "npm_flags": flags,
        "platform": platform,
        "installed": installed,
        "skipped": skipped,
        "bins": bins,
    }
    target = case_path.with_name(f"{case_path.stem}.npm.json")
    target.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    print(f"{case_path.name}: {len(installed)} installed, {len(skipped)} skipped, "
          f"{len(bins)} bins{' ' + ' '.join(flags) if flags else ''}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dx", default=str(WORKSPACE / "target/release/dx"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    parser.add_argument("--cases-dir", default=str(CASES),
                        help="where the cases are (tests/workspace-cases for workspaces)")
    parser.add_argument("cases", nargs="*", help="case names (default: every case)")
    args = parser.parse_args()
    cases_dir = Path(args.cases_dir)
    paths = sorted(p for p in cases_dir.glob("*.json") if not p.name.endswith(".npm.json"))
    if args.cases:
        paths = [p for p in paths if p.stem in args.cases]
    for path in paths:
        regenerate(args.dx, path, args.keep)


if __name__ == "__main__":
    main()

"""Synthetic packages, generated locally and served by the mirror like snapshotted ones.

The graph is deterministic for a given (count, seed): package `i` depends only on packages
with a larger index, so there are no cycles; about a third of the names publish two majors that
are both in use, which makes hoisting nest some copies as real projects do. Every published
version that the graph needs has a tarball; each name also publishes an older patch release
that nothing selects, so resolvers have to pick the highest satisfying version.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import random
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from . import mirror

EPOCH = 1_700_000_000  # fixed mtime and publish time: generation is reproducible


@dataclass
class SyntheticPackage:
    """One package name and what each of its majors depends on."""

    name: str
    majors: list[int]
    deps: dict[int, dict[str, str]] = field(default_factory=dict)


def package_name(i: int) -> str:
    """Every fifth package is scoped, as on the real registry."""
    return f"@syn/pkg-{i:05d}" if i % 5 == 0 else f"syn-pkg-{i:05d}"


def build_graph(count: int, seed: int, direct: int) -> tuple[list[SyntheticPackage], dict[str, str]]:
    """The packages and the root's dependencies; every published version is reachable."""
    rng = random.Random(seed)
    direct = max(1, min(direct, count))
    pkgs = [SyntheticPackage(package_name(i), [1, 2] if i >= direct and rng.random() < 0.35 else [1])
            for i in range(count)]
    for p in pkgs:
        p.deps = {m: {} for m in p.majors}
    root = {p.name: "^1.0.0" for p in pkgs[:direct]}
    for j in range(direct, count):
        p = pkgs[j]
        for major in list(p.majors):
            # One dependent among the earlier packages makes this (name, major) reachable.
            for _ in range(50):
                parent = pkgs[rng.randrange(0, j)]
                pm = rng.choice(parent.majors)
                if p.name not in parent.deps[pm]:
                    parent.deps[pm][p.name] = f"^{major}.0.0"
                    break
            else:  # no free parent found: this major is not published
                p.majors.remove(major)
                del p.deps[major]
    # Extra edges to later packages give each package a few dependencies, like real ones.
    for i, p in enumerate(pkgs):
        for major in p.majors:
            for _ in range(rng.randrange(0, 4)):
                if i + 1 >= count:
                    break
                q = pkgs[rng.randrange(i + 1, min(count, i + 400))]
                if q.name not in p.deps[major]:
                    p.deps[major][q.name] = f"^{rng.choice(q.majors)}.0.0"
    return pkgs, root


def _tarball(manifest: dict, deps: dict[str, str], filler: int) -> bytes:
    """A gzip'd npm tarball: package.json, an index.js requiring its dependencies, filler."""
    requires = "".join(f"require({json.dumps(d)});\n" for d in sorted(deps))
    files = {
        "package/package.json": json.dumps(manifest, indent=2).encode(),
        "package/index.js": (requires + f"module.exports = {json.dumps(manifest['name'])};\n").encode(),
        "package/README.md": f"# {manifest['name']}\n\nGenerated for dx's benchmarks.\n".encode(),
        "package/lib/util.js": ("// filler\n" + "exports.x = 1;\n" * filler).encode(),
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), EPOCH, 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)


def write_registry(pkgs: list[SyntheticPackage], mirror_dir: Path, base_url: str, seed: int) -> int:
    """Writes every tarball and packument in the mirror's layout; returns the tarball count."""
    rng = random.Random(seed + 1)
    tarballs = 0
    for p in pkgs:
        versions: dict[str, dict] = {}
        for major in p.majors:
            deps = p.deps[major]
            for version in (f"{major}.0.0", f"{major}.1.0"):
                manifest = {"name": p.name, "version": version, "main": "index.js", "license": "MIT"}
                if deps:
                    manifest["dependencies"] = dict(sorted(deps.items()))
                data = _tarball(manifest, deps, rng.randrange(1, 200))
                path = mirror.tarball_path(mirror_dir, p.name, version)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                tarballs += 1
                manifest["dist"] = {
                    "tarball": mirror.tarball_url(base_url, p.name, version),
                    "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
                    "shasum": hashlib.sha1(data).hexdigest(),
                }
                versions[version] = manifest
        latest = max(versions, key=lambda v: tuple(int(x) for x in v.split(".")))
        stamp = "2023-11-14T22:13:20.000Z"
        full = {"name": p.name, "dist-tags": {"latest": latest}, "versions": versions,
                "time": {"created": stamp, "modified": stamp, **{v: stamp for v in versions}}, "modified": stamp}
        mirror.store_packument(mirror_dir, p.name, full, mirror.abbreviate(full))
    return tarballs


def generate(mirror_dir: Path, base_url: str, count: int, seed: int, direct: int,
             extra: str) -> tuple[dict[str, str], str]:
    """Generates `count` packages plus `extra` (the re-resolution dependency, with two of its
    own); returns the root dependencies and the specifier of `extra`."""
    pkgs, root = build_graph(count, seed, direct)
    tail = [SyntheticPackage(extra, [1], {1: {f"{extra}-a": "^1.0.0", f"{extra}-b": "^1.0.0"}}),
            SyntheticPackage(f"{extra}-a", [1], {1: {}}), SyntheticPackage(f"{extra}-b", [1], {1: {}})]
    write_registry(pkgs + tail, mirror_dir, base_url, seed)
    return root, "^1.0.0"

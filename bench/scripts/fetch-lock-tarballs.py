#!/usr/bin/env python3
"""Download every tarball a package-lock.json (v2/v3) names into a directory.

Usage: fetch-lock-tarballs.py PACKAGE_LOCK OUT_DIR [--jobs N]

The lock comes from `npm install --package-lock-only --legacy-peer-deps --ignore-scripts`
against whatever registry npm is configured with; the URLs are taken from the lock, so no
registry host is named here; where the lock has no `resolved` field (npm may omit it), the URL
is built from the registry npm is configured with (`npm config get registry`). Each file is checked against the lock's integrity and written
atomically as OUT_DIR/<name with / as +>-<version>.tgz. Existing, valid files are kept.
"""
import base64, concurrent.futures, hashlib, json, os, subprocess, sys, urllib.request

def configured_registry():
    env = os.environ.get("DX_REGISTRY") or os.environ.get("NPM_CONFIG_REGISTRY")
    if env:
        return env.rstrip("/") + "/"
    out = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True, check=True)
    return out.stdout.strip().rstrip("/") + "/"

def tarball_url(registry, name, version):
    base = name.rsplit("/", 1)[-1]
    return f"{registry}{name}/-/{base}-{version}.tgz"

def target_name(name, version):
    return f"{name.replace('/', '+')}-{version}.tgz"

def fetch(item, out):
    name, version, url, integrity = item
    dest = os.path.join(out, target_name(name, version))
    algo, b64 = integrity.split()[0].split("-", 1)
    want = base64.b64decode(b64)
    if os.path.exists(dest):
        with open(dest, "rb") as f:
            if hashlib.new(algo, f.read()).digest() == want:
                return "kept"
    for attempt in range(4):
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                data = r.read()
            break
        except Exception as e:  # retried: registries drop connections under load
            if attempt == 3:
                raise RuntimeError(f"{name}@{version}: {e}")
    if hashlib.new(algo, data).digest() != want:
        raise RuntimeError(f"{name}@{version}: integrity mismatch")
    tmp = dest + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, dest)
    return "fetched"

def main():
    lock_path, out = sys.argv[1], sys.argv[2]
    jobs = int(sys.argv[sys.argv.index("--jobs") + 1]) if "--jobs" in sys.argv else 32
    os.makedirs(out, exist_ok=True)
    lock = json.load(open(lock_path))
    items = {}
    registry = None
    for path, meta in lock.get("packages", {}).items():
        if not path or meta.get("link") or not meta.get("integrity"):
            continue
        name = meta.get("name") or path.rsplit("node_modules/", 1)[-1]
        url = meta.get("resolved")
        if not url:
            registry = registry or configured_registry()
            url = tarball_url(registry, name, meta["version"])
        items[(name, meta["version"])] = (name, meta["version"], url, meta["integrity"])
    done = 0
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        for _ in ex.map(lambda i: fetch(i, out), items.values()):
            done += 1
    print(f"{done} tarballs in {out}")

if __name__ == "__main__":
    main()

"""The local mirror: snapshot the configured registry once, then serve it with nginx.

Layout of a mirror directory (one per fixture, under the work directory):

    packuments/<name>.json        full packument, `dist.tarball` rewritten to the mirror
    packuments/<name>.abbr.json   abbreviated packument (npm's install-v1 form), rewritten too
    packuments/<name>.*.json.gz   the same, gzip'd, served by nginx's gzip_static
    tarballs/<name>/-/<base>-<version>.tgz

`<name>` keeps its scope as a directory (`@types/node.json`): nginx decodes `%2f` in the
request path before mapping it to a file, so `/@types%2fnode` and `/@types/node` both work.

Snapshotting is done by `Recorder`, a small caching proxy of the configured registry (asked
from npm at run time, never written down here): every tool installs each fixture once through
it, so the mirror holds exactly what all of them asked for (including the peers some of them
add and npm's `--legacy-peer-deps` leaves out). Once recorded, the same files are served by
nginx, which is not the bottleneck for any tool.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ABBREVIATED = "application/vnd.npm.install-v1+json"
ABBREVIATED_VERSION_FIELDS = (
    "name", "version", "dependencies", "optionalDependencies", "devDependencies", "peerDependencies",
    "peerDependenciesMeta", "bin", "directories", "engines", "os", "cpu", "libc", "deprecated",
    "bundleDependencies", "bundledDependencies", "hasInstallScript", "dist", "_hasShrinkwrap",
)


class MirrorError(Exception):
    """A snapshot or serving step failed; the message names the package or file."""


def configured_registry() -> str:
    """The registry npm is configured with (`npm config get registry`), ending in `/`."""
    env = os.environ.get("DX_BENCH_UPSTREAM")
    if env:
        return env.rstrip("/") + "/"
    out = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout.strip():
        raise MirrorError(f"`npm config get registry` failed: {out.stderr.strip()}")
    return out.stdout.strip().splitlines()[-1].rstrip("/") + "/"


def base_name(name: str) -> str:
    """`@scope/pkg` → `pkg`: the tarball file name's stem."""
    return name.rsplit("/", 1)[-1]


def tarball_path(mirror_dir: Path, name: str, version: str) -> Path:
    """Where the mirror stores one tarball."""
    return mirror_dir / "tarballs" / name / "-" / f"{base_name(name)}-{version}.tgz"


def tarball_url(base_url: str, name: str, version: str) -> str:
    """The mirror's URL of one tarball (the same path as the file under `tarballs/`)."""
    return f"{base_url.rstrip('/')}/{name}/-/{base_name(name)}-{version}.tgz"


def packument_path(mirror_dir: Path, name: str, abbreviated: bool) -> Path:
    """Where the mirror stores one packument (full or abbreviated)."""
    return mirror_dir / "packuments" / f"{name}{'.abbr' if abbreviated else ''}.json"


def abbreviate(full: dict) -> dict:
    """npm's abbreviated form of a full packument."""
    versions = {
        v: {k: m[k] for k in ABBREVIATED_VERSION_FIELDS if k in m} for v, m in full.get("versions", {}).items()
    }
    doc = {"name": full.get("name"), "dist-tags": full.get("dist-tags", {}), "versions": versions}
    if "modified" in full or "time" in full:
        doc["modified"] = full.get("modified") or full.get("time", {}).get("modified")
    return doc


def _write(path: Path, data: bytes) -> None:
    """Atomic write of a file and of its `.gz` twin (for gzip_static)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, body in ((path, data), (Path(str(path) + ".gz"), gzip.compress(data, 6, mtime=0))):
        tmp = target.with_name(target.name + f".tmp{threading.get_ident()}")
        tmp.write_bytes(body)
        os.replace(tmp, target)


def store_packument(mirror_dir: Path, name: str, full: dict, abbreviated: dict) -> None:
    """Writes both forms of a packument whose tarball URLs already point at the mirror."""
    for doc, abbr in ((full, False), (abbreviated, True)):
        _write(packument_path(mirror_dir, name, abbr), json.dumps(doc, separators=(",", ":")).encode())


def rewrite_tarballs(doc: dict, base_url: str) -> dict[str, str]:
    """Points every `dist.tarball` at the mirror; returns version → the upstream URL."""
    name = doc.get("name", "")
    upstream = {}
    for version, manifest in (doc.get("versions") or {}).items():
        dist = manifest.get("dist") or {}
        if "tarball" in dist:
            upstream[version] = dist["tarball"]
            dist["tarball"] = tarball_url(base_url, name, version)
    return upstream


def _fetch(url: str, accept: str) -> bytes:
    """GET with retries (registries drop connections under load); gzip is decoded."""
    last = None
    for attempt in range(5):
        try:
            req = urllib.request.Request(url, headers={"Accept": accept, "Accept-Encoding": "gzip",
                                                       "User-Agent": "dx-bench-mirror"})
            with urllib.request.urlopen(req, timeout=120) as r:
                data = r.read()
                if r.headers.get("Content-Encoding") == "gzip":
                    data = gzip.decompress(data)
                return data
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise MirrorError(f"{url}: 404") from e
            last = e
        except Exception as e:  # noqa: BLE001 - network errors of every kind are retried
            last = e
        time.sleep(0.5 * (attempt + 1))
    raise MirrorError(f"{url}: {last}")


class Recorder:
    """A caching proxy of `upstream` that records into `mirror_dir` what tools ask for.

    Requests already recorded are answered from disk, so recording twice costs nothing and
    the recorder is also a (slower) replay server."""

    def __init__(self, mirror_dir: Path, upstream: str, port: int):
        self.mirror_dir, self.upstream, self.port = mirror_dir, upstream, port
        self.base_url = f"http://127.0.0.1:{port}"
        self.locks: dict[str, threading.Lock] = {}
        self.guard = threading.Lock()
        self.errors: list[str] = []
        self.server: ThreadingHTTPServer | None = None

    def _lock(self, key: str) -> threading.Lock:
        with self.guard:
            return self.locks.setdefault(key, threading.Lock())

    def packument(self, name: str, abbreviated: bool) -> Path:
        """Records both forms of `name`'s packument (once) and returns the asked one's file."""
        path = packument_path(self.mirror_dir, name, abbreviated)
        with self._lock("p:" + name):
            if path.exists():
                return path
            escaped = name.replace("/", "%2f") if name.startswith("@") else urllib.parse.quote(name)
            full = json.loads(_fetch(self.upstream + escaped, "application/json"))
            abbr = json.loads(_fetch(self.upstream + escaped, ABBREVIATED + "; q=1.0, application/json; q=0.8"))
            upstream = rewrite_tarballs(full, self.base_url)
            upstream.update(rewrite_tarballs(abbr, self.base_url))
            sidecar = self.mirror_dir / "upstream" / f"{name}.json"
            sidecar.parent.mkdir(parents=True, exist_ok=True)
            sidecar.write_text(json.dumps(upstream))
            store_packument(self.mirror_dir, name, full, abbr)
            return path

    def tarball(self, name: str, file: str) -> Path:
        """Records one tarball, fetched from the upstream URL its packument named."""
        path = self.mirror_dir / "tarballs" / name / "-" / file
        with self._lock("t:" + name + "/" + file):
            if path.exists():
                return path
            version = file[len(base_name(name)) + 1 : -len(".tgz")]
            self.packument(name, False)
            upstream = json.loads((self.mirror_dir / "upstream" / f"{name}.json").read_text())
            url = upstream.get(version)
            if not url:
                raise MirrorError(f"{name}@{version}: no such version upstream")
            data = _fetch(url, "*/*")
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".tmp{threading.get_ident()}")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            return path

    def start(self) -> None:
        """Serves on 127.0.0.1:`port` from a background thread."""
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: errors are collected instead
                pass

            def do_GET(self):  # noqa: N802 - http.server's naming
                try:
                    self._answer()
                except (BrokenPipeError, ConnectionResetError):  # the client hung up
                    pass

            def _answer(self):
                path = urllib.parse.unquote(self.path.split("?", 1)[0])
                try:
                    if path == "/-/ping":
                        return self._send(200, b"{}", "application/json")
                    if "/-/" in path and path.endswith(".tgz"):
                        name, file = path[1:].split("/-/", 1)
                        body = recorder.tarball(name, file).read_bytes()
                        return self._send(200, body, "application/octet-stream")
                    name = path[1:]
                    abbreviated = ABBREVIATED in self.headers.get("Accept", "")
                    body = recorder.packument(name, abbreviated).read_bytes()
                    return self._send(200, body, "application/json")
                except MirrorError as e:
                    if "404" not in str(e):
                        recorder.errors.append(str(e))
                    return self._send(404, json.dumps({"error": str(e)}).encode(), "application/json")
                except (BrokenPipeError, ConnectionResetError):
                    raise
                except Exception as e:  # noqa: BLE001 - a failed request must not kill the server
                    recorder.errors.append(f"{path}: {e!r}")
                    return self._send(500, b"{}", "application/json")

            def _send(self, status: int, body: bytes, kind: str):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            # Python's default listen backlog is 5: Bun opens dozens of connections at once, the
            # kernel drops the SYNs beyond it and clients retry a second later, so recording a
            # large fixture took minutes. Match what nginx is given below.
            request_queue_size = 4096

            def handle_error(self, request, client_address):  # a client hanging up is not news
                pass

        self.server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stops serving."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()


NGINX_CONF = """\
# Written by bench/suite: serves one fixture's mirror (see bench/README.md).
worker_processes 2;
daemon off;
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path {dir}/tmp/body;
  proxy_temp_path {dir}/tmp/proxy;
  fastcgi_temp_path {dir}/tmp/fastcgi;
  uwsgi_temp_path {dir}/tmp/uwsgi;
  scgi_temp_path {dir}/tmp/scgi;
  types {{ application/json json; application/octet-stream tgz; }}
  map $http_accept $packument_form {{
    "~application/vnd\\.npm\\.install-v1\\+json" ".abbr";
    default "";
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location = /-/ping {{ default_type application/json; return 200 "{{}}"; }}
    location ~ \\.tgz$ {{ root {mirror}/tarballs; }}
    location / {{
      root {mirror}/packuments;
      default_type application/json;
      gzip_static on;
      gzip_vary on;
      add_header Vary Accept;
      add_header Cache-Control "public, max-age=300";
      try_files $uri$packument_form.json $uri.json =404;
    }}
  }}
}}
"""


class Nginx:
    """nginx serving a recorded mirror on 127.0.0.1:`port` (`nginx -c CONF -p DIR`)."""

    def __init__(self, mirror_dir: Path, port: int, run_dir: Path):
        self.mirror_dir, self.port, self.run_dir = mirror_dir, port, run_dir
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Writes the config, starts nginx and waits until it answers."""
        if not shutil.which("nginx"):
            raise MirrorError("nginx is missing: apt-get install -y nginx")
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.run_dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        conf = self.run_dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=self.run_dir, port=self.port, mirror=self.mirror_dir.resolve()))
        log = open(self.run_dir / "nginx.out", "w")
        self.proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(self.run_dir)], stdout=log, stderr=log)
        wait_until_up(f"http://127.0.0.1:{self.port}/-/ping", self.proc, self.run_dir / "error.log")

    def stop(self) -> None:
        """Stops nginx (its master process, which stops the workers)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


class DxServer:
    """`dx registry serve --dir` over a directory of tarballs: the smoke mode's registry, which
    needs no nginx; the port is the free one dx picked and printed."""

    def __init__(self, dx: Path, tarballs: Path, log: Path):
        self.dx, self.tarballs, self.log = dx, tarballs, log
        self.proc: subprocess.Popen | None = None
        self.base_url = ""

    def start(self) -> None:
        """Starts the server and reads its URL from its first line."""
        self.proc = subprocess.Popen([str(self.dx), "registry", "serve", "--dir", str(self.tarballs), "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=open(self.log, "w"), text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if "http://" not in line:
            raise MirrorError(f"dx registry serve did not start: {line!r}, see {self.log}")
        self.base_url = line[line.index("http://"):].strip().rstrip("/")
        wait_until_up(self.base_url + "/-/ping", self.proc, self.log)

    def stop(self) -> None:
        """Stops the server."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


def wait_until_up(url: str, proc: subprocess.Popen, log: Path) -> None:
    """Polls `url` until it answers 200; fails early when the server process died."""
    for _ in range(200):
        if proc.poll() is not None:
            raise MirrorError(f"server exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.05)
    raise MirrorError(f"{url} did not answer; see {log}")


def summary(mirror_dir: Path) -> dict:
    """Counts and bytes of what a mirror holds (for the report)."""
    pk = [p for p in (mirror_dir / "packuments").rglob("*.json") if not p.name.endswith(".abbr.json")]
    tb = list((mirror_dir / "tarballs").rglob("*.tgz"))
    return {"packuments": len(pk), "packument_bytes": sum(p.stat().st_size for p in pk),
            "tarballs": len(tb), "tarball_bytes": sum(p.stat().st_size for p in tb)}

#!/usr/bin/env bash
# Fetch benchmark: dx vs Bun, download + verify + unpack/convert a fixture's tarballs into an
# empty cache, from one local `dx registry serve`, in the same run.
#
# Usage: bench/scripts/fetch-vs-bun.sh [DATA_DIR] [RUNS]
#   DATA_DIR  package.json, package-lock.json and tarballs/ (default /work/benchdata/alotta,
#             made by bench/scripts/fetch-lock-tarballs.py)
#   RUNS      hyperfine runs per command (default 5; at least 3)
# Env: BENCH_WORK (default /tmp/dx-fetch-bench), BENCH_PORT (default 4875).
# Needs: hyperfine, bun, python3, /usr/bin/time, and release builds of dx and the fetch bench:
#   cargo build --release -p dx-cli && cargo build --release -p dx-bench --bin fetch
#
# Both tools get the same package set: npm's package-lock.json of the fixture (the tarballs
# directory holds exactly its tarballs). Bun migrates it to bun.lock once (priming, not
# measured); dx gets a dx.lock converted from it by this script (dx has no lockfile import
# yet, and resolving again would need packages npm's lock leaves out). What is measured:
#   1. dx fetch bench: every tarball of DATA_DIR/tarballs, abbreviated packuments first, then
#      download + sha512 + DXP conversion into an empty store (bench/src/bin/fetch.rs);
#      the tarball phase is the pure fetch number.
#   2. cold install with lockfile, empty cache, no node_modules: `dx install --frozen-lockfile`
#      (FUSE mount; and --materialize) vs `bun install --frozen-lockfile`. This is the whole
#      install: it includes each tool's lockfile reading, linking/mounting, nothing subtracted.
# Wall times from hyperfine (median), CPU time (user + sys, children included) from hyperfine's
# means and from one /usr/bin/time -v run each; the server's own CPU time per run is printed
# to show it is not the bottleneck. Results: $BENCH_WORK/results.md (and *.json).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=$(cd "${1:-/work/benchdata/alotta}" && pwd)
RUNS=${2:-5}
WORK=${BENCH_WORK:-/tmp/dx-fetch-bench}
PORT=${BENCH_PORT:-4875}
REG=http://127.0.0.1:$PORT/
DX=$ROOT/target/release/dx
FETCH=$ROOT/target/release/fetch
for tool in "$DX" "$FETCH"; do
  [ -x "$tool" ] || { echo "missing $tool: cargo build --release -p dx-cli && cargo build --release -p dx-bench --bin fetch" >&2; exit 1; }
done
[ "$RUNS" -ge 3 ] || { echo "RUNS must be at least 3" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK"/{dx,dxm,bun}
"$DX" registry serve --dir "$DATA/tarballs" --port "$PORT" > "$WORK/server.log" 2>&1 &
SERVER=$!
cleanup() {
  (cd "$WORK/dx" && DX_HOME="$WORK/dx-home" "$DX" unmount >/dev/null 2>&1) || true
  kill "$SERVER" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 300); do curl -sf "${REG}-/ping" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "${REG}-/ping" >/dev/null || { echo "server did not start:"; cat "$WORK/server.log"; exit 1; } >&2
# CPU seconds (user + sys) the server has used so far.
server_cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$SERVER/stat"; }

echo "== lockfiles (priming, not measured)"
for t in dx dxm bun; do cp "$DATA/package.json" "$WORK/$t/"; done
cp "$DATA/package-lock.json" "$WORK/bun/"
(cd "$WORK/bun" && BUN_INSTALL_CACHE_DIR="$WORK/bun-prime" bun install --registry "$REG" \
  --ignore-scripts --lockfile-only >/dev/null 2>&1 && rm package-lock.json)
rm -rf "$WORK/bun-prime"
python3 - "$DATA/package.json" "$DATA/package-lock.json" "$REG" > "$WORK/dx/dx.lock" <<'PY'
# package-lock.json (v3) -> dx.lock (docs/dx-lock.md): one block per name@version (its first,
# shallowest occurrence), edges resolved the way node does (nearest node_modules upwards).
import json, re, sys
manifest = json.load(open(sys.argv[1]))
lock = json.load(open(sys.argv[2]))["packages"]
registry = sys.argv[3].rstrip("/")

def tok(s):
    s = str(s)
    if s and not re.search(r'[\s"#\\\x00-\x1f\x7f]', s):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

def name_of(path, entry):
    return entry.get("name") or path.rsplit("node_modules/", 1)[-1]

def find(path, dep):
    # node's lookup: <path>/node_modules/<dep>, then each ancestor's node_modules.
    base = path
    while True:
        candidate = (base + "/" if base else "") + "node_modules/" + dep
        if candidate in lock:
            return candidate
        if not base:
            return None
        cut = base.rfind("/node_modules/")
        base = base[:cut] if cut >= 0 else ""

blocks = {}
for path in sorted((p for p in lock if p), key=lambda p: (p.count("node_modules/"), p)):
    entry = lock[path]
    if entry.get("link") or "version" not in entry:
        continue
    name = name_of(path, entry)
    key = f"{name}@{entry['version']}"
    if key in blocks:
        continue
    base, version = name.rsplit("/", 1)[-1], entry["version"]
    lines = ["  resolved " + tok(f"{registry}/{name}/-/{base}-{version}.tgz")]
    if "integrity" in entry:
        lines.append(f"  integrity {tok(entry['integrity'])}")
    for field in ("os", "cpu", "libc"):
        if entry.get(field):
            lines.append(f"  {field} " + " ".join(tok(v) for v in entry[field]))
    bins = entry.get("bin") or {}
    if isinstance(bins, str):
        bins = {base: bins}
    for command in sorted(bins):
        lines.append(f"  bin {tok(command)} {tok(bins[command])}")
    if entry.get("hasInstallScript"):
        lines.append("  has-install-script")
    if entry.get("optional"):
        lines.append("  optional")
    if entry.get("dev"):
        lines.append("  dev")
    edges = {}
    meta = entry.get("peerDependenciesMeta") or {}
    for kind, field in (("dependency", "dependencies"), ("optional-dependency", "optionalDependencies"),
                        ("peer-dependency", "peerDependencies")):
        for dep, spec in (entry.get(field) or {}).items():
            if dep in edges:
                continue
            if kind == "peer-dependency" and meta.get(dep, {}).get("optional"):
                kind = "optional-peer-dependency"
            target = find(path, dep)
            edge = f"  {kind} {tok(dep)} {tok(spec)}"
            if target:
                edge += " " + tok(f"{name_of(target, lock[target])}@{lock[target]['version']}")
            edges[dep] = edge
            kind = "peer-dependency" if kind == "optional-peer-dependency" else kind
    lines += [edges[d] for d in sorted(edges)]
    blocks[key] = lines

out = ["# dx.lock: converted from package-lock.json by bench/scripts/fetch-vs-bun.sh", "dx-lock 1", "", "root"]
for kind, field in (("dependency", "dependencies"), ("dev-dependency", "devDependencies"),
                    ("optional-dependency", "optionalDependencies"), ("peer-dependency", "peerDependencies")):
    for dep in sorted(manifest.get(field) or {}):
        out.append(f"  {kind} {tok(dep)} {tok(manifest[field][dep])}")
for key in sorted(blocks):
    out += ["", f"package {tok(key)}"] + blocks[key]
print("\n".join(out))
PY
cp "$WORK/dx/dx.lock" "$WORK/dxm/"
echo "dx.lock: $(grep -c '^package ' "$WORK/dx/dx.lock") packages; bun.lock: $(grep -o '^    "[^"]*": \["[^"]*"' "$WORK/bun/bun.lock" | sed 's/.*\["//' | sort -u | wc -l) packages"

hf() { hyperfine --style basic --runs "$RUNS" --export-json "$WORK/$1.json" "${@:2}"; }
clean_dx="cd $WORK/dx && DX_HOME=$WORK/dx-home $DX unmount >/dev/null 2>&1; rm -rf $WORK/dx/node_modules $WORK/dx-home"
clean_dxm="rm -rf $WORK/dxm/node_modules $WORK/dxm-home"
clean_bun="rm -rf $WORK/bun/node_modules $WORK/bun-cache"
dx_cmd="cd $WORK/dx && DX_HOME=$WORK/dx-home $DX install --frozen-lockfile --registry $REG --quiet"
dxm_cmd="cd $WORK/dxm && DX_HOME=$WORK/dxm-home $DX install --frozen-lockfile --materialize --registry $REG --quiet"
bun_cmd="cd $WORK/bun && BUN_INSTALL_CACHE_DIR=$WORK/bun-cache bun install --frozen-lockfile --registry $REG --ignore-scripts --silent"
fetch_cmd="$FETCH $DATA/tarballs --registry $REG --store-in $WORK"

echo "== 1. dx fetch bench ($RUNS runs): metadata, then download + verify + convert"
before=$(server_cpu)
for i in $(seq "$RUNS"); do
  sync; $fetch_cmd | tee -a "$WORK/fetch.log" | grep -E '^(tarballs|total)'
done
echo "server CPU: $(echo "$(server_cpu) - $before" | bc) s over $RUNS runs"

echo "== 2. cold install with lockfile (empty cache, no node_modules)"
# One hyperfine per tool so each one's server CPU can be read around it.
for t in dx dxm bun; do
  case $t in dx) n="dx install (mount)"; p=$clean_dx; c=$dx_cmd ;;
             dxm) n="dx install --materialize"; p=$clean_dxm; c=$dxm_cmd ;;
             bun) n="bun install"; p=$clean_bun; c=$bun_cmd ;; esac
  before=$(server_cpu)
  hf "cold-$t" -n "$n" --prepare "sync; $p" "$c"
  echo "server CPU: $(echo "$(server_cpu) - $before" | bc) s over $RUNS runs" | tee "$WORK/server-cpu-$t.txt"
  bash -c "$p"
  /usr/bin/time -v bash -c "$c" 2> "$WORK/time-$t.txt" >/dev/null
  grep -E 'User time|System time|Elapsed|Maximum resident' "$WORK/time-$t.txt"
done

python3 - "$WORK" "$DATA" <<'PY'
import glob, json, os, re, statistics, sys
work, data = sys.argv[1], sys.argv[2]
tarballs = os.path.join(data, "tarballs")
total_bytes = sum(os.path.getsize(os.path.join(tarballs, f)) for f in os.listdir(tarballs))
def lock_keys(path, pattern):
    return set(re.findall(pattern, open(path).read(), re.M))
dx_keys = lock_keys(f"{work}/dx/dx.lock", r'^package (\S+)$')
bun_keys = lock_keys(f"{work}/bun/bun.lock", r'^    "[^"]+": \["([^"]+)"')
def file_of(key):
    name, version = key[0] + key[1:].split("@", 1)[0], key[1:].split("@", 1)[1]
    return os.path.join(tarballs, f"{name.replace('/', '+')}-{version}.tgz")
def size(keys):
    return sum(os.path.getsize(file_of(k)) for k in keys if os.path.exists(file_of(k)))
out = [f"Tarballs: {len(os.listdir(tarballs))}, {total_bytes / 1e6:.1f} MB. "
       f"dx.lock {len(dx_keys)} packages ({size(dx_keys) / 1e6:.1f} MB), "
       f"bun.lock {len(bun_keys)} packages ({size(bun_keys) / 1e6:.1f} MB); same set: {dx_keys == bun_keys}.", ""]
fetch = open(f"{work}/fetch.log").read()
rows = re.findall(r"tarballs: (\d+) stored .*?, ([\d.]+) MB in ([\d.]+)(m?s) wall, ([\d.]+)(m?s) CPU", fetch)
def secs(v, unit):
    return float(v) / (1000 if unit == "ms" else 1)
walls = [secs(r[2], r[3]) for r in rows]
cpus = [secs(r[4], r[5]) for r in rows]
n, mb = int(rows[0][0]), float(rows[0][1])
fw = statistics.median(walls)
out += ["dx fetch bench, tarball phase only (download + sha512 + DXP conversion + store insert):", "",
        "| runs | median wall s | min | max | median CPU s | packages/s | MB/s |", "|---|---|---|---|---|---|---|",
        f"| {len(walls)} | {fw:.3f} | {min(walls):.3f} | {max(walls):.3f} | {statistics.median(cpus):.3f} | {n / fw:.0f} | {mb / fw:.1f} |", ""]
res = {t: json.load(open(f"{work}/cold-{t}.json"))["results"][0] for t in ("dx", "dxm", "bun")}
bun, bun_min = res["bun"]["median"], res["bun"]["min"]
keys = {"dx": dx_keys, "dxm": dx_keys, "bun": bun_keys}
out += ["Cold install with lockfile (hyperfine median; CPU = mean user + sys incl. children):", "",
        "| tool | median s | min | max | CPU s | packages/s | MB/s | server CPU | bun ÷ tool (median) | bun ÷ tool (min) |",
        "|---|---|---|---|---|---|---|---|---|---|"]
for t, r in res.items():
    server = open(f"{work}/server-cpu-{t}.txt").read().split()[2]
    cpu = r["user"] + r["system"]
    m = r["median"]
    out.append(f"| {r['command']} | {m:.3f} | {r['min']:.3f} | {r['max']:.3f} | {cpu:.2f} | "
               f"{len(keys[t]) / m:.0f} | {size(keys[t]) / 1e6 / m:.1f} | {float(server) / len(r['times']):.2f} s/run | {bun / m:.2f}x | {bun_min / r['min']:.2f}x |")
text = "\n".join(out)
open(f"{work}/results.md", "w").write(text + "\n")
print(text)
PY

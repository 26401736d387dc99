#!/usr/bin/env bash
# Resolution speed: dx vs Bun vs pnpm, same run, same local mirror, warm metadata caches.
#
# Usage: bench/scripts/resolve-vs-peers.sh [FIXTURE_DIR] [RUNS]
#   FIXTURE_DIR  a directory with package.json (default: ../shared/bench/fixtures/alotta)
#   RUNS         hyperfine runs per scenario (default 5, after one warm-up)
#
# Scenarios (pnpm's names), each tool writing only its lockfile (`--lockfile-only`, nothing
# fetched or linked), each with its own warm metadata cache:
#   full resolution  no lockfile: resolve the whole graph from cached metadata;
#   re-resolution    lockfile present, one dependency added to package.json (is-odd ^3).
# A dx registry server on 127.0.0.1 proxies and caches the configured registry (asked from
# npm, never named here); every tool resolves from it. Needs: hyperfine, bun, pnpm, a release
# build of dx. Results: $BENCH_WORK/resolve.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FIXTURE=$(cd "${1:-$ROOT/../shared/bench/fixtures/alotta}" && pwd)
RUNS=${2:-5}
WORK=${BENCH_WORK:-/tmp/dx-bench}/resolve
DX=$ROOT/target/release/dx
PORT=${BENCH_PORT:-4875}
REG=http://127.0.0.1:$PORT/
UPSTREAM=$(npm config get registry 2>/dev/null)

mkdir -p "$WORK/mirror"
"$DX" registry serve --dir "$WORK/mirror" --port "$PORT" --upstream "$UPSTREAM" > "$WORK/registry.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "$REG" && break; sleep 0.1; done

export DX_HOME=$WORK/dx-home
export BUN_INSTALL_CACHE_DIR=$WORK/bun-cache
export pnpm_config_cache_dir=$WORK/pnpm-cache
for t in dx bun pnpm; do mkdir -p "$WORK/$t"; cp "$FIXTURE/package.json" "$WORK/$t/package.json.base"; cp "$FIXTURE/package.json" "$WORK/$t/package.json"; done
python3 - "$FIXTURE/package.json" "$WORK/package.json.added" <<'PY'
import json, sys
pj = json.load(open(sys.argv[1]))
pj.setdefault("dependencies", {})["is-odd"] = "^3.0.1"
json.dump(pj, open(sys.argv[2], "w"), indent=2)
PY

dx_cmd="cd $WORK/dx && $DX install --lockfile-only --registry $REG --quiet"
bun_cmd="cd $WORK/bun && bun install --lockfile-only --registry $REG --ignore-scripts --silent"
pnpm_cmd="cd $WORK/pnpm && pnpm install --lockfile-only --registry $REG --ignore-scripts --reporter silent"

echo "priming: resolve once with each tool (fills the mirror and each metadata cache)"
for t in dx bun pnpm; do cp "$WORK/package.json.added" "$WORK/$t/package.json"; done
for c in "$dx_cmd" "$bun_cmd" "$pnpm_cmd"; do bash -c "$c" >/dev/null; done
for t in dx bun pnpm; do cp "$WORK/$t/package.json.base" "$WORK/$t/package.json"; done

hf() { hyperfine --style basic --runs "$RUNS" --warmup 1 --export-json "$WORK/$1.json" "${@:2}"; }
base() { echo "cp $WORK/$1/package.json.base $WORK/$1/package.json"; }

echo "full resolution (warm metadata, no lockfile)"
hf full \
  -n dx --prepare "$(base dx); rm -f $WORK/dx/dx.lock" "$dx_cmd" \
  -n bun --prepare "$(base bun); rm -f $WORK/bun/bun.lock" "$bun_cmd" \
  -n pnpm --prepare "$(base pnpm); rm -f $WORK/pnpm/pnpm-lock.yaml" "$pnpm_cmd"

echo "re-resolution (lockfile of the base, one dependency added)"
for t in dx bun pnpm; do
  cp "$WORK/$t/package.json.base" "$WORK/$t/package.json"
  c=${t}_cmd; bash -c "${!c}" >/dev/null
done
restore() { # tool lockfile
  echo "cp $WORK/package.json.added $WORK/$1/package.json; cp $WORK/$1/$2.base $WORK/$1/$2"
}
for pair in dx:dx.lock bun:bun.lock pnpm:pnpm-lock.yaml; do t=${pair%%:*}; f=${pair#*:}; cp "$WORK/$t/$f" "$WORK/$t/$f.base"; done
hf re \
  -n dx --prepare "$(restore dx dx.lock)" "$dx_cmd" \
  -n bun --prepare "$(restore bun bun.lock)" "$bun_cmd" \
  -n pnpm --prepare "$(restore pnpm pnpm-lock.yaml)" "$pnpm_cmd"

python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
out = ["| scenario | tool | median s | min | max | dx ÷ tool |", "|---|---|---|---|---|---|"]
for s, title in [("full", "full resolution"), ("re", "re-resolution (+1 dep)")]:
    res = json.load(open(f"{work}/{s}.json"))["results"]
    dx = next(r["median"] for r in res if r["command"] == "dx")
    for r in res:
        out.append(f"| {title} | {r['command']} | {r['median']:.4f} | {r['min']:.4f} | {r['max']:.4f} | {dx / r['median']:.3f} |")
text = "\n".join(out)
open(f"{work}/resolve.md", "w").write(text + "\n")
print(text)
PY

#!/usr/bin/env bash
# dx install vs Bun and pnpm on one fixture, in the same run, from the same local mirror.
#
# Usage: bench/scripts/install-vs-peers.sh [FIXTURE_DIR] [RUNS]
#   FIXTURE_DIR  a directory with package.json (default: ../shared/bench/fixtures/alotta)
#   RUNS         hyperfine runs per scenario (default 5, after one warm-up)
#
# A dx registry server on 127.0.0.1 proxies and caches the configured registry (asked from
# npm, never named here) into $BENCH_WORK/mirror; every tool installs from it. Each tool has its
# own cache/store; lifecycle scripts are off for all. Needs: hyperfine, bun, pnpm, a release
# build of dx (cargo build --release -p dx-cli). Results: $BENCH_WORK/results.md and .json.
#
# Scenarios (pnpm's names): S1 warm = lockfile + warm cache, node_modules absent; S0 no-op =
# everything in place; S4 cold = lockfile, empty cache, node_modules absent.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FIXTURE=$(cd "${1:-$ROOT/../shared/bench/fixtures/alotta}" && pwd)
RUNS=${2:-5}
WORK=${BENCH_WORK:-/tmp/dx-bench}
DX=$ROOT/target/release/dx
PORT=${BENCH_PORT:-4874}
REG=http://127.0.0.1:$PORT/
UPSTREAM=$(npm config get registry 2>/dev/null)

mkdir -p "$WORK/mirror"
"$DX" registry serve --dir "$WORK/mirror" --port "$PORT" --upstream "$UPSTREAM" > "$WORK/registry.log" 2>&1 &
SERVER=$!
cleanup() {
  for p in dx; do (cd "$WORK/$p" 2>/dev/null && DX_HOME="$WORK/dx-home" "$DX" unmount >/dev/null 2>&1) || true; done
  kill "$SERVER" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "$REG" >/dev/null 2>&1 && break; curl -s -o /dev/null "$REG" && break; sleep 0.1; done

export DX_HOME=$WORK/dx-home
export BUN_INSTALL_CACHE_DIR=$WORK/bun-cache
export pnpm_config_cache_dir=$WORK/pnpm-cache
PNPM_STORE=$WORK/pnpm-store
for t in dx dxm bun pnpm; do mkdir -p "$WORK/$t"; cp "$FIXTURE/package.json" "$WORK/$t/"; done

dx_cmd="cd $WORK/dx && $DX install --registry $REG --quiet"
dxm_cmd="cd $WORK/dxm && $DX install --materialize --registry $REG --quiet"
bun_cmd="cd $WORK/bun && bun install --registry $REG --ignore-scripts --silent"
pnpm_cmd="cd $WORK/pnpm && pnpm install --registry $REG --ignore-scripts --store-dir $PNPM_STORE --reporter silent"

echo "priming: resolve once with each tool (fills the mirror and each cache, writes lockfiles)"
for c in "$dx_cmd" "$dxm_cmd" "$bun_cmd" "$pnpm_cmd"; do bash -c "$c" >/dev/null; done

nm_absent_dx="cd $WORK/dx && $DX unmount >/dev/null; rm -rf node_modules"
hf() { hyperfine --style basic --runs "$RUNS" --warmup 1 --export-json "$WORK/$1.json" "${@:2}"; }

echo "S1 warm install (lockfile + cache, node_modules absent)"
hf s1 \
  -n "dx (mount)" --prepare "$nm_absent_dx" "$dx_cmd" \
  -n "dx --materialize" --prepare "rm -rf $WORK/dxm/node_modules" "$dxm_cmd" \
  -n "bun" --prepare "rm -rf $WORK/bun/node_modules" "$bun_cmd" \
  -n "pnpm" --prepare "rm -rf $WORK/pnpm/node_modules" "$pnpm_cmd"

echo "S0 no-op (everything in place)"
for c in "$dx_cmd" "$dxm_cmd" "$bun_cmd" "$pnpm_cmd"; do bash -c "$c" >/dev/null; done
hf s0 -n "dx (mount)" "$dx_cmd" -n "dx --materialize" "$dxm_cmd" -n "bun" "$bun_cmd" -n "pnpm" "$pnpm_cmd"

echo "S4 cold install with lockfile (empty caches, node_modules absent, local mirror)"
hf s4 \
  -n "dx (mount)" --prepare "$nm_absent_dx; rm -rf $DX_HOME" "$dx_cmd" \
  -n "bun" --prepare "rm -rf $WORK/bun/node_modules $BUN_INSTALL_CACHE_DIR" "$bun_cmd" \
  -n "pnpm" --prepare "rm -rf $WORK/pnpm/node_modules $PNPM_STORE $pnpm_config_cache_dir" "$pnpm_cmd"

python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
out = ["| scenario | tool | median s | min | max | dx (mount) ÷ tool |", "|---|---|---|---|---|---|"]
for s, title in [("s1", "S1 warm"), ("s0", "S0 no-op"), ("s4", "S4 cold+lock")]:
    res = json.load(open(f"{work}/{s}.json"))["results"]
    dx = next(r["median"] for r in res if r["command"] == "dx (mount)")
    for r in res:
        out.append(f"| {title} | {r['command']} | {r['median']:.4f} | {r['min']:.4f} | {r['max']:.4f} | {dx / r['median']:.3f} |")
text = "\n".join(out)
open(f"{work}/results.md", "w").write(text + "\n")
print(text)
PY

#!/usr/bin/env bash
# dx install --materialize (each link mode) vs Bun and pnpm, warm store + lockfile, node_modules
# absent; and the no-op install. Every peer runs in the same hyperfine invocation as dx.
#
# Usage: bench/scripts/materialize-vs-peers.sh [FIXTURE_DIR] [RUNS]
#   FIXTURE_DIR  a directory with package.json (default: ../shared/bench/fixtures/alotta)
#   RUNS         hyperfine runs per command (default 5, after one warm-up)
# Env: BENCH_WORK (default /tmp/dx-mat-bench), XFS_SIZE (default 8G), SKIP_XFS=1.
#
# Needs root (loop mount), hyperfine, bun, pnpm, mkfs.xfs, and a release build of dx
# (cargo build --release -p dx-cli). The registry is the one npm is configured with (asked
# from npm, never named here); it is used only to prime each tool's cache and lockfile, after
# which no measured command needs the network (pnpm runs with --offline).
#
# Scenarios:
#   ext4   the work disk: bun (its hardlink backend, the Linux default), pnpm --offline
#          (hardlinks from its store), dx --materialize=hardlink, =auto, =copy. Each tool has
#          its own store/cache on this disk.
#   fresh  as ext4 for bun and dx hardlink, but node_modules is moved aside instead of deleted
#          before each run (removed at the end): no freshly freed inodes (see the results note).
#   xfs    a loop-mounted XFS image made with `mkfs.xfs -m reflink=1`, holding the projects,
#          dx's store and Bun's cache: bun vs dx --materialize=reflink, =hardlink, =auto.
#   noop   everything in place: bun, pnpm --offline, dx (auto) on ext4.
# Results: $BENCH_WORK/results.md (table) and one hyperfine JSON per scenario.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FIXTURE=$(cd "${1:-$ROOT/../shared/bench/fixtures/alotta}" && pwd)
RUNS=${2:-5}
WORK=${BENCH_WORK:-/tmp/dx-mat-bench}
DX=$ROOT/target/release/dx
REG=$(npm config get registry 2>/dev/null)
XFS_IMAGE=$WORK/xfs.img
XFS=$WORK/xfs

[ -x "$DX" ] || { echo "build dx first: cargo build --release -p dx-cli" >&2; exit 1; }
mkdir -p "$WORK/ext4" "$WORK/trash"

cleanup() {
  if mountpoint -q "$XFS" 2>/dev/null; then umount "$XFS" 2>/dev/null || umount -l "$XFS" || true; fi
}
trap cleanup EXIT

# Tool commands for a base directory holding the projects and caches: dx, bun, pnpm projects,
# dx-home, bun-cache, pnpm-store. Environment is passed inline so hyperfine runs them as given.
dx_cmd() { echo "DX_HOME=$1/dx-home $DX --cwd $1/dx install --materialize=$2 --quiet"; }
bun_cmd() { echo "BUN_INSTALL_CACHE_DIR=$1/bun-cache bun install --cwd $1/bun --ignore-scripts --silent"; }
pnpm_cmd() { echo "pnpm install --dir $1/pnpm --offline --ignore-scripts --store-dir $1/pnpm-store --reporter silent"; }

# Creates the projects under $1 and resolves once with each tool in $2 (fills caches, writes
# lockfiles, leaves node_modules in place).
prime() {
  local base=$1; shift
  for tool in "$@"; do
    mkdir -p "$base/$tool"
    cp "$FIXTURE/package.json" "$base/$tool/"
    case $tool in
      dx) DX_HOME=$base/dx-home "$DX" --cwd "$base/dx" install --materialize --registry "$REG" --quiet ;;
      bun) BUN_INSTALL_CACHE_DIR=$base/bun-cache bun install --cwd "$base/bun" --registry "$REG" --ignore-scripts --silent ;;
      pnpm) pnpm install --dir "$base/pnpm" --registry "$REG" --ignore-scripts --store-dir "$base/pnpm-store" --reporter silent ;;
    esac
  done
}

hf() { hyperfine --style basic --runs "$RUNS" --warmup 1 --export-json "$WORK/$1.json" "${@:2}"; }
absent() { echo "rm -rf $1/node_modules"; }
aside() { echo "if [ -e $1/node_modules ]; then mv $1/node_modules $WORK/trash/nm-\$(date +%s%N); fi"; }

echo "== priming on ext4 ($WORK/ext4) from the configured registry"
E=$WORK/ext4
prime "$E" dx bun pnpm

echo "== S1 ext4, node_modules moved aside instead of deleted (no freshly freed inodes)"
hf s1-fresh \
  -n "bun" --prepare "$(aside "$E/bun")" "$(bun_cmd "$E")" \
  -n "dx hardlink" --prepare "$(aside "$E/dx")" "$(dx_cmd "$E" hardlink)"

# Bun first, copy last: a command pays for inodes the previous ones freed (see the results
# note), so the order favours the peers, never dx; copy frees 43k file inodes per run.
echo "== S1 ext4: warm store + lockfile, node_modules absent"
hf s1-ext4 \
  -n "bun" --prepare "$(absent "$E/bun")" "$(bun_cmd "$E")" \
  -n "pnpm --offline" --prepare "$(absent "$E/pnpm")" "$(pnpm_cmd "$E")" \
  -n "dx hardlink" --prepare "$(absent "$E/dx")" "$(dx_cmd "$E" hardlink)" \
  -n "dx auto" --prepare "$(absent "$E/dx")" "$(dx_cmd "$E" auto)" \
  -n "dx copy" --prepare "$(absent "$E/dx")" "$(dx_cmd "$E" copy)"

rm -rf "$WORK/trash"; mkdir -p "$WORK/trash"

echo "== S0 no-op: everything in place"
for c in "$(bun_cmd "$E")" "$(pnpm_cmd "$E")" "$(dx_cmd "$E" auto)"; do bash -c "$c" >/dev/null; done
hf s0-noop -n "bun" "$(bun_cmd "$E")" -n "pnpm --offline" "$(pnpm_cmd "$E")" -n "dx auto" "$(dx_cmd "$E" auto)"

scenarios="s1-ext4 s1-fresh s0-noop"
if [ "${SKIP_XFS:-0}" != 1 ]; then
  echo "== XFS image with reflinks at $XFS"
  mkdir -p "$XFS"
  if ! mountpoint -q "$XFS"; then
    rm -f "$XFS_IMAGE"
    truncate -s "${XFS_SIZE:-8G}" "$XFS_IMAGE"
    mkfs.xfs -q -f -m reflink=1 "$XFS_IMAGE"
    mount -o loop "$XFS_IMAGE" "$XFS"
  fi
  prime "$XFS" dx bun
  hf s1-xfs \
    -n "bun" --prepare "$(absent "$XFS/bun")" "$(bun_cmd "$XFS")" \
    -n "dx reflink" --prepare "$(absent "$XFS/dx")" "$(dx_cmd "$XFS" reflink)" \
    -n "dx hardlink" --prepare "$(absent "$XFS/dx")" "$(dx_cmd "$XFS" hardlink)" \
    -n "dx auto" --prepare "$(absent "$XFS/dx")" "$(dx_cmd "$XFS" auto)"
  scenarios="$scenarios s1-xfs"
fi

# What each dx mode actually used (auto decides by probe).
for base in "$E" "$XFS"; do
  [ -f "$base/dx/node_modules/.dx-layout" ] && echo "$base: $(grep '^mode' "$base/dx/node_modules/.dx-layout")"
done

python3 - "$WORK" $scenarios <<'PY'
import json, sys
work, scenarios = sys.argv[1], sys.argv[2:]
out = ["| scenario | tool | median s | min s | max s | Bun ÷ tool | pnpm ÷ tool |", "|---|---|---|---|---|---|---|"]
for s in scenarios:
    res = json.load(open(f"{work}/{s}.json"))["results"]
    med = {r["command"]: r["median"] for r in res}
    for r in res:
        bun = f"{med['bun'] / r['median']:.2f}" if "bun" in med else ""
        pnpm = f"{med['pnpm --offline'] / r['median']:.2f}" if "pnpm --offline" in med else ""
        out.append(f"| {s} | {r['command']} | {r['median']:.4f} | {r['min']:.4f} | {r['max']:.4f} | {bun} | {pnpm} |")
text = "\n".join(out)
open(f"{work}/results.md", "w").write(text + "\n")
print(text)
PY

#!/usr/bin/env bash
# Code running on dx's mount vs a native node_modules vs the same tree in squashfuse_ll.
#
# Usage: bench/scripts/runtime-vs-native.sh [RUNS]
# Needs the projects that bench/scripts/install-vs-peers.sh leaves in $BENCH_WORK (dx with a
# live mount, bun with Bun's native node_modules), hyperfine, squashfs-tools and squashfuse.
# Workload: require every loadable direct dependency (bench/scripts/require-all.js).
# "cold" drops the page cache (and dentries/inodes) before each run; "warm" runs after a warm-up.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${1:-5}
WORK=${BENCH_WORK:-/tmp/dx-bench}
DX=$ROOT/target/release/dx
export DX_HOME=$WORK/dx-home
REQ=$ROOT/bench/scripts/require-all.js

(cd "$WORK/dx" && "$DX" install --registry "http://127.0.0.1:${BENCH_PORT:-4874}/" --offline --quiet) || true
mountpoint -q "$WORK/dx/node_modules" || { echo "dx mount missing: run install-vs-peers.sh first"; exit 1; }
[ -d "$WORK/bun/node_modules" ] || { echo "bun tree missing: run install-vs-peers.sh first"; exit 1; }

# The same native tree (Bun's) as a zstd squashfs served by squashfuse_ll.
SQ=$WORK/sq
mkdir -p "$SQ/project/node_modules"
cp "$WORK/bun/package.json" "$SQ/project/"
if [ ! -f "$SQ/nm.sqfs" ]; then mksquashfs "$WORK/bun/node_modules" "$SQ/nm.sqfs" -comp zstd -quiet -noappend; fi
mountpoint -q "$SQ/project/node_modules" || squashfuse_ll -o clone_fd,timeout=86400 "$SQ/nm.sqfs" "$SQ/project/node_modules"
trap 'fusermount3 -u "$SQ/project/node_modules" 2>/dev/null || umount -l "$SQ/project/node_modules" 2>/dev/null || true' EXIT

for d in "$WORK/dx" "$WORK/bun" "$SQ/project"; do echo "$d: $(cd "$d" && node "$REQ")"; done
drop="sync; echo 3 > /proc/sys/vm/drop_caches"
hyperfine --style basic --runs "$RUNS" --warmup 2 --export-json "$WORK/runtime-warm.json" \
  -n "native (bun tree)" "cd $WORK/bun && node $REQ" \
  -n "dx mount" "cd $WORK/dx && node $REQ" \
  -n "squashfuse_ll" "cd $SQ/project && node $REQ"
hyperfine --style basic --runs "$RUNS" --export-json "$WORK/runtime-cold.json" --prepare "$drop" \
  -n "native (bun tree)" "cd $WORK/bun && node $REQ" \
  -n "dx mount" "cd $WORK/dx && node $REQ" \
  -n "squashfuse_ll" "cd $SQ/project && node $REQ"
python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
for kind in ("warm", "cold"):
    res = json.load(open(f"{w}/runtime-{kind}.json"))["results"]
    native = next(r["median"] for r in res if r["command"].startswith("native"))
    for r in res:
        print(f"{kind:5} {r['command']:18} median {r['median']:.3f}s  ÷ native {r['median']/native:.3f}")
PY

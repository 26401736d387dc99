#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each, one after another, starting from the
# committed seeds (fuzz/seeds/<target>) plus what earlier runs found (fuzz/corpus/<target>,
# not committed), and prints each target's executions and findings.
#
#   cargo install cargo-fuzz        # once; uses the nightly toolchain (AddressSanitizer) when
#                                   # rustup has one, else the stable one without a sanitizer
#   fuzz/run.sh 600                 # the campaign: every target for ten minutes
#   fuzz/run.sh 30 dxl_reader       # one target
#
# A finding (crash, panic, timeout, out-of-memory) is saved under fuzz/artifacts/<target>/;
# make it a regression test, fix it, and commit the test (not the artifact).
set -uo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
command -v cargo-fuzz >/dev/null || { echo "fuzz/run.sh: cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 2; }
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
  sanitizer=()
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
  sanitizer=(-s none)
fi
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <("${fuzz[@]}" list)
fi

status=0
summary=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  log="artifacts/$target/last-run.log"
  before=$(find "artifacts/$target" -type f ! -name '*.log' | wc -l)
  echo "== $target: ${seconds}s"
  "${fuzz[@]}" run "${sanitizer[@]}" "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="artifacts/$target/" >"$log" 2>&1
  rc=$?
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)
  corpus=$(find "corpus/$target" -type f | wc -l)
  after=$(find "artifacts/$target" -type f ! -name '*.log' | wc -l)
  found=$((after - before))
  line="$target: ${execs:-?} executions, corpus $corpus, findings $found"
  if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
    status=1
    line="$line (exit $rc; see $log)"
  fi
  echo "$line"
  summary+=("$line")
done
echo
echo "== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
exit $status

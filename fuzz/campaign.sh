#!/usr/bin/env bash
# A fuzzing campaign (BENCHMARKS.md "Fuzzing"): every target of this crate,
# release build (ASan + coverage), one after another, each for
# ALCOVE_FUZZ_SECS seconds of wall time (default 420), at `nice` 5 so that
# builds beside it still move. New inputs go to a scratch directory first and
# are merged into corpus/<target> afterwards (`-merge=1`: only inputs that add
# coverage are kept). Prints one line per target: wall s, CPU s (user+sys,
# from /usr/bin/time), executions, peak RSS MiB, exit code — and fails if
# any target crashed, timed out or ran out of memory.
set -euo pipefail
cd "$(dirname "$0")"
secs="${ALCOVE_FUZZ_SECS:-420}"
cargo +nightly fuzz build
bindir="${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
results="${ALCOVE_FUZZ_RESULTS:-campaign-results.tsv}"
printf 'target\twall_s\tcpu_s\texecs\tpeak_rss_mib\texit\n' >"$results"
failed=0
for t in $(cargo +nightly fuzz list); do
  mkdir -p "$scratch/$t" "artifacts/$t"
  rc=0
  /usr/bin/time -f '%e %U %S %M' -o "$scratch/$t.time" \
    nice -n 5 "$bindir/$t" "$scratch/$t" "corpus/$t" \
    -artifact_prefix="artifacts/$t/" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 >"$scratch/$t.log" 2>&1 || rc=$?
  read -r wall user sys maxkb <"$scratch/$t.time"
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$scratch/$t.log" | grep -Eo '[0-9]+$' || echo 0)
  cpu=$(echo "$user + $sys" | bc)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$wall" "$cpu" "$execs" "$((maxkb / 1024))" "$rc" | tee -a "$results"
  if [ "$rc" -ne 0 ]; then
    failed=1
    tail -n 40 "$scratch/$t.log" >&2
    continue
  fi
  # Keep only what adds coverage to the committed corpus.
  "$bindir/$t" -merge=1 "corpus/$t" "$scratch/$t" >/dev/null 2>&1
done
exit "$failed"

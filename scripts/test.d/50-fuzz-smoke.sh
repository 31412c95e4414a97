#!/usr/bin/env bash
# Fuzz smoke: every cargo-fuzz target of fuzz/ (BENCHMARKS.md "Fuzzing")
# runs briefly from its committed corpus — about a minute in all, after the
# build (from cold: the server and crypto crates with ASan and coverage
# instrumentation). Fails on any crash, timeout (10 s) or RSS above 2 GiB.
# New inputs go to a temporary directory, not to the committed corpora.
# Needs a nightly toolchain; without one it is skipped, loudly.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal >/dev/null 2>&1 || true
fi
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "!!! no nightly toolchain: the fuzz smoke (scripts/test.d/50-fuzz-smoke.sh) is SKIPPED !!!" >&2
  echo "!!! (rustup toolchain install nightly)                                                 !!!" >&2
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install cargo-fuzz --version 0.13.2 --locked
fi

TOTAL_SECS="${ALCOVE_FUZZ_SMOKE_SECS:-60}"
cd fuzz
# The smoke builds `--dev` (opt-level 1, fuzz/Cargo.toml): a cold build is much
# shorter, and a minute of executions needs no speed. The campaign in
# BENCHMARKS.md uses release builds (ALCOVE_FUZZ_PROFILE=release).
profile="${ALCOVE_FUZZ_PROFILE:-dev}"
# Where cargo puts the fuzz crate's binaries (CARGO_TARGET_DIR, when set,
# is taken relative to fuzz/, as cargo does there).
target="${CARGO_TARGET_DIR:-target}"
if [ "$profile" = release ]; then
  cargo +nightly fuzz build
  bindir="$target/x86_64-unknown-linux-gnu/release"
else
  cargo +nightly fuzz build --dev
  bindir="$target/x86_64-unknown-linux-gnu/debug"
fi
targets=$(cargo +nightly fuzz list)
count=$(echo "$targets" | wc -w)
per=$(( TOTAL_SECS / count ))
[ "$per" -ge 1 ] || per=1
# The bundled SQLite (libsqlite3-sys, linked by the server crate) trips
# ASan's ODR check on its global `aiOff` at start-up: not our code, and not
# a finding on the fuzzed input.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in $targets; do
  echo "--> fuzz $t for ${per}s"
  mkdir -p "$scratch/$t" "artifacts/$t"
  rc=0
  # The binary itself rather than `cargo fuzz run`, which would build again.
  "$bindir/$t" "$scratch/$t" "corpus/$t" \
    -artifact_prefix="artifacts/$t/" -max_total_time="$per" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 >"$scratch/$t.log" 2>&1 || rc=$?
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|Failing input|thread .* panicked)' \
    "$scratch/$t.log" || true
  if [ "$rc" -ne 0 ]; then
    tail -n 40 "$scratch/$t.log" >&2
    echo "fuzz target $t failed (exit $rc; the input is in fuzz/artifacts/$t)" >&2
    exit 1
  fi
done
echo "fuzz smoke: $count targets, ${per}s each, no crash"

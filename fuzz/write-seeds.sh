#!/usr/bin/env bash
# Regenerates fuzz/fixtures/ and the seed-* files of fuzz/corpus/ from one
# real conversation (examples/write_seeds.rs). Built with cargo-fuzz's own
# flags so that it shares the instrumented dependencies of the targets.
# Replaces the fixtures: the committed corpora then no longer match them, so
# minimize again afterwards (see BENCHMARKS.md "Fuzzing").
set -euo pipefail
cd "$(dirname "$0")"
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Zsanitizer=address \
-Cllvm-args=-sanitizer-coverage-stack-depth -Cdebug-assertions -Ccodegen-units=1" \
ASAN_OPTIONS=detect_odr_violation=0:detect_leaks=0 \
  cargo +nightly run --release --target x86_64-unknown-linux-gnu \
  --config 'profile.release.debug="line-tables-only"' --example write_seeds

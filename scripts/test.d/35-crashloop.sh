#!/usr/bin/env bash
# Short crash loop (bench/src/crashloop.rs): the real server (debug build)
# under send load over HTTP and the socket is killed with SIGKILL at random
# moments and restarted on the same data; after every restart every
# acknowledged message must be in the log exactly once and in send order
# (decrypted by the receiving devices), unacknowledged ones are resent with
# the same client_msg_id and stored once, and `alcove audit verify` passes.
# 5 cycles on SQLite, 3 on PostgreSQL when ALCOVE_TEST_POSTGRES_URL is set;
# then the logout → socket closed check on a few sessions. The full campaign
# (BENCHMARKS.md) is the same command with --cycles 200 / 50 and a release
# build. Takes ~15 s once built.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --locked -p alcove-server --bin alcove
cargo build --locked -p alcove-bench
t="${CARGO_TARGET_DIR:-target}"
bench=("$t/debug/alcove-bench" --server-bin "$t/debug/alcove" --server-log warn --budget-secs 120)
"${bench[@]}" --phases crashloop --cycles 5
if [ -n "${ALCOVE_TEST_POSTGRES_URL:-}" ]; then
  "${bench[@]}" --phases crashloop --cycles 3 --postgres "$ALCOVE_TEST_POSTGRES_URL"
fi
"${bench[@]}" --phases logout --logout-sessions 20 --logout-burst 5

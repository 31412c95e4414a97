#!/usr/bin/env bash
# Smoke run of the delivery load benchmark (bench/): the real server (debug
# build) on 127.0.0.1 with SQLite, three clinician/client pairs, a few hundred
# real MLS messages over HTTP and the WebSocket (decrypted and checked by the
# receiving devices), a few hundred idle sockets, the raw-storage ceiling.
# Fails if any acknowledged message is lost. Takes well under 30 s once built.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --locked -p alcove-server --bin alcove
cargo build --locked -p alcove-bench
target/debug/alcove-bench --smoke --server-bin target/debug/alcove --server-log warn
# The same messages sent as `send` frames on the senders' sockets.
target/debug/alcove-bench --smoke --server-bin target/debug/alcove --server-log warn \
  --send-over ws --phases throughput,latency

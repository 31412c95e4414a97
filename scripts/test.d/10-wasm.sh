#!/usr/bin/env bash
# Build the WebAssembly module from crypto/ and run its node tests (vectors,
# a two-instance conversation, snapshots, size budget).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash client-web/build-wasm.sh --test

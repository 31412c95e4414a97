#!/usr/bin/env bash
# The browser client needs the WebAssembly module built from crypto/.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash client-web/build-wasm.sh

#!/usr/bin/env bash
# Clippy over every crate and target of the workspace, warnings as errors
# (Capabilities as vertical slices, item 8; the stricter lints it asks for —
# no unwrap/expect/panic outside tests — are not switched on yet).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo clippy --workspace --all-targets --locked -- -D warnings

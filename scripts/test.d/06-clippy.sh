#!/usr/bin/env bash
# Clippy over every crate and target of the workspace, warnings as errors.
# The workspace denies unwrap/expect/panic outside tests (Cargo.toml,
# clippy.toml), and indexing that could panic in the crypto crate and in the
# server's parsers of outside input (Capabilities as vertical slices, item 8).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo clippy --workspace --all-targets --locked -- -D warnings

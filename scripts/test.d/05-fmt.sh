#!/usr/bin/env bash
# The workspace is formatted as rustfmt formats it (Capabilities as vertical
# slices, item 8): a difference fails the test command before anything
# slower runs. The fuzz crate is a workspace of its own and is not checked.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo fmt --all --check

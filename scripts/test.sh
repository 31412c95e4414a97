#!/usr/bin/env bash
# The whole test suite: every Rust crate (server, crypto, the HTTP/storage
# integration tests on SQLite and, when ALCOVE_TEST_POSTGRES_URL is set,
# PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${ALCOVE_TEST_POSTGRES_URL:-}" ]; then
  echo "!!! ALCOVE_TEST_POSTGRES_URL is not set: PostgreSQL tests will be SKIPPED !!!" >&2
  echo "!!! (on these machines: postgres://postgres@127.0.0.1:5432/test)          !!!" >&2
fi

# What a fresh machine of this kind lacks (Chromium for the browser tests)
# is installed here, by this command itself.
for step in scripts/setup.d/*.sh; do
  [ -e "$step" ] || continue
  bash "$step"
done

# Extra steps (the wasm module and its node tests) join here when present.
for step in scripts/test.d/*.sh; do
  [ -e "$step" ] || continue
  echo "==> $step"
  bash "$step"
done

echo "==> cargo test --workspace"
cargo test --workspace --locked

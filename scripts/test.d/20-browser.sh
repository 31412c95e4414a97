#!/usr/bin/env bash
# Browser tests: the web client (client-web/static) in Debian's Chromium,
# driven by playwright-core against the real `alcove` binary, with axe-core
# accessibility scans. Screenshots go to test-artifacts/browser/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "20-browser: $CHROMIUM is missing; scripts/setup.d/20-chromium.sh installs it" >&2
  exit 1
fi

if [ ! -d tests/browser/node_modules ]; then
  (cd tests/browser && npm ci --no-audit --no-fund)
fi

cargo build --locked -p alcove-server --bin alcove
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in
  /*) ;;
  *) TARGET_DIR="$ROOT/$TARGET_DIR" ;;
esac
export ALCOVE_BIN="$TARGET_DIR/debug/alcove"
export CHROMIUM

cd tests/browser
node --test --test-concurrency=1 tests/*.test.mjs

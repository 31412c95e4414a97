#!/usr/bin/env bash
# The browser client's type check: TypeScript (from npm, pinned in
# tests/browser's lockfile) reads client-web/static's JavaScript and JSDoc
# types without emitting anything (client-web/tsconfig.json). Runs after
# 10-wasm.sh, whose wasm-bindgen output carries the module's types.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x tests/browser/node_modules/.bin/tsc ]; then
  (cd tests/browser && npm ci --no-audit --no-fund)
fi
tests/browser/node_modules/.bin/tsc -p client-web/tsconfig.json
echo "15-typecheck: client-web/static type-checks"

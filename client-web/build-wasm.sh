#!/usr/bin/env bash
# Build the Alcove WebAssembly module (client-web/wasm, over crypto/).
#
#   client-web/build-wasm.sh          build pkg/ (browser, --target web) and
#                                     pkg-node/ (node, for tests and benches)
#   client-web/build-wasm.sh --test   ... then run the node tests
#
# Idempotent: installs the wasm32 target and the wasm-bindgen CLI matching
# Cargo.lock only when missing; cargo rebuilds only what changed. The module
# is built with a size-optimised profile in its own target dir so it does not
# invalidate native builds. Fails if the gzip size exceeds the budget.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT_WEB="$ROOT/client-web/wasm/pkg"
OUT_NODE="$ROOT/client-web/wasm/pkg-node"
BUDGET_GZIP=$((600 * 1024))

# 1. Toolchain target.
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
  fi
fi

# 2. wasm-bindgen CLI, same version as the library in Cargo.lock.
WBG_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)"
if [ -z "$WBG_VERSION" ]; then
  echo "build-wasm: wasm-bindgen not found in Cargo.lock" >&2
  exit 1
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WBG_VERSION\$"; then
  echo "build-wasm: installing wasm-bindgen-cli $WBG_VERSION"
  # --locked fails on a missing index entry (see shared brief); do not use it.
  cargo install wasm-bindgen-cli --version "$WBG_VERSION"
fi

# 3. Compile with a size-optimised release profile in a separate target dir.
export CARGO_TARGET_DIR="$ROOT/target/wasm-build"
CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
CARGO_PROFILE_RELEASE_LTO=fat \
CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
CARGO_PROFILE_RELEASE_PANIC=abort \
CARGO_PROFILE_RELEASE_STRIP=debuginfo \
  cargo build -p alcove-wasm --target wasm32-unknown-unknown --release
WASM="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/alcove_wasm.wasm"

# 4. wasm-opt (binaryen), run BEFORE wasm-bindgen: Debian's binaryen 108
#    breaks modules when run after it. Needed for the size budget, so it is
#    installed from Debian's packages when missing and we can.
if ! command -v wasm-opt >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "build-wasm: installing binaryen (wasm-opt)"
  apt-get install -y binaryen >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y binaryen >/dev/null; }
fi
INPUT="$WASM"
if command -v wasm-opt >/dev/null 2>&1; then
  OPT="$CARGO_TARGET_DIR/opt/alcove_wasm.wasm"
  mkdir -p "$(dirname "$OPT")"
  # The features rustc enables by default for wasm32-unknown-unknown.
  wasm-opt -O2 --strip-debug --strip-producers \
    --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
    "$WASM" -o "$OPT"
  INPUT="$OPT"
else
  echo "build-wasm: wasm-opt not found; the module will likely exceed the size budget" >&2
fi

# 5. Bindings.
rm -rf "$OUT_WEB" "$OUT_NODE"
wasm-bindgen --target web --out-dir "$OUT_WEB" "$INPUT"
wasm-bindgen --target nodejs --out-dir "$OUT_NODE" "$INPUT"

# 6. Size budget.
RAW=$(wc -c < "$OUT_WEB/alcove_wasm_bg.wasm")
GZ=$(gzip -9 -c "$OUT_WEB/alcove_wasm_bg.wasm" | wc -c)
echo "build-wasm: alcove_wasm_bg.wasm ${RAW} bytes raw, ${GZ} bytes gzip (budget ${BUDGET_GZIP})"
if [ "$GZ" -gt "$BUDGET_GZIP" ]; then
  echo "build-wasm: module exceeds the gzip size budget" >&2
  exit 1
fi

# 7. Tests.
if [ "${1:-}" = "--test" ]; then
  node --test "$ROOT/client-web/wasm/tests/"
fi

#!/usr/bin/env bash
# Runs the Alcove server with the browser client on the embedded SQLite file
# (./alcove-data/alcove.db), no configuration needed. Arguments go to
# `alcove` (for example: --listen 127.0.0.1:9000).
set -euo pipefail
cd "$(dirname "$0")/.."
for step in scripts/build.d/*.sh; do
  [ -e "$step" ] || continue
  bash "$step"
done
exec cargo run --release --locked -p alcove-server --bin alcove -- "$@"

#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (tests/browser). Install it only
# when it is missing, from Debian's own packages, so that the README's test
# command works by itself on a fresh machine (not only through .ci/run).
set -euo pipefail
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: $CHROMIUM is missing and this user cannot apt-get it; install Debian's chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "setup: installing Debian's chromium"
apt-get update >/dev/null
apt-get install -y --no-install-recommends chromium fonts-dejavu-core >/dev/null

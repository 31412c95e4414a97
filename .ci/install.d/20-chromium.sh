#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (tests/browser). Install it only
# when it is missing, from Debian's own packages.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium fonts-dejavu-core

#!/usr/bin/env bash
# The reminder tests start a real SMTP server process on loopback
# (tests/smtp/sink.py, on aiosmtpd from PyPI), and check inbound SMS
# signatures against the RequestValidator of Twilio's own library, and
# webhook signatures with the Standard Webhooks reference library
# (standardwebhooks), and Web Push requests with http_ece (RFC 8291
# decryption) and py_vapid (RFC 8292 signatures). Installed, pinned, into a
# venv under the target dir when missing, so the README's test command
# works by itself on a fresh machine; the Rust test runs this script too
# when it finds no venv (a plain `cargo test`).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
AIOSMTPD_VERSION="1.4.6"
TWILIO_VERSION="9.13.0"
STANDARDWEBHOOKS_VERSION="1.3.0"
HTTP_ECE_VERSION="1.2.1"
PY_VAPID_VERSION="1.9.6"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in
  /*) ;;
  *) TARGET_DIR="$ROOT/$TARGET_DIR" ;;
esac
VENV="$TARGET_DIR/test-python"
if "$VENV/bin/python" -c "import aiosmtpd, twilio, standardwebhooks, http_ece, py_vapid, sys, importlib.metadata as m; sys.exit(0 if (aiosmtpd.__version__, twilio.__version__, m.version('standardwebhooks'), m.version('http_ece'), m.version('py_vapid')) == ('$AIOSMTPD_VERSION', '$TWILIO_VERSION', '$STANDARDWEBHOOKS_VERSION', '$HTTP_ECE_VERSION', '$PY_VAPID_VERSION') else 1)" 2>/dev/null; then
  exit 0
fi
echo "setup: installing aiosmtpd $AIOSMTPD_VERSION, twilio $TWILIO_VERSION, standardwebhooks $STANDARDWEBHOOKS_VERSION, http_ece $HTTP_ECE_VERSION and py_vapid $PY_VAPID_VERSION into $VENV"
rm -rf "$VENV"
mkdir -p "$TARGET_DIR"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION" "twilio==$TWILIO_VERSION" "standardwebhooks==$STANDARDWEBHOOKS_VERSION" "http_ece==$HTTP_ECE_VERSION" "py_vapid==$PY_VAPID_VERSION"

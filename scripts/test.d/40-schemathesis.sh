#!/usr/bin/env bash
# The API keeps its contract: schemathesis (property-based testing from the
# OpenAPI document) against the real `alcove` binary (debug build) on
# 127.0.0.1 with a fresh SQLite data directory, signed in as the practice's
# first admin with a bearer token (scripts/schemathesis/seed.py registers
# the admin through the setup link and TOTP, as a person would).
#
# Checks run (docs/api-contract.md says what each means here):
#   not_a_server_error, status_code_conformance, content_type_conformance,
#   response_schema_conformance, response_headers_conformance,
#   negative_data_rejection, missing_required_header, unsupported_method,
#   use_after_free, ensure_resource_availability
# Excluded, and why:
#   positive_data_acceptance: schema-valid is not acceptable for MLS bodies.
#     A KeyPackage, commit, GroupInfo or PrivateMessage must be a signed MLS
#     structure of this conversation's group (and a KeyPackage must carry this
#     device's identity); random base64 is answered 400 malformed_mls /
#     invalid_key_package, which is the contract. The same holds for tokens
#     (invite, enrolment) that only the server can issue.
#   ignored_auth: it replays requests without, or with mangled, credentials
#     and expects 401; the step's fixed bearer token is the only session, so
#     the check has nothing to learn that the Rust tests (tests/tests/
#     sessions.rs, bad_input.rs) do not already pin down exactly.
#   object_level_authorization: needs a second, differently privileged
#     account wired into the run; cross-user and cross-practice access is
#     tested in tests/tests/isolation.rs.
#   allow_header_conformance: answers OPTIONS, which the API does not route
#     (405 JSON, with Allow); a contract question for CORS, which Alcove does
#     not serve.
# Two runs with all other operations: the clinician's (its conversation's id
# pinned for the /conversations/{id} operations, scripts/schemathesis/
# clinician.toml, so they get past 404 to membership, MLS framing and paging
# checks), then the admin's. Two operations can end the step's own session:
# POST /api/v1/auth/logout, and POST /api/v1/devices/{id}/revoke once the
# stateful phase feeds it the caller's own device id from GET /me/devices.
# They are tested on their own, last; a run would otherwise turn into 401s.
#
# Installs schemathesis (pinned) into a venv under the target dir when it is
# missing. Runs in about a minute once built: examples per operation are
# bounded (ALCOVE_SCHEMATHESIS_EXAMPLES, default 25).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

ST_VERSION="4.32.5"
EXAMPLES="${ALCOVE_SCHEMATHESIS_EXAMPLES:-25}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in
  /*) ;;
  *) TARGET_DIR="$ROOT/$TARGET_DIR" ;;
esac
VENV="$TARGET_DIR/schemathesis-venv"

if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "version $ST_VERSION\$"; then
  echo "40-schemathesis: installing schemathesis $ST_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

cargo build --locked -p alcove-server --bin alcove

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/data"
(
  cd "$WORK"
  ALCOVE_LOG__FILTER=warn exec env -u ALCOVE_DATABASE_URL -u ALCOVE_CONFIG \
    "$TARGET_DIR/debug/alcove" --data-dir "$WORK/data" --listen 127.0.0.1:0
) >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!

BASE=""
for _ in $(seq 300); do
  BASE="$(sed -n 's/^Alcove is listening on \(http:\/\/[0-9.:]*\)$/\1/p' "$WORK/server.out")"
  [ -n "$BASE" ] && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "40-schemathesis: the server exited:" >&2
    cat "$WORK/server.err" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$BASE" ]; then
  echo "40-schemathesis: the server did not print its address within 30 s" >&2
  cat "$WORK/server.err" >&2
  exit 1
fi
LINK="$(grep -o 'http://[^ ]*/invite#[A-Za-z0-9_-]*' "$WORK/server.out" | head -1)"
python3 scripts/schemathesis/seed.py "$BASE" "$LINK" >"$WORK/seed.env"
ADMIN_TOKEN="$(sed -n 's/^ADMIN_TOKEN=//p' "$WORK/seed.env")"
CLINICIAN_TOKEN="$(sed -n 's/^CLINICIAN_TOKEN=//p' "$WORK/seed.env")"
export ALCOVE_ST_CONVERSATION_ID="$(sed -n 's/^CONVERSATION_ID=//p' "$WORK/seed.env")"

REPORT="$ROOT/test-artifacts/schemathesis"
mkdir -p "$REPORT"
CHECKS="not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection,missing_required_header,unsupported_method,use_after_free,ensure_resource_availability"

run_st() {
  local name="$1" config="$2" token="$3"
  shift 3
  # No example database: the run is seeded, and it would leave a
  # .schemathesis/ folder in the checkout.
  # One worker: CPython 3.11's ast.parse is not thread-safe (hypothesis
  # describes filters by parsing lambdas: "AST constructor recursion depth
  # mismatch"), and two cores are better left to the server.
  "$VENV/bin/st" --config-file "scripts/schemathesis/$config" --no-color \
    run "$BASE/api/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks "$CHECKS" \
    --max-examples "$EXAMPLES" \
    --workers 1 \
    --seed 20261201 \
    --generation-database none \
    --report junit --report-junit-path "$REPORT/$name.xml" \
    "$@"
}

SESSION_ENDERS='^/api/v1/(auth/logout|devices/\{id\}/revoke)$'
status=0
# The clinician first: the admin's run deactivates whom it finds in GET
# /users (the clinician too), which ends their sessions.
echo "==> schemathesis $ST_VERSION against $BASE as the clinician, in their conversation (all but the session-ending operations)"
run_st clinician clinician.toml "$CLINICIAN_TOKEN" --exclude-path-regex "$SESSION_ENDERS" || status=$?
echo "==> schemathesis as the admin (all but the session-ending operations)"
run_st admin schemathesis.toml "$ADMIN_TOKEN" --exclude-path-regex "$SESSION_ENDERS" || status=$?
echo "==> schemathesis: device revocation (may end the admin's session)"
run_st revoke schemathesis.toml "$ADMIN_TOKEN" --include-path '/api/v1/devices/{id}/revoke' || status=$?
echo "==> schemathesis: logout (ends the admin's session)"
run_st logout schemathesis.toml "$ADMIN_TOKEN" --include-path /api/v1/auth/logout || status=$?
cp "$WORK/server.err" "$REPORT/server.log"
if grep -q "panicked" "$WORK/server.err"; then
  echo "40-schemathesis: the server panicked (see $REPORT/server.log)" >&2
  status=1
fi
if [ "$status" != 0 ]; then
  echo "40-schemathesis: schemathesis found failures (reports and the server log in $REPORT)" >&2
  exit "$status"
fi

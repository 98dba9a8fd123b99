#!/usr/bin/env bash
# Adversarial HTTP input: builds `webex serve`, starts it on a fresh SQLite
# file, mints a token and runs schemathesis against the server's own
# /openapi.json. Fails on any 5xx or any answer the document does not allow
# (status code, content type, headers, body schema).
#
#   scripts/schemathesis.sh                  # CI budget: 20 examples per operation
#   MAX_EXAMPLES=200 scripts/schemathesis.sh # a longer run
#   SEED=42 scripts/schemathesis.sh          # another fixed seed (CI's is 20261207)
#   scripts/schemathesis.sh --checks all     # extra arguments go to `schemathesis run`
#
# Needs `schemathesis` on PATH (`pip install schemathesis`, 4.x).
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXAMPLES="${MAX_EXAMPLES:-20}"
# A fixed seed: the same commit gets the same cases, hence the same verdict.
SEED="${SEED:-20261207}"
ADMIN_TOKEN="schemathesis-admin-$RANDOM$RANDOM"
# Checks that hold for every operation. `ignored_auth` is covered by
# crates/webex-server/tests/it/access_control.rs (schemathesis cannot tell a
# person's token from the admin token); the stateful ones need links the
# document does not declare.
CHECKS="not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection"

command -v schemathesis >/dev/null || {
  echo "schemathesis not found: pip install schemathesis" >&2
  exit 2
}

tmp="$(mktemp -d)"
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ -z "${WEBEX_BIN:-}" ]; then
  cargo build --quiet -p webex-cli --bin webex
  WEBEX_BIN="${CARGO_TARGET_DIR:-target}/debug/webex"
fi
# A private copy: a shared target directory may be rebuilt meanwhile.
cp "$WEBEX_BIN" "$tmp/webex"
BIN="$tmp/webex"

DB="sqlite://$tmp/webex.sqlite"
TOKEN="$("$BIN" token create --email fuzz@example.com --database "$DB")"
"$BIN" serve --listen 127.0.0.1:0 --database "$DB" --admin-token "$ADMIN_TOKEN" \
  --rate-limit off >"$tmp/stdout" 2>"$tmp/server.log" &
pid=$!
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$tmp/stdout" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
  sleep 0.1
done
URL="$(sed -n 's/^listening on //p' "$tmp/stdout")"
[[ -n "$URL" ]] || { echo "webex serve did not start" >&2; exit 1; }
echo "schemathesis against $URL (max $MAX_EXAMPLES examples per operation, seed $SEED)"

common=(--checks "$CHECKS" --max-examples "$MAX_EXAMPLES" --seed "$SEED" --no-color
  --generation-database none --suppress-health-check all --workers 2
  --request-timeout 10 --phases examples,coverage,fuzzing)

status=0
# Everything a person's token reaches (and the public routes).
schemathesis run "$URL/openapi.json" "${common[@]}" \
  -H "Authorization: Bearer $TOKEN" --exclude-path-regex '^/admin/' "$@" || status=$?
# The operator API, with the admin token.
schemathesis run "$URL/openapi.json" "${common[@]}" \
  -H "Authorization: Bearer $ADMIN_TOKEN" --include-path-regex '^/admin/' "$@" || status=$?

if grep -q 'panicked' "$tmp/server.log"; then
  echo "the server panicked:" >&2
  grep -A5 'panicked' "$tmp/server.log" >&2
  status=1
fi
exit "$status"

#!/usr/bin/env bash
# The official Webex JS SDK (npm webex@3.12.0, unmodified) against `webex serve`,
# in Node 20 and in Debian's headless Chromium. Arguments go to run.js
# (e.g. --runtime node, --bench 15). The scenarios run twice: against the
# default answers, then with every cloud quirk on (--cloud-quirks all).
#
# Needs: node >= 20 and npm; /usr/bin/chromium (installed here with apt-get
# when missing and running as root); the `webex` binary at $WEBEX_BIN or
# <repo>/target/debug/webex (built here with cargo when
# WEBEX_BIN is unset).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

if [ ! -d node_modules/webex ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi

if [ ! -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ]; then
  if [ "${CI:-}" = true ]; then
    # CI installs what it needs first (.ci/run); a test run never does.
    echo "chromium is missing (${CHROMIUM_BIN:-/usr/bin/chromium}): CI never skips the Chromium runs" >&2
    exit 1
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing: apt-get update && apt-get install -y chromium" >&2
    exit 1
  fi
fi

if [ -z "${WEBEX_BIN:-}" ]; then
  export WEBEX_BIN="${CARGO_TARGET_DIR:-$repo/target}/debug/webex"
  (cd "$repo" && cargo build -q --locked -p webex-cli)
fi

node --test test/
status=0
node run.js "$@" || status=$?
# The README's JS quickstart (examples/js-quickstart), as written: its own
# npm install, `node quickstart.js` and index.html against `webex serve --dev`.
case " $* " in
  *" --bench "*) ;;
  *)
    app="$repo/examples/js-quickstart"
    if [ ! -d "$app/node_modules/webex" ] || [ "$app/package-lock.json" -nt "$app/node_modules/.package-lock.json" ]; then
      (cd "$app" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    fi
    echo
    echo "### the README's JS quickstart (examples/js-quickstart) against webex serve --dev"
    node quickstart-check.js || status=$?
    ;;
esac
# Then once more against the cloud's redirects (`webex serve --cloud-quirks
# all`), unless the caller chose the quirks or is benchmarking.
case " $* " in
  *" --bench "*|*" --cloud-quirks "*) exit "$status" ;;
esac
if [ -z "${WEBEX_CLOUD_QUIRKS:-}" ]; then
  echo
  echo "### again with every cloud quirk (webex serve --cloud-quirks all)"
  node run.js --cloud-quirks all "$@" || status=$?
fi
exit "$status"

#!/usr/bin/env bash
# The supervisor console's browser test (runtime/console/web/tests/console.e2e.mjs) on a
# real chain: runs `govchain demo --serve` (the three scenarios leave denied reads,
# flows, points and audit records behind), then drives the console it serves in
# headless Chromium: sign-in both ways (a supervisor's own key, a node operator's
# credential with its department's view), alerts, audit search by national ID, the record
# drawer's in-browser verification (and its failure on a tampered proof), flows, points,
# exports, language, keyboard. Screenshots at 1366×768 go to $SCREENSHOT_DIR.
#   scripts/console-test.sh [path/to/govchain]     (default: target/debug/govchain)
set -euo pipefail
cd "$(dirname "$0")/.."
govchain=${1:-${CARGO_TARGET_DIR:-target}/debug/govchain}
port=${CONSOLE_TEST_PORT:-17545}
shots=${SCREENSHOT_DIR:-${CARGO_TARGET_DIR:-target}/console-screenshots}
work=$(mktemp -d)
demo=""
cleanup() {
  if [ -n "$demo" ] && kill -0 "$demo" 2>/dev/null; then
    kill -INT "$demo" && wait "$demo" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
"$govchain" --json demo --serve "$port" --contracts contracts/artifacts >"$work/report.json" 2>"$work/demo.log" &
demo=$!
echo "console test: demo chain starting (pid $demo), scenarios running..."
# The report is printed once the scenarios are done; the chain then keeps serving.
until node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).console.url' "$work/report.json" 2>/dev/null; do
  if ! kill -0 "$demo" 2>/dev/null; then
    echo "console test: the demo stopped before serving; its log:" >&2
    tail -40 "$work/demo.log" >&2
    exit 1
  fi
  sleep 1
done
field() { node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(eval("r." + process.argv[2]))' "$work/report.json" "$1"; }
export CONSOLE_URL CONSOLE_CREDENTIAL CONSOLE_SUPERVISOR_KEY CONSOLE_KEY_FILE CONSOLE_KEY_DEPT CONSOLE_NATIONAL_ID SCREENSHOT_DIR
CONSOLE_URL=$(field console.url)
CONSOLE_CREDENTIAL=$(cat "$(field console.credential_file)")
CONSOLE_SUPERVISOR_KEY=$(field console.supervisor_key_file)
CONSOLE_KEY_DEPT=${CONSOLE_KEY_DEPT:-bank}
CONSOLE_KEY_FILE="$(field console.key_dir)/$CONSOLE_KEY_DEPT.pem"
CONSOLE_NATIONAL_ID=$(field 'citizens[0].national_id')
SCREENSHOT_DIR=$(realpath -m "$shots")
echo "console test: $CONSOLE_URL (citizen $(field 'citizens[0].name'), key of $CONSOLE_KEY_DEPT)"
node runtime/console/web/tests/console.e2e.mjs

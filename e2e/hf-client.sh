#!/usr/bin/env bash
# End-to-end: the JavaScript @huggingface/hub client (from npm, pinned by
# e2e/hf/package-lock.json) against a real `cairn daemon` serving a model
# added with `cairn add`. Self-contained and bounded; exits non-zero on any
# failure.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d)"
DPID=""
cleanup() {
  if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
    kill "$DPID" 2>/dev/null || true
    wait "$DPID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
  echo "hf-client e2e: FAIL: $*" >&2
  [ -f "$TMP/daemon.log" ] && { echo "--- daemon log" >&2; tail -n 40 "$TMP/daemon.log" >&2; }
  exit 1
}
bounded() { if command -v timeout >/dev/null; then timeout "$@"; else shift; "$@"; fi; }

cd "$ROOT"
go build -o "$TMP/cairn" ./cmd/cairn || fail "go build"
(cd e2e/hf && bounded 300 npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci"

H="$TMP/home"
"$TMP/cairn" --home "$H" init >/dev/null || fail "cairn init"
node e2e/hf/gen.mjs "$TMP/model" 6 || fail "generating the model"
"$TMP/cairn" --home "$H" add "$TMP/model" --repo acme/tiny >"$TMP/add.log" 2>&1 || { cat "$TMP/add.log" >&2; fail "cairn add"; }

# Port 0: the daemon picks a free port and prints it.
"$TMP/cairn" --home "$H" daemon --http 127.0.0.1:0 >"$TMP/daemon.log" 2>&1 &
DPID=$!
URL=""
for _ in $(seq 1 200); do
  URL="$(sed -n 's/^cairn daemon: .*\(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$TMP/daemon.log" | head -n 1)"
  [ -n "$URL" ] && break
  kill -0 "$DPID" 2>/dev/null || fail "daemon exited"
  sleep 0.1
done
[ -n "$URL" ] || fail "daemon did not report its address"

bounded 180 node e2e/hf/client.mjs "$URL" "$TMP/model" || fail "client checks"
# Python huggingface_hub too, where it is installed (PYTHON and PYTHONPATH
# choose it; CI has none, so this part is reported as not run there).
PY="${PYTHON:-python3}"
if command -v "$PY" >/dev/null && "$PY" -c 'import huggingface_hub' 2>/dev/null; then
  HF_ENDPOINT="$URL" HF_HOME="$TMP/hf-home" HF_HUB_DISABLE_TELEMETRY=1 \
    bounded 180 "$PY" e2e/hf/python-check.py "$TMP/model" || fail "python huggingface_hub checks"
else
  echo "hf-client e2e: python huggingface_hub not installed: not run"
fi
kill -0 "$DPID" 2>/dev/null || fail "daemon died during the test"
echo "hf-client e2e: PASS (@huggingface/hub $(node -p 'require("./e2e/hf/node_modules/@huggingface/hub/package.json").version') against $URL)"

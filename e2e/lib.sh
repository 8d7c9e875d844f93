# Shared helpers for the end-to-end scripts (sourced, not run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d -t cairn-e2e.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
CAIRN="$WORK/cairn"
(cd "$ROOT" && go build -o "$CAIRN" ./cmd/cairn)

fail() { echo "FAIL: $*" >&2; for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }; done; exit 1; }

# start_daemon HOME [extra args...]: starts a daemon on free ports, waits
# until its CLI socket answers; its log is $WORK/<name>.log.
start_daemon() {
  local home=$1; shift
  local name; name=$(basename "$home")
  "$CAIRN" --home "$home" daemon --http 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0 "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    "$CAIRN" --home "$home" id --json 2>/dev/null | grep -q '"daemon": true' && return 0
    sleep 0.1
  done
  fail "daemon $home did not start"
}

# first_addr HOME: the daemon's first p2p address with /p2p/ID.
first_addr() {
  "$CAIRN" --home "$1" id --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).addrs[0]))'
}

# http_addr HOME: the daemon's HTTP address, from its log.
http_addr() {
  sed -n 's#.*cairn daemon: peer .*, http://\([0-9.:]*\).*#\1#p' "$WORK/$(basename "$1").log" | head -n1
}

# need_fixtures: the fixture model and llama.cpp's output for it, or FAIL.
FIX="$ROOT/testdata"
need_fixtures() {
  [ -f "$FIX/stories260K.gguf" ] && [ -f "$FIX/stories260K.expected.txt" ] ||
    fail "fixtures missing ($FIX/stories260K.gguf, stories260K.expected.txt; see testdata/README.md)"
}

# npm_ci DIR: installs DIR's locked npm packages.
npm_ci() {
  (cd "$1" && timeout 300 npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1) ||
    fail "npm ci in $1: $(tail -n 20 "$WORK/npm.log")"
}

# expected_continuation: llama.cpp's greedy continuation of "Once upon a
# time" by the fixture model, prompt excluded (llama-cli echoes it after a
# space), into ./expected.txt.
expected_continuation() {
  node -e '
const s = require("fs").readFileSync(process.argv[1], "utf8");
const out = s.slice(s.indexOf("=== OUTPUT ===\n") + 15).replace(/\n+$/, "");
const p = " Once upon a time";
if (!out.startsWith(p)) { console.error("expected output lacks the prompt"); process.exit(1); }
process.stdout.write(out.slice(p.length));' "$FIX/stories260K.expected.txt" >expected.txt || fail "expected text"
}

# members ROLE HOME...: makes the organisation (org.key, $PUB) once and
# joins each home to it, in jurisdiction DE, with ROLE (a role named
# after the home when ROLE is "-").
members() {
  local role=$1; shift
  [ -n "${PUB:-}" ] || PUB=$("$CAIRN" org init --key org.key)
  for n in "$@"; do
    "$CAIRN" --home "$n" init >/dev/null
    local r=$role; [ "$r" = - ] && r=$n
    "$CAIRN" org issue --key org.key --org acme --peer "$("$CAIRN" --home "$n" id)" --region eu --jurisdiction DE --role "$r" --out "$n.cert" >/dev/null
    "$CAIRN" --home "$n" org join "$n.cert" "$PUB" >/dev/null || fail "org join $n"
  done
}

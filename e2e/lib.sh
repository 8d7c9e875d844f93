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

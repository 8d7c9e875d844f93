#!/usr/bin/env bash
# Ollama's API on a daemon's HTTP port, checked with the official ollama
# npm client: a holder with the fixture model (greedy output must equal
# llama.cpp's), then an edge that holds nothing pulls the model from the
# holder with /api/pull (Ollama's progress lines) and is checked the same.
FIX="$(cd "$(dirname "$0")/.." && pwd)/testdata"
if [ ! -f "$FIX/stories260K.gguf" ] || [ ! -f "$FIX/stories260K.expected.txt" ]; then
  echo "FAIL e2e/ollama.sh: fixtures missing ($FIX/stories260K.gguf, stories260K.expected.txt; see testdata/README.md)" >&2
  exit 1
fi
source "$(dirname "$0")/lib.sh"
DIR="$ROOT/e2e/ollama"
(cd "$DIR" && timeout 300 npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1) || fail "npm ci: $(tail -n 20 "$WORK/npm.log")"

cd "$WORK"
C="$CAIRN"
# llama.cpp's greedy continuation, prompt excluded (it echoes " Once upon a time").
node -e '
const s = require("fs").readFileSync(process.argv[1], "utf8");
const out = s.slice(s.indexOf("=== OUTPUT ===\n") + 15).replace(/\n+$/, "");
const p = " Once upon a time";
if (!out.startsWith(p)) { console.error("expected output lacks the prompt"); process.exit(1); }
process.stdout.write(out.slice(p.length));' "$FIX/stories260K.expected.txt" >expected.txt || fail "expected text"

for n in holder edge; do "$C" --home $n init >/dev/null; done
PUB=$("$C" org init --key org.key)
for n in holder edge; do
  "$C" org issue --key org.key --org acme --peer "$("$C" --home $n id)" --region eu --jurisdiction DE --role $n --out $n.cert
  "$C" --home $n org join $n.cert "$PUB" >/dev/null
done
"$C" --home holder add "$FIX/stories260K.gguf" --repo acme/stories >/dev/null || fail "add"
start_daemon holder
HOLDER=$(http_addr holder)
[ -n "$HOLDER" ] || fail "no HTTP address for holder"
start_daemon edge --bootstrap "$(first_addr holder)"
EDGE=$(http_addr edge)
[ -n "$EDGE" ] || fail "no HTTP address for edge"
for _ in $(seq 1 100); do "$C" --home edge peers --json | grep -q '"peer"' && break; sleep 0.1; done
"$C" --home edge ls --json | grep -q acme/stories && fail "edge holds acme/stories before the pull"

timeout 300 node "$DIR/test.mjs" "http://$HOLDER" acme/stories expected.txt "http://$EDGE" || fail "ollama client checks"
"$C" --home edge ls --json | grep -q acme/stories || fail "edge store lacks acme/stories after /api/pull"
# The generations on the edge ran there, not forwarded to the holder.
grep -q 'model loaded' "$WORK/edge.log" || fail "edge did not load the model itself"
echo "PASS e2e/ollama.sh: ollama npm client against a holder, and an edge after /api/pull"

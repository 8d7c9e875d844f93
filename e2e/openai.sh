#!/usr/bin/env bash
# The OpenAI-compatible API of a daemon, checked with the official openai
# npm client against the fixture model (greedy output must equal
# llama.cpp's); then pull on demand: an edge node that does not hold the
# model answers three concurrent requests after one pull from a mirror.
FIX="$(cd "$(dirname "$0")/.." && pwd)/testdata"
if [ ! -f "$FIX/stories260K.gguf" ] || [ ! -f "$FIX/stories260K.expected.txt" ]; then
  echo "FAIL e2e/openai.sh: fixtures missing ($FIX/stories260K.gguf, stories260K.expected.txt; see testdata/README.md)" >&2
  exit 1
fi
source "$(dirname "$0")/lib.sh"
DIR="$ROOT/e2e/openai"
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

for n in mirror edge; do "$C" --home $n init >/dev/null; done
PUB=$("$C" org init --key org.key)
for n in mirror edge; do
  "$C" org issue --key org.key --org acme --peer "$("$C" --home $n id)" --region eu --jurisdiction DE --role $n --out $n.cert
  "$C" --home $n org join $n.cert "$PUB" >/dev/null
done
"$C" --home mirror add "$FIX/stories260K.gguf" --repo acme/stories >/dev/null || fail "add"
start_daemon mirror
ADDR=$(http_addr mirror)
[ -n "$ADDR" ] || fail "no HTTP address for mirror"

timeout 120 node "$DIR/test.mjs" "http://$ADDR/v1" acme/stories expected.txt || fail "openai client checks"

# cairn run through the running daemon.
"$C" --home mirror run acme/stories "Once upon a time" --max-tokens 64 --temperature 0 --json >run.json || fail "cairn run"
node -e 'const r=JSON.parse(require("fs").readFileSync("run.json","utf8"));const w=require("fs").readFileSync("expected.txt","utf8");
if(r.text!==w||r.completion_tokens!==64||!(r.decode_tokens_per_s>0)){console.error(JSON.stringify(r));process.exit(1)}' || fail "cairn run --json differs"

# Pull on demand: the edge holds nothing; three concurrent requests share
# one pull from the mirror and all get llama.cpp's text.
start_daemon edge --bootstrap "$(first_addr mirror)"
EDGE=$(http_addr edge)
for _ in $(seq 1 100); do "$C" --home edge peers --json | grep -q '"peer"' && break; sleep 0.1; done
for i in 1 2 3; do
  curl -sS --max-time 120 "http://$EDGE/v1/completions" -H 'Content-Type: application/json' \
    -d '{"model":"acme/stories","prompt":"Once upon a time","max_tokens":64,"temperature":0}' >edge-$i.json &
  CURLS+=($!)
done
for p in "${CURLS[@]}"; do wait "$p" || fail "edge request failed"; done
for i in 1 2 3; do
  node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const w=require("fs").readFileSync("expected.txt","utf8");
if(!r.choices||r.choices[0].text!==w){console.error(JSON.stringify(r));process.exit(1)}' edge-$i.json || fail "edge answer $i differs"
done
pulls=$(grep -c 'msg="model pull"' "$WORK/edge.log" || true)
[ "$pulls" = 1 ] || fail "edge pulled $pulls times, want 1"
"$C" --home edge ls --json | grep -q acme/stories || fail "edge store lacks acme/stories after the pull"
echo "PASS e2e/openai.sh: openai npm client against the daemon; edge pulled acme/stories once for 3 concurrent requests"

#!/usr/bin/env bash
# The OpenAI-compatible API of a daemon, checked with the official openai
# npm client against the fixture model (greedy output must equal
# llama.cpp's) and the embedding fixture (embeddings.create must give
# llama.cpp's vectors); then pull on demand: an edge node that does not
# hold the model answers three concurrent requests after one pull from a
# mirror.
source "$(dirname "$0")/lib.sh"
need_fixtures
DIR="$ROOT/e2e/openai"
npm_ci "$DIR"

cd "$WORK"
C="$CAIRN"
expected_continuation
members - mirror edge
"$C" --home mirror add "$FIX/stories260K.gguf" --repo acme/stories >/dev/null || fail "add"
"$C" --home mirror add "$FIX/embed/bert-mini-f16.gguf" --repo acme/embed >/dev/null || fail "add embedding model"
start_daemon mirror
ADDR=$(http_addr mirror)
[ -n "$ADDR" ] || fail "no HTTP address for mirror"

timeout 120 node "$DIR/test.mjs" "http://$ADDR/v1" acme/stories expected.txt || fail "openai client checks"
timeout 120 node "$DIR/embed.mjs" "http://$ADDR/v1" acme/embed "$FIX/embed/bert-mini-f16.llama.json" acme/stories || fail "openai client embeddings"

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
echo "PASS e2e/openai.sh: openai npm client against the daemon (completions, chat, embeddings); edge pulled acme/stories once for 3 concurrent requests"

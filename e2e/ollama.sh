#!/usr/bin/env bash
# Ollama's API on a daemon's HTTP port, checked with the official ollama
# npm client: a holder with the fixture model (greedy output must equal
# llama.cpp's), then an edge that holds nothing pulls the model from the
# holder with /api/pull (Ollama's progress lines) and is checked the same.
# The holder also serves the embedding fixture: ollama.embed must give
# llama.cpp's vectors.
source "$(dirname "$0")/lib.sh"
need_fixtures
DIR="$ROOT/e2e/ollama"
npm_ci "$DIR"

cd "$WORK"
C="$CAIRN"
expected_continuation
members - holder edge
"$C" --home holder add "$FIX/stories260K.gguf" --repo acme/stories >/dev/null || fail "add"
"$C" --home holder add "$FIX/embed/bert-mini-f16.gguf" --repo acme/embed >/dev/null || fail "add embedding model"
start_daemon holder
HOLDER=$(http_addr holder)
[ -n "$HOLDER" ] || fail "no HTTP address for holder"
start_daemon edge --bootstrap "$(first_addr holder)"
EDGE=$(http_addr edge)
[ -n "$EDGE" ] || fail "no HTTP address for edge"
for _ in $(seq 1 100); do "$C" --home edge peers --json | grep -q '"peer"' && break; sleep 0.1; done
"$C" --home edge ls --json | grep -q acme/stories && fail "edge holds acme/stories before the pull"

timeout 300 node "$DIR/test.mjs" "http://$HOLDER" acme/stories expected.txt "http://$EDGE" || fail "ollama client checks"
timeout 120 node "$DIR/embed.mjs" "http://$HOLDER" acme/embed "$FIX/embed/bert-mini-f16.llama.json" acme/stories || fail "ollama client embeddings"
"$C" --home edge ls --json | grep -q acme/stories || fail "edge store lacks acme/stories after /api/pull"
# The generations on the edge ran there, not forwarded to the holder.
grep -q 'model loaded' "$WORK/edge.log" || fail "edge did not load the model itself"
echo "PASS e2e/ollama.sh: ollama npm client against a holder (generate, chat, embed), and an edge after /api/pull"

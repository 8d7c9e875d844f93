#!/usr/bin/env bash
# The reference topology (docker-compose.yml, deploy/setup.sh): first the
# compose file is validated (docker compose / docker-compose config, or a
# structural check with node when neither can be had); then the same
# nodes run as separate cairn processes on 127.0.0.1 — mirror-de (DE),
# mirror-fr (FR), airgap (DE, no upstream), edge (DE) and edge-thin (DE,
# local inference off) — and the whole flow is checked with the openai
# npm client:
#   - the model goes into mirror-fr (cairn add) and is replicated per
#     policy to mirror-de; acme/fr-* may not leave FR;
#   - edge-thin forwards to mirror-de, the only replica allowed to process
#     prompts (FR is not), and the greedy text equals llama.cpp's;
#   - a model held only in FR is refused with 403 jurisdiction_not_allowed;
#   - edge, lacking the model, forwards while it pulls, then serves itself;
#   - the air-gapped node gets the model from mirror-de alone;
#   - cairn peers --models and /metrics show the routes and the counts.
# Exit 0 only when every step passed.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

# 1. The compose file.
validated=""
if docker compose version >/dev/null 2>&1; then
  (cd "$ROOT" && docker compose -f docker-compose.yml config -q) || { echo "FAIL: docker compose config" >&2; exit 1; }
  validated="docker compose config"
else
  if ! command -v docker-compose >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    timeout 120 apt-get install -y -qq docker-compose >/dev/null 2>&1 || true
  fi
  if command -v docker-compose >/dev/null 2>&1; then
    (cd "$ROOT" && docker-compose -f docker-compose.yml config -q) || { echo "FAIL: docker-compose config" >&2; exit 1; }
    validated="docker-compose config ($(docker-compose version --short 2>/dev/null || echo '?'))"
  else
    node "$HERE/topology/compose-check.mjs" "$ROOT/docker-compose.yml" || { echo "FAIL: compose structure" >&2; exit 1; }
    validated="structural check with node (no docker compose / docker-compose available)"
  fi
fi
echo "compose file validated: $validated"

FIX="$ROOT/testdata"
if [ ! -f "$FIX/stories260K.gguf" ] || [ ! -f "$FIX/stories260K.expected.txt" ]; then
  echo "FAIL e2e/topology.sh: fixtures missing ($FIX/stories260K.gguf, stories260K.expected.txt; see testdata/README.md)" >&2
  exit 1
fi
source "$HERE/lib.sh"
DIR="$HERE/topology"
(cd "$DIR" && timeout 300 npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1) || fail "npm ci: $(tail -n 20 "$WORK/npm.log")"
cd "$WORK"
C="$CAIRN"
node -e '
const s = require("fs").readFileSync(process.argv[1], "utf8");
const out = s.slice(s.indexOf("=== OUTPUT ===\n") + 15).replace(/\n+$/, "");
const p = " Once upon a time";
if (!out.startsWith(p)) { console.error("expected output lacks the prompt"); process.exit(1); }
process.stdout.write(out.slice(p.length));' "$FIX/stories260K.expected.txt" >expected.txt || fail "expected text"

# 2. Homes, certificates, policy: the deployment's own script.
CAIRN="$C" BOOTSTRAP=0 "$ROOT/deploy/setup.sh" "$WORK/homes" >setup.log 2>&1 || fail "deploy/setup.sh: $(tail -n 5 setup.log)"
H="$WORK/homes"
id_of() { awk -v n="$1" '$1==n{print $2}' "$H/ids.txt"; }

"$C" --home "$H/mirror-fr" add "$FIX/stories260K.gguf" --repo acme/stories >/dev/null || fail "add acme/stories"
"$C" --home "$H/mirror-fr" add "$FIX/stories260K.gguf" --repo acme/fr-stories >/dev/null || fail "add acme/fr-stories"
start_daemon "$H/mirror-de"
DE_ADDR=$(first_addr "$H/mirror-de")
start_daemon "$H/mirror-fr" --bootstrap "$DE_ADDR"
FR_ADDR=$(first_addr "$H/mirror-fr")
wait_peers() { # HOME N
  for _ in $(seq 1 100); do
    [ "$("$C" --home "$1" peers --json | grep -c '"peer"')" -ge "$2" ] && return 0
    sleep 0.1
  done
  fail "$(basename "$1") sees fewer than $2 peers"
}
wait_peers "$H/mirror-de" 1

# 3. Replication per policy: two replicas of acme/* (DE and FR may hold
# it) -> mirror-de takes one; acme/fr-* stays in FR.
if "$C" --help | awk '/^   pin /{f=1} END{exit !f}'; then
  "$C" --home "$H/mirror-fr" pin acme/stories --replicas 2 >/dev/null || fail "pin acme/stories"
  for _ in $(seq 1 600); do "$C" --home "$H/mirror-de" ls --json 2>/dev/null | grep -q '"acme/stories"' && break; sleep 0.1; done
  "$C" --home "$H/mirror-de" ls --json | grep -q '"acme/stories"' || fail "mirror-de did not take its replica of acme/stories: $("$C" --home "$H/mirror-fr" status acme/stories 2>&1)"
  "$C" --home "$H/mirror-fr" status acme/stories || true
  replicated="cairn pin"
else
  "$C" --home "$H/mirror-de" get acme/stories --out "$WORK/rep-de0" >/dev/null 2>"$WORK/get-de.err" || fail "mirror-de get acme/stories: $(cat "$WORK/get-de.err")"
  replicated="cairn get (no cairn pin in this build)"
fi
"$C" --home "$H/mirror-de" get acme/stories --out "$WORK/rep-de" >/dev/null 2>"$WORK/get-de.err" || fail "mirror-de get acme/stories: $(cat "$WORK/get-de.err")"
cmp -s "$WORK/rep-de/stories260K.gguf" "$FIX/stories260K.gguf" || fail "replica on mirror-de differs"
if "$C" --home "$H/mirror-de" get acme/fr-stories --out "$WORK/rep-de2" >/dev/null 2>"$WORK/get-de2.err"; then
  fail "mirror-de got acme/fr-stories, which the policy keeps in FR"
fi
echo "replicated acme/stories FR -> DE with $replicated; acme/fr-stories refused to DE: $(head -c 200 "$WORK/get-de2.err")"

# 4. Edge nodes.
start_daemon "$H/edge-thin" --bootstrap "$DE_ADDR" --bootstrap "$FR_ADDR"
start_daemon "$H/edge" --bootstrap "$DE_ADDR" --bootstrap "$FR_ADDR"
wait_peers "$H/edge-thin" 2
wait_peers "$H/edge" 2
THIN=$(http_addr "$H/edge-thin")
EDGE=$(http_addr "$H/edge")
[ -n "$THIN" ] && [ -n "$EDGE" ] || fail "no HTTP address for the edges"

# Local inference off: forwarded to mirror-de (FR holds it too, but may
# not process its prompts).
timeout 180 node "$DIR/test.mjs" serve "http://$THIN/v1" acme/stories expected.txt "$(id_of mirror-de)" forwarded || fail "edge-thin: forwarded answer"
# Held only in FR: refused, clearly.
timeout 60 node "$DIR/test.mjs" refused "http://$THIN/v1" acme/fr-stories FR || fail "edge-thin: refusal of acme/fr-stories"
grep -q '"kind":"deny".*acme/fr-stories\|acme/fr-stories.*"kind":"deny"' "$H/edge-thin/audit.log" || fail "edge-thin audit log lacks the refusal"

# The edge lacks the model: mirror-de has it loaded, so the first request
# is forwarded while the edge pulls it; then the edge answers itself.
timeout 120 node "$DIR/test.mjs" first "http://$EDGE/v1" acme/stories expected.txt "$(id_of mirror-de)" forwarded || fail "edge: first request not forwarded"
for _ in $(seq 1 200); do "$C" --home "$H/edge" ls --json 2>/dev/null | grep -q acme/stories && break; sleep 0.1; done
"$C" --home "$H/edge" ls --json | grep -q acme/stories || fail "edge did not pull acme/stories in the background"
timeout 180 node "$DIR/test.mjs" serve "http://$EDGE/v1" acme/stories expected.txt "$(id_of edge)" local || fail "edge: local answer after the pull"

# The edge serves models itself, but may not hold acme/fr-*: refused too.
timeout 60 node "$DIR/test.mjs" refused "http://$EDGE/v1" acme/fr-stories FR || fail "edge: refusal of acme/fr-stories"

# 5. The air-gapped node: no upstream, the model from mirror-de.
start_daemon "$H/airgap" --bootstrap "$DE_ADDR"
wait_peers "$H/airgap" 1
"$C" --home "$H/airgap" get acme/stories --out "$WORK/rep-airgap" >/dev/null 2>"$WORK/get-ag.err" || fail "airgap get: $(cat "$WORK/get-ag.err")"
cmp -s "$WORK/rep-airgap/stories260K.gguf" "$FIX/stories260K.gguf" || fail "airgap copy differs"

# 6. Routing view and metrics.
"$C" --home "$H/edge-thin" peers --models >routes.txt || fail "peers --models"
cat routes.txt
grep "$(id_of mirror-de)" routes.txt | grep acme/stories | grep -q "loaded.*allowed" || fail "routes: mirror-de should serve acme/stories loaded and allowed"
grep "$(id_of mirror-fr)" routes.txt | grep acme/fr-stories | grep -q "refused" || fail "routes: mirror-fr should be refused for acme/fr-stories"
curl -sS "http://$THIN/metrics" >metrics.txt || fail "GET /metrics"
grep -q "cairn_forwarded_requests_total{outcome=\"ok\",peer=\"$(id_of mirror-de)\"} [1-9]" metrics.txt || fail "metrics: no forwarded requests to mirror-de: $(grep cairn_forwarded metrics.txt)"
grep -q 'cairn_inference_requests_total{route="refused"} 2$' metrics.txt || fail "metrics: refused requests: $(grep cairn_inference_requests metrics.txt)"
if grep -q "peer=\"$(id_of mirror-fr)\"" metrics.txt; then fail "metrics: a request went to mirror-fr"; fi
# Into a file first: grep -q closing the pipe early would fail curl under pipefail.
curl -sS "http://$(http_addr "$H/mirror-de")/metrics" >metrics-de.txt || fail "GET mirror-de /metrics"
grep -q 'cairn_inference_requests_total{route="served_for_peer"}' metrics-de.txt || fail "mirror-de metrics lack served_for_peer"
echo "PASS e2e/topology.sh: compose ($validated); DE/FR mirrors, air-gapped node, edges; forwarded to the nearest allowed replica, FR refused for prompts, edge pulled then served locally"

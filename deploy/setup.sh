#!/usr/bin/env bash
# Generates the homes of the reference topology (docker-compose.yml): an
# organisation key, five nodes with their certificates, configuration and
# the signed residency policy.
#
#   deploy/setup.sh [OUT]      (default OUT: deploy/homes, git-ignored)
#
# Nodes (jurisdiction, role):
#   mirror-de  DE  mirror   holds replicas, serves peers and inference
#   mirror-fr  FR  mirror   holds replicas; the policy keeps prompts out of FR
#   airgap     DE  site     no upstream (upstream.offline), reaches mirror-de only;
#                           not a mirror: takes no replicas, gets what it asks for
#   edge       DE  edge     answers OpenAI requests: locally, or forwarded
#   edge-thin  DE  edge     local inference off: forwards every request
#
# Environment: CAIRN (binary; default: built from this checkout),
# BOOTSTRAP=0 to leave p2p.bootstrap empty (e2e/topology.sh dials peers
# itself), HTTP_ADDR / P2P_PORT (defaults 0.0.0.0:8080 / 4001, the ports
# the containers use).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/deploy/homes}"
BOOTSTRAP="${BOOTSTRAP:-1}"
HTTP_ADDR="${HTTP_ADDR:-0.0.0.0:8080}"
P2P_PORT="${P2P_PORT:-4001}"
if [ -z "${CAIRN:-}" ]; then
  CAIRN="$OUT/.bin/cairn"
  mkdir -p "$OUT/.bin"
  (cd "$ROOT" && CGO_ENABLED=0 go build -o "$CAIRN" ./cmd/cairn)
fi
if [ -e "$OUT/org.key" ]; then
  echo "setup: $OUT already holds a topology (remove it to start again)" >&2
  exit 1
fi
mkdir -p "$OUT"
cd "$OUT"

# name jurisdiction region role
NODES=(
  "mirror-de DE eu-central mirror"
  "mirror-fr FR eu-west mirror"
  "airgap DE site-a site"
  "edge DE eu-central edge"
  "edge-thin DE eu-central edge"
)
PUB=$("$CAIRN" org init --key org.key)
declare -A ID
for spec in "${NODES[@]}"; do
  read -r name juris region role <<<"$spec"
  "$CAIRN" --home "$name" init >/dev/null
  ID[$name]=$("$CAIRN" --home "$name" id)
  "$CAIRN" org issue --key org.key --org acme --peer "${ID[$name]}" --region "$region" \
    --jurisdiction "$juris" --role "$role" --out "$name.cert" >/dev/null
  "$CAIRN" --home "$name" org join "$name.cert" "$PUB" >/dev/null
done

# Who dials whom at start (compose service names resolve on the network).
peer() { echo "/dns4/$1/tcp/$P2P_PORT/p2p/${ID[$1]}"; }
declare -A BOOT=(
  [mirror-de]="$(peer mirror-fr)"
  [mirror-fr]="$(peer mirror-de)"
  [airgap]="$(peer mirror-de)"
  [edge]="$(peer mirror-de) $(peer mirror-fr)"
  [edge-thin]="$(peer mirror-de) $(peer mirror-fr)"
)

cat >policy.yaml <<'POLICY'
# Residency policy of acme (signed with org.key, flooded to every member).
repos:
  # Held only in FR; prompts may be processed only in DE: no node may
  # answer prompts for it (an edge refuses with a clear 403).
  - match: "acme/fr-*"
    hold: [FR]
    receive: [FR]
    prompts: [DE]
  # Replicated in DE and FR; prompts stay in DE.
  - match: "acme/*"
    hold: [DE, FR]
    receive: [DE, FR]
    prompts: [DE]
    replicas: {min: 2, max: 2}
POLICY
"$CAIRN" policy sign --key org.key --version 1 --out policy.signed policy.yaml >/dev/null

for spec in "${NODES[@]}"; do
  read -r name _ _ _ <<<"$spec"
  cfg="$name/config.yaml"
  sed -i "s#^  addr: .*#  addr: $HTTP_ADDR#" "$cfg"
  sed -i "s#/tcp/4001#/tcp/$P2P_PORT#; s#/udp/4001/#/udp/$P2P_PORT/#" "$cfg"
  if [ "$BOOTSTRAP" = 1 ]; then
    list=""
    for a in ${BOOT[$name]}; do list="$list\n    - $a"; done
    sed -i "s#^  bootstrap: \[\]#  bootstrap:$list#" "$cfg"
  fi
  case $name in
    airgap) sed -i 's#^  offline: false#  offline: true#' "$cfg" ;;
    edge-thin) sed -i 's#^  disabled: false#  disabled: true#' "$cfg" ;;
  esac
  "$CAIRN" --home "$name" policy set policy.signed >/dev/null
  echo "$name ${ID[$name]}"
done >ids.txt
echo "setup: homes in $OUT (org key: $OUT/org.key — keep it apart from the nodes)"
cat ids.txt

#!/usr/bin/env bash
# A network that is not a full mesh: N daemons (default 12) on 127.0.0.1,
# each bootstrapped only to the one before it (a chain), with --max-peers 6.
# The control plane (gossip) carries a policy and a revocation list from the
# first node to every other within 5 s; `cairn get` on the last node finds
# the only holder, the first, through the gossiped holdings; `cairn pin
# --replicas 3` reaches its target with every node reporting the same one;
# no node keeps more than max-peers connections once the connection
# manager has trimmed (new connections are spared for its grace period).
source "$(dirname "$0")/lib.sh"
# CAIRN_NETWORK_LOGS=DIR keeps the daemons' logs of a failed run there.
if [ -n "${CAIRN_NETWORK_LOGS:-}" ]; then
  eval "orig_$(declare -f fail)"
  fail() { mkdir -p "$CAIRN_NETWORK_LOGS" && cp "$WORK"/*.log "$CAIRN_NETWORK_LOGS"/ 2>/dev/null; orig_fail "$@"; }
fi
cd "$WORK"
C="$CAIRN"
N=${CAIRN_NETWORK_NODES:-12}
MAXP=6
json() { node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);console.log($1)})"; }
now_ms() { date +%s%3N; }

PUB=$("$C" org init --key org.key)
for i in $(seq 1 "$N"); do
  "$C" --home "n$i" init >/dev/null
  "$C" org issue --key org.key --org acme --peer "$("$C" --home "n$i" id)" --region eu --jurisdiction DE --role mirror --serial "s$i" --out "n$i.cert" >/dev/null
  "$C" --home "n$i" org join "n$i.cert" "$PUB" >/dev/null
done
mkdir model
node -e 'const fs=require("fs");const b=Buffer.alloc(2<<20);for(let i=0;i<b.length;i+=4)b.writeUInt32LE((i*2654435761)>>>0,i);fs.writeFileSync("model/weights.bin",b);fs.writeFileSync("model/config.json","{\"model_type\":\"llama\"}")'
"$C" --home n1 add model --repo acme/m >/dev/null

start_daemon n1 --max-peers "$MAXP"
for i in $(seq 2 "$N"); do
  start_daemon "n$i" --max-peers "$MAXP" --bootstrap "$(first_addr "n$((i - 1))")"
done
IDS=()
for i in $(seq 1 "$N"); do IDS+=("$("$C" --home "n$i" id)"); done

# Settled: every node has a member connected, and the last one has heard
# the first one's holdings (gossip reached the end of the chain).
for _ in $(seq 1 300); do
  ok=1
  for i in $(seq 1 "$N"); do
    [ "$("$C" --home "n$i" peers --json | json 'j.peers.length')" -ge 1 ] || { ok=0; break; }
  done
  [ $ok = 1 ] && break
  sleep 0.2
done
[ $ok = 1 ] || fail "not every node has a peer"
sleep 3 # two gossip heartbeats: the meshes on the last links stand

# A policy set on the first node is in force on the last within 5 s.
printf '%s\n' 'repos:' '  - match: "*"' '    hold: [DE]' '    receive: [DE]' '    prompts: [DE]' >policy.yaml
"$C" policy sign --key org.key --version 7 --out policy.signed policy.yaml >/dev/null
t0=$(now_ms)
"$C" --home n1 policy set policy.signed >/dev/null || fail "policy set"
until [ "$("$C" --home "n$N" policy show --json 2>/dev/null | json 'j.version' 2>/dev/null)" = 7 ]; do
  [ $(($(now_ms) - t0)) -lt 5000 ] || fail "policy not in force on n$N within 5 s"
  sleep 0.1
done
policy_ms=$(($(now_ms) - t0))

# The last node gets a repo only the first holds.
"$C" --home "n$N" get acme/m --out out >/dev/null 2>get.log || fail "n$N could not get acme/m: $(cat get.log)"
cmp model/weights.bin out/weights.bin || fail "n$N: bytes differ"

# A pin with 3 replicas reaches its target; every node reports the same.
"$C" --home n1 pin acme/m --replicas 3 >/dev/null || fail "pin"
for _ in $(seq 1 120); do
  targets=$(for i in $(seq 1 "$N"); do "$C" --home "n$i" status acme/m --json | json 'j.target.slice().sort().join(",")' || echo "n$i: no status"; done | sort -u)
  met=$("$C" --home n1 status acme/m --json | json 'j.met' || true)
  [ "$(echo "$targets" | wc -l)" = 1 ] && [ "$(echo "$targets" | tr ',' '\n' | grep -c .)" = 3 ] && [ "$met" = true ] && break
  sleep 0.5
done
[ "$(echo "$targets" | wc -l)" = 1 ] || fail "nodes report different targets: $targets"
[ "$met" = true ] || fail "pin target not met: $("$C" --home n1 status acme/m)"

# A revocation issued on the first node disconnects the revoked (last)
# node everywhere within 5 s.
LAST=${IDS[$((N - 1))]}
"$C" org revoke --key org.key --org acme --serial "s$N" --version 1 --out revoked.signed >/dev/null
t0=$(now_ms)
"$C" --home n1 org revocations revoked.signed >/dev/null || fail "org revocations"
for i in $(seq 1 $((N - 1))); do
  while "$C" --home "n$i" peers --json | grep -q "\"$LAST\""; do
    [ $(($(now_ms) - t0)) -lt 5000 ] || fail "n$i still connected to the revoked n$N after 5 s"
    sleep 0.1
  done
done
revoke_ms=$(($(now_ms) - t0))

# Bounded connections: at most max-peers unprotected ones (protected: relays,
# transfers, and GossipSub's mesh peers, which pubsub protects itself), once
# the grace period of new connections (30 s) is over.
for _ in $(seq 1 200); do
  worst=0 most=0
  for i in $(seq 1 $((N - 1))); do
    c=$("$C" --home "n$i" peers --json | json 'j.peers.filter(p=>!p.protected).length')
    t=$("$C" --home "n$i" peers --json | json 'j.peers.length')
    [ "$c" -gt "$worst" ] && worst=$c
    [ "$t" -gt "$most" ] && most=$t
  done
  [ "$worst" -le "$MAXP" ] && break
  sleep 0.3
done
[ "$worst" -le "$MAXP" ] || fail "a node keeps $worst unprotected connections, more than --max-peers $MAXP"
echo "e2e network: $N nodes in a chain: policy on the last in ${policy_ms} ms, revoked node disconnected everywhere in ${revoke_ms} ms, get and pin --replicas 3 ok, at most $worst unprotected connections per node ($most in all)"

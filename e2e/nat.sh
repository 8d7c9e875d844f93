#!/usr/bin/env bash
# An edge node behind a real NAT (network namespaces: a router namespace
# masquerading the edge's private network): nobody on the public side can
# dial it, yet a member fetches its holdings and forwards inference to it
# through the circuit relay the mirror offers. Needs root, ip netns and
# iptables (.ci/run installs them); says SKIP where the kernel refuses.
# Addresses are 10.77.x inside the namespaces this script makes, only.
source "$(dirname "$0")/lib.sh"
C="$CAIRN"
NS=(cnat-pub cnat-rtr cnat-edge)
netns_cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  cleanup
}
trap netns_cleanup EXIT
if [ "$(id -u)" != 0 ] || ! command -v iptables >/dev/null || ! ip netns add "${NS[0]}" 2>/dev/null; then
  echo "SKIP e2e/nat.sh: needs root, iptables and network namespaces (ip netns add refused or missing)"
  exit 0
fi
ip netns add "${NS[1]}" && ip netns add "${NS[2]}" || fail "ip netns add"
# Daemons start with `ip netns exec` itself (it execs the command), never
# through this function: $! of a backgrounded function is a subshell, and
# killing it would leave the daemon running.
pub() { ip netns exec cnat-pub "$@"; }
set -e
ip link add cnat0 type veth peer name cnat1
ip link add cnat2 type veth peer name cnat3
ip link set cnat0 netns cnat-pub; ip link set cnat1 netns cnat-rtr
ip link set cnat2 netns cnat-edge; ip link set cnat3 netns cnat-rtr
ip -n cnat-pub addr add 10.77.1.2/24 dev cnat0
ip -n cnat-rtr addr add 10.77.1.1/24 dev cnat1
ip -n cnat-rtr addr add 10.77.2.1/24 dev cnat3
ip -n cnat-edge addr add 10.77.2.2/24 dev cnat2
for l in "cnat-pub cnat0" "cnat-rtr cnat1" "cnat-rtr cnat3" "cnat-edge cnat2" "cnat-pub lo" "cnat-rtr lo" "cnat-edge lo"; do
  set -- $l; ip -n "$1" link set "$2" up
done
ip -n cnat-edge route add default via 10.77.2.1
ip netns exec cnat-rtr sysctl -qw net.ipv4.ip_forward=1
ip netns exec cnat-rtr iptables -t nat -A POSTROUTING -o cnat1 -j MASQUERADE
set +e

cd "$WORK"
expected_continuation
members mirror mirror
members edge edge client
"$C" --home edge add "$ROOT/testdata/stories260K.gguf" --repo acme/stories >/dev/null || fail "add"
MIRROR=/ip4/10.77.1.2/tcp/4101/p2p/$("$C" --home mirror id)

# The mirror offers relaying (its role's default); the edge, behind the
# NAT, keeps a reservation on its bootstrap peer (its role's default).
ip netns exec cnat-pub "$C" --home "$WORK/mirror" daemon --http 127.0.0.1:0 --listen /ip4/10.77.1.2/tcp/4101 >"$WORK/mirror.log" 2>&1 &
PIDS+=($!)
sleep 1
ip netns exec cnat-edge "$C" --home "$WORK/edge" daemon --http 127.0.0.1:0 --listen /ip4/10.77.2.2/tcp/4102 --bootstrap "$MIRROR" >"$WORK/edge.log" 2>&1 &
PIDS+=($!)
# The client may not run the model itself (too little memory): it forwards.
CAIRN_INFERENCE_MEMORY=1 ip netns exec cnat-pub "$C" --home "$WORK/client" daemon --http 127.0.0.1:18431 --listen /ip4/10.77.1.2/tcp/4103 --bootstrap "$MIRROR" >"$WORK/client.log" 2>&1 &
PIDS+=($!)

relayed=""
for _ in $(seq 1 150); do
  relayed=$("$C" --home edge id --json 2>/dev/null | grep -o '"/ip4/10.77.1.2/[^"]*/p2p-circuit/[^"]*"' | head -1)
  [ -n "$relayed" ] && break
  sleep 0.2
done
[ -n "$relayed" ] || fail "the edge advertises no relayed address"
if pub bash -c 'exec 3<>/dev/tcp/10.77.2.2/4102' 2>/dev/null; then fail "the public side reached the edge directly: no NAT"; fi

# The client fetches what only the edge holds: found through the gossiped
# holdings, dialled through the relay.
got=0
for i in $(seq 1 40); do
  if "$C" --home client get acme/stories --out out >get.log 2>&1; then got=$i; break; fi
  sleep 1
done
[ "$got" != 0 ] || fail "get through the relay: $(tail -n 3 get.log)"
cmp -s out/stories260K.gguf "$ROOT/testdata/stories260K.gguf" || fail "fetched file differs"

# Inference forwarded to the edge through the relay: greedy text is the
# start of llama.cpp's.
pub curl -sS --max-time 120 -D headers.txt http://127.0.0.1:18431/v1/completions -H 'Content-Type: application/json' \
  -d '{"model":"acme/stories","prompt":"Once upon a time","max_tokens":16,"temperature":0}' >completion.json || fail "completion request"
grep -qi '^x-cairn-route: forwarded' headers.txt || fail "not forwarded: $(cat headers.txt completion.json)"
node -e 'const r=JSON.parse(require("fs").readFileSync("completion.json","utf8"));const w=require("fs").readFileSync("expected.txt","utf8");
if(!r.choices||!w.startsWith(r.choices[0].text)||r.usage.completion_tokens!==16){console.error(JSON.stringify(r));process.exit(1)}' || fail "forwarded answer differs"
grep -q 'model loaded' "$WORK/edge.log" || fail "the edge never loaded the model"
echo "PASS e2e/nat.sh: edge behind NAT reachable only through the relay ($relayed); get after $got tries, sha256 ok; inference forwarded to it"

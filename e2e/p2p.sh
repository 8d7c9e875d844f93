#!/usr/bin/env bash
# Separate cairn processes form a certificate-gated network: two members
# fetch a repo from a third, an outsider's node gets refused.
source "$(dirname "$0")/lib.sh"
cd "$WORK"
C="$CAIRN"
for n in a b c x; do "$C" --home "$n" init >/dev/null; done
PUB=$("$C" org init --key org.key)
EVIL=$("$C" org init --key other.key)
for n in a b c; do
  "$C" org issue --key org.key --org acme --peer "$("$C" --home $n id)" --region eu --jurisdiction DE --role mirror --out $n.cert
  "$C" --home $n org join $n.cert "$PUB" >/dev/null
done
# x holds a certificate of an organisation the others do not trust, and
# trusts acme itself.
"$C" org issue --key other.key --org evil --peer "$("$C" --home x id)" --region eu --jurisdiction DE --role mirror --out x.cert
"$C" --home x org join x.cert "$EVIL" >/dev/null
"$C" --home x org trust "$PUB"

mkdir model
node -e 'const fs=require("fs");const b=Buffer.alloc(24<<20);for(let i=0;i<b.length;i+=4)b.writeUInt32LE((i*2654435761)>>>0,i);fs.writeFileSync("model/weights.bin",b);fs.writeFileSync("model/config.json","{\"model_type\":\"llama\"}")'
"$C" --home a add model --repo acme/m >/dev/null
start_daemon a
A=$(first_addr a)
start_daemon b --bootstrap "$A"

"$C" --home b get acme/m --out out-b >/dev/null || fail "b could not get acme/m"
cmp model/weights.bin out-b/weights.bin || fail "b: bytes differ"
# c has no daemon: a short-lived host dials the bootstrap peers of its config.
sed -i "s#bootstrap: \[\]#bootstrap: [\"$A\"]#" c/config.yaml
"$C" --home c get acme/m --out out-c >/dev/null || fail "c could not get acme/m"
cmp model/weights.bin out-c/weights.bin || fail "c: bytes differ"
"$C" --home c verify >/dev/null || fail "c: verify"

# The outsider is refused at connection time and gets nothing.
sed -i "s#bootstrap: \[\]#bootstrap: [\"$A\"]#" x/config.yaml
if "$C" --home x get acme/m --out out-x >x-get.log 2>&1; then fail "outsider got acme/m"; fi
[ ! -e out-x/weights.bin ] || fail "outsider wrote weights"
"$C" --home b peers --json | grep -q '"jurisdiction": "DE"' || fail "b peers lacks a"
grep -q "no peer connected" x-get.log || fail "outsider: unclear error: $(cat x-get.log)"
echo "e2e p2p: 3 passed, 0 failed"

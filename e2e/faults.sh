#!/usr/bin/env bash
# Fault suite with separate cairn processes: rotted blocks on one of three
# holders while clients fetch (nothing wrong delivered, repaired after),
# kill -9 during add, get, gc, bundle import and repair (the store still
# verifies), and audit log tampering (every attempt caught).
source "$(dirname "$0")/lib.sh"
cd "$WORK"
C="$CAIRN"
FAULTS=0 WRONG=0 REPAIRED=0 TAMPER=0 CAUGHT=0 OK=0 FAILED=0

PUB=$("$C" org init --key org.key)
join() { # join HOME: a DE mirror of acme
  "$C" --home "$1" init >/dev/null
  "$C" org issue --key org.key --org acme --peer "$("$C" --home "$1" id)" --region eu --jurisdiction DE --role mirror --out "$1.cert"
  "$C" --home "$1" org join "$1.cert" "$PUB" >/dev/null
}
for n in a b c g1 g2; do join $n; done

mkdir model
node -e 'const fs=require("fs");const b=Buffer.alloc(24<<20);for(let i=0;i<b.length;i+=4)b.writeUInt32LE((i*2654435761)>>>0,i);fs.writeFileSync("model/weights.bin",b);fs.writeFileSync("model/config.json","{\"model_type\":\"llama\"}")'
WANT=$(sha256sum model/weights.bin | cut -d' ' -f1)
for n in a b c; do "$C" --home $n add model --repo acme/m >/dev/null 2>&1; done
start_daemon a
A=$(first_addr a)
start_daemon b --bootstrap "$A"
start_daemon c --bootstrap "$A"
HTTP_A=$(http_addr a)
ALL="\"$A\", \"$(first_addr b)\", \"$(first_addr c)\""

# flip HOME OFFSET...: rot bytes of the home's first pack file in place.
flip() {
  local home=$1; shift
  node -e 'const fs=require("fs");const f=fs.openSync(process.argv[1],"r+");for(const o of process.argv.slice(2)){const b=Buffer.alloc(1);fs.readSync(f,b,0,1,+o);b[0]^=0x5a;fs.writeSync(f,b,0,1,+o)}' \
    "$home/store/packs/00000000.pack" "$@"
}
# check_download FILE EXIT: a completed transfer must carry the right bytes.
check_download() {
  if [ "$2" != 0 ]; then FAILED=$((FAILED + 1)); return; fi
  OK=$((OK + 1))
  if [ "$(sha256sum "$1" | cut -d' ' -f1)" != "$WANT" ]; then
    WRONG=$((WRONG + $(stat -c %s "$1")))
    echo "wrong bytes delivered in $1" >&2
  fi
}

# --- 1. rotted blocks on a while two get clients and an HF client fetch.
flip a 1048576 9437184 17825792
FAULTS=$((FAULTS + 3))
for g in g1 g2; do sed -i "s#bootstrap: \[\]#bootstrap: [$ALL]#" $g/config.yaml; done
( rc=0; "$C" --home g1 get acme/m --out out-g1 >g1.log 2>&1 || rc=$?; echo $rc >g1.rc ) &
G1=$!
( rc=0; "$C" --home g2 get acme/m --out out-g2 >g2.log 2>&1 || rc=$?; echo $rc >g2.rc ) &
G2=$!
set +e
curl -sf -o hf.bin "http://$HTTP_A/acme/m/resolve/main/weights.bin"
HF_RC=$?
set -e
wait $G1 $G2 || true
check_download hf.bin $HF_RC
for g in g1 g2; do
  rc=$(cat $g.rc)
  if [ -f out-$g/weights.bin ] || [ "$rc" != 0 ]; then check_download out-$g/weights.bin "$rc"; fi
done
# The rotted blocks get repaired from b and c (the first reads reported
# them); `verify --repair` repairs what the scrub or reads have not.
"$C" --home a verify --repair >a-verify.log 2>&1 || true
for _ in $(seq 1 100); do
  "$C" --home a verify >/dev/null 2>&1 && break
  sleep 0.2
done
"$C" --home a verify >/dev/null || fail "a: store does not verify after repair"
REPAIRED=$("$C" --home a audit tail -n 100000 --json | grep -c '"kind": "block-repaired"' || true)
[ "$REPAIRED" -ge 1 ] || fail "a: no block-repaired entry"
curl -sf -o hf2.bin "http://$HTTP_A/acme/m/resolve/main/weights.bin" || fail "HF download after repair failed"
[ "$(sha256sum hf2.bin | cut -d' ' -f1)" = "$WANT" ] || fail "HF download after repair: wrong sha256"
for g in g1 g2; do
  if [ "$(cat $g.rc)" != 0 ]; then # a failed get is allowed once; now it must work
    "$C" --home $g get acme/m --out out-$g >/dev/null || fail "$g: get after repair"
  fi
  cmp model/weights.bin out-$g/weights.bin || fail "$g: bytes differ"
done

# --- 2. kill -9 mid-operation; the store verifies after.
# killmid HOME DELAY CMD...: run a cairn command, kill -9 it after DELAY.
killmid() {
  local home=$1 delay=$2; shift 2
  "$C" --home "$home" "$@" >/dev/null 2>&1 &
  local p=$!
  sleep "$delay"
  kill -9 $p 2>/dev/null || true
  wait $p 2>/dev/null || true
  FAULTS=$((FAULTS + 1))
}
consistent() { # the home's store opens, every ref's blocks are there and verify
  "$C" --home "$1" verify >"$1-verify.log" 2>&1 || fail "$1: store does not verify after kill -9 ($2)"
}
join k
killmid k 0.15 add model --repo acme/k
consistent k add
sed -i "s#bootstrap: \[\]#bootstrap: [\"$A\"]#" k/config.yaml
killmid k 0.3 get acme/m --out out-k
consistent k get
"$C" --home k add model --repo acme/k2 >/dev/null 2>&1
"$C" --home k rm acme/k2 >/dev/null
killmid k 0.05 gc
consistent k gc
"$C" --home a bundle export acme/m -o m.car -q >/dev/null
killmid k 0.1 bundle import m.car -q
consistent k "bundle import"
# repair: the daemon dies while repairing; restarted, it finishes.
flip a 5242880
FAULTS=$((FAULTS + 1))
"$C" --home a verify --repair >/dev/null 2>&1 &
VP=$!
sleep 0.05
kill -9 "${PIDS[0]}" 2>/dev/null || true
wait "${PIDS[0]}" 2>/dev/null || true
wait $VP 2>/dev/null || true
FAULTS=$((FAULTS + 1))
start_daemon a --bootstrap "$(first_addr b)"
for _ in $(seq 1 100); do
  "$C" --home a verify >/dev/null 2>&1 && break
  sleep 0.2
done
"$C" --home a verify --repair >/dev/null 2>&1 || true
consistent a repair
R2=$("$C" --home a audit tail -n 100000 --json | grep -c '"kind": "block-repaired"' || true)
REPAIRED=$R2

# --- 3. audit tampering, on a's log (block-bad, block-repaired, unclean
# stop, checkpoints) once its daemon has stopped cleanly.
kill "${PIDS[-1]}"
wait "${PIDS[-1]}" 2>/dev/null || true
LOG=a/audit.log
"$C" --home a audit verify >/dev/null || fail "a: pristine audit log does not verify"
cp $LOG pristine.log
cp $LOG.checkpoint pristine.cp
restore() { cp pristine.log $LOG; cp pristine.cp $LOG.checkpoint; }
tamper() { # tamper NAME: the log was just altered; audit verify must fail
  TAMPER=$((TAMPER + 1))
  if "$C" --home a audit verify >tamper.log 2>&1; then
    echo "NOT caught: $1" >&2
  else
    CAUGHT=$((CAUGHT + 1))
  fi
  restore
}
# rechain: JS that rewrites entries (seq, prev, hash) as the writer does.
cat >rechain.js <<'EOF'
const fs = require("fs"), crypto = require("crypto");
const [mode, path] = process.argv.slice(2);
const sha = s => crypto.createHash("sha256").update(s).digest("hex");
let es = fs.readFileSync(path, "utf8").trim().split("\n").map(l => JSON.parse(l));
const order = e => { const o = {seq: e.seq, time: e.time, kind: e.kind, subject: e.subject, peer: e.peer, repo: e.repo, reason: e.reason};
  if (e.checkpoint) o.checkpoint = e.checkpoint; o.prev = e.prev; o.hash = e.hash; return o; };
if (mode === "append") es.push({seq: 0, time: es[es.length - 1].time, kind: "override", subject: "forged", peer: "", repo: "acme/secret", reason: "nobody"});
if (mode === "rewrite") es = es.filter((e, i) => i !== 1);
let prev = "0".repeat(64), out = "";
es.forEach((e, i) => {
  e.seq = i + 1; e.prev = prev; e.hash = "";
  e.hash = sha(JSON.stringify(order(e)));
  const line = JSON.stringify(order(e));
  prev = sha(line); out += line + "\n";
});
fs.writeFileSync(path, out);
EOF
head -n -2 pristine.log >$LOG
tamper truncation
node rechain.js append $LOG
tamper "forged append"
node rechain.js rewrite $LOG
rm -f $LOG.checkpoint
tamper "rewritten chain"
node rechain.js rewrite $LOG
tamper "rewritten chain, checkpoint kept"

printf '\n%-32s %s\n' "fault suite" "result"
printf '%-32s %d\n' "faults injected" "$FAULTS"
printf '%-32s %d verified, %d failed\n' "transfers during the rot" "$OK" "$FAILED"
printf '%-32s %d\n' "bytes delivered wrong" "$WRONG"
printf '%-32s %d\n' "blocks repaired" "$REPAIRED"
printf '%-32s %d of %d\n' "tampering attempts caught" "$CAUGHT" "$TAMPER"
[ "$WRONG" = 0 ] || fail "wrong bytes delivered"
[ "$CAUGHT" = "$TAMPER" ] || fail "tampering not caught"
echo "e2e faults: passed"

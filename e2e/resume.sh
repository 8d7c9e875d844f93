#!/usr/bin/env bash
# A fetch interrupted by killing the fetching process (SIGKILL, no chance to
# clean up) leaves a store that opens and verifies, and a second `cairn get`
# resumes from the blocks already stored: it fetches less than the whole and
# writes files byte-identical to the source's.
source "$(dirname "$0")/lib.sh"
cd "$WORK"
C="$CAIRN"
MIB=${RESUME_MIB:-512} # size of the repo
# a serves at most this, so the fetch takes about 4 s and the kill lands
# mid-fetch however fast the machine is (unlimited, loopback moves the
# repo in about two seconds, faster than the poll below can be sure to see).
RATE=${RESUME_RATE:-128MiB}
KILL_KIB=$((MIB << 8)) # kill once a quarter of the repo is on b's disk
passed=0

"$C" --home a init >/dev/null
PUB=$("$C" org init --key org.key)
"$C" org issue --key org.key --org acme --peer "$("$C" --home a id)" --region eu --jurisdiction DE --role mirror --out a.cert
"$C" --home a org join a.cert "$PUB" >/dev/null

mkdir model
head -c $((MIB << 20)) /dev/urandom >model/weights.bin
printf '{"model_type":"llama"}' >model/config.json
"$C" --home a add model --repo acme/big >/dev/null 2>&1 || fail "a could not add the model"
start_daemon a --max-upload-rate "$RATE"
A=$(first_addr a)
[ -n "$A" ] || fail "a has no p2p address"

# fresh_b: a node without a daemon whose short-lived host dials a.
fresh_b() {
  rm -rf b outB
  "$C" --home b init >/dev/null
  "$C" org issue --key org.key --org acme --peer "$("$C" --home b id)" --region eu --jurisdiction DE --role mirror --out b.cert
  "$C" --home b org join b.cert "$PUB" >/dev/null
  sed -i "s#bootstrap: \[\]#bootstrap: [\"$A\"]#" b/config.yaml
  grep -q "$A" b/config.yaml || fail "could not set b's bootstrap peer"
}

# Apparent sizes are useless here (badger preallocates its value log), so
# the poll reads allocated KiB.
stored_kib() {
  local k
  k=$(du -sk b/store 2>/dev/null | cut -f1) || true
  case $k in '' | *[!0-9]*) echo 0 ;; *) echo "$k" ;; esac
}

# interrupt: starts b's fetch and SIGKILLs it once some blocks are on disk.
# Returns 0 when the kill landed mid-fetch, 1 when the fetch ended first.
interrupt() {
  "$C" --home b get acme/big --out outB >get1.out 2>get1.err &
  local pid=$!
  PIDS+=("$pid")
  local kib=0 i killed=0
  for i in $(seq 1 1500); do # 1500 x 20 ms: at most 30 s
    kill -0 "$pid" 2>/dev/null || break
    kib=$(stored_kib)
    if [ "${kib:-0}" -ge "$KILL_KIB" ]; then
      kill -KILL "$pid" 2>/dev/null || true
      killed=1
      break
    fi
    sleep 0.02
  done
  # kill -0 also succeeds on a zombie, hence the flag.
  if [ "$killed" = 0 ] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    fail "b's fetch stored only ${kib} KiB in 30 s (stderr: $(tail -n 5 get1.err))"
  fi
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  # 137 = killed by SIGKILL. A commit that landed before the kill means
  # the fetch was not interrupted, whatever the exit status.
  [ "$rc" -eq 137 ] || return 1
  local revs
  revs=$("$C" --home b stat --json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).revisions))') || return 0
  [ "$revs" = "0" ]
}

fresh_b
if ! interrupt; then
  echo "e2e resume: fetch of $MIB MiB ended before the kill; retrying once" >&2
  fresh_b
  interrupt || fail "could not interrupt b's fetch of $MIB MiB: it finished before $KILL_KIB KiB were seen on disk (machine too fast? set RESUME_MIB higher)"
fi

# 1. The killed process left a store that opens and verifies.
"$C" --home b verify >verify.out 2>&1 || fail "b's store does not verify after the kill: $(cat verify.out)"
STAT=$("$C" --home b stat --json) || fail "b's store does not open after the kill"
before=$(echo "$STAT" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).bytes_stored))')
[ "${before:-0}" -gt 0 ] || fail "no block survived the kill (bytes_stored=$before)"
passed=$((passed + 1))

# 2. A second get completes with identical bytes.
t0=$(date +%s%N)
"$C" --home b get acme/big --out outB --json >get2.out 2>get2.err || fail "second get failed: $(tail -n 5 get2.err)"
t1=$(date +%s%N)
cmp model/weights.bin outB/weights.bin || fail "outB/weights.bin differs from a's"
cmp model/config.json outB/config.json || fail "outB/config.json differs from a's"
"$C" --home b verify acme/big >verify2.out 2>&1 || fail "b: verify acme/big: $(cat verify2.out)"
passed=$((passed + 1))

# 3. It fetched only what was missing: the bytes the second get reports
# fetching are below the whole, and the blocks stored before it plus
# those it fetched account for the whole.
whole=$("$C" --home a stat --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).bytes_stored))')
fetched=$(node -e 'console.log(JSON.parse(require("fs").readFileSync("get2.out","utf8")).fetched_bytes)')
[ -n "$fetched" ] && [ "$fetched" -gt 0 ] || fail "second get reports fetched_bytes '$fetched': $(cat get2.out)"
[ "$fetched" -lt "$whole" ] || fail "second get fetched $fetched bytes, want less than the whole $whole (nothing resumed)"
[ $((before + fetched)) -ge "$whole" ] || fail "stored before the second get ($before) + fetched by it ($fetched) < the whole ($whole)"
passed=$((passed + 1))

echo "resume: killed with $before of $whole bytes stored; second get fetched $fetched bytes in $(((t1 - t0) / 1000000)) ms"
echo "e2e resume: $passed passed, 0 failed"

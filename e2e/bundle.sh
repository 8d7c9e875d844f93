#!/usr/bin/env bash
# Air gap: two homes with no network between them (no daemon, upstream
# offline). A bundle carries a repo from A to B with the same bytes and
# commit; a tampered copy is refused and leaves B's refs alone; the
# incremental bundle of a fine-tune is under 12% of the full one.
source "$(dirname "$0")/lib.sh"
cd "$WORK"
C="$CAIRN"
PASS=0
ok() { PASS=$((PASS + 1)); }
for h in a b; do
  "$C" --home $h init >/dev/null
  sed -i 's/offline: false/offline: true/' $h/config.yaml
done

# A safetensors model of 70 tensors cycling through seven sizes; the
# fine-tune changes every tenth tensor (a tenth of the bytes) and the
# metadata.
cat >gen.js <<'EOF'
const fs = require("fs");
const [dir, tuned] = [process.argv[2], process.argv[3] === "tuned"];
const cycle = [768 << 10, 64 << 10, (256 << 10) + 1024, 24 << 10, 512 << 10, 128 << 10, 256 << 10];
const sizes = Array.from({length: 70}, (_, i) => cycle[i % 7]);
const hdr = {__metadata__: {format: "pt", ...(tuned ? {finetune: "yes"} : {})}};
let off = 0;
sizes.forEach((n, i) => { hdr[`layers.${String(i).padStart(3, "0")}.weight`] = {dtype: "U8", shape: [n], data_offsets: [off, off + n]}; off += n; });
let js = Buffer.from(JSON.stringify(hdr));
js = Buffer.concat([js, Buffer.alloc((8 - js.length % 8) % 8, " ")]);
const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(js.length));
const parts = [len, js];
sizes.forEach((n, i) => {
  let x = (i + 1) * 2654435761 + (tuned && i % 10 === 3 ? 7777 : 0);
  const b = Buffer.alloc(n);
  for (let k = 0; k + 4 <= n; k += 4) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b.writeUInt32LE(x >>> 0, k); }
  parts.push(b);
});
fs.mkdirSync(dir, {recursive: true});
fs.writeFileSync(dir + "/model.safetensors", Buffer.concat(parts));
fs.writeFileSync(dir + "/config.json", JSON.stringify({model_type: "llama", tuned}));
EOF
node gen.js base base
node gen.js tuned tuned
commit() { "$C" --home "$1" ls "$2" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log(v.commit||v.manifest?.commit||"")})'; }
refs() { "$C" --home "$1" ls --json; }

"$C" --home a add base --repo acme/m >/dev/null 2>&1
"$C" --home a bundle export acme/m -o full.car -q >/dev/null || fail "export"
"$C" --home b bundle import full.car -q >/dev/null || fail "import of the full bundle"
"$C" --home b get acme/m --out out-b >/dev/null 2>&1 || fail "get on b"
cmp base/model.safetensors out-b/model.safetensors || fail "b: model bytes differ"
cmp base/config.json out-b/config.json || fail "b: config bytes differ"
CA=$(commit a acme/m); CB=$(commit b acme/m)
[ -n "$CA" ] && [ "$CA" = "$CB" ] || fail "commit differs: a=$CA b=$CB"
ok

# Tampered: one byte flipped in the middle of the bundle.
cp full.car bad.car
node -e 'const fs=require("fs");const b=fs.readFileSync("bad.car");b[b.length>>1]^=0x5a;fs.writeFileSync("bad.car",b)'
BEFORE=$(refs b)
if "$C" --home b bundle import bad.car -q >bad.log 2>&1; then fail "tampered bundle imported"; fi
grep -q "refused" bad.log || fail "tampered: unclear error: $(cat bad.log)"
[ "$(refs b)" = "$BEFORE" ] || fail "refs of b changed after a refused import"
# Truncated: cut in the middle.
head -c $(( $(stat -c %s full.car) / 2 )) full.car >cut.car
if "$C" --home b bundle import cut.car -q >cut.log 2>&1; then fail "truncated bundle imported"; fi
grep -q "truncated" cut.log || fail "truncated: unclear error: $(cat cut.log)"
[ "$(refs b)" = "$BEFORE" ] || fail "refs of b changed after a truncated import"
ok

# Incremental: the fine-tune, minus what B holds.
"$C" --home a add tuned --repo acme/m --revision tuned >/dev/null 2>&1
"$C" --home a bundle export acme/m@tuned -o tuned-full.car -q >/dev/null || fail "export tuned"
"$C" --home a bundle export acme/m@tuned --since acme/m@main -o inc.car -q >/dev/null || fail "export incremental"
FULL=$(stat -c %s tuned-full.car); INC=$(stat -c %s inc.car)
[ $((INC * 100)) -lt $((FULL * 12)) ] || fail "incremental bundle $INC bytes is not under 12% of $FULL"
"$C" --home b bundle import inc.car -q >/dev/null || fail "import of the incremental bundle"
"$C" --home b get acme/m@tuned --out out-t >/dev/null 2>&1 || fail "get tuned on b"
cmp tuned/model.safetensors out-t/model.safetensors || fail "b: tuned bytes differ"
[ "$(commit a acme/m@tuned)" = "$(commit b acme/m@tuned)" ] || fail "tuned commit differs"
# A third home without the base refuses the incremental bundle.
"$C" --home c init >/dev/null
if "$C" --home c bundle import inc.car -q >inc-c.log 2>&1; then fail "incremental bundle imported without its base"; fi
grep -q "incomplete" inc-c.log || fail "incomplete: unclear error: $(cat inc-c.log)"
ok

# Offline: mirror refuses without dialling.
if "$C" --home b mirror acme/other >off.log 2>&1; then fail "offline mirror succeeded"; fi
grep -q "offline" off.log || fail "offline: unclear error: $(cat off.log)"
grep -q '"kind":"export"' a/audit.log || fail "export not audited"
ok
# Residency policy: a repo whose rule says export_bundles: false does not
# leave, and the refusal is audited.
"$C" org init --key org.key >org.pub
"$C" org issue --key org.key --org acme --peer "$("$C" --home a id)" --region eu --jurisdiction DE --role mirror --out a.cert >/dev/null
"$C" --home a org join a.cert "$(cat org.pub)" >/dev/null
printf '%s\n' 'repos:' '  - match: "acme/secret"' '    hold: [DE]' '    receive: [DE]' '    export_bundles: false' \
  '  - match: "*"' '    hold: [DE]' '    receive: [DE]' '    export_bundles: true' >policy.yaml
"$C" policy sign --key org.key --out policy.signed policy.yaml >/dev/null
"$C" --home a policy set policy.signed >/dev/null 2>&1 || fail "policy set"
"$C" --home a add base/config.json --repo acme/secret >/dev/null 2>&1
if "$C" --home a bundle export acme/secret -o secret.car >secret.log 2>&1; then fail "policy: acme/secret exported"; fi
[ ! -e secret.car ] || fail "policy: a refused bundle was written"
grep -q "refused by the residency policy" secret.log || fail "policy: unclear error: $(cat secret.log)"
grep -q '"kind":"deny".*acme/secret' a/audit.log || fail "policy: refusal not audited"
"$C" --home a bundle export acme/m -o allowed.car -q >/dev/null || fail "policy: acme/m refused"
ok

# Upstream mirroring through the CLI: a third node mirrors from a Cairn
# daemon's Hub API on 127.0.0.1, keeping its commit.
"$C" --home u init >/dev/null
"$C" --home u add base --repo acme/m >/dev/null 2>&1
start_daemon u
UP=$(http_addr u)
[ -n "$UP" ] || fail "upstream daemon: no http address"
"$C" --home m init >/dev/null
sed -i "s#endpoint: https://huggingface.co#endpoint: http://$UP#" m/config.yaml
"$C" --home m mirror acme/m -q >/dev/null || fail "mirror from the upstream"
[ "$(commit m acme/m)" = "$(commit u acme/m)" ] || fail "mirror: commit differs"
"$C" --home m get acme/m --out out-m >/dev/null 2>&1 || fail "get mirrored"
cmp base/model.safetensors out-m/model.safetensors || fail "mirror: bytes differ"
ok
echo "e2e bundle: $PASS passed, 0 failed (incremental $INC of $FULL bytes, $((INC * 1000 / FULL)) per mille)"

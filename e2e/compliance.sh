#!/usr/bin/env bash
# The compliance gate with the real commands: a repo holding a malicious
# pytorch_model.bin is quarantined on add under scan: block, neither served
# over the HF API nor replicated to a peer, nor loaded; a cc-by-nc-4.0
# model under a policy allowing apache-2.0 only is quarantined; `cairn
# release` lets it through and the audit log shows both; `cairn bom`
# validates against the CycloneDX 1.6 schema.
FIX="$(cd "$(dirname "$0")/.." && pwd)/testdata"
[ -f "$FIX/scan/mal_torch_data.pt" ] && [ -f "$FIX/stories260K.gguf" ] || { echo "FAIL e2e/compliance.sh: fixtures missing under $FIX" >&2; exit 1; }
source "$(dirname "$0")/lib.sh"
(cd "$ROOT/e2e/bom" && timeout 300 npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1) || fail "npm ci: $(tail -n 20 "$WORK/npm.log")"
cd "$WORK"
C="$CAIRN"

for n in holder peer; do "$C" --home $n init >/dev/null; done
PUB=$("$C" org init --key org.key)
for n in holder peer; do
  "$C" org issue --key org.key --org acme --peer "$("$C" --home $n id)" --region eu --jurisdiction DE --role mirror --out $n.cert
  "$C" --home $n org join $n.cert "$PUB" >/dev/null
done
printf '%s\n' 'repos:' \
  '  - match: "acme/evil"' '    hold: [DE]' '    receive: [DE]' '    scan: block' \
  '  - match: "acme/nc"' '    hold: [DE]' '    receive: [DE]' '    prompts: [DE]' '    licenses: [apache-2.0]' \
  '  - match: "*"' '    hold: [DE]' '    receive: [DE]' '    prompts: [DE]' >policy.yaml
"$C" policy sign --key org.key --out policy.signed policy.yaml >/dev/null || fail "policy sign"
for n in holder peer; do "$C" --home $n policy set policy.signed >/dev/null 2>&1 || fail "policy set on $n"; done

# A repo whose pytorch_model.bin calls os.system on load.
mkdir evil nc
cp "$FIX/scan/mal_torch_data.pt" evil/pytorch_model.bin
echo '{"model_type":"llama"}' >evil/config.json
"$C" --home holder add evil --repo acme/evil >add-evil.log 2>&1 || fail "add evil: $(cat add-evil.log)"
grep -q QUARANTINED add-evil.log || fail "add evil: not quarantined: $(cat add-evil.log)"
# A non-commercial model under a policy allowing apache-2.0 only.
cp "$FIX/stories260K.gguf" nc/model.gguf
printf '%s\n' '---' 'license: cc-by-nc-4.0' 'pipeline_tag: text-generation' 'datasets: [roneneldan/TinyStories]' '---' '# Stories' >nc/README.md
"$C" --home holder add nc --repo acme/nc >add-nc.log 2>&1 || fail "add nc: $(cat add-nc.log)"
grep -q 'QUARANTINED.*cc-by-nc-4.0' add-nc.log || fail "add nc: not quarantined for its licence: $(cat add-nc.log)"
"$C" --home holder ls >ls.txt && grep acme/evil ls.txt | grep -q QUARANTINED || fail "ls does not show the quarantine: $(cat ls.txt)"
"$C" --home holder ls acme/evil >ls-evil.txt && grep -q 'scan: 1 unsafe' ls-evil.txt || fail "ls acme/evil lacks the scan: $(cat ls-evil.txt)"
"$C" --home holder scan acme/evil >scan.log || fail "scan"
grep -q 'unsafe.*pytorch_model.bin.*os' scan.log || fail "scan: $(cat scan.log)"

start_daemon holder
H=$(http_addr holder)
start_daemon peer --bootstrap "$(first_addr holder)"
for _ in $(seq 1 100); do "$C" --home peer peers --json | grep -q '"peer"' && break; sleep 0.1; done

# Not served over the HF API.
code=$(curl -s -o body.json -D head.txt -w '%{http_code}' "http://$H/acme/evil/resolve/main/pytorch_model.bin")
[ "$code" = 451 ] || fail "HF API served the quarantined file: $code"
grep -qi '^x-error-code: Quarantined' head.txt || fail "no X-Error-Code: $(cat head.txt)"
grep -q 'quarantined' body.json || fail "unclear body: $(cat body.json)"
# Not replicated: the peer cannot pull it.
if "$C" --home peer get acme/evil --out got-evil >get-evil.log 2>&1; then fail "peer pulled the quarantined repo"; fi
"$C" --home peer ls --json >peer-ls.json && grep -q acme/evil peer-ls.json && fail "peer stores acme/evil"
# Not loaded for inference.
code=$(curl -s -o gen.json -w '%{http_code}' "http://$H/v1/completions" -H 'Content-Type: application/json' \
  -d '{"model":"acme/nc","prompt":"Once","max_tokens":4}')
[ "$code" = 451 ] && grep -q model_quarantined gen.json || fail "quarantined model loaded: $code $(cat gen.json)"

# The release lifts the licence quarantine, through the running daemon.
"$C" --home holder release acme/nc --key org.key --reason "licence reviewed: internal research use" >release.log 2>&1 || fail "release: $(cat release.log)"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$H/acme/nc/resolve/main/README.md")
[ "$code" = 200 ] || fail "released repo not served: $code"
"$C" --home holder ls acme/nc >ls-nc.txt && grep -q 'quarantine released' ls-nc.txt || fail "ls after release: $(cat ls-nc.txt)"
grep -q '"kind":"quarantine".*acme/evil' holder/audit.log || fail "audit lacks the quarantine of acme/evil"
grep -q '"kind":"quarantine".*acme/nc' holder/audit.log || fail "audit lacks the quarantine of acme/nc"
grep -q '"kind":"unquarantine".*acme/nc' holder/audit.log || fail "audit lacks the release of acme/nc"

# The ML-BOM, from the command and from the HTTP API, validates.
"$C" --home holder bom acme/nc >bom.json || fail "bom"
node "$ROOT/e2e/bom/validate.mjs" bom.json || fail "cairn bom output is not valid CycloneDX 1.6"
grep -q '"sha256\|SHA-256' bom.json && grep -q 'cc-by-nc-4.0\|CC-BY-NC-4.0' bom.json && grep -q 'DE' bom.json || fail "bom lacks hashes, licence or jurisdiction"
curl -sf "http://$H/api/models/acme/nc/bom" >bom-http.json || fail "GET /api/models/acme/nc/bom"
node "$ROOT/e2e/bom/validate.mjs" bom-http.json || fail "served BOM is not valid CycloneDX 1.6"
# OpenSSF model signing: cairn sign with a PEM key commits model.sig; a
# node mirroring the repo verifies it with the public key, and one holding
# another key quarantines the revision.
mkdir ok && cp "$FIX/stories260K.gguf" ok/model.gguf
printf '%s\n' '---' 'license: apache-2.0' '---' >ok/README.md
"$C" --home holder add ok --repo acme/ok >/dev/null 2>&1 || fail "add ok"
node -e '
const c = require("crypto"), fs = require("fs");
for (const n of ["sign", "other"]) {
  const { privateKey, publicKey } = c.generateKeyPairSync("ec", { namedCurve: "P-256" });
  fs.writeFileSync(n + ".pem", privateKey.export({ type: "pkcs8", format: "pem" }));
  fs.writeFileSync(n + ".pub.pem", publicKey.export({ type: "spki", format: "pem" }));
}' || fail "generate signing keys"
"$C" --home holder sign acme/ok --key sign.pem --out model.sig >sign.log 2>&1 || fail "sign: $(cat sign.log)"
grep -q 'model.sig' sign.log || fail "sign: $(cat sign.log)"
grep -q 'https://model_signing/signature/v1.0\|dsseEnvelope' model.sig || fail "model.sig is not a model-signing bundle"
"$C" --home holder bom acme/ok >bom-ok.json || fail "bom acme/ok"
node "$ROOT/e2e/bom/validate.mjs" bom-ok.json || fail "bom of a signed revision is not valid CycloneDX 1.6"
grep -q 'openssf-model-signing' bom-ok.json || fail "bom lacks the model.sig signature"
for m in good bad; do
  "$C" --home $m init >/dev/null
  key=sign.pub.pem; [ $m = bad ] && key=other.pub.pem
  sed -i "s#endpoint: https://huggingface.co#endpoint: http://$H#; s#signing_keys: \[\]#signing_keys: [$WORK/$key]#" $m/config.yaml
done
"$C" --home good mirror acme/ok >mirror-good.log 2>&1 || fail "mirror of a signed repo: $(cat mirror-good.log)"
grep -q 'model.sig verified' mirror-good.log || fail "mirror did not verify model.sig: $(cat mirror-good.log)"
"$C" --home good bom acme/ok >bom-good.json || fail "bom of a mirrored revision"
node "$ROOT/e2e/bom/validate.mjs" bom-good.json || fail "bom of a mirrored revision is not valid CycloneDX 1.6"
grep -q "http://$H/acme/ok" bom-good.json || fail "bom lacks the upstream: $(head -c 2000 bom-good.json)"
if "$C" --home bad mirror acme/ok >mirror-bad.log 2>&1; then fail "mirror accepted a model.sig by an untrusted key"; fi
"$C" --home bad ls >ls-bad.txt && grep acme/ok ls-bad.txt | grep -q QUARANTINED || fail "bad signature not quarantined: $(cat mirror-bad.log ls-bad.txt)"

echo "PASS e2e/compliance.sh: malicious pickle and cc-by-nc-4.0 quarantined, not served, not replicated, not loaded; release audited; BOM valid; model.sig signed and verified on mirror"

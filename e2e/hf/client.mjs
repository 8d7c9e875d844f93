// Runs @huggingface/hub against a Cairn daemon and checks every answer
// against the files on disk. Usage: node client.mjs HUB_URL MODEL_DIR
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { downloadFile, fileDownloadInfo, listFiles, modelInfo, pathsInfo } from "@huggingface/hub";

const [hubUrl, dir] = process.argv.slice(2);
const repo = "acme/tiny";
let failures = 0;
const fail = (msg) => {
  failures++;
  console.error("FAIL:", msg);
};
const check = (cond, msg) => (cond ? console.log("ok:", msg) : fail(msg));
const sha256 = (b) => createHash("sha256").update(b).digest("hex");
const gitBlob = (b) => createHash("sha1").update(`blob ${b.length}\0`).update(b).digest("hex");

function walk(d) {
  return readdirSync(d).flatMap((name) => {
    const p = join(d, name);
    return statSync(p).isDirectory() ? walk(p) : [relative(dir, p).split("\\").join("/")];
  });
}
const local = new Map(walk(dir).map((p) => [p, readFileSync(join(dir, p))]));
const isLFS = (p) => p.endsWith(".safetensors");

// Wait for the daemon (bounded).
for (let i = 0; ; i++) {
  try {
    const r = await fetch(`${hubUrl}/api/models`);
    if (r.ok) break;
  } catch {}
  if (i >= 100) {
    console.error("daemon not ready at", hubUrl);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 100));
}

// modelInfo
const info = await modelInfo({ name: repo, hubUrl, additionalFields: ["sha", "siblings"] });
check(info.name === repo, `modelInfo name = ${info.name}`);
check(/^[0-9a-f]{24}$/.test(info.id), `modelInfo id (_id) = ${info.id}`);
check(info.private === false && info.gated === false, "modelInfo private/gated false");
check(!isNaN(info.updatedAt.getTime()), `modelInfo updatedAt = ${info.updatedAt.toISOString()}`);
check(/^[0-9a-f]{40}$/.test(info.sha), `modelInfo sha = ${info.sha}`);
const sibs = (info.siblings ?? []).map((s) => s.rfilename).sort();
check(JSON.stringify(sibs) === JSON.stringify([...local.keys()].sort()), `siblings = ${sibs}`);

// listFiles, recursive, with oids checked against the bytes on disk
const listed = [];
for await (const e of listFiles({ repo, hubUrl, recursive: true })) listed.push(e);
const files = listed.filter((e) => e.type === "file");
check(files.length === local.size, `listFiles: ${files.length} files, want ${local.size}`);
check(listed.some((e) => e.type === "directory" && e.path === "extra" && /^[0-9a-f]{40}$/.test(e.oid)), "listFiles: directory extra with a tree oid");
for (const e of files) {
  const b = local.get(e.path);
  if (!b) {
    fail(`listFiles: unexpected ${e.path}`);
    continue;
  }
  if (e.size !== b.length) fail(`listFiles: ${e.path} size ${e.size}, want ${b.length}`);
  if (isLFS(e.path)) {
    if (!e.lfs || e.lfs.oid !== sha256(b) || e.lfs.size !== b.length) fail(`listFiles: ${e.path} lfs ${JSON.stringify(e.lfs)}`);
    const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(b)}\nsize ${b.length}\n`;
    if (e.oid !== gitBlob(Buffer.from(pointer))) fail(`listFiles: ${e.path} oid ${e.oid} is not the pointer's blob id`);
  } else if (e.oid !== gitBlob(b)) {
    fail(`listFiles: ${e.path} oid ${e.oid}, want ${gitBlob(b)}`);
  }
}
check(failures === 0, "listFiles entries match the files");
const top = [];
for await (const e of listFiles({ repo, hubUrl })) top.push(e.path);
check(JSON.stringify(top.sort()) === JSON.stringify(["config.json", "extra", "model.safetensors", "tokenizer.json"]), `listFiles non-recursive = ${top}`);

// pathsInfo (JSON body)
const pi = await pathsInfo({ repo, hubUrl, paths: ["config.json", "model.safetensors", "missing.bin"], expand: true });
check(pi.length === 2 && pi.every((e) => e.lastCommit?.id === info.sha), `pathsInfo = ${pi.map((e) => e.path)}`);

// fileDownloadInfo learns size and ETag from GET Range: bytes=0-0
const big = local.get("model.safetensors");
const di = await fileDownloadInfo({ repo, hubUrl, path: "model.safetensors" });
check(di.size === big.length, `fileDownloadInfo size = ${di.size}`);
check(di.etag === `"${sha256(big)}"`, `fileDownloadInfo etag = ${di.etag}`);

// downloadFile, small and large, byte for byte and sha256
for (const [p, rev] of [["config.json", undefined], ["extra/notes.txt", "main"], ["model.safetensors", undefined], ["model.safetensors", info.sha]]) {
  const blob = await downloadFile({ repo, hubUrl, path: p, revision: rev });
  if (!blob) {
    fail(`downloadFile ${p}: null`);
    continue;
  }
  const got = Buffer.from(await blob.arrayBuffer());
  const want = local.get(p);
  check(got.equals(want) && sha256(got) === sha256(want), `downloadFile ${p}@${rev ?? "main"}: ${got.length} bytes, sha256 ${sha256(got).slice(0, 12)}`);
}
check((await downloadFile({ repo, hubUrl, path: "missing.bin" })) === null, "downloadFile of a missing file = null (EntryNotFound)");

// Range reads through fetch, and a slice of the client's own blob.
const url = `${hubUrl}/${repo}/resolve/main/model.safetensors`;
const a = 1000003, z = 2 * 1048576 + 17;
let r = await fetch(url, { headers: { Range: `bytes=${a}-${z}` } });
let body = Buffer.from(await r.arrayBuffer());
check(r.status === 206 && r.headers.get("content-range") === `bytes ${a}-${z}/${big.length}` && body.equals(big.subarray(a, z + 1)), `Range bytes=${a}-${z}: ${r.status} ${r.headers.get("content-range")}`);
r = await fetch(url, { headers: { Range: "bytes=-4096" } });
body = Buffer.from(await r.arrayBuffer());
check(r.status === 206 && body.equals(big.subarray(big.length - 4096)), `Range bytes=-4096: ${r.status}`);
r = await fetch(url, { headers: { Range: `bytes=${big.length}-` } });
await r.arrayBuffer();
check(r.status === 416 && r.headers.get("content-range") === `bytes */${big.length}`, `Range past the end: ${r.status} ${r.headers.get("content-range")}`);
const whole = await downloadFile({ repo, hubUrl, path: "model.safetensors" });
const part = Buffer.from(await whole.slice(5, 70000).arrayBuffer());
check(part.equals(big.subarray(5, 70000)), "WebBlob.slice(5, 70000) via Range");

// Errors carry the Hub's codes.
r = await fetch(`${hubUrl}/acme/nope/resolve/main/config.json`, { method: "HEAD" });
check(r.status === 404 && r.headers.get("x-error-code") === "RepoNotFound", `missing repo: ${r.status} ${r.headers.get("x-error-code")}`);
r = await fetch(`${hubUrl}/${repo}/resolve/v9/config.json`, { method: "HEAD" });
check(r.status === 404 && r.headers.get("x-error-code") === "RevisionNotFound", `missing revision: ${r.status} ${r.headers.get("x-error-code")}`);

if (failures > 0) {
  console.error(`hf-client e2e: ${failures} failure(s)`);
  process.exit(1);
}
console.log("hf-client e2e: PASS");

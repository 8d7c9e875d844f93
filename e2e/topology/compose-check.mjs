// Structural check of docker-compose.yml where no compose tool can be had:
// the services of the topology exist, each built from this Dockerfile (or
// its image) with its home under deploy/homes, on declared networks.
//   node compose-check.mjs docker-compose.yml
import fs from "node:fs";

const text = fs.readFileSync(process.argv[2], "utf8");
const fail = (m) => { console.error(`compose-check: ${m}`); process.exit(1); };
if (/\t/.test(text)) fail("tabs in YAML");
const top = [...text.matchAll(/^([a-z][\w-]*):/gm)].map((m) => m[1]);
for (const k of ["services", "networks"]) if (!top.includes(k)) fail(`no top-level ${k}`);
const svcBlock = text.split(/^services:\n/m)[1].split(/^\S/m)[0];
const services = [...svcBlock.matchAll(/^  ([a-z][\w-]*):\n/gm)].map((m) => m[1]);
const netBlock = text.split(/^networks:\n/m)[1] ?? "";
const networks = [...netBlock.matchAll(/^  ([a-z][\w-]*):/gm)].map((m) => m[1]);
for (const s of ["mirror-de", "mirror-fr", "airgap", "edge"]) {
  if (!services.includes(s)) fail(`service ${s} missing`);
  const body = svcBlock.split(new RegExp(`^  ${s}:\\n`, "m"))[1].split(/^  \S/m)[0];
  if (!/<<: \*cairn/.test(body) && !/build:/.test(body)) fail(`${s}: neither build nor the cairn anchor`);
  if (!body.includes(`./deploy/homes/${s}:/data`)) fail(`${s}: home volume missing`);
  const nets = (body.match(/networks: \[([^\]]*)\]/) ?? [])[1];
  if (!nets) fail(`${s}: no networks`);
  for (const n of nets.split(",").map((x) => x.trim())) if (!networks.includes(n)) fail(`${s}: network ${n} undeclared`);
}
if (!/x-cairn: &cairn\n(?:  .*\n)*  build: \./.test(text)) fail("the cairn anchor does not build this Dockerfile");
console.log(`compose-check: ${services.length} services, ${networks.length} networks`);

// Writes a small model folder: config.json, tokenizer.json, a valid
// safetensors file of a few MiB (deterministic pseudo-random weights) and a
// file in a subfolder. Usage: node gen.mjs DIR [MiB]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2];
const mib = Number(process.argv[3] ?? 6);
if (!dir) {
  console.error("usage: node gen.mjs DIR [MiB]");
  process.exit(2);
}
mkdirSync(join(dir, "extra"), { recursive: true });
writeFileSync(join(dir, "config.json"), JSON.stringify({ model_type: "llama", hidden_size: 64, num_hidden_layers: 2 }, null, 2) + "\n");
writeFileSync(join(dir, "tokenizer.json"), JSON.stringify({ version: "1.0", model: { type: "BPE" } }) + "\n");
writeFileSync(join(dir, "extra", "notes.txt"), "weights generated for the Cairn e2e test\n");

// Two U8 tensors so the chunker splits on a tensor boundary.
const n = mib << 20;
const half = n >> 1;
const header = JSON.stringify({
  __metadata__: { format: "pt" },
  "a.weight": { dtype: "U8", shape: [half], data_offsets: [0, half] },
  "b.weight": { dtype: "U8", shape: [n - half], data_offsets: [half, n] },
});
const hb = Buffer.from(header, "utf8");
const out = Buffer.alloc(8 + hb.length + n);
out.writeBigUInt64LE(BigInt(hb.length), 0);
hb.copy(out, 8);
let x = 0x9e3779b9; // xorshift32
for (let i = 8 + hb.length; i < out.length; i++) {
  x ^= x << 13; x >>>= 0;
  x ^= x >>> 17;
  x ^= x << 5; x >>>= 0;
  out[i] = x & 0xff;
}
writeFileSync(join(dir, "model.safetensors"), out);

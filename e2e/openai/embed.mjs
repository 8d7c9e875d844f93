// Checks a Cairn node's /v1/embeddings with the official openai client:
// node embed.mjs BASE_URL MODEL GOLDEN_FILE CHAT_MODEL
// GOLDEN_FILE holds llama.cpp's tokens and embeddings of prompts for MODEL
// (testdata/embed/*.llama.json); CHAT_MODEL is a model that generates text.
import fs from "node:fs";
import assert from "node:assert/strict";
import OpenAI, { BadRequestError } from "openai";

const [baseURL, model, goldenFile, chatModel] = process.argv.slice(2);
const golden = JSON.parse(fs.readFileSync(goldenFile, "utf8"));
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0, timeout: 60_000 });

function near(got, want, what) {
  assert.equal(got.length, want.length, `${what}: ${got.length} values, want ${want.length}`);
  const diff = Math.max(...got.map((v, i) => Math.abs(v - want[i])));
  assert.ok(diff <= 1e-4, `${what}: max abs diff ${diff} from llama.cpp`);
  return diff;
}

// The client asks for base64 by default and decodes it to floats.
const res = await client.embeddings.create({ model, input: golden.map((g) => g.prompt) });
assert.equal(res.object, "list");
assert.equal(res.data.length, golden.length);
let worst = 0;
res.data.forEach((d, i) => {
  assert.equal(d.index, i);
  worst = Math.max(worst, near(d.embedding, golden[i].embedding, `input ${i} (base64)`));
});
const tokens = golden.reduce((n, g) => n + g.tokens.length, 0);
assert.equal(res.usage.prompt_tokens, tokens, `usage ${JSON.stringify(res.usage)}`);

const one = await client.embeddings.create({ model, input: golden[0].prompt, encoding_format: "float" });
near(one.data[0].embedding, golden[0].embedding, "float");
const ids = await client.embeddings.create({ model, input: [golden[1].tokens], encoding_format: "float" });
near(ids.data[0].embedding, golden[1].embedding, "token ids");

await assert.rejects(client.embeddings.create({ model, input: "hello", dimensions: 8 }),
  (e) => e instanceof BadRequestError && e.param === "dimensions", "dimensions 8 refused");
await assert.rejects(client.embeddings.create({ model: chatModel, input: "hello" }),
  (e) => e instanceof BadRequestError && e.code === "model_not_embedding", "chat model refused");

console.log(`openai client: ${res.data.length} embeddings of ${res.data[0].embedding.length} values, max abs diff ${worst.toExponential(2)} from llama.cpp, usage ${tokens} tokens, dimensions and chat model refused`);

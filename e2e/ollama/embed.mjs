// Checks a Cairn node's /api/embed with the official ollama client:
// node embed.mjs HOST MODEL GOLDEN_FILE CHAT_MODEL
// GOLDEN_FILE holds llama.cpp's tokens and embeddings of prompts for MODEL
// (testdata/embed/*.llama.json); CHAT_MODEL is a model that generates text.
import fs from "node:fs";
import assert from "node:assert/strict";
import { Ollama } from "ollama";

const [host, model, goldenFile, chatModel] = process.argv.slice(2);
const golden = JSON.parse(fs.readFileSync(goldenFile, "utf8"));
const ollama = new Ollama({ host });

function near(got, want, what) {
  assert.equal(got.length, want.length, `${what}: ${got.length} values, want ${want.length}`);
  const diff = Math.max(...got.map((v, i) => Math.abs(v - want[i])));
  assert.ok(diff <= 1e-4, `${what}: max abs diff ${diff} from llama.cpp`);
  return diff;
}

const res = await ollama.embed({ model, input: golden.map((g) => g.prompt) });
assert.equal(res.embeddings.length, golden.length, JSON.stringify(res).slice(0, 300));
let worst = 0;
res.embeddings.forEach((e, i) => { worst = Math.max(worst, near(e, golden[i].embedding, `input ${i}`)); });
const tokens = golden.reduce((n, g) => n + g.tokens.length, 0);
assert.equal(res.prompt_eval_count, tokens, `prompt_eval_count ${res.prompt_eval_count}`);

const one = await ollama.embed({ model: `${model}:latest`, input: golden[0].prompt });
near(one.embeddings[0], golden[0].embedding, "one string, :latest");
const legacy = await ollama.embeddings({ model, prompt: golden[1].prompt });
near(legacy.embedding, golden[1].embedding, "/api/embeddings");

// Truncation is on by default; off, a long input is refused.
const long = "hello world ".repeat(200);
const cut = await ollama.embed({ model, input: long });
assert.equal(cut.prompt_eval_count, 256, `truncated to the context: ${cut.prompt_eval_count}`);
await assert.rejects(ollama.embed({ model, input: long, truncate: false }), /context/, "truncate false refused");
await assert.rejects(ollama.embed({ model: chatModel, input: "hello" }), /not an embedding model/, "chat model refused");

console.log(`ollama client: ${res.embeddings.length} embeddings of ${res.embeddings[0].length} values, max abs diff ${worst.toExponential(2)} from llama.cpp, ${tokens} tokens, truncation default on, chat model refused`);

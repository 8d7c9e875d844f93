// Checks a Cairn node's Ollama-compatible API with the official ollama
// client: node test.mjs HOST MODEL EXPECTED_FILE [EDGE_HOST]
// EXPECTED_FILE holds llama.cpp's greedy 64-token continuation of
// "Once upon a time" (prompt excluded). With EDGE_HOST (a member that does
// not hold MODEL), the model is pulled there with /api/pull first.
import fs from "node:fs";
import assert from "node:assert/strict";
import { Ollama } from "ollama";

const [host, model, expectedFile, edgeHost] = process.argv.slice(2);
const expected = fs.readFileSync(expectedFile, "utf8");
const name = `${model}:latest`;
const greedy = { temperature: 0, repeat_penalty: 1, num_predict: 64 };

async function check(ollama, where) {
  const v = await ollama.version();
  assert.match(v.version, /^\d+\.\d+\.\d+/, `${where}: version ${JSON.stringify(v)}`);

  const list = await ollama.list();
  assert.ok(list.models.some((m) => m.name === name), `${where}: list lacks ${name}: ${JSON.stringify(list)}`);

  // Raw, greedy: llama.cpp's text, streamed and not.
  const prompt = "Once upon a time";
  const g = await ollama.generate({ model: name, prompt, raw: true, options: greedy });
  assert.equal(g.response, expected, `${where}: greedy generation differs from llama.cpp's`);
  assert.equal(g.done, true);
  assert.equal(g.eval_count, 64);
  assert.equal(g.prompt_eval_count, 5);
  let streamed = "";
  let last;
  for await (const part of await ollama.generate({ model, prompt, raw: true, options: greedy, stream: true })) {
    streamed += part.response;
    last = part;
  }
  assert.equal(streamed, expected, `${where}: streamed generation differs`);
  assert.equal(last.done, true);

  // Chat, streamed, through the model's chat template.
  let chat = "";
  let parts = 0;
  for await (const part of await ollama.chat({
    model, stream: true, keep_alive: "2m",
    messages: [{ role: "user", content: "Tell me about a cat." }],
    options: { num_predict: 16, seed: 7 },
  })) {
    if (!part.done) assert.equal(part.message.role, "assistant");
    chat += part.message.content;
    parts++;
    last = part;
  }
  assert.ok(parts > 2 && last.done && last.eval_count > 0, `${where}: chat stream of ${parts} parts, last ${JSON.stringify(last)}`);

  const show = await ollama.show({ model: name });
  assert.equal(show.details.family, "llama", `${where}: show ${JSON.stringify(show.details)}`);
  assert.equal(show.model_info["general.architecture"], "llama");

  const ps = await ollama.ps();
  assert.ok(ps.models.some((m) => m.name === name), `${where}: ps lacks ${name}: ${JSON.stringify(ps)}`);

  await assert.rejects(ollama.generate({ model: "acme/none", prompt }), (e) => e.status_code === 404, `${where}: unknown model`);
}

await check(new Ollama({ host }), "holder");

if (edgeHost) {
  const edge = new Ollama({ host: edgeHost });
  const statuses = [];
  for await (const p of await edge.pull({ model: name, stream: true })) statuses.push(p.status);
  assert.equal(statuses[0], "pulling manifest", `pull: ${statuses}`);
  assert.equal(statuses.at(-1), "success", `pull: ${statuses}`);
  await check(edge, "edge after pull");
}
console.log("ollama client checks passed");

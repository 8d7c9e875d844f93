// Queries an edge node of the topology with the official openai client.
//   node test.mjs serve BASE_URL MODEL EXPECTED_FILE SERVED_BY ROUTE
//     greedy completion (plain and streamed) equals EXPECTED_FILE, and the
//     answer came from peer SERVED_BY by ROUTE (local or forwarded);
//     a streamed chat answer arrives too
//   node test.mjs first BASE_URL MODEL EXPECTED_FILE SERVED_BY ROUTE
//     one greedy completion, checked the same way
//   node test.mjs refused BASE_URL MODEL JURISDICTION
//     the edge refuses with 403 jurisdiction_not_allowed naming JURISDICTION
import fs from "node:fs";
import assert from "node:assert/strict";
import OpenAI, { PermissionDeniedError } from "openai";

const [mode, baseURL, model, ...rest] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0, timeout: 120_000 });
const prompt = "Once upon a time";

function checkOrigin(response, servedBy, route, what) {
  assert.equal(response.headers.get("x-cairn-served-by"), servedBy, `${what}: served by`);
  assert.equal(response.headers.get("x-cairn-route"), route, `${what}: route`);
}

if (mode === "serve") {
  const [expectedFile, servedBy, route] = rest;
  const expected = fs.readFileSync(expectedFile, "utf8");
  const { data: c, response } = await client.completions.create({ model, prompt, max_tokens: 64, temperature: 0 }).withResponse();
  checkOrigin(response, servedBy, route, "completion");
  assert.equal(c.choices[0].text, expected, "greedy completion differs from llama.cpp's");
  assert.equal(c.usage.completion_tokens, 64);

  const t0 = performance.now();
  let ttft = 0;
  const { data: stream, response: sr } = await client.completions
    .create({ model, prompt, max_tokens: 64, temperature: 0, stream: true })
    .withResponse();
  checkOrigin(sr, servedBy, route, "streamed completion");
  let streamed = "";
  for await (const chunk of stream) {
    const t = chunk.choices[0]?.text ?? "";
    if (t && !ttft) ttft = performance.now() - t0;
    streamed += t;
  }
  assert.equal(streamed, expected, "streamed completion differs");

  const messages = [{ role: "user", content: "Tell me about a cat." }];
  let chat = "";
  for await (const chunk of await client.chat.completions.create({ model, messages, max_tokens: 16, temperature: 0, stream: true })) {
    chat += chunk.choices[0]?.delta?.content ?? "";
  }
  assert.ok(chat.length > 0, "empty streamed chat answer");
  console.log(`ok ${route} via ${servedBy}: greedy text matches llama.cpp, streamed ttft ${ttft.toFixed(1)} ms`);
} else if (mode === "first") {
  // One request only: the route may change once the edge has pulled.
  const [expectedFile, servedBy, route] = rest;
  const expected = fs.readFileSync(expectedFile, "utf8");
  const { data: c, response } = await client.completions.create({ model, prompt, max_tokens: 64, temperature: 0 }).withResponse();
  checkOrigin(response, servedBy, route, "completion");
  assert.equal(c.choices[0].text, expected, "greedy completion differs from llama.cpp's");
  console.log(`ok ${route} via ${servedBy}: greedy text matches llama.cpp`);
} else if (mode === "refused") {
  const [jurisdiction] = rest;
  for (const stream of [false, true]) {
    try {
      const r = await client.completions.create({ model, prompt, max_tokens: 8, stream });
      if (stream) for await (const _ of r);
      assert.fail(`stream=${stream}: answered, want a 403`);
    } catch (e) {
      assert.ok(e instanceof PermissionDeniedError, `stream=${stream}: ${e}`);
      assert.equal(e.code, "jurisdiction_not_allowed");
      assert.match(e.message, new RegExp(`${jurisdiction} not in prompts`));
    }
  }
  console.log(`ok refused: ${model} only on ${jurisdiction}, prompts not allowed there`);
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}

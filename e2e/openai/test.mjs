// Checks a Cairn node's OpenAI-compatible API with the official openai
// client: node test.mjs BASE_URL MODEL EXPECTED_FILE
// EXPECTED_FILE holds llama.cpp's greedy 64-token continuation of
// "Once upon a time" (prompt excluded).
import fs from "node:fs";
import assert from "node:assert/strict";
import OpenAI, { NotFoundError, BadRequestError } from "openai";

const [baseURL, model, expectedFile] = process.argv.slice(2);
const expected = fs.readFileSync(expectedFile, "utf8");
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0, timeout: 60_000 });

// models.list
const ids = [];
for await (const m of client.models.list()) ids.push(m.id);
assert.ok(ids.includes(model), `models.list: ${JSON.stringify(ids)} lacks ${model}`);

// Non-streaming, greedy: llama.cpp's text.
const prompt = "Once upon a time";
const c = await client.completions.create({ model, prompt, max_tokens: 64, temperature: 0 });
assert.equal(c.object, "text_completion");
assert.equal(c.choices.length, 1);
assert.equal(c.choices[0].text, expected, "greedy completion differs from llama.cpp's");
assert.equal(c.choices[0].finish_reason, "length");
assert.deepEqual(c.usage, { prompt_tokens: 5, completion_tokens: 64, total_tokens: 69 });

// Streaming completion: the chunks add up to the same text.
let streamed = "";
for await (const chunk of await client.completions.create({ model, prompt, max_tokens: 64, temperature: 0, stream: true })) {
  streamed += chunk.choices[0]?.text ?? "";
}
assert.equal(streamed, expected, "streamed completion differs");

// Chat: non-streaming, then streaming with include_usage; greedy, so the
// same text both ways.
const messages = [{ role: "system", content: "You tell short stories." }, { role: "user", content: "Tell me about a cat." }];
const chat = await client.chat.completions.create({ model, messages, max_tokens: 24, temperature: 0 });
assert.equal(chat.object, "chat.completion");
assert.equal(chat.choices[0].message.role, "assistant");
assert.ok(chat.choices[0].message.content.length > 0, "empty chat answer");
const chunks = [];
for await (const chunk of await client.chat.completions.create({
  model, messages, max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true },
})) chunks.push(chunk);
assert.ok(chunks.length >= 4, `only ${chunks.length} chunks`);
assert.equal(chunks[0].choices[0].delta.role, "assistant");
let text = "";
let finish = null;
for (const ch of chunks) {
  assert.equal(ch.object, "chat.completion.chunk");
  assert.equal(ch.id, chunks[0].id);
  for (const choice of ch.choices) {
    text += choice.delta.content ?? "";
    if (choice.finish_reason) finish = choice.finish_reason;
  }
}
const last = chunks.at(-1);
assert.deepEqual(last.choices, [], "the usage chunk has choices");
assert.deepEqual(last.usage, chat.usage, "streamed usage differs");
assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens);
assert.ok(last.usage.completion_tokens <= 24);
assert.equal(text, chat.choices[0].message.content, "streamed chat differs");
assert.equal(finish, chat.choices[0].finish_reason);

// Errors: unknown model is NotFoundError (404 model_not_found); a bad value
// is BadRequestError.
await assert.rejects(client.completions.create({ model: "acme/no-such-model", prompt, max_tokens: 4 }), (err) => {
  assert.ok(err instanceof NotFoundError, `unknown model threw ${err}`);
  assert.equal(err.status, 404);
  assert.equal(err.code, "model_not_found");
  return true;
});
await assert.rejects(client.chat.completions.create({ model, messages, temperature: 5 }), (err) => {
  assert.ok(err instanceof BadRequestError, `temperature 5 threw ${err}`);
  assert.equal(err.param, "temperature");
  return true;
});

console.log(`openai client: models ${ids.length}, greedy completion matches llama.cpp, ${chunks.length} chat chunks, usage ${JSON.stringify(last.usage)}, errors typed`);

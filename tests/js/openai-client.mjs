// Drives smf serve's /v1/completions with OpenAI's own npm client and prints what it got as one JSON line.
// Usage: SMF_URL=http://127.0.0.1:PORT SMF_TOKEN=... SMF_MODEL=NAME node tests/js/openai-client.mjs
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.env.SMF_URL + '/v1', apiKey: process.env.SMF_TOKEN, maxRetries: 0, timeout: 60_000 });
const model = process.env.SMF_MODEL;
const prompt = 'Ada lives in';
const out = {};

const plain = await client.completions.create({ model, prompt, max_tokens: 8 });
out.plain = { id: plain.id, object: plain.object, text: plain.choices[0].text, finish_reason: plain.choices[0].finish_reason, usage: plain.usage };

const short = await client.completions.create({ model, prompt, max_tokens: 2 });
out.short = { text: short.choices[0].text, finish_reason: short.choices[0].finish_reason, usage: short.usage };

const stop = plain.choices[0].text.length >= 4 ? plain.choices[0].text.slice(2, 4) : 'zz';
const stopped = await client.completions.create({ model, prompt, max_tokens: 8, stop: [stop] });
out.stopped = { stop, text: stopped.choices[0].text, finish_reason: stopped.choices[0].finish_reason };

const many = await client.completions.create({ model, prompt, max_tokens: 4, n: 2, temperature: 1, seed: 5 });
out.many = many.choices.map(c => ({ index: c.index, text: c.text, finish_reason: c.finish_reason }));

const scored = await client.completions.create({ model, prompt, max_tokens: 8, echo: true, logprobs: 2 });
const lp = scored.choices[0].logprobs;
out.scored = { text: scored.choices[0].text, usage: scored.usage, tokens: lp.tokens, token_logprobs: lp.token_logprobs,
  top_logprobs: lp.top_logprobs, text_offset: lp.text_offset };

const stream = await client.completions.create({ model, prompt, max_tokens: 8, stream: true, stream_options: { include_usage: true } });
const pieces = [];
let finish = null, usage = null;
for await (const chunk of stream) {
  for (const c of chunk.choices) { pieces.push(c.text); if (c.finish_reason) finish = c.finish_reason; }
  if (chunk.usage) usage = chunk.usage;
}
out.stream = { pieces: pieces.length, text: pieces.join(''), finish_reason: finish, usage };

const stoppedStream = await client.completions.create({ model, prompt, max_tokens: 8, stop, stream: true });
let text = '';
for await (const chunk of stoppedStream) for (const c of chunk.choices) text += c.text;
out.stoppedStream = { text };

try {
  await client.completions.create({ model: 'not-' + model, prompt, max_tokens: 2 });
  out.wrongModel = { status: 200 };
} catch (e) {
  out.wrongModel = { status: e.status, code: e.code ?? null, param: e.param ?? null };
}
console.log(JSON.stringify(out));

// The built-in LLM engine (device 47, random-weight GGUF model) through the L7 API with the
// official `openai` npm client, against a running dsmild (started by dsmild_l7_test.sh):
//   env DSMIL_OPENAI_DIR (node_modules/openai), DSMIL_L7_URL, DSMIL_ALPHA_KEY, DSMIL_BRAVO_KEY
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(join(process.env.DSMIL_OPENAI_DIR, 'node_modules', 'x.js'));
const { default: OpenAI } = require('openai');

const client = (key) => new OpenAI({ apiKey: key, baseURL: process.env.DSMIL_L7_URL + '/v1', maxRetries: 0 });
const alpha = client(process.env.DSMIL_ALPHA_KEY);
const bravo = client(process.env.DSMIL_BRAVO_KEY);
const MODEL = 'llm-7b-amx';

const greedy = (c, content, max_tokens = 12) =>
  c.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content }], max_tokens, temperature: 0 });

test('streamed completion from the built-in engine', async () => {
  const stream = await alpha.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'Summarise the last alerts' }], max_tokens: 8,
    temperature: 0, stream: true,
  });
  let chunks = 0, text = '', finish = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    const choice = chunk.choices[0];
    if (!choice) continue;
    if (choice.delta?.content) { text += choice.delta.content; chunks++; }
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  assert.ok(chunks >= 2, `expected the answer in several chunks, got ${chunks}`);
  assert.ok(text.length > 0);
  assert.ok(finish === 'length' || finish === 'stop', `finish_reason ${finish}`);
  // The same greedy request without streaming gives the same text.
  const whole = await greedy(alpha, 'Summarise the last alerts', 8);
  assert.equal(whole.choices[0].message.content, text);
});

test('two tenants at once are batched and never see each other\'s context', async () => {
  const alone = (await greedy(alpha, 'ALPHA context: host ws-17 beaconing')).choices[0].message.content;
  const bravoAlone = (await greedy(bravo, 'BRAVO context: a completely different question about VPN logs')).choices[0].message.content;
  // Concurrently, several times: each tenant's greedy answer must equal its answer alone.
  for (let round = 0; round < 3; round++) {
    const [a, b] = await Promise.all([
      greedy(alpha, 'ALPHA context: host ws-17 beaconing'),
      greedy(bravo, 'BRAVO context: a completely different question about VPN logs'),
    ]);
    assert.equal(a.choices[0].message.content, alone, `ALPHA's answer changed next to BRAVO (round ${round})`);
    assert.equal(b.choices[0].message.content, bravoAlone, `BRAVO's answer changed next to ALPHA (round ${round})`);
  }
});

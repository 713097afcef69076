import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BidiMessage, toFrame, toFrames } from './bidi-stream.js';
import { isToolkitError } from '../errors/catalogue.js';

async function collect(replies: unknown): Promise<{ text: string; binary: boolean }[]> {
  const out: { text: string; binary: boolean }[] = [];
  for await (const f of toFrames(replies)) out.push({ text: Buffer.from(f.data).toString('utf8'), binary: f.binary });
  return out;
}

test('a reply of plain data is written as a JSON answer is: a typed array in it as an array (not an object of indexes), a bigint as a number', () => {
  const frame = toFrame({ row: 1, logits: new Float32Array([0.5, -2]), ids: new Int32Array([3]), n: 7n });
  assert.deepEqual([Buffer.from(frame.data).toString(), frame.binary], ['{"row":1,"logits":[0.5,-2.0],"ids":[3],"n":7}', false]);
});

test('replies become frames: strings as text, bytes as binary, anything else as JSON text', () => {
  assert.deepEqual(toFrame('hi').binary, false);
  assert.deepEqual([...toFrame(Buffer.from([1, 2])).data], [1, 2]);
  assert.equal(toFrame(new Uint8Array([3])).binary, true);
  assert.equal(toFrame(new Uint8Array([4, 5]).buffer).binary, true);
  // Any typed array or DataView is its bytes (JSON wrote a Float32Array as {"0":1.5}, a DataView as {}).
  const floats = toFrame(new Float32Array([1.5]));
  assert.equal(floats.binary, true);
  assert.deepEqual(Buffer.from(floats.data), Buffer.from(new Float32Array([1.5]).buffer));
  const view = toFrame(new DataView(new Uint8Array([6, 7, 8]).buffer, 1, 1));
  assert.equal(view.binary, true);
  assert.deepEqual([...view.data], [7]);
  const json = toFrame({ a: [1, 2] });
  assert.deepEqual([Buffer.from(json.data).toString(), json.binary], ['{"a":[1,2]}', false]);
  assert.equal(Buffer.from(toFrame(null).data).toString(), 'null');
});

test("a reply JSON has no text for (undefined, a function, a symbol) or cannot write is bidiFn's error, as such a streamed HTTP chunk is, not a null the client never meant to get", () => {
  for (const [bad, kind] of [[undefined, 'undefined'], [() => 1, 'a function'], [Symbol('s'), 'a symbol']] as const) {
    assert.throws(() => toFrame(bad), { name: 'TypeError', message: `bidiFn replied ${kind}, which JSON has no text for: reply with strings, Buffers or other bytes, or plain data (written as JSON)` });
  }
  assert.throws(() => toFrame({ seen: new Map([['a', 1]]) }, 'bidi_fn'), { name: 'TypeError', message: /^bidi_fn replied with a value JSON cannot hold \(it holds a Map, whose content JSON cannot hold\): reply with strings/ });
  // A Blob (its bytes are read asynchronously) or a fetch Response was sent as a {} text message.
  assert.throws(() => toFrame(new Blob(['image bytes'])), { name: 'TypeError', message: /^bidiFn replied with a value JSON cannot hold \(it holds a Blob \(bytes: read them with await blob\.arrayBuffer\(\)/ });
  assert.throws(() => toFrame({ page: new Response('x') }), { name: 'TypeError', message: /^bidiFn replied with a value JSON cannot hold \(it holds a fetch Response \(read its body first/ });
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  assert.throws(() => toFrame(cycle), { name: 'TypeError', message: /^bidiFn replied with a value JSON cannot hold \(Converting circular structure/ });
});

test('bidiFn may be an async generator, return a sync iterable, or an async function resolving to either', async () => {
  async function* gen() {
    yield 'a';
    yield Buffer.from('b');
  }
  assert.deepEqual(await collect(gen()), [
    { text: 'a', binary: false },
    { text: 'b', binary: true },
  ]);
  assert.deepEqual(await collect(['x', { y: 1 }]), [
    { text: 'x', binary: false },
    { text: '{"y":1}', binary: false },
  ]);
  assert.deepEqual(await collect(Promise.resolve(gen())), [
    { text: 'a', binary: false },
    { text: 'b', binary: true },
  ]);
});

test('a reply that is an async iterable goes out in parts, one frame each without FIN, ended by an empty frame with FIN; an array stays one JSON reply', async () => {
  async function* parts(...items: unknown[]) {
    for (const item of items) yield item;
  }
  const frames: { text: string; binary: boolean; partial: boolean }[] = [];
  for await (const f of toFrames([parts('to', 'ken'), [1, 2], parts(), parts(Buffer.from('b'))])) frames.push({ text: Buffer.from(f.data).toString('utf8'), binary: f.binary, partial: f.partial === true });
  assert.deepEqual(frames, [
    { text: 'to', binary: false, partial: true },
    { text: 'ken', binary: false, partial: true },
    { text: '', binary: false, partial: false },
    { text: '[1,2]', binary: false, partial: false },
    // A reply with no parts is no message at all.
    { text: 'b', binary: true, partial: true },
    { text: '', binary: true, partial: false },
  ]);
  await assert.rejects(collect([parts('a', { b: 1 }, Buffer.from('c'))]), /^TypeError: bidiFn replied in parts of text and bytes: part 3 is bytes \(a binary frame\), the first was text \(a text frame\); one message is text or binary/);
});

test('bidiFn returning something that is not a stream of replies is an error that says what to return', async () => {
  for (const bad of [undefined, null, 42, 'a string', Buffer.from('bytes'), { reply: 1 }]) {
    await assert.rejects(collect(bad), /bidiFn must return \(or be\) an async iterable of replies/);
  }
  // A typed array is iterable, but it is bytes, not replies: not sent number by number.
  for (const [bytes, kind] of [[new Float32Array([1.5, 2]), 'a Float32Array'], [new Uint8Array([1]), 'a Uint8Array'], [Buffer.from('b'), 'a Uint8Array'], [new ArrayBuffer(2), 'an object']] as const) {
    await assert.rejects(collect(bytes), { name: 'TypeError', message: `bidiFn must return (or be) an async iterable of replies, such as an async generator; it returned ${kind} (bytes are one reply: yield them, or return [bytes])` });
  }
});

test('a message reads as bytes, text or JSON', () => {
  const m = new BidiMessage(Buffer.from('{"q":"hé"}'), false);
  assert.equal(m.text(), '{"q":"hé"}');
  assert.deepEqual(m.json(), { q: 'hé' });
  assert.throws(() => new BidiMessage(Buffer.from('{'), false).json(), SyntaxError);
  // Deeper than a request body may nest: refused before it is parsed, with the request's code (the stream closes with 4400).
  assert.throws(() => new BidiMessage(Buffer.from('['.repeat(513) + ']'.repeat(513)), false).json(), (err: unknown) => {
    assert.ok(isToolkitError(err));
    assert.equal(err.code, 'ERR_JSON_PARSE');
    assert.equal(err.status, 400);
    assert.match(err.message, /^the message nests arrays and objects more than 512 levels deep/);
    return true;
  });
  assert.equal(new BidiMessage(Buffer.from('['.repeat(512) + ']'.repeat(512)), false).json<unknown[]>().length, 1, '512 levels are taken');
});

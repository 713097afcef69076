import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { crc32 } from '../codecs/crc32.js';
import { isToolkitError } from '../errors/catalogue.js';
import { eventStreamPayloads } from './event-stream.js';

const URL = 'http://127.0.0.1:1/endpoints/e/invocations-response-stream';
const codec = new EventStreamCodec(
  (b) => Buffer.from(b).toString('utf8'),
  (t) => new Uint8Array(Buffer.from(t, 'utf8')),
);
const str = (value: string) => ({ type: 'string' as const, value });
const part = (payload: Uint8Array) => Buffer.from(codec.encode({ headers: { ':message-type': str('event'), ':event-type': str('PayloadPart') }, body: payload }));
/** A message that carries no payload for the caller: no headers at all, or another event. */
const other = (kind: 'bare' | 'event') =>
  Buffer.from(codec.encode({ headers: kind === 'bare' ? {} : { ':message-type': str('event'), ':event-type': str('InitialResponse') }, body: new Uint8Array(kind === 'bare' ? 0 : 3) }));

/** `bytes` as the pieces a body arrives in, cut at `cuts` (offsets, in any order, repeats allowed). */
async function* pieces(bytes: Buffer, cuts: readonly number[] = []): AsyncIterable<Uint8Array> {
  let from = 0;
  for (const at of [...new Set(cuts)].sort((a, b) => a - b)) {
    if (at <= from || at >= bytes.length) continue;
    yield bytes.subarray(from, at);
    from = at;
  }
  if (from < bytes.length) yield bytes.subarray(from);
}

/** What the parser yields of `body`, and what it threw (undefined when it ended cleanly). */
async function read(body: AsyncIterable<Uint8Array>): Promise<{ payloads: Buffer[]; error?: unknown }> {
  const payloads: Buffer[] = [];
  try {
    for await (const payload of eventStreamPayloads(URL, body)) payloads.push(Buffer.from(payload));
    return { payloads };
  } catch (error) {
    return { payloads, error };
  }
}

/** A stream of messages: PayloadParts (some empty) among messages that carry nothing for the caller. */
const messagesArb = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.uint8Array({ maxLength: 40 }).map((p) => ({ payload: Buffer.from(p) as Buffer | undefined, bytes: part(p) })) },
    { weight: 1, arbitrary: fc.constantFrom('bare' as const, 'event' as const).map((k) => ({ payload: undefined as Buffer | undefined, bytes: other(k) })) },
  ),
  { maxLength: 6 },
);

test('event stream: a valid stream cut into pieces anywhere (a prelude split, several messages in a piece, empty payloads) yields the same payloads as whole', async () => {
  await fc.assert(
    fc.asyncProperty(messagesArb, fc.array(fc.nat(), { maxLength: 12 }), async (messages, cuts) => {
      const stream = Buffer.concat(messages.map((m) => m.bytes));
      const { payloads, error } = await read(pieces(stream, cuts.map((c) => c % (stream.length + 1))));
      assert.equal(error, undefined);
      assert.deepEqual(payloads, messages.flatMap((m) => (m.payload ? [m.payload] : [])));
    }),
    { numRuns: 100 },
  );
});

test('event stream: three messages split at every byte boundary, and sent a byte at a time, yield their payloads', async () => {
  const payloads = [Buffer.from('hello '), Buffer.alloc(0), Buffer.from('world')];
  const stream = Buffer.concat(payloads.map(part));
  for (let at = 0; at <= stream.length; at++) assert.deepEqual(await read(pieces(stream, [at])), { payloads }, `cut at ${at}`);
  assert.deepEqual(await read(pieces(stream, [...stream.keys()])), { payloads });
  // Longer than the pieces kept apart before they are joined (1024), and followed by another message.
  const long = [Buffer.alloc(2500, 'a'), Buffer.from('b')];
  const longStream = Buffer.concat(long.map(part));
  assert.deepEqual(await read(pieces(longStream, [...longStream.keys()])), { payloads: long });
  assert.deepEqual(await read(pieces(longStream, [...longStream.keys()].filter((i) => i % 3 === 0 || i > 2520))), { payloads: long });
});

test('event stream: a stream cut short anywhere inside a message (its prelude too) fails after the whole messages before it, naming how much arrived', async () => {
  await fc.assert(
    fc.asyncProperty(messagesArb.filter((m) => m.length > 0), fc.nat(), fc.array(fc.nat(), { maxLength: 4 }), async (messages, end, cuts) => {
      const stream = Buffer.concat(messages.map((m) => m.bytes));
      const starts = messages.map((_, i) => messages.slice(0, i).reduce((n, m) => n + m.bytes.length, 0));
      const at = end % stream.length;
      if (starts.includes(at)) return;
      const cutIn = starts.findLastIndex((s) => s < at);
      const { payloads, error } = await read(pieces(stream.subarray(0, at), cuts.map((c) => c % (at + 1))));
      assert.deepEqual(payloads, messages.slice(0, cutIn).flatMap((m) => (m.payload ? [m.payload] : [])));
      assert.ok(isToolkitError(error) && error.code === 'ERR_INVOKE_FAILED', String(error));
      assert.equal(error.message, `${URL} answered 200 but its event stream is not valid: it ended inside a message, ${at - starts[cutIn]!} bytes of which arrived`);
    }),
    { numRuns: 100 },
  );
});

test('event stream: a bit flipped anywhere in a message is refused (ERR_INVOKE_FAILED) after the messages before it, whatever the pieces', async () => {
  await fc.assert(
    fc.asyncProperty(messagesArb.filter((m) => m.length > 0), fc.nat(), fc.nat(7), fc.array(fc.nat(), { maxLength: 4 }), async (messages, which, bit, cuts) => {
      const stream = Buffer.concat(messages.map((m) => m.bytes));
      const at = which % stream.length;
      stream[at]! ^= 1 << bit;
      const starts = messages.map((_, i) => messages.slice(0, i).reduce((n, m) => n + m.bytes.length, 0));
      const flippedIn = starts.findLastIndex((s) => s <= at);
      const { payloads, error } = await read(pieces(stream, cuts.map((c) => c % (stream.length + 1))));
      assert.deepEqual(payloads, messages.slice(0, flippedIn).flatMap((m) => (m.payload ? [m.payload] : [])));
      assert.ok(isToolkitError(error) && error.code === 'ERR_INVOKE_FAILED' && error.message.startsWith(`${URL} answered 200 but its event stream is not valid: `), String(error));
    }),
    { numRuns: 100 },
  );
});

test('event stream: a ModelStreamError exception event fails with its type and payload, after the parts before it', async () => {
  const exception = Buffer.from(
    codec.encode({
      headers: { ':message-type': str('exception'), ':exception-type': str('ModelStreamError'), ':content-type': str('application/json') },
      body: new Uint8Array(Buffer.from('{"Message":"boom","ErrorCode":"StreamBroken"}')),
    }),
  );
  const { payloads, error } = await read(pieces(Buffer.concat([part(Buffer.from('a')), exception, part(Buffer.from('never'))])));
  assert.deepEqual(payloads, [Buffer.from('a')]);
  assert.ok(isToolkitError(error) && error.code === 'ERR_INVOKE_FAILED');
  assert.equal(error.message, 'the stream broke: ModelStreamError: {"Message":"boom","ErrorCode":"StreamBroken"}');
});

test('event stream: an error message fails with its :error-code and :error-message headers, where it says what went wrong', async () => {
  const failure = Buffer.from(
    codec.encode({ headers: { ':message-type': str('error'), ':error-code': str('InternalFailure'), ':error-message': str('the service broke') }, body: new Uint8Array(0) }),
  );
  const { payloads, error } = await read(pieces(Buffer.concat([part(Buffer.from('a')), failure]), [20]));
  assert.deepEqual(payloads, [Buffer.from('a')]);
  assert.ok(isToolkitError(error) && error.code === 'ERR_INVOKE_FAILED');
  assert.equal(error.message, 'the stream broke: InternalFailure: the service broke');
});

/** A message's prelude: `size` bytes in all, `headers` of them headers, its CRC right. */
function prelude(size: number, headers: number): Buffer {
  const bytes = Buffer.alloc(12);
  bytes.writeUInt32BE(size, 0);
  bytes.writeUInt32BE(headers, 4);
  bytes.writeUInt32BE(crc32(bytes.subarray(0, 8)), 8);
  return bytes;
}

/** `bytes`, then a failure if more is asked for: the parser has to decide on what it has. */
async function* thenStalled(bytes: Buffer): AsyncIterable<Uint8Array> {
  yield bytes;
  throw new Error('asked for more');
}

test('event stream: a prelude is checked as boto3 checks it once its 12 bytes are in (its CRC, then headers up to 128 KiB and payload up to 24 MiB), not once its message would be whole', async () => {
  const damaged = part(Buffer.from('world'));
  damaged.writeUInt32BE(damaged.readUInt32BE(0) + 1000, 0);
  const bad = async (bytes: Buffer, why: string | RegExp) => {
    const { error } = await read(thenStalled(bytes));
    assert.ok(isToolkitError(error) && error.code === 'ERR_INVOKE_FAILED', String(error));
    const prefix = `${URL} answered 200 but its event stream is not valid: `;
    assert.ok(error.message.startsWith(prefix), error.message);
    if (typeof why === 'string') assert.equal(error.message.slice(prefix.length), why);
    else assert.match(error.message.slice(prefix.length), why);
  };
  // A length damaged on the way (its CRC then wrong) is not waited for: what came after it is already here.
  await bad(Buffer.concat([part(Buffer.from('hello')), damaged]), /^a message's prelude checksum \(\d+\) did not match the expected value of \d+$/);
  await bad(prelude(16 + 200_000 + 5, 200_000), "a message's headers are 200000 bytes long, over the 131072 boto3 reads");
  await bad(prelude(16 + 24 * 1024 * 1024 + 1, 0), "a message's payload is 25165825 bytes long, over the 25165824 boto3 reads");
  await bad(prelude(20, 5), 'a message of 20 bytes says its headers are 5 bytes long');
  await bad(Buffer.alloc(8), 'a message says it is 0 bytes long, where 16 to 25296912 bytes are');
  // At boto3's limits exactly, the rest of the message is waited for.
  assert.equal((await read(thenStalled(prelude(16 + 128 * 1024 + 24 * 1024 * 1024, 128 * 1024)))).error?.toString(), 'Error: asked for more');
  assert.equal((await read(thenStalled(prelude(16, 0).subarray(0, 11)))).error?.toString(), 'Error: asked for more');
});

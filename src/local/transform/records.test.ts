import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assembleOutputs, crc32c, eachFrameOf, eachFrameOfStream, eachLineOf, groupMiniBatches, MalformedInputError, maskedCrc32c, RecordTooLargeError, splitRecords, type InputRecord } from './records.js';
import { parseBatchStrategy, resolveExecutionParameters } from './parameters.js';

const b = (s: string): Buffer => Buffer.from(s);

test('Line split keeps each trailing newline and skips blank lines', () => {
  const recs = splitRecords(b('1,2\n\n3,4\r\n5,6'), 'Line');
  assert.deepEqual(recs.map((r) => r.data.toString()), ['1,2\n', '3,4\r\n', '5,6']);
  assert.deepEqual(recs.map((r) => r.index), [0, 1, 2]);
});

test('None split is the whole file; an empty file has no records', () => {
  assert.equal(splitRecords(b('a\nb\n'), 'None')[0]!.data.toString(), 'a\nb\n');
  assert.equal(splitRecords(b(''), 'None').length, 0);
  assert.equal(splitRecords(b('\n\n'), 'Line').length, 0);
});

test('MULTI_RECORD packs consecutive records under the limit, in order', () => {
  const recs = splitRecords(b('aaaa\nbbbb\ncccc\ndddd\n'), 'Line');
  const batches = groupMiniBatches(recs, 'MULTI_RECORD', 10);
  assert.deepEqual(batches.map((x) => x.body.toString()), ['aaaa\nbbbb\n', 'cccc\ndddd\n']);
  assert.equal(groupMiniBatches(recs, 'MULTI_RECORD', 0).length, 1, '0 = no limit');
});

test('SINGLE_RECORD sends one record per request', () => {
  const recs = splitRecords(b('a\nb\nc\n'), 'Line');
  assert.deepEqual(groupMiniBatches(recs, 'SINGLE_RECORD', 100).map((x) => x.records.map((r) => r.index)), [[0], [1], [2]]);
});

test('a record over the limit gets its own batch marked tooLarge', () => {
  const recs = splitRecords(b('ab\n' + 'x'.repeat(20) + '\ncd\n'), 'Line');
  const batches = groupMiniBatches(recs, 'MULTI_RECORD', 8);
  assert.deepEqual(batches.map((x) => [x.records.map((r) => r.index), Boolean(x.tooLarge)]), [[[0], false], [[1], true], [[2], false]]);
});

test('assemble: Line puts a newline after every answer, as the service does; None concatenates', () => {
  assert.equal(assembleOutputs([b('1'), b('2\n'), b('3')], 'Line').toString(), '1\n2\n\n3\n');
  assert.equal(assembleOutputs([b(''), b('x')], 'Line').toString(), '\nx\n');
  assert.equal(assembleOutputs([b('1'), b('2')], 'None').toString(), '12');
});

test('execution parameters: flags, then container, then defaults', () => {
  assert.deepEqual(resolveExecutionParameters({}, {}), { maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD', maxPayloadInMB: 6 });
  assert.deepEqual(resolveExecutionParameters({ maxPayloadInMB: 1 }, { maxPayloadInMB: 2, batchStrategy: 'SINGLE_RECORD', maxConcurrentTransforms: 4 }), {
    maxConcurrentTransforms: 4,
    batchStrategy: 'SINGLE_RECORD',
    maxPayloadInMB: 1,
  });
  assert.equal(parseBatchStrategy('MultiRecord'), 'MULTI_RECORD');
  assert.equal(parseBatchStrategy('single_record'), 'SINGLE_RECORD');
  assert.equal(parseBatchStrategy('x'), undefined);
});

/** A dmlc RecordIO writer, as MXNet's: the data is cut where it holds the magic at a 4-byte boundary. */
function recordio(...records: Buffer[]): Buffer {
  const MAGIC = 0xced7230a;
  const frame = (flag: number, data: Buffer): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(MAGIC, 0);
    head.writeUInt32LE(((flag << 29) | data.length) >>> 0, 4);
    return Buffer.concat([head, data, Buffer.alloc((4 - (data.length % 4)) % 4)]);
  };
  return Buffer.concat(
    records.map((r) => {
      const frames: Buffer[] = [];
      let from = 0;
      for (let i = 0; i + 4 <= r.length; i += 4) {
        if (r.readUInt32LE(i) === MAGIC) {
          frames.push(frame(from === 0 ? 1 : 2, r.subarray(from, i)));
          from = i + 4;
        }
      }
      frames.push(frame(from === 0 ? 0 : 3, r.subarray(from)));
      return Buffer.concat(frames);
    }),
  );
}

function tfrecord(...records: Buffer[]): Buffer {
  return Buffer.concat(
    records.map((r) => {
      const len = Buffer.alloc(8);
      len.writeUInt32LE(r.length, 0);
      const crc = (b: Buffer): Buffer => {
        const out = Buffer.alloc(4);
        out.writeUInt32LE(maskedCrc32c(b));
        return out;
      };
      return Buffer.concat([len, crc(len), r, crc(r)]);
    }),
  );
}

/** eachFrameOf over `data`, read a few bytes at a time, as one list: it must give what splitRecords gives. */
async function framesOf(data: Buffer, type: 'RecordIO' | 'TFRecord', strategy: 'MULTI_RECORD' | 'SINGLE_RECORD' = 'MULTI_RECORD'): Promise<InputRecord[]> {
  const out: InputRecord[] = [];
  const reader = { size: data.length, read: async (offset: number, length: number) => Buffer.from(data.subarray(offset, offset + length)) };
  for await (const group of eachFrameOf(reader, type, strategy)) out.push(...group);
  return out;
}

/** eachFrameOfStream over `data` in chunks of `size` bytes (a gunzip stream), as one list. */
async function streamedFramesOf(data: Buffer, type: 'RecordIO' | 'TFRecord', strategy: 'MULTI_RECORD' | 'SINGLE_RECORD' = 'MULTI_RECORD', size = 3, keep = 2 ** 31 - 1): Promise<InputRecord[]> {
  const chunks = (async function* () {
    for (let i = 0; i < data.length; i += size) yield Buffer.from(data.subarray(i, i + size));
  })();
  const out: InputRecord[] = [];
  for await (const group of eachFrameOfStream(chunks, type, strategy, keep)) out.push(...group);
  return out;
}

const plain = (records: readonly InputRecord[]): [number, string][] => records.map((r) => [r.index, r.data.toString('hex')]);

test('CRC-32C matches the standard check value', () => {
  assert.equal(crc32c(b('123456789')), 0xe3069283);
  assert.equal(crc32c(b('')), 0);
});

test('RecordIO: MULTI_RECORD keeps each frame with its padding; SINGLE_RECORD sends the data alone, multi-part records joined again; the same a record at a time', async () => {
  const magic = Buffer.from([0x0a, 0x23, 0xd7, 0xce]);
  const withMagic = Buffer.concat([b('abcd'), magic, b('xyz')]);
  const file = recordio(b('hello'), b(''), withMagic, b('1234'));
  const multi = splitRecords(file, 'RecordIO', 'MULTI_RECORD');
  assert.equal(multi.length, 4);
  assert.deepEqual(Buffer.concat(multi.map((r) => r.data)), file, 'the frames cover the file');
  assert.equal(multi[0]!.data.length, 16, '8-byte header, 5 bytes, 3 of padding');
  assert.deepEqual(
    splitRecords(file, 'RecordIO', 'SINGLE_RECORD').map((r) => r.data.toString('hex')),
    [b('hello'), b(''), withMagic, b('1234')].map((x) => x.toString('hex')),
  );
  assert.deepEqual(splitRecords(Buffer.alloc(0), 'RecordIO'), []);
  for (const strategy of ['MULTI_RECORD', 'SINGLE_RECORD'] as const) {
    assert.deepEqual(plain(await framesOf(file, 'RecordIO', strategy)), plain(splitRecords(file, 'RecordIO', strategy)), `a record at a time, ${strategy}`);
    for (const size of [1, 3, 8, file.length]) assert.deepEqual(plain(await streamedFramesOf(file, 'RecordIO', strategy, size)), plain(splitRecords(file, 'RecordIO', strategy)), `from a stream in chunks of ${size}, ${strategy}`);
  }
  assert.deepEqual(await framesOf(Buffer.alloc(0), 'RecordIO'), []);
  assert.deepEqual(await streamedFramesOf(Buffer.alloc(0), 'RecordIO'), []);
});

test('TFRecord: MULTI_RECORD keeps the frames, SINGLE_RECORD sends the data alone; the same a record at a time', async () => {
  const file = tfrecord(b('{"a":1}'), b(''), Buffer.from([0, 255, 10, 13]));
  const multi = splitRecords(file, 'TFRecord');
  assert.deepEqual(multi.map((r) => r.data.length), [23, 16, 20]);
  assert.deepEqual(Buffer.concat(multi.map((r) => r.data)), file);
  assert.deepEqual(splitRecords(file, 'TFRecord', 'SINGLE_RECORD').map((r) => r.data.toString('hex')), ['7b2261223a317d', '', '00ff0a0d']);
  for (const strategy of ['MULTI_RECORD', 'SINGLE_RECORD'] as const) {
    assert.deepEqual(plain(await framesOf(file, 'TFRecord', strategy)), plain(splitRecords(file, 'TFRecord', strategy)), `a record at a time, ${strategy}`);
    for (const size of [1, 5, 12, file.length]) assert.deepEqual(plain(await streamedFramesOf(file, 'TFRecord', strategy, size)), plain(splitRecords(file, 'TFRecord', strategy)), `from a stream in chunks of ${size}, ${strategy}`);
  }
});

test('broken RecordIO/TFRecord frames are a MalformedInputError naming the record and the byte, never a crash or a huge allocation, whole or a record at a time', async () => {
  const checks: Promise<void>[] = [];
  const malformed = (data: Buffer, type: 'RecordIO' | 'TFRecord', record: number, offset: number, pattern: RegExp, fromStream = true): void => {
    const same = (e: unknown): boolean => e instanceof MalformedInputError && e.record === record && e.offset === offset && pattern.test(e.message);
    assert.throws(() => splitRecords(data, type), same);
    checks.push(assert.rejects(framesOf(data, type), same));
    if (fromStream) for (const size of [1, 7, data.length]) checks.push(assert.rejects(streamedFramesOf(data, type, 'MULTI_RECORD', size), same, `from a stream in chunks of ${size}`));
  };
  const good = recordio(b('abc'));
  malformed(b('5.1,3.5\n6.2,3.4\n'), 'RecordIO', 0, 0, /malformed RecordIO: magic 0x.* instead of 0xced7230a at byte 0/);
  malformed(Buffer.concat([good, good.subarray(0, 5)]), 'RecordIO', 1, 12, /5 byte\(s\) left .*truncated/);
  const lying = Buffer.from(good);
  lying.writeUInt32LE(0x1fffffff, 4); // 512 MB claimed, 4 bytes present
  malformed(Buffer.concat([good, lying]), 'RecordIO', 1, 12, /frame says 536870911 bytes but 4 remain/);
  const strayPart = Buffer.from(good);
  strayPart.writeUInt32LE(((3 << 29) | 3) >>> 0, 4);
  malformed(strayPart, 'RecordIO', 0, 0, /continuation flag 3 where a record starts/);

  const tf = tfrecord(b('abc'));
  malformed(b('\x00'.repeat(40)), 'TFRecord', 0, 0, /length CRC mismatch/);
  malformed(Buffer.concat([tf, tf.subarray(0, 11)]), 'TFRecord', 1, 19, /11 byte\(s\) left/);
  const huge = Buffer.alloc(12);
  huge.writeUInt32LE(0xffffffff, 0);
  huge.writeUInt32LE(0xffffffff, 4);
  huge.writeUInt32LE(maskedCrc32c(huge.subarray(0, 8)), 8);
  malformed(Buffer.concat([tf, huge, b('tail')]), 'TFRecord', 1, 19, /frame says 18446744073709551615 bytes but 0 remain/, false);
  // A stream's length is not known before its end: a claim over what may be held is too large, whatever follows.
  checks.push(assert.rejects(streamedFramesOf(Buffer.concat([tf, huge, b('tail')]), 'TFRecord'), (e: unknown) => e instanceof RecordTooLargeError && e.record === 1));
  const flipped = Buffer.from(tf);
  flipped[13] ^= 1;
  malformed(flipped, 'TFRecord', 0, 0, /data CRC mismatch/);
  // A multi-part record whose last part is cut short: the parts before it are handed over too.
  const parts = recordio(Buffer.concat([b('abcd'), Buffer.from([0x0a, 0x23, 0xd7, 0xce]), b('wxyz')]));
  malformed(Buffer.concat([good, parts.subarray(0, parts.length - 2)]), 'RecordIO', 1, 24, /frame says 4 bytes but 2 remain/);
  await Promise.all(checks);
});

test('a RecordIO or TFRecord record of a stream longer than it may be stops the reading at its frame header, before its bytes are read (a gzip bomb is not decompressed); the records before it come first', async () => {
  const tooLarge = async (head: Buffer, type: 'RecordIO' | 'TFRecord', strategy: 'MULTI_RECORD' | 'SINGLE_RECORD', keep: number, record: number, size: number, atLeast = false): Promise<void> => {
    let pulled = 0;
    const chunks = (async function* () {
      yield head;
      pulled++;
      // What a bomb's next bytes would be: never asked for.
      throw new Error('read past the frame header');
    })();
    const got: InputRecord[] = [];
    await assert.rejects(
      (async () => {
        for await (const group of eachFrameOfStream(chunks, type, strategy, keep)) got.push(...group);
      })(),
      (e: unknown) => e instanceof RecordTooLargeError && e.record === record && e.size === size && e.atLeast === atLeast,
    );
    assert.equal(pulled, 0);
    assert.equal(got.length, record, 'the records before it');
  };
  const claim = Buffer.alloc(12);
  claim.writeUInt32LE(0, 0);
  claim.writeUInt32LE(3, 4); // 12 GiB
  claim.writeUInt32LE(maskedCrc32c(claim.subarray(0, 8)), 8);
  await tooLarge(claim, 'TFRecord', 'SINGLE_RECORD', 1 << 20, 0, 3 * 2 ** 32);
  await tooLarge(Buffer.concat([tfrecord(b('ok')), claim]), 'TFRecord', 'MULTI_RECORD', 1 << 20, 1, 3 * 2 ** 32 + 16);
  // A frame of 100 bytes is over a 64-byte limit as it is (with its header), not unwrapped.
  const rec = (flag: number, length: number): Buffer => {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(0xced7230a, 0);
    h.writeUInt32LE(((flag << 29) | length) >>> 0, 4);
    return h;
  };
  await tooLarge(Buffer.concat([recordio(b('a')), rec(0, 0x1fffffff)]), 'RecordIO', 'SINGLE_RECORD', 1 << 20, 1, 0x1fffffff);
  await tooLarge(rec(0, 60), 'RecordIO', 'MULTI_RECORD', 64, 0, 68);
  // A multi-part record: its parts count as they come.
  await tooLarge(Buffer.concat([rec(1, 40), Buffer.alloc(40), rec(2, 40)]), 'RecordIO', 'SINGLE_RECORD', 64, 0, 84, true);
  assert.deepEqual(plain(await streamedFramesOf(recordio(Buffer.alloc(60)), 'RecordIO', 'SINGLE_RECORD', 7, 64)), plain(splitRecords(recordio(Buffer.alloc(60)), 'RecordIO', 'SINGLE_RECORD')), 'within the limit unwrapped');
});

test('eachLineOf over a stream gives the records splitRecords gives, however the bytes are cut into chunks; a line over the limit is kept only past it, with its length', async () => {
  const text = '1,2\n\n3,4\r\n\r\n5,6\n' + 'x'.repeat(30) + '\n7';
  const whole = splitRecords(b(text), 'Line').map((r) => [r.index, r.data.toString()]);
  for (const size of [1, 2, 3, 5, 7, text.length]) {
    const chunks = (async function* () {
      for (let i = 0; i < text.length; i += size) yield b(text.slice(i, i + size));
    })();
    const got: [number, string, number | undefined][] = [];
    for await (const group of eachLineOf(chunks, 10)) for (const r of group) got.push([r.index, r.data.toString(), r.size]);
    assert.deepEqual(
      got.map(([i, d]) => [i, d]),
      whole.map(([i, d]) => [i, d === 'x'.repeat(30) + '\n' ? 'x'.repeat(11) : d]),
      `chunks of ${size}`,
    );
    assert.deepEqual(got.filter(([, , s]) => s !== undefined).map(([i, , s]) => [i, s]), [[3, 31]], `chunks of ${size}`);
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { buildCaptureRecord, captureEncoding, fillCaptureData, measureCaptureRecord, type CaptureEvent } from './record.js';
import { CaptureWriter, capturePartition } from './writer.js';
import { existsSync } from 'node:fs';

const types = { csvContentTypes: ['text/csv'], jsonContentTypes: ['application/json'] };

test('encoding follows the configured content types; parameters are ignored', () => {
  assert.equal(captureEncoding('text/csv; charset=utf-8', types), 'CSV');
  assert.equal(captureEncoding('Application/JSON', types), 'JSON');
  assert.equal(captureEncoding('application/x-npy', types), 'BASE64');
  assert.equal(captureEncoding('text/csv', { csvContentTypes: [], jsonContentTypes: [] }), 'BASE64');
});

test('records have the Model Monitor shape', () => {
  const at = new Date('2022-02-14T17:25:49.123Z');
  const rec = buildCaptureRecord(
    { at, eventId: 'e1', inferenceId: 'i1', customAttributes: 'k=v', input: { body: Buffer.from('1,2'), contentType: 'text/csv' }, output: { body: Buffer.from([0, 255]), contentType: 'application/octet-stream' } },
    types,
  );
  assert.deepEqual(rec, {
    captureData: {
      endpointInput: { observedContentType: 'text/csv', mode: 'INPUT', data: '1,2', encoding: 'CSV' },
      endpointOutput: { observedContentType: 'application/octet-stream', mode: 'OUTPUT', data: 'AP8=', encoding: 'BASE64' },
    },
    // A list, as the service writes it (Model Monitor preprocessing scripts read custom_attribute[0]).
    eventMetadata: { eventId: 'e1', inferenceTime: '2022-02-14T17:25:49Z', inferenceId: 'i1', customAttributes: ['k=v'] },
    eventVersion: '0',
  });
});

test('a CSV or JSON payload that is not UTF-8 is stored as BASE64, byte for byte', () => {
  const latin1 = Buffer.from('caf\xe9,1', 'latin1');
  const cut = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe2, 0x82, 0x22, 0x7d]);
  const rec = buildCaptureRecord({ at: new Date(0), input: { body: latin1, contentType: 'text/csv' }, output: { body: cut, contentType: 'application/json' } }, types);
  assert.deepEqual(rec.captureData.endpointInput, { observedContentType: 'text/csv', mode: 'INPUT', data: latin1.toString('base64'), encoding: 'BASE64' });
  assert.deepEqual(rec.captureData.endpointOutput, { observedContentType: 'application/json', mode: 'OUTPUT', data: cut.toString('base64'), encoding: 'BASE64' });
  // Valid UTF-8 beyond ASCII stays text.
  assert.deepEqual(buildCaptureRecord({ at: new Date(0), input: { body: Buffer.from('café,1'), contentType: 'text/csv' } }, types).captureData.endpointInput?.encoding, 'CSV');
});

test('the writer samples, partitions by hour and writes JSON lines', async () => {
  const dest = await mkdtemp(join(tmpdir(), 'smkit-capture-'));
  try {
    const values = [0.1, 0.9, 0.2];
    const writer = new CaptureWriter('ep', { destination: dest, samplingPercentage: 50, captureInput: true, captureOutput: false, ...types }, () => values.shift()!);
    assert.deepEqual([writer.sample(), writer.sample(), writer.sample()], [true, false, true]);
    const at = new Date('2024-03-05T07:08:09.010Z');
    writer.capture('AllTraffic', { at, input: { body: Buffer.from('{"a":1}'), contentType: 'application/json' }, output: { body: Buffer.from('x'), contentType: 'text/plain' } });
    writer.capture('AllTraffic', { at, input: { body: Buffer.from('2'), contentType: 'application/json' } });
    await writer.flush();
    const dir = capturePartition(dest, 'ep', 'AllTraffic', at);
    assert.equal(dir, join(dest, 'ep', 'AllTraffic', '2024', '03', '05', '07'));
    const files = await readdir(dir);
    assert.equal(files.length, 1);
    assert.match(files[0]!, /^08-09-010-[0-9a-f-]{36}\.jsonl$/);
    const lines = (await readFile(join(dir, files[0]!), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    assert.equal(lines[0].captureData.endpointInput.data, '{"a":1}');
    assert.equal(lines[0].captureData.endpointOutput, undefined, 'Output is not among the capture options');
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
});

test('records captured faster than the disk takes them are all written, in order, per variant; flush waits for the last', async () => {
  const dest = await mkdtemp(join(tmpdir(), 'smkit-capture-burst-'));
  try {
    const writer = new CaptureWriter('ep', { destination: dest, samplingPercentage: 100, captureInput: true, captureOutput: false, csvContentTypes: [], jsonContentTypes: [] });
    const at = new Date('2024-03-05T07:08:09.010Z');
    for (let i = 0; i < 3000; i++) {
      writer.capture(i % 3 === 0 ? 'B' : 'A', { at, input: { body: Buffer.from(String(i)), contentType: 'text/csv' } });
      // Some records arrive while a write is under way.
      if (i % 500 === 0) await new Promise((r) => setImmediate(r));
    }
    await writer.flush();
    assert.equal(writer.written, 3000);
    for (const [variant, keep] of [['A', (i: number) => i % 3 !== 0], ['B', (i: number) => i % 3 === 0]] as const) {
      const dir = capturePartition(dest, 'ep', variant, at);
      const files = await readdir(dir);
      assert.equal(files.length, 1);
      const inputs = (await readFile(join(dir, files[0]!), 'utf8')).trimEnd().split('\n').map((l) => Buffer.from((JSON.parse(l) as { captureData: { endpointInput: { data: string } } }).captureData.endpointInput.data, 'base64').toString());
      assert.deepEqual(inputs, Array.from({ length: 3000 }, (_, i) => i).filter(keep).map(String));
    }
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
});

test('a payload that cannot be made a JSON line (longer than a string may be) is a capture failure, reported, never an error of the invocation', async () => {
  const errors: string[] = [];
  const dest = await mkdtemp(join(tmpdir(), 'smkit-capture-huge-'));
  try {
    const writer = new CaptureWriter('ep', { destination: dest, samplingPercentage: 100, captureInput: true, captureOutput: true, ...types }, Math.random, (err) => errors.push(err.message));
    // An asynchronous invocation's payload may be 1 GB: its base64 text is past V8's string limit
    // (buffer.constants.MAX_STRING_LENGTH), and Buffer#toString throws.
    const huge = Object.assign(Buffer.from('x'), {
      toString(): string {
        throw Object.assign(new Error('Cannot create a string longer than 0x1fffffe8 characters'), { code: 'ERR_STRING_TOO_LONG' });
      },
    });
    const at = new Date('2024-03-05T07:08:09.010Z');
    assert.doesNotThrow(() => writer.capture('AllTraffic', { at, input: { body: Buffer.from('1'), contentType: 'text/csv' }, output: { body: huge, contentType: 'application/x-npy' } }));
    writer.capture('AllTraffic', { at, input: { body: Buffer.from('2'), contentType: 'text/csv' } });
    await writer.flush();
    assert.deepEqual(errors, ['Cannot create a string longer than 0x1fffffe8 characters']);
    assert.equal(writer.written, 1, 'the next record is written');
    assert.equal(writer.failed, 1);
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
});

test('a destination whose folder cannot be made (under /proc) is a capture failure, reported, not a write that never ends: Node recursive mkdir retried it for ever', { skip: !existsSync('/proc/self') }, async () => {
  const errors: string[] = [];
  const writer = new CaptureWriter('ep', { destination: '/proc/smkit-no-such', samplingPercentage: 100, captureInput: true, captureOutput: false, ...types }, Math.random, (err) => errors.push(err.message));
  writer.capture('AllTraffic', { at: new Date('2024-03-05T07:08:09.010Z'), input: { body: Buffer.from('1'), contentType: 'text/csv' } });
  await writer.flush();
  assert.equal(writer.written, 0);
  assert.equal(writer.failed, 1);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /ENOENT.*mkdir '\/proc\/smkit-no-such'/);
});

test('a write that fails part-way (a full disk) leaves no partial line for the next record to join: every line stays one whole record', async () => {
  const dest = await mkdtemp(join(tmpdir(), 'smkit-capture-enospc-'));
  try {
    const errors: string[] = [];
    let calls = 0;
    // The second append writes half its data, then the disk is full (ENOSPC), as write(2) can leave it.
    const append = async (file: string, data: string): Promise<void> => {
      calls += 1;
      if (calls !== 2) return appendFile(file, data);
      await appendFile(file, data.slice(0, data.length >> 1));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    const writer = new CaptureWriter('ep', { destination: dest, samplingPercentage: 100, captureInput: true, captureOutput: false, ...types }, Math.random, (err) => errors.push(err.message), { append });
    const at = new Date('2024-03-05T07:08:09.010Z');
    for (const body of ['1', '2', '3']) {
      writer.capture('AllTraffic', { at, input: { body: Buffer.from(body), contentType: 'text/csv' } });
      await writer.flush();
    }
    assert.deepEqual(errors, ['ENOSPC: no space left on device, write']);
    const dir = capturePartition(dest, 'ep', 'AllTraffic', at);
    const inputs: string[] = [];
    for (const f of (await readdir(dir)).sort()) {
      const text = await readFile(join(dir, f), 'utf8');
      assert.ok(text === '' || text.endsWith('\n'), `${f} ends with a whole line: ${JSON.stringify(text)}`);
      for (const line of text.split('\n').filter((l) => l !== '')) inputs.push((JSON.parse(line) as { captureData: { endpointInput: { data: string } } }).captureData.endpointInput.data);
    }
    assert.deepEqual(inputs.sort(), ['1', '3'], 'the failed record is lost, the others are whole');
    assert.equal(writer.written, 2);
    assert.equal(writer.failed, 1);
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
});

test('records that pile up behind a slow write past the backlog limit are dropped and reported once, not held without bound', async () => {
  const dest = await mkdtemp(join(tmpdir(), 'smkit-capture-backlog-'));
  try {
    const errors: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let calls = 0;
    // The first append hangs (a slow or stalled disk) until the test releases it.
    const append = async (file: string, data: string): Promise<void> => {
      if ((calls += 1) === 1) await released;
      return appendFile(file, data);
    };
    const writer = new CaptureWriter('ep', { destination: dest, samplingPercentage: 100, captureInput: true, captureOutput: false, csvContentTypes: ['text/csv'], jsonContentTypes: [] }, Math.random, (err) => errors.push(err.message), { append, maxBacklogChars: 1_000 });
    const at = new Date('2024-03-05T07:08:09.010Z');
    const body = (i: number): Buffer => Buffer.from(String(i).padStart(200, '0'));
    // Each line is about 400 characters: the first is being written, two more fit the 1 000-character backlog.
    for (let i = 0; i < 10; i++) writer.capture('AllTraffic', { at, input: { body: body(i), contentType: 'text/csv' } });
    assert.equal(errors.length, 1, 'one report for the records dropped while the backlog is full');
    assert.match(errors[0]!, /^data capture is behind: \d+ characters of records wait to be written; records are dropped until they are$/);
    release();
    await writer.flush();
    assert.equal(writer.written, 3);
    assert.equal(writer.failed, 7, 'the shutdown summary counts the dropped records');
    const dir = capturePartition(dest, 'ep', 'AllTraffic', at);
    const [file] = await readdir(dir);
    const inputs = (await readFile(join(dir, file!), 'utf8')).trimEnd().split('\n').map((l) => (JSON.parse(l) as { captureData: { endpointInput: { data: string } } }).captureData.endpointInput.data);
    assert.deepEqual(inputs, [0, 1, 2].map((i) => body(i).toString()));
    // Once the backlog is written, records are captured again.
    writer.capture('AllTraffic', { at, input: { body: body(10), contentType: 'text/csv' } });
    await writer.flush();
    assert.equal(writer.written, 4);
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
});

test('a file that reaches its size limit is followed by a new one in the same hour: each stays small enough to upload whole again', async () => {
  const dest = await mkdtemp(join(tmpdir(), 'smkit-capture-rotate-'));
  try {
    const writer = new CaptureWriter('ep', { destination: dest, samplingPercentage: 100, captureInput: true, captureOutput: false, csvContentTypes: ['text/csv'], jsonContentTypes: [] }, Math.random, undefined, { maxFileChars: 1_000 });
    const at = (i: number): Date => new Date(Date.UTC(2024, 2, 5, 7, 8, 9, i));
    // About 420 characters a line: three lines reach 1 000, so seven make files of 3, 3 and 1.
    for (let i = 0; i < 7; i++) writer.capture('AllTraffic', { at: at(i), input: { body: Buffer.from(String(i).padStart(200, '0')), contentType: 'text/csv' } });
    await writer.flush();
    const dir = capturePartition(dest, 'ep', 'AllTraffic', at(0));
    const files = (await readdir(dir)).sort();
    assert.deepEqual(files.map((f) => f.slice(0, 9)), ['08-09-000', '08-09-003', '08-09-006'], 'each new file is named by its first record');
    const counts = await Promise.all(files.map(async (f) => (await readFile(join(dir, f), 'utf8')).trimEnd().split('\n').length));
    assert.deepEqual(counts, [3, 3, 1]);
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
});

test('a destination that cannot be written is reported once while it keeps failing, not once per write; the invocations go on', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-capture-unwritable-'));
  try {
    // A file where the destination folder should be: every mkdir under it fails with ENOTDIR.
    const dest = join(dir, 'not-a-folder');
    await writeFile(dest, '');
    const errors: string[] = [];
    const writer = new CaptureWriter('ep', { destination: dest, samplingPercentage: 100, captureInput: true, captureOutput: false, ...types }, Math.random, (err) => errors.push(err.message));
    const at = new Date('2024-03-05T07:08:09.010Z');
    for (let i = 0; i < 5; i++) {
      assert.doesNotThrow(() => writer.capture('AllTraffic', { at, input: { body: Buffer.from(String(i)), contentType: 'text/csv' } }));
      await writer.flush();
    }
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0]!, /^ENOTDIR/);
    assert.equal(writer.written, 0);
    assert.equal(writer.failed, 5, 'every lost record is counted for the shutdown summary');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('sampling at 0 % captures no invocation and at 100 % every one, whatever the random draw', () => {
  const draws = [0, 0.5, 0.9999999999999999];
  const writer = (samplingPercentage: number): CaptureWriter => {
    const values = [...draws];
    return new CaptureWriter('ep', { destination: '.', samplingPercentage, captureInput: true, captureOutput: true, ...types }, () => values.shift()!);
  };
  const none = writer(0);
  assert.deepEqual(draws.map(() => none.sample()), [false, false, false]);
  const all = writer(100);
  assert.deepEqual(draws.map(() => all.sample()), [true, true, true]);
});

/** A payload whose text may not be made: it throws when turned into a string. */
function untouchable(bytes: Buffer): Buffer {
  return Object.assign(bytes, {
    toString(): string {
      throw new Error('the payload was turned into text');
    },
  });
}

test('a record past the size one may take is skipped and reported before its text is made; the next one is written', async () => {
  const errors: string[] = [];
  const dest = await mkdtemp(join(tmpdir(), 'smkit-capture-record-limit-'));
  try {
    const writer = new CaptureWriter('ep', { destination: dest, samplingPercentage: 100, captureInput: true, captureOutput: true, ...types }, Math.random, (err) => errors.push(err.message), { maxRecordChars: 1_000 });
    const at = new Date('2024-03-05T07:08:09.010Z');
    // 900 bytes as base64 are 1 200 characters: refused by size, so the payload is never turned into text.
    const big = { at, inferenceId: 'big-1', input: { body: Buffer.from('1'), contentType: 'text/csv' }, output: { body: Buffer.alloc(900), contentType: 'application/x-npy' } };
    const bigLine = JSON.stringify(buildCaptureRecord(big, types)).length + 1;
    assert.doesNotThrow(() => writer.capture('AllTraffic', { ...big, output: { ...big.output, body: untouchable(Buffer.alloc(900)) } }));
    // 450 bytes of JSON whose quotes JSON escapes to 900 characters, and 150 control characters
    // escaped to 900 (\u0001): each over the limit as a line, though not as bytes.
    writer.capture('AllTraffic', { at, input: { body: untouchable(Buffer.from('"'.repeat(450))), contentType: 'application/json' } });
    writer.capture('AllTraffic', { at, input: { body: untouchable(Buffer.alloc(150, 1)), contentType: 'text/csv' } });
    writer.capture('AllTraffic', { at, input: { body: Buffer.from('5.1,3.5'), contentType: 'text/csv' } });
    await writer.flush();
    assert.equal(errors.length, 3, errors.join('\n'));
    assert.equal(errors[0], `data capture skipped an invocation of AllTraffic (inference id big-1): its record would take ${bigLine} characters, more than the 1000 one record may take`);
    assert.match(errors[1]!, /^data capture skipped an invocation of AllTraffic: its record would take 11\d\d characters, more than the 1000/);
    assert.match(errors[2]!, /^data capture skipped an invocation of AllTraffic: its record would take 11\d\d characters, more than the 1000/);
    assert.equal(writer.written, 1);
    assert.equal(writer.failed, 3);
    const dir = capturePartition(dest, 'ep', 'AllTraffic', at);
    const [file] = await readdir(dir);
    const lines = (await readFile(join(dir, file!), 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, 1);
    assert.equal((JSON.parse(lines[0]!) as { captureData: { endpointInput: { data: string } } }).captureData.endpointInput.data, '5.1,3.5');
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
});

test('a record is measured in the characters of its line, not its bytes: one exactly at the limit is written, one more is not', async () => {
  const dest = await mkdtemp(join(tmpdir(), 'smkit-capture-record-exact-'));
  try {
    const at = new Date('2024-03-05T07:08:09.010Z');
    // 1 200 bytes of UTF-8 that are 600 characters (each emoji a surrogate pair) and a CSV of 400 characters.
    const event = { at, eventId: 'e', input: { body: Buffer.from('\u{1f600}'.repeat(300)), contentType: 'application/json' }, output: { body: Buffer.from('é'.repeat(400)), contentType: 'text/csv' } };
    const length = JSON.stringify(buildCaptureRecord(event, types)).length + 1;
    assert.ok(length < event.input.body.length + event.output.body.length, 'fewer characters than bytes');
    const write = async (maxRecordChars: number): Promise<string[]> => {
      const errors: string[] = [];
      const writer = new CaptureWriter('ep', { destination: join(dest, String(maxRecordChars)), samplingPercentage: 100, captureInput: true, captureOutput: true, ...types }, Math.random, (err) => errors.push(err.message), { maxRecordChars });
      writer.capture('AllTraffic', event);
      await writer.flush();
      assert.equal(writer.written + writer.failed, 1);
      return errors;
    };
    assert.deepEqual(await write(length), []);
    const [file] = await readdir(capturePartition(join(dest, String(length)), 'ep', 'AllTraffic', at));
    assert.equal((await readFile(join(capturePartition(join(dest, String(length)), 'ep', 'AllTraffic', at), file!), 'utf8')).length, length);
    assert.deepEqual(await write(length - 1), [`data capture skipped an invocation of AllTraffic: its record would take ${length} characters, more than the ${length - 1} one record may take`]);
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
});

test('an empty CustomAttributes is captured as none, not as [""]', () => {
  const at = new Date('2022-02-14T17:25:49.000Z');
  const record = buildCaptureRecord({ at, eventId: 'e1', customAttributes: '', input: { body: Buffer.from('1'), contentType: 'text/csv' } }, types);
  assert.deepEqual(record.eventMetadata, { eventId: 'e1', inferenceTime: '2022-02-14T17:25:49Z' });
});

test('measureCaptureRecord gives the length of the JSON line the filled record makes, for any bytes, text and metadata', () => {
  const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\t', '\u0000', '\u001f', '\u007f', '\u2028', 'é', '€', '\u{1f600}', 'a'), maxLength: 60 }));
  const payload = fc.record({
    body: fc.oneof(text.map((s) => Buffer.from(s)), fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b))),
    contentType: fc.constantFrom('text/csv', 'application/json; charset=utf-8', 'application/x-npy', 'text/"odd"\u00e9'),
  });
  fc.assert(
    fc.property(fc.option(payload, { nil: undefined }), fc.option(payload, { nil: undefined }), fc.option(text, { nil: undefined }), fc.option(text, { nil: undefined }), (input, output, inferenceId, customAttributes) => {
      const event = { at: new Date(1_700_000_000_123), eventId: 'e', input, output, inferenceId, customAttributes };
      const { record, lineLength } = measureCaptureRecord(event, types);
      fillCaptureData(record, event);
      assert.deepEqual(record, buildCaptureRecord(event, types));
      assert.equal(lineLength, JSON.stringify(record).length + 1);
    }),
    { numRuns: 500 },
  );
});

test('a capture folder removed while the endpoint runs is made again: the records of the same hour are written, not lost', async () => {
  const dest = await mkdtemp(join(tmpdir(), 'smkit-capture-removed-'));
  try {
    const errors: string[] = [];
    const writer = new CaptureWriter('ep', { destination: dest, samplingPercentage: 100, captureInput: true, captureOutput: false, ...types }, Math.random, (err) => errors.push(err.message));
    const at = new Date('2024-03-05T07:08:09.010Z');
    const capture = (i: number): void => writer.capture('AllTraffic', { at, input: { body: Buffer.from(String(i)), contentType: 'text/csv' } });
    capture(0);
    await writer.flush();
    const dir = capturePartition(dest, 'ep', 'AllTraffic', at);
    const [first] = await readdir(dir);
    // Someone clears the capture output between two test runs.
    await rm(join(dest, 'ep'), { recursive: true });
    for (let i = 1; i <= 3; i++) {
      capture(i);
      await writer.flush();
    }
    const files = await readdir(dir);
    // Not the first file's name again: uploaded to S3, it would replace the object holding record 0.
    assert.ok(!files.includes(first!), `${first} was written again`);
    const data = [];
    for (const f of files) {
      for (const line of (await readFile(join(dir, f), 'utf8')).trimEnd().split('\n')) data.push((JSON.parse(line) as { captureData: { endpointInput: { data: string } } }).captureData.endpointInput.data);
    }
    assert.deepEqual(data.sort(), ['1', '2', '3']);
    assert.equal(writer.written, 4);
    assert.equal(writer.failed, 0);
    assert.deepEqual(errors, []);
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
});

test('a CSV or JSON payload far past the record limit is measured only until it is known to pass it, not byte by byte to its end', async () => {
  const at = new Date('2024-03-05T07:08:09.010Z');
  // Counting is a step per byte: for a 1 GB asynchronous payload, seconds the whole process waits.
  // 3 MB of UTF-8 take at least 1 M characters, past a 1 000-character limit without a byte counted.
  const body = Buffer.alloc(3 * 1024 * 1024, 0x31);
  const far = measureCaptureRecord({ at, eventId: 'e', input: { body, contentType: 'text/csv' } }, types, 1_000);
  assert.equal(far.exact, false);
  assert.ok(far.lineLength > 1_000 && far.lineLength < body.length, `${far.lineLength}`);
  // Counted part-way: 100 KB of quotes (2 characters each) pass 140 000 after the first 64 KB (131 072, and a third of the 34 464 bytes left).
  const quotes = measureCaptureRecord({ at, eventId: 'e', input: { body: Buffer.alloc(100_000, 0x22), contentType: 'application/json' } }, types, 140_000);
  assert.equal(quotes.exact, false);
  assert.ok(quotes.lineLength > 140_000 && quotes.lineLength < 200_000, `${quotes.lineLength}`);
  // Within the limit, or without one, the length is exact.
  const event = { at, eventId: 'e', input: { body: Buffer.from('"é\u0001'.repeat(1000)), contentType: 'application/json' } };
  const length = JSON.stringify(buildCaptureRecord(event, types)).length + 1;
  assert.deepEqual([measureCaptureRecord(event, types, length).lineLength, measureCaptureRecord(event, types, length).exact], [length, true]);
  assert.equal(measureCaptureRecord(event, types).lineLength, length);
  // The writer says the length it reports is a lower bound.
  const dest = await mkdtemp(join(tmpdir(), 'smkit-capture-far-'));
  try {
    const errors: string[] = [];
    const writer = new CaptureWriter('ep', { destination: dest, samplingPercentage: 100, captureInput: true, captureOutput: true, ...types }, Math.random, (err) => errors.push(err.message), { maxRecordChars: 1_000 });
    writer.capture('AllTraffic', { at, input: { body: untouchable(body), contentType: 'text/csv' } });
    await writer.flush();
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /^data capture skipped an invocation of AllTraffic: its record would take at least \d+ characters, more than the 1000 one record may take$/);
    assert.equal(writer.failed, 1);
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
});

test('a file made again after its folder was removed counts only its own records toward the file limit', async () => {
  const dest = await mkdtemp(join(tmpdir(), 'smkit-capture-removed-limit-'));
  try {
    const at = new Date('2024-03-05T07:08:09.010Z');
    const event = (i: number): CaptureEvent => ({ at, eventId: `e${i}`, input: { body: Buffer.from(String(i)), contentType: 'text/csv' } });
    const settings = { destination: dest, samplingPercentage: 100, captureInput: true, captureOutput: false, ...types };
    // Every record here takes the same number of characters: a file holds three, the fourth starts another.
    const line = measureCaptureRecord(event(0), settings).lineLength;
    const writer = new CaptureWriter('ep', settings, Math.random, () => {}, { maxFileChars: Math.floor(3.5 * line) });
    for (let i = 0; i < 2; i++) writer.capture('AllTraffic', event(i));
    await writer.flush();
    await rm(join(dest, 'ep'), { recursive: true });
    for (let i = 2; i < 5; i++) {
      writer.capture('AllTraffic', event(i));
      await writer.flush();
    }
    const dir = capturePartition(dest, 'ep', 'AllTraffic', at);
    const files = await readdir(dir);
    // Records 2 to 4 fit one file; counting records 0 and 1 too would have split them.
    assert.equal(files.length, 1, files.join(', '));
    assert.equal((await readFile(join(dir, files[0]!), 'utf8')).trimEnd().split('\n').length, 3);
    assert.equal(writer.written, 5);
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
});

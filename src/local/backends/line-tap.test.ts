import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { tapLines } from './line-tap.js';

/** The lines `tapLines` gives for `chunks` written one after another, then the end. */
async function linesOf(chunks: ReadonlyArray<string | Buffer>, maxBytes?: number): Promise<string[]> {
  const stream = new PassThrough();
  const lines: string[] = [];
  tapLines(stream, (line) => lines.push(line), maxBytes);
  for (const c of chunks) stream.write(c);
  stream.end();
  await once(stream, 'end');
  return lines;
}

test('lines are cut at \\n across chunks, without their \\r\\n; empty lines are skipped; the last one is given at the end without a break', async () => {
  assert.deepEqual(await linesOf(['epoch 1 lo', 'ss=0.5\nepoch 2\r\n', '\n\r\n', 'done']), ['epoch 1 loss=0.5', 'epoch 2', 'done']);
});

test('a line longer than the limit comes in pieces of at most the limit, never splitting a UTF-8 character', async () => {
  // "é" is two bytes: with a 5-byte limit "aaaé" fits, "aaaéé" does not, and "aaaéé" + "é" (9 bytes) is cut after the first é.
  assert.deepEqual(await linesOf(['aaaéé', 'éb\nshort\n'], 5), ['aaaé', 'ééb', 'short']);
  assert.deepEqual(await linesOf(['aaaaé\n'], 5), ['aaaa', 'é']);
  const long = 'x'.repeat(23);
  assert.deepEqual(await linesOf([long.slice(0, 7), long.slice(7), '\n'], 10), ['x'.repeat(10), 'x'.repeat(10), 'xxx']);
  // Without a line break the pieces come as the bytes arrive, so little is held.
  const stream = new PassThrough();
  const got: string[] = [];
  tapLines(stream, (l) => got.push(l), 4);
  stream.write('abcdefghij');
  await new Promise((ok) => setImmediate(ok));
  assert.deepEqual(got, ['abcd', 'efgh']);
  stream.end();
  await once(stream, 'end');
  assert.deepEqual(got, ['abcd', 'efgh', 'ij']);
});

test('a line written a byte at a time is held in one buffer, not a Buffer object per byte: 600 000 one-byte chunks take a few MB of heap, not the ~70 MB they took', () => {
  // A training script's `print('.', end='', flush=True)` per step: each write reaches the pipe as a
  // chunk of its own when this process keeps up. Emitted synchronously, as the pipe would.
  const stream = new PassThrough();
  const lines: string[] = [];
  tapLines(stream, (l) => lines.push(l));
  const dot = Buffer.from('.');
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 600_000; i++) stream.emit('data', dot);
  const grown = process.memoryUsage().heapUsed - before;
  assert.ok(grown < 24 * 1024 * 1024, `heap grew ${(grown / 1024 / 1024).toFixed(1)} MB holding 600 000 bytes of one line`);
  stream.emit('data', Buffer.from('\n'));
  assert.deepEqual(lines, ['.'.repeat(600_000)]);
});

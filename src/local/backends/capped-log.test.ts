import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { CappedLogFile, cappedLogFiles } from './capped-log.js';
import { tailLog } from './log-tail.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-capped-log-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function writeAll(log: CappedLogFile, chunks: string[]): Promise<void> {
  for (const c of chunks) if (!log.write(c)) await once(log, 'drain');
  log.end();
  await once(log, 'finish');
  await once(log, 'close');
}

test('a log within its head cap is one file, as written', () =>
  withDir(async (dir) => {
    const path = join(dir, 'training-job-a.log');
    await writeAll(await CappedLogFile.open(path, { headBytes: 100, tailBytes: 50 }), ['one\n', 'two\n']);
    assert.equal(await readFile(path, 'utf8'), 'one\ntwo\n');
    assert.ok(!existsSync(cappedLogFiles(path).tail));
  }));

test('a flood keeps the first headBytes (cut at a line break), a note naming the tail file, and at least the last tailBytes; the disk holds at most head + 2 tails', () =>
  withDir(async (dir) => {
    const path = join(dir, 'training-job-flood.log');
    const lines = Array.from({ length: 10_000 }, (_, i) => `line ${i + 1}\n`);
    await writeAll(await CappedLogFile.open(path, { headBytes: 1000, tailBytes: 500 }), lines);
    const files = cappedLogFiles(path);
    const head = await readFile(path, 'utf8');
    const [kept, note] = head.split('[smkit local:');
    assert.ok(kept!.length <= 1000 && kept!.length > 900, `head of ${kept!.length} bytes`);
    assert.ok(kept!.startsWith('line 1\nline 2\n') && kept!.endsWith('\n'));
    assert.match(note!, new RegExp(`the rest is in ${files.tail.replace(/[.]/g, '\\.')}`));
    const tail = await readFile(files.tail, 'utf8');
    const previous = await readFile(files.previousTail, 'utf8');
    assert.ok(tail.length <= 500 && previous.length <= 500);
    const end = previous + tail;
    assert.ok(end.length >= 500);
    assert.ok(end.endsWith('line 9999\nline 10000\n'));
    // Whole lines, consecutive across the two tail files.
    const numbers = end.trimEnd().split('\n').map((l) => Number(/^line (\d+)$/.exec(l)![1]));
    numbers.forEach((n, i) => i === 0 || assert.equal(n, numbers[i - 1]! + 1));
  }));

test('a chunk with no line break is cut at the caps', () =>
  withDir(async (dir) => {
    const path = join(dir, 'x.log');
    await writeAll(await CappedLogFile.open(path, { headBytes: 10, tailBytes: 10 }), ['a'.repeat(25)]);
    assert.ok((await readFile(path, 'utf8')).startsWith('aaaaaaaaaa\n[smkit local:'));
    assert.equal(await readFile(cappedLogFiles(path).tail, 'utf8'), 'aaaaa');
    assert.equal(await readFile(cappedLogFiles(path).previousTail, 'utf8'), 'aaaaaaaaaa');
  }));

test("opening a log empties an earlier one's head and removes its tail files", () =>
  withDir(async (dir) => {
    const path = join(dir, 'x.log');
    const files = cappedLogFiles(path);
    await writeFile(path, 'old head\n');
    await writeFile(files.tail, 'old tail\n');
    await writeFile(files.previousTail, 'older tail\n');
    await writeAll(await CappedLogFile.open(path, { headBytes: 100, tailBytes: 100 }), ['new\n']);
    assert.equal(await readFile(path, 'utf8'), 'new\n');
    assert.ok(!existsSync(files.tail) && !existsSync(files.previousTail));
  }));

test('a cut with no line break near does not split a UTF-8 character', () =>
  withDir(async (dir) => {
    const path = join(dir, 'x.log');
    // 'é' is 2 bytes: 9 bytes of room would end inside the fifth one.
    await writeAll(await CappedLogFile.open(path, { headBytes: 9, tailBytes: 100 }), ['éééééé']);
    assert.ok((await readFile(path, 'utf8')).startsWith('éééé\n[smkit local:'));
    assert.equal(await readFile(cappedLogFiles(path).tail, 'utf8'), 'éé');
  }));

test('tailLog reads a capped log\'s last lines from its tail files, across a rotation that just happened', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-capped-log-'));
  try {
    const path = join(dir, 'c.log');
    // 9-byte lines: the head holds 11 of them, each tail part 11: the 55th fills the fourth part, `last` starts a fifth.
    const lines = Array.from({ length: 55 }, (_, i) => `line ${String(i).padStart(3, '0')}\n`);
    await writeAll(await CappedLogFile.open(path, { headBytes: 100, tailBytes: 100 }), [...lines, 'last\n']);
    assert.equal(await readFile(cappedLogFiles(path).tail, 'utf8'), 'last\n');
    assert.equal(await tailLog(path, 3), 'line 053\nline 054\nlast');
    assert.equal(await tailLog(join(dir, 'missing.log'), 3), '');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

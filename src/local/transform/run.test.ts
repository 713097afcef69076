import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fsModule, { promises as fs, rmSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { isToolkitError } from '../../errors/catalogue.js';
import { maskedCrc32c } from './records.js';
import { runTransform } from './run.js';
import { MAX_MANIFEST_BYTES, readManifest } from './manifest.js';
import { until } from '../../../test/helpers/until.js';
import { withHeldFileOpen } from '../../../test/helpers/held-file-open.js';
import { answeredStrayPing } from '../../../test/helpers/stray-ping.js';

/** A stand-in container: echoes the body upper-cased, 400s on lines containing BAD, counts in-flight requests. */
async function fakeContainer(
  execParams: object | undefined,
): Promise<{ url: string; bodies: string[]; accepts: (string | undefined)[]; framings: string[]; maxInFlight: () => number; close: () => Promise<void> }> {
  const bodies: string[] = [];
  const framings: string[] = [];
  const accepts: (string | undefined)[] = [];
  let inFlight = 0;
  let peak = 0;
  const server = http.createServer((req, res) => {
    if (answeredStrayPing(req, res)) return;
    if (req.url === '/execution-parameters') {
      if (!execParams) return void res.writeHead(404).end();
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(execParams));
    }
    inFlight++;
    peak = Math.max(peak, inFlight);
    accepts.push(req.headers.accept);
    framings.push(req.headers['transfer-encoding'] ?? `length ${req.headers['content-length']}`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      bodies.push(body);
      // Answer later for low indexes so responses come back out of order.
      const delay = /r0\b/.test(body) ? 30 : 1;
      setTimeout(() => {
        inFlight--;
        if (body.includes('BAD')) return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'ERR_BAD_REQUEST', message: 'marker record' }));
        res.writeHead(200, { 'content-type': 'text/plain' }).end(body.toUpperCase());
      }, delay);
    });
  });
  const url = await listenLoopback(server);
  return { url, bodies, accepts, framings, maxInFlight: () => peak, close: () => new Promise((r) => server.close(() => r())) };
}

/** A temporary folder with `files` under its `in`; one that cannot be filled is removed again. */
async function tmpTree(files: Record<string, string>): Promise<{ root: string; input: string; output: string }> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-transform-unit-'));
  const input = path.join(root, 'in');
  try {
    for (const [rel, text] of Object.entries(files)) {
      await fs.mkdir(path.dirname(path.join(input, rel)), { recursive: true });
      await fs.writeFile(path.join(input, rel), text);
    }
  } catch (err) {
    await fs.rm(root, { recursive: true, force: true });
    throw err;
  }
  return { root, input, output: path.join(root, 'out') };
}

/** Listens with `server` on a free loopback port and answers its URL. */
async function listenLoopback(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Cuts the connections `server` still holds (an answer held or never ended) and waits until it is closed. */
async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

/** The files below `dir` this process holds open (Linux: /proc/self/fd). */
function openFilesUnder(dir: string): string[] {
  // With the separator, so that a sibling folder whose name starts with dir's (`in-2`) is not below it.
  const below = dir.endsWith(path.sep) ? dir : dir + path.sep;
  return fsModule.readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = fsModule.readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(below) ? [target] : [];
    } catch {
      return [];
    }
  });
}

/** Runs `script` as an ES module in a child Node started with `flags`: its exit code, its output and the end of its errors. */
async function runChildScript(flags: string[], script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [...flags, '--input-type=module', '-e', script], { maxBuffer: 1 << 20 }, (err, stdout, stderr) => resolve({ code: err ? (child.exitCode ?? 1) : 0, stdout, stderr: stderr.slice(-2000) }));
  });
}

test('an input file whose name leaves no room for its .out and the files written beside it (more than 236 bytes) is ERR_CLI_USAGE naming it, before anything is sent or written (one of 250 bytes failed part-way with a raw ENAMETOOLONG); one of 236 bytes is transformed', async () => {
  const c = await fakeContainer(undefined);
  const long = `${'y'.repeat(246)}.csv`;
  const t = await tmpTree({ 'a.csv': 'a\n', [`sub/${long}`]: 'b\n' });
  try {
    await assert.rejects(runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line' }), (err: unknown) => {
      assert.ok(isToolkitError(err) && err.code === 'ERR_CLI_USAGE', String(err));
      assert.equal(err.message, `input file sub/${long} has a name of 250 bytes: its output is named after it with 19 bytes more (<name>.out, and <name>.out.partial.<n> while it is written), past the 255 bytes a file name may have; rename it to at most 236 bytes`);
      return true;
    });
    assert.deepEqual(c.bodies, [], 'nothing was sent');
    assert.equal(await fs.stat(t.output).catch(() => undefined), undefined, 'nothing was written');
    const fits = long.slice(250 - 236);
    await fs.rename(path.join(t.input, 'sub', long), path.join(t.input, 'sub', fits));
    const summary = await runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line' });
    assert.equal(summary.failed.length, 0);
    assert.equal(await fs.readFile(path.join(t.output, 'sub', `${fits}.out`), 'utf8'), 'B\n');
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('MULTI_RECORD over a small payload: order kept per file, several mini-batches, concurrency used', async () => {
  const c = await fakeContainer({ MaxConcurrentTransforms: 3, BatchStrategy: 'MULTI_RECORD', MaxPayloadInMB: 6 });
  const lines = Array.from({ length: 20 }, (_, i) => `r${i}`);
  const t = await tmpTree({ 'a.csv': lines.join('\n') + '\n', 'sub/b.csv': 'x\ny\n', '.hidden': 'skip' });
  try {
    const summary = await runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line', assembleWith: 'None', parameters: { maxPayloadInMB: 12 / (1024 * 1024) } });
    assert.equal(summary.failed.length, 0);
    assert.equal(summary.parameters.maxConcurrentTransforms, 3, 'taken from /execution-parameters');
    assert.equal(await fs.readFile(path.join(t.output, 'a.csv.out'), 'utf8'), lines.map((l) => l.toUpperCase()).join('\n') + '\n');
    assert.equal(await fs.readFile(path.join(t.output, 'sub/b.csv.out'), 'utf8'), 'X\nY\n');
    assert.ok(c.bodies.length > 3, 'small payload forces several requests');
    assert.ok(c.bodies.every((body) => Buffer.byteLength(body) <= 12));
    assert.ok(c.maxInFlight() > 1, 'requests overlap');
    await assert.rejects(fs.stat(path.join(t.output, '.hidden.out')));
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('a failing record is isolated and reported; its file gets no .out (as in the service), other files do', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({ 'f.txt': 'a\nb\nBAD\nc\n' + 'z'.repeat(40) + '\nd\n', 'g.txt': 'e\nf\n' });
  try {
    await fs.mkdir(t.output, { recursive: true });
    await fs.writeFile(path.join(t.output, 'f.txt.out'), 'stale output of an earlier run');
    const summary = await runTransform({ input: t.input, output: t.output, url: `${c.url}/invocations`, splitType: 'Line', assembleWith: 'Line', parameters: { maxPayloadInMB: 16 / (1024 * 1024) } });
    assert.deepEqual(summary.failed.map((f) => [f.record, f.status]), [[2, 400], [4, 0]]);
    await assert.rejects(fs.stat(path.join(t.output, 'f.txt.out')), { code: 'ENOENT' });
    // Line assembly puts a newline after every answer (each echoed record already ends with one).
    assert.equal(await fs.readFile(path.join(t.output, 'g.txt.out'), 'utf8'), 'E\nF\n\n');
    const failedLines = (await fs.readFile(path.join(t.output, 'f.txt.out.failed'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(failedLines[0].record, 2);
    assert.match(failedLines[0].error, /marker record/);
    // Its whole length, though no more of it than the limit and a byte was kept.
    assert.match(failedLines[1].error, /^record is 41 bytes, over MaxPayloadInMB/);
    await assert.rejects(fs.stat(path.join(t.output, 'f.txt.out.partial')), { code: 'ENOENT' });
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('SINGLE_RECORD with SplitType None sends whole files; output inside input is refused', async () => {
  const c = await fakeContainer({ BatchStrategy: 'SINGLE_RECORD' });
  const t = await tmpTree({ 'one.json': '{"a":1}\n{"a":2}\n' });
  try {
    const summary = await runTransform({ input: t.input, output: t.output, url: c.url });
    assert.equal(summary.parameters.batchStrategy, 'SINGLE_RECORD');
    assert.equal(summary.requests, 1);
    assert.equal(await fs.readFile(path.join(t.output, 'one.json.out'), 'utf8'), '{"A":1}\n{"A":2}\n');
    await assert.rejects(runTransform({ input: t.input, output: path.join(t.input, 'o'), url: c.url }), /inside --input/);
    await fs.writeFile(path.join(t.root, 'file'), '');
    await assert.rejects(runTransform({ input: t.input, output: path.join(t.root, 'file'), url: c.url }), (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && /^--output=".*file" is invalid: expected an output folder \(created when missing\); .*file is a file\.$/.test(e.message));
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('no Accept header is sent unless --accept gives one', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({ 'a.csv': '1\n' });
  try {
    await runTransform({ input: t.input, output: t.output, url: c.url });
    await runTransform({ input: t.input, output: t.output, url: c.url, accept: 'text/csv' });
    assert.deepEqual(c.accepts, [undefined, 'text/csv']);
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('RecordIO over HTTP: frames as they are with MULTI_RECORD, bare data with SINGLE_RECORD; a broken file gets .out.failed and sends nothing', async () => {
  const bodies: Buffer[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/execution-parameters') return void res.writeHead(404).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      bodies.push(body);
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`${body.length}`);
    });
  });
  const url = await listenLoopback(server);
  const frame = (data: string): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(0xced7230a, 0);
    head.writeUInt32LE(data.length, 4);
    return Buffer.concat([head, Buffer.from(data), Buffer.alloc((4 - (data.length % 4)) % 4)]);
  };
  const good = Buffer.concat([frame('a'), frame('bbbbb'), frame('cc')]);
  const t = await tmpTree({});
  try {
    await fs.mkdir(t.input, { recursive: true });
    await fs.writeFile(path.join(t.input, 'good.rec'), good);
    await fs.writeFile(path.join(t.input, 'junk.rec'), Buffer.concat([frame('ok'), Buffer.from('not recordio at all\n')]));
    const multi = await runTransform({ input: t.input, output: t.output, url, splitType: 'RecordIO', assembleWith: 'Line', parameters: { batchStrategy: 'MULTI_RECORD', maxPayloadInMB: 30 / (1024 * 1024) } });
    assert.deepEqual(bodies.map((x) => x.toString('hex')), [Buffer.concat([frame('a'), frame('bbbbb')]).toString('hex'), frame('cc').toString('hex')], 'only good.rec is sent, whole frames');
    assert.equal(await fs.readFile(path.join(t.output, 'good.rec.out'), 'utf8'), '28\n12\n');
    assert.deepEqual(multi.failed.map((f) => [f.file, f.record, f.status]), [['junk.rec', 1, 0]]);
    await assert.rejects(fs.stat(path.join(t.output, 'junk.rec.out')), { code: 'ENOENT' });
    assert.match(await fs.readFile(path.join(t.output, 'junk.rec.out.failed'), 'utf8'), /"record":1,"status":0,"error":"malformed RecordIO: magic 0x.* instead of 0xced7230a at byte 12/);

    bodies.length = 0;
    await fs.rm(path.join(t.input, 'junk.rec'));
    await runTransform({ input: t.input, output: t.output, url, splitType: 'RecordIO', assembleWith: 'Line', parameters: { batchStrategy: 'SINGLE_RECORD' } });
    assert.deepEqual(bodies.map((x) => x.toString()), ['a', 'bbbbb', 'cc'], 'padding and headers removed');
    assert.equal(await fs.readFile(path.join(t.output, 'good.rec.out'), 'utf8'), '1\n5\n2\n');
  } finally {
    await new Promise((r) => server.close(r));
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

/**
 * A stand-in container that, when the first bytes of a request come, writes `TAIL` over the last
 * bytes of `file` (before it reads any more), and answers with the body's length and last bytes.
 */
async function tailRewritingContainer(file: string): Promise<{ url: string; framings: string[]; close: () => Promise<void> }> {
  const framings: string[] = [];
  const server = http.createServer((req, res) => {
    if (answeredStrayPing(req, res)) return;
    if (req.url === '/execution-parameters') return void res.writeHead(404).end();
    framings.push(req.headers['transfer-encoding'] ?? `length ${req.headers['content-length']}`);
    let length = 0;
    let tail = Buffer.alloc(0);
    req.on('data', (c: Buffer) => {
      if (length === 0) {
        const { size } = fsModule.statSync(file);
        const fd = fsModule.openSync(file, 'r+');
        fsModule.writeSync(fd, 'TAIL', size - 5);
        fsModule.closeSync(fd);
      }
      length += c.length;
      tail = Buffer.concat([tail, c]).subarray(-5);
    });
    req.on('end', () => res.end(`${length} ${JSON.stringify(tail.toString('latin1'))}`));
  });
  const url = await listenLoopback(server);
  return { url, framings, close: () => new Promise((r) => server.close(() => r())) };
}

// 64 MiB: more than the loopback socket buffers (a few MB each way here, 36 MB at most) and the
// runner's own read-ahead can hold, so bytes rewritten once the container has the first ones are
// sent only if the file is read as it is sent; one read whole first sends the old bytes.
const STREAMED_BYTES = 64 * 1024 * 1024;

/**
 * Runs `check` on a transform tree whose input holds the file `name`, written by `fill`, and a
 * {@link tailRewritingContainer} for that file; closes and removes both after.
 */
async function withTailRewritten(
  name: string,
  fill: (file: string) => Promise<void>,
  check: (t: { root: string; input: string; output: string }, c: { url: string; framings: string[] }) => Promise<void>,
): Promise<void> {
  const t = await tmpTree({});
  await fs.mkdir(t.input, { recursive: true });
  const file = path.join(t.input, name);
  await fill(file);
  const c = await tailRewritingContainer(file);
  try {
    await check(t, c);
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
}

test('MaxPayloadInMB=0 sends a SplitType None file as it is read, with chunked encoding: the file is never held whole (bytes changed after the container has the first ones arrive)', async () => {
  await withTailRewritten(
    'big.bin',
    async (file) => {
      // Sparse, ending in a newline: no disk space.
      await fs.writeFile(file, '');
      await fs.truncate(file, STREAMED_BYTES - 1);
      await fs.appendFile(file, '\n');
    },
    async (t, c) => {
      const summary = await runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'None', parameters: { maxPayloadInMB: 0 } });
      assert.deepEqual(summary.failed, []);
      assert.equal(summary.records, 1);
      assert.deepEqual(c.framings, ['chunked']);
      assert.equal(await fs.readFile(path.join(t.output, 'big.bin.out'), 'utf8'), `${STREAMED_BYTES} "TAIL\\n"`);
    },
  );
});

test('MaxPayloadInMB=0 with MULTI_RECORD sends all of a split file\'s records in one chunked request, as they are read: the file is never held whole', async () => {
  await withTailRewritten(
    'lines.csv',
    async (file) => {
      // Sparse lines of 1 MiB (NUL bytes, then a newline).
      const fh = await fs.open(file, 'w');
      for (let at = 1024 * 1024 - 1; at < STREAMED_BYTES; at += 1024 * 1024) await fh.write('\n', at);
      await fh.close();
    },
    async (t, c) => {
      const summary = await runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line', parameters: { maxPayloadInMB: 0, batchStrategy: 'MULTI_RECORD' } });
      assert.deepEqual(summary.failed, []);
      assert.equal(summary.records, 64);
      assert.equal(summary.requests, 1);
      assert.deepEqual(c.framings, ['chunked']);
      assert.equal(await fs.readFile(path.join(t.output, 'lines.csv.out'), 'utf8'), `${STREAMED_BYTES} "TAIL\\n"`);
    },
  );
});

test('SplitType None: a file over MaxPayloadInMB fails without being read whole, and a gzip bomb is decompressed only to the limit', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({});
  try {
    await fs.mkdir(t.input, { recursive: true });
    // 3 GiB once decompressed, in 3 MB: gzip members of 1 MiB of zeros, one after another.
    const member = gzipSync(Buffer.alloc(1 << 20));
    await fs.writeFile(path.join(t.input, 'bomb.bin.gz'), Buffer.concat(Array.from({ length: 3072 }, () => member)));
    await fs.writeFile(path.join(t.input, 'fits.bin.gz'), gzipSync('a'.repeat(1000)));
    const bombs = await runTransform({ input: t.input, output: t.output, url: c.url, compressionType: 'Gzip', parameters: { maxPayloadInMB: 1 } });
    assert.deepEqual(bombs.failed, [{ file: 'bomb.bin.gz', record: 0, status: 0, error: 'record decompresses to over 1048576 bytes, over MaxPayloadInMB=1 (1048576 bytes); not sent' }]);
    assert.deepEqual(c.bodies, ['a'.repeat(1000)]);

    // Sparse, past the 2 GiB a whole read allows: the size alone refuses it.
    const plain = await tmpTree({});
    await fs.mkdir(plain.input, { recursive: true });
    const big = await fs.open(path.join(plain.input, 'big.bin'), 'w');
    await big.truncate(2 ** 31 + 1);
    await big.close();
    const large = await runTransform({ input: plain.input, output: plain.output, url: c.url });
    await fs.rm(plain.root, { recursive: true, force: true });
    assert.deepEqual(large.failed, [{ file: 'big.bin', record: 0, status: 0, error: 'record is 2147483649 bytes, over MaxPayloadInMB=6 (6291456 bytes); not sent' }]);
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('an error (or 3xx) answer is read only as far as its first 64 KB: one that goes on for ever fails its record at once with its status and first words', async () => {
  let status = 500;
  const server = http.createServer((req, res) => {
    if (req.url === '/execution-parameters') return void res.writeHead(404).end();
    req.resume();
    // Past 64 KB of error text, and never ended.
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.write(`model crashed: ${'x'.repeat(70 * 1024)}`);
  });
  const url = await listenLoopback(server);
  let root: string | undefined;
  try {
    const t = await tmpTree({ 'a.csv': '1\n' });
    root = t.root;
    for (const s of [500, 302]) {
      status = s;
      // Without the limit the record would fail only at this timeout, with no status.
      const summary = await runTransform({ input: t.input, output: t.output, url, splitType: 'Line', timeoutMs: 2_000 });
      assert.equal(summary.failed.length, 1);
      assert.equal(summary.failed[0]!.status, s);
      assert.ok(summary.failed[0]!.error.startsWith('model crashed: xxx'), summary.failed[0]!.error);
    }
  } finally {
    await closeServer(server);
    if (root !== undefined) await fs.rm(root, { recursive: true, force: true });
  }
});

test('CompressionType Gzip: files are gunzipped, then split; the type is guessed from the name without .gz; a file that does not gunzip fails alone', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({});
  try {
    await fs.mkdir(t.input, { recursive: true });
    await fs.writeFile(path.join(t.input, 'rows.csv.gz'), gzipSync('a\nb\n'));
    await fs.writeFile(path.join(t.input, 'plain.csv.gz'), 'not gzip\n');
    // Cut short: its first lines gunzip, then the stream breaks; none of it is sent.
    const whole = gzipSync(Array.from({ length: 50_000 }, (_, i) => `cut${i}\n`).join(''));
    await fs.writeFile(path.join(t.input, 'cut.csv.gz'), whole.subarray(0, whole.length >> 1));
    const summary = await runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line', compressionType: 'Gzip', parameters: { batchStrategy: 'SINGLE_RECORD' } });
    assert.equal(await fs.readFile(path.join(t.output, 'rows.csv.gz.out'), 'utf8'), 'A\nB\n');
    assert.deepEqual(c.bodies, ['a\n', 'b\n']);
    assert.deepEqual(summary.failed.map((f) => [f.file, f.status]), [['cut.csv.gz', 0], ['plain.csv.gz', 0]]);
    assert.ok(summary.failed[0]!.record > 0, 'the record where the stream broke');
    assert.match(summary.failed[0]!.error, /CompressionType is Gzip but the file does not gunzip \(unexpected end of file\)/);
    assert.equal(summary.failed[1]!.record, 0);
    assert.match(summary.failed[1]!.error, /CompressionType is Gzip but the file does not gunzip \(incorrect header check\)/);
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('CompressionType Gzip with RecordIO and TFRecord: split as they are gunzipped; a gzip bomb fails at its frame header, over MaxPayloadInMB, without being decompressed', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({});
  const tfHeader = (length: number): Buffer => {
    const h = Buffer.alloc(12);
    h.writeBigUInt64LE(BigInt(length));
    h.writeUInt32LE(maskedCrc32c(h.subarray(0, 8)), 8);
    return h;
  };
  const tfFrame = (data: string): Buffer => {
    const crc = Buffer.alloc(4);
    crc.writeUInt32LE(maskedCrc32c(Buffer.from(data)));
    return Buffer.concat([tfHeader(data.length), Buffer.from(data), crc]);
  };
  const recFrame = (data: string): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(0xced7230a, 0);
    head.writeUInt32LE(data.length, 4);
    return Buffer.concat([head, Buffer.from(data), Buffer.alloc((4 - (data.length % 4)) % 4)]);
  };
  try {
    await fs.mkdir(t.input, { recursive: true });
    await fs.writeFile(path.join(t.input, 'a.tfrecord.gz'), gzipSync(Buffer.concat([tfFrame('r1'), tfFrame('r2')])));
    // 3 GiB of one frame once decompressed, in 3 MB: its header, then gzip members of 1 MiB of zeros.
    const zeros = gzipSync(Buffer.alloc(1 << 20));
    await fs.writeFile(path.join(t.input, 'bomb.tfrecord.gz'), Buffer.concat([gzipSync(tfHeader(3 * 2 ** 30)), ...Array.from({ length: 3072 }, () => zeros)]));
    const tf = await runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'TFRecord', compressionType: 'Gzip', assembleWith: 'Line', parameters: { batchStrategy: 'SINGLE_RECORD', maxPayloadInMB: 1 } });
    assert.deepEqual(c.bodies, ['r1', 'r2']);
    assert.equal(await fs.readFile(path.join(t.output, 'a.tfrecord.gz.out'), 'utf8'), 'R1\nR2\n');
    assert.deepEqual(tf.failed, [{ file: 'bomb.tfrecord.gz', record: 0, status: 0, error: 'record is 3221225472 bytes, over MaxPayloadInMB=1 (1048576 bytes); not sent' }]);
    assert.deepEqual((await fs.readdir(t.output)).sort(), ['a.tfrecord.gz.out', 'bomb.tfrecord.gz.out.failed']);

    // Cut short: the frames before the break are read, and the failure names the record where it broke; none of it is sent.
    c.bodies.length = 0;
    const rec = await tmpTree({});
    await fs.mkdir(rec.input, { recursive: true });
    const whole = gzipSync(Buffer.concat(Array.from({ length: 50_000 }, (_, i) => recFrame(`cut${i}`))));
    await fs.writeFile(path.join(rec.input, 'cut.rec.gz'), whole.subarray(0, whole.length >> 1));
    const cut = await runTransform({ input: rec.input, output: rec.output, url: c.url, splitType: 'RecordIO', compressionType: 'Gzip' });
    await fs.rm(rec.root, { recursive: true, force: true });
    assert.deepEqual(c.bodies, []);
    assert.equal(cut.failed.length, 1);
    assert.ok(cut.failed[0]!.record > 0, `the record where the stream broke, not ${cut.failed[0]!.record}`);
    assert.match(cut.failed[0]!.error, /CompressionType is Gzip but the file does not gunzip \(unexpected end of file\)/);
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('a stopped run (its signal aborted) finishes the files it started before it rejects: a complete file keeps its .out, one cut short gets neither .out, .out.partial nor .out.failed', async () => {
  const stop = new AbortController();
  let held: http.ServerResponse | undefined;
  const server = http.createServer((req, res) => {
    if (req.url === '/execution-parameters') return void res.writeHead(404).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      // Never answered: the run is stopped while this record is out.
      if (body === 'hang\n') {
        held = res;
        return stop.abort(new Error('stopped by the test'));
      }
      res.end(body.toUpperCase());
    });
  });
  const url = await listenLoopback(server);
  let root: string | undefined;
  try {
    const t = await tmpTree({ 'a.csv': 'a\n', 'b.csv': 'b1\nhang\nb3\n' });
    root = t.root;
    const run = runTransform({ input: t.input, output: t.output, url, splitType: 'Line', assembleWith: 'None', signal: stop.signal, parameters: { batchStrategy: 'SINGLE_RECORD', maxConcurrentTransforms: 1 } });
    await assert.rejects(run, /stopped by the test/);
    assert.deepEqual((await fs.readdir(t.output)).sort(), ['a.csv.out']);
    assert.equal(await fs.readFile(path.join(t.output, 'a.csv.out'), 'utf8'), 'A\n');
    assert.ok(held, 'the record was out when the run was stopped');
  } finally {
    await closeServer(server);
    if (root !== undefined) await fs.rm(root, { recursive: true, force: true });
  }
});

test('a run stopped while a file\'s .out.partial is being opened leaves that file (and its gunzip stream) closed, uncompressed or gzipped', { skip: !fsModule.existsSync('/proc/self/fd') && 'needs /proc/self/fd' }, async () => {
  const t = await tmpTree({ 'plain/a.csv': 'a\n' });
  await fs.mkdir(path.join(t.input, 'gz'));
  await fs.writeFile(path.join(t.input, 'gz', 'b.csv.gz'), gzipSync('b\n'));
  const server = http.createServer((req, res) => void res.writeHead(req.url === '/execution-parameters' ? 404 : 200).end());
  const url = await listenLoopback(server);
  try {
    for (const [folder, file, compressionType] of [['plain', 'a.csv', undefined], ['gz', 'b.csv.gz', 'Gzip']] as const) {
      await fs.rm(t.output, { recursive: true, force: true });
      // Stopped once the file's .out.partial exists: after the run's check at the top of the file, before its first record is read.
      const stop = new AbortController();
      const realAborted = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')!.get!;
      Object.defineProperty(stop.signal, 'aborted', {
        get: () => {
          if (fsModule.existsSync(path.join(t.output, `${file}.out.partial`))) stop.abort(new Error('stopped by the test'));
          return realAborted.call(stop.signal) as boolean;
        },
      });
      const run = runTransform({ input: path.join(t.input, folder), output: t.output, url, splitType: 'Line', assembleWith: 'None', signal: stop.signal, ...(compressionType ? { compressionType } : {}), parameters: { batchStrategy: 'SINGLE_RECORD', maxConcurrentTransforms: 1 } });
      await assert.rejects(run, /stopped by the test/);
      assert.deepEqual(openFilesUnder(t.input), [], `${file}: no input file left open`);
      assert.deepEqual(await fs.readdir(t.output), []);
    }
  } finally {
    await closeServer(server);
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('each uncompressed Line file and each SplitType None file is read once, when its turn comes; with a progress bar a Line file is read through first for its total', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({ 'rows.csv': 'a\nb\n\nc\n', 'empty.csv': '' });
  const whole = await tmpTree({ 'x.bin': 'xyz', 'y.bin': 'abc' });
  // Every open of an input file, by name: fs.createReadStream (streamed files) and fs.promises.readFile (None files).
  const opened: string[] = [];
  const { createReadStream } = fsModule;
  const { readFile } = fsModule.promises;
  fsModule.createReadStream = ((file: string, options?: object) => (opened.push(path.basename(String(file))), createReadStream(file, options))) as typeof createReadStream;
  fsModule.promises.readFile = ((file: string, options?: object) => (opened.push(path.basename(String(file))), readFile(file, options))) as typeof readFile;
  syncBuiltinESMExports();
  try {
    const lines = await runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line', assembleWith: 'None' });
    assert.deepEqual({ records: lines.records, failed: lines.failed }, { records: 3, failed: [] });
    assert.deepEqual(opened.sort(), ['empty.csv', 'rows.csv']);
    const none = await runTransform({ input: whole.input, output: whole.output, url: c.url });
    assert.deepEqual({ records: none.records, failed: none.failed }, { records: 2, failed: [] });
    assert.deepEqual(opened.splice(0).sort(), ['empty.csv', 'rows.csv', 'x.bin', 'y.bin']);

    let total: number | undefined;
    const withBar = await runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line', progress: { start: (n) => void (total = n) } });
    assert.deepEqual({ total, records: withBar.records }, { total: 3, records: 3 });
    assert.deepEqual(opened.sort(), ['empty.csv', 'empty.csv', 'rows.csv', 'rows.csv']);
  } finally {
    fsModule.createReadStream = createReadStream;
    fsModule.promises.readFile = readFile;
    syncBuiltinESMExports();
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
    await fs.rm(whole.root, { recursive: true, force: true });
  }
});

test('DataProcessing over HTTP: the InputFilter drops the ID column before sending; JoinSource=Input and the OutputFilter write ID and answer per row', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({ 'rows.csv': 'id1,a,b\nid2,c,d\nid3,BAD,e\n' });
  try {
    const summary = await runTransform({
      input: t.input,
      output: t.output,
      url: c.url,
      splitType: 'Line',
      assembleWith: 'Line',
      dataProcessing: { inputFilter: '$[1:]', joinSource: 'Input', outputFilter: '$[0,-1]' },
    });
    assert.deepEqual(c.bodies[0], 'a,b\nc,d\nBAD,e\n', 'one mini-batch, ID column filtered out');
    assert.deepEqual(summary.failed.map((f) => f.record), [2]);
    await fs.rm(path.join(t.input, 'rows.csv'));
    await fs.writeFile(path.join(t.input, 'rows.csv'), 'id1,a,b\nid2,c,d\n');
    const ok = await runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line', assembleWith: 'Line', dataProcessing: { inputFilter: '$[1:]', joinSource: 'Input', outputFilter: '$[0,-1]' } });
    assert.equal(ok.failed.length, 0);
    assert.equal(await fs.readFile(path.join(t.output, 'rows.csv.out'), 'utf8'), 'id1,B\nid2,D\n');
    await assert.rejects(
      runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'None', dataProcessing: { joinSource: 'Input' } }),
      (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && /on text\/csv need --split-type Line .*got None/.test(e.message),
    );
    await assert.rejects(
      runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line', assembleWith: 'None', dataProcessing: { outputFilter: '$[0]' } }),
      (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && /writing text\/csv need --assemble-with Line .*got None/.test(e.message),
    );
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('DataProcessing is checked against each file\'s guessed content type before anything is sent: a file it cannot read (b.bin) is ERR_CLI_USAGE naming it, with nothing sent or written for the files before it (they were left out, their .out written after the run had rejected)', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({ 'a.csv': '1,2\n3,4\n', 'b.bin': 'x' });
  try {
    await assert.rejects(runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line', assembleWith: 'Line', dataProcessing: { inputFilter: '$[1]' } }), (err: unknown) => {
      assert.ok(isToolkitError(err) && err.code === 'ERR_CLI_USAGE', String(err));
      assert.match(err.message, /got --content-type application\/octet-stream\).*\(input file b\.bin has no --content-type, and its type was guessed from its name\)$/);
      return true;
    });
    assert.equal(await fs.stat(t.output).catch(() => undefined), undefined, 'nothing was written');
    assert.deepEqual(c.bodies, [], 'nothing was sent');
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('a run broken part-way (an output sub-folder that cannot be made: a file is in its place) rejects only once the files it started are settled: the earlier file keeps its .out, no .out.partial is left behind to be written after the run ended', async () => {
  const c = await fakeContainer(undefined);
  // r0 is answered late (30 ms), so a.csv's request is still out when sub/ cannot be made.
  const t = await tmpTree({ 'a.csv': 'r0\n', 'sub/b.csv': 'r1\n' });
  try {
    await fs.mkdir(t.output);
    await fs.writeFile(path.join(t.output, 'sub'), 'a file where a folder is needed');
    await assert.rejects(runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line', parameters: { maxConcurrentTransforms: 2 } }), {
      code: 'ERR_CLI_USAGE',
      message: /^--output=".*" is invalid: expected an output folder \(created when missing\); .* cannot be written \((?:ENOTDIR|EEXIST): .*\)\.$/,
    });
    assert.deepEqual((await fs.readdir(t.output)).sort(), ['a.csv.out', 'sub']);
    assert.equal(await fs.readFile(path.join(t.output, 'a.csv.out'), 'utf8'), 'R0\n');
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('MULTI_RECORD RecordIO whose mini-batch fails: its records are sent one by one as frames, as the job splits them, with MaxPayloadInMB 0 (one streamed request) as with 1 (the streamed one sent bare data instead)', async () => {
  const bodies: number[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/execution-parameters') return void res.writeHead(404).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      bodies.push(body.length);
      // One frame of up to 8 bytes at most: two frames are refused.
      if (body.length > 16) return void res.writeHead(400).end('one frame at a time');
      res.writeHead(200).end(`${body.length}\n`);
    });
  });
  const url = await listenLoopback(server);
  const frame = (data: string): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(0xced7230a, 0);
    head.writeUInt32LE(data.length, 4);
    return Buffer.concat([head, Buffer.from(data), Buffer.alloc((4 - (data.length % 4)) % 4)]);
  };
  const t = await tmpTree({});
  try {
    await fs.mkdir(t.input);
    await fs.writeFile(path.join(t.input, 'a.rec'), Buffer.concat([frame('abc'), frame('defg')]));
    for (const maxPayloadInMB of [0, 1]) {
      bodies.length = 0;
      const summary = await runTransform({ input: t.input, output: t.output, url, splitType: 'RecordIO', parameters: { batchStrategy: 'MULTI_RECORD', maxPayloadInMB } });
      assert.deepEqual(summary.failed, [], `MaxPayloadInMB ${maxPayloadInMB}`);
      assert.deepEqual(bodies, [24, 12, 12], `MaxPayloadInMB ${maxPayloadInMB}: both frames, then each frame with its header and padding`);
      assert.equal(await fs.readFile(path.join(t.output, 'a.rec.out'), 'utf8'), '12\n12\n');
    }
  } finally {
    await closeServer(server);
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('a MaxPayloadInMB fraction under one byte is a limit of one byte, not "no limit": the records are not sent', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({ 'a.csv': 'x\ny\n', 'b.csv': 'zz' });
  try {
    for (const splitType of ['Line', 'None'] as const) {
      await fs.rm(t.output, { recursive: true, force: true });
      const summary = await runTransform({ input: t.input, output: t.output, url: c.url, splitType, parameters: { maxPayloadInMB: 1e-7 } });
      assert.equal(summary.parameters.maxPayloadInMB, 1e-7);
      assert.ok(summary.failed.length > 0 && summary.failed.every((f) => /over MaxPayloadInMB=1e-7 \(1 bytes\); not sent$/.test(f.error)), JSON.stringify(summary.failed));
    }
    assert.deepEqual(c.bodies, [], 'nothing was sent');
    assert.deepEqual(c.framings, []);
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('an input folder\'s links to files are transformed as the files (they were skipped without a word); a link to a folder, or a broken one, is not followed', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({ 'a.csv': 'a\n', 'sub/b.csv': 'b\n' });
  try {
    const elsewhere = path.join(t.root, 'elsewhere.csv');
    await fs.writeFile(elsewhere, 'x\n');
    await fs.symlink(elsewhere, path.join(t.input, 'linked.csv'));
    await fs.symlink(t.input, path.join(t.input, 'loop'));
    await fs.symlink(path.join(t.root, 'missing.csv'), path.join(t.input, 'broken.csv'));
    const summary = await runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line' });
    assert.equal(summary.files, 3);
    assert.deepEqual(summary.failed, []);
    assert.equal(await fs.readFile(path.join(t.output, 'linked.csv.out'), 'utf8'), 'X\n');
    assert.deepEqual((await fs.readdir(t.output)).sort(), ['a.csv.out', 'linked.csv.out', 'sub']);
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('MaxPayloadInMB=0 with MULTI_RECORD: when the one streamed request of a file fails, its records are read again and sent one by one, so only the bad one is lost', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({ 'a.csv': 'x\nBAD\ny\n' });
  try {
    const summary = await runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line', retries: 0, parameters: { maxPayloadInMB: 0 } });
    assert.deepEqual(summary.failed.map((f) => [f.record, f.status]), [[1, 400]]);
    assert.equal(summary.records, 3);
    assert.equal(summary.requests, 4);
    assert.deepEqual(c.bodies, ['x\nBAD\ny\n', 'x\n', 'BAD\n', 'y\n']);
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('MaxPayloadInMB=0 with MULTI_RECORD and MaxConcurrentTransforms 2: a run stopped during a file\'s streamed request, or while its records are sent one by one after it failed, leaves that file cut short (an earlier .out stays as it was)', async () => {
  let stop = new AbortController();
  const server = http.createServer((req, res) => {
    if (req.url === '/execution-parameters') return void res.writeHead(404).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      // Never answered: the run is stopped while this record is out.
      if (body === 'hang\n') return stop.abort(new Error('stopped by the test'));
      if (body.split('\n').length > 2) return void res.writeHead(500).end('one record at a time');
      res.end(body.toUpperCase());
    });
  });
  const url = await listenLoopback(server);
  let root: string | undefined;
  try {
    const t = await tmpTree({ 'first/a.csv': 'hang\n', 'fallback/a.csv': 'x\ny\n' });
    root = t.root;
    for (const folder of ['first', 'fallback']) {
      stop = new AbortController();
      await fs.rm(t.output, { recursive: true, force: true });
      await fs.mkdir(t.output);
      await fs.writeFile(path.join(t.output, 'a.csv.out'), 'OLD\n');
      // In the fallback, stopped between two records: once the first one's answer has come.
      const progress = { advance: () => void (folder === 'fallback' && stop.abort(new Error('stopped by the test'))) };
      const run = runTransform({ input: path.join(t.input, folder), output: t.output, url, splitType: 'Line', retries: 0, signal: stop.signal, progress, parameters: { maxPayloadInMB: 0, batchStrategy: 'MULTI_RECORD', maxConcurrentTransforms: 2 } });
      await assert.rejects(run, /stopped by the test/);
      assert.deepEqual(await fs.readdir(t.output), ['a.csv.out'], folder);
      assert.equal(await fs.readFile(path.join(t.output, 'a.csv.out'), 'utf8'), 'OLD\n', folder);
    }
  } finally {
    await closeServer(server);
    if (root !== undefined) await fs.rm(root, { recursive: true, force: true });
  }
});

test('MaxPayloadInMB=0: a container that answers before a streamed body ends (a 413 at its first bytes) ends the request there; the rest of the file is not sent', { timeout: 10_000 }, async () => {
  let upload!: Promise<{ complete: boolean; received: number }>;
  const server = http.createServer((req, res) => {
    if (req.url === '/execution-parameters') return void res.writeHead(404).end();
    let received = 0;
    req.on('data', (c: Buffer) => (received += c.length));
    upload = new Promise((resolve) => req.socket.on('close', () => resolve({ complete: req.complete, received })));
    req.once('data', () => res.writeHead(413).end('payload too large'));
  });
  // Its connections are closed by the client alone (not 5 s after the answer).
  server.keepAliveTimeout = 0;
  const url = await listenLoopback(server);
  let root: string | undefined;
  try {
    const t = await tmpTree({});
    root = t.root;
    await fs.mkdir(t.input, { recursive: true });
    // Sparse: no disk space.
    await fs.writeFile(path.join(t.input, 'big.bin'), '');
    await fs.truncate(path.join(t.input, 'big.bin'), STREAMED_BYTES);
    // Left to go on, the upload (and the file it is read from) outlived the run, up to this timeout.
    const summary = await runTransform({ input: t.input, output: t.output, url, splitType: 'None', timeoutMs: 20_000, parameters: { maxPayloadInMB: 0 } });
    assert.deepEqual(summary.failed.map((f) => [f.file, f.record, f.status, f.error]), [['big.bin', 0, 413, 'payload too large']]);
    const { complete, received } = await upload;
    assert.equal(complete, false);
    assert.ok(received < STREAMED_BYTES, `${received} bytes sent`);
  } finally {
    await closeServer(server);
    if (root !== undefined) await fs.rm(root, { recursive: true, force: true });
  }
});

test('inferenceIds (GenerateInferenceId): each CSV output record gets an inference id and the job start time as two more fields, a multi-record answer cut per record', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({ 'a.csv': 'x\ny\n' });
  try {
    await runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line', assembleWith: 'Line', contentType: 'text/csv', inferenceIds: { time: '2022-08-30T00:49:15Z' }, parameters: { batchStrategy: 'MULTI_RECORD' } });
    assert.deepEqual(c.bodies, ['x\ny\n']);
    const rows = (await fs.readFile(path.join(t.output, 'a.csv.out'), 'utf8')).split('\n');
    assert.equal(rows.pop(), '');
    assert.deepEqual(rows.map((r) => r.replace(/,[0-9a-f-]{36},/, ',<id>,')), ['X,<id>,2022-08-30T00:49:15Z', 'Y,<id>,2022-08-30T00:49:15Z']);
    assert.notEqual(rows[0]!.split(',')[1], rows[1]!.split(',')[1]);
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('MaxPayloadInMB=0 sends each request with chunked encoding, as the API describes it; other limits send a Content-Length', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({ 'a.csv': 'x\ny\n' });
  try {
    await runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line', parameters: { maxPayloadInMB: 0 } });
    await runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line', parameters: { maxPayloadInMB: 1 } });
    assert.deepEqual(c.framings, ['chunked', 'length 4']);
    assert.deepEqual(c.bodies, ['x\ny\n', 'x\ny\n']);
    assert.equal(await fs.readFile(path.join(t.output, 'a.csv.out'), 'utf8'), 'X\nY\n');
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('S3DataType ManifestFile: the files the manifest lists, in its order, relative to its prefix; bad manifests are ERR_CLI_USAGE before anything is sent', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({ 'data/b.csv': 'b\n', 'data/sub/a.csv': 'a\n', 'data/unlisted.csv': 'u\n', 'secret.csv': 's\n' });
  const manifest = path.join(t.input, 'manifest.json');
  const run = async (content: unknown) => {
    await fs.writeFile(manifest, typeof content === 'string' ? content : JSON.stringify(content));
    return runTransform({ input: manifest, output: t.output, url: c.url, s3DataType: 'ManifestFile' });
  };
  const usage = (pattern: RegExp) => (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && pattern.test(e.message);
  try {
    const summary = await run([{ prefix: 'data/' }, 'b.csv', 'sub/a.csv']);
    assert.equal(summary.files, 2);
    assert.deepEqual(c.bodies, ['b\n', 'a\n']);
    assert.equal(await fs.readFile(path.join(t.output, 'sub/a.csv.out'), 'utf8'), 'A\n');
    await assert.rejects(fs.stat(path.join(t.output, 'unlisted.csv.out')));
    await assert.rejects(run([{ prefix: 'data/' }, '../secret.csv']), usage(/element 1 \(\.\.\/secret\.csv\) leads outside the prefix folder/));
    await assert.rejects(run([{ prefix: 'data/' }, '/etc/hostname']), usage(/leads outside the prefix/));
    await assert.rejects(run([{ prefix: 's3://bucket/data/' }, 'b.csv']), usage(/is in S3; smkit local transform reads local files/));
    await assert.rejects(run([{ prefix: 'data/' }, 'missing.csv']), usage(/element 1 \(missing\.csv\) is not a file/));
    await assert.rejects(run(['b.csv']), usage(/first element must be \{"prefix"/));
    await assert.rejects(run('{"prefix": '), usage(/not readable as JSON/));
    // An element quoted in the message is written with JSON.stringify, which recurses: refused before it is parsed.
    await assert.rejects(run(`[{"prefix": "data/"}, ${'['.repeat(100_000)}${']'.repeat(100_000)}]`), usage(/nests arrays and objects more than 512 levels deep/));
    await assert.rejects(runTransform({ input: t.input, output: t.output, url: c.url, s3DataType: 'ManifestFile' }), usage(/needs --input to be a manifest file/));
    assert.equal(c.bodies.length, 2, 'nothing more was sent');
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('S3DataType ManifestFile: a file listed twice (b.csv, ./b.csv) is transformed once, as the manifest names a set of objects; two runs of it wrote the same .out at once and the run failed with a raw ENOENT', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({ 'data/b.csv': 'b1\nb2\nb3\n', 'data/sub/a.csv': 'a\n' });
  const manifest = path.join(t.input, 'manifest.json');
  try {
    await fs.writeFile(manifest, JSON.stringify([{ prefix: 'data/' }, 'b.csv', './b.csv', 'sub/a.csv', 'sub/../b.csv']));
    assert.deepEqual((await readManifest(manifest)).files, ['b.csv', path.join('sub', 'a.csv')]);
    const summary = await runTransform({ input: manifest, output: t.output, url: c.url, s3DataType: 'ManifestFile', splitType: 'Line', parameters: { maxConcurrentTransforms: 4, maxPayloadInMB: 3 / (1024 * 1024) } });
    assert.equal(summary.files, 2);
    assert.equal(summary.records, 4);
    assert.deepEqual(summary.failed, []);
    assert.equal(await fs.readFile(path.join(t.output, 'b.csv.out'), 'utf8'), 'B1\nB2\nB3\n');
    assert.equal(await fs.readFile(path.join(t.output, 'sub/a.csv.out'), 'utf8'), 'A\n');
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('S3DataType ManifestFile: a manifest over 64 MiB is ERR_CLI_USAGE before anything is sent, refused from its size; the cap holds to the byte', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({ 'data/a.csv': 'a\n' });
  const manifest = path.join(t.input, 'manifest.json');
  const usage = (pattern: RegExp) => (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && pattern.test(e.message);
  try {
    assert.equal(MAX_MANIFEST_BYTES, 64 * 1024 * 1024);
    // Sparse: its 64 MiB and a byte are never written, and reading them would show in the run's time, not here.
    await fs.writeFile(manifest, '');
    await fs.truncate(manifest, MAX_MANIFEST_BYTES + 1);
    await assert.rejects(runTransform({ input: manifest, output: t.output, url: c.url, s3DataType: 'ManifestFile' }), usage(/is larger than 67108864 bytes, the most smkit reads of a manifest/));
    assert.equal(c.bodies.length, 0);
    const text = JSON.stringify([{ prefix: 'data/' }, 'a.csv']);
    await fs.writeFile(manifest, text);
    assert.deepEqual((await readManifest(manifest, text.length)).files, ['a.csv']);
    await assert.rejects(readManifest(manifest, text.length - 1), usage(new RegExp(`is larger than ${text.length - 1} bytes`)));
    const summary = await runTransform({ input: manifest, output: t.output, url: c.url, s3DataType: 'ManifestFile' });
    assert.equal(summary.files, 1);
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('a file that cannot be read when its turn comes (removed after the listing) fails alone; the others are written', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({ 'a.csv': 'a\n', 'b.csv': 'b\n' });
  try {
    // Read whole (SplitType None) and read as it is split (Line).
    for (const splitType of ['None', 'Line'] as const) {
      await fs.writeFile(path.join(t.input, 'a.csv'), 'a\n');
      // start() runs after the files were listed and counted, before the first one is sent.
      const summary = await runTransform({ input: t.input, output: t.output, url: c.url, splitType, progress: { start: () => void rmSync(path.join(t.input, 'a.csv')) } });
      assert.deepEqual(summary.failed.map((f) => [f.file, f.record, f.status]), [['a.csv', 0, 0]], splitType);
      assert.match(summary.failed[0]!.error, /cannot read the file \(ENOENT/);
      assert.equal(await fs.readFile(path.join(t.output, 'b.csv.out'), 'utf8'), 'B\n');
    }
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('MaxConcurrentTransforms counts across files: one-record files are sent side by side', { timeout: 10_000 }, async () => {
  // Each request is held until three are in flight at once; sending one file at a time never gets there.
  let held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/execution-parameters') return void res.writeHead(404).end();
    req.resume();
    req.on('end', () => {
      held.push(res);
      if (held.length < 3) return;
      for (const r of held) r.writeHead(200).end('ok');
      held = [];
    });
  });
  const url = await listenLoopback(server);
  let root: string | undefined;
  try {
    const t = await tmpTree(Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`f${i}.csv`, `${i}\n`])));
    root = t.root;
    const summary = await runTransform({ input: t.input, output: t.output, url, parameters: { maxConcurrentTransforms: 3 } });
    assert.equal(summary.failed.length, 0);
    assert.equal(summary.requests, 6);
    for (let i = 0; i < 6; i++) assert.equal(await fs.readFile(path.join(t.output, `f${i}.csv.out`), 'utf8'), 'ok');
  } finally {
    await closeServer(server);
    if (root !== undefined) await fs.rm(root, { recursive: true, force: true });
  }
});

test('a file of 1.2 million lines runs in a 96 MB heap: records are split and batched as batches are sent, not held as an object each', async () => {
  const t = await tmpTree({ 'many.csv': '1,2,3,4,5\n'.repeat(1_200_000) });
  // In a child with a small heap: holding every record as an object (~150 bytes each) needs about 180 MB.
  // The run itself peaks at 40-48 MB on Node 24 (it fails at a 40 MB limit): 64 MB ran out once in a
  // loaded CI run; 96 MB gives twice the margin, and 1.2 million records held as objects (even of
  // sliced strings) still run out of it.
  const script = `
    import http from 'node:http';
    import { runTransform } from ${JSON.stringify(new URL('./run.js', import.meta.url).href)};
    const server = http.createServer((req, res) => {
      let n = 0;
      req.on('data', (c) => (n += c.length));
      req.on('end', () => (req.url === '/execution-parameters' ? res.writeHead(404).end() : res.end(String(n))));
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const s = await runTransform({ input: ${JSON.stringify(t.input)}, output: ${JSON.stringify(t.output)}, url: 'http://127.0.0.1:' + server.address().port, contentType: 'text/csv', splitType: 'Line', assembleWith: 'Line', parameters: { maxPayloadInMB: 1 } });
    server.close();
    process.stdout.write(JSON.stringify({ records: s.records, requests: s.requests, failed: s.failed.length }));
  `;
  try {
    const out = await runChildScript(['--max-old-space-size=96'], script);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(JSON.parse(out.stdout), { records: 1_200_000, requests: 12, failed: 0 });
    const answers = (await fs.readFile(path.join(t.output, 'many.csv.out'), 'utf8')).split('\n').filter(Boolean).map(Number);
    assert.equal(answers.reduce((a, b) => a + b, 0), 12_000_000, 'every byte was sent, once');
  } finally {
    rmSync(t.root, { recursive: true, force: true });
  }
});

test("a container's /execution-parameters asking for more than a transform job allows is lowered, with a warning: 1000000 requests at 6 MB become 16 at once", { timeout: 120_000 }, async () => {
  const records = 40;
  let execParams: object = { MaxConcurrentTransforms: 1_000_000 };
  // Each request is held until 16 are in flight (or every record has come), so the peak is the concurrency used.
  // A concurrency under 16 therefore never gets its requests answered: the timeout only ends that
  // hang (the test takes 0.1 s quiet). At 10 s it was hit once at a load average of 45-60.
  let held: http.ServerResponse[] = [];
  let holdUntil = 16;
  let received = 0;
  let peak = 0;
  const server = http.createServer((req, res) => {
    if (req.url === '/execution-parameters') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(execParams));
    req.resume();
    req.on('end', () => {
      received++;
      held.push(res);
      peak = Math.max(peak, held.length);
      if (held.length < holdUntil && received < records) return;
      for (const r of held) r.writeHead(200).end('ok');
      held = [];
    });
  });
  const url = await listenLoopback(server);
  let root: string | undefined;
  try {
    const t = await tmpTree({ 'a.csv': Array.from({ length: records }, (_, i) => `${i}\n`).join('') });
    root = t.root;
    const warnings: string[] = [];
    const summary = await runTransform({ input: t.input, output: t.output, url, splitType: 'Line', parameters: { batchStrategy: 'SINGLE_RECORD' }, warn: (m) => warnings.push(m) });
    assert.equal(summary.failed.length, 0);
    assert.equal(summary.parameters.maxConcurrentTransforms, 16, '100 MB / 6 MB');
    assert.equal(peak, 16);
    assert.deepEqual(warnings, [
      "MaxConcurrentTransforms=1000000 (the container's GET /execution-parameters) × MaxPayloadInMB=6 is over the 100 MB a transform job allows; using MaxConcurrentTransforms=16",
    ]);

    execParams = { MaxConcurrentTransforms: 4, MaxPayloadInMB: 1000 };
    holdUntil = 1;
    received = 0;
    warnings.length = 0;
    const big = await runTransform({ input: t.input, output: t.output, url, splitType: 'Line', parameters: { batchStrategy: 'SINGLE_RECORD' }, warn: (m) => warnings.push(m) });
    assert.deepEqual([big.parameters.maxPayloadInMB, big.parameters.maxConcurrentTransforms], [100, 1]);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /^MaxPayloadInMB=1000 \(the container's GET \/execution-parameters\) is over the 100 MB a transform job allows; using MaxPayloadInMB=100$/);
    assert.match(warnings[1]!, /^MaxConcurrentTransforms=4 .* using MaxConcurrentTransforms=1$/);
  } finally {
    await closeServer(server);
    if (root !== undefined) await fs.rm(root, { recursive: true, force: true });
  }
});

test('Line and RecordIO files are split as they are read, and answers written as they come: a 32 MB file is never held, nor its answers', async () => {
  // 32 Ki records of 1 KB each: lines, and RecordIO frames (8-byte header, 1016 bytes of data).
  const frame = Buffer.alloc(1024, 0x61);
  frame.writeUInt32LE(0xced7230a, 0);
  frame.writeUInt32LE(1016, 4);
  const t = await tmpTree({ 'line/big.csv': `${'x'.repeat(1023)}\n`.repeat(32 * 1024) });
  await fs.mkdir(path.join(t.input, 'rec'));
  await fs.writeFile(path.join(t.input, 'rec', 'big.rec'), Buffer.concat(Array.from({ length: 32 * 1024 }, () => frame)));
  // In a child that measures, after a full collection at each request, the bytes its Buffers hold:
  // the file (or all its answers) held until its .out is written would be over 32 MB.
  const script = `
    import http from 'node:http';
    import { runTransform } from ${JSON.stringify(new URL('./run.js', import.meta.url).href)};
    let peak = 0;
    const server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/execution-parameters') return res.writeHead(404).end();
        globalThis.gc();
        peak = Math.max(peak, process.memoryUsage().arrayBuffers);
        res.end(Buffer.concat(chunks));
      });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const results = [];
    for (const [splitType, dir] of [['Line', 'line'], ['RecordIO', 'rec']]) {
      peak = 0;
      const s = await runTransform({ input: ${JSON.stringify(t.input)} + '/' + dir, output: ${JSON.stringify(t.output)}, url: 'http://127.0.0.1:' + server.address().port, splitType, assembleWith: 'None', parameters: { maxPayloadInMB: 1, maxConcurrentTransforms: 2 } });
      results.push({ splitType, records: s.records, requests: s.requests, failed: s.failed.length, peakMB: peak / 2 ** 20 });
    }
    server.close();
    process.stdout.write(JSON.stringify(results));
  `;
  try {
    const out = await runChildScript(['--expose-gc'], script);
    assert.equal(out.code, 0, out.stderr);
    for (const result of JSON.parse(out.stdout) as { splitType: string; records: number; requests: number; failed: number; peakMB: number }[]) {
      assert.deepEqual({ ...result, peakMB: undefined }, { splitType: result.splitType, records: 32 * 1024, requests: 32, failed: 0, peakMB: undefined });
      // RecordIO's records keep the 1 MB read blocks they were cut from while their mini-batch is out: 15 to 22 MB on a loaded machine, Line 10 to 12 MB; the file held would add its 32 MB to that.
      assert.ok(result.peakMB < 26, `${result.splitType}: ${result.peakMB.toFixed(1)} MB of Buffers held at a request: a few times MaxConcurrentTransforms × MaxPayloadInMB (bodies, answers, read blocks), not the file's 32 MB`);
    }
    assert.equal(await fs.readFile(path.join(t.output, 'big.csv.out'), 'utf8'), `${'x'.repeat(1023)}\n`.repeat(32 * 1024), 'every answer written, once, in order');
    assert.deepEqual(await fs.readFile(path.join(t.output, 'big.rec.out')), await fs.readFile(path.join(t.input, 'rec', 'big.rec')));
    await assert.rejects(fs.stat(path.join(t.output, 'big.csv.out.partial')));
  } finally {
    rmSync(t.root, { recursive: true, force: true });
  }
});

test('a container answering 96 MB is not held: past 8 MB the answer goes to a spool file as it comes, then into the .out; one that must be cut per record (JoinSource=Input) fails its record past 100 MB, not asked again', async () => {
  const t = await tmpTree({ 'whole/a.bin': 'x', 'join/b.csv': '1\n' });
  // In a child that measures, after a full collection at each 8 MB the container sends, the bytes its Buffers hold.
  const script = `
    import http from 'node:http';
    import { runTransform } from ${JSON.stringify(new URL('./run.js', import.meta.url).href)};
    let peak = 0;
    let posts = 0;
    const block = Buffer.alloc(1 << 20, 0x61);
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', async () => {
        if (req.url === '/execution-parameters') return res.writeHead(404).end();
        posts++;
        const mb = req.headers['content-type'] === 'text/csv' ? 101 : 96;
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        for (let i = 1; i <= mb; i++) {
          if (!res.write(block)) await new Promise((r) => res.once('drain', r));
          if (res.destroyed) return;
          if (i % 8 === 0) {
            globalThis.gc();
            peak = Math.max(peak, process.memoryUsage().arrayBuffers);
          }
        }
        res.end();
      });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const url = 'http://127.0.0.1:' + server.address().port;
    const whole = await runTransform({ input: ${JSON.stringify(t.input)} + '/whole', output: ${JSON.stringify(t.output)}, url, contentType: 'application/octet-stream', parameters: { maxPayloadInMB: 6 } });
    const wholePeak = peak;
    posts = 0;
    const join = await runTransform({ input: ${JSON.stringify(t.input)} + '/join', output: ${JSON.stringify(t.output)}, url, contentType: 'text/csv', accept: 'text/csv', splitType: 'Line', assembleWith: 'Line', dataProcessing: { joinSource: 'Input' } });
    server.close();
    process.stdout.write(JSON.stringify({ wholeFailed: whole.failed, peakMB: wholePeak / 2 ** 20, joinFailed: join.failed, joinPosts: posts }));
  `;
  try {
    const out = await runChildScript(['--expose-gc'], script);
    assert.equal(out.code, 0, out.stderr);
    const result = JSON.parse(out.stdout) as { wholeFailed: unknown[]; peakMB: number; joinFailed: { record: number; status: number; error: string }[]; joinPosts: number };
    assert.deepEqual(result.wholeFailed, []);
    // Held whole, the answer would be 88 MB of Buffers at the last sample; spooled, a few MB (the 8 MB held before spooling, stream buffers).
    assert.ok(result.peakMB < 40, `${result.peakMB.toFixed(1)} MB of Buffers held while a 96 MB answer came`);
    const written = await fs.readFile(path.join(t.output, 'a.bin.out'));
    assert.equal(written.length, 96 << 20);
    // Compared at once (a callback per byte took 2 s of the test).
    assert.ok(written.equals(Buffer.alloc(96 << 20, 0x61)), 'the answer written as it came');
    assert.deepEqual((await fs.readdir(t.output)).sort(), ['a.bin.out', 'b.csv.out.failed'], 'no spool or .partial file left');
    assert.deepEqual(result.joinFailed.map((f) => ({ ...f, error: f.error.replace(/\d+ bytes/, 'N bytes') })), [
      { file: 'b.csv', record: 0, status: 0, error: 'the answer is over N bytes (100 MB), the most smkit holds to cut an answer per record for DataProcessing (JoinSource, OutputFilter) or GenerateInferenceId' },
    ]);
    assert.equal(result.joinPosts, 1, 'the same answer is not asked for again');
  } finally {
    rmSync(t.root, { recursive: true, force: true });
  }
});

/** A promise and its resolve (Promise.withResolvers is not in Node 20). */
function resolvers(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test('CompressionType Gzip with SplitType None, stopped while the object is being sent (MaxPayloadInMB 0, streamed as it is gunzipped, and 6, read whole): the request is cut part-way, the run rejects, and the file gets no .out, .out.partial nor .out.failed, its input closed', { skip: !fsModule.existsSync('/proc/self/fd') && 'needs /proc/self/fd' }, async () => {
  // 6 MB once gunzipped (under the 6 MB limit), of text that does not compress to nothing.
  const text = Buffer.from(Array.from({ length: 6 * 1024 * 1024 / 8 - 1 }, (_, i) => `${(i * 7919) % 1_000_000}`.padStart(7, '0') + '\n').join(''));
  const t = await tmpTree({});
  await fs.mkdir(t.input, { recursive: true });
  await fs.writeFile(path.join(t.input, 'a.csv.gz'), gzipSync(text));
  let stop = new AbortController();
  /** Bytes of each request's body the container got, and whether it came whole. */
  const got: { bytes: number; complete: boolean }[] = [];
  /** Settled when a request's connection has closed. */
  let closed = resolvers();
  const server = http.createServer((req, res) => {
    if (req.url === '/execution-parameters') return void res.writeHead(404).end();
    const seen = { bytes: 0, complete: false };
    got.push(seen);
    req.on('data', (c: Buffer) => {
      seen.bytes += c.length;
      // Stopped once the first bytes of the object have come.
      if (!stop.signal.aborted) stop.abort(new Error('stopped by the test'));
    });
    req.on('end', () => {
      seen.complete = true;
      res.end('answer');
    });
    req.socket.once('close', () => closed.resolve());
  });
  const url = await listenLoopback(server);
  try {
    for (const maxPayloadInMB of [0, 6]) {
      stop = new AbortController();
      got.length = 0;
      closed = resolvers();
      const run = runTransform({ input: t.input, output: t.output, url, compressionType: 'Gzip', splitType: 'None', retries: 3, signal: stop.signal, parameters: { maxPayloadInMB } });
      await assert.rejects(run, /stopped by the test/, `MaxPayloadInMB ${maxPayloadInMB}`);
      await closed.promise;
      assert.equal(got.length, 1, `MaxPayloadInMB ${maxPayloadInMB}: one request, not retried after the stop`);
      // Streamed, the object is gunzipped as it is sent: the stop cuts it part-way.
      if (maxPayloadInMB === 0) assert.ok(!got[0]!.complete && got[0]!.bytes < text.length, `${got[0]!.bytes} of ${text.length} bytes sent`);
      assert.deepEqual(await fs.readdir(t.output), [], `MaxPayloadInMB ${maxPayloadInMB}: nothing written`);
      assert.deepEqual(openFilesUnder(t.input), [], `MaxPayloadInMB ${maxPayloadInMB}: the input file is closed`);
    }
  } finally {
    await closeServer(server);
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('retries: a streamed request (MaxPayloadInMB 0) whose connection is reset is sent again, the file read again from its start; a 503 each time fails the record saying how often it was sent; a 500 is not retried', async () => {
  const text = 'row\n'.repeat(50_000);
  const t = await tmpTree({ 'reset/a.csv': text, 'busy/b.csv': 'b\n', 'error/c.csv': 'c\n' });
  /** Requests by file marker, and the bodies the container got whole. */
  const seen = new Map<string, number>();
  const whole: string[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/execution-parameters') return void res.writeHead(404).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      chunks.push(c);
      const body = Buffer.concat(chunks).toString();
      if (!body.startsWith('row')) return;
      const n = (seen.get('row') ?? 0) + 1;
      // The first two sends of the streamed file are cut at their first bytes.
      if (chunks.length === 1) seen.set('row', n);
      if (n <= 2) req.socket.destroy();
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      if (body === 'b\n' || body === 'c\n') {
        seen.set(body, (seen.get(body) ?? 0) + 1);
        return void res.writeHead(body === 'b\n' ? 503 : 500).end(body === 'b\n' ? 'busy' : 'broken');
      }
      whole.push(body);
      res.end('ok');
    });
  });
  const url = await listenLoopback(server);
  try {
    const reset = await runTransform({ input: path.join(t.input, 'reset'), output: t.output, url, retries: 2, parameters: { maxPayloadInMB: 0 } });
    assert.deepEqual(reset.failed, []);
    assert.equal(seen.get('row'), 3);
    assert.deepEqual(whole, [text], 'the third send carried the whole file');
    assert.equal(await fs.readFile(path.join(t.output, 'a.csv.out'), 'utf8'), 'ok');

    const busy = await runTransform({ input: path.join(t.input, 'busy'), output: t.output, url, retries: 2, parameters: { maxPayloadInMB: 0 } });
    assert.deepEqual(busy.failed, [{ file: 'b.csv', record: 0, status: 503, error: 'busy (sent 3 times)' }]);
    assert.equal(seen.get('b\n'), 3);
    const error = await runTransform({ input: path.join(t.input, 'error'), output: t.output, url, retries: 2, parameters: { maxPayloadInMB: 0 } });
    assert.deepEqual(error.failed, [{ file: 'c.csv', record: 0, status: 500, error: 'broken' }]);
    assert.equal(seen.get('c\n'), 1);
  } finally {
    await closeServer(server);
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('JoinSource=Input on JSON Lines: AssembleWith Line writes one joined object per line; None concatenates them, as it concatenates answers', async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({ 'a.jsonl': '{"id":1}\n{"id":2}\n' });
  try {
    for (const [assembleWith, expected] of [
      ['Line', '{"id":1,"SageMakerOutput":{"ID":1}}\n{"id":2,"SageMakerOutput":{"ID":2}}\n'],
      ['None', '{"id":1,"SageMakerOutput":{"ID":1}}{"id":2,"SageMakerOutput":{"ID":2}}'],
    ] as const) {
      const s = await runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line', assembleWith, dataProcessing: { joinSource: 'Input' } });
      assert.deepEqual(s.failed, []);
      assert.equal(await fs.readFile(path.join(t.output, 'a.jsonl.out'), 'utf8'), expected, assembleWith);
    }
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('a spool file that cannot be written (a full disk: /dev/full) breaks the run with ENOSPC, whether the write fails before or after the answer has all come: the truncated spool is never taken for the answer, the request is not sent again, and nothing is left in the output', { skip: (process.platform !== 'linux' || !fsModule.existsSync('/dev/full')) && 'needs /dev/full' }, async () => {
  const t = await tmpTree({ 'a.bin': 'x' });
  let posts = 0;
  let shape: 'one piece' | 'in blocks' = 'one piece';
  const block = Buffer.alloc(1 << 20, 0x61);
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      if (req.url === '/execution-parameters') return void res.writeHead(404).end();
      posts++;
      // 8 MB and a byte in one piece: the answer has all come before the first spool write fails.
      if (shape === 'one piece') return void res.writeHead(200, { 'content-length': String((8 << 20) + 1) }).end(Buffer.alloc((8 << 20) + 1, 0x61));
      res.writeHead(200);
      for (let i = 0; i < 12 && !res.destroyed; i++) {
        if (res.write(block)) continue;
        await new Promise<void>((resolve) => {
          const on = (): void => void (res.off('drain', on).off('close', on), resolve());
          res.on('drain', on).on('close', on);
        });
      }
      res.end();
    });
  });
  const url = await listenLoopback(server);
  try {
    for (const s of ['one piece', 'in blocks'] as const) {
      shape = s;
      posts = 0;
      await fs.mkdir(t.output, { recursive: true });
      await fs.symlink('/dev/full', path.join(t.output, 'a.bin.out.partial.0'));
      await assert.rejects(
        runTransform({ input: t.input, output: t.output, url, contentType: 'application/octet-stream', parameters: { maxPayloadInMB: 6 } }),
        (err: Error) => /^could not write the container's answer to .*a\.bin\.out\.partial\.0: ENOSPC/.test(err.message) && (err.cause as { code?: string }).code === 'ENOSPC',
        s,
      );
      assert.equal(posts, 1, `${s}: not sent again`);
      assert.deepEqual(await fs.readdir(t.output), [], `${s}: no .out, .partial, .failed nor spool left`);
    }
  } finally {
    await closeServer(server);
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('spooled answers that come out of order (MaxConcurrentTransforms 4, each just over 8 MB, the first four answered last to first) are copied into the .out in record order, each followed by its newline (AssembleWith Line), and no spool is left', { timeout: 60_000 }, async () => {
  const letters = ['a', 'b', 'c', 'd', 'e'];
  const t = await tmpTree({ 'r.txt': letters.join('\n') + '\n' });
  const size = (8 << 20) + 4096;
  /** The first four requests, held until all four are out, then answered last to first. */
  const held: { letter: string; res: http.ServerResponse }[] = [];
  const answer = (letter: string, res: http.ServerResponse): void => void res.writeHead(200).end(Buffer.alloc(size, letter));
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/execution-parameters') return void res.writeHead(404).end();
      const letter = Buffer.concat(chunks).toString().trim();
      if (letter > 'd') return answer(letter, res);
      held.push({ letter, res });
      if (held.length === 4) for (const h of held.reverse()) answer(h.letter, h.res);
    });
  });
  const url = await listenLoopback(server);
  try {
    const s = await runTransform({ input: t.input, output: t.output, url, contentType: 'text/plain', splitType: 'Line', assembleWith: 'Line', parameters: { batchStrategy: 'SINGLE_RECORD', maxConcurrentTransforms: 4 } });
    assert.deepEqual(s.failed, []);
    assert.equal(s.requests, 5);
    const expected = Buffer.concat(letters.flatMap((l) => [Buffer.alloc(size, l), Buffer.from('\n')]));
    assert.ok((await fs.readFile(path.join(t.output, 'r.txt.out'))).equals(expected), 'the answers in record order, each with its newline');
    assert.deepEqual(await fs.readdir(t.output), ['r.txt.out'], 'no spool or .partial left');
  } finally {
    await closeServer(server);
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('stopped while an answer is being spooled (9 MB come, the rest held): the run rejects, the request is not sent again, and neither the spool nor any .out, .partial or .failed is left', async () => {
  const t = await tmpTree({ 'a.bin': 'x' });
  let posts = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/execution-parameters') return void res.writeHead(404).end();
      posts++;
      // Past the 8 MB held in memory, then never ended.
      res.writeHead(200).write(Buffer.alloc(9 << 20, 0x61));
    });
  });
  const url = await listenLoopback(server);
  try {
    const stop = new AbortController();
    const run = runTransform({ input: t.input, output: t.output, url, contentType: 'application/octet-stream', signal: stop.signal });
    const spool = path.join(t.output, 'a.bin.out.partial.0');
    await until('the answer to be spooled', async () => (await fs.stat(spool).catch(() => undefined))?.size);
    stop.abort(new Error('stopped by the test'));
    await assert.rejects(run, /stopped by the test/);
    assert.equal(posts, 1);
    assert.deepEqual(await fs.readdir(t.output), []);
  } finally {
    await closeServer(server);
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('a run stopped while an answer\'s spool file is still being opened (the open slow, as on a busy disk) leaves no spool once it has rejected: it rejected before that open, which then created the file in the output after the run', async () => {
  const t = await tmpTree({ 'a.bin': 'x' });
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/execution-parameters') return void res.writeHead(404).end();
      // Past the 8 MB held in memory (so spooled), then never ended.
      res.writeHead(200).write(Buffer.alloc(9 << 20, 0x61));
    });
  });
  const url = await listenLoopback(server);
  try {
    const stop = new AbortController();
    const reason = new Error('stopped by the test');
    const outcome = await withHeldFileOpen(() => runTransform({ input: t.input, output: t.output, url, contentType: 'application/octet-stream', signal: stop.signal }), () => stop.abort(reason));
    assert.deepEqual(outcome, { status: 'rejected', reason });
    assert.deepEqual(await fs.readdir(t.output), [], 'no spool left');
  } finally {
    await closeServer(server);
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('a container whose /execution-parameters answers a redirect is not followed: its answer gives no parameters, as any non-2xx', async () => {
  const hits: string[] = [];
  const elsewhere = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ MaxConcurrentTransforms: 7, BatchStrategy: 'SINGLE_RECORD', MaxPayloadInMB: 2 }));
  });
  const target = await listenLoopback(elsewhere);
  const container = http.createServer((req, res) => void res.writeHead(302, { location: `${target}/execution-parameters` }).end());
  const containerUrl = await listenLoopback(container);
  try {
    const { fetchExecutionParameters } = await import('./parameters.js');
    assert.deepEqual(await fetchExecutionParameters(containerUrl, 10_000), {});
    assert.deepEqual(hits, [], 'nothing was sent where the container pointed');
  } finally {
    await Promise.all([elsewhere, container].map((s) => new Promise((r) => s.close(r))));
  }
});

test("a container's /execution-parameters answer is read up to 64 KB: a longer one gives no parameters and is not read further, so one that never ends is not held until the timeout; one of 64 KB is read", { timeout: 30_000 }, async () => {
  const { fetchExecutionParameters, MAX_EXECUTION_PARAMETERS_BYTES } = await import('./parameters.js');
  assert.equal(MAX_EXECUTION_PARAMETERS_BYTES, 64 * 1024);
  const json = JSON.stringify({ MaxConcurrentTransforms: 3 });
  /** Valid JSON of `size` bytes: the parameters after leading spaces. */
  const padded = (size: number): string => ' '.repeat(size - json.length) + json;
  let closed = 0;
  const container = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url === '/at-cap/execution-parameters') return void res.end(padded(MAX_EXECUTION_PARAMETERS_BYTES));
    if (req.url === '/over-cap/execution-parameters') return void res.end(padded(MAX_EXECUTION_PARAMETERS_BYTES + 1));
    if (req.url === '/bom/execution-parameters') return void res.end(`\uFEFF${json}`);
    // Spaces for ever (valid JSON so far), until the reader goes.
    const spaces = Buffer.alloc(64 * 1024, 0x20);
    const pump = (): void => {
      while (!res.destroyed && res.write(spaces));
    };
    res.on('drain', pump);
    res.on('close', () => closed++);
    pump();
  });
  const url = await listenLoopback(container);
  try {
    assert.deepEqual(await fetchExecutionParameters(`${url}/at-cap`), { maxConcurrentTransforms: 3 });
    assert.deepEqual(await fetchExecutionParameters(`${url}/over-cap`), {});
    // A leading byte-order mark is read past, as res.json() read past it.
    assert.deepEqual(await fetchExecutionParameters(`${url}/bom`), { maxConcurrentTransforms: 3 });
    // A timeout far past the test's: the answer is given up once 64 KB have come, not at the timeout.
    assert.deepEqual(await fetchExecutionParameters(`${url}/endless`, 10 * 60_000), {});
    await until('the endless answer to be cut', () => closed === 1);
  } finally {
    await closeServer(container);
  }
});

test("a record's error quotes the container's answer cut to 500 characters between characters: half an emoji would reach the job's FailureReason as a lone surrogate, which boto3 cannot print", async () => {
  const t = await tmpTree({ 'a.csv': 'a\n' });
  const answer = `${'e'.repeat(499)}😀 and more`;
  const server = http.createServer((req, res) => {
    if (req.url === '/execution-parameters') return void res.writeHead(404).end();
    req.resume().on('end', () => void res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(answer));
  });
  const url = await listenLoopback(server);
  try {
    const run = await runTransform({ input: t.input, output: t.output, url, retries: 0 });
    assert.deepEqual(run.failed, [{ file: 'a.csv', record: 0, status: 500, error: 'e'.repeat(499) }]);
  } finally {
    await closeServer(server);
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

test('an answer the output folder cannot take part-way (ENOSPC: a full disk; here /dev/full) fails the run naming --output and the file being written, which the file system error (no space left on device, write) does not', { skip: !fsModule.existsSync('/dev/full') }, async () => {
  const c = await fakeContainer(undefined);
  const t = await tmpTree({ 'a.csv': 'a\nb\n' });
  try {
    await fs.mkdir(t.output, { recursive: true });
    // The partial output is opened for writing where it stands: a link to /dev/full takes the open and refuses every write.
    await fs.symlink('/dev/full', path.join(t.output, 'a.csv.out.partial'));
    await assert.rejects(runTransform({ input: t.input, output: t.output, url: c.url, splitType: 'Line' }), (err: unknown) => {
      assert.ok(isToolkitError(err) && err.code === 'ERR_CLI_USAGE', String(err));
      assert.match(err.message, /^--output=.* cannot be written \(\S+a\.csv\.out\.partial: ENOSPC: no space left on device, write\)/);
      assert.equal((err.details as { flag?: string }).flag, '--output');
      return true;
    });
  } finally {
    await c.close();
    await fs.rm(t.root, { recursive: true, force: true });
  }
});

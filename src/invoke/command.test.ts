import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, lstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import { isToolkitError } from '../errors/catalogue.js';
import { bidiCommand } from './bidi.js';
import { invokeCommand, type InvokeCommandOptions } from './command.js';
import { until } from '../../test/helpers/until.js';
import { withHeldFileOpen } from '../../test/helpers/held-file-open.js';
import { answeredStrayPing } from '../../test/helpers/stray-ping.js';
import { SMKIT_BIN } from '../../test/helpers/serve-process.js';

const usage = (pattern: RegExp) => (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && pattern.test(e.message);

test('smkit invoke --timeout and --bidi --idle past a day are usage errors, not a wait that ends at once ("no answer within 3000000 s")', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-flags-'));
  try {
    const file = path.join(dir, 'rows.csv');
    writeFileSync(file, '5.1,3.5,1.4,0.2\n');
    // Nothing listens on port 9: a request that went out would fail with ERR_INVOKE_FAILED instead.
    const url = 'http://127.0.0.1:9';
    for (const timeout of ['3000000', '1e10', 'Infinity', '0', 'abc']) {
      await assert.rejects(invokeCommand(url, { file, timeout }), usage(new RegExp(`^--timeout="${timeout}" is invalid: expected a number of seconds above 0, at most 86400\\.$`)));
    }
    for (const idle of ['3000000', 'Infinity', '-1']) {
      await assert.rejects(bidiCommand(url, { file, idle }), usage(new RegExp(`^--idle="${idle}" is invalid: expected a number of seconds above 0, at most 86400\\.$`)));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke (and --stream): an answer whose body breaks off, or does not finish within --timeout, is ERR_INVOKE_FAILED saying so; what a stream got is kept in --output, and without --stream no -o file is left, even when its open was slow', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-cut-'));
  // The status line and 3 of the 100 bytes announced, then the connection closes (/cut) or stays silent (/stall).
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '100' });
      res.write('abc', () => {
        if (req.url === '/cut') res.socket?.end();
      });
    });
  });
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const file = path.join(dir, 'body.bin');
    writeFileSync(file, 'x');
    const output = path.join(dir, 'answer.bin');
    const brokeOff = (url: string, why: RegExp) => (e: unknown) =>
      isToolkitError(e) && e.code === 'ERR_INVOKE_FAILED' && e.message.startsWith(`${url} answered 200 but its body broke off: `) && why.test(e.message);
    await assert.rejects(invokeCommand(`${base}/cut`, { file, timeout: '60' }), brokeOff(`${base}/cut`, /: terminated/));
    await assert.rejects(invokeCommand(`${base}/cut`, { file, timeout: '60', stream: true, output }), brokeOff(`${base}/cut`, /: terminated/));
    assert.equal(readFileSync(output, 'utf8'), 'abc');
    // Without --stream none is left, even when the answer broke off before the file was open (its
    // open slow, as on a busy disk): Node 20's pipeline rejected before that open, which then
    // created the file after its removal.
    rmSync(output);
    const cut = await withHeldFileOpen(() => invokeCommand(`${base}/cut`, { file, timeout: '60', output }));
    assert.ok(cut.status === 'rejected' && brokeOff(`${base}/cut`, /: terminated/)(cut.reason), String(cut.status === 'rejected' ? cut.reason : 'answered'));
    assert.equal(existsSync(output), false, 'a broken answer leaves no -o file');
    // The timeout covers the headers too: on a loaded machine they may come after a short one (then
    // "no answer within"), so a longer one is tried until the headers come first; the body never does.
    let stalled: unknown;
    for (const timeout of ['0.2', '1', '5', '30']) {
      stalled = await invokeCommand(`${base}/stall`, { file, timeout }).then(() => 'answered', (e: unknown) => e);
      if (!(isToolkitError(stalled) && / no answer within /.test(stalled.message))) {
        assert.ok(brokeOff(`${base}/stall`, new RegExp(`: it did not finish within ${timeout.replace('.', '\\.')} s$`))(stalled), String(stalled));
        break;
      }
    }
    assert.ok(isToolkitError(stalled) && !/ no answer within /.test(stalled.message), String(stalled));
  } finally {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke -o in a folder that does not exist, or naming a folder, is a usage error before anything is sent', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-out-'));
  try {
    const file = path.join(dir, 'rows.csv');
    writeFileSync(file, '5.1,3.5,1.4,0.2\n');
    // Nothing listens on port 9: a request that went out would fail with ERR_INVOKE_FAILED instead.
    const url = 'http://127.0.0.1:9';
    const missing = path.join(dir, 'no-such-folder', 'answer.json');
    await assert.rejects(
      invokeCommand(url, { file, timeout: '60', output: missing }),
      { code: 'ERR_CLI_USAGE', message: `--output=${JSON.stringify(missing)} is invalid: expected a file to save the answer in; ${missing} cannot be written: ${path.dirname(missing)} does not exist.` },
    );
    for (const stream of [false, true]) {
      await assert.rejects(invokeCommand(url, { file, timeout: '60', output: dir, stream }), { code: 'ERR_CLI_USAGE', message: `--output=${JSON.stringify(dir)} is invalid: expected a file to save the answer in; ${dir} is a directory.` });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke -o - prints the answer on stdout, as --file - reads stdin, instead of saving it in a file named "-"', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-dash-'));
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'Content-Type': 'text/csv' }).end('0.98,0.01,0.01'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const child = spawn(process.execPath, [SMKIT_BIN, 'invoke', url, '-o', '-'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end('5.1,3.5,1.4,0.2\n');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0, stderr);
    assert.equal(stdout, '0.98,0.01,0.01');
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke sends an image file as its type by extension (image/jpeg, image/png, image/webp), as the image codecs read them', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-type-'));
  // Answers with the Content-Type it was sent.
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(req.headers['content-type']));
  });
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const output = path.join(dir, 'answer.txt');
    for (const [name, type] of [['cat.jpg', 'image/jpeg'], ['cat.JPEG', 'image/jpeg'], ['cat.png', 'image/png'], ['cat.webp', 'image/webp'], ['blob.bin', 'application/octet-stream']]) {
      const file = path.join(dir, name!);
      writeFileSync(file, 'x');
      await invokeCommand(url, { file, timeout: '60', output });
      assert.equal(readFileSync(output, 'utf8'), type, name);
    }
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke does not print a binary answer to a terminal: a usage error says to save it with -o', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-tty-'));
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'image/png');
      res.end(req.url === '/nul' ? Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]) : Buffer.from([0x41, 0xff, 0xfe, 0x42]));
    });
  });
  const wasTTY = process.stdout.isTTY;
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const file = path.join(dir, 'body.bin');
    writeFileSync(file, 'x');
    process.stdout.isTTY = true;
    await assert.rejects(
      invokeCommand(`${base}/nul`, { file, timeout: '60' }),
      usage(/^the answer is 12 bytes of image\/png, not text, so it is not printed to the terminal: save it with -o FILE, or pipe stdout$/),
    );
    await assert.rejects(invokeCommand(`${base}/not-utf8`, { file, timeout: '60' }), usage(/^the answer is 4 bytes of image\/png, not text/));
  } finally {
    process.stdout.isTTY = wasTTY;
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke --bidi refuses the flags a stream has no use for (-o, --stream, target and session headers) instead of ignoring them', async () => {
  // Nothing listens on port 9: a stream that was opened would fail with ERR_INVOKE_FAILED instead.
  const url = 'http://127.0.0.1:9';
  await assert.rejects(
    bidiCommand(url, { idle: '2', output: 'replies.txt' }),
    usage(/^--output does not apply with --bidi: each reply is printed on its own line on stdout \(redirect it: > FILE\), and the stream carries only --content-type, --accept and --custom-attributes$/),
  );
  await assert.rejects(bidiCommand(url, { idle: '2', stream: true, targetModel: 'm.tar.gz', sessionId: 'NEW_SESSION' }), usage(/^--stream, --target-model, --session-id do not apply with --bidi: /));
  await assert.rejects(bidiCommand(url, { idle: '2', targetVariant: 'v', inferenceId: 'i' }), usage(/^--target-variant, --inference-id do not apply with --bidi: /));
});

test('smkit invoke refuses a header flag holding a line break or non-ASCII text as a usage error naming the flag, not as "could not reach ... Is the server running?"', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-header-'));
  try {
    const file = path.join(dir, 'rows.csv');
    writeFileSync(file, '5.1,3.5,1.4,0.2\n');
    // Nothing listens on port 9: a request that went out would fail with ERR_INVOKE_FAILED instead.
    const url = 'http://127.0.0.1:9';
    await assert.rejects(
      invokeCommand(url, { file, timeout: '60', customAttributes: 'a\nb' }),
      usage(/^--custom-attributes="a\\nb" is invalid: expected printable ASCII and tabs, what SageMaker takes in this header; it holds "\\n" at position 1\.$/),
    );
    await assert.rejects(invokeCommand(url, { file, timeout: '60', targetModel: 'café☕.tar.gz' }), usage(/^--target-model="café☕\.tar\.gz" is invalid: expected printable ASCII and tabs, what SageMaker takes in this header; it holds "é" at position 3/));
    await assert.rejects(invokeCommand(url, { file, timeout: '60', contentType: 'text/csv\r\nX: y' }), usage(/^--content-type="text\/csv\\r\\nX: y" is invalid: /));
    await assert.rejects(bidiCommand(url, { idle: '2', customAttributes: 'a\nb' }), usage(/^--custom-attributes="a\\nb" is invalid: /));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke --front-door without --endpoint (or with --bidi) is a usage error, not a request sent to the container URL instead', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-door-'));
  try {
    const file = path.join(dir, 'rows.csv');
    writeFileSync(file, '5.1,3.5,1.4,0.2\n');
    // Nothing listens on port 9: a request that went out would fail with ERR_INVOKE_FAILED instead.
    const url = 'http://127.0.0.1:9';
    await assert.rejects(
      invokeCommand(url, { file, frontDoor: 'http://127.0.0.1:8090', timeout: '60' }),
      usage(/^--front-door only applies with --endpoint NAME; to send to a container, give its URL \(smkit invoke http:\/\/127\.0\.0\.1:8090\)$/),
    );
    await assert.rejects(bidiCommand(url, { idle: '2', frontDoor: 'http://127.0.0.1:8090' }), usage(/^--front-door does not apply with --bidi: /));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke --stream to a terminal stops at the first chunk that is not text with the same usage error; a character split across chunks prints', async () => {
  // Each answer's second chunk is sent only once the first has been printed, so the chunks arrive apart.
  let printed: () => void = () => undefined;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', req.url === '/text' ? 'text/plain' : 'application/x-npy');
      const [first, second] = req.url === '/text'
        ? [Buffer.from([0x63, 0x61, 0x66, 0xc3]), Buffer.from([0xa9, 0x0a])] // 'café\n', the é split
        : [Buffer.from('rows: 2\n'), Buffer.from(req.url === '/nul' ? [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0] : [0x41, 0xff, 0xfe, 0x42])];
      new Promise<void>((resolve) => {
        printed = resolve;
        res.write(first);
      }).then(() => res.end(second), () => undefined);
    });
  });
  // A terminal stand-in as process.stdout: the test runner reports on the real one meanwhile.
  const out: Buffer[] = [];
  const terminal = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        out.push(chunk);
        printed();
        done();
      },
    }),
    { isTTY: true },
  );
  const stdout = Object.getOwnPropertyDescriptor(process, 'stdout')!;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-stream-tty-'));
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const file = path.join(dir, 'body.bin');
    writeFileSync(file, 'x');
    Object.defineProperty(process, 'stdout', { configurable: true, get: () => terminal });
    for (const url of ['/nul', '/not-utf8']) {
      out.length = 0;
      await assert.rejects(
        invokeCommand(`${base}${url}`, { file, timeout: '60', stream: true }),
        usage(/^the answer \(application\/x-npy\) is not text from byte 8 on, so the rest is not printed to the terminal: save it with -o FILE, or pipe stdout$/),
      );
      assert.equal(Buffer.concat(out).toString('latin1'), 'rows: 2\n', url);
    }
    out.length = 0;
    await invokeCommand(`${base}/text`, { file, timeout: '60', stream: true });
    assert.equal(Buffer.concat(out).toString('utf8'), 'café\n');
  } finally {
    Object.defineProperty(process, 'stdout', stdout);
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke writes an answer as it arrives, to a pipe and to -o, instead of holding it whole in memory; one that breaks off leaves no -o file', async () => {
  // The second chunk is sent only once the first has reached the pipe or the file: an answer held
  // whole until its end would wait for ever (here: fail on --timeout).
  let delivered: () => void = () => undefined;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      new Promise<void>((resolve) => {
        delivered = resolve;
        res.write('first;');
      }).then(() => (req.url === '/cut' ? res.socket?.destroy() : res.end('second')), () => undefined);
    });
  });
  const out: Buffer[] = [];
  const pipe = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        out.push(chunk);
        delivered();
        done();
      },
    }),
    { isTTY: false },
  );
  const stdout = Object.getOwnPropertyDescriptor(process, 'stdout')!;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-as-it-arrives-'));
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const file = path.join(dir, 'body.bin');
    writeFileSync(file, 'x');
    Object.defineProperty(process, 'stdout', { configurable: true, get: () => pipe });
    await invokeCommand(base, { file, timeout: '20' });
    assert.equal(Buffer.concat(out).toString(), 'first;second');
    Object.defineProperty(process, 'stdout', stdout);
    const output = path.join(dir, 'answer.bin');
    const watching = until('the first chunk in the -o file', () => existsSync(output) && readFileSync(output, 'utf8') === 'first;', { timeoutMs: 20_000 }).then(() => delivered());
    await invokeCommand(base, { file, timeout: '20', output });
    await watching;
    assert.equal(readFileSync(output, 'utf8'), 'first;second');
    const cutWatch = until('the first chunk in the -o file', () => existsSync(output) && readFileSync(output, 'utf8') === 'first;', { timeoutMs: 20_000 }).then(() => delivered());
    rmSync(output);
    await assert.rejects(invokeCommand(`${base}/cut`, { file, timeout: '20', output }), (e: unknown) => isToolkitError(e) && e.code === 'ERR_INVOKE_FAILED' && /body broke off/.test(e.message));
    await cutWatch;
    assert.equal(existsSync(output), false, 'a broken answer leaves no file');
  } finally {
    Object.defineProperty(process, 'stdout', stdout);
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke --file sends a file as it reads it, its size as Content-Length: bytes changed on disk once the request has started are the ones sent (it is not held whole)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-file-'));
  // Larger than what the sockets and streams between the two sides can hold while the server takes nothing.
  const size = 12 * 1024 * 1024;
  const tail = 1024 * 1024;
  const file = path.join(dir, 'large.bin');
  writeFileSync(file, Buffer.alloc(size, 'a'));
  const server = http.createServer((req, res) => {
    if (req.url === '/truncate') {
      truncateSync(file, size / 2);
      return void req.resume();
    }
    // The headers arrived and none of the body was taken yet: the file's last MB changes now.
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(tail, 'b'), 0, tail, size - tail);
    closeSync(fd);
    const hash = createHash('sha256');
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => res.end(JSON.stringify({ contentLength: req.headers['content-length'], chunked: req.headers['transfer-encoding'] ?? null, length, sha256: hash.digest('hex') })));
  });
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const output = path.join(dir, 'answer.json');
    await invokeCommand(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { file, timeout: '60', output });
    const changed = createHash('sha256').update(readFileSync(file)).digest('hex');
    assert.deepEqual(JSON.parse(readFileSync(output, 'utf8')), { contentLength: String(size), chunked: null, length: size, sha256: changed });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/truncate`;
    await assert.rejects(invokeCommand(url, { file, timeout: '60' }), {
      code: 'ERR_INVOKE_FAILED',
      message: `the request to ${url} was cut off: the file sent was no longer the ${size} bytes it had when opened (it changed while it was read)`,
    });
    // A request that fails has closed the file by the time it is reported (Linux shows this process's open files).
    await assert.rejects(invokeCommand('http://127.0.0.1:9', { file, timeout: '60' }), { code: 'ERR_INVOKE_FAILED' });
    if (existsSync('/proc/self/fd')) {
      const opened = readdirSync('/proc/self/fd').flatMap((fd) => {
        try {
          return [readlinkSync(`/proc/self/fd/${fd}`, { encoding: 'utf8' })];
        } catch {
          return []; // readdir's own, closed meanwhile
        }
      });
      assert.ok(!opened.includes(file), `${file} is still open`);
    }
  } finally {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke --file of a file whose size says 0 but holds bytes (/proc/version) sends them, chunked to a container and with their Content-Length to an endpoint; an empty file still goes as Content-Length 0', { skip: !existsSync('/proc/version'), timeout: 20_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-size0-'));
  // Answers with how it was sent and what it got.
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => res.end(JSON.stringify({ url: req.url, contentLength: req.headers['content-length'] ?? null, chunked: req.headers['transfer-encoding'] ?? null, body: Buffer.concat(chunks).toString('latin1') })));
  });
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const output = path.join(dir, 'answer.json');
    const text = readFileSync('/proc/version', 'latin1');
    const got = () => JSON.parse(readFileSync(output, 'utf8')) as unknown;
    await invokeCommand(base, { file: '/proc/version', timeout: '10', output });
    assert.deepEqual(got(), { url: '/invocations', contentLength: null, chunked: 'chunked', body: text });
    await invokeCommand(undefined, { endpoint: 'e', frontDoor: base, file: '/proc/version', timeout: '10', output });
    assert.deepEqual(got(), { url: '/endpoints/e/invocations', contentLength: String(text.length), chunked: null, body: text });
    const empty = path.join(dir, 'empty.csv');
    writeFileSync(empty, '');
    await invokeCommand(base, { file: empty, timeout: '10', output });
    assert.deepEqual(got(), { url: '/invocations', contentLength: '0', chunked: null, body: '' });
  } finally {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke sends stdin to a container as it reads it (chunked); to a front-door endpoint it reads it whole with its Content-Length, 6291456 bytes at most, refusing one more without reading on or sending anything', { timeout: 60_000 }, async () => {
  const seen: { url?: string; headers: http.IncomingHttpHeaders; bytes: number }[] = [];
  let firstChunk: () => void = () => undefined;
  const server = http.createServer((req, res) => {
    if (answeredStrayPing(req, res)) return;
    let bytes = 0;
    req.on('data', (d: Buffer) => {
      if (bytes === 0) firstChunk();
      bytes += d.length;
    });
    req.on('end', () => {
      seen.push({ url: req.url, headers: req.headers, bytes });
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`${bytes} bytes`);
    });
  });
  // A pipe as stdin (the command reads process.stdin); test/e2e/invoke.test.ts pipes a real one.
  let stdin = new PassThrough();
  const descriptor = Object.getOwnPropertyDescriptor(process, 'stdin')!;
  Object.defineProperty(process, 'stdin', { configurable: true, get: () => Object.assign(stdin, { isTTY: false }) });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-stdin-'));
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const output = path.join(dir, 'answer.txt');
    const opts = { timeout: '30', contentType: 'text/plain', output };

    // The rest is written only once the server has the first part: a body read whole before it was sent would wait for ever.
    new Promise<void>((resolve) => (firstChunk = resolve)).then(() => stdin.end('second'), () => undefined);
    stdin.write('first;');
    await invokeCommand(url, opts);
    assert.equal(readFileSync(output, 'utf8'), '12 bytes');
    assert.equal(seen[0]!.headers['transfer-encoding'], 'chunked');
    assert.equal(seen[0]!.headers['content-length'], undefined);

    const toEndpoint = { ...opts, endpoint: 'iris', frontDoor: url };
    for (const size of [8, 6_291_456]) {
      stdin = new PassThrough();
      stdin.end(Buffer.alloc(size, '1'));
      await invokeCommand(undefined, toEndpoint);
      assert.equal(readFileSync(output, 'utf8'), `${size} bytes`);
      assert.equal(seen.at(-1)!.url, '/endpoints/iris/invocations');
      assert.equal(seen.at(-1)!.headers['content-length'], String(size));
      assert.equal(seen.at(-1)!.headers['transfer-encoding'], undefined);
    }

    // One byte more, the pipe left open: refused once it is read, not at the pipe's end, and the pipe is let go.
    stdin = new PassThrough();
    stdin.write(Buffer.alloc(6_291_457, '1'));
    await assert.rejects(
      invokeCommand(undefined, toEndpoint),
      usage(/^the body on stdin holds more than 6291456 bytes, the most InvokeEndpoint takes in a request \(6 MB\), so it was not sent: send less per request$/),
    );
    assert.equal(stdin.destroyed, true);
    assert.equal(seen.length, 3, 'nothing more was sent');
  } finally {
    Object.defineProperty(process, 'stdin', descriptor);
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke: a body that fails to read while it is sent (--file /proc/self/mem, EIO; stdin) is ERR_CLI_USAGE naming it, to a container as to an endpoint, not "could not reach ... Is the server running?"', { skip: !existsSync('/proc/self/mem'), timeout: 20_000 }, async () => {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  // A stdin that gives one chunk, then fails when read again (as it is being sent).
  const failing = (): Readable => {
    let reads = 0;
    return new Readable({
      read() {
        if (reads++ === 0) this.push('first;');
        else this.destroy(Object.assign(new Error('i/o error'), { code: 'EIO' }));
      },
    });
  };
  let stdin = failing();
  const descriptor = Object.getOwnPropertyDescriptor(process, 'stdin')!;
  Object.defineProperty(process, 'stdin', { configurable: true, get: () => Object.assign(stdin, { isTTY: false }) });
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Address 0 of this process is not mapped: reading it fails with EIO.
    for (const target of [{ url }, { endpoint: 'e', frontDoor: url }]) {
      await assert.rejects(
        invokeCommand(target.url, { ...target, file: '/proc/self/mem', timeout: '10' }),
        usage(/^--file="\/proc\/self\/mem" is invalid: expected the request body, a file; \/proc\/self\/mem cannot be read \(EIO\)\.$/),
      );
      stdin = failing();
      await assert.rejects(invokeCommand(target.url, { ...target, timeout: '10' }), usage(/^the body on stdin cannot be read \(EIO\)$/));
    }
  } finally {
    Object.defineProperty(process, 'stdin', descriptor);
    server.closeAllConnections();
    server.close();
  }
});

test('smkit invoke (and --stream): stdout whose reader has gone (| head, EPIPE) ends the command quietly; stdout or -o that cannot be written (ENOSPC) is ERR_CLI_USAGE naming it, not an unhandled error event', { timeout: 20_000 }, async () => {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(64 * 1024, 'a'));
      res.end(Buffer.alloc(64 * 1024, 'b'));
    });
  });
  let code = 'EPIPE';
  // A stdout whose every write fails, as a pipe does once `head` has exited.
  const failing = () => Object.assign(new Writable({ write: (_chunk, _encoding, done) => done(Object.assign(new Error(`write ${code}`), { code })) }), { isTTY: false });
  let stdout = failing();
  const descriptor = Object.getOwnPropertyDescriptor(process, 'stdout')!;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-epipe-'));
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const file = path.join(dir, 'body.bin');
    writeFileSync(file, 'x');
    Object.defineProperty(process, 'stdout', { configurable: true, get: () => stdout });
    for (const stream of [false, true]) {
      code = 'EPIPE';
      stdout = failing();
      await invokeCommand(url, { file, timeout: '10', stream });
      code = 'ENOSPC';
      stdout = failing();
      await assert.rejects(invokeCommand(url, { file, timeout: '10', stream }), usage(/^the answer could not be written to stdout: it cannot be written \(ENOSPC\)$/));
    }
    Object.defineProperty(process, 'stdout', descriptor);
    if (existsSync('/dev/full')) {
      // Through a link of this test's own: the device itself is never at stake here.
      const output = path.join(dir, 'full');
      symlinkSync('/dev/full', output);
      for (const stream of [false, true]) {
        await assert.rejects(invokeCommand(url, { file, timeout: '10', stream, output }), { code: 'ERR_CLI_USAGE', message: `--output=${JSON.stringify(output)} is invalid: expected a file to save the answer in; ${output} cannot be written (ENOSPC).` });
        // What -o names is not a half-written answer to remove: it was, and as root /dev/full itself.
        assert.ok(lstatSync(output).isSymbolicLink(), `${output} is still the link it was`);
      }
    }
  } finally {
    Object.defineProperty(process, 'stdout', descriptor);
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke --bidi: stdout whose reader has gone (| head, EPIPE) ends the stream and the command quietly; stdout that cannot be written (ENOSPC) is ERR_CLI_USAGE naming it, not an unhandled error event', { timeout: 30_000 }, async () => {
  let code = 'EPIPE';
  let writes = 0;
  // A stdout whose every write fails, as a pipe does once `head` has exited.
  const failing = () =>
    Object.assign(new Writable({ write: (_chunk, _encoding, done) => { writes++; done(Object.assign(new Error(`write ${code}`), { code })); } }), { isTTY: false });
  let stdout = failing();
  // A container's stream that answers each message with two replies.
  const container = (socket: WebSocket) => socket.on('message', (data) => {
    socket.send(`reply to ${data.toString()}`);
    socket.send(`more for ${data.toString()}`);
  });
  await withBidiContainer(container, (url) => withStdoutAndInput(() => stdout, Array.from({ length: 200 }, (_, i) => `${i}`).join('\n'), async (file) => {
    await bidiCommand(url, { file, idle: '20', timeout: '10' });
    assert.ok(writes >= 1, 'a reply was written');
    code = 'ENOSPC';
    stdout = failing();
    await assert.rejects(bidiCommand(url, { file, idle: '20', timeout: '10' }), usage(/^the answer could not be written to stdout: it cannot be written \(ENOSPC\)$/));
  }));
});

test('smkit invoke --bidi: a stdout slower than --idle holds the stream back without closing it (every reply is printed, in order)', { timeout: 60_000 }, async () => {
  // A container's stream that sends 300 replies of 16 KiB from its start (the first is there before
  // the input is sent), each once the last one is on the socket (a client that stops reading holds
  // it back), then closes it.
  const container = (socket: WebSocket) => {
    const pad = 'x'.repeat(16 * 1024);
    const sendFrom = (i: number) => {
      if (i === 300) return socket.close(1000);
      socket.send(`reply ${i} ${pad}`, (err) => (err ? undefined : sendFrom(i + 1)));
    };
    sendFrom(0);
  };
  const stdout = slowStdout(6000);
  await withBidiContainer(container, (url) => withStdoutAndInput(() => stdout, 'go\n', async (file) => {
    // --idle 2 s (the default), stdout held 6 s: before, the idle timer closed the stream meanwhile,
    // and the replies the container had not yet sent were lost.
    await bidiCommand(url, { file, idle: '2', timeout: '10' });
    assert.equal(stdout.lines.length, 300, `printed ${stdout.lines.length} of 300 replies`);
    stdout.lines.forEach((line, i) => assert.ok(line.startsWith(`reply ${i} `), `line ${i} is ${line.slice(0, 20)}`));
  }));
});

test('smkit invoke --bidi: replies still waiting for a slow stdout when the container closes the stream are printed before the command ends, its close code reported after them', { timeout: 60_000 }, async () => {
  // A container that answers the first message with 20 replies and its close frame (4500, as smkit
  // gives an error) in one write: the client reads them all at once, its close included.
  const frame = (opcode: number, payload: Buffer) => Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]);
  const server = http.createServer();
  server.on('upgrade', (req, socket) => {
    const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    socket.once('data', () => {
      const replies = Array.from({ length: 20 }, (_, i) => frame(0x1, Buffer.from(`reply ${i}`)));
      const close = frame(0x8, Buffer.concat([Buffer.from([4500 >> 8, 4500 & 0xff]), Buffer.from('boom')]));
      socket.end(Buffer.concat([...replies, close]));
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const stdout = slowStdout(300);
  try {
    await withStdoutAndInput(() => stdout, 'go\n', async (file) => {
      // Before, the command failed while 19 replies waited for stdout (the CLI then exits 1, cutting them off).
      await assert.rejects(bidiCommand(url, { file, idle: '20', timeout: '10' }), (e: unknown) => isToolkitError(e) && e.code === 'ERR_INVOKE_FAILED' && /4500: boom$/.test(e.message));
      assert.deepEqual(stdout.lines, Array.from({ length: 20 }, (_, i) => `reply ${i}`));
    });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** Runs `body` with a WebSocket server standing in for a container's bidirectional stream (`onConnection` plays its part), then closes it. */
async function withBidiContainer(onConnection: (socket: WebSocket) => void, body: (url: string) => Promise<void>): Promise<void> {
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/invocations-bidirectional-stream' });
  wss.on('connection', onConnection);
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  try {
    await body(`http://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  } finally {
    for (const client of wss.clients) client.terminate();
    await new Promise((resolve) => wss.close(resolve));
  }
}

/** Runs `body` with `stdout()` standing in for process.stdout and a temporary file holding `input`, then puts both back. */
async function withStdoutAndInput(stdout: () => Writable, input: string, body: (file: string) => Promise<void>): Promise<void> {
  const descriptor = Object.getOwnPropertyDescriptor(process, 'stdout')!;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-bidi-'));
  try {
    const file = path.join(dir, 'lines.txt');
    writeFileSync(file, input);
    Object.defineProperty(process, 'stdout', { configurable: true, get: stdout });
    await body(file);
  } finally {
    Object.defineProperty(process, 'stdout', descriptor);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A stdout whose first write takes `holdMs` (a reader that stopped reading a while), the rest none; `lines` has what reached it. */
function slowStdout(holdMs: number): Writable & { isTTY: false; lines: string[] } {
  const lines: string[] = [];
  let first = true;
  const out = new Writable({
    highWaterMark: 1,
    write: (chunk: Buffer, _encoding, done) => {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      if (!first) return done();
      first = false;
      setTimeout(done, holdMs);
    },
  });
  return Object.assign(out, { isTTY: false as const, lines });
}

test('smkit invoke --stream --endpoint: an event stream that is not valid (a wrong CRC, a length too short or too long, a message cut off at its end) is ERR_INVOKE_FAILED saying so, not a stack trace or a success; what arrived is kept', { timeout: 60_000 }, async () => {
  const { EventStreamCodec } = await import('@smithy/eventstream-codec');
  const codec = new EventStreamCodec((b) => Buffer.from(b).toString('utf8'), (t) => new Uint8Array(Buffer.from(t, 'utf8')));
  const part = (text: string) =>
    Buffer.from(codec.encode({ headers: { ':message-type': { type: 'string', value: 'event' }, ':event-type': { type: 'string', value: 'PayloadPart' } }, body: new Uint8Array(Buffer.from(text)) }));
  const badCrc = part('x');
  badCrc[badCrc.length - 1] ^= 1;
  const tooLong = Buffer.alloc(4);
  tooLong.writeUInt32BE(0xfffffff0);
  // Each answer is one good PayloadPart, then the fault; /too-long then stays open, as a stalled stream would.
  const faults: Record<string, Buffer> = { '/crc': badCrc, '/cut': part('world').subarray(0, 10), '/zero': Buffer.alloc(8), '/too-long': Buffer.concat([tooLong, Buffer.alloc(64)]) };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const name = req.url!.split('/')[2]!;
      res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-sagemaker-content-type': 'text/plain' });
      res.write(Buffer.concat([part('hello '), faults[`/${name}`]!]));
      if (name !== 'too-long') res.end();
    });
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-eventstream-'));
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const frontDoor = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const file = path.join(dir, 'body.txt');
    writeFileSync(file, 'x');
    const output = path.join(dir, 'answer.txt');
    for (const [name, why] of [
      ['crc', /: The message checksum \(\d+\) did not match the expected value of \d+$/],
      ['cut', /: it ended inside a message, 10 bytes of which arrived$/],
      ['zero', /: a message says it is 0 bytes long, where 16 to \d+ bytes are$/],
      ['too-long', /: a message says it is 4294967280 bytes long, where 16 to \d+ bytes are$/],
    ] as const) {
      rmSync(output, { force: true });
      const url = `${frontDoor}/endpoints/${name}/invocations-response-stream`;
      await assert.rejects(
        invokeCommand(undefined, { file, timeout: '30', stream: true, endpoint: name, frontDoor, output }),
        (e: unknown) => isToolkitError(e) && e.code === 'ERR_INVOKE_FAILED' && e.message.startsWith(`${url} answered 200 but its event stream is not valid: `) && why.test(e.message),
        name,
      );
      assert.equal(readFileSync(output, 'utf8'), 'hello ', name);
    }
  } finally {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke --session-id reports the session an answer opened or closed on stderr, with --stream too, and a container that names it in X-Amzn-SageMaker-Session-Id (AWS\'s form)', async () => {
  const expires = '2026-12-06T18:00:00Z';
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const session = req.headers['x-amzn-sagemaker-session-id'];
      if (session === 'NEW_SESSION') {
        // /aws-form names the new session only as AWS's stateful-sessions page has the container do.
        if (req.url !== '/aws-form') res.setHeader('x-amzn-sagemaker-new-session-id', `s-1; Expires=${expires}`);
        res.setHeader('x-amzn-sagemaker-session-id', `s-1; Expires=${expires}`);
      } else res.setHeader('x-amzn-sagemaker-closed-session-id', String(session));
      res.setHeader('content-type', 'text/plain');
      // Chunked: the headers go before the body, as a streamed answer's do.
      res.write('ok');
      res.end();
    });
  });
  const said: string[] = [];
  const stderr = Object.getOwnPropertyDescriptor(process, 'stderr')!;
  const captured = new Writable({
    write(chunk: Buffer, _encoding, done) {
      said.push(chunk.toString());
      done();
    },
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-session-'));
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const file = path.join(dir, 'body.txt');
    writeFileSync(file, 'x');
    const output = path.join(dir, 'answer.txt');
    Object.defineProperty(process, 'stderr', { configurable: true, get: () => captured });
    for (const stream of [false, true]) {
      for (const url of ['/', '/aws-form']) {
        said.length = 0;
        await invokeCommand(`${base}${url}`, { file, timeout: '30', output, stream, sessionId: 'NEW_SESSION' });
        assert.match(said.join(''), new RegExp(`^smkit: session opened: s-1; Expires=${expires} \\(send --session-id s-1 from now on\\)$`, 'm'), `${url} stream=${stream}`);
      }
      said.length = 0;
      await invokeCommand(base, { file, timeout: '30', output, stream, sessionId: 's-1' });
      assert.match(said.join(''), /^smkit: session closed: s-1$/m, `stream=${stream}`);
    }
  } finally {
    Object.defineProperty(process, 'stderr', stderr);
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke --bidi gives up on a server that takes the connection but never answers the handshake (or answers it a line at a time) after --timeout, instead of waiting for ever', { timeout: 20_000 }, async () => {
  const net = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const drips = new Set<NodeJS.Timeout>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.resume();
    socket.on('error', () => undefined);
    // /drip: a header line every 50 ms, which keeps the socket from ever being idle for --timeout.
    socket.once('data', (request: Buffer) => {
      if (!request.toString('latin1').startsWith('GET /drip')) return;
      socket.write('HTTP/1.1 101 Switching Protocols\r\n');
      const drip = setInterval(() => socket.write('X-Pad: 1\r\n'), 50);
      drips.add(drip);
      socket.once('close', () => clearInterval(drip));
    });
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-bidi-stall-'));
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const file = path.join(dir, 'lines.txt');
    writeFileSync(file, '1\n');
    await assert.rejects(bidiCommand(`http://127.0.0.1:${port}`, { file, idle: '2', timeout: '0.3' }), {
      code: 'ERR_INVOKE_FAILED',
      message: `ws://127.0.0.1:${port}/invocations-bidirectional-stream: the stream did not open within 0.3 s (--timeout)`,
    });
    await assert.rejects(bidiCommand(`http://127.0.0.1:${port}/drip`, { file, idle: '2', timeout: '0.3' }), {
      code: 'ERR_INVOKE_FAILED',
      message: `ws://127.0.0.1:${port}/drip: the stream did not open within 0.3 s (--timeout)`,
    });
    await assert.rejects(bidiCommand(`http://127.0.0.1:${port}`, { file, idle: '2', timeout: '0' }), usage(/^--timeout="0" is invalid: /));
  } finally {
    for (const drip of drips) clearInterval(drip);
    for (const socket of sockets) socket.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke --stream --endpoint to a terminal names the model\'s type (X-Amzn-SageMaker-Content-Type) in the not-text error, not the event stream\'s', async () => {
  const { EventStreamCodec } = await import('@smithy/eventstream-codec');
  const codec = new EventStreamCodec((b) => Buffer.from(b).toString('utf8'), (t) => new Uint8Array(Buffer.from(t, 'utf8')));
  const part = (bytes: Buffer) => Buffer.from(codec.encode({ headers: { ':message-type': { type: 'string', value: 'event' }, ':event-type': { type: 'string', value: 'PayloadPart' } }, body: new Uint8Array(bytes) }));
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-sagemaker-content-type': 'application/x-npy' });
      res.end(part(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0])));
    });
  });
  const terminal = Object.assign(new Writable({ write: (_chunk, _encoding, done) => done() }), { isTTY: true });
  const stdout = Object.getOwnPropertyDescriptor(process, 'stdout')!;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-stream-type-'));
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const file = path.join(dir, 'body.bin');
    writeFileSync(file, 'x');
    Object.defineProperty(process, 'stdout', { configurable: true, get: () => terminal });
    await assert.rejects(
      invokeCommand(undefined, { file, timeout: '30', stream: true, endpoint: 'npy', frontDoor: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
      usage(/^the answer \(application\/x-npy\) is not text from byte 0 on/),
    );
  } finally {
    Object.defineProperty(process, 'stdout', stdout);
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke refuses --target-model or --inference-id with a tab or a leading space, a --target-variant or --session-id that is no name, as usage errors saying what SageMaker takes, before sending (the front door answered HTTP 400)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-header-pattern-'));
  try {
    const file = path.join(dir, 'rows.csv');
    writeFileSync(file, '5.1,3.5,1.4,0.2\n');
    // Nothing listens on port 9: a request that went out would fail with ERR_INVOKE_FAILED instead.
    const url = 'http://127.0.0.1:9';
    const refused: ReadonlyArray<readonly [Partial<InvokeCommandOptions>, RegExp]> = [
      [{ targetModel: 'a\tb.tar.gz' }, /^--target-model="a\\tb\.tar\.gz" is invalid: expected 1 to 1024 printable ASCII characters, no tab, the first not a space, what SageMaker takes in TargetModel; it holds "\\t" at position 1\.$/],
      [{ targetModel: ' m.tar.gz' }, /^--target-model=" m\.tar\.gz" is invalid: expected 1 to 1024 printable ASCII characters, no tab, the first not a space, what SageMaker takes in TargetModel\.$/],
      [{ targetModel: `${'m'.repeat(1025)}` }, /^--target-model="m+" is invalid: expected 1 to 1024 .*; it has 1025\.$/],
      [{ inferenceId: 'id\t1' }, /^--inference-id="id\\t1" is invalid: expected 1 to 64 printable ASCII characters, no tab, the first not a space, what SageMaker takes in InferenceId; it holds "\\t" at position 2\.$/],
      [{ targetVariant: 'All_Traffic' }, /^--target-variant="All_Traffic" is invalid: expected a variant name: 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit\.$/],
      [{ sessionId: 'new_session' }, /^--session-id="new_session" is invalid: expected NEW_SESSION or a session's id: 1 to 256 letters, digits and hyphens/],
    ];
    for (const [flags, message] of refused) await assert.rejects(invokeCommand(url, { file, timeout: '60', ...flags }), usage(message), JSON.stringify(flags));
    // Values SageMaker takes go out (and find nothing listening).
    const sent = { targetModel: 'models/a b.tar.gz', inferenceId: 'id 1', targetVariant: 'All-Traffic', sessionId: 'NEW_SESSION' };
    await assert.rejects(invokeCommand(url, { file, timeout: '60', ...sent }), (e: unknown) => isToolkitError(e) && e.code === 'ERR_INVOKE_FAILED');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke --bidi -o - prints the replies on stdout, as -o - does without --bidi; -o naming a file is still refused', { timeout: 60_000 }, async () => {
  const lines: string[] = [];
  const stdout = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString('utf8')), done()) });
  const container = (socket: WebSocket) => socket.on('message', (data: Buffer) => socket.send(`echo ${data.toString('utf8')}`, () => socket.close(1000)));
  await withBidiContainer(container, (url) => withStdoutAndInput(() => stdout, 'hello\n', async (file) => {
    await bidiCommand(url, { file, idle: '2', timeout: '30', output: '-' });
    assert.equal(lines.join(''), 'echo hello\n');
    await assert.rejects(bidiCommand(url, { file, idle: '2', output: 'replies.txt' }), usage(/^--output does not apply with --bidi: .*\(redirect it: > FILE\)/));
  }));
});

test('smkit invoke -o counts an answer of one byte as "1 byte", with and without --stream (a classifier answering 0 printed "1 bytes")', async () => {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('0'));
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-one-byte-'));
  const said: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const file = path.join(dir, 'rows.csv');
    writeFileSync(file, '5.1,3.5,1.4,0.2\n');
    process.stderr.write = ((chunk: string | Uint8Array) => (said.push(String(chunk)), true)) as typeof process.stderr.write;
    await invokeCommand(url, { file, timeout: '30', output: path.join(dir, 'a.txt') });
    await invokeCommand(url, { file, timeout: '30', output: path.join(dir, 'b.txt'), stream: true });
  } finally {
    process.stderr.write = write;
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(said.filter((l) => l.includes(' to ')).map((l) => l.replace(dir, '<dir>')), [
    'smkit: 1 byte (text/plain) written to <dir>/a.txt\n',
    'smkit: 1 byte streamed to <dir>/b.txt\n',
  ]);
});

test('smkit invoke --stream --endpoint --target-model is a usage error before sending: InvokeEndpointWithResponseStream has no TargetModel (the front door answered HTTP 400)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-stream-target-model-'));
  try {
    const file = path.join(dir, 'rows.csv');
    writeFileSync(file, '5.1,3.5,1.4,0.2\n');
    // Nothing listens on port 9: a request that went out would fail with ERR_INVOKE_FAILED instead.
    const frontDoor = 'http://127.0.0.1:9';
    await assert.rejects(
      invokeCommand(undefined, { file, timeout: '60', endpoint: 'mme', frontDoor, stream: true, targetModel: 'a.tar.gz' }),
      usage(/^--target-model does not apply with --stream --endpoint: InvokeEndpointWithResponseStream has no TargetModel.*smkit invoke --endpoint mme --target-model a\.tar\.gz\)$/),
    );
    // Without --stream it is sent; so is it to a container's own URL, whose multi-model server reads the header.
    const failed = (e: unknown) => isToolkitError(e) && e.code === 'ERR_INVOKE_FAILED';
    await assert.rejects(invokeCommand(undefined, { file, timeout: '60', endpoint: 'mme', frontDoor, targetModel: 'a.tar.gz' }), failed);
    await assert.rejects(invokeCommand(frontDoor, { file, timeout: '60', stream: true, targetModel: 'a.tar.gz' }), failed);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke --stream --endpoint --session-id NEW_SESSION is a usage error before sending: InvokeEndpointWithResponseStream cannot open a session (the front door answered HTTP 400)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-stream-new-session-'));
  try {
    const file = path.join(dir, 'rows.csv');
    writeFileSync(file, '5.1,3.5,1.4,0.2\n');
    // Nothing listens on port 9: a request that went out would fail with ERR_INVOKE_FAILED instead.
    const frontDoor = 'http://127.0.0.1:9';
    await assert.rejects(
      invokeCommand(undefined, { file, timeout: '60', endpoint: 'iris', frontDoor, stream: true, sessionId: 'NEW_SESSION' }),
      usage(/^--session-id NEW_SESSION does not apply with --stream --endpoint: .*smkit invoke --endpoint iris --session-id NEW_SESSION \(without --stream\)/),
    );
    // An open session's id streams; so does NEW_SESSION to a container's own URL, which opens sessions either way.
    const failed = (e: unknown) => isToolkitError(e) && e.code === 'ERR_INVOKE_FAILED';
    await assert.rejects(invokeCommand(undefined, { file, timeout: '60', endpoint: 'iris', frontDoor, stream: true, sessionId: 'abc-123' }), failed);
    await assert.rejects(invokeCommand(frontDoor, { file, timeout: '60', stream: true, sessionId: 'NEW_SESSION' }), failed);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke --endpoint with a --front-door URL of a path, a query or a fragment posts to the endpoint path on its path, streamed or not (it was appended after the query: /?x=1/endpoints/...)', async () => {
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    asked.push(req.url!);
    req.resume();
    req.on('end', () => res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"no"}'));
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-front-door-url-'));
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const file = path.join(dir, 'body.json');
    writeFileSync(file, '{}');
    for (const [frontDoor, stream] of [[`${base}/p/?x=1`, false], [`${base}/p/?x=1`, true], [`${base}#top`, false]] as const) {
      await assert.rejects(invokeCommand(undefined, { file, timeout: '30', endpoint: 'iris', frontDoor, stream, output: path.join(dir, 'out') }), (e: unknown) => isToolkitError(e) && e.code === 'ERR_INVOKE_FAILED');
    }
    assert.deepEqual(asked, ['/p/endpoints/iris/invocations?x=1', '/p/endpoints/iris/invocations-response-stream?x=1', '/endpoints/iris/invocations']);
  } finally {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit invoke cuts a long error answer to 2000 characters and says how much it left out, a JSON message as well as raw text (a JSON message was printed whole)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-long-error-'));
  const message = `Traceback: ${'x'.repeat(50_000)}`;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/json') res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ code: 'ERR_MODEL', message }));
      else if (req.url === '/huge') res.writeHead(500, { 'Content-Type': 'text/plain' }).end('y'.repeat(3 * 1024 * 1024));
      else res.writeHead(500, { 'Content-Type': 'text/plain' }).end(message);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const file = path.join(dir, 'body.json');
    writeFileSync(file, '{}');
    const failed = (expected: string) => (e: unknown) => {
      assert.ok(isToolkitError(e) && e.code === 'ERR_INVOKE_FAILED', String(e));
      assert.equal(e.message, expected);
      return true;
    };
    await assert.rejects(invokeCommand(`${base}/json`, { file, timeout: '60' }), failed(`HTTP 500 Internal Server Error: ${`ERR_MODEL | ${message}`.slice(0, 2000)} ... (${12 + message.length - 2000} more characters not shown)`));
    await assert.rejects(invokeCommand(`${base}/text`, { file, timeout: '60' }), failed(`HTTP 500 Internal Server Error: ${message.slice(0, 2000)} ... (${message.length - 2000} more characters not shown)`));
    // Past the 1 MiB smkit reads of an error answer, it cannot say how much more there was.
    await assert.rejects(invokeCommand(`${base}/huge`, { file, timeout: '60' }), failed(`HTTP 500 Internal Server Error: ${'y'.repeat(2000)} ... (${1024 * 1024 - 2000} more characters, and the answer's body past its first ${1024 * 1024} bytes, not shown)`));
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { until } from '../../test/helpers/until.js';
import assert from 'node:assert/strict';
import express from 'express';
import request from 'supertest';
import { ToolkitError } from '../errors/catalogue.js';
import { createFormPartsParser } from './multipart.js';

function app() {
  const parse = createFormPartsParser({ maxFileBytes: 1024, maxFiles: 2, maxFields: 2, maxTotalBytes: 4096, timeoutMs: 30_000 });
  const a = express();
  a.post('/form', async (req, res) => {
    try {
      const parts = await parse(req, res);
      res.json(parts.map((p) => ({ field: p.field, filename: p.filename ?? null, contentType: p.contentType, size: p.data.length, text: p.filename ? null : p.data.toString() })));
    } catch (err) {
      const e = err as ToolkitError;
      res.status(e.status ?? 500).json({ code: e.code, message: e.message });
    }
  });
  return a;
}

test('files and fields become form parts', async () => {
  const res = await request(app())
    .post('/form')
    .attach('image', Buffer.alloc(100, 1), { filename: 'a.jpg', contentType: 'image/jpeg' })
    .attach('image', Buffer.alloc(50, 2), { filename: 'b.png', contentType: 'image/png' })
    .field('top', '3');
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, [
    { field: 'image', filename: 'a.jpg', contentType: 'image/jpeg', size: 100, text: null },
    { field: 'image', filename: 'b.png', contentType: 'image/png', size: 50, text: null },
    { field: 'top', filename: null, contentType: 'text/plain', size: 1, text: '3' },
  ]);
});

test('a file over the size limit is a 413 naming the limit', async () => {
  const res = await request(app()).post('/form').attach('image', Buffer.alloc(2048), { filename: 'big.jpg', contentType: 'image/jpeg' });
  assert.equal(res.status, 413);
  assert.equal(res.body.code, 'ERR_MULTIPART_TOO_LARGE');
  assert.match(res.body.message, /1024 bytes/);
});

test('too many files or fields is a 400 saying how many are allowed', async () => {
  let req = request(app()).post('/form');
  for (let i = 0; i < 3; i++) req = req.attach('f', Buffer.alloc(10), { filename: `${i}.jpg`, contentType: 'image/jpeg' });
  const files = await req;
  assert.equal(files.status, 400);
  assert.equal(files.body.code, 'ERR_MULTIPART_TOO_MANY');
  assert.match(files.body.message, /at most 2/);
  const fields = await request(app()).post('/form').field('a', '1').field('b', '2').field('c', '3');
  assert.equal(fields.status, 400);
  assert.equal(fields.body.code, 'ERR_MULTIPART_TOO_MANY');
});

test('a malformed body is a 400', async () => {
  const res = await request(app()).post('/form').set('Content-Type', 'multipart/form-data; boundary=xyz').send('--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\nunterminated');
  assert.equal(res.status, 400);
  assert.equal(res.body.code, 'ERR_MULTIPART_PARSE');
});

test('field names that would expand into huge arrays or deep objects are a quick 400', async () => {
  const started = Date.now();
  for (const name of ['p[300000000]', 'a[0][1][2][3][4][5]', 'x'.repeat(300), 'q[3]']) {
    const res = await request(app()).post('/form').field(name, '1');
    assert.equal(res.status, 400, name);
    assert.equal(res.body.code, 'ERR_MULTIPART_FIELD_NAME', name);
  }
  assert.ok(Date.now() - started < 10_000, 'refused without walking a sparse array');
  // Small indexes and shallow nesting stay allowed.
  const ok = await request(app()).post('/form').field('p[1]', '1');
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body, [{ field: 'p', filename: null, contentType: 'text/plain', size: 1, text: '1' }]);
});

test('a whole form over the total limit is a 413 even when every file is under the per-file limit', async () => {
  const res = await request(app())
    .post('/form')
    .attach('a', Buffer.alloc(1000), { filename: 'a.bin', contentType: 'application/octet-stream' })
    .attach('b', Buffer.alloc(1000), { filename: 'b.bin', contentType: 'application/octet-stream' })
    .field('c', 'x'.repeat(1000))
    .field('d', 'x'.repeat(1000))
    .field('e', 'x'.repeat(1000));
  assert.equal(res.status, 413);
  assert.equal(res.body.code, 'ERR_PAYLOAD_TOO_LARGE');
});

test('a form whose client left before the parser came to it is refused as ERR_CLIENT_GONE at once, not held until the body timeout', async () => {
  // As when the parser loads with the first form: the request has closed, mid-body, by the time it is parsed.
  const parse = createFormPartsParser({ maxFileBytes: 1024, maxFiles: 2, maxFields: 2, maxTotalBytes: 4096, timeoutMs: 30_000 });
  let outcome!: Promise<string>;
  const server = http.createServer((req, res) => {
    outcome = new Promise((resolve) => req.once('close', resolve)).then(() => parse(req, res).then(() => 'parsed', (err: ToolkitError) => err.code));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 3000\r\n\r\n--b\r\nContent-Disposition: form-data; name="f"\r\n\r\nab');
    await until('the server to have the request', () => outcome !== undefined, { timeoutMs: 10_000, intervalMs: 5 });
    socket.destroy();
    assert.equal(await outcome, 'ERR_CLIENT_GONE');
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a whole form whose client closed before the parser came to it (HTTP/1.0, a half-close) is refused as ERR_CLIENT_GONE, not held for good', async () => {
  // Its body, whole but not read, went with the request: the parser would wait for an 'end' that never comes.
  const parse = createFormPartsParser({ maxFileBytes: 1024, maxFiles: 2, maxFields: 2, maxTotalBytes: 4096, timeoutMs: 120_000 });
  let outcome: Promise<string> | undefined;
  const server = http.createServer((req, res) => {
    outcome = new Promise((resolve) => req.once('close', resolve)).then(() => parse(req, res).then(() => 'parsed', (err: ToolkitError) => err.code));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    const form = '--b\r\nContent-Disposition: form-data; name="f"\r\n\r\nab\r\n--b--\r\n';
    socket.end(`POST /form HTTP/1.0\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: ${form.length}\r\n\r\n${form}`);
    await until('the server to have the request', () => outcome !== undefined, { timeoutMs: 10_000, intervalMs: 5 });
    const guard = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the parser gave no answer within 30 s')), 30_000).unref());
    assert.equal(await Promise.race([outcome!, guard]), 'ERR_CLIENT_GONE');
    socket.destroy();
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

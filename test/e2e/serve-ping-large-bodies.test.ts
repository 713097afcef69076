/**
 * `/ping` must not wait behind a legal request. An ONNX model without user code serves small
 * requests on the HTTP thread (auto mode); the largest legal bodies (a 6 MB CSV, multipart forms of
 * large PNGs) must go where they cannot hold the event loop that answers `/ping`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import sharp from 'sharp';
import { buildDenseOnnxModel } from '../../src/runtimes/onnx/build-model.js';
import { makeOptMl, removeDir, startServe, waitForPing, type ServeProcess } from '../helpers/serve-process.js';

const MAX_BYTES = 6 * 1024 * 1024;

/** A legal CSV body just under the 6 MB default limit: about 780,000 short rows of four features. */
function largestCsv(): Buffer {
  const row = '1,2,3,4\n';
  return Buffer.from(row.repeat(Math.floor((MAX_BYTES - 1024) / row.length)));
}

/**
 * A 4 → 64 → 64 → 3 ONNX MLP: light per row, but the largest legal CSV makes it work for a second
 * or more, long enough to see whether `/ping` waits behind it.
 */
function writeModel(dir: string): void {
  const dense = (inputs: number, outputs: number, activation: 'relu' | 'softmax') => ({
    weights: Array.from({ length: inputs }, (_, i) => Array.from({ length: outputs }, (_, j) => (((i * 31 + j * 17) % 13) - 6) / 40)),
    bias: new Array<number>(outputs).fill(0),
    activation,
  });
  writeFileSync(path.join(dir, 'model.onnx'), buildDenseOnnxModel({ layers: [dense(4, 64, 'relu'), dense(64, 64, 'relu'), dense(64, 3, 'softmax')] }));
}

/** A multipart form of large PNGs (noisy, so they stay big), just under the limit. */
async function largePngForm(): Promise<{ body: Buffer; contentType: string }> {
  const boundary = 'smkit-ping-test';
  const parts: Buffer[] = [];
  let size = 0;
  for (let i = 0; size < MAX_BYTES - 1_600_000; i++) {
    const pixels = Buffer.alloc(700 * 700 * 3);
    for (let p = 0; p < pixels.length; p++) pixels[p] = (p * 2654435761 + i * 97) >>> 24;
    const png = await sharp(pixels, { raw: { width: 700, height: 700, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="input"; filename="p${i}.png"\r\nContent-Type: image/png\r\n\r\n`);
    parts.push(head, png, Buffer.from('\r\n'));
    size += head.length + png.length + 2;
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Sends a body; resolves `sent` once every byte is written and `headers` when the answer starts. */
function send(url: string, body: Buffer, contentType: string): { sent: Promise<void>; headers: Promise<number>; done: Promise<number> } {
  let onSent!: () => void;
  let onHeaders!: (status: number) => void;
  const sent = new Promise<void>((r) => (onSent = r));
  const headers = new Promise<number>((r) => (onHeaders = r));
  const done = new Promise<number>((resolve, reject) => {
    const req = http.request(`${url}/invocations`, { method: 'POST', headers: { 'Content-Type': contentType, Accept: 'text/csv', 'Content-Length': body.length } }, (res) => {
      onHeaders(res.statusCode ?? 0);
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(600_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body, onSent);
  });
  return { sent, headers, done };
}

describe('/ping while the largest legal requests are served (ONNX model, auto mode)', () => {
  let server: ServeProcess;
  let base: string;
  before(async () => {
    base = makeOptMl();
    writeModel(path.join(base, 'model'));
    // The model timeout only ends a hang here: at a load average of 45-60 the 6 MB CSV took past
    // the default 60 s, and its 504 failed the test.
    server = await startServe({ SAGEMAKER_BASE_DIR: base, SMKIT_LOG_LEVEL: 'error', SAGEMAKER_MODEL_SERVER_TIMEOUT: '600' });
    await waitForPing(server, 200, 60_000);
  });
  after(async () => {
    await server.stop();
    removeDir(base);
  });

  test('pings are answered while 6 MB CSV bodies and PNG forms are decoded, run and encoded', async () => {
    const csv = largestCsv();
    const form = await largePngForm();
    assert.ok(csv.length <= MAX_BYTES && form.body.length <= MAX_BYTES, 'the bodies are legal');
    // A small request still works (served inline).
    const small = await fetch(`${server.url}/invocations`, { method: 'POST', body: '5.1,3.5,1.4,0.2\n', headers: { 'Content-Type': 'text/csv' }, signal: AbortSignal.timeout(30_000) });
    assert.equal(small.status, 200);

    const big = [send(server.url, csv, 'text/csv'), send(server.url, form.body, form.contentType)];
    await Promise.all(big.map((b) => b.sent));
    let firstAnswer = false;
    void big[0]!.headers.then(() => (firstAnswer = true));
    // Pings one after another until the CSV answer starts. With the work on the HTTP thread the
    // event loop is held from the moment the body is complete until its answer is written, so the
    // first ping sent in that time is answered together with the CSV (at most one counts before it).
    // How fast pings are is a timing goal for the benchmarks, not an assertion here: on a loaded
    // machine every round trip is slow, but a loop that is not held still answers one after another.
    // A 50 ms pause between pings: back to back, they were about 2000 round trips (most of this
    // file's CPU, taken from the server under test). The CSV keeps the server busy for a second or
    // more, so a free loop still answers about 20 or more, and a held one still at most one.
    let answeredBefore = 0;
    let slowest = 0;
    while (!firstAnswer) {
      const started = performance.now();
      const res = await fetch(`${server.url}/ping`, { signal: AbortSignal.timeout(60_000) });
      await res.arrayBuffer();
      assert.equal(res.status, 200);
      slowest = Math.max(slowest, performance.now() - started);
      if (!firstAnswer) answeredBefore++;
      await new Promise((r) => setTimeout(r, 50));
    }
    const statuses = await Promise.all(big.map((b) => b.done));
    assert.equal(statuses[0], 200);
    assert.ok(statuses[1]! < 500, `the PNG form got ${statuses[1]}`);
    assert.ok(answeredBefore >= 2, `only ${answeredBefore} ping(s) were answered while the large CSV was in flight (slowest ${Math.round(slowest)} ms)`);
  });
});

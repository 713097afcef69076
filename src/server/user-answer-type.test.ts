/**
 * The Content-Type of an answer a handler encoded itself (bytes, a string, a stream) and did not
 * name: the media type the client's Accept ranks first, never the Accept header as it came (a
 * list, a q-value, a wildcard); a value smkit encodes for the handler, in the type negotiated.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { serveModelInProcess, type InProcessApp } from '../../test/helpers/in-process-app.js';

const HANDLER = `
export function modelFn() { return {}; }
export async function transformFn(model, body) {
  const kind = body.toString('utf8');
  if (kind === 'stream') return (async function* () { yield 'a'; yield 'b'; })();
  if (kind === 'value') return { a: 1 };
  if (kind === 'string') return 'text';
  return Buffer.from('bytes');
}
`;

/** Keeps the body as bytes whatever its Content-Type. */
const raw = ((res: NodeJS.ReadableStream, done: (err: Error | null, body: Buffer) => void): void => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => done(null, Buffer.concat(chunks)));
}) as unknown as Parameters<request.Test['parse']>[0];

let modelDir: string;
let served: InProcessApp;

describe('the type of an answer a handler encoded', () => {
  before(async () => {
    modelDir = mkdtempSync(path.join(os.tmpdir(), 'smkit-answer-type-'));
    mkdirSync(path.join(modelDir, 'code'));
    writeFileSync(path.join(modelDir, 'code', 'inference.mjs'), HANDLER);
    served = await serveModelInProcess(modelDir);
  });
  after(async () => {
    await served?.close();
    rmSync(modelDir, { recursive: true, force: true });
  });

  const cases: [accept: string, type: string][] = [
    ['text/plain, application/json;q=0.5', 'text/plain'],
    ['application/json;q=0.2, text/csv;q=0.9', 'text/csv'],
    ['application/jsonlines;q=0.9', 'application/jsonlines'],
    ['application/json; charset=utf-8', 'application/json; charset=utf-8'],
    ['*/*', 'application/json'],
    ['*/*;q=0.5', 'application/json'],
    ['image/*', 'application/octet-stream'],
    // q=0 excludes the default type from the wildcard (RFC 9110 §12.5.1: the most specific range sets its q).
    ['*/*, application/json;q=0', 'application/octet-stream'],
    ['application/*;q=0.5, application/json;q=0', 'application/octet-stream'],
    // Parameters after q are the range's accept-extensions, not the media type's.
    ['text/plain;charset=utf-8;q=0.5;x=y', 'text/plain;charset=utf-8'],
    // RFC 9110 §5.6.6: parameter = token "=" parameter-value. A name without a value is no parameter
    // (the type is still application/json); a name that is no token went out as a Content-Type no client parses.
    ['application/json;verbose', 'application/json'],
    ['text/plain;=x;v=2', 'text/plain;v=2'],
    ['text/plain;"a"=1;a b=2;v=3', 'text/plain;v=3'],
  ];
  for (const kind of ['bytes', 'string', 'stream']) {
    test(`${kind}: Content-Type is the type Accept ranks first`, async () => {
      for (const [accept, type] of cases) {
        const res = await request(served.app).post('/invocations').set('Accept', accept).set('Content-Type', 'text/plain').send(kind).buffer(true).parse(raw);
        assert.equal(res.status, 200, `${accept}: ${res.text}`);
        // JSON answers carry their charset.
        const got = (res.headers['content-type'] ?? '').replace(/\s/g, '');
        assert.ok(got === type.replace(/\s/g, '') || got === `${type};charset=utf-8`, `${accept}: ${got}`);
      }
    });
  }

  test('a value for smkit to encode: in the type negotiated among those smkit encodes', async () => {
    const res = await request(served.app).post('/invocations').set('Accept', 'image/png, application/json;q=0.5').set('Content-Type', 'text/plain').send('value');
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(res.body, { a: 1 });
  });
});

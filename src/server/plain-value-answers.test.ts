/**
 * What a handler's predictFn returns as plain JS values holding bigints or typed arrays, answered
 * over real HTTP in the single-array types (CSV, NPY), which JSON already wrote: an array of bigints
 * is an array of 64-bit integers, as one bigint is; an array of typed arrays one tensor of their dtype.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { decodeNpy } from '../codecs/npy.js';
import { serveModelInProcess, type InProcessApp } from '../../test/helpers/in-process-app.js';

// The request body names the value predictFn returns.
const HANDLER = `
const VALUES = {
  scalar: 5n,
  list: [1n, 2n],
  mixed: [[1n, 2], [3, -4n]],
  wide: [[1n, 2n ** 63n], [3n, 2n ** 64n - 1n]],
  negative: [-(2n ** 63n), 9007199254740993n],
  fraction: [1n, 1.5],
  past: [-1n, 2n ** 63n],
  ragged: [[1n, 2n], [3n]],
  rows: [new Float32Array([0.5, 2]), new Float32Array([-0, 3])],
  deep: [[new Int32Array([1, 2])], [new Int32Array([3, 4])]],
  bytes: [Buffer.from([1, 2]), new Uint8Array([3, 4])],
  kinds: [new Float32Array([1]), new Float64Array([2])],
  lengths: [new Float32Array([1, 2]), new Float32Array([3])],
  depths: [new Float32Array([1]), [new Float32Array([2]), new Float32Array([3])]],
  self: selfHolding([]),
  selfBigint: selfHolding([1n]),
  selfRows: selfHolding([new Float32Array([1])]),
  deepBigint: [[1n], nest(100000)],
  deepNumbers: nest(100000),
};
function selfHolding(a) { a.push(a); return a; }
function nest(n) { let v = [1]; for (let i = 0; i < n; i++) v = [v]; return v; }
export function inputFn(body) { return Buffer.from(body).toString(); }
export function predictFn(name) { return VALUES[name]; }
`;

describe('plain bigint and typed-array answers from predictFn', () => {
  let dir: string;
  let served: InProcessApp;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-bigint-answers-'));
    mkdirSync(path.join(dir, 'code'));
    writeFileSync(path.join(dir, 'code', 'inference.mjs'), HANDLER);
    served = await serveModelInProcess(dir);
  });
  after(async () => {
    await served?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const invoke = async (name: string, accept: string): Promise<{ status: number; body: Buffer }> => {
    const res = await request(served.app)
      .post('/invocations')
      .set('Content-Type', 'text/plain')
      .set('Accept', accept)
      .buffer(true)
      .parse((r, done) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => done(null, Buffer.concat(chunks)));
      })
      .send(name);
    return { status: res.status, body: res.body as Buffer };
  };

  test('CSV writes an array of bigints exactly, as it writes one bigint', async () => {
    const cases: [string, string][] = [
      ['scalar', '5\n'],
      ['list', '1\n2\n'],
      ['mixed', '1,2\n3,-4\n'],
      ['wide', '1,9223372036854775808\n3,18446744073709551615\n'],
      ['negative', '-9223372036854775808\n9007199254740993\n'],
    ];
    for (const [name, csv] of cases) {
      const res = await invoke(name, 'text/csv');
      assert.equal(res.status, 200, `${name}: ${res.body.toString()}`);
      assert.equal(res.body.toString(), csv, name);
    }
  });

  test('NPY writes an array of bigints as <i8, or <u8 when a value is past int64', async () => {
    const cases: [string, string, number[], bigint[]][] = [
      ['scalar', 'int64', [], [5n]],
      ['list', 'int64', [2], [1n, 2n]],
      ['mixed', 'int64', [2, 2], [1n, 2n, 3n, -4n]],
      ['wide', 'uint64', [2, 2], [1n, 2n ** 63n, 3n, 2n ** 64n - 1n]],
      ['negative', 'int64', [2], [-(2n ** 63n), 9007199254740993n]],
    ];
    for (const [name, dtype, shape, values] of cases) {
      const res = await invoke(name, 'application/x-npy');
      assert.equal(res.status, 200, `${name}: ${res.body.toString()}`);
      const t = decodeNpy(res.body);
      assert.equal(t.dtype, dtype, name);
      assert.deepEqual(t.shape, shape, name);
      assert.deepEqual([...(t.data as BigInt64Array)], values, name);
    }
  });

  test('an array of typed arrays (one per row) answers as one tensor of their dtype in CSV and NPY, as JSON writes it', async () => {
    const cases: [string, string, number[], number[], string][] = [
      ['rows', 'float32', [2, 2], [0.5, 2, -0, 3], '0.5,2\n-0.0,3\n'],
      ['deep', 'int32', [2, 1, 2], [1, 2, 3, 4], '1,2\n3,4\n'],
      ['bytes', 'uint8', [2, 2], [1, 2, 3, 4], '1,2\n3,4\n'],
    ];
    for (const [name, dtype, shape, values, csv] of cases) {
      const npy = await invoke(name, 'application/x-npy');
      assert.equal(npy.status, 200, `${name}: ${npy.body.toString()}`);
      const t = decodeNpy(npy.body);
      assert.equal(t.dtype, dtype, name);
      assert.deepEqual(t.shape, shape, name);
      assert.deepEqual([...(t.data as Float32Array)], values, name);
      const text = await invoke(name, 'text/csv');
      assert.equal(text.status, 200, `${name}: ${text.body.toString()}`);
      assert.equal(text.body.toString(), csv, name);
    }
    for (const name of ['kinds', 'lengths']) {
      const res = await invoke(name, 'text/csv');
      assert.ok(res.status >= 400 && res.status < 500, `${name}: ${res.status} ${res.body.toString()}`);
      assert.match(JSON.parse(res.body.toString()).message, /typed arrays differ/, name);
    }
  });

  test('values no 64-bit integer array holds, and ragged arrays, are refused saying which', async () => {
    for (const [name, pattern] of [
      ['fraction', /1\.5.*not a whole number/],
      ['past', /past the 64-bit integer range/],
      ['ragged', /ragged/],
    ] as const) {
      for (const accept of ['text/csv', 'application/x-npy']) {
        const res = await invoke(name, accept);
        assert.ok(res.status >= 400 && res.status < 500, `${name} ${accept}: ${res.status} ${res.body.toString()}`);
        assert.match(JSON.parse(res.body.toString()).message, pattern, `${name} ${accept}`);
      }
    }
  });

  test('arrays holding themselves, nested without end, or with typed arrays at two depths are refused at once (no hang, no 500, no wrong shape)', async () => {
    for (const [name, pattern] of [
      ['depths', /an array sits where the first element at this depth is a typed array/],
      ['self', /nested more than 64 levels/],
      ['selfBigint', /\[1\]: an array sits among whole numbers and bigints/],
      ['selfRows', /an array sits where the first element at this depth is a typed array/],
      ['deepBigint', /\[1\]\[0\]: an array sits among whole numbers and bigints/],
      ['deepNumbers', /nested more than 64 levels/],
    ] as const) {
      for (const accept of ['text/csv', 'application/x-npy']) {
        const res = await invoke(name, accept);
        assert.ok(res.status >= 400 && res.status < 500, `${name} ${accept}: ${res.status} ${res.body.toString()}`);
        assert.match(JSON.parse(res.body.toString()).message, pattern, `${name} ${accept}`);
      }
    }
  });
});

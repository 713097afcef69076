import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CATALOGUE, ToolkitError } from './catalogue.js';
import { ModelError } from './model-error.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('every error code is documented in docs/errors.md with its status', () => {
  const doc = readFileSync(path.join(repo, 'docs/errors.md'), 'utf8');
  for (const [code, { status }] of Object.entries(ERROR_CATALOGUE)) {
    assert.match(doc, new RegExp(`\\| ${code} \\| ${status} \\|`), `${code} (${status}) is missing from docs/errors.md`);
  }
});

test('docs/errors.md lists each code once and no code the catalogue lacks', () => {
  const doc = readFileSync(path.join(repo, 'docs/errors.md'), 'utf8');
  const listed = [...doc.matchAll(/^\| (ERR_[A-Z0-9_]+) \|/gm)].map((m) => m[1]!);
  const seen = new Set<string>();
  for (const code of listed) {
    assert.ok(!seen.has(code), `${code} is listed twice in docs/errors.md`);
    seen.add(code);
    assert.ok(code in ERROR_CATALOGUE, `${code} is in docs/errors.md but not in the catalogue`);
  }
});

test('codes follow the ERR_ naming rule and statuses are HTTP error statuses', () => {
  for (const [code, { status }] of Object.entries(ERROR_CATALOGUE)) {
    assert.match(code, /^ERR_[A-Z0-9_]+$/);
    assert.ok(status >= 400 && status <= 599, `${code}: ${status}`);
  }
});

test("a ToolkitError's JSON body keeps its code and message whatever its details hold, and can always be written: details JSON cannot carry are left out", () => {
  // User code may throw a ToolkitError with any details. Before: a detail named code or message
  // replaced the catalogue's code or the message, and details with a BigInt or a cycle made the
  // answer impossible to write (in thread mode the worker process died, inline the request hung).
  const e = new ToolkitError('ERR_BAD_REQUEST', 'bad row', { details: { code: 'ROW_TOO_LONG', message: 'other', row: 3 } });
  assert.deepEqual(e.toJSON(), { code: 'ERR_BAD_REQUEST', message: 'bad row', row: 3 });
  assert.deepEqual(Object.keys(e.toJSON()), ['code', 'message', 'row']);
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  const throwing = Object.defineProperty({}, 'bad', { enumerable: true, get: () => { throw new Error('no'); } });
  for (const details of [{ n: 10n }, cyclic, throwing]) {
    const body = new ToolkitError('ERR_BAD_REQUEST', 'bad row', { details }).toJSON();
    assert.deepEqual(JSON.parse(JSON.stringify(body)), { code: 'ERR_BAD_REQUEST', message: 'bad row' });
  }
  assert.deepEqual(new ToolkitError('ERR_BAD_REQUEST', 'x', { details: { f: () => 1, s: Symbol('s'), row: 1 } }).toJSON(), { code: 'ERR_BAD_REQUEST', message: 'x', row: 1 });
});

test('a ToolkitError given a status that is not an HTTP error status takes its code\'s', () => {
  // User code may throw a ToolkitError with any status. Before: 99, 1000 or NaN made writing the
  // answer throw (in thread mode the worker process died, inline the request hung), and 200
  // answered the error as a success.
  for (const status of [99, 200, 302, 1000, 404.5, Number.NaN]) {
    assert.equal(new ToolkitError('ERR_BAD_REQUEST', 'x', { status }).status, 400, String(status));
    assert.equal(new ToolkitError('ERR_USER_CODE', 'x', { status }).status, 500, String(status));
  }
  assert.equal(new ToolkitError('ERR_BAD_REQUEST', 'x', { status: 422 }).status, 422);
  assert.equal(new ToolkitError('ERR_USER_CODE', 'x', { status: 503 }).status, 503);
});

test('ToolkitError carries code, status and JSON body; ModelError keeps a status from 400 to 599, as its TSDoc says', () => {
  const e = new ToolkitError('ERR_CSV_PARSE', 'line 2 has 3 values, expected 4', { details: { line: 2 } });
  assert.equal(e.status, 400);
  assert.deepEqual(e.toJSON(), { code: 'ERR_CSV_PARSE', message: 'line 2 has 3 values, expected 4', line: 2 });
  assert.equal(new ModelError(422, 'nope').status, 422);
  assert.equal(new ModelError(200, 'not an error status').status, 500);
  assert.equal(new ModelError(503, 'retry later').status, 503);
  assert.equal(new ModelError(599, 'the last').status, 599);
  assert.equal(new ModelError(600, 'past HTTP errors').status, 500);
  assert.equal(new ModelError(422.5, 'a fraction').status, 500);
  assert.equal(new ModelError(503, 'x').code, 'ERR_USER_CODE');
});

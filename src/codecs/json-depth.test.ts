import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_JSON_DEPTH, jsonNestsDeeperThan } from './json-depth.js';
import { parseJsonBody } from './json.js';
import { decodeJsonLines } from './jsonlines.js';
import { jsonCodec } from './json.js';
import { type FormPart, decodeFormParts } from './multipart.js';
import { CodecRegistry } from './registry.js';

const arrays = (depth: number) => '['.repeat(depth) + '1' + ']'.repeat(depth);
const objects = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

/** How deep a parsed value nests arrays and objects (a scalar is 0). */
function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce<number>((max, v) => Math.max(max, depthOf(v)), 0);
}

describe('JSON nesting depth', () => {
  test('arrays and objects at the limit pass, one level past it does not', () => {
    for (const nest of [arrays, objects]) {
      assert.equal(jsonNestsDeeperThan(nest(MAX_JSON_DEPTH)), false);
      assert.equal(jsonNestsDeeperThan(nest(MAX_JSON_DEPTH + 1)), true);
    }
    assert.equal(jsonNestsDeeperThan(`[${'{"a":['.repeat(200)}1${']}'.repeat(200)}]`), false, '401 levels, arrays and objects mixed');
    assert.equal(jsonNestsDeeperThan(`[${'{"a":['.repeat(256)}1${']}'.repeat(256)}]`), true, '513 levels');
  });

  test('brackets inside strings, escaped quotes among them, do not count', () => {
    const brackets = '[{'.repeat(5000);
    assert.equal(jsonNestsDeeperThan(JSON.stringify({ text: brackets, more: [`\\"${brackets}`, '"', `\\\\`] })), false);
    assert.deepEqual(parseJsonBody(JSON.stringify([brackets, `"${brackets}`])), [brackets, `"${brackets}`]);
    // The quote after an escaped backslash ends the string: the brackets after it count.
    assert.equal(jsonNestsDeeperThan(`["\\\\", ${arrays(MAX_JSON_DEPTH)}]`), true);
  });

  test('a stray closing bracket does not hide depth built after it', () => {
    assert.equal(jsonNestsDeeperThan(']'.repeat(1000) + '['.repeat(MAX_JSON_DEPTH + 1)), true);
    assert.equal(jsonNestsDeeperThan('['.repeat(3_000_000)), true, 'unclosed');
  });

  test('a body nested past the limit is a 400 ERR_JSON_PARSE naming the limit, before it is parsed; JSON lines too', () => {
    for (const text of [arrays(MAX_JSON_DEPTH + 1), objects(MAX_JSON_DEPTH + 1), '['.repeat(3_000_000)]) {
      assert.throws(() => parseJsonBody(text), (err: Error & { code?: string }) => err.code === 'ERR_JSON_PARSE' && /more than 512 levels deep/.test(err.message));
    }
    assert.deepEqual(parseJsonBody(arrays(MAX_JSON_DEPTH)), JSON.parse(arrays(MAX_JSON_DEPTH)));
    const lines = Buffer.from(`{"a":1}\n${objects(MAX_JSON_DEPTH + 1)}\n`);
    assert.throws(() => decodeJsonLines(lines), (err: Error & { code?: string }) => err.code === 'ERR_JSON_PARSE' && /^JSON lines: line 2 nests .* more than 512 levels deep/.test(err.message));
  });

  test('JSON lines: records that each leave a bracket open are refused for their syntax, naming the first, not for the depth they add up to', () => {
    // 600 truncated records: the text as a whole opens 600 brackets it never closes, no record more than one.
    const truncated = Buffer.from(`${'{"a":[1,2]\n'.repeat(600)}`);
    assert.throws(() => decodeJsonLines(truncated), (err: Error & { code?: string }) => err.code === 'ERR_JSON_PARSE' && /^JSON lines: line 1 is not valid JSON/.test(err.message));
    // Lines that would join into one valid array 601 deep: each is parsed on its own, and the first is not JSON.
    const joined = Buffer.from(`${'['.repeat(300)}1\n${'['.repeat(300)}1${']'.repeat(601)}\n`);
    assert.throws(() => decodeJsonLines(joined), (err: Error & { code?: string }) => err.code === 'ERR_JSON_PARSE' && /^JSON lines: line 1 is not valid JSON/.test(err.message));
    // Deep records among many shallow ones: the deep one is named.
    const rows = `${'{"a":[1,2]}\n'.repeat(300)}${arrays(MAX_JSON_DEPTH + 1)}\n`;
    assert.throws(() => decodeJsonLines(Buffer.from(rows)), (err: Error & { code?: string }) => err.code === 'ERR_JSON_PARSE' && /^JSON lines: line 301 nests .* more than 512 levels deep/.test(err.message));
  });

  test('a multipart text field: a parameter nested past the limit is a 400 naming it, at the limit a parameter; as a model input, the JSON refusal', () => {
    const codecs = new CodecRegistry().register(jsonCodec);
    const field = (name: string, value: string): FormPart => ({ field: name, contentType: 'text/plain', data: Buffer.from(value) });
    const file: FormPart = { field: 'x', filename: 'x.json', contentType: 'application/json', data: Buffer.from('[[1,2]]') };
    assert.throws(
      () => decodeFormParts([file, field('p', arrays(MAX_JSON_DEPTH + 1))], codecs, ['input']),
      (err: Error & { code?: string }) => err.code === 'ERR_BAD_REQUEST' && /"p" nests arrays and objects more than 512 levels deep/.test(err.message),
    );
    const atLimit = decodeFormParts([file, field('p', arrays(MAX_JSON_DEPTH))], codecs, ['input']);
    assert.deepEqual(atLimit.parameters?.['p'], JSON.parse(arrays(MAX_JSON_DEPTH)));
    // Plain text that is not JSON stays a string parameter, however many brackets it holds.
    const prose = `Summarize: ${'['.repeat(MAX_JSON_DEPTH + 1)}`;
    assert.equal(decodeFormParts([file, field('p', prose)], codecs, ['input']).parameters?.['p'], prose);
    assert.throws(
      () => decodeFormParts([field('input', objects(MAX_JSON_DEPTH + 1))], codecs, ['input']),
      (err: Error & { code?: string }) => err.code === 'ERR_BAD_REQUEST' && /more than 512 levels deep/.test(err.message),
    );
  });

  test('property: valid JSON parses as JSON.parse does, and counts as deep exactly when it nests past the limit', () => {
    const brackety = fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', 'a') });
    const value = fc.oneof(fc.jsonValue({ maxDepth: 6 }), fc.array(brackety), fc.dictionary(brackety, brackety));
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 8 }), (v, max) => {
        const text = JSON.stringify(v);
        assert.equal(jsonNestsDeeperThan(text, max), depthOf(JSON.parse(text)) > max);
        assert.deepEqual(parseJsonBody(text), JSON.parse(text));
      }),
      { numRuns: 500 },
    );
  });
});

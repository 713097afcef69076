import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PyDict, PyFloat, PyInt, comparePyStrings, parseHyperparameterValue, pyJsonDumps, pyJsonLoads, pyRepr, pyStr, pyTruthy } from './py-json.js';

test('hyperparameter values: JSON where it parses, the raw string otherwise (as the training toolkit does)', () => {
  const p = (s: string) => parseHyperparameterValue(s);
  assert.deepEqual(p('0.1'), new PyFloat(0.1));
  assert.deepEqual(p('10'), new PyInt(10n));
  assert.equal(p('true'), true);
  assert.equal(p('null'), null);
  assert.deepEqual(p('[1,2]'), [new PyInt(1n), new PyInt(2n)]);
  assert.equal(p('abc'), 'abc');
  assert.equal(p('"abc"'), 'abc');
  assert.equal(p(''), '');
  assert.equal(p('01'), '01'); // not JSON: leading zero
  assert.equal(p('1.'), '1.');
  assert.equal(p('True'), 'True');
  assert.deepEqual(p(' 7 '), new PyInt(7n)); // surrounding whitespace is allowed
  assert.deepEqual(p('NaN'), new PyFloat(NaN));
  assert.deepEqual(p('12345678901234567890123'), new PyInt(12345678901234567890123n));
  assert.equal(p('{"a":1,}'), '{"a":1,}');
  assert.equal(p('"tab\there"'), '"tab\there"'); // raw control characters are invalid in strict JSON
});

test('json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True)', () => {
  const d = pyJsonLoads('{"b": 1.0, "a": [1e-5, 1e16, 123.456, -0.0, 1e15, 0.0001], "1": "é\\n\\u0001", "c": {"z": null, "y": false}}');
  assert.equal(pyJsonDumps(d), '{"1":"\\u00e9\\n\\u0001","a":[1e-05,1e+16,123.456,-0.0,1000000000000000.0,0.0001],"b":1.0,"c":{"y":false,"z":null}}');
  assert.equal(pyJsonDumps('😀'), '"\\ud83d\\ude00"');
  assert.equal(pyJsonDumps(new PyFloat(Infinity)), 'Infinity');
  assert.equal(pyJsonDumps(new PyFloat(1.5e-7)), '1.5e-07');
});

test('Python str(): True/None, float repr, containers via repr with quote choice', () => {
  assert.equal(pyStr(true), 'True');
  assert.equal(pyStr(null), 'None');
  assert.equal(pyStr(new PyFloat(3)), '3.0');
  assert.equal(pyStr(new PyFloat(Infinity)), 'inf');
  assert.equal(pyStr(pyJsonLoads('[1, "a", null, true, 2.5, "it\'s", "x\\ty"]')), `[1, 'a', None, True, 2.5, "it's", 'x\\ty']`);
  assert.equal(pyStr(pyJsonLoads('{"k": ["v"], "2": {"n": 1}}')), `{'k': ['v'], '2': {'n': 1}}`);
  assert.equal(pyStr('plain'), 'plain');
});

test('duplicate keys keep the first position with the last value; order is insertion order', () => {
  const d = pyJsonLoads('{"b": 1, "a": 2, "b": 3, "10": 4}') as PyDict;
  assert.deepEqual(d.keys(), ['b', 'a', '10']);
  assert.deepEqual(d.get('b'), new PyInt(3n));
});

test('code-point ordering and truthiness follow Python', () => {
  assert.ok(comparePyStrings('\uffff', '😀') < 0); // UTF-16 order would say the opposite
  assert.ok(comparePyStrings('a', 'ab') < 0);
  assert.equal(pyTruthy(new PyInt(0n)), false);
  assert.equal(pyTruthy('false'), true);
  assert.equal(pyTruthy(new PyDict()), false);
});

const python = spawnSync('python3', ['-c', 'print(1)'], { encoding: 'utf8' });
test('differential: matches CPython on json.loads → dumps/str for tricky values', { skip: python.status !== 0 ? 'python3 is not installed' : false }, () => {
  const samples = ['0.1', '1.0', '1e-5', '1E+300', '-0', '-0.0', '3.14159265358979', '1e22', '123456789.123', '[1,2.0,"x",null,true]', '{"b":{"d":1,"c":[]},"a":"é"}', '"\\ud83d\\ude00"', 'abc', '"quote\'s"', '2.5e-10', '100000000000000000000', '5e-324', '1.7976931348623157e308'];
  const script = `
import json, sys
out = []
for s in json.load(sys.stdin):
    try: v = json.loads(s)
    except (ValueError, TypeError): v = s
    out.append([json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True), "" if v is None else str(v)])
print(json.dumps(out))`;
  const r = spawnSync('python3', ['-c', script], { input: JSON.stringify(samples), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const expected = JSON.parse(r.stdout) as [string, string][];
  samples.forEach((s, i) => {
    const v = parseHyperparameterValue(s);
    assert.deepEqual([pyJsonDumps(v), v === null ? '' : pyStr(v)], expected[i], s);
  });
});

test('differential: every control character, DEL, the C1 range and other non-printables escape as CPython does', { skip: python.status !== 0 ? 'python3 is not installed' : false }, () => {
  // json.dumps(ensure_ascii=True) escapes everything outside space..~ (DEL included); repr escapes what str.isprintable() refuses.
  const chars: string[] = [];
  for (let c = 0; c <= 0x2ff; c++) chars.push(String.fromCharCode(c));
  chars.push('\u061c', '\u1680', '\u180e', '\u2000', '\u200b', '\u200f', '\u2028', '\u2029', '\u202f', '\u2066', '\u3000', '\ud7ff', '\ue000', '\ufeff', '\ufffd', '\ufffe', '\uffff');
  chars.push('\u{1F600}', '\u{1D173}', '\u{E0001}', '\u{F0000}', '\u{10FFFF}', '\u{1F3FB}');
  const samples = chars.map((c) => JSON.stringify(`a${c}b'"\\`));
  samples.push(JSON.stringify(chars.join('')), JSON.stringify({ [String.fromCharCode(0x7f)]: ['\u0000', '\u001f'] }));
  const script = `
import json, sys
out = []
for s in json.load(sys.stdin):
    v = json.loads(s)
    out.append([json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True), repr(v), str([v])])
print(json.dumps(out))`;
  const r = spawnSync('python3', ['-c', script], { input: JSON.stringify(samples), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, r.stderr);
  const expected = JSON.parse(r.stdout) as [string, string, string][];
  samples.forEach((s, i) => {
    const v = parseHyperparameterValue(s);
    assert.deepEqual([pyJsonDumps(v), pyRepr(v), pyStr([v])], expected[i], `U+${s.codePointAt(2)?.toString(16)}`);
  });
  // DEL spelled out, so the rule is visible without Python too.
  assert.equal(pyJsonDumps('\u007f'), '"\\u007f"');
  assert.equal(pyRepr('\u007f'), "'\\x7f'");
});

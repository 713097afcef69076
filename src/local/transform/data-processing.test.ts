import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isToolkitError } from '../../errors/catalogue.js';
import { answersPerRecord, applyJsonPath, compileDataProcessing, parseCsvRow, parseJsonPath, RecordProcessingError, withInferenceId } from './data-processing.js';

const b = (s: string): Buffer => Buffer.from(s);
const csvLines = { contentType: 'text/csv', splitType: 'Line', assembleWith: 'Line' };
const select = (value: unknown, expr: string): unknown => applyJsonPath(value, parseJsonPath(expr, '--input-filter'), expr);

test('the JSONPath operators of the developer guide\'s table, on its examples', () => {
  const row = ['id7', 'a', 'b', 'c', 'd', 'e'];
  assert.deepEqual(select(row, '$'), row);
  assert.deepEqual(select(row, '$[1:]'), ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(select(row, '$[2:5]'), ['b', 'c', 'd']);
  assert.deepEqual(select(row, '$[:5]'), ['id7', 'a', 'b', 'c', 'd']);
  assert.equal(select(row, '$[1]'), 'a');
  assert.equal(select(row, '$[-1]'), 'e');
  assert.deepEqual(select(row, '$[1,3,5]'), ['a', 'c', 'e']);
  assert.deepEqual(select(row, '$[0,-1]'), ['id7', 'e']);
  assert.deepEqual(select(row, '$[0,5:]'), ['id7', 'e'], 'the OutputFilter example $[0,5:]');
  const doc = { id: 3, features: [1, 2], SageMakerOutput: { label: 1 }, nested: { child1: 1, child2: 2 } };
  assert.deepEqual(select(doc, '$.features'), [1, 2]);
  assert.deepEqual(select(doc, "$['id','SageMakerOutput']"), { id: 3, SageMakerOutput: { label: 1 } });
  assert.deepEqual(select(doc, "$.nested.['child1','child2']"), { child1: 1, child2: 2 });
  assert.deepEqual(select(doc, '$.nested.*'), [1, 2]);
  assert.deepEqual(select(doc, "$['features']"), [1, 2]);
});

test('filters outside the subset, or over 63 characters, are ERR_CLI_USAGE naming the flag; a record they do not fit fails alone', () => {
  const usage = (pattern: RegExp) => (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && pattern.test(e.message);
  assert.throws(() => parseJsonPath('features', '--input-filter'), usage(/--input-filter "features": a path starts with \$/));
  assert.throws(() => parseJsonPath('$..id', '--input-filter'), usage(/a name is missing after the dot/));
  assert.throws(() => parseJsonPath('$[0:2,246:]', '--output-filter'), usage(/--output-filter .*more than one slice/));
  assert.throws(() => parseJsonPath('$[?(@.a)]', '--input-filter'), usage(/not a list of quoted names/));
  assert.throws(() => parseJsonPath('$[1', '--input-filter'), usage(/not closed/));
  assert.throws(() => parseJsonPath('$[1:].a', '--input-filter'), usage(/nothing may follow a wildcard, a slice/));
  assert.throws(() => parseJsonPath(`$.${'x'.repeat(62)}`, '--input-filter'), usage(/longer than the 63 characters/));
  assert.doesNotThrow(() => parseJsonPath(`$.${'x'.repeat(61)}`, '--input-filter'));
  assert.throws(() => select({ a: 1 }, '$.features'), (e: unknown) => e instanceof RecordProcessingError && /no attribute 'features'/.test(e.message));
  assert.throws(() => select(['a'], '$[3]'), (e: unknown) => e instanceof RecordProcessingError && /index 3 is outside the 1 element/.test(e.message));
  assert.throws(() => select('x', '$[1:]'), RecordProcessingError);
});

test('CSV rows follow RFC 4180 (quoted fields, doubled quotes), and are written back quoted where needed', () => {
  assert.deepEqual(parseCsvRow('1,"a,b","say ""hi""",'), ['1', 'a,b', 'say "hi"', '']);
  assert.throws(() => parseCsvRow('"open'), RecordProcessingError);
  const dp = compileDataProcessing({ inputFilter: '$[1:]' }, csvLines)!;
  assert.equal(dp.filterInput(b('7,"a,b",c\r\n')).toString(), '"a,b",c\r\n');
});

test('JoinSource=Input, the developer guide\'s examples: CSV appends the answer to the row; JSON adds SageMakerOutput, or wraps a non-object in SageMakerInput', () => {
  const csv = compileDataProcessing({ joinSource: 'Input' }, csvLines)!;
  assert.equal(csv.finish(b('1,2,3\n'), b('1\n')).toString(), '1,2,3,1');
  const idCol = compileDataProcessing({ inputFilter: '$[1:]', joinSource: 'Input', outputFilter: '$' }, csvLines)!;
  assert.equal(idCol.filterInput(b('id1,5.1,3.5,1.4,0.2\n')).toString(), '5.1,3.5,1.4,0.2\n');
  assert.equal(idCol.finish(b('id1,5.1,3.5,1.4,0.2\n'), b('0.98')).toString(), 'id1,5.1,3.5,1.4,0.2,0.98');
  const json = compileDataProcessing({ joinSource: 'Input' }, { contentType: 'application/json', splitType: 'Line', assembleWith: 'Line' })!;
  assert.equal(json.finish(b('{"key":1}\n'), b('{"label":1}')).toString(), '{"key":1,"SageMakerOutput":{"label":1}}');
  assert.equal(json.finish(b('[1,2]'), b('{"label":1}')).toString(), '{"SageMakerInput":[1,2],"SageMakerOutput":{"label":1}}');
  const idAttr = compileDataProcessing({ inputFilter: '$.features', joinSource: 'Input', outputFilter: "$['id','SageMakerOutput']" }, { contentType: 'application/jsonlines', splitType: 'Line', assembleWith: 'Line' })!;
  assert.equal(idAttr.filterInput(b('{"id":9,"features":[1,2]}\n')).toString(), '[1,2]\n');
  assert.equal(idAttr.finish(b('{"id":9,"features":[1,2]}\n'), b('{"label":0}')).toString(), '{"id":9,"SageMakerOutput":{"label":0}}');
  assert.throws(() => json.finish(b('{"key":1}'), b('not json')), (e: unknown) => e instanceof RecordProcessingError && /not valid JSON/.test(e.message));
  assert.equal(compileDataProcessing({ inputFilter: '$', joinSource: 'None', outputFilter: '$' }, csvLines), undefined, 'the defaults change nothing');
  assert.throws(() => compileDataProcessing({ joinSource: 'Input' }, { contentType: 'application/x-npy', splitType: 'None', assembleWith: 'None' }), (e: unknown) => isToolkitError(e) && /text\/csv, application\/json and application\/jsonlines .*application\/x-npy/.test(e.message));
});

test('a multi-record answer is cut per record at newlines; a count that does not match is a RecordProcessingError', () => {
  assert.deepEqual(answersPerRecord(b('1\r\n2\n'), 2).map(String), ['1', '2']);
  assert.throws(() => answersPerRecord(b('[1,2]'), 2), /has 1 line\(s\)/);
});

test('GenerateInferenceId keeps a JSON answer as the container wrote it (numbers past 2^53, 1.0, key order) and appends the two fields on its line', () => {
  const stamp = (answer: string): string => withInferenceId(b(answer), 'json', 'ID', 'T').toString();
  assert.equal(stamp('{"id": 12345678901234567890, "p": 1.0, "b": 1, "2": 2}\n'), '{"id": 12345678901234567890, "p": 1.0, "b": 1, "2": 2,"SageMakerInferenceId":"ID","SageMakerInferenceTime":"T"}');
  assert.equal(stamp('{\n  "p": 0.10000000000000000555\n}'), '{   "p": 0.10000000000000000555,"SageMakerInferenceId":"ID","SageMakerInferenceTime":"T"}');
  assert.equal(stamp('{ }'), '{"SageMakerInferenceId":"ID","SageMakerInferenceTime":"T"}');
  assert.equal(stamp('[1.0, 2]'), '{"SageMakerOutput":[1.0, 2],"SageMakerInferenceId":"ID","SageMakerInferenceTime":"T"}');
  assert.equal(stamp('{"SageMakerInferenceId": "old", "x": 1}'), '{"SageMakerInferenceId":"ID","x":1,"SageMakerInferenceTime":"T"}');
  assert.throws(() => stamp('{"a": '), RecordProcessingError);
});

test('a record or answer that is not valid UTF-8 is a RecordProcessingError, not sent or written with U+FFFD in place of its bytes', () => {
  const notUtf8 = (what: string) => (e: unknown) => e instanceof RecordProcessingError && e.message === `${what} is not valid UTF-8; DataProcessing reads ${what === 'the answer' ? 'JSON' : 'CSV'} records as UTF-8 text`;
  const csv = compileDataProcessing({ inputFilter: '$[1:]', joinSource: 'Input' }, csvLines)!;
  const latin1Row = Buffer.concat([b('id1,caf'), Buffer.from([0xe9]), b(',2\n')]);
  assert.throws(() => csv.filterInput(latin1Row), notUtf8('the record'));
  assert.throws(() => csv.finish(latin1Row, b('1')), notUtf8('the record'));
  assert.equal(csv.filterInput(b('id1,café,2\n')).toString(), 'café,2\n', 'valid UTF-8 goes through');
  const json = compileDataProcessing({ joinSource: 'Input' }, { contentType: 'application/jsonlines', splitType: 'Line', assembleWith: 'Line' })!;
  assert.throws(() => json.finish(b('{"a":1}'), Buffer.concat([b('{"x":"'), Buffer.from([0xc3]), b('"}')])), notUtf8('the answer'));
  assert.throws(() => withInferenceId(Buffer.from([0xff, 0x31]), 'csv', 'ID', 'T'), notUtf8('the record'));
  // A multi-record answer is cut as bytes, so a line that is not UTF-8 is still refused, not let through as U+FFFD.
  const lines = answersPerRecord(Buffer.concat([b('{"x":1}\r\n{"x":"'), Buffer.from([0xe9]), b('"}\n\n')]), 3);
  assert.deepEqual(lines.map((l) => l.toString('latin1')), ['{"x":1}', '{"x":"\xe9"}', '']);
  assert.throws(() => json.finish(b('{"a":1}'), lines[1]!), notUtf8('the answer'));
});

test('a JSON record or answer nesting deeper than a request body may (512 levels) is a RecordProcessingError, found before it is parsed; 512 levels go through', () => {
  const deep = (levels: number) => b(`${'['.repeat(levels)}1${']'.repeat(levels)}\n`);
  const tooDeep = (what: string) => (e: unknown) => e instanceof RecordProcessingError && e.message === `${what} nests arrays and objects more than 512 levels deep, the limit for JSON records`;
  const filter = compileDataProcessing({ inputFilter: '$[0]' }, { contentType: 'application/jsonlines', splitType: 'Line', assembleWith: 'Line' })!;
  assert.throws(() => filter.filterInput(deep(20_000)), tooDeep('the record'));
  assert.equal(filter.filterInput(deep(512)).toString(), `${'['.repeat(511)}1${']'.repeat(511)}\n`);
  const join = compileDataProcessing({ joinSource: 'Input' }, { contentType: 'application/jsonlines', splitType: 'Line', assembleWith: 'Line' })!;
  assert.throws(() => join.finish(deep(600), b('{"y":1}')), tooDeep('the record'));
  assert.throws(() => join.finish(b('{"a":1}'), deep(600)), tooDeep('the answer'));
  // GenerateInferenceId says "the output" (run.ts rewrites the record's message so).
  assert.throws(() => withInferenceId(deep(600), 'json', 'ID', 'T'), tooDeep('the record'));
});

test('JSON numbers pass the filters and the join as the record and the answer wrote them: a 64-bit id, 1.0 and 1e400 are not rounded, shortened or nulled', () => {
  const jsonLines = { contentType: 'application/jsonlines', splitType: 'Line', assembleWith: 'Line' };
  const joined = compileDataProcessing({ inputFilter: '$.features', joinSource: 'Input', outputFilter: "$['id','f','SageMakerOutput']" }, jsonLines)!;
  const record = b('{"id":12345678901234567890,"f":1.0,"features":[0.10000000000000000555,-0,2E+3]}\n');
  assert.equal(joined.filterInput(record).toString(), '[0.10000000000000000555,-0,2E+3]\n');
  assert.equal(joined.finish(record, b('{"score":1e400,"n":[9007199254740993]}')).toString(), '{"id":12345678901234567890,"f":1.0,"SageMakerOutput":{"score":1e400,"n":[9007199254740993]}}');
  // Not an object: SageMakerInput and SageMakerOutput, numbers kept; strings, true, false and null as they were.
  const plain = compileDataProcessing({ joinSource: 'Input' }, jsonLines)!;
  assert.equal(plain.finish(b('[1.50, "a\\"b\\u00e9", true, false, null, {}]\n'), b('0.250')).toString(), '{"SageMakerInput":[1.50,"a\\"b\u00e9",true,false,null,{}],"SageMakerOutput":0.250}');
  // A "__proto__" attribute is an attribute, as JSON.parse reads it.
  assert.equal(compileDataProcessing({ outputFilter: '$.__proto__' }, jsonLines)!.finish(b('{}'), b('{"__proto__":{"x":10.0}}')).toString(), '{"x":10.0}');
});

test('an answer the join or the output filter cannot read is named as the answer, not the record, whose text was fine', () => {
  const jsonLines = { contentType: 'application/jsonlines', splitType: 'Line', assembleWith: 'Line' };
  const fails = (pattern: RegExp) => (e: unknown) => e instanceof RecordProcessingError && pattern.test(e.message);
  const json = compileDataProcessing({ inputFilter: '$.v', joinSource: 'Input' }, jsonLines)!;
  assert.throws(() => json.finish(b('{"v":1}\n'), b('label=cat\n')), fails(/^the answer is not valid JSON$/));
  assert.throws(() => json.filterInput(b('{"v":\n')), fails(/^the record is not valid JSON$/));
  const csv = compileDataProcessing({ joinSource: 'Input' }, csvLines)!;
  assert.throws(() => csv.finish(b('1,2\n'), b('"0.5\n')), fails(/^the answer is not a CSV row: a quoted CSV field is not closed/));
  assert.throws(() => csv.finish(b('1,"2\n'), b('0.5\n')), fails(/^the record is not a CSV row: a quoted CSV field is not closed/));
});

test('property: JSON records and answers of any form come out as JSON.stringify writes them, each number as it was written', () => {
  // A value as text: numbers written in every JSON form, strings with random escapes, random whitespace.
  type Tree = { t: 'n'; v: string } | { t: 'l'; v: string } | { t: 's'; v: string } | { t: 'a'; v: Tree[] } | { t: 'o'; v: [string, Tree][] };
  const digits = (min: number, max: number) => fc.stringMatching(new RegExp(`^[0-9]{${min},${max}}$`));
  const number = fc.oneof(
    fc
      .tuple(fc.boolean(), fc.oneof(fc.constant('0'), fc.tuple(fc.integer({ min: 1, max: 9 }), digits(0, 22)).map(([a, r]) => `${a}${r}`)), fc.option(digits(1, 22)), fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), digits(1, 4))))
      .map(([neg, int, frac, exp]) => `${neg ? '-' : ''}${int}${frac === null ? '' : `.${frac}`}${exp === null ? '' : exp.join('')}`),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
    fc.constantFrom('1e21', '1e+21', '1E+21', '-0', '-0.0', '5e-324', '1e-7', '0.000001', '0.0000001', '1e400', '9007199254740993', '123456789012345', '1234567890123456', '0.30000000000000004', '1.0', '1e-05'),
  );
  const key = fc.oneof(fc.string({ unit: 'binary', maxLength: 4 }), fc.constantFrom('__proto__', 'constructor', 'toJSON', '0', '10', '4294967295', '01', '-1', 'a1.0'));
  const { tree } = fc.letrec<{ tree: Tree; leaf: Tree; arr: Tree; obj: Tree }>((tie) => ({
    tree: fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('arr'), tie('obj')),
    leaf: fc.oneof(number.map((v): Tree => ({ t: 'n', v })), fc.string({ unit: 'binary' }).map((v): Tree => ({ t: 's', v })), fc.constantFrom<Tree>({ t: 'l', v: 'true' }, { t: 'l', v: 'false' }, { t: 'l', v: 'null' })),
    arr: fc.array(tie('tree'), { maxLength: 5 }).map((v): Tree => ({ t: 'a', v })),
    obj: fc.array(fc.tuple(key, tie('tree')), { maxLength: 5 }).map((v): Tree => ({ t: 'o', v })),
  }));
  const quote = (s: string, seed: number): string => {
    let out = '"';
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (s[i] === '"' || s[i] === '\\') out += `\\${s[i]}`;
      else if (c < 0x20 || (c >= 0xd800 && c < 0xe000) || (seed + i) % 3 === 0) out += `\\u${c.toString(16)[(seed + i) % 2 ? 'toUpperCase' : 'toLowerCase']().padStart(4, '0')}`;
      else if (s[i] === '/' && seed % 2) out += '\\/';
      else out += s[i];
    }
    return `${out}"`;
  };
  const render = (n: Tree, ws: string[], seed: number): string => {
    const w = () => ws[seed++ % ws.length];
    if (n.t === 'n' || n.t === 'l') return n.v;
    if (n.t === 's') return quote(n.v, seed);
    if (n.t === 'a') return `[${w()}${n.v.map((x) => render(x, ws, seed++)).join(`${w()},${w()}`)}${w()}]`;
    return `{${w()}${n.v.map(([k, x]) => `${quote(k, seed++)}${w()}:${w()}${render(x, ws, seed++)}`).join(`${w()},${w()}`)}${w()}}`;
  };
  // What is expected: each number's text, and everything else as JSON.parse and JSON.stringify make it
  // (the last of duplicate keys, in the first one's place; integer-like keys first, ascending).
  const expected = (n: Tree): string => {
    if (n.t === 'n' || n.t === 'l') return n.v;
    if (n.t === 's') return JSON.stringify(n.v);
    if (n.t === 'a') return `[${n.v.map(expected).join(',')}]`;
    const o: Record<string, string> = {};
    for (const [k, x] of n.v) Object.defineProperty(o, k, { value: expected(x), enumerable: true, writable: true, configurable: true });
    return `{${Object.entries(o).map(([k, x]) => `${JSON.stringify(k)}:${x}`).join(',')}}`;
  };
  const jsonLines = { contentType: 'application/jsonlines', splitType: 'Line', assembleWith: 'Line' };
  const filter = compileDataProcessing({ inputFilter: '$.v', outputFilter: '$.v' }, jsonLines)!;
  const join = compileDataProcessing({ joinSource: 'Input' }, jsonLines)!;
  fc.assert(
    fc.property(tree, fc.array(fc.stringMatching(/^[ \t\n\r]{0,3}$/), { minLength: 1, maxLength: 4 }), fc.nat(), (t, ws, seed) => {
      const text = render(t, ws, seed);
      const want = expected(t);
      assert.equal(filter.filterInput(b(`{"v":${ws[0]}${text}}\n`)).toString(), `${want}\n`);
      assert.equal(filter.finish(b('{}'), b(`{${ws[0]}"v":${text}${ws[0]}}`)).toString(), want);
      assert.equal(join.finish(b(`[${text}]\r\n`), b(text)).toString(), `{"SageMakerInput":[${want}],"SageMakerOutput":${want}}`);
    }),
    { numRuns: 1000 },
  );
});

test('a JSON record or answer after a UTF-8 byte order mark (the first line of a file a Windows tool wrote) is read without it, as JSON parsers may; not failed as invalid JSON', () => {
  const jsonLines = { contentType: 'application/jsonlines', splitType: 'Line', assembleWith: 'Line' };
  const dp = compileDataProcessing({ inputFilter: '$.f', joinSource: 'Input', outputFilter: "$['id','SageMakerOutput']" }, jsonLines)!;
  assert.equal(dp.filterInput(b('\ufeff{"id":1,"f":[1.0,2]}\r\n')).toString(), '[1.0,2]\r\n');
  assert.equal(dp.finish(b('\ufeff{"id":1,"f":[1.0,2]}\n'), b('\ufeff{"p":0.5}')).toString(), '{"id":1,"SageMakerOutput":{"p":0.5}}');
  assert.equal(withInferenceId(b('\ufeff{"p":0.5}'), 'json', 'ID', 'T').toString(), '{"p":0.5,"SageMakerInferenceId":"ID","SageMakerInferenceTime":"T"}');
  // Only before the value: inside a string it is text, and a second one is no JSON.
  assert.equal(dp.finish(b('{"id":"\ufeff"}'), b('1')).toString(), '{"id":"\ufeff","SageMakerOutput":1}');
  assert.throws(() => dp.filterInput(b('\ufeff\ufeff{"f":1}')), (e: unknown) => e instanceof RecordProcessingError && e.message === 'the record is not valid JSON');
});

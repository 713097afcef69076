import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileMetricDefinitions, MetricDefinitionsCompiler, metricValue, TrainingMetrics } from './training-metrics.js';

test("compileMetricDefinitions takes the value from Python's first group, which JavaScript numbers after an atomic group or possessive quantifier before it", () => {
  const [d] = compileMetricDefinitions([{ Name: 'v', Regex: '(?>[a-z]+)=(\\d+) [a-z]++ (?P<x>\\w+)' }]);
  const m = new RegExp(d!.source, d!.flags).exec('loss=42 and 7');
  assert.equal(d!.group, 2);
  assert.equal(m?.[d!.group], '42');
});

test('compileMetricDefinitions refuses a regex JavaScript cannot compile and one without a capturing group, naming the definition', () => {
  assert.throws(
    () => compileMetricDefinitions([{ Name: 'ok', Regex: 'a=(\\d)' }, { Name: 'open', Regex: 'loss=([0-9]+' }]),
    (err: Error) => err.name === 'ValidationException' && /MetricDefinitions\[1\] \(open\).*cannot be run by the local SageMaker/.test(err.message),
  );
  assert.throws(
    () => compileMetricDefinitions([{ Name: 'bare', Regex: 'loss=\\S+' }]),
    (err: Error) => /MetricDefinitions\[0\] \(bare\).*no capturing group/.test(err.message),
  );
  // A non-capturing or named group counts as it does in Python: only the latter captures.
  assert.throws(() => compileMetricDefinitions([{ Name: 'nc', Regex: 'loss=(?:\\S+)' }]), /no capturing group/);
  assert.equal(compileMetricDefinitions([{ Name: 'named', Regex: 'loss=(?P<l>\\S+)' }]).length, 1);
  assert.deepEqual(compileMetricDefinitions(undefined), []);
});

test('any Regex of up to 500 characters is compiled, to a RegExp the worker can build, or refused with a ValidationException', () => {
  const regexChar = fc.constantFrom(...'()[]{}?*+|\\^$.-:#<>=!,PaxisumdwbBAZN01234567 \n\té٣'.split(''));
  fc.assert(
    fc.property(fc.array(regexChar, { maxLength: 500 }).map((cs) => cs.join('')), (Regex) => {
      let compiled: ReturnType<typeof compileMetricDefinitions>;
      try {
        compiled = compileMetricDefinitions([{ Name: 'm', Regex }]);
      } catch (err) {
        assert.equal((err as Error).name, 'ValidationException', `${Regex}: ${(err as Error).message}`);
        return;
      }
      const [d] = compiled;
      assert.ok(new RegExp(d!.source, `${d!.flags}g`) instanceof RegExp);
    }),
    { numRuns: 300 },
  );
});

test('metricValue takes a decimal number, surrounding whitespace allowed, and skips anything else', () => {
  assert.equal(metricValue(' 0.5 '), 0.5);
  assert.equal(metricValue('16.020744'), 16.020744);
  assert.equal(metricValue('-2.'), -2);
  assert.equal(metricValue('+.5e-3'), 0.0005);
  assert.equal(metricValue('7'), 7);
  for (const text of ['', 'dog', 'nan', 'inf', '-Infinity', '0x10', '1,000', '1e999', '0.5;', '.', '1.2.3']) assert.equal(metricValue(text), undefined, text);
});

test("metricValue reads what Python's float() reads: digits of any script, _ between digits, Unicode whitespace around", () => {
  // Each as CPython 3.11's float() reads it.
  const floats: Array<[string, number | undefined]> = [
    ['٣.٥', 3.5],
    ['１２', 12],
    ['𝟙𝟚', 12],
    ['𝟿', 9],
    ['𝟘', 0],
    ['٣e٢', 300],
    ['1_000', 1000],
    ['1e1_0', 1e10],
    ['\x851\xa0', 1],
    ['\u30001', 1],
    ['1__0', undefined],
    ['_1', undefined],
    ['1_', undefined],
    ['1_.5', undefined],
    ['1._5', undefined],
    ['\ufeff1', undefined],
    ['\x1c1', undefined],
    ['²', undefined],
  ];
  for (const [text, value] of floats) assert.equal(metricValue(text), value, JSON.stringify(text));
});

test('TrainingMetrics matches the lines given before close() and none after, so no worker outlives the job', async () => {
  const definitions = compileMetricDefinitions([{ Name: 'loss', Regex: 'loss=(\\S+)' }]);
  const m = new TrainingMetrics({ jobName: 'j', definitions });
  m.line('loss=0.5', 1000);
  m.line('loss=dog', 2000);
  await m.close();
  assert.deepEqual([...m.final.values()], [{ name: 'loss', value: 0.5, at: 1000 }]);
  // A process the entry point left behind may still print once the job has ended.
  m.line('loss=0.25', 3000);
  await m.close();
  assert.deepEqual([...m.final.values()], [{ name: 'loss', value: 0.5, at: 1000 }]);
});

test('MetricDefinitionsCompiler answers as compileMetricDefinitions does, from another thread: its answer comes as a message, never within the calling task', async () => {
  const compiler = new MetricDefinitionsCompiler();
  try {
    // Python's Unicode \b is four \p{L}\p{N} classes in JavaScript, which V8 builds one by one as it parses: the slow kind.
    const definitions = [
      { Name: 'loss', Regex: '\\bloss=(\\d+(?:\\.\\d+)?)\\b' },
      { Name: 'acc', Regex: '(?i)\\bacc(?:uracy)?\\s*[:=]\\s*(\\S+)' },
    ];
    let answered = false;
    const compiling = compiler.compile(definitions).then((compiled) => {
      answered = true;
      return compiled;
    });
    // Compiled on this thread (even inside an async function), the answer would be there after a few microtasks.
    for (let i = 0; i < 20; i++) await Promise.resolve();
    assert.equal(answered, false);
    assert.deepEqual(await compiling, compileMetricDefinitions(definitions));
    assert.deepEqual(await compiler.compile(undefined), []);
    const bad = [{ Name: 'ok', Regex: 'a=(\\d)' }, { Name: 'open', Regex: 'loss=([0-9]+' }];
    await assert.rejects(compiler.compile(bad), (err: Error) => {
      assert.throws(() => compileMetricDefinitions(bad), { name: err.name, message: err.message });
      return err.name === 'ValidationException' && /MetricDefinitions\[1\] \(open\)/.test(err.message);
    });
    // A compile the worker was ended before answering is rejected, not compiled on this thread, which would hold the stop.
    const answer = assert.rejects(compiler.compile([{ Name: 'loss', Regex: 'loss=(\\S+)' }]), { message: 'The MetricDefinitions compiler was stopped before it answered.' });
    await compiler.stop();
    await answer;
  } finally {
    await compiler.stop();
  }
});

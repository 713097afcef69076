import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileMetricDefinitions, metricValue, TrainingMetrics, translatePythonRegex } from './training-metrics.js';

test('Python regex syntax AWS examples may use is translated to JavaScript: named groups and their references, \\A and \\Z, comments, a leading ] in a class, leading (?i)/(?s)', () => {
  assert.deepEqual(translatePythonRegex('(?P<v>\\d+) again (?P=v)'), { source: '(?<v>\\d+) again \\k<v>', flags: '' });
  assert.deepEqual(translatePythonRegex('\\Aloss=(\\d+)\\Z'), { source: '^loss=(\\d+)$', flags: '' });
  // Escaped backslashes and class contents are left alone.
  assert.deepEqual(translatePythonRegex('\\\\A[\\A(?P<x>]'), { source: '\\\\A[\\A(?P<x>]', flags: '' });
  assert.deepEqual(translatePythonRegex('[]x](\\d)[^]y]'), { source: '[\\]x](\\d)[^\\]y]', flags: '' });
  assert.deepEqual(translatePythonRegex('(?#the loss)loss=(\\S+)'), { source: 'loss=(\\S+)', flags: '' });
  assert.deepEqual(translatePythonRegex('(?ims)LOSS=(.+)'), { source: 'LOSS=(.+)', flags: 'is' });
  assert.throws(() => translatePythonRegex('(?x)loss = (\\S+)'), /\(\?x\)/);
  const [d] = compileMetricDefinitions([{ Name: 'v', Regex: '(?i)Valid_error=(?P<v>\\S+?);' }]);
  assert.equal(new RegExp(d!.source, d!.flags).exec('VALID_ERROR=0.25;')?.[1], '0.25');
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

test('metricValue takes a decimal number, surrounding whitespace allowed, and skips anything else', () => {
  assert.equal(metricValue(' 0.5 '), 0.5);
  assert.equal(metricValue('16.020744'), 16.020744);
  assert.equal(metricValue('-2.'), -2);
  assert.equal(metricValue('+.5e-3'), 0.0005);
  assert.equal(metricValue('7'), 7);
  for (const text of ['', 'dog', 'nan', 'inf', '-Infinity', '0x10', '1,000', '1e999', '0.5;', '.', '1.2.3']) assert.equal(metricValue(text), undefined, text);
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

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unhandledRejectionLogger } from './unhandled-rejection.js';

/** A logger that keeps what it is given, at info level unless `debug`. */
function recordingLog(debug = false): { log: Parameters<typeof unhandledRejectionLogger>[0]; lines: [string, Record<string, unknown>, string | undefined][] } {
  const lines: [string, Record<string, unknown>, string | undefined][] = [];
  const at = (level: string) => (obj: object | string, msg?: string) => void lines.push([level, obj as Record<string, unknown>, msg]);
  return { log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), isLevelEnabled: (level) => debug || level !== 'debug' }, lines };
}

test('a rejection nothing handled is one error line with ERR_USER_CODE, its reason and stack; past 10 a second, the rest are one count', () => {
  const { log, lines } = recordingLog();
  const clock = { t: 0 };
  const onRejection = unhandledRejectionLogger(log, 'the worker process', () => clock.t);
  for (let i = 0; i < 25; i++) onRejection(new Error(`push ${i} failed`));
  const errors = lines.filter(([level]) => level === 'error');
  assert.equal(errors.length, 10, 'a handler that leaves a rejection per request writes 10 lines a second, not one per request');
  assert.equal(errors[0]![1]['code'], 'ERR_USER_CODE');
  assert.equal(errors[0]![1]['reason'], 'push 0 failed');
  assert.match(String(errors[0]![1]['stack']), /^Error: push 0 failed\n {4}at /);
  assert.match(errors[0]![2]!, /the worker process keeps serving$/);
  clock.t = 1000;
  onRejection('a string');
  assert.deepEqual(
    lines.filter(([level]) => level === 'warn').map(([, obj, msg]) => [obj, msg]),
    [[{ code: 'ERR_USER_CODE', notLogged: 15 }, '15 more promise rejections with nothing awaiting or catching them in the last 1 s were not logged one by one']],
  );
  assert.equal(lines.at(-1)![1]['reason'], 'a string');
});

test('at debug level every rejection is logged', () => {
  const { log, lines } = recordingLog(true);
  const onRejection = unhandledRejectionLogger(log, 'the inference thread', () => 0);
  for (let i = 0; i < 25; i++) onRejection(new Error('x'));
  assert.equal(lines.filter(([level]) => level === 'error').length, 25);
});

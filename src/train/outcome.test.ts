import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeScriptFailure } from './outcome.js';

test('a failure reason shows a progress line redrawn with CR as its last redraw, and CRLF line ends as line ends', () => {
  const progress = Array.from({ length: 200 }, (_, i) => `epoch 3 ${i / 2}%`).join('\r');
  // Killed mid-epoch (no error line): the summary is the bar as a terminal last showed it, not 200 redraws.
  assert.equal(describeScriptFailure('ExecuteUserScriptError: "node train.mjs" ended with signal SIGKILL', `loading\r\n${progress}`), [
    'ExecuteUserScriptError: "node train.mjs" ended with signal SIGKILL: epoch 3 99.5%',
    '--- last lines of stderr ---',
    'loading',
    'epoch 3 99.5%',
    '',
  ].join('\n'));
  const reason = describeScriptFailure('ExecuteUserScriptError: "node train.mjs" ended with exit code 1', `${progress}\r\nError: out of memory\r\n  at train (train.mjs:3:9)\r\n`);
  assert.ok(!reason.includes('\r'), JSON.stringify(reason));
  assert.equal(reason.split('\n')[0], 'ExecuteUserScriptError: "node train.mjs" ended with exit code 1: Error: out of memory');
  assert.match(reason, /\nepoch 3 99\.5%\nError: out of memory\n {2}at train \(train\.mjs:3:9\)\n$/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { groupEnded, groupRunning } from './process-group.js';
import { until } from '../../test/helpers/until.js';

const procState = (pid: number): string | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
};

test('groupRunning: a group with a running process is running; one whose processes ended is not, nor one left with only zombies nobody reaps', { skip: !existsSync('/proc/self/stat') && 'no /proc' }, async (t) => {
  const leader = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' });
  t.after(() => leader.kill('SIGKILL'));
  await once(leader, 'spawn');
  assert.equal(groupRunning(leader.pid!), true);
  leader.kill('SIGKILL');
  await once(leader, 'exit');
  assert.equal(groupRunning(leader.pid!), false);

  // As PID 1 of a container smkit leaves an orphan that ended a zombie in its group: `sleep 0.2`
  // gets a group of its own (set -m), and the `sleep 30` bash becomes never waits for it.
  const parent = spawn('bash', ['-c', 'set -m; sleep 0.2 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.after(() => parent.kill('SIGKILL'));
  const [line] = (await once(parent.stdout, 'data')) as [Buffer];
  const zombie = Number(String(line).trim());
  await until('the background sleep to end, unreaped', () => procState(zombie) === 'Z');
  process.kill(-zombie, 0); // the group is there, so kill() alone would say it runs
  assert.equal(groupRunning(zombie), false);
});

test('groupEnded resolves once the group has ended, and never when aborted first', { skip: !existsSync('/proc/self/stat') && 'no /proc' }, async (t) => {
  const leader = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' });
  t.after(() => leader.kill('SIGKILL'));
  await once(leader, 'spawn');
  const aborted = new AbortController();
  let settled = false;
  void groupEnded(leader.pid!, aborted.signal, 10).then(() => (settled = true));
  aborted.abort();
  const ended = groupEnded(leader.pid!, new AbortController().signal, 10);
  leader.kill('SIGKILL');
  await ended;
  assert.equal(settled, false, 'an aborted wait does not resolve');
  // An ended group: at once, not at the first poll.
  const first = await Promise.race([groupEnded(leader.pid!, new AbortController().signal, 10).then(() => 'ended'), new Promise((r) => setImmediate(() => r('polled')))]);
  assert.equal(first, 'ended');
});

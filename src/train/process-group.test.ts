import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { groupEnded, groupRunning, killMarked } from './process-group.js';
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

test('killMarked ends the processes whose environment holds name=value exactly, and no other', { skip: !existsSync('/proc/self/environ') && 'no /proc' }, async (t) => {
  const value = `v${process.pid}-${Date.now()}`;
  const start = (env: Record<string, string>) => {
    const child = spawn('sleep', ['60'], { env: { PATH: process.env['PATH'] ?? '', ...env }, detached: true, stdio: 'ignore' });
    t.after(() => child.kill('SIGKILL'));
    return child;
  };
  const marked = start({ A: '1', SMKIT_TEST_MARK: value, B: '2' });
  const others = [start({}), start({ XSMKIT_TEST_MARK: value }), start({ SMKIT_TEST_MARK: `${value}0` }), start({ OTHER: `SMKIT_TEST_MARK=${value}` })];
  await Promise.all([marked, ...others].map((c) => once(c, 'spawn')));
  // Its environment is there once it has exec'd sleep: until then it is node's copy, without the variable's change.
  await until('the marked process to run sleep', () => readFileSync(`/proc/${marked.pid}/environ`).includes(`SMKIT_TEST_MARK=${value}\0`));
  const exited = once(marked, 'exit');
  assert.deepEqual(killMarked('SMKIT_TEST_MARK', value), [marked.pid]);
  // The others were not signalled (killMarked returns every pid it signalled).
  assert.deepEqual(await exited, [null, 'SIGKILL']);
});

/** Whether this machine lets an unprivileged run make a user and pid namespace (unshare(1), Linux with user namespaces on). */
const canUnshare = (): boolean => spawnSync('unshare', ['--user', '--map-root-user', '--pid', '--fork', 'true'], { stdio: 'ignore' }).status === 0;

test('with the /proc of another pid namespace (unshare --pid without --mount-proc), killMarked kills nothing and groupRunning goes by whether the group exists: its pids name other processes', { skip: (!existsSync('/proc/self/environ') || !canUnshare()) && 'no /proc or no unshare' }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-pidns-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'in-namespace.mjs');
  // Run as PID 1 of a new pid namespace, with the /proc of the one outside: a marked process is
  // found there under its outer pid, and a process of the namespace gets that pid (ns_last_pid),
  // which is the one kill() would reach. Everything in the namespace ends when its PID 1 exits.
  writeFileSync(
    script,
    `import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
const { killMarked, groupRunning } = await import(process.argv[2]);
const marked = spawn('sleep', ['60'], { env: { PATH: process.env.PATH, SMKIT_TEST_MARK: 'x' }, detached: true, stdio: 'ignore' });
await once(marked, 'spawn');
let outer;
while (outer === undefined) {
  for (const e of readdirSync('/proc').filter((e) => /^\\d+$/.test(e))) {
    try { if (readFileSync('/proc/' + e + '/environ').includes('SMKIT_TEST_MARK=x\\0')) outer = Number(e); } catch {}
  }
}
let decoy;
for (let i = 0; i < 5 && decoy?.pid !== outer; i++) {
  writeFileSync('/proc/sys/kernel/ns_last_pid', String(outer - 1));
  decoy = spawn('sleep', ['60'], { stdio: 'ignore' });
  await once(decoy, 'spawn');
}
process.stdout.write(JSON.stringify({ self: process.pid, outer, decoy: decoy.pid, running: groupRunning(marked.pid), killed: killMarked('SMKIT_TEST_MARK', 'x') }));
process.exit(0);
`,
  );
  const moduleUrl = new URL('./process-group.js', import.meta.url).href;
  const run = spawnSync('unshare', ['--user', '--map-root-user', '--pid', '--fork', process.execPath, script, moduleUrl], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, run.stderr);
  const seen = JSON.parse(run.stdout) as { self: number; outer: number; decoy: number; running: boolean; killed: number[] };
  assert.equal(seen.self, 1, 'PID 1 of its namespace');
  assert.equal(seen.decoy, seen.outer, 'the decoy has the pid the marked process has in /proc');
  assert.deepEqual(seen.killed, [], 'kill(outer pid) would have killed the decoy');
  assert.equal(seen.running, true, 'the marked process runs in its group');
});

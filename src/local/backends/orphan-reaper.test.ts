// The reaper of what a process started: real processes, a stand-in container engine, and real folders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDirForSync } from '../../../test/helpers/temp-dir.js';
import { until } from '../../../test/helpers/until.js';
import { processAlive } from '../../../test/helpers/process-alive.js';

const REAPER = new URL('./orphan-reaper.js', import.meta.url).href;


/** How many live processes the process group `pgid` has (from /proc; zombies left out). */
function groupSize(pgid: number): number {
  return readdirSync('/proc').filter((entry) => {
    try {
      // After the command name (which may hold spaces): field 3 the state, field 5 the process group.
      const fields = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
      return fields[0] !== 'Z' && Number(fields[2]) === pgid;
    } catch {
      return false;
    }
  }).length;
}

/**
 * Runs `body` (module code with `reaper` imported and `args` parsed from argv[2]) as an owner
 * process; resolves its first stdout line, a way to kill it, and a promise of its stderr that
 * settles once the owner and its reaper (which shares the owner's stderr) are both gone.
 */
function owner(dir: string, body: string, args: unknown) {
  const script = join(dir, `owner-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(script, `const reaper = await import(${JSON.stringify(REAPER)});\nconst args = JSON.parse(process.argv[2]);\n${body}\n`);
  const child = spawn(process.execPath, [script, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const closed = new Promise<string>((done) => child.once('close', () => done(err)));
  const line = until('the owner to print its line', () => out.includes('\n') && out.split('\n')[0], { timeoutMs: 30_000, intervalMs: 20, detail: () => err });
  return { line, closed, kill: (signal: NodeJS.Signals) => child.kill(signal) };
}

/** Spawns a detached idle Node process (a group leader) that starts one more in its group; prints both ids. */
const SPAWN_GROUP = `
const { spawn } = await import('node:child_process');
const leader = spawn(process.execPath, ['-e', "require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }); setInterval(() => {}, 1000)"], { detached: true, stdio: 'ignore' });
leader.unref();
`;

test('an owner killed with SIGKILL: its process group is stopped, its container removed with the engine, then its folder removed', async (t) => {
  const dir = tempDirForSync(t, 'smkit-reaper-');
  const folder = join(dir, 'work');
  mkdirSync(join(folder, 'logs'), { recursive: true });
  // A stand-in engine: records what it is asked to do.
  const engine = join(dir, 'engine');
  writeFileSync(engine, `#!/bin/sh\necho "$@" >> ${JSON.stringify(join(dir, 'engine.log'))}\n`);
  chmodSync(engine, 0o755);
  const o = owner(
    dir,
    `${SPAWN_GROUP}
// A folder tracked before any process: handed to the reaper the process starts.
reaper.trackUntilReleased({ kind: 'folder', path: args.folder });
reaper.trackChildProcess(leader.pid, true);
reaper.trackUntilReleased({ kind: 'container', engine: args.engine, name: 'smkit-ep-AllTraffic-primary-abc123' });
// Released in time: left alone.
reaper.trackUntilReleased({ kind: 'container', engine: args.engine, name: 'stopped-already' })();
console.log(leader.pid);
setInterval(() => {}, 1000);`,
    { engine, folder },
  );
  const leader = Number(await o.line);
  t.after(() => {
    if (processAlive(-leader)) process.kill(-leader, 'SIGKILL');
  });
  // The leader has started the process that shares its group: otherwise only the leader would be checked.
  await until('the leader to start its second process', () => groupSize(leader) === 2, { timeoutMs: 30_000, intervalMs: 20 });
  o.kill('SIGKILL');
  const stderr = await o.closed;
  assert.equal(processAlive(-leader), false, 'the leader and the process it started are gone');
  assert.equal(readFileSync(join(dir, 'engine.log'), 'utf8'), 'rm -f smkit-ep-AllTraffic-primary-abc123\n');
  assert.equal(existsSync(folder), false);
  assert.match(stderr, /^smkit: process \d+ ended without stopping what it started; stopping 1 process\(es\), removing 1 container\(s\) and 1 folder\(s\)\n$/);
});

test('an owner that exits: what it released is left alone, and a process id now held by another process is not signalled', async (t) => {
  const dir = tempDirForSync(t, 'smkit-reaper-');
  const folder = join(dir, 'kept');
  mkdirSync(folder);
  // A process the owner did not start, tracked under a start time that is not its own: as if its
  // id had been given to it after the tracked process ended.
  const bystander = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.after(() => bystander.kill('SIGKILL'));
  const o = owner(
    dir,
    `${SPAWN_GROUP}
reaper.trackChildProcess(leader.pid, true)();
reaper.trackUntilReleased({ kind: 'folder', path: args.folder })();
reaper.trackUntilReleased({ kind: 'process', pid: args.bystander, group: false, startTime: 'not-its-start-time' });
console.log(leader.pid);`,
    { folder, bystander: bystander.pid },
  );
  const leader = Number(await o.line);
  t.after(() => {
    if (processAlive(-leader)) process.kill(-leader, 'SIGKILL');
  });
  const stderr = await o.closed;
  assert.match(stderr, /stopping 0 process\(es\), removing 0 container\(s\) and 0 folder\(s\)/);
  assert.ok(processAlive(-leader), 'a released process group is left running');
  assert.ok(processAlive(bystander.pid!), 'a process whose start time differs is not signalled');
  assert.ok(existsSync(folder), 'a released folder is kept');
});

test('an owner that released everything: its reaper ends without a word', async (t) => {
  const dir = tempDirForSync(t, 'smkit-reaper-');
  const o = owner(dir, `${SPAWN_GROUP}\nreaper.trackChildProcess(leader.pid, true)();\nprocess.kill(-leader.pid, 'SIGKILL');\nconsole.log('done');`, {});
  assert.equal(await o.line, 'done');
  assert.equal(await o.closed, '');
});

test('an owner that tracked only folders (none with startsReaper) starts no reaper (they are left if it is killed)', async (t) => {
  const dir = tempDirForSync(t, 'smkit-reaper-');
  const folder = join(dir, 'work');
  mkdirSync(folder);
  const o = owner(dir, `reaper.trackUntilReleased({ kind: 'folder', path: args.folder });\nconsole.log('done');\nsetInterval(() => {}, 1000);`, { folder });
  assert.equal(await o.line, 'done');
  o.kill('SIGKILL');
  assert.equal(await o.closed, '');
  assert.ok(existsSync(folder));
});

test('a folder tracked with startsReaper (as a local SageMaker\'s work folder is) starts the reaper, which removes it and the folders tracked before it', async (t) => {
  const dir = tempDirForSync(t, 'smkit-reaper-');
  const [work, downloads] = [join(dir, 'work'), join(dir, 'downloads')];
  for (const folder of [work, downloads]) mkdirSync(folder);
  const o = owner(dir, `reaper.trackUntilReleased({ kind: 'folder', path: args.work });\nreaper.trackUntilReleased({ kind: 'folder', path: args.downloads }, { startsReaper: true });\nconsole.log('done');\nsetInterval(() => {}, 1000);`, { work, downloads });
  assert.equal(await o.line, 'done');
  o.kill('SIGKILL');
  assert.match(await o.closed, /^smkit: process \d+ ended without stopping what it started; stopping 0 process\(es\), removing 0 container\(s\) and 2 folder\(s\)\n$/);
  assert.deepEqual([existsSync(work), existsSync(downloads)], [false, false]);
});

test('a tracked process that outlasts SIGTERM is killed once its own grace has passed', async (t) => {
  const dir = tempDirForSync(t, 'smkit-reaper-');
  const marker = join(dir, 'term');
  const o = owner(
    dir,
    `const { spawn } = await import('node:child_process');
const stubborn = spawn(process.execPath, ['-e', ${JSON.stringify(`process.on('SIGTERM', () => require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'TERM')); setInterval(() => {}, 1000); console.log('ready')`)}], { stdio: ['ignore', 'pipe', 'ignore'] });
stubborn.stdout.once('data', () => {
  reaper.trackChildProcess(stubborn.pid, false, 300);
  console.log(stubborn.pid);
});
setInterval(() => {}, 1000);`,
    {},
  );
  const pid = Number(await o.line);
  t.after(() => {
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  const killedAt = Date.now();
  o.kill('SIGKILL');
  await o.closed;
  await until('the stubborn process to be killed', () => !processAlive(pid), { timeoutMs: 30_000, intervalMs: 50 });
  // Well before the default grace (10 s): its own 300 ms is the one that counted.
  const tookMs = Date.now() - killedAt;
  assert.ok(tookMs < 9_000, `killed ${tookMs} ms after its owner`);
  assert.equal(readFileSync(marker, 'utf8'), 'TERM', 'it was sent SIGTERM first');
});

test("an owner killed after its stderr's reader went away: the reaper still does its work", async (t) => {
  const dir = tempDirForSync(t, 'smkit-reaper-');
  const folder = join(dir, 'work');
  mkdirSync(folder);
  const script = join(dir, 'owner.mjs');
  writeFileSync(script, `const reaper = await import(${JSON.stringify(REAPER)});\n${SPAWN_GROUP}\nreaper.trackChildProcess(leader.pid, true);\nreaper.trackUntilReleased({ kind: 'folder', path: ${JSON.stringify(folder)} });\nconsole.log(leader.pid);\nsetInterval(() => {}, 1000);\n`);
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const leader = Number(await until('the owner to print its line', () => out.includes('\n') && out.split('\n')[0], { timeoutMs: 30_000, intervalMs: 20 }));
  t.after(() => {
    if (processAlive(-leader)) process.kill(-leader, 'SIGKILL');
  });
  await until('the leader to start its second process', () => groupSize(leader) === 2, { timeoutMs: 30_000, intervalMs: 20 });
  // Its line then meets a pipe with no reader (EPIPE), as under `smkit local 2>&1 | tee log` killed whole.
  child.stderr.destroy();
  child.kill('SIGKILL');
  await until('the folder to be removed', () => !existsSync(folder), { timeoutMs: 30_000, intervalMs: 50 });
  await until('the process group to be gone', () => !processAlive(-leader), { timeoutMs: 30_000, intervalMs: 50 });
});

/** Owner code: `reapers()`, the process ids of the owner's reapers (from /proc). */
const REAPERS = `const { readdirSync, readFileSync } = await import('node:fs');
const reapers = () => readdirSync('/proc').filter((e) => {
  try {
    const cmd = readFileSync('/proc/' + e + '/cmdline', 'utf8').split('\\0');
    return cmd.some((a) => a.endsWith('orphan-reaper-process.js')) && cmd.includes(String(process.pid));
  } catch {
    return false;
  }
});`;

test('a reaper killed while the owner runs: another takes its place with all that is tracked, what was written to the dead one included', async (t) => {
  const dir = tempDirForSync(t, 'smkit-reaper-');
  const [first, second] = [join(dir, 'first'), join(dir, 'second')];
  mkdirSync(first);
  mkdirSync(second);
  const o = owner(
    dir,
    `${REAPERS}
// A container (of an engine that is not there) starts the reaper; folders alone would not.
reaper.trackUntilReleased({ kind: 'container', engine: 'smkit-no-such-engine', name: 'c' });
reaper.trackUntilReleased({ kind: 'folder', path: args.first });
const [dead] = reapers();
process.kill(Number(dead), 'SIGKILL');
// Written before this process has seen it die: into a pipe no one reads.
reaper.trackUntilReleased({ kind: 'folder', path: args.second });
for (let now = reapers(); now.length !== 1 || now[0] === dead; now = reapers()) await new Promise((r) => setTimeout(r, 20));
console.log('replaced');
setInterval(() => {}, 1000);`,
    { first, second },
  );
  assert.equal(await o.line, 'replaced');
  o.kill('SIGKILL');
  const stderr = await o.closed;
  assert.match(stderr, /removing 1 container\(s\) and 2 folder\(s\)/);
  assert.equal(existsSync(first) || existsSync(second), false);
});

test('a reaper killed while only a folder tracked with startsReaper keeps it (a local SageMaker downloading into its work folder) is replaced too', async (t) => {
  const dir = tempDirForSync(t, 'smkit-reaper-');
  const downloads = join(dir, 'downloads');
  mkdirSync(downloads);
  const o = owner(
    dir,
    `${REAPERS}
reaper.trackUntilReleased({ kind: 'folder', path: args.downloads }, { startsReaper: true });
const [dead] = reapers();
process.kill(Number(dead), 'SIGKILL');
let replaced = false;
for (const end = Date.now() + 20_000; !replaced && Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
  const now = reapers();
  replaced = now.length === 1 && now[0] !== dead;
}
console.log(replaced ? 'replaced' : 'not replaced');
setInterval(() => {}, 1000);`,
    { downloads },
  );
  t.after(() => o.kill('SIGKILL'));
  assert.equal(await o.line, 'replaced');
  o.kill('SIGKILL');
  assert.match(await o.closed, /removing 0 container\(s\) and 1 folder\(s\)/);
  assert.equal(existsSync(downloads), false);
});

test("the owner's NODE_OPTIONS do not reach the reaper: an --inspect-brk there would hold it until long after the owner ended", async (t) => {
  const dir = tempDirForSync(t, 'smkit-reaper-');
  const folder = join(dir, 'work');
  mkdirSync(folder);
  const o = owner(dir, `process.env.NODE_OPTIONS = '--inspect-brk=127.0.0.1:0';\nreaper.trackUntilReleased({ kind: 'folder', path: args.folder });\nreaper.trackUntilReleased({ kind: 'container', engine: 'smkit-no-such-engine', name: 'c' });\nconsole.log('tracked');`, { folder });
  assert.equal(await o.line, 'tracked');
  await until('the folder to be removed', () => !existsSync(folder), { timeoutMs: 20_000, intervalMs: 50 });
  assert.match(await o.closed, /^smkit: process \d+ ended without stopping what it started; stopping 0 process\(es\), removing 1 container\(s\) and 1 folder\(s\)\n$/);
});

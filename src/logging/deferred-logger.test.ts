import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const MODULE = new URL('./deferred-logger.js', import.meta.url).href;

/** Runs `body` in a fresh Node process with `log` (a DeferredLogger at `info`) and `pinoLoaded()` defined. */
function run(body: string): { lines: Record<string, unknown>[]; stderr: string; status: number | null } {
  const script = `
import { createRequire } from 'node:module';
import { DeferredLogger } from ${JSON.stringify(MODULE)};
const require = createRequire(import.meta.url);
const pinoLoaded = () => Object.keys(require.cache).some((k) => k.endsWith('/pino/pino.js'));
const log = DeferredLogger.create('info', { worker: 7 });
${body}
`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, stderr: r.stderr, status: r.status };
}

test('lines logged before pino loads are held, then written in order with their own times and bindings', () => {
  const { lines, stderr, status } = run(`
const child = log.child({ model: 'a' });
log.debug('dropped: below info');
log.info({ n: 1 }, 'first');
const t1 = Date.now();
while (Date.now() - t1 < 30);
child.warn('second');
console.log(JSON.stringify({ before: pinoLoaded(), info: log.isLevelEnabled('info'), debug: log.isLevelEnabled('debug'), level: log.level }));
log.load();
log.info('third');
console.log(JSON.stringify({ after: pinoLoaded(), debug: child.isLevelEnabled('debug') }));
`);
  assert.equal(status, 0, stderr);
  assert.deepEqual(lines[0], { before: false, info: true, debug: false, level: 'info' });
  const logged = lines.filter((l) => 'msg' in l);
  assert.deepEqual(
    logged.map((l) => [l['msg'], l['level'], l['worker'], l['model'], l['n']]),
    [
      ['first', 'info', 7, undefined, 1],
      ['second', 'warn', 7, 'a', undefined],
      ['third', 'info', 7, undefined, undefined],
    ],
  );
  const [t1, t2] = logged.map((l) => Date.parse(String(l['time'])));
  assert.ok(t2! - t1! >= 25, `a held line keeps the time it was logged at (${t1} → ${t2})`);
  assert.deepEqual(lines.at(-1), { after: true, debug: false });
});

test('an error line loads pino at once and is written after the lines held before it', () => {
  const { lines, status, stderr } = run(`
log.info('held');
log.error({ err: new Error('boom') }, 'failed');
console.log(JSON.stringify({ loaded: pinoLoaded() }));
`);
  assert.equal(status, 0, stderr);
  assert.deepEqual(
    lines.map((l) => l['msg'] ?? l['loaded']),
    ['held', 'failed', true],
  );
  assert.equal((lines[1]!['err'] as { message: string }).message, 'boom', "pino's error serializer applies");
});

test('held lines are written when the process exits: process.exit, or a crash', () => {
  const exited = run(`log.info('before exit'); process.exit(3);`);
  assert.equal(exited.status, 3);
  assert.deepEqual(
    exited.lines.map((l) => l['msg']),
    ['before exit'],
  );
  const crashed = run(`log.info('before crash'); setTimeout(() => { throw new Error('crash at start-up'); }, 1);`);
  assert.notEqual(crashed.status, 0);
  assert.match(crashed.stderr, /crash at start-up/);
  assert.deepEqual(
    crashed.lines.map((l) => l['msg']),
    ['before crash'],
  );
});

test('a silent deferred logger writes nothing and never loads pino', () => {
  const { lines, status, stderr } = run(`
const quiet = DeferredLogger.create('silent');
quiet.error('not written');
quiet.info('not written either');
console.log(JSON.stringify({ loaded: pinoLoaded(), error: quiet.isLevelEnabled('error') }));
`);
  assert.equal(status, 0, stderr);
  assert.deepEqual(lines, [{ loaded: false, error: false }]);
});

test('once pino is loaded, a child asked only isLevelEnabled or given lines below the level builds no pino child', async () => {
  const { DeferredLogger } = await import('./deferred-logger.js');
  const log = DeferredLogger.create('warn', {});
  const real = log.loaded();
  const originalChild = real.child.bind(real);
  let built = 0;
  real.child = ((...args: Parameters<typeof real.child>) => {
    built++;
    return originalChild(...args);
  }) as typeof real.child;
  for (let i = 0; i < 50; i++) {
    const child = log.child({ requestId: String(i) });
    assert.equal(child.isLevelEnabled('debug'), false);
    assert.equal(child.isLevelEnabled('error'), true);
    assert.equal(child.level, 'warn');
    child.debug('not written');
    child.info({ i }, 'not written either');
  }
  assert.equal(built, 0);
  log.child({ requestId: 'x' }).loaded();
  assert.equal(built, 1, 'the spy sees a child that is built');
});

test('loadWithin: held lines are written when the time is up, not only at exit', () => {
  const { lines, stderr, status } = run(`
log.loadWithin(50);
log.info('held');
console.log(JSON.stringify({ early: pinoLoaded() }));
// The timer does not keep the process alive: something else must, for it to fire.
setTimeout(() => console.log(JSON.stringify({ late: pinoLoaded() })), 300);
`);
  assert.equal(status, 0, stderr);
  assert.deepEqual(lines[0], { early: false });
  const late = lines.findIndex((l) => 'late' in l);
  const held = lines.findIndex((l) => l['msg'] === 'held');
  assert.deepEqual(lines[late], { late: true });
  assert.ok(held > 0 && held < late, `the held line is written when the timer fires, before the later check (${JSON.stringify(lines)})`);
});

test('loadGradually: pino loads over many turns of the event loop, then the held lines are written', () => {
  const { lines, stderr, status } = run(`
log.info('held');
let turns = 0;
let counting = true;
const count = () => { turns++; if (counting) setImmediate(count); };
setImmediate(count);
const loading = log.loadGradually();
console.log(JSON.stringify({ early: pinoLoaded() }));
await loading;
counting = false;
const helpers = Object.keys(require.cache).filter((k) => ['pino-abstract-transport', 'split2', 'real-require', 'process-warning'].some((name) => k.includes('/node_modules/' + name + '/')));
console.log(JSON.stringify({ late: pinoLoaded(), turns, helpers }));
log.info('after');
`);
  assert.equal(status, 0, stderr);
  assert.deepEqual(lines[0], { early: false });
  const late = lines.find((l) => 'late' in l)!;
  assert.equal(late['late'], true);
  assert.deepEqual(late['helpers'], [], "pino's transport helpers, which require('pino') does not load, are left out");
  // pino and its dependencies: at least one turn each, where other callbacks ran.
  assert.ok((late['turns'] as number) >= 10, `other callbacks ran while pino loaded (${String(late['turns'])} turns)`);
  assert.deepEqual(
    lines.filter((l) => 'msg' in l).map((l) => l['msg']),
    ['held', 'after'],
  );
});

test("PINO_LAZY_DEPENDENCIES are pino's dependencies that require('pino') does not load", () => {
  const script = `
import { createRequire } from 'node:module';
import { PINO_LAZY_DEPENDENCIES } from ${JSON.stringify(MODULE)};
const require = createRequire(${JSON.stringify(MODULE)});
const manifest = require('pino/package.json');
require('pino');
const loaded = Object.keys(require.cache);
console.log(JSON.stringify({
  lazy: [...PINO_LAZY_DEPENDENCIES],
  declared: Object.keys(manifest.dependencies),
  loaded: [...PINO_LAZY_DEPENDENCIES].filter((name) => loaded.some((k) => k.includes('/node_modules/' + name + '/'))),
}));
`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const { lazy, declared, loaded } = JSON.parse(r.stdout) as { lazy: string[]; declared: string[]; loaded: string[] };
  assert.ok(lazy.length > 0 && lazy.every((name) => declared.includes(name)), `each is a dependency of pino (${lazy.join(', ')} against ${declared.join(', ')})`);
  assert.deepEqual(loaded, [], 'require(pino) loads none of them');
});

/** {@link run} with at most 64 open files, and `exhaust()` / `release()` to take every free descriptor and give them back. */
function runShortOfDescriptors(body: string): { lines: Record<string, unknown>[]; stderr: string; status: number | null } {
  const script = `
import { openSync, closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DeferredLogger } from ${JSON.stringify(MODULE)};
const require = createRequire(import.meta.url);
const pinoLoaded = () => Object.keys(require.cache).some((k) => k.endsWith('/pino/pino.js'));
const log = DeferredLogger.create('info', { worker: 7 });
const taken = [];
const exhaust = () => { try { for (;;) taken.push(openSync('/dev/null', 'r')); } catch (err) { if (err.code !== 'EMFILE') throw err; } };
const release = () => { for (const fd of taken.splice(0)) closeSync(fd); };
${body}
`;
  // POSIX sh sets the limit, then runs Node in its place.
  const r = spawnSync('sh', ['-c', 'ulimit -n 64 && exec "$0" "$@"', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, stderr: r.stderr, status: r.status };
}

test('with no file descriptor free, the load timer does not end the process: lines are written without pino, and pino loads once descriptors are free', { skip: process.platform !== 'linux' }, () => {
  const { lines, status, stderr } = runShortOfDescriptors(`
log.info({ n: 1 }, 'held');
exhaust();
log.loadWithin(0);
// Timers of one delay fire in the order they were set: this runs after the load timer.
await new Promise((r) => setTimeout(r, 0));
const during = pinoLoaded();
log.child({ model: 'a' }).error({ err: new Error('boom') }, 'failed while short of descriptors');
release();
for (const deadline = Date.now() + 30_000; !pinoLoaded(); ) {
  if (Date.now() > deadline) throw new Error('pino was not loaded again once descriptors were free');
  await new Promise((r) => setTimeout(r, 20));
}
log.info('after');
console.log(JSON.stringify({ during }));
`);
  assert.equal(status, 0, stderr);
  const logged = lines.filter((l) => 'msg' in l);
  assert.deepEqual(
    logged.map((l) => [l['msg'], l['level'], l['worker'], l['model'], l['n']]),
    [
      ['held', 'info', 7, undefined, 1],
      ['failed while short of descriptors', 'error', 7, 'a', undefined],
      ['after', 'info', 7, undefined, undefined],
    ],
  );
  assert.equal((logged[1]!['err'] as { message?: string }).message, 'boom');
  assert.deepEqual(lines.at(-1), { during: false });
});

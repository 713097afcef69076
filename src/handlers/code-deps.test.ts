import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tar from 'tar';
import { codeInstallFolder, InstallStopped, prepareCodeDir } from './code-deps.js';
import type { Logger } from '../core/context.js';
import { ToolkitError } from '../errors/catalogue.js';

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/handlers/code-deps');
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A local port nothing listens on: a registry there refuses every connection, as one with no network fails at once. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** A temp dir as TMPDIR and HOME, and npm's registry at `registry`, for one test. */
function isolatedNpm(t: { after(fn: () => void): void }, registry?: string): string {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'smkit-code-deps-'));
  const keys = ['HOME', 'TMPDIR', 'npm_config_cache', 'NPM_CONFIG_CACHE', 'npm_config_registry', 'NPM_CONFIG_REGISTRY'];
  const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
  t.after(() => {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
    rmSync(tmp, { recursive: true, force: true });
  });
  for (const k of keys) delete process.env[k]; // `npm test` sets npm_config_cache for its scripts
  // A file where the home folder should be: ~/.npm cannot be made, as under `docker run --read-only` (root is not stopped by modes).
  writeFileSync(path.join(tmp, 'home'), '');
  process.env['HOME'] = path.join(tmp, 'home');
  process.env['TMPDIR'] = tmp;
  if (registry) process.env['npm_config_registry'] = registry;
  return tmp;
}

test('code/package.json dependencies install when the home folder cannot be written (a read-only root filesystem): npm keeps its cache in the temp dir', async (t) => {
  const tmp = isolatedNpm(t);
  cpSync(FIXTURE, path.join(tmp, 'model'), { recursive: true });
  const codeDir = await prepareCodeDir(path.join(tmp, 'model'), 'auto', silent);
  assert.equal(path.dirname(codeDir), tmp);
  assert.ok(existsSync(path.join(codeDir, 'node_modules', 'greet', 'index.js')));
  const cache = path.join(tmp, `smkit-npm-cache-${process.getuid?.() ?? ''}`.replace(/-$/, ''));
  assert.ok(existsSync(cache), 'npm\'s cache is in the temp dir');
  if (process.getuid) assert.equal(statSync(cache).mode & 0o777, 0o700 & ~process.umask(), 'private to the user');
});

test("an npm cache folder in the temp dir that is not this user's own (writable by others; another user's) is not used: npm installs offline from it first, so packages planted there would run as this user", async (t) => {
  const tmp = isolatedNpm(t);
  const uid = process.getuid?.();
  const variants: { name: string; spoil(dir: string): void }[] = [{ name: 'writable by others', spoil: (dir) => chmodSync(dir, 0o777) }];
  if (uid === 0) variants.push({ name: "another user's", spoil: (dir) => chownSync(dir, 65534, 65534) });
  for (const [i, variant] of variants.entries()) {
    // Under the name this user's cache has, and the one every user's had.
    const planted = [path.join(tmp, `smkit-npm-cache-${uid ?? ''}`.replace(/-$/, '')), path.join(tmp, 'smkit-npm-cache')];
    for (const dir of planted) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'planted'), '');
      variant.spoil(dir);
    }
    const modelDir = path.join(tmp, `model-${i}`);
    cpSync(FIXTURE, modelDir, { recursive: true });
    const codeDir = await prepareCodeDir(modelDir, 'auto', silent);
    assert.ok(existsSync(path.join(codeDir, 'node_modules', 'greet', 'index.js')), variant.name);
    for (const dir of planted) assert.deepEqual(readdirSync(dir), ['planted'], `${variant.name}: npm used ${dir}`);
    assert.deepEqual(readdirSync(tmp).filter((name) => name.startsWith('smkit-npm-cache-tmp-')), [], `${variant.name}: the private cache made instead is removed`);
  }
});

test('the installed copy of code/ is used again while code/ is unchanged, and made again once a file in it is edited (a copy made before the edit would serve the old handler)', async (t) => {
  const tmp = isolatedNpm(t);
  const modelDir = path.join(tmp, 'model');
  cpSync(FIXTURE, modelDir, { recursive: true });
  const installs: unknown[] = [];
  const log: Logger = { ...silent, info: (fields: unknown, message?: string) => void (message?.startsWith('installing') && installs.push(fields)) };
  const first = await prepareCodeDir(modelDir, 'auto', log);
  assert.equal(await prepareCodeDir(modelDir, 'auto', log), first);
  assert.equal(installs.length, 1, 'the second start installs nothing');
  const edited = "export const predictFn = () => 'edited';\n";
  writeFileSync(path.join(modelDir, 'code', 'inference.mjs'), edited);
  const second = await prepareCodeDir(modelDir, 'auto', log);
  assert.notEqual(second, first);
  assert.equal(readFileSync(path.join(second, 'inference.mjs'), 'utf8'), edited);
  assert.ok(existsSync(path.join(second, 'node_modules', 'greet', 'index.js')));
  assert.equal(installs.length, 2);
  assert.ok(!existsSync(first), 'the copy made before the edit, which no running server uses, is removed');
});

/** Where this process's in-use records say it runs: its PID namespace. */
function scope(): string {
  let namespace = '';
  try {
    namespace = readlinkSync('/proc/self/ns/pid');
  } catch {
    // not Linux
  }
  return `${namespace}\n`;
}

/** A copy of `copy` named `smkit-code-<model key>-<fingerprint>`, with in-use records for `pids` (written from `where`), made at `time`. */
function fakeCopy(copy: string, modelKey: string, fingerprint: string, pids: number[], time: Date, where = scope()): string {
  const fake = path.join(path.dirname(copy), `smkit-code-${modelKey}-${fingerprint}`);
  cpSync(copy, fake, { recursive: true, verbatimSymlinks: true });
  const records = path.join(fake, '.smkit-in-use');
  rmSync(records, { recursive: true, force: true });
  mkdirSync(records);
  for (const pid of pids) writeFileSync(path.join(records, String(pid)), where);
  utimesSync(fake, time, time);
  return fake;
}

/** Where the first {@link installFixture} keeps its install, for the later ones (made in the run's temp dir, before any test sets TMPDIR). */
const SNAPSHOTS = mkdtempSync(path.join(os.tmpdir(), 'smkit-code-deps-snapshot-'));
after(() => rmSync(SNAPSHOTS, { recursive: true, force: true }));
let snapshot: string | undefined;

/**
 * The installed copy of the fixture's code/ at `modelDir` (a copy of FIXTURE, in the temp dir now
 * set), as a start that installed it leaves it: the first call runs prepareCodeDir (npm), later ones
 * put a copy of that install where prepareCodeDir keeps it, recorded as in use by this process. Each
 * npm run costs about a CPU-second: this is for tests whose subject is what a later start does with
 * the installed copy (the install itself is checked by the tests that call prepareCodeDir first).
 */
async function installFixture(modelDir: string): Promise<string> {
  if (snapshot === undefined) {
    const used = await prepareCodeDir(modelDir, 'auto', silent);
    const copy = path.join(SNAPSHOTS, 'install');
    cpSync(used, copy, { recursive: true, verbatimSymlinks: true });
    snapshot = copy;
    return used;
  }
  const used = codeInstallFolder(path.join(modelDir, 'code'));
  cpSync(snapshot, used, { recursive: true, verbatimSymlinks: true });
  chmodSync(used, lstatSync(snapshot).mode & 0o7777); // the install's mode (mkdtemp: 0700), not the umask's
  return used;
}

/** A model whose code/ is installed (`used`, of model key `key`) in a temp dir of its own, for tests of the removal of earlier copies. */
async function installedModel(t: { after(fn: () => void): void }): Promise<{ tmp: string; modelDir: string; used: string; key: string }> {
  const tmp = isolatedNpm(t);
  const modelDir = path.join(tmp, 'model');
  cpSync(FIXTURE, modelDir, { recursive: true });
  const used = await installFixture(modelDir);
  return { tmp, modelDir, used, key: /^smkit-code-([0-9a-f]{16})-[0-9a-f]{16}$/.exec(path.basename(used))![1]! };
}

test('a start removes the earlier copies of the same code/ that no live process serves from, and keeps those one may, newer ones, other models\' and anything not clearly its own copy', async (t) => {
  const { tmp, modelDir, used, key } = await installedModel(t);
  const otherKey = key === 'f'.repeat(16) ? 'e'.repeat(16) : 'f'.repeat(16);
  const dead = spawnSync(process.execPath, ['-e', '']).pid!; // a process that has exited
  const before = new Date(Date.now() - 3_600_000);
  const unused = fakeCopy(used, key, '0'.repeat(16), [dead], before);
  const ownPidEarlier = fakeCopy(used, key, '1'.repeat(16), [process.pid], before); // a server before this one, with the same pid (a container)
  const live = fakeCopy(used, key, '2'.repeat(16), [dead, process.ppid], before);
  const newer = fakeCopy(used, key, '3'.repeat(16), [dead], new Date(Date.now() + 3_600_000));
  const otherModel = fakeCopy(used, otherKey, '4'.repeat(16), [dead], before);
  const writable = fakeCopy(used, key, '5'.repeat(16), [dead], before);
  chmodSync(writable, 0o777);
  utimesSync(writable, before, before);
  const noRecords = fakeCopy(used, key, '6'.repeat(16), [], before);
  rmSync(path.join(noRecords, '.smkit-in-use'), { recursive: true });
  utimesSync(noRecords, before, before);
  const elsewhere = fakeCopy(used, otherKey, '7'.repeat(16), [dead], before);
  const link = path.join(tmp, `smkit-code-${key}-${'8'.repeat(16)}`);
  symlinkSync(elsewhere, link);
  const file = path.join(tmp, `smkit-code-${key}-${'9'.repeat(16)}`);
  writeFileSync(file, '');
  const movedAside = fakeCopy(used, key, 'a'.repeat(16), [], before);
  renameSync(movedAside, `${movedAside}.removing-${dead}`); // by a start that died while removing it

  assert.equal(await prepareCodeDir(modelDir, 'auto', silent), used);
  const left = readdirSync(tmp).filter((f) => f.startsWith('smkit-code-')).sort();
  const kept = [used, live, newer, otherModel, noRecords, elsewhere, link, file, ...(process.getuid === undefined ? [] : [writable])].map((f) => path.basename(f)).sort();
  assert.deepEqual(left, kept);
  assert.ok(existsSync(path.join(elsewhere, 'node_modules')), 'the link was not followed');
  assert.ok(existsSync(path.join(used, '.smkit-in-use', String(process.pid))), 'the start is recorded in the copy it serves from');
  void unused;
  void ownPidEarlier;
});

test('records made in another PID namespace are kept, whatever the host name (another container sharing the temp dir, whose pids cannot be tested from here); a copy moved aside whose removal was cut short is removed', async (t) => {
  const { tmp, modelDir, used, key } = await installedModel(t);
  const dead = spawnSync(process.execPath, ['-e', '']).pid!; // no process here; in another namespace, maybe a live server
  const before = new Date(Date.now() - 3_600_000);
  const otherContainer = fakeCopy(used, key, '0'.repeat(16), [dead], before, `pid:[1]\nanother-host\n`);
  const otherContainerAside = `${fakeCopy(used, key, '1'.repeat(16), [1], before, `pid:[1]\nanother-host\n`)}.removing-${dead}`;
  renameSync(otherContainerAside.replace(/\.removing-[0-9]+$/, ''), otherContainerAside);
  const samePodContainer = fakeCopy(used, key, '2'.repeat(16), [dead], before, `pid:[1]\n${os.hostname()}\n`);
  const unscoped = fakeCopy(used, key, '3'.repeat(16), [dead], before, '');
  const halfRemoved = fakeCopy(used, key, '4'.repeat(16), [], before);
  rmSync(path.join(halfRemoved, '.smkit-in-use'), { recursive: true });
  renameSync(halfRemoved, `${halfRemoved}.removing-${dead}`); // its removal cut short after the records went
  assert.equal(await prepareCodeDir(modelDir, 'auto', silent), used);
  const left = readdirSync(tmp).filter((f) => f.startsWith('smkit-code-')).sort();
  assert.deepEqual(left, [used, otherContainer, otherContainerAside, samePodContainer, unscoped].map((f) => path.basename(f)).sort());
});

test('a copy left by a start cut short while npm installed into it is removed by a later start once its process is gone; one a live start installs into is kept', async (t) => {
  const { tmp, modelDir, used, key } = await installedModel(t);
  const dead = spawnSync(process.execPath, ['-e', '']).pid!; // a process that has exited
  const before = new Date(Date.now() - 3_600_000);
  const cutShort = `${fakeCopy(used, key, '0'.repeat(16), [dead], before)}-Ab12Cd`;
  renameSync(cutShort.slice(0, -7), cutShort);
  const installing = `${fakeCopy(used, key, '1'.repeat(16), [process.ppid], before)}-Ef34Gh`;
  renameSync(installing.slice(0, -7), installing);
  assert.equal(await prepareCodeDir(modelDir, 'auto', silent), used);
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('smkit-code-')).sort(), [used, installing].map((f) => path.basename(f)).sort());
});

test('a temp dir that cannot hold the install (read-only, missing, under a file) is ERR_CODE_DEPENDENCIES naming it and what to do, before npm runs', async (t) => {
  const tmp = isolatedNpm(t);
  const modelDir = path.join(tmp, 'model');
  cpSync(FIXTURE, modelDir, { recursive: true });
  const unusable = path.join(tmp, 'home', 'tmp'); // 'home' is a file: ENOTDIR, as EROFS under a read-only root (root is not stopped by modes)
  process.env['TMPDIR'] = unusable;
  await assert.rejects(
    () => prepareCodeDir(modelDir, 'auto', silent),
    (err: unknown) =>
      err instanceof ToolkitError &&
      err.code === 'ERR_CODE_DEPENDENCIES' &&
      err.message.startsWith(`cannot make a folder in the temp dir ${unusable} to install code/package.json's dependencies in (ENOTDIR): set TMPDIR to a writable folder`) &&
      err.message.endsWith('set SMKIT_INSTALL_CODE_DEPS=never.'),
  );
});

test('a start serves from the installed copy when it cannot record itself there (a full or read-only temp dir), not installing again each start', async (t) => {
  const { tmp, modelDir, used: copy } = await installedModel(t);
  const installs: unknown[] = [];
  const warnings: string[] = [];
  const log: Logger = { ...silent, info: (fields: unknown, message?: string) => void (message?.startsWith('installing') && installs.push(fields)), warn: (_fields: unknown, message?: string) => void warnings.push(message ?? '') };
  // A folder where this process's record goes: writing it fails, as it would in a full temp dir (root is not stopped by modes).
  const record = path.join(copy, '.smkit-in-use', String(process.pid));
  rmSync(record);
  mkdirSync(record);
  assert.equal(await prepareCodeDir(modelDir, 'auto', log), copy);
  assert.equal(installs.length, 0, 'no second install');
  assert.ok(warnings.some((w) => w.startsWith('could not record this server in the copy of code/')), warnings.join('\n'));
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('smkit-code-')), [path.basename(copy)], 'no other copy was made');
});

test('an edit that keeps the size and the modification time (an archive extracted again: smkit package gives every file one fixed time) still makes a new copy', async (t) => {
  const tmp = isolatedNpm(t);
  const modelDir = path.join(tmp, 'model');
  cpSync(FIXTURE, modelDir, { recursive: true });
  const handler = path.join(modelDir, 'code', 'inference.mjs');
  const fixed = new Date('2000-01-01T00:00:00Z');
  utimesSync(handler, fixed, fixed);
  const first = await installFixture(modelDir);
  assert.equal(await prepareCodeDir(modelDir, 'auto', silent), first, 'the unedited code/ is served from its install');
  const before = readFileSync(handler, 'utf8');
  const edited = before.replace('greet(', 'greeT(').replace('import greet', 'import greeT');
  assert.equal(edited.length, before.length);
  writeFileSync(handler, edited);
  utimesSync(handler, fixed, fixed);
  assert.equal(statSync(handler).mtimeMs, fixed.getTime());
  const second = await prepareCodeDir(modelDir, 'auto', silent);
  assert.notEqual(second, first);
  assert.equal(readFileSync(path.join(second, 'inference.mjs'), 'utf8'), edited);
});

test("a folder under the install's name that is not this user's own finished install (writable by others; another user's) is not used: its code would run as this user", async (t) => {
  const variants: { name: string; spoil(dir: string): void }[] = [{ name: 'writable by others', spoil: (dir) => chmodSync(dir, 0o777) }];
  if (process.getuid?.() === 0) variants.push({ name: "another user's", spoil: (dir) => chownSync(dir, 65534, 65534) });
  const tmp = isolatedNpm(t);
  for (const [i, variant] of variants.entries()) {
    const modelDir = path.join(tmp, `model-${i}`);
    cpSync(FIXTURE, modelDir, { recursive: true });
    const planted = codeInstallFolder(path.join(modelDir, 'code'));
    mkdirSync(path.join(planted, 'node_modules', 'greet'), { recursive: true });
    writeFileSync(path.join(planted, 'node_modules', 'greet', 'index.js'), 'planted');
    variant.spoil(planted);
    const warnings: string[] = [];
    const codeDir = await prepareCodeDir(modelDir, 'auto', { ...silent, warn: (_: unknown, message?: string) => void warnings.push(String(message)) });
    assert.notEqual(codeDir, planted, variant.name);
    assert.notEqual(readFileSync(path.join(codeDir, 'node_modules', 'greet', 'index.js'), 'utf8'), 'planted', variant.name);
    assert.match(warnings.join('\n'), /not this user's own finished install/, variant.name);
  }
});

/** `process.getuid` made to answer `uid` (undefined: none, as on Windows) for one test. */
function fakeUid(t: { after(fn: () => void): void }, uid: number | undefined): void {
  const saved = Object.getOwnPropertyDescriptor(process, 'getuid')!;
  t.after(() => Object.defineProperty(process, 'getuid', saved));
  Object.defineProperty(process, 'getuid', { ...saved, value: uid === undefined ? undefined : () => uid });
}

test('without user ids (Windows), where every folder reads as writable by all, the installed copy is used again, not installed anew and left behind at every start', async (t) => {
  fakeUid(t, undefined);
  const { tmp, modelDir, used: first } = await installedModel(t);
  const installs: unknown[] = [];
  const warnings: string[] = [];
  const log: Logger = { ...silent, info: (fields: unknown) => void installs.push(fields), warn: (_: unknown, message?: string) => void warnings.push(String(message)) };
  chmodSync(first, 0o777); // as Windows reports a folder's mode
  assert.equal(await prepareCodeDir(modelDir, 'auto', log), first);
  assert.deepEqual(installs, [], 'the second start installs nothing');
  assert.deepEqual(warnings, []);
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('smkit-code-')), [path.basename(first)]);
});

test("two users serving the same model each have a copy of their own: one cannot use the other's, and would install again and leave a copy behind at every start", async (t) => {
  const tmp = isolatedNpm(t);
  const codeDir = path.join(tmp, 'model', 'code');
  cpSync(FIXTURE, path.join(tmp, 'model'), { recursive: true });
  fakeUid(t, 1000);
  const first = codeInstallFolder(codeDir);
  process.getuid = () => 1001;
  assert.notEqual(codeInstallFolder(codeDir), first);
});

test('links in code/ stay links in the copy: one to a file in code/ points into the copy (a linked handler finds the installed dependencies), one out of code/ to where it points; a loop or a link to / is not followed', async (t) => {
  const tmp = isolatedNpm(t);
  const modelDir = path.join(tmp, 'model');
  const code = path.join(modelDir, 'code');
  cpSync(FIXTURE, modelDir, { recursive: true });
  mkdirSync(path.join(code, 'lib', 'sub'), { recursive: true });
  renameSync(path.join(code, 'inference.mjs'), path.join(code, 'lib', 'handler.mjs'));
  symlinkSync('lib/handler.mjs', path.join(code, 'inference.mjs'));
  writeFileSync(path.join(modelDir, 'shared.txt'), 'shared');
  symlinkSync('../shared.txt', path.join(code, 'shared.txt'));
  symlinkSync('..', path.join(code, 'lib', 'sub', 'up'));
  symlinkSync('/', path.join(code, 'root'));
  const copy = await prepareCodeDir(modelDir, 'auto', silent);
  assert.equal(readlinkSync(path.join(copy, 'inference.mjs')), 'lib/handler.mjs');
  assert.equal(realpathSync(path.join(copy, 'inference.mjs')), path.join(realpathSync(copy), 'lib', 'handler.mjs'), 'the handler loads from the copy, beside its node_modules');
  assert.equal(readFileSync(path.join(copy, 'shared.txt'), 'utf8'), 'shared');
  assert.equal(readlinkSync(path.join(copy, 'lib', 'sub', 'up')), '..');
  assert.equal(readlinkSync(path.join(copy, 'root')), '/');
});

test('a folder read-only in code/ (modes kept from model.tar.gz) is writable by its owner in the copy: a user other than root could not remove a copy holding it (a failed install, a concurrent start that installed too)', async (t) => {
  const tmp = isolatedNpm(t);
  const modelDir = path.join(tmp, 'model');
  cpSync(FIXTURE, modelDir, { recursive: true });
  const vendor = path.join(modelDir, 'code', 'vendor');
  chmodSync(path.join(vendor, 'greet'), 0o555);
  chmodSync(vendor, 0o555);
  try {
    const copy = await prepareCodeDir(modelDir, 'auto', silent);
    for (const dir of [path.join(copy, 'vendor'), path.join(copy, 'vendor', 'greet')]) assert.equal(statSync(dir).mode & 0o777, 0o755, dir);
  } finally {
    chmodSync(vendor, 0o755); // for the temp dir's removal, as a user other than root
    chmodSync(path.join(vendor, 'greet'), 0o755);
  }
});

test('a folder dependency outside code/ (file:../shared) is ERR_CODE_DEPENDENCIES: installed from the copy in the temp dir, it would be whatever is at <temp dir>/shared, which anyone can put there', async (t) => {
  const tmp = isolatedNpm(t);
  const modelDir = path.join(tmp, 'model');
  for (const [dir, says] of [[path.join(modelDir, 'shared'), 'the model\'s'], [path.join(tmp, 'shared'), 'planted']] as const) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'shared', version: '1.0.0', main: 'index.js' }));
    writeFileSync(path.join(dir, 'index.js'), `module.exports = ${JSON.stringify(says)};\n`);
  }
  for (const spec of ['file:../shared', '../shared']) {
    mkdirSync(path.join(modelDir, 'code'), { recursive: true });
    writeFileSync(path.join(modelDir, 'code', 'package.json'), JSON.stringify({ name: 'm', version: '1.0.0', dependencies: { shared: spec } }));
    await assert.rejects(() => prepareCodeDir(modelDir, 'auto', silent), (err: unknown) => {
      assert.ok(err instanceof ToolkitError, String(err));
      assert.equal(err.code, 'ERR_CODE_DEPENDENCIES');
      assert.match(err.message, new RegExp(`"shared": "${spec.replace(/\./g, '\\.')}", a folder outside code/`));
      return true;
    });
  }
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('smkit-code-')), []);
});

test('a code/package.json that is no object (null, an array), or whose dependencies are no object of names and versions, is ERR_CODE_DEPENDENCIES naming it, before npm runs (null was a TypeError with its stack)', async (t) => {
  const tmp = isolatedNpm(t);
  const modelDir = path.join(tmp, 'model');
  mkdirSync(path.join(modelDir, 'code'), { recursive: true });
  for (const [json, says] of [
    ['null', /holds null, not an object/],
    ['["left-pad"]', /holds an array, not an object/],
    ['{"dependencies": "left-pad"}', /"dependencies" set to the string "left-pad": it must be an object of package names and versions/],
    ['{"dependencies": ["left-pad"]}', /"dependencies" set to an array/],
    ['{"dependencies": {"a": "1.0.0"}, "optionalDependencies": 3}', /"optionalDependencies" set to a number/],
  ] as const) {
    writeFileSync(path.join(modelDir, 'code', 'package.json'), json);
    await assert.rejects(() => prepareCodeDir(modelDir, 'auto', silent), (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_CODE_DEPENDENCIES' && says.test(err.message), json);
  }
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('smkit-code-')), []);
});

test('code/package.json dependencies vendored in code/ (file:) install when the registry cannot be reached', async (t) => {
  const tmp = isolatedNpm(t, `http://127.0.0.1:${await closedPort()}/`);
  cpSync(FIXTURE, path.join(tmp, 'model'), { recursive: true });
  const codeDir = await prepareCodeDir(path.join(tmp, 'model'), 'auto', silent);
  assert.ok(existsSync(path.join(codeDir, 'node_modules', 'greet', 'index.js')));
});

test('code/package.json with only optionalDependencies installs them, as npm install does (they were left out: imports of them failed)', async (t) => {
  const tmp = isolatedNpm(t, `http://127.0.0.1:${await closedPort()}/`);
  const modelDir = path.join(tmp, 'model');
  cpSync(FIXTURE, modelDir, { recursive: true });
  const pkgFile = path.join(modelDir, 'code', 'package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
  writeFileSync(pkgFile, JSON.stringify({ ...pkg, dependencies: undefined, optionalDependencies: pkg.dependencies }));
  const codeDir = await prepareCodeDir(modelDir, 'auto', silent);
  assert.ok(existsSync(path.join(codeDir, 'node_modules', 'greet', 'index.js')), codeDir);
});

/**
 * An npm registry serving one package, `name@1.0.0` (its index.js exports its name), from a worker
 * thread: it keeps answering while a test awaits prepareCodeDir. Resolves to
 * the registry's URL and the paths it was asked for.
 */
async function oneRegistryPackage(t: { after(fn: () => Promise<void>): void }, tmp: string, name: string): Promise<{ url: string; requested: () => Promise<string[]> }> {
  const src = path.join(tmp, 'registry-package');
  mkdirSync(path.join(src, 'package'), { recursive: true });
  writeFileSync(path.join(src, 'package', 'package.json'), JSON.stringify({ name, version: '1.0.0', main: 'index.js' }));
  writeFileSync(path.join(src, 'package', 'index.js'), `module.exports = ${JSON.stringify(name)};\n`);
  const tgz = path.join(tmp, 'registry-package.tgz');
  tar.c({ gzip: true, sync: true, file: tgz, cwd: src, portable: true }, ['package']);
  const worker = new Worker(
    `const http = require('node:http');
     const { createHash } = require('node:crypto');
     const { parentPort, workerData: { name, tgz } } = require('node:worker_threads');
     const body = require('node:fs').readFileSync(tgz);
     const requested = [];
     parentPort.on('message', () => parentPort.postMessage(requested));
     const server = http.createServer((req, res) => {
       requested.push(req.url);
       const base = 'http://127.0.0.1:' + server.address().port;
       if (req.url === '/' + name) {
         res.setHeader('content-type', 'application/json');
         res.end(JSON.stringify({ name, 'dist-tags': { latest: '1.0.0' }, versions: { '1.0.0': { name, version: '1.0.0', dist: { tarball: base + '/' + name + '/-/' + name + '-1.0.0.tgz', shasum: createHash('sha1').update(body).digest('hex') } } } }));
       } else if (req.url === '/' + name + '/-/' + name + '-1.0.0.tgz') res.end(body);
       else { res.statusCode = 404; res.end('{}'); }
     });
     server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));`,
    { eval: true, workerData: { name, tgz } },
  );
  t.after(async () => {
    await worker.terminate();
  });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const requested = () =>
    new Promise<string[]>((resolve) => {
      worker.once('message', resolve);
      worker.postMessage('requested');
    });
  return { url: `http://127.0.0.1:${port}/`, requested };
}

test('optionalDependencies from the registry are installed: the offline install skips one it cannot fetch and exits 0, so the registry is asked next (the import of it failed)', async (t) => {
  const tmp = isolatedNpm(t);
  const registry = await oneRegistryPackage(t, tmp, 'smkit-optional-dep');
  process.env['npm_config_registry'] = registry.url;
  const modelDir = path.join(tmp, 'model');
  cpSync(FIXTURE, modelDir, { recursive: true });
  const pkgFile = path.join(modelDir, 'code', 'package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { dependencies?: Record<string, string> };
  writeFileSync(pkgFile, JSON.stringify({ ...pkg, optionalDependencies: { 'smkit-optional-dep': '^1.0.0' } }));
  const warnings: string[] = [];
  const codeDir = await prepareCodeDir(modelDir, 'auto', { ...silent, warn: (_: unknown, msg?: string) => void warnings.push(String(msg)) } as Logger);
  assert.ok(existsSync(path.join(codeDir, 'node_modules', 'greet', 'index.js')), 'the vendored dependency');
  assert.equal(readFileSync(path.join(codeDir, 'node_modules', 'smkit-optional-dep', 'index.js'), 'utf8'), 'module.exports = "smkit-optional-dep";\n');
  assert.deepEqual(warnings, []);
  assert.ok((await registry.requested()).includes('/smkit-optional-dep/-/smkit-optional-dep-1.0.0.tgz'));
});

test('optionalDependencies that cannot be fetched, with the registry unreachable, leave the rest installed and a warning naming them (npm skips optional ones; the model still starts)', async (t) => {
  const tmp = isolatedNpm(t, `http://127.0.0.1:${await closedPort()}/`);
  const modelDir = path.join(tmp, 'model');
  cpSync(FIXTURE, modelDir, { recursive: true });
  const pkgFile = path.join(modelDir, 'code', 'package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { dependencies?: Record<string, string> };
  writeFileSync(pkgFile, JSON.stringify({ ...pkg, optionalDependencies: { 'smkit-optional-dep': '^1.0.0' } }));
  const warnings: { fields: unknown; msg: string }[] = [];
  const codeDir = await prepareCodeDir(modelDir, 'auto', { ...silent, warn: (fields: unknown, msg?: string) => void warnings.push({ fields, msg: String(msg) }) } as Logger);
  assert.ok(existsSync(path.join(codeDir, 'node_modules', 'greet', 'index.js')));
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.match(warnings[0]!.msg, /optionalDependencies not installed: .*registry cannot be reached/);
  assert.deepEqual((warnings[0]!.fields as { optionalDependencies: string[] }).optionalDependencies, ['smkit-optional-dep']);
});

test('code/package.json dependencies from the registry, with the registry unreachable: ERR_CODE_DEPENDENCIES at once (not after npm\'s minute of retries), saying to ship code/node_modules', async (t) => {
  const registry = `http://127.0.0.1:${await closedPort()}/`;
  const tmp = isolatedNpm(t, registry);
  mkdirSync(path.join(tmp, 'model', 'code'), { recursive: true });
  writeFileSync(path.join(tmp, 'model', 'code', 'package.json'), JSON.stringify({ name: 'm', version: '1.0.0', dependencies: { 'left-pad': '^1.3.0' } }));
  await assert.rejects(
    () => prepareCodeDir(path.join(tmp, 'model'), 'auto', silent),
    (err: unknown) => {
      assert.ok(err instanceof ToolkitError);
      assert.equal(err.code, 'ERR_CODE_DEPENDENCIES');
      assert.ok(err.message.includes(`${registry} cannot be reached (ECONNREFUSED: no network`), err.message);
      assert.match(err.message, /ENOTCACHED.*left-pad/);
      assert.match(err.message, /Ship code\/node_modules inside model\.tar\.gz .*SMKIT_INSTALL_CODE_DEPS=never/);
      return true;
    },
  );
  assert.ok(!existsSync(path.join(tmp, 'model', 'code', 'node_modules')), 'nothing is written into the model');
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('smkit-code-')), [], 'the failed install leaves no copy behind');
});

test('a stop while npm installs (a SIGTERM or Ctrl-C to smkit serve) ends npm and the processes it started, removes the unfinished copy and rejects with InstallStopped: the server is not left waiting for npm', async (t) => {
  const tmp = isolatedNpm(t);
  cpSync(FIXTURE, path.join(tmp, 'model'), { recursive: true });
  // An npm that never ends on its own, with a child of its own (as install scripts are): each says its pid.
  const bin = path.join(tmp, 'bin');
  mkdirSync(bin);
  writeFileSync(path.join(bin, 'npm'), `#!/bin/sh\nsleep 1000 &\necho "$$ $!" > "${tmp}/pids.tmp" && mv "${tmp}/pids.tmp" "${tmp}/pids"\nwait\n`, { mode: 0o755 });
  const savedPath = process.env['PATH'];
  t.after(() => void (process.env['PATH'] = savedPath));
  process.env['PATH'] = `${bin}:${savedPath ?? ''}`;
  const stop = new AbortController();
  const install = prepareCodeDir(path.join(tmp, 'model'), 'auto', silent, stop.signal);
  while (!existsSync(path.join(tmp, 'pids'))) await new Promise((resolve) => setTimeout(resolve, 20));
  const pids = readFileSync(path.join(tmp, 'pids'), 'utf8').trim().split(' ').map(Number);
  stop.abort('SIGTERM');
  await assert.rejects(install, (err: unknown) => err instanceof InstallStopped);
  // A process ended but not yet reaped (its parent gone, for whatever adopts it to reap) counts as ended.
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return true;
    }
  };
  // npm itself was waited for; its child, signalled with it, may take a moment to go.
  assert.equal(alive(pids[0]!), false, 'npm is ended');
  while (alive(pids[1]!)) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('smkit-code-')), [], 'the unfinished copy of code/ is removed');
});

import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { ToolkitError } from '../errors/catalogue.js';
import { thrownMessage } from '../errors/excerpt.js';
import type { Logger } from '../core/context.js';
import { IN_USE, isOwnFolder, isOwnInstall, markInUse, removeStaleCopies } from './code-copies.js';

/** Whether the user chose npm's cache folder (`npm_config_cache`, in any case). */
function cacheChosen(env: NodeJS.ProcessEnv): boolean {
  return Object.keys(env).some((k) => k.toLowerCase() === 'npm_config_cache');
}

/**
 * npm's environment for the install: its cache (and the logs it keeps there) in `cache` unless the
 * user chose one, since its default, `~/.npm`, is not writable under a read-only root filesystem
 * (`docker run --read-only --tmpfs /tmp`) nor for a user whose home is not theirs; and no check of
 * the registry for a newer npm.
 */
export function npmEnv(env: NodeJS.ProcessEnv, cache: string | undefined): NodeJS.ProcessEnv {
  return {
    ...env,
    ...(!cacheChosen(env) && cache !== undefined && { npm_config_cache: cache }),
    npm_config_update_notifier: 'false',
  };
}

/**
 * npm's cache folder in the temp dir for this user (`smkit-npm-cache-<uid>`), made private (0700),
 * kept from one start to the next; `temporary` when that one is not this user's own folder (another
 * user made it first, or it is writable by others: the temp dir is shared on a multi-user machine)
 * and a new private one was made for this install, to be removed after it. npm installs `--offline`
 * first, from what the cache holds: packages someone else put in it would be installed, and their
 * install scripts run, as this user. Undefined when the user chose a cache (`npm_config_cache`).
 */
function npmCacheFolder(env: NodeJS.ProcessEnv): { dir: string; temporary: boolean } | undefined {
  if (cacheChosen(env)) return undefined;
  const uid = process.getuid?.();
  const dir = path.join(os.tmpdir(), uid === undefined ? 'smkit-npm-cache' : `smkit-npm-cache-${uid}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch {
    // There already (checked below), or cannot be made: a private one is made instead, or fails to be.
  }
  try {
    if (isOwnFolder(lstatSync(dir))) return { dir, temporary: false };
  } catch {
    // Not there: made below.
  }
  try {
    return { dir: mkdtempSync(path.join(os.tmpdir(), 'smkit-npm-cache-tmp-')), temporary: true };
  } catch (err) {
    throw new ToolkitError(
      'ERR_CODE_DEPENDENCIES',
      `cannot make a folder in the temp dir ${os.tmpdir()} for npm's cache (${(err as NodeJS.ErrnoException).code ?? thrownMessage(err, 200)}): set TMPDIR to a writable folder, or npm_config_cache to a folder of your own.`,
    );
  }
}

/** How an npm run ended: its exit code (null when killed), what it wrote to stderr, or the error that kept it from running or finishing. */
interface NpmRun {
  status: number | null;
  stderr: string;
  error?: Error;
}

/** How long npm has to end on SIGTERM before its process group gets SIGKILL. */
const NPM_KILL_GRACE_MS = 2000;

/**
 * Runs npm in `cwd` as the leader of its own process group, and ends that group (npm, and the
 * install scripts and node-gyp it starts) past `timeoutMs` or when `stop` aborts: SIGTERM, then
 * SIGKILL once npm has ended or 2 s later. Async, not spawnSync, so that the server's primary, which waits on it, still
 * hears a SIGTERM or Ctrl-C: blocked in spawnSync it acted on one only once npm ended, minutes later
 * maybe, and past SageMaker's SIGKILL 30 s after its SIGTERM.
 */
function runNpm(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number, stop: AbortSignal | undefined): Promise<NpmRun> {
  return new Promise((resolve) => {
    if (stop?.aborted) return resolve({ status: null, stderr: '', error: new Error('stopped') });
    const child = spawn('npm', [...args], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    let error: Error | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const group = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // the group is gone already
      }
    };
    const end = (why: Error): void => {
      if (error || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      error = why;
      group('SIGTERM');
      killTimer = setTimeout(() => group('SIGKILL'), NPM_KILL_GRACE_MS);
    };
    const timer = setTimeout(() => end(new Error(`npm ${args[0] ?? ''} did not finish within ${timeoutMs / 1000} s`)), timeoutMs);
    const onStop = (): void => end(new Error('stopped'));
    stop?.addEventListener('abort', onStop, { once: true });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const settle = (status: number | null, err?: Error): void => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      stop?.removeEventListener('abort', onStop);
      resolve({ status: err || error ? null : status, stderr, ...((err ?? error) ? { error: err ?? error } : {}) });
    };
    child.once('error', (err) => settle(null, err));
    // Once npm, ended by us, is gone, so is what it started and left (an install script that ignored
    // the SIGTERM), and its stderr is closed, which such a process would hold open.
    child.once('exit', () => {
      if (!error) return;
      group('SIGKILL');
      child.stderr.destroy();
    });
    child.once('close', (code) => settle(code));
  });
}

/** npm's error codes for a registry it could not talk to at all (no answer, as opposed to an HTTP error). */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'ETIMEDOUT',
  'ENETUNREACH', 'ENETDOWN', 'EHOSTUNREACH', 'EHOSTDOWN', 'ERR_SOCKET_TIMEOUT', 'FETCH_ERROR',
]);

/**
 * Asks the registry npm would install from (`npm ping`, with the code's own `.npmrc`, proxies and
 * all) whether it answers, and returns why not when it cannot be reached at all; undefined when it
 * answers, even with an HTTP error (a registry without `/-/ping`), or when npm failed otherwise, so
 * that the install itself says what is wrong. One retry a second later and 10 s per attempt: npm's
 * own defaults (two retries 10 s and 60 s apart, 5 min per request) made an install with no network
 * take more than a minute to fail, and one in a VPC that drops packets several minutes.
 */
async function unreachableRegistry(cwd: string, env: NodeJS.ProcessEnv, stop: AbortSignal | undefined): Promise<{ registry: string; reason: string } | undefined> {
  const ping = await runNpm(['ping', '--fetch-retries=1', '--fetch-retry-mintimeout=1000', '--fetch-retry-maxtimeout=1000', '--fetch-timeout=10000'], cwd, env, 60_000, stop);
  if (ping.status === 0 || ping.error) return undefined;
  const code = /^npm (?:error|ERR!) code (\S+)/m.exec(ping.stderr ?? '')?.[1];
  if (!code || !NETWORK_ERROR_CODES.has(code)) return undefined;
  const registry = /\bPING (\S+)/.exec(ping.stderr ?? '')?.[1] ?? 'the npm registry';
  return { registry, reason: code === 'FETCH_ERROR' ? 'no answer within 10 s' : code };
}

/**
 * Which model a copy is of: the code directory and the user serving (two users serving the same
 * model each have a copy of their own: one could not use the other's, and would install again at
 * every start). Copies of one model share it, as the start of their folder's name.
 */
function modelKey(codeDir: string): string {
  return createHash('sha256').update(`${codeDir}\0${process.getuid?.() ?? ''}\0`).digest('hex').slice(0, 16);
}

/**
 * What a copy of `codeDir` depends on: each entry's path, type, size, modification time and change
 * time (`node_modules` aside), and the Node ABI, platform and CPU that native packages are built for.
 * Stat only: editing a handler changes its times, so a copy made before the edit is never reused.
 * The change time too because a modification time can be set back, and archives give every file one
 * fixed one (as `smkit package` writes them): a model.tar.gz extracted again with a handler edited
 * to the same size would have looked unchanged.
 */
function codeFingerprint(codeDir: string): string {
  const hash = createHash('sha256').update(`${process.versions.modules}\0${process.platform}\0${process.arch}\0`);
  const walk = (dir: string, rel: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (rel === '' && entry.name === 'node_modules') continue;
      const full = path.join(dir, entry.name);
      const st = lstatSync(full);
      hash.update(`${rel}${entry.name}\0${st.mode}\0${st.size}\0${st.mtimeMs}\0${st.ctimeMs}\0`);
      if (entry.isDirectory()) walk(full, `${rel}${entry.name}/`);
    }
  };
  walk(codeDir, '');
  return hash.digest('hex').slice(0, 16);
}

/**
 * Makes `code/package.json` dependencies usable and returns the code directory to load from.
 *
 * `/opt/ml/model` is read-only on SageMaker, so when `code/package.json` declares dependencies and
 * `code/node_modules` is absent, the code is copied to a writable directory under the OS temp dir
 * and `npm install --omit=dev` runs there, once, before workers start: offline first (dependencies
 * vendored in `code/` as `file:` ones, or in npm's cache), then, if the registry can be reached, with
 * the network; if it cannot, `ERR_CODE_DEPENDENCIES` at once.
 * The copy is reused by later starts while nothing in `code/` changed (by {@link codeFingerprint});
 * each start records itself in the copy it serves from and removes the earlier copies of the same
 * `code/` that no live process serves from (code-copies.ts), so a dev loop does not fill the temp dir;
 * it is made in a private folder and moved into place only once installed, so a start that failed
 * or was cut short leaves nothing a later one would take for an install.
 * Network-isolated endpoints cannot reach a registry: ship `code/node_modules` in model.tar.gz (or
 * bake the deps into the image) and set `SMKIT_INSTALL_CODE_DEPS=never`.
 * When `stop` aborts (a SIGTERM or Ctrl-C while the server starts), npm is ended and the copy removed,
 * and the call rejects with {@link InstallStopped}.
 */
export async function prepareCodeDir(modelDir: string, mode: 'auto' | 'never', log: Logger, stop?: AbortSignal): Promise<string> {
  const codeDir = path.join(modelDir, 'code');
  const pkgFile = path.join(codeDir, 'package.json');
  if (!existsSync(pkgFile) || existsSync(path.join(codeDir, 'node_modules'))) return codeDir;
  let pkg: { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
  try {
    pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as typeof pkg;
  } catch (err) {
    throw new ToolkitError('ERR_CODE_DEPENDENCIES', `${pkgFile} is not valid JSON: ${(err as Error).message}`);
  }
  // JSON that is no object (null, an array) has no dependencies for npm to read, and `dependencies`
  // that is no object of names and versions ("left-pad", ["left-pad"]) npm reads character by
  // character ("No matching version found for 0@l"): both are named here, not as a TypeError or npm's riddle.
  if (!isPlainObject(pkg)) {
    throw new ToolkitError('ERR_CODE_DEPENDENCIES', `${pkgFile} holds ${describeJson(pkg)}, not an object: write a package.json object such as {"dependencies": {"left-pad": "^1.3.0"}}`);
  }
  for (const field of ['dependencies', 'optionalDependencies'] as const) {
    const value: unknown = pkg[field];
    if (value !== undefined && value !== null && !isPlainObject(value)) {
      throw new ToolkitError('ERR_CODE_DEPENDENCIES', `${pkgFile} has "${field}" set to ${describeJson(value)}: it must be an object of package names and versions, such as {"left-pad": "^1.3.0"}`);
    }
  }
  // npm installs optionalDependencies as it installs dependencies: a package.json with only those needs the install too.
  const declared = Object.keys({ ...pkg.optionalDependencies, ...pkg.dependencies });
  if (declared.length === 0) return codeDir;
  if (mode === 'never') {
    log.warn({ codeDir }, 'code/package.json declares dependencies but code/node_modules is absent and SMKIT_INSTALL_CODE_DEPS=never: imports of them will fail');
    return codeDir;
  }
  // npm resolves a folder dependency from the copy: one outside code/ (file:../shared) would not be
  // the model's but whatever is at that place in the temp dir, which on a shared machine anyone can put there.
  for (const [name, spec] of Object.entries({ ...pkg.optionalDependencies, ...pkg.dependencies })) {
    const folder = /^file:(.*)$/.exec(spec)?.[1] ?? (/^\.\.?[\\/]/.test(spec) ? spec : undefined);
    if (folder === undefined || path.isAbsolute(folder) || folder.startsWith('~')) continue;
    if (pathInCode(codeDir, path.resolve(codeDir, folder)) === undefined) {
      throw new ToolkitError(
        'ERR_CODE_DEPENDENCIES',
        `${pkgFile} has the dependency "${name}": "${spec}", a folder outside code/: installed from a copy of code/ in ${os.tmpdir()}, it would be taken from there, not from the model. ` +
          'Move it inside code/ ("file:./vendor/..."), or ship code/node_modules inside model.tar.gz and set SMKIT_INSTALL_CODE_DEPS=never.',
      );
    }
  }
  const target = codeInstallFolder(codeDir);
  if (isOwnInstall(target) && servesFrom(target, log)) return withoutStaleCopies(target, log);
  const staging = stagingFolder(target);
  // Recorded before the install: a copy in place already shows a live user to another start's
  // cleanup, and one whose start was cut short (killed while npm ran) shows none, for a later start to remove.
  markInUse(staging);
  log.info({ codeDir, target, dependencies: declared }, 'installing code/package.json dependencies');
  try {
    await installInto(staging, codeDir, pkgFile, Object.keys(pkg.optionalDependencies ?? {}), log, stop);
  } catch (err) {
    try {
      rmSync(staging, { recursive: true, force: true });
    } catch {
      // what the install failed of is the error to report
    }
    throw err;
  }
  try {
    renameSync(staging, target);
    return withoutStaleCopies(target, log);
  } catch (renameError) {
    // Another start installed the same code meanwhile (the rename finds the folder taken), or the
    // name is held by a folder not this user's own: this install serves this start.
    if (isOwnInstall(target) && servesFrom(target, log)) {
      try {
        rmSync(staging, { recursive: true, force: true });
      } catch (err) {
        log.warn({ folder: staging, err }, 'could not remove a copy of code/ a concurrent start made needless');
      }
      return withoutStaleCopies(target, log);
    }
    const code = (renameError as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR' || code === 'EPERM'
        ? "exists but is not this user's own finished install (another user's, writable by others, or a link)"
        : `could not be made (${thrownMessage(renameError, 200)})`;
    log.warn({ codeDir, folder: target, installedIn: staging }, `the folder for the installed code ${why}: this start uses its own copy`);
    return staging;
  }
}

/**
 * A new folder, this user's alone (mkdtemp: mode 0700), to install `target` in before it is renamed
 * into place; a temp dir that cannot hold it (read-only, full, missing) is ERR_CODE_DEPENDENCIES
 * naming it and what to do, not a raw EROFS or ENOENT with its stack.
 */
function stagingFolder(target: string): string {
  try {
    return mkdtempSync(`${target}-`);
  } catch (err) {
    throw new ToolkitError(
      'ERR_CODE_DEPENDENCIES',
      `cannot make a folder in the temp dir ${os.tmpdir()} to install code/package.json's dependencies in (${(err as NodeJS.ErrnoException).code ?? thrownMessage(err, 200)}): ` +
        'set TMPDIR to a writable folder (mount one at /tmp under a read-only root filesystem), or ship code/node_modules inside model.tar.gz and set SMKIT_INSTALL_CODE_DEPS=never.',
    );
  }
}

/** Whether this start can serve from the installed copy `copy` (recorded in it, or there but unrecordable: logged). */
function servesFrom(copy: string, log: Logger): boolean {
  const state = markInUse(copy);
  if (state === 'unrecorded') log.warn({ folder: copy }, `could not record this server in the copy of code/ it serves from (${IN_USE}): another start may remove the copy while this server runs`);
  return state !== 'gone';
}

/** `used`, once the earlier copies of the same code/ no running server uses are removed; a failure to remove them is only logged. */
function withoutStaleCopies(used: string, log: Logger): string {
  try {
    removeStaleCopies(used, log);
  } catch (err) {
    log.warn({ folder: used, err }, 'could not look for earlier copies of code/ to remove');
  }
  return used;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What a JSON value is, for messages: `null`, `an array`, `the string "x"` (cut short). */
function describeJson(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v === 'object' ? 'an' : 'a'} ${typeof v}`;
}

/** `p` (absolute) relative to `codeDir` when it is `codeDir` or inside it; undefined when it is outside. */
function pathInCode(codeDir: string, p: string): string | undefined {
  const rel = path.relative(codeDir, p);
  return rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel) ? undefined : rel;
}

/** Where the installed copy of `codeDir` as it is now lives: `smkit-code-<model key>-<fingerprint>` in the temp dir. */
export function codeInstallFolder(codeDir: string): string {
  return path.join(os.tmpdir(), `smkit-code-${modelKey(codeDir)}-${codeFingerprint(codeDir)}`);
}

/**
 * Copies `codeDir` into `folder`, links as links: one to something inside `codeDir` points to the
 * same thing in the copy, one to something outside it to that thing where it is. cpSync alone points
 * every relative link at the original: a handler linked from elsewhere in code/ then loaded from the
 * model dir (Node follows links), where the dependencies installed in the copy cannot be found.
 * The copy's folders are made writable by their owner: cpSync keeps the modes of code/ (a folder
 * read-only in model.tar.gz stays so), and a user other than root could not remove a copy holding
 * one (a failed install's, or the one a concurrent start's rename made needless).
 */
function copyCode(codeDir: string, folder: string): void {
  cpSync(codeDir, folder, { recursive: true, verbatimSymlinks: true });
  const relink = (dir: string, srcDir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const link = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        chmodSync(link, (lstatSync(link).mode & 0o7777) | 0o700);
        relink(link, path.join(srcDir, entry.name));
      }
      if (!entry.isSymbolicLink()) continue;
      const was = readlinkSync(link);
      const to = path.resolve(srcDir, was);
      const inCode = pathInCode(codeDir, to);
      const want = inCode !== undefined ? path.relative(dir, path.join(folder, inCode)) || '.' : to;
      if (want === was) continue;
      let type: 'dir' | 'file' = 'file';
      try {
        if (statSync(to).isDirectory()) type = 'dir';
      } catch {
        // a dangling link stays one
      }
      unlinkSync(link);
      symlinkSync(want, link, type);
    }
  };
  relink(folder, codeDir);
}

/** The names in `optional` that have no package in `folder`'s node_modules. */
function notInstalled(folder: string, optional: readonly string[]): string[] {
  return optional.filter((name) => !existsSync(path.join(folder, 'node_modules', name, 'package.json')));
}

/**
 * Copies `codeDir` into `folder` and installs its dependencies there, offline first; throws
 * `ERR_CODE_DEPENDENCIES`. `optional` names the optionalDependencies, which npm skips when it cannot
 * fetch them, offline too, and still exits 0.
 */
async function installInto(folder: string, codeDir: string, pkgFile: string, optional: readonly string[], log: Logger, stop: AbortSignal | undefined): Promise<void> {
  copyCode(codeDir, folder);
  const lock = existsSync(path.join(folder, 'package-lock.json'));
  const cache = npmCacheFolder(process.env);
  try {
    await installWith(npmEnv(process.env, cache?.dir), folder, pkgFile, lock, optional, log, stop);
  } finally {
    if (cache?.temporary) rmSync(cache.dir, { recursive: true, force: true });
  }
}

async function installWith(env: NodeJS.ProcessEnv, folder: string, pkgFile: string, lock: boolean, optional: readonly string[], log: Logger, stop: AbortSignal | undefined): Promise<void> {
  const verb = lock ? 'ci' : 'install';
  const npm = async (offline: boolean): Promise<NpmRun> => {
    const run = await runNpm([verb, '--omit=dev', '--no-audit', '--no-fund', ...(offline ? ['--offline'] : [])], folder, env, 300_000, stop);
    if (stop?.aborted) throw new InstallStopped();
    return run;
  };
  // Offline first: dependencies vendored in code/ (file:) or in npm's cache need no network, and
  // only when something must be downloaded is the registry asked whether it can be reached.
  const offline = await npm(true);
  if (offline.status === 0) {
    // An offline install that skipped optional dependencies it could not fetch left out packages the
    // registry has: the handler's imports of them failed although the registry could be reached.
    const skipped = notInstalled(folder, optional);
    if (skipped.length === 0) return;
    const unreachable = await unreachableRegistry(folder, env, stop);
    if (unreachable) {
      log.warn({ optionalDependencies: skipped, registry: unreachable.registry, reason: unreachable.reason }, 'code/package.json optionalDependencies not installed: they are not in npm\'s cache and the registry cannot be reached');
      return;
    }
  } else {
    const unreachable = await unreachableRegistry(folder, env, stop);
    if (unreachable) throw unreachableError(pkgFile, verb, unreachable, offline.stderr);
  }
  if (stop?.aborted) throw new InstallStopped();
  const result = await npm(false);
  if (result.status !== 0) {
    throw new ToolkitError(
      'ERR_CODE_DEPENDENCIES',
      `npm ${verb} for ${pkgFile} failed (${result.error?.message ?? `exit ${result.status}`}): ${(result.stderr ?? '').trim().split('\n').slice(-5).join(' | ')}. ` +
        'Ship code/node_modules inside model.tar.gz or install the dependencies in the image, and set SMKIT_INSTALL_CODE_DEPS=never.',
    );
  }
  const skipped = notInstalled(folder, optional);
  if (skipped.length > 0) log.warn({ optionalDependencies: skipped }, 'code/package.json optionalDependencies not installed: npm skipped them (their install failed, or they do not support this platform or Node version)');
}

/** A code/package.json install ended because the server was asked to stop while it ran. */
export class InstallStopped extends Error {
  override readonly name = 'InstallStopped';
  constructor() {
    super('the code/package.json install was stopped');
  }
}

/** The error for dependencies that must be downloaded from a registry that cannot be reached. */
function unreachableError(pkgFile: string, verb: string, unreachable: { registry: string; reason: string }, offlineStderr: string | undefined): ToolkitError {
  return new ToolkitError(
    'ERR_CODE_DEPENDENCIES',
    `${pkgFile} declares dependencies that npm must download, and ${unreachable.registry} cannot be reached (${unreachable.reason}: no network, as on a network-isolated endpoint, or a VPC without a route to it). ` +
      `npm ${verb} --offline: ${(offlineStderr ?? '').trim().split('\n').slice(0, 2).join(' | ').replace(/\.$/, '')}. ` +
      'Ship code/node_modules inside model.tar.gz (run npm install --omit=dev in code/ before packaging) or install the dependencies in the image, and set SMKIT_INSTALL_CODE_DEPS=never.',
  );
}

import { accessSync, chmodSync, closeSync, constants, createReadStream, existsSync, mkdirSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ToolkitError } from '../errors/catalogue.js';
import type { TrainingPaths } from './paths.js';

/** How the entry point is started: `argv[0]`, the rest of argv, and the working directory. */
export interface EntryPointCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** The absolute path of the entry point file. */
  readonly file: string;
  /** A shell-like rendering for logs and the failure file. */
  readonly display: string;
}

function isNonEmptyDir(dir: string): boolean {
  try {
    return statSync(dir).isDirectory() && readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}

/** Where SageMaker's training container has its tree: paths the job gives (hyperparameters, its environment) name it. */
const CONTAINER_BASE = '/opt/ml';

/**
 * `file` as it is in this tree: a path under `/opt/ml` names the same path under the base dir when
 * that is elsewhere (`smkit local train`, the local SageMaker, a `--base-dir`). The SageMaker Python
 * SDK's framework estimators with `enable_network_isolation=True`, and JumpStart's training jobs,
 * send `sagemaker_submit_directory` as `/opt/ml/input/data/code/sourcedir.tar.gz`, the archive of
 * their `code` channel, a path that exists only in the container's tree.
 */
export function inTree(paths: TrainingPaths, file: string): string {
  const base = path.resolve(paths.base);
  if (base === CONTAINER_BASE || !path.isAbsolute(file)) return file;
  const rel = path.posix.relative(CONTAINER_BASE, path.posix.normalize(file));
  // `..` or `../…` leaves /opt/ml; a folder whose name starts with `..` (`..data`) is in it.
  return rel === '' || rel === '..' || rel.startsWith('../') ? file : path.join(base, rel);
}

/**
 * Finds the directory to run the entry point from: `<base>/code` when it has files (SageMaker puts
 * the code there), else the submit directory (the `sagemaker_submit_directory` hyperparameter, then
 * `SAGEMAKER_SUBMIT_DIRECTORY`): a local directory is used in place, a local `.tar.gz` is extracted
 * into `<base>/code` (STT does the same, https://github.com/aws/sagemaker-training-toolkit); one
 * under `/opt/ml` is read under the base dir ({@link inTree}). Aborting `signal` stops an extraction (rejecting with the signal's reason).
 */
export async function resolveCodeDir(paths: TrainingPaths, submitDirectories: readonly (string | undefined)[], signal?: AbortSignal): Promise<string> {
  if (isNonEmptyDir(paths.code)) return paths.code;
  const submit = submitDirectories.find((s) => s !== undefined && s !== '');
  if (submit === undefined) return paths.code;
  if (/^s3:\/\//i.test(submit)) {
    throw new ToolkitError(
      'ERR_TRAIN_ENTRY_POINT',
      `the code is at ${submit}, but smkit does not download from S3; put the code in ${paths.code} (or point SAGEMAKER_SUBMIT_DIRECTORY at a local directory).`,
    );
  }
  const given = submit.replace(/^file:\/\//, '');
  const local = inTree(paths, given);
  if (!existsSync(local)) throw new ToolkitError('ERR_TRAIN_ENTRY_POINT', `the submit directory ${given}${local === given ? '' : ` (${local} in this tree)`} does not exist.`);
  if (statSync(local).isDirectory()) return path.resolve(local);
  if (/\.(tar\.gz|tgz|tar)$/.test(local)) {
    try {
      await extractSubmitArchive(local, paths.code, signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      // tar's own errors (TAR_BAD_ARCHIVE, zlib's) name neither the file nor what it should be. The
      // file's format is in question only for those (tarCode), not for one smkit cannot write out.
      const format = (err as { tarCode?: unknown }).tarCode !== undefined ? '; it must be a .tar.gz (or .tar) of the code directory' : '';
      throw new ToolkitError('ERR_TRAIN_ENTRY_POINT', `the submit directory archive ${local} could not be extracted (${(err as Error).message})${format}.`, { cause: err });
    }
    return paths.code;
  }
  throw new ToolkitError('ERR_TRAIN_ENTRY_POINT', `the submit directory ${local} is neither a directory nor a .tar.gz archive.`);
}

/** Extracts `file` into `cwd`, stopping (input closed, unpacking aborted) when `signal` aborts. */
async function extractSubmitArchive(file: string, cwd: string, signal?: AbortSignal): Promise<void> {
  const { Unpack } = await import('tar');
  signal?.throwIfAborted();
  mkdirSync(cwd, { recursive: true });
  const unpack = new Unpack({ cwd });
  const input = createReadStream(file);
  await new Promise<void>((resolve, reject) => {
    const stop = () => {
      input.destroy();
      unpack.abort(signal!.reason as Error);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', stop, { once: true });
    const settle = (err?: unknown) => {
      signal?.removeEventListener('abort', stop);
      if (err === undefined) resolve();
      else reject(err);
    };
    input.on('error', settle);
    unpack.on('error', settle);
    unpack.once('close', () => settle());
    input.pipe(unpack);
  });
}

/** Whether `file` starts with `#!`, so the kernel runs it with the interpreter it names. */
function hasShebang(file: string): boolean {
  return shebangLine(file) !== undefined;
}

/**
 * The text of a `#!` first line after the `#!`, up to the line feed, a carriage return of a Windows
 * line end kept (the kernel keeps it too), or undefined when the file does not start with `#!`.
 */
export function shebangLine(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const head = Buffer.alloc(256);
    const line = head.subarray(0, readSync(fd, head, 0, head.length, 0)).toString('latin1');
    return line.startsWith('#!') ? line.slice(2).split('\n')[0] : undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Makes `file` executable unless it is already, so an executable entry point in a code directory
 * smkit cannot write (mounted read-only, another user's) runs as it is, and its mode is left alone.
 */
function makeExecutable(file: string, rel: string): void {
  try {
    accessSync(file, constants.X_OK);
    return;
  } catch {
    // Not executable yet.
  }
  try {
    chmodSync(file, 0o755);
  } catch (err) {
    throw new ToolkitError('ERR_TRAIN_ENTRY_POINT', `the entry point ${rel} is not executable and could not be made so (${(err as Error).message}): run chmod +x ${rel}, or put the code in a directory smkit can write.`, { cause: err });
  }
}

/** Characters a shell's `$'...'` form writes as escapes; raw, a CR or LF would break the one-line display. */
const CONTROL = /[\x00-\x1f\x7f]/;
const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', "'": "\\'", '\\': '\\\\' };

function quote(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
  if (!CONTROL.test(arg)) return `'${arg.replace(/'/g, `'\\''`)}'`;
  // A hyperparameter holding a line break (CRLF, LF): bash's ANSI-C quoting keeps the command one
  // line (the log's, the failure file's headline) and still pastes back into a shell as it ran.
  return `$'${arg.replace(/[\x00-\x1f\x7f'\\]/g, (c) => ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
}

/**
 * Builds the command for an entry point by its type, as STT does for Python (https://github.com/aws/sagemaker-training-toolkit,
 * `entry_point.run`): `.js`/`.mjs`/`.cjs` run with this Node binary, `.py` with `python3`, a `.sh`
 * without a `#!` line with `/bin/sh`; anything else (a `.sh` with one too) is made executable (unless
 * it is already) and run directly, so its `#!/bin/bash` is honoured, as STT's `./<file>` through `/bin/sh -c` honours it.
 */
export function entryPointCommand(codeDir: string, entryPoint: string, userArgs: readonly string[], nodeBinary = process.execPath): EntryPointCommand {
  const file = path.resolve(codeDir, entryPoint);
  const rel = path.relative(codeDir, file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new ToolkitError('ERR_TRAIN_ENTRY_POINT', `the entry point ${entryPoint} must be a file inside the code directory ${codeDir}.`);
  }
  if (!existsSync(file) || !statSync(file).isFile()) {
    const found = existsSync(codeDir) ? readdirSync(codeDir).sort().slice(0, 20).join(', ') || 'nothing' : 'no such directory';
    throw new ToolkitError('ERR_TRAIN_ENTRY_POINT', `the entry point ${entryPoint} was not found in ${codeDir} (found: ${found}).`);
  }
  const ext = path.extname(file).toLowerCase();
  let command: string;
  let args: string[];
  if (['.js', '.mjs', '.cjs'].includes(ext)) {
    command = nodeBinary;
    args = [file, ...userArgs];
  } else if (ext === '.sh' && !hasShebang(file)) {
    command = '/bin/sh';
    args = [file, ...userArgs];
  } else if (ext === '.py') {
    command = 'python3';
    args = [file, ...userArgs];
  } else {
    makeExecutable(file, rel);
    command = file;
    args = [...userArgs];
  }
  const shown = [command === nodeBinary ? 'node' : command, ...args.map((a) => (a === file ? rel : a))];
  return { command, args, cwd: codeDir, file, display: shown.map(quote).join(' ') };
}

import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ToolkitError } from '../errors/catalogue.js';
import type { Cancellation } from '../core/cancellation.js';
import { removeSession, sessionDir, type SessionRef } from './session-store.js';

/** A stored key: letters, digits, `.`, `_` and `-`, not starting with a dot (smkit's own files do). */
const KEY_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

function fileOf(dir: string, key: string): string {
  // A string only: an object's toString could answer the pattern a harmless name and the path another.
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
    throw new ToolkitError('ERR_SESSION_KEY', `session key ${JSON.stringify(String(key).slice(0, 80))} is not valid: use 1 to 128 letters, digits, ".", "_" or "-", not starting with "."`);
  }
  return path.join(dir, `${key}.json`);
}

/**
 * A value that could not be read or written because the sessions folder could not be used (full,
 * out of file descriptors, an I/O error): ERR_SESSION_STORAGE (424), as for opening or closing a
 * session, not a failure of the handler code that asked for it.
 */
function valueStorageError(action: 'read' | 'write', key: string, err: unknown): ToolkitError {
  return new ToolkitError('ERR_SESSION_STORAGE', `could not ${action} session value "${key}" in SAGEMAKER_SESSIONS_PATH: ${(err as Error).message}`, { cause: err });
}

/**
 * The stateful session of an invocation, as user code sees it on `context.session`: its id, when
 * it expires, and a small key-value store kept in the session's own folder (JSON files), which
 * every worker of the server shares. `close()` ends the session once this answer is sent.
 */
export class StatefulSession {
  /** The session id the client sends back in `X-Amzn-SageMaker-Session-Id`. */
  readonly id: string;
  /** When the session expires (`SAGEMAKER_SESSIONS_EXPIRATION` after it opened). */
  readonly expiresAt: Date;
  /** The session's own folder, for state that is not JSON (model caches, files). Removed when the session ends. */
  readonly dir: string;
  #closing = false;

  constructor(ref: SessionRef) {
    this.id = ref.id;
    this.expiresAt = new Date(ref.expiresAt);
    this.dir = sessionDir(ref);
  }

  /**
   * The value stored under `key`, or `fallback` when there is none. Throws `ERR_SESSION_NOT_FOUND`
   * once the session is gone, `ERR_SESSION_STORAGE` when it cannot be read.
   */
  async get<T = unknown>(key: string, fallback?: T): Promise<T | undefined> {
    const file = fileOf(this.dir, key);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw valueStorageError('read', key, err);
      // No value, or no session any more (it expired and was swept, or a CLOSE removed it, while this
      // request ran): the fallback would answer as if the session had just begun (an empty history).
      try {
        await stat(this.dir);
      } catch (gone) {
        if ((gone as NodeJS.ErrnoException).code === 'ENOENT') throw new ToolkitError('ERR_SESSION_NOT_FOUND', `session ${this.id} was closed or expired while this request used it`);
        throw valueStorageError('read', key, gone);
      }
      return fallback;
    }
    return JSON.parse(text) as T;
  }

  /**
   * Stores a JSON value under `key` (written whole, then renamed: a concurrent `get` never reads half
   * of it). Throws `ERR_SESSION_NOT_FOUND` once the session is gone, `ERR_SESSION_STORAGE` when the
   * value cannot be written (the sessions folder full, no file descriptors left).
   */
  async put(key: string, value: unknown): Promise<void> {
    const file = fileOf(this.dir, key);
    const text = JSON.stringify(value);
    if (text === undefined) throw new ToolkitError('ERR_SESSION_KEY', `session key "${key}": the value is not JSON (undefined, a function or a symbol)`);
    const temporary = path.join(this.dir, `.${key}.${process.pid}.${Math.random().toString(36).slice(2)}`);
    try {
      await writeFile(temporary, text);
      await rename(temporary, file);
    } catch (err) {
      // A write cut short (a full disk) would otherwise leave its part behind until the session ends.
      await rm(temporary, { force: true }).catch(() => undefined);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ToolkitError('ERR_SESSION_NOT_FOUND', `session ${this.id} was closed or expired while this request used it`);
      throw valueStorageError('write', key, err);
    }
  }

  /** Ends the session after this answer: its folder is removed and the answer carries `X-Amzn-SageMaker-Closed-Session-Id`. */
  close(): void {
    this.#closing = true;
  }

  /** Whether `close()` was called. */
  get closing(): boolean {
    return this.#closing;
  }
}

/**
 * The streamed answer of a request in `session`, which removes the session once the stream ends
 * (or stops) if user code closed it while producing the stream. Its
 * `X-Amzn-SageMaker-Closed-Session-Id` cannot go out: the headers left with the first chunk. A
 * stream that fails (or is stopped) before its first chunk is an error answer, which closes
 * nothing, as a whole answer that fails after `close()` does not; so is one whose first chunk (or
 * end) came only once `cancellation` (the request's) was cancelled: its first-chunk timeout was
 * answered 504, or its client left, and that chunk reaches nobody.
 */
export async function* closingWhenStreamEnds(stream: AsyncIterable<Uint8Array>, session: StatefulSession, cancellation?: Cancellation): AsyncIterable<Uint8Array> {
  let answered = false;
  try {
    for await (const chunk of stream) {
      if (!answered && cancellation?.cancelled) return;
      answered = true;
      yield chunk;
    }
    if (!cancellation?.cancelled) answered = true;
  } finally {
    if (answered && session.closing) await removeSession({ id: session.id, root: path.dirname(session.dir) });
  }
}

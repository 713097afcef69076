import { randomUUID } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ToolkitError } from '../errors/catalogue.js';
import { foreignStep } from './sessions-folder.js';
import { NEW_SESSION, SESSION_ID_MAX_LENGTH, SESSION_ID_PATTERN } from '../core/sagemaker-headers.js';

export { CLOSED_SESSION_ID_HEADER, NEW_SESSION, NEW_SESSION_ID_HEADER, SESSION_ID_HEADER } from '../core/sagemaker-headers.js';

/** The file in a session's folder that holds its expiry (epoch ms); user keys cannot start with a dot. */
const EXPIRY_FILE = '.expires';

/** How often opening a session also removes the expired ones. */
const SWEEP_INTERVAL_MS = 60_000;

/** A session folder is built under this prefix and renamed into place: a sweep never sees it half made. */
const STAGING_PREFIX = '.new-';

/**
 * A staging folder this old was left by a process that stopped while it made the session (it
 * exists for a mkdir, a write and a rename): a sweep removes it.
 */
const STAGING_ABANDONED_MS = 10 * 60_000;

/** A closed session's folder is renamed under this prefix, then removed: requests racing the close find no folder. */
const CLOSED_PREFIX = '.closed-';

/** `rm` retries a folder that a racing write refilled (ENOTEMPTY) this many times. */
const REMOVE_RETRIES = 5;

/** A session as requests carry it: plain data, so it crosses to the inference thread. */
export interface SessionRef {
  readonly id: string;
  /** When the session expires, in epoch milliseconds. */
  readonly expiresAt: number;
  /** The folder that holds every session's folder. */
  readonly root: string;
}

/** True when `id` is a session id `InvokeEndpoint` would accept (not `NEW_SESSION`). */
export function isSessionId(id: string): boolean {
  return id.length <= SESSION_ID_MAX_LENGTH && id !== NEW_SESSION && SESSION_ID_PATTERN.test(id);
}

/** `<id>; Expires=YYYY-MM-DDTHH:MM:SSZ`, the form SageMaker's `NewSessionId` takes. */
export function newSessionHeaderValue(ref: SessionRef): string {
  return `${ref.id}; Expires=${new Date(ref.expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
}

/** The folder of one session. */
export function sessionDir(ref: Pick<SessionRef, 'id' | 'root'>): string {
  return path.join(ref.root, ref.id);
}

/**
 * Removes session `ref`'s folder and everything in it (nothing happens for one that is gone).
 * Throws `ERR_SESSION_STORAGE` when the folder cannot be moved away.
 */
export async function removeSession(ref: Pick<SessionRef, 'id' | 'root'>): Promise<void> {
  if (!isSessionId(ref.id)) return;
  // Renamed first (atomic): a request of the session still running gets ERR_SESSION_NOT_FOUND from
  // its next put instead of writing into a folder being removed.
  const closed = path.join(ref.root, `${CLOSED_PREFIX}${ref.id}-${randomUUID()}`);
  try {
    await rename(sessionDir(ref), closed);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw storageError('close', err);
  }
  // The session is closed once renamed; a folder that will not go is removed by the next sweep.
  await rm(closed, { recursive: true, force: true, maxRetries: REMOVE_RETRIES }).catch(() => undefined);
}

/**
 * Throws `ERR_SESSION_STORAGE` when the sessions folder is no longer this user's, as start-up made
 * sure it was: removed since (systemd-logind removes a user's files in /dev/shm when they log out)
 * and made again, in the shared /dev/shm, by another user of the machine, as a folder or a link of theirs. Sessions opened in it would let that user read and
 * change their files; mkdir, finding a folder there, says nothing.
 */
async function assertOwnRoot(root: string): Promise<void> {
  const uid = process.getuid?.();
  if (uid === undefined) return;
  // The folders and links on the way too, as start-up checked them: one of them removed (logind
  // removes every file of the user's in /dev/shm, a folder there holding the sessions folder too)
  // and made again by another user lets them swap the sessions folder, which mkdir then made in
  // it as the server's own, for a folder of theirs between this check and the session's mkdir.
  const foreign = await foreignStep(root, uid);
  const folder = await stat(root);
  const why =
    foreign?.path === path.resolve(root)
      ? `it is now a symbolic link of another user (uid ${foreign.uid})`
      : foreign !== undefined
        ? `${foreign.path} on the way to it is now ${foreign.link ? 'a symbolic link' : 'a folder'} of another user (uid ${foreign.uid})`
        : folder.uid !== uid
          ? `it now belongs to another user (uid ${folder.uid})`
          : undefined;
  if (why !== undefined) {
    throw new ToolkitError('ERR_SESSION_STORAGE', `could not open a stateful session in SAGEMAKER_SESSIONS_PATH=${root}: ${why}, who could read and change the sessions' files (it was removed and made again since start-up?); no session is opened there until it is a folder of this server's user again (restart the server to have it checked and made again)`);
  }
}

/** A session that could not be opened, read or closed because the sessions folder could not be used. */
function storageError(action: 'open' | 'read' | 'close', err: unknown): ToolkitError {
  return new ToolkitError('ERR_SESSION_STORAGE', `could not ${action} a stateful session in SAGEMAKER_SESSIONS_PATH: ${(err as Error).message}`, { cause: err });
}

/** Options of {@link SessionStore}. */
export interface SessionStoreOptions {
  /** The folder sessions live in (`SAGEMAKER_SESSIONS_PATH`). */
  readonly root: string;
  /** How long a session lives after it opens (`SAGEMAKER_SESSIONS_EXPIRATION`). */
  readonly ttlSeconds: number;
  /** Most sessions open at once (`SMKIT_SESSIONS_MAX`): a client cannot fill the memory-backed disk with them. */
  readonly maxSessions: number;
  readonly now?: () => number;
}

/**
 * Stateful sessions on disk, one folder each under `root`, as AWS's model hosting container
 * standards keep them: every worker and thread of the server sees the same sessions, so a session
 * opened by one worker is found by the next request whichever worker takes it. An expired session
 * is removed when it is next asked for, and all of them when a session opens (at most once a
 * minute, or when the store looks full and a session may have expired since the last sweep).
 */
export class SessionStore {
  private readonly now: () => number;
  private lastSweep = -Infinity;
  /** No session open at the last sweep, nor any opened since, expires before this (epoch ms). */
  private noneExpireBefore = -Infinity;
  /**
   * The sessions the last sweep found open and those this process opened since, by expiry (earliest
   * first): until a lifetime after that sweep, only they can have expired (another worker's opened
   * since expires later), so a full store removes those due without reading every session's expiry.
   */
  private known: { id: string; expiresAt: number }[] = [];
  /** The NEW_SESSION being made: this process makes one at a time, so concurrent ones cannot all pass the count. */
  private creating: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: SessionStoreOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * Opens a new session. Throws `ERR_TOO_MANY_SESSIONS` when `maxSessions` are open. Each process
   * opens one at a time; workers of a server share the folder, so together they may pass
   * `maxSessions` by at most one session per other worker.
   */
  create(): Promise<SessionRef> {
    const made = this.creating.then(() => this.createNow());
    this.creating = made.catch(() => undefined);
    return made;
  }

  private async createNow(): Promise<SessionRef> {
    try {
      await mkdir(this.opts.root, { recursive: true, mode: 0o700 });
      await assertOwnRoot(this.opts.root);
    } catch (err) {
      throw err instanceof ToolkitError ? err : storageError('open', err);
    }
    // Reading every session's expiry is the costly part: done once a minute, or when the count says
    // full and a session opened since the last sweep may have expired. A flood of NEW_SESSION on a
    // full store reads one folder listing each, and the expiry of none (refused) or of those the
    // last sweep found due since (see `known`): each used to read every session's expiry once one was due.
    let open = await this.count();
    const now = this.now();
    if (now - this.lastSweep >= SWEEP_INTERVAL_MS || (open >= this.opts.maxSessions && now >= this.lastSweep + this.opts.ttlSeconds * 1000)) open = await this.sweep();
    else if (open >= this.opts.maxSessions && now >= this.noneExpireBefore) open = await this.removeKnownExpired(now);
    if (open >= this.opts.maxSessions) {
      throw new ToolkitError('ERR_TOO_MANY_SESSIONS', `${open} stateful sessions are open, the most SMKIT_SESSIONS_MAX allows; close some ({"requestType": "CLOSE"}) or wait for them to expire`);
    }
    const ref: SessionRef = { id: randomUUID(), expiresAt: this.now() + this.opts.ttlSeconds * 1000, root: this.opts.root };
    const staging = path.join(this.opts.root, STAGING_PREFIX + ref.id);
    try {
      await mkdir(staging, { mode: 0o700 });
      await writeFile(path.join(staging, EXPIRY_FILE), String(ref.expiresAt));
      await rename(staging, sessionDir(ref));
    } catch (err) {
      await rm(staging, { recursive: true, force: true }).catch(() => undefined);
      throw storageError('open', err);
    }
    // Each expires a lifetime after it opened: later than every one known before. More than the
    // store holds means many were closed since the last sweep: the next NEW_SESSION sweeps instead.
    this.known.push({ id: ref.id, expiresAt: ref.expiresAt });
    if (this.known.length > this.opts.maxSessions) {
      this.known = [];
      this.lastSweep = -Infinity;
    }
    return ref;
  }

  /**
   * The open session `id`. Throws `ERR_SESSION_NOT_FOUND` for one that is closed, expired or
   * unknown, `ERR_SESSION_STORAGE` when its expiry cannot be read (it may well be open).
   */
  async open(id: string): Promise<SessionRef> {
    if (!isSessionId(id)) {
      throw new ToolkitError('ERR_SESSION_NOT_FOUND', `"${id.slice(0, 80)}" is not a session id: X-Amzn-SageMaker-Session-Id takes NEW_SESSION or an id this container returned (letters, digits and hyphens, at most 256)`);
    }
    const expiresAt = await this.expiryOf(id);
    if (expiresAt === undefined) throw new ToolkitError('ERR_SESSION_NOT_FOUND', `session ${id} is not open here: it was closed, it expired, or this container never opened it`);
    if (expiresAt <= this.now()) {
      await this.close(id);
      throw new ToolkitError('ERR_SESSION_NOT_FOUND', `session ${id} expired at ${new Date(expiresAt).toISOString()}; open a new one with NEW_SESSION`);
    }
    return { id, expiresAt, root: this.opts.root };
  }

  /** Removes a session and everything stored in it (see {@link removeSession}). */
  async close(id: string): Promise<void> {
    await removeSession({ id, root: this.opts.root });
  }

  /** Session folders there are, expired or not (names only: cheap). */
  private async count(): Promise<number> {
    try {
      return (await readdir(this.opts.root)).filter(isSessionId).length;
    } catch {
      return 0;
    }
  }

  /**
   * Removes the sessions of {@link known} due by `now` (their expiry is written once, when they
   * open: it is not read again); answers how many session folders stay. Those closed meanwhile (by a
   * CLOSE on any worker) are gone already, which removing them again does not mind.
   */
  private async removeKnownExpired(now: number): Promise<number> {
    let due = 0;
    while (due < this.known.length && this.known[due]!.expiresAt <= now) due++;
    for (const { id } of this.known.splice(0, due)) await this.close(id);
    this.noneExpireBefore = Math.min(this.known[0]?.expiresAt ?? Infinity, this.lastSweep + this.opts.ttlSeconds * 1000);
    return this.count();
  }

  /** Removes expired sessions; answers how many stay open. */
  async sweep(): Promise<number> {
    const now = this.now();
    this.lastSweep = now;
    // A session opened after the listing below (by any worker) expires a full lifetime from now or later.
    let earliest = now + this.opts.ttlSeconds * 1000;
    let names: string[];
    try {
      names = await readdir(this.opts.root);
    } catch {
      this.noneExpireBefore = earliest;
      return 0;
    }
    let open = 0;
    const known: { id: string; expiresAt: number }[] = [];
    for (const name of names) {
      // A closed session whose removal failed (a write kept refilling it) goes now.
      if (name.startsWith(CLOSED_PREFIX)) await rm(path.join(this.opts.root, name), { recursive: true, force: true, maxRetries: REMOVE_RETRIES }).catch(() => undefined);
      // A session a process that stopped (killed, out of memory) left half made would stay for good.
      if (name.startsWith(STAGING_PREFIX)) await this.removeIfAbandoned(path.join(this.opts.root, name));
      if (!isSessionId(name)) continue;
      let expiresAt: number | undefined;
      try {
        expiresAt = await this.expiryOf(name);
      } catch {
        // Unreadable (no descriptors left, an I/O error, or for good: EACCES on a folder another
        // user made): open as far as anyone knows, and looked at again by the next sweep, not
        // removed with its state; unless a lifetime has passed since its expiry was written,
        // which no session outlives, so one that stays unreadable does not count as open for ever.
        if (await this.writtenLifetimeAgo(name)) {
          // Expired, so not open, even where it cannot be moved away (a folder of another user
          // that this one may not write): the sweep goes on, and tries it again next time.
          await this.close(name).catch(() => undefined);
        } else {
          open++;
          earliest = now;
        }
        continue;
      }
      if (expiresAt !== undefined && expiresAt > now) {
        open++;
        earliest = Math.min(earliest, expiresAt);
        known.push({ id: name, expiresAt });
      } else await this.close(name);
    }
    // Those this process opened while the sweep ran were listed, or are opened after it (create() waits for it).
    this.known = known.sort((a, b) => a.expiresAt - b.expiresAt);
    this.noneExpireBefore = earliest;
    return open;
  }

  /**
   * Whether session `id`'s expiry file was written more than a session's lifetime ago (by the file
   * system's clock, as its time is): the expiry is written when the session opens, a lifetime
   * before it falls due. Where the file cannot be looked at, the folder's own time, which stat reads
   * from the sessions folder: a session folder is made private (0700), so another user's server
   * cannot reach the file in it, only the folder; the expiry was written into it before it was
   * renamed into place, and what the session stores since only moves its time on. When neither can
   * be looked at, that says nothing: false.
   */
  private async writtenLifetimeAgo(id: string): Promise<boolean> {
    const folder = path.join(this.opts.root, id);
    for (const look of [() => stat(path.join(folder, EXPIRY_FILE)), () => lstat(folder)]) {
      try {
        return Date.now() - (await look()).mtimeMs > this.opts.ttlSeconds * 1000;
      } catch {
        // The next, or nothing known.
      }
    }
    return false;
  }

  /** Removes staging folder `dir` when it is older than {@link STAGING_ABANDONED_MS} (by the file system's clock, as its time is). */
  private async removeIfAbandoned(dir: string): Promise<void> {
    try {
      if (Date.now() - (await stat(dir)).mtimeMs < STAGING_ABANDONED_MS) return;
    } catch {
      return;
    }
    await rm(dir, { recursive: true, force: true, maxRetries: REMOVE_RETRIES }).catch(() => undefined);
  }

  /**
   * When session `id` expires; undefined when it has no folder (closed, never opened). Throws
   * `ERR_SESSION_STORAGE` when its expiry is there but cannot be read (EMFILE, EIO): that says
   * nothing of the session, which must not be taken for gone.
   */
  private async expiryOf(id: string): Promise<number | undefined> {
    let text: string;
    try {
      text = await readFile(path.join(this.opts.root, id, EXPIRY_FILE), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // No such folder; or an id longer than a file name may be (255 bytes), which no session has.
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return undefined;
      throw storageError('read', err);
    }
    const value = Number(text);
    return Number.isFinite(value) ? value : 0;
  }
}

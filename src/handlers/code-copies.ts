import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../core/context.js';

/** The folder in a copy of code/ holding one file per process serving from it, named by its pid and holding its {@link pidNamespace}. */
export const IN_USE = '.smkit-in-use';

/** A copy's folder name: `smkit-code-<model key>-<fingerprint>` (code-deps.ts). */
const COPY_NAME = /^(smkit-code-[0-9a-f]{16}-)([0-9a-f]{16})$/;

/**
 * Whether `st` (from lstat) is a folder this user made: a real folder (not a link), owned by this
 * user and writable by no one else. The temp dir is shared on a multi-user machine: a folder someone
 * else made under an expected name would have its code run as this user, or is not ours to remove.
 */
export function isOwnFolder(st: Stats): boolean {
  const uid = process.getuid?.();
  // Without user ids (Windows) modes mean nothing, every folder's reads as writable by all, and the
  // temp dir is in the user's own profile.
  const own = uid === undefined || (st.uid === uid && (st.mode & 0o022) === 0);
  return st.isDirectory() && own;
}

/** Whether `dir` is an install this user made: {@link isOwnFolder}, holding `node_modules`. */
export function isOwnInstall(dir: string): boolean {
  try {
    return isOwnFolder(lstatSync(dir)) && existsSync(path.join(dir, 'node_modules'));
  } catch {
    return false;
  }
}

/**
 * This process's PID namespace (Linux; empty elsewhere), the line of its in-use records. A pid
 * tested with signal 0 names a process of this namespace only, and a temp dir can be shared with
 * servers in other containers (a volume), whose pids mean nothing here.
 */
function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return ''; // not Linux: one namespace
  }
}

/**
 * Records that this process serves from `copy`: `'recorded'`; `'gone'` when the copy was removed (or
 * moved aside for removal) meanwhile, which a start then takes as the copy being absent; `'unrecorded'`
 * when the copy is there but the record cannot be written (a read-only or full temp dir, a record
 * folder that is not writable): the copy is served from as before records existed, as installing
 * anew would fail the same way or leave one more copy each start. The record's folder is not made
 * again when missing: in a copy moved aside that would make a folder at its old name that is no install.
 */
export function markInUse(copy: string): 'recorded' | 'gone' | 'unrecorded' {
  const marker = path.join(copy, IN_USE, String(process.pid));
  const failed = (err: unknown): 'gone' | 'unrecorded' => {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' || !existsSync(path.join(copy, 'node_modules')) ? 'gone' : 'unrecorded';
  };
  try {
    mkdirSync(path.join(copy, IN_USE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return failed(err);
  }
  try {
    writeFileSync(marker, `${pidNamespace()}\n`);
  } catch (err) {
    return failed(err);
  }
  return existsSync(marker) ? 'recorded' : 'gone';
}

/**
 * Whether process `pid` may still run: signal 0 tests for it without sending anything. EPERM is a
 * live process of another user. This process's own pid counts as gone: it serves from one copy, the
 * one it is starting with, and a record naming it elsewhere is an earlier process's that had the
 * same pid (in a container the server's pid is the same at every start). A pid reused by an
 * unrelated process only keeps a copy longer.
 */
function mayRun(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Whether the process recorded as `name` in `copy` may still serve from it. Recorded in this PID
 * namespace: as {@link mayRun} says. Recorded in another one, or unreadable: kept, as its pid cannot
 * be tested from here. That may be an earlier run of this container (a restart makes a new
 * namespace), but it may as well be a live server in another container sharing the temp dir, even
 * one with this host name (containers of one Kubernetes pod), and removing a live server's copy
 * breaks its next worker or thread, where keeping a dead one's only costs disk.
 */
function recordMayRun(copy: string, name: string): boolean {
  if (!/^[0-9]+$/.test(name)) return true;
  let recorded: string;
  try {
    recorded = readFileSync(path.join(copy, IN_USE, name), 'utf8');
  } catch {
    return true;
  }
  return recorded.split('\n')[0] !== pidNamespace() || mayRun(Number(name));
}

/**
 * Whether a process may serve from `copy`; `unread` when its records cannot be read (true for a copy
 * in place: not clearly an unused copy of ours; false for one moved aside, whose removal, cut short,
 * may have taken the records first).
 */
function inUse(copy: string, unread = true): boolean {
  let names: string[];
  try {
    names = readdirSync(path.join(copy, IN_USE));
  } catch {
    return unread;
  }
  return names.some((name) => recordMayRun(copy, name));
}

/**
 * Removes the copies of the same model directory as `used` (same model key) that were made before
 * it and no live process serves from or installs into (a start cut short leaves its copy with its
 * mkdtemp suffix), and returns their paths. Kept: copies another process may
 * use, newer ones (a concurrent start may have made one of a newer code/), and anything that is not
 * clearly one of this user's copies (a link, a file, another user's folder or one writable by
 * others, one without the in-use records). A copy is first moved aside under a name no start looks
 * for and looked at again there: a start that recorded itself in it meanwhile keeps it (it is moved
 * back), and one that records itself after the move finds it gone and installs anew. Copies moved
 * aside by a process that died before removing them are removed too, unless a record in them may be live.
 */
export function removeStaleCopies(used: string, log: Logger): string[] {
  const match = COPY_NAME.exec(path.basename(used));
  if (!match) return [];
  const dir = path.dirname(used);
  const prefix = match[1]!;
  const usedTime = lstatSync(used).mtimeMs;
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(prefix) || name === path.basename(used)) continue;
    const rest = name.slice(prefix.length);
    // A fingerprint, with mkdtemp's suffix for a copy still being installed (or whose start was cut short).
    const aside = /^[0-9a-f]{16}(?:-[A-Za-z0-9]{6})?\.removing-([0-9]+)$/.exec(rest);
    if (!aside && !/^[0-9a-f]{16}(?:-[A-Za-z0-9]{6})?$/.test(rest)) continue;
    const full = path.join(dir, name);
    let st: Stats;
    try {
      st = lstatSync(full);
    } catch {
      continue;
    }
    if (!isOwnFolder(st)) continue;
    let doomed = full;
    if (aside) {
      // The remover's pid may be another namespace's: a live record there still keeps the copy.
      if (mayRun(Number(aside[1])) || inUse(full, false)) continue;
    } else {
      if (st.mtimeMs >= usedTime || inUse(full)) continue;
      doomed = `${full}.removing-${process.pid}`;
      try {
        renameSync(full, doomed);
      } catch {
        continue; // another start removes it, or it is busy (Windows)
      }
      if (inUse(doomed)) {
        try {
          renameSync(doomed, full);
        } catch (err) {
          log.warn({ folder: doomed, err }, 'could not move back a copy of code/ a starting server recorded itself in');
        }
        continue;
      }
    }
    try {
      rmSync(doomed, { recursive: true, force: true });
      removed.push(full);
    } catch (err) {
      log.warn({ folder: doomed, err }, 'could not remove a copy of code/ no server uses');
    }
  }
  if (removed.length > 0) log.info({ removed }, 'removed earlier copies of code/ that no running server uses');
  return removed;
}

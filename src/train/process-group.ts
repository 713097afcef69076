import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * Whether a process of the process group `pgid` is still running. On Linux, one listed in /proc
 * in that group that is not a zombie: smkit as PID 1 of a container (an image whose `ENTRYPOINT` runs
 * `node` itself; smkit's own images run tini as PID 1, which does) does not reap the orphans of a
 * shell entry point that end, and those stay in the group as zombies, so that the group merely
 * existing (`kill(-pgid, 0)`) does not mean anything in it runs. Without /proc (or with another pid
 * namespace's), whether the group exists.
 */
export function groupRunning(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    // EPERM: there is a process in it, one we may not signal.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // Another pid namespace's /proc lists other groups under these numbers: the group exists, it may run.
  if (!procIsOurs()) return true;
  let pids: number[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
  } catch {
    return true;
  }
  // Newest first: the group's processes are among the last started, so a running group is found
  // after a few reads, not after every process of a busy host.
  for (const pid of pids.sort((a, b) => b - a)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    } catch {
      continue; // ended meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so read after the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}

/**
 * Resolves once no process of the group `pgid` runs ({@link groupRunning}, checked every
 * `intervalMs`), or never when `signal` aborts first. The polling timer keeps the process up
 * while it waits and is cleared either way: abort `signal` when the wait is given up.
 */
export function groupEnded(pgid: number, signal: AbortSignal, intervalMs = 200): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return;
    // Most often (an entry point that ran nothing else) it has ended already: no wait of a poll.
    if (!groupRunning(pgid)) return resolve();
    const timer = setInterval(() => {
      if (groupRunning(pgid)) return;
      stop();
      resolve();
    }, intervalMs);
    const stop = () => {
      clearInterval(timer);
      signal.removeEventListener('abort', stop);
    };
    signal.addEventListener('abort', stop, { once: true });
  });
}

/** Most passes of {@link killMarked}: each kills what the one before could not see yet (forked meanwhile). */
const MAX_MARKED_PASSES = 10;

/**
 * SIGKILLs every process of this user whose environment holds `name=value` (read from
 * `/proc/<pid>/environ`, the environment it started with), until a pass finds none: the processes
 * an entry point started that left its process group (`setsid`, a daemon, `start_new_session`),
 * which signalling the group does not reach. They inherit the variable from the entry point, as
 * they would stay in its container on SageMaker, which ends every process in it with the entry
 * point. One started with a cleared environment (`env -i`) is not found. Returns the pids killed;
 * without `/proc` (not Linux), or with one of another pid namespace, none.
 */
export function killMarked(name: string, value: string): number[] {
  const marker = Buffer.from(`${name}=${value}\0`);
  const killed: number[] = [];
  // The pids /proc lists must be the ones kill() takes: another pid namespace's would name other processes.
  if (!procIsOurs()) return killed;
  // What this process started was started after it: older processes (most of a host's) are not
  // read. Reading a process's environment takes its memory map's lock, which a process stuck in
  // I/O can hold for long; its stat does not.
  const since = startTime('self') ?? 0;
  for (let pass = 0; pass < MAX_MARKED_PASSES; pass++) {
    let pids: number[];
    try {
      pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).map(Number);
    } catch {
      return killed;
    }
    let found = 0;
    for (const pid of pids) {
      if (pid === process.pid || (startTime(String(pid)) ?? 0) < since) continue;
      let environ: Buffer;
      try {
        // Another user's process (EACCES) or one that ended meanwhile (ENOENT); a zombie's reads empty.
        environ = readFileSync(`/proc/${pid}/environ`);
      } catch {
        continue;
      }
      const at = environ.indexOf(marker);
      if (at === -1 || (at > 0 && environ[at - 1] !== 0)) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        continue; // Ended meanwhile.
      }
      // One killed by an earlier pass may not have ended yet: only one not seen before asks for another pass.
      if (!killed.includes(pid)) {
        killed.push(pid);
        found++;
      }
    }
    if (found === 0) break;
  }
  return killed;
}

/**
 * Whether `/proc` shows this process's own pid namespace, so that a pid read there is the one
 * `process.kill` signals. Not when smkit runs in a pid namespace of its own whose `/proc` was not
 * mounted again (`unshare --pid --fork` without `--mount-proc`, a sandbox that bind-mounts the
 * host's): there `/proc/self` is smkit's pid in the other namespace, and pid 4242 read there is
 * another process than `kill(4242)` reaches. False without `/proc`.
 */
function procIsOurs(): boolean {
  try {
    return readlinkSync('/proc/self') === String(process.pid);
  } catch {
    return false;
  }
}

/** When the process started, in clock ticks after boot (field 22 of `/proc/<pid>/stat`), or undefined when it cannot be read. */
function startTime(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; starttime is the 20th field after it.
    const value = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

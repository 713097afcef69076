import { readdirSync, readFileSync } from 'node:fs';

/**
 * Whether a process of the process group `pgid` is still running. On Linux, one listed in /proc
 * in that group that is not a zombie: smkit as PID 1 of a container (an image whose `ENTRYPOINT` runs
 * `node` itself; smkit's own images run tini as PID 1, which does) does not reap the orphans of a
 * shell entry point that end, and those stay in the group as zombies, so that the group merely
 * existing (`kill(-pgid, 0)`) does not mean anything in it runs. Without /proc, whether the group exists.
 */
export function groupRunning(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    // EPERM: there is a process in it, one we may not signal.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
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

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Something `smkit local` started or made that must not outlive it: a `smkit serve` child (its
 * process group when it leads one), a container, or a work folder.
 */
export type OrphanItem =
  | { kind: 'process'; pid: number; group: boolean; startTime?: string; graceMs?: number }
  | { kind: 'container'; engine: string; name: string }
  | { kind: 'folder'; path: string };

/** A message from the tracking process to the reaper. */
export type ReaperMessage = { add: number; item: OrphanItem } | { remove: number };

const REAPER_SCRIPT = fileURLToPath(new URL('./orphan-reaper-process.js', import.meta.url));

const tracked = new Map<number, OrphanItem>();
/** The tracked items that the reaper runs for: processes, containers, and folders tracked with `startsReaper`. */
const worthAReaper = new Set<number>();
let nextId = 1;
let reaper: ChildProcess | undefined;

function send(message: ReaperMessage): void {
  // The reaper starts with the first process or container, which would go on running and holding
  // ports: a folder alone (made just before the processes that will use it) is not worth a process
  // of its own, unless it may come to hold much before any process starts (a local SageMaker's work
  // folder, with model data and training input). What is tracked before it starts is handed over when it does.
  const child = reaper ?? ('add' in message && worthAReaper.has(message.add) ? startReaper() : undefined);
  child?.stdin?.write(`${JSON.stringify(message)}\n`);
}

/** Starts the reaper and hands it what is tracked so far; undefined when it cannot be started. */
function startReaper(): ChildProcess | undefined {
  let child: ChildProcess;
  try {
    // Its own session: neither a terminal's Ctrl-C nor its hang-up reaches it, only this process's
    // end, which closes its stdin. A pipe, not an IPC channel: what is written before the reaper
    // listens waits in the pipe, where an early IPC message would be dropped.
    // Without NODE_OPTIONS: an --inspect-brk there would hold it at its first line, waiting for a
    // debugger, until long after this process is gone; an --inspect would fail on this process's port.
    child = spawn(process.execPath, [REAPER_SCRIPT, String(process.pid)], { detached: true, stdio: ['pipe', 'ignore', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } });
  } catch {
    return undefined;
  }
  const forget = (killed: boolean): void => {
    if (reaper !== child) return;
    reaper = undefined;
    // What was written to it since it died is lost: a reaper killed (someone's kill, the OOM killer)
    // is replaced at once and told all that is tracked. One that exited by itself would again: the next item tries.
    if (killed && worthAReaper.size > 0) startReaper();
  };
  child.once('error', () => forget(false));
  child.once('exit', (_code, signal) => forget(signal !== null));
  // A reaper that died: the write fails (EPIPE), and its exit decides what follows.
  child.stdin?.on('error', () => {});
  // The reaper may not keep this process alive (an idle pipe does not).
  child.unref();
  reaper = child;
  // Everything tracked so far (folders, or all when the last reaper died); the item being added comes
  // again from the caller, which the reaper takes as the same item.
  for (const [id, item] of tracked) child.stdin?.write(`${JSON.stringify({ add: id, item } satisfies ReaperMessage)}\n`);
  return child;
}

/**
 * The start time of process `pid` as Linux counts it (`/proc/<pid>/stat`, field 22), which tells
 * the process from a later one given the same id; undefined where there is no `/proc`.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from its closing one.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Options of {@link trackUntilReleased}. */
export interface TrackOptions {
  /**
   * Start the reaper for a folder too: one that may come to hold much before any process is
   * started (a local SageMaker's work folder, where model data and a training job's input are
   * downloaded before the containers or `smkit train` that use them run).
   * Processes and containers always start it.
   */
  startsReaper?: boolean;
}

/**
 * Tracks `item` until the returned function is called. If this process ends first (killed,
 * crashed, or exited without stopping it), a reaper process started with the first process or
 * container (a folder alone starts none unless `opts.startsReaper`, and is handed to the reaper
 * when one starts) stops the process or its group (SIGTERM, then SIGKILL after its grace, 10 s by
 * default), removes the container (`<engine> rm -f`) and then the folder. Nothing is done for items
 * released in time.
 */
export function trackUntilReleased(item: OrphanItem, opts: TrackOptions = {}): () => void {
  const id = nextId++;
  tracked.set(id, item);
  if (item.kind !== 'folder' || opts.startsReaper === true) worthAReaper.add(id);
  send({ add: id, item });
  let released = false;
  return () => {
    if (released) return;
    released = true;
    tracked.delete(id);
    worthAReaper.delete(id);
    send({ remove: id });
  };
}

/**
 * Tracks the child `pid` (and its process group when it leads one) until released: {@link trackUntilReleased}.
 * @param graceMs Between the reaper's SIGTERM and its SIGKILL (10 s by default): a child that
 *   passes SIGTERM on and waits for what it started needs that long.
 */
export function trackChildProcess(pid: number, group: boolean, graceMs?: number): () => void {
  const startTime = processStartTime(pid);
  return trackUntilReleased({ kind: 'process', pid, group, ...(startTime === undefined ? {} : { startTime }), ...(graceMs === undefined ? {} : { graceMs }) });
}

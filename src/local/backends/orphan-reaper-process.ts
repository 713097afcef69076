/**
 * The reaper `orphan-reaper.ts` starts: it holds what the process that started it has running
 * (told as JSON lines on its stdin) and, once that pipe closes, stops whatever is still held. The
 * pipe closes when that process ends, however it ends (SIGKILL, a crash, an exit that skipped
 * its clean-up), so nothing `smkit local` started outlives it. Run as `node orphan-reaper-process.js <owner pid>`.
 */
import { rm } from 'node:fs/promises';
import { removeContainers } from './container-removal.js';
import { processStartTime, type OrphanItem, type ReaperMessage } from './orphan-reaper.js';

const GROUP_GRACE_MS = 10_000;

const held = new Map<number, OrphanItem>();
const owner = process.argv[2] ?? '?';

// The owner's stderr may be gone by now (a pipe whose reader was killed with it, a closed
// terminal): a failed write must not end the reaper before it has done its work.
process.stderr.on('error', () => {});

let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  pending += chunk;
  for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
    const message = JSON.parse(pending.slice(0, nl)) as ReaperMessage;
    pending = pending.slice(nl + 1);
    if ('add' in message) held.set(message.add, message.item);
    else held.delete(message.remove);
  }
});
// The owner's end closes the pipe, however it ended.
process.stdin.once('end', () => {
  void reap().finally(() => process.exit(0));
});

/** Whether the process `pid` is still the one tracked (its id not reused since). */
function sameProcess(item: Extract<OrphanItem, { kind: 'process' }>): boolean {
  if (item.startTime === undefined) return true;
  const now = processStartTime(item.pid);
  // The leader gone: its group id cannot be reused while members of the group remain.
  return now === undefined ? item.group : now === item.startTime;
}

function signal(item: Extract<OrphanItem, { kind: 'process' }>, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(item.group ? -item.pid : item.pid, sig);
    return true;
  } catch {
    return false;
  }
}

async function reap(): Promise<void> {
  const items = [...held.values()];
  if (items.length === 0) return;
  const processes = items.flatMap((i) => (i.kind === 'process' && sameProcess(i) && signal(i, 'SIGTERM') ? [i] : []));
  const containers = new Map<string, string[]>();
  for (const i of items) if (i.kind === 'container') containers.set(i.engine, [...(containers.get(i.engine) ?? []), i.name]);
  const folders = items.flatMap((i) => (i.kind === 'folder' ? [i.path] : []));
  process.stderr.write(
    `smkit: process ${owner} ended without stopping what it started; stopping ${processes.length} process(es), removing ${[...containers.values()].flat().length} container(s) and ${folders.length} folder(s)\n`,
  );
  const removals = [...containers].map(([engine, names]) => removeContainers(engine, names));
  const signalled = Date.now();
  let alive = processes;
  while (alive.length > 0) {
    await new Promise((r) => setTimeout(r, 100));
    alive = alive.filter((p) => signal(p, 0) && (Date.now() - signalled < (p.graceMs ?? GROUP_GRACE_MS) || !signal(p, 'SIGKILL')));
  }
  await Promise.all(removals);
  await Promise.all(folders.map((f) => rm(f, { recursive: true, force: true }).catch(() => {})));
}

import { open } from 'node:fs/promises';
import { cappedLogFiles } from './capped-log.js';

/** How much of each file {@link tailLog} reads, at most. */
const READ_BYTES = 64 * 1024;

/**
 * Returns the last `lines` lines of a log file (reads at most the last 64 KiB of each of its
 * files); '' if unreadable. A capped log's last lines are in its tail files once its head is full
 * (see `CappedLogFile`): they are read first, newest first.
 */
export async function tailLog(file: string, lines = 20): Promise<string> {
  const files = cappedLogFiles(file);
  const parts: string[] = [];
  let found = 0;
  for (const path of [files.tail, files.previousTail, files.head]) {
    const part = await readEnd(path);
    if (part === undefined) continue;
    parts.unshift(part.text);
    found += part.text.split('\n').length - 1;
    if (found > lines || part.cut) break;
  }
  const all = parts.join('').split(/\r?\n/);
  if (all.at(-1) === '') all.pop();
  return all.slice(-lines).join('\n');
}

/** The last 64 KiB of the file at `path` (`cut` when that is not all of it); undefined if unreadable. */
async function readEnd(path: string): Promise<{ text: string; cut: boolean } | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
    const { size } = await handle.stat();
    const length = Math.min(size, READ_BYTES);
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    return { text: buf.toString('utf8'), cut: size > length };
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

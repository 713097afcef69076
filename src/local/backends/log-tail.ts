import { open } from 'node:fs/promises';

/** Returns the last `lines` lines of a log file (reads at most the last 64 KiB); '' if unreadable. */
export async function tailLog(file: string, lines = 20): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
    const { size } = await handle.stat();
    const length = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    const all = buf.toString('utf8').split(/\r?\n/);
    if (all.at(-1) === '') all.pop();
    return all.slice(-lines).join('\n');
  } catch {
    return '';
  } finally {
    await handle?.close();
  }
}

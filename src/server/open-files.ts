// The open files limit: read once at start-up by smkit serve (before its workers are forked, so
// this module loads nothing else) and by the connection limits.
import { readFileSync } from 'node:fs';
import { ToolkitError } from '../errors/catalogue.js';

/**
 * File descriptors a worker keeps free of connections: for the files it opens while it serves
 * (a package loaded on first use, the model's files, logs) and the pipes and threads it starts.
 */
export const RESERVED_FILE_DESCRIPTORS = 64;

/**
 * The lowest open files limit (`ulimit -n`) `smkit serve` starts with, given its number of worker
 * processes: each worker keeps {@link RESERVED_FILE_DESCRIPTORS} for its own files and as many
 * again for connections, and the primary holds a channel to every worker besides its own files.
 * Below about 40 Node cannot even load a worker's code (its module loader opens files side by
 * side), and the worker died at start-up with nothing saying why; a primary short of descriptors for
 * its workers' channels ended on a bare EMFILE.
 */
export function minOpenFiles(workers: number): number {
  return Math.max(2 * RESERVED_FILE_DESCRIPTORS, workers + RESERVED_FILE_DESCRIPTORS);
}

/**
 * The error that stops `smkit serve` from starting when its open files limit (`fileLimit`, from
 * {@link openFilesLimit}) is below {@link minOpenFiles} for `workers` worker processes; undefined
 * when it is not (or is unknown or unlimited).
 */
export function tooFewOpenFiles(fileLimit: number | undefined, workers: number): ToolkitError | undefined {
  const needed = minOpenFiles(workers);
  if (fileLimit === undefined || fileLimit >= needed) return undefined;
  return new ToolkitError(
    'ERR_CONFIG_INVALID',
    `the open files limit (ulimit -n) is ${fileLimit}, below the ${needed} smkit serve needs with ${workers} worker${workers === 1 ? '' : 's'} (${RESERVED_FILE_DESCRIPTORS} for the files each worker opens and as many for its connections, and one per worker for the primary); raise it (Node raises the soft limit to the hard one, ulimit -Hn, as it starts): ulimit -n 65536 in the shell that starts it, or docker run --ulimit nofile=65536`,
  );
}

/**
 * This process's soft limit on open files (`ulimit -n`), from `/proc/self/limits`; undefined when
 * there is none (`unlimited`) or it cannot be read (not Linux).
 */
export function openFilesLimit(limits = '/proc/self/limits'): number | undefined {
  let text: string;
  try {
    text = readFileSync(limits, 'latin1');
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\d+)\s/m.exec(text)?.[1];
  return soft === undefined ? undefined : Number(soft);
}

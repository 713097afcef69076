import type { Worker } from 'node:cluster';

/** Whether an `'error'` a cluster worker emitted means its process could not be started (it has no pid). */
export function isSpawnFailure(worker: Worker): boolean {
  return worker.process.pid === undefined;
}

/**
 * What to tell the operator when Node could not start a worker process (`execPath` is the Node
 * binary it runs): Node's words (`spawn <binary> <errno>`), and what to change.
 */
export function spawnFailureReason(err: NodeJS.ErrnoException, execPath: string): string {
  switch (err.code) {
    case 'EAGAIN':
      return `${err.message}: the system refused a new process (a limit on processes or threads, such as a container's pids limit, docker run --pids-limit, or ulimit -u); lower SAGEMAKER_MODEL_SERVER_WORKERS, or raise the limit`;
    case 'EMFILE':
    case 'ENFILE':
      return `${err.message}: no file descriptors were left for the new process's channel (the open files limit, ulimit -n, or the system's); raise the limit`;
    case 'ENOMEM':
      return `${err.message}: the system had no memory for a new process; lower SAGEMAKER_MODEL_SERVER_WORKERS, or give the container more memory`;
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ELOOP':
    case 'EACCES':
      return `${err.message}: the Node binary ${execPath} can no longer be run (it was removed, moved or made unreadable since smkit serve started, as an upgrade of Node does); restart smkit serve`;
    default:
      return err.message;
  }
}

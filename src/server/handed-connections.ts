import type { ChildProcess } from 'node:child_process';
import type { Worker } from 'node:cluster';
import { isNativeHandle, type NativeHandle } from './orphaned-connection.js';

/**
 * Closing the connections Node's cluster round-robin handed to a worker process that died before it
 * took them.
 *
 * Under round-robin (`SMKIT_CONNECTION_BALANCING=primary`, and `auto` where `kernel` cannot be used,
 * such as Node 20) the primary accepts each new connection and sends it to a worker over the
 * cluster channel (`{ cmd: 'NODE_CLUSTER', act: 'newconn', seq }` with the connection's handle).
 * Node's cluster (lib/internal/cluster/round_robin_handle.js, the same in Node 20, 22 and 24) closes
 * the primary's copy of the connection only in the callback of the worker's answer
 * (`{ ack: seq, accepted }`), which a worker that dies first never sends: nothing else closes it,
 * so the client's connection stayed open, never answered, until the client gave up (a `curl` waited
 * out its 40 s). A worker busy on its event loop (a batch run inline, a blocked handler) takes a
 * handed connection only when that turn ends, so one killed then (the out-of-memory killer, the
 * heartbeat watchdog, a `SIGKILL` from outside) left its handed connection so.
 *
 * This notes each connection as it is sent to a worker, forgets it when the worker's answer comes,
 * and closes those left once the worker's process has exited and its channel's end has been read
 * (every answer it sent has then been read, so none can come later). The client sees its connection close
 * without an answer, as for the other connections of a worker that died, and retries on a new
 * one (the AWS SDKs do so for a reset or closed connection). A worker sends its answer before it
 * reads from the connection (internal/cluster/child.js), so a connection closed here was never read
 * and its request never ran, unless that answer was still waiting for room in the channel when the
 * worker died: then its request died with the worker, as those on its other connections did.
 *
 * Should a Node's messages differ from these shapes, nothing is closed: a connection not recognised as
 * sent is not noted, and if answers are not recognised the noting stops (see MAX_WAITING).
 *
 * It costs one map insertion and one deletion per new connection, nothing per request. Under
 * `kernel` balancing no connection is sent, and nothing is noted.
 */
export function closeConnectionsOfDeadWorker(worker: Worker): void {
  const proc = worker.process as ChildProcess & { send: (...args: unknown[]) => boolean };
  /** Connections sent to the worker that it has not said it took (or refused), by the message's `seq`. */
  const handed = new Map<number, NativeHandle>();
  /** Set once more were waiting than Node's cluster can have waiting: its messages are not the ones known here. */
  let unknownShapes = false;
  const send = proc.send;
  // Node's cluster sends through the worker's ChildProcess.send, as is (internal/cluster/utils.js sendHelper).
  proc.send = function (this: ChildProcess, ...args: unknown[]): boolean {
    const [message, handle] = args;
    if (!unknownShapes && handle !== undefined && isNewConnection(message) && isNativeHandle(handle)) {
      handed.set(message.seq, handle);
      // Node hands a worker its next connection only once it has answered for the last (one waits per
      // listening server): more mean the answers are not recognised here (another Node's message shapes),
      // and noting on would hold every connection's handle for the worker's life. Stop, closing nothing.
      if (handed.size > MAX_WAITING) {
        unknownShapes = true;
        handed.clear();
      }
    }
    return Reflect.apply(send, this, args) as boolean;
  };
  proc.on('internalMessage', (message: unknown) => {
    if (handed.size > 0 && isAnswer(message)) handed.delete(message.ack);
  });
  // 'close' comes once the process has exited and its channel's end has been read. Not
  // 'disconnect': Node emits it only once the connections sent are acknowledged at the channel's
  // own level too, which a worker that died first never does; nor 'exit', which can come before
  // the worker's last answers are read.
  proc.once('close', () => {
    for (const handle of handed.values()) handle.close();
    handed.clear();
  });
}

/** More connections than can wait for one worker's answer at once (one per listening server, and smkit has a few). */
export const MAX_WAITING = 64;

/** Node's cluster handing a new connection to a worker. */
function isNewConnection(message: unknown): message is { seq: number } {
  const m = message as { cmd?: unknown; act?: unknown; seq?: unknown } | null;
  return typeof m === 'object' && m !== null && m.cmd === 'NODE_CLUSTER' && m.act === 'newconn' && typeof m.seq === 'number';
}

/** A worker's answer to a cluster message: to a new connection, that it took or refused it. */
function isAnswer(message: unknown): message is { ack: number } {
  const m = message as { cmd?: unknown; ack?: unknown } | null;
  return typeof m === 'object' && m !== null && m.cmd === 'NODE_CLUSTER' && typeof m.ack === 'number';
}

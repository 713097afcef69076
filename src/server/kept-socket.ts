import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { ToolkitError } from '../errors/catalogue.js';
import type { ConnectionBalancing } from './connection-balancing.js';

/**
 * The listening socket the primary keeps open while no worker process is alive.
 *
 * A listening socket closes with the last process that holds it, and a client that connects then is
 * refused (ECONNREFUSED). Node's cluster round-robin closes the primary's listening socket once its
 * last worker has gone (lib/internal/cluster/round_robin_handle.js `remove`, the same in Node 20, 22
 * and 24), and with `kernel` balancing each worker's own `SO_REUSEPORT` sockets close with it. So
 * with one worker (SAGEMAKER_MODEL_SERVER_WORKERS=1), or when every worker died at once, /ping and
 * /invocations were refused for the 0.5–0.9 s until a replacement listened, which SageMaker's
 * health check reads as a container that is down.
 *
 * Here the primary binds the socket itself, never listens on it nor accepts from it, and sends it
 * with each worker's configuration; the worker listens on it and accepts from it. While the
 * primary holds it the socket stays listening, whichever workers have died: the kernel completes
 * each new connection and queues it (up to the listen backlog), and the replacement accepts it and
 * answers once it listens. With `kernel` balancing this socket is one more of the port's
 * `SO_REUSEPORT` group, which every worker accepts from beside its own. With `primary` (round-robin)
 * balancing and several workers Node's cluster keeps its own socket, and this one is not made.
 *
 * The primary closes it when the server stops: the workers then hold the socket while they drain,
 * and new connections are refused once the last has closed it, as before.
 */
export interface KeptSocket {
  /** The bound socket (a native TCP handle), sent to each worker with its configuration. */
  readonly handle: object;
  /** Closes the primary's copy; the socket stays open while a worker holds it. Idempotent. */
  close(): void;
}

/** Whether the primary keeps the listening socket (see {@link KeptSocket}). */
export function keepsSocket(mode: ConnectionBalancing, workers: number): boolean {
  return mode === 'kernel' || workers === 1;
}

/** libuv's `UV_TCP_REUSEPORT` bind flag (uv.h; Node 22.12+ and 23.1+ pass it for `listen({ reusePort })`). */
const UV_TCP_REUSEPORT = 2;

interface NativeTcp {
  close(): void;
}
type CreateServerHandle = (address: string, port: number, addressType: 4 | 6, fd: undefined, flags: number) => NativeTcp | number;

/**
 * Binds `host`:`port` for the workers to listen on (with `SO_REUSEPORT` under `kernel` balancing).
 * Throws `ERR_PORT_IN_USE` when the bind fails. Uses `net._createServerHandle`, through which Node's
 * cluster primary binds its own sockets (Node 20, 22 and 24 alike): no public API binds a socket
 * without also accepting from it.
 */
export async function keepListeningSocket(
  host: string,
  port: number,
  mode: ConnectionBalancing,
  onUnavailable: (reason: string) => void,
): Promise<KeptSocket | undefined> {
  // `_createServerHandle` is Node's private helper: should a Node lack it or it misbehave, the
  // server runs as before (without the kept socket) and says why, rather than failing to start.
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof create !== 'function') {
    onUnavailable('net._createServerHandle is missing in this Node');
    return undefined;
  }
  const family = net.isIP(host);
  const { address, family: resolved } = family ? { address: host, family } : await lookup(host);
  let handle: NativeTcp | number;
  try {
    handle = create(address, port, resolved === 6 ? 6 : 4, undefined, mode === 'kernel' ? UV_TCP_REUSEPORT : 0);
  } catch (err) {
    onUnavailable(`net._createServerHandle threw: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
  if (typeof handle !== 'number' && (typeof handle !== 'object' || handle === null || typeof handle.close !== 'function')) {
    onUnavailable('net._createServerHandle returned no socket handle');
    return undefined;
  }
  if (typeof handle === 'number') {
    throw new ToolkitError(
      'ERR_PORT_IN_USE',
      `could not listen on ${host}:${port} (${getSystemErrorName(handle)}: another process holds it, or it needs privileges); pass --port (SAGEMAKER_BIND_TO_PORT) with another port`,
    );
  }
  let open = true;
  const bound = handle;
  return {
    handle: bound,
    close() {
      if (!open) return;
      open = false;
      bound.close();
    },
  };
}

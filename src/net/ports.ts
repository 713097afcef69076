import { readFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';
import { ToolkitError } from '../errors/catalogue.js';

/** How long a port handed out by {@link findFreePort} is not handed out again in this process. */
const RESERVATION_MS = 5 * 60_000;
const reserved = new Map<number, number>();

function probe(host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Asks the OS for a free TCP port on `host` (listen on port 0, read it, close) for a child process
 * to bind later. The OS may hand the same port out again before the child holds it, so this
 * process does not give out a port it gave out in the last few minutes (two instances started at
 * once never share one). Other processes can still take it: starters of `smkit serve` children
 * also check that `/ping` is answered by their own child (see `waitForPing`'s `instanceId`).
 */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  const now = Date.now();
  for (const [port, until] of reserved) if (until <= now) reserved.delete(port);
  for (let attempt = 0; ; attempt++) {
    const port = await probe(host);
    if (!reserved.has(port) || attempt >= 20) {
      reserved.set(port, now + RESERVATION_MS);
      return port;
    }
  }
}

/** The lowest port {@link findFreePortRange} draws from: below it are the ports servers are commonly set to (3000, 5000, 8080, 9000…). */
export const PORT_RANGE_POOL_LOW = 20_000;

/**
 * The ports {@link findFreePortRange} draws ranges of `size` from, `[low, high]`: those from
 * {@link PORT_RANGE_POOL_LOW} up to the OS's ephemeral range, whose ports outgoing connections take
 * (and, on Linux, even ones first: a range in it collides with them on a busy machine). `ephemeral`
 * is Linux's `ip_local_port_range` ("32768\t60999"); without it, 32768, the lowest start of the
 * default ranges of Linux, macOS and Windows (Linux's; macOS and Windows start at 49152).
 * Undefined when that leaves room for fewer than 100 ranges (an ephemeral range set to start low):
 * ranges are then drawn from the OS's own.
 */
export function portRangePool(size: number, ephemeral?: string): readonly [number, number] | undefined {
  const start = Number(ephemeral?.trim().split(/\s+/)[0]);
  const ephemeralLow = Number.isInteger(start) && start > 0 ? start : 32_768;
  const high = ephemeralLow - 1;
  return high - PORT_RANGE_POOL_LOW + 1 >= 100 * size ? [PORT_RANGE_POOL_LOW, high] : undefined;
}

/**
 * The first port of a range of `size` drawn from `pool` (see {@link portRangePool}), so that the
 * whole range lies within it; `random(min, max)` gives a whole number from min to max − 1.
 */
export function rangeStartIn(pool: readonly [number, number], size: number, random: (min: number, max: number) => number = randomInt): number {
  return random(pool[0], pool[1] - size + 2);
}

/** Linux's ephemeral port range, as its /proc file gives it; undefined elsewhere. */
function ephemeralPortRange(): string | undefined {
  try {
    return readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Finds `size` consecutive TCP ports on `host` that are free now and were not handed out by
 * {@link findFreePort} or this function in the last few minutes (so ranges and ports given to
 * the children of this process never overlap): the start is drawn at random below the OS's
 * ephemeral ports ({@link portRangePool}; from a free port the OS gives when there is no room
 * there), and every port of the range is bound once to check it. As with {@link findFreePort},
 * another process may still take one before the child binds it. Fails with `ERR_PORT_IN_USE` when
 * 50 tries found none.
 */
export async function findFreePortRange(size: number, host = '127.0.0.1'): Promise<readonly [number, number]> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`a port range holds at least one port, not ${size}`);
  const pool = portRangePool(size, ephemeralPortRange());
  for (let attempt = 0; attempt < 50; attempt++) {
    const low = pool ? rangeStartIn(pool, size) : await probe(host);
    const high = low + size - 1;
    if (high > 65535) continue;
    const ports = Array.from({ length: size }, (_, i) => low + i);
    const now = Date.now();
    for (const [port, until] of reserved) if (until <= now) reserved.delete(port);
    if (ports.some((p) => reserved.has(p))) continue;
    // Reserved before the checks below yield, so a start running at the same time cannot take any of them.
    for (const p of ports) reserved.set(p, now + RESERVATION_MS);
    const bindable = await Promise.all(ports.map((p) => assertPortFree(host, p).then(() => true, () => false)));
    if (bindable.every(Boolean)) return [low, high];
    for (const p of ports) reserved.delete(p);
  }
  throw new ToolkitError('ERR_PORT_IN_USE', `found no ${size} consecutive free ports on ${host} in 50 tries; free some ports, or stop other servers on this machine`);
}

/**
 * Fails with `ERR_PORT_IN_USE` when `host:port` cannot be bound (another process holds it, or the
 * port needs privileges), so a server can refuse to start with one clear line instead of failing
 * later in a worker. `what` names the setting to change, for example `--port (SAGEMAKER_BIND_TO_PORT)`.
 * Port 0 (any free port) passes when `host` can be bound at all.
 */
export function assertPortFree(host: string, port: number, what = '--port'): Promise<void> {
  return new Promise((ok, ko) => {
    const server = createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => ko(portBindError(err, host, port, what)));
    server.listen(port, host, () => server.close(() => ok()));
  });
}

/**
 * Why `host:port` could not be bound, as `ERR_PORT_IN_USE`: another process holds it, it needs
 * privileges, or another reason; `what` names the setting to change.
 */
export function portBindError(err: NodeJS.ErrnoException, host: string, port: number, what = '--port'): ToolkitError {
  const why = err.code === 'EADDRINUSE' ? 'is already in use by another process' : err.code === 'EACCES' ? 'needs privileges this process does not have' : `cannot be bound (${err.code ?? err.message})`;
  return new ToolkitError('ERR_PORT_IN_USE', `port ${port} on ${host} ${why}; stop that process, or pass ${what} with another port (0 picks a free one)`, { cause: err });
}

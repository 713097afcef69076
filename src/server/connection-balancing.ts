import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { BlockList } from 'node:net';

/**
 * How new connections reach the HTTP workers.
 *
 * - `primary`: Node's cluster round-robin. The primary accepts each connection and hands it to a
 *   worker, and hands that worker its next one only once it has taken the last, which a worker
 *   does once per event-loop turn. A worker running batches inline has turns of several
 *   milliseconds under load, so behind a burst of new connections a `/ping` on a new connection
 *   waited 4–5 s (1500 connections, two saturated workers; see docs/benchmarks-history.md).
 * - `kernel`: every worker listens on the port itself with `SO_REUSEPORT` ({@link KERNEL_SOCKETS_PER_WORKER}
 *   sockets each), and the kernel spreads new connections over all the sockets. The spread is by a
 *   hash of the client's address and port, so it is a little less even than round-robin.
 */
export type ConnectionBalancing = 'primary' | 'kernel';

/**
 * Listening sockets each worker opens on the port with `kernel` balancing. Node's event loop
 * (libuv) accepts one connection per listening socket per turn, and a worker running batches
 * inline has turns of 5–150 ms under load: with one socket, 750 new connections took a worker
 * seconds to accept, and a `/ping` on a new connection behind them waited up to 6 s. Each socket adds
 * one accept per turn; the kernel's hash spreads new connections over every socket of every worker.
 */
export const KERNEL_SOCKETS_PER_WORKER = 8;

/** What `SMKIT_CONNECTION_BALANCING` asks for. */
export type ConnectionBalancingSetting = 'auto' | ConnectionBalancing;

/** The facts the choice depends on, injectable for tests. */
export interface BalancingProbe {
  /** `process.versions.node`. */
  nodeVersion: string;
  /** `process.platform`. */
  platform: NodeJS.Platform;
}

/** The mode chosen and why; `warning` is set when an explicit `kernel` could not be honoured. */
export interface BalancingChoice {
  mode: ConnectionBalancing;
  reason: string;
  warning?: string;
}

const CURRENT: BalancingProbe = { nodeVersion: process.versions.node, platform: process.platform };

/**
 * True where `net.Server.listen({ reusePort: true })` spreads connections over the sockets:
 * Node 22.12+ or 23.1+ (the option's first releases) on Linux. Other platforms either lack
 * `SO_REUSEPORT` or let the last socket take every connection.
 */
export function supportsReusePort(probe: BalancingProbe = CURRENT): boolean {
  const [major = 0, minor = 0] = probe.nodeVersion.split('.').map(Number);
  const nodeHasIt = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
  return nodeHasIt && probe.platform === 'linux';
}

/**
 * Chooses how connections reach the workers. `auto` is `kernel` where it is supported and fits:
 * a fixed port (with port 0 every socket would get a port of its own), whatever the number of
 * workers. With one worker round-robin gains nothing (the primary keeps a listening socket open
 * while a crashed worker's replacement starts either way, see kept-socket.ts), and a `/ping` would
 * wait behind a burst of new connections.
 * An explicit `kernel` that cannot be honoured falls back to `primary` with a warning.
 */
export function chooseConnectionBalancing(
  setting: ConnectionBalancingSetting,
  server: { port: number },
  probe: BalancingProbe = CURRENT,
): BalancingChoice {
  if (setting === 'primary') return { mode: 'primary', reason: 'SMKIT_CONNECTION_BALANCING=primary' };
  const cannot = (reason: string): BalancingChoice =>
    setting === 'kernel' ? { mode: 'primary', reason, warning: `SMKIT_CONNECTION_BALANCING=kernel cannot be used: ${reason}; the primary hands connections to the workers instead` } : { mode: 'primary', reason };
  if (!supportsReusePort(probe)) return cannot(`SO_REUSEPORT balancing needs Node 22.12+ on Linux (this is Node ${probe.nodeVersion} on ${probe.platform})`);
  if (server.port === 0) return cannot('port 0 would give each worker a port of its own');
  return { mode: 'kernel', reason: setting === 'kernel' ? 'SMKIT_CONNECTION_BALANCING=kernel' : 'SO_REUSEPORT is available' };
}

const TCP_LISTEN = '0A';

/** A listening address as `server.address()` gives it. */
export interface BoundAddress {
  address: string;
  family: string;
}

/**
 * Listening TCP sockets on `port` in this network namespace, read from `/proc/net/tcp` and
 * `/proc/net/tcp6`; when `bound` is given, only those whose address overlaps it: the same address,
 * a wildcard (`0.0.0.0` of its family, or `::`, which takes IPv4 too unless IPV6_V6ONLY, which
 * `/proc` does not show), or any address of the port when `bound` is itself such a wildcard. Those
 * are the binds the OS refuses (EADDRINUSE) unless both sides set SO_REUSEPORT; a socket on another
 * specific address (127.0.0.2 beside 127.0.0.1) never takes its connections and is left out.
 * Undefined where those files cannot be read.
 *
 * With `kernel` balancing a worker uses {@link listenersOfOthers} (or, where `/proc` cannot tell whose
 * a socket is, this count against workers × {@link KERNEL_SOCKETS_PER_WORKER}) to notice another
 * process sharing its port: the primary's start-up check binds the port alone, but two servers started at the same moment can
 * both pass it, and with SO_REUSEPORT both binds then succeed and the port would be silently
 * shared. (Both then stop: which of them bound first cannot be told from `/proc`, where socket
 * inode numbers come in per-CPU batches rather than in order.)
 */
export function countListeners(port: number, bound?: BoundAddress, read: (file: string) => string = (file) => readFileSync(file, 'utf8')): number | undefined {
  return listenerInodes(port, bound, read)?.length;
}

/**
 * The socket inodes of the listeners {@link countListeners} counts (the `inode` column of
 * `/proc/net/tcp*`), one per socket; undefined where those files cannot be read.
 */
export function listenerInodes(port: number, bound?: BoundAddress, read: (file: string) => string = (file) => readFileSync(file, 'utf8')): string[] | undefined {
  const boundFamily = bound && (String(bound.family).endsWith('6') ? 'ipv6' : 'ipv4');
  let same: BlockList | undefined;
  if (bound) {
    same = new BlockList();
    same.addAddress(bound.address, boundFamily);
  }
  /** Whether a listener at `address` overlaps `bound` (see above). */
  const overlaps = (address: { address: string; family: 'ipv4' | 'ipv6' }): boolean => {
    if (!bound || !same) return true;
    // 0.0.0.0, ::, and :: as /proc's words give it (0:0:0:0:0:0:0:0).
    const wildcard = (a: string) => /^[0.:]+$/.test(a);
    const v6Wildcard = (a: { address: string; family: string }) => wildcard(a.address) && a.address.includes(':');
    if (v6Wildcard(address) || v6Wildcard(bound)) return true;
    if (address.family !== boundFamily) return false;
    return wildcard(address.address) || wildcard(bound.address) || same.check(address.address, address.family);
  };
  const inodes: string[] = [];
  let readAny = false;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let table: string;
    try {
      table = read(file);
    } catch {
      continue;
    }
    readAny = true;
    for (const line of table.split('\n').slice(1)) {
      // "  0: 0100007F:1F90 00000000:0000 0A ...": local address:port (hex), remote, state.
      const [, local, , state, , , , , , inode] = line.trim().split(/\s+/);
      if (state !== TCP_LISTEN || local === undefined) continue;
      const colon = local.lastIndexOf(':');
      if (parseInt(local.slice(colon + 1), 16) !== port) continue;
      if (bound) {
        const address = procAddress(local.slice(0, colon));
        if (!address || !overlaps(address)) continue;
      }
      inodes.push(inode ?? '');
    }
  }
  return readAny ? inodes : undefined;
}

/** How {@link listenersOfOthers} reads `/proc`, injectable for tests. */
export interface ProcReader {
  read(file: string): string;
  readdir(dir: string): string[];
  readlink(file: string): string;
}

const PROC: ProcReader = { read: (file) => readFileSync(file, 'utf8'), readdir: (dir) => readdirSync(dir), readlink: (file) => readlinkSync(file) };

/**
 * The processes of the server a worker belongs to: its primary (`primaryPid`) and every child of it
 * (the worker processes, this one and its siblings, bound or still binding). From
 * `/proc/<pid>/task/<pid>/children`, else from the parent pid in every `/proc/<pid>/stat`.
 */
export function serverProcesses(primaryPid: number, proc: ProcReader = PROC): number[] {
  try {
    const children = proc.read(`/proc/${primaryPid}/task/${primaryPid}/children`).trim().split(/\s+/).filter(Boolean).map(Number);
    return [primaryPid, ...children];
  } catch {
    const pids = [primaryPid];
    for (const entry of proc.readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = proc.read(`/proc/${entry}/stat`);
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, the last ')' ends it.
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === primaryPid) pids.push(Number(entry));
      } catch {
        // gone meanwhile
      }
    }
    return pids;
  }
}

/** The socket inodes among the open descriptors of `pids` (`/proc/<pid>/fd/*` → `socket:[inode]`). */
function socketInodesOf(pids: readonly number[], proc: ProcReader): Set<string> {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = proc.readdir(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(proc.readlink(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        // closed meanwhile
      }
    }
  }
  return inodes;
}

/**
 * Listening sockets on `port` whose address overlaps `bound` (as {@link countListeners}) that no
 * process of `ownPids` holds: another process's, which shares the port through SO_REUSEPORT.
 * Undefined where `/proc` cannot tell (the tables cannot be read, or no descriptor of this process,
 * which holds such a socket itself, could be read).
 *
 * Unlike a count against the server's sockets (workers × {@link KERNEL_SOCKETS_PER_WORKER}), this
 * does not depend on how many of the server's workers have bound the port yet: a worker that
 * counted while a sibling had not bound let as many sockets of another server through.
 * A socket listed but closed before the descriptors are read (a worker leaving) is not counted:
 * only those still listed after the descriptors were read are.
 */
export function listenersOfOthers(port: number, bound: BoundAddress, ownPids: readonly number[], proc: ProcReader = PROC): number | undefined {
  const before = listenerInodes(port, bound, proc.read);
  if (before === undefined) return undefined;
  const own = socketInodesOf(ownPids, proc);
  if (own.size === 0) return undefined;
  const after = new Set(listenerInodes(port, bound, proc.read) ?? []);
  return before.filter((inode) => after.has(inode) && !own.has(inode)).length;
}

/**
 * An address as `/proc/net/tcp*` print it: the IPv4 address, or each 32-bit word of the IPv6
 * one, in the host's (little-endian) byte order.
 */
function procAddress(hex: string): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  if (hex.length === 8) return { address: [...Buffer.from(hex, 'hex').reverse()].join('.'), family: 'ipv4' };
  if (hex.length !== 32) return undefined;
  const bytes = Buffer.concat(hex.match(/.{8}/g)!.map((word) => Buffer.from(word, 'hex').reverse()));
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return { address: groups.join(':'), family: 'ipv6' };
}

/**
 * Keeping kept-alive connections spread over the HTTP workers.
 *
 * Whichever way new connections reach the workers (Node's round-robin or the kernel's
 * `SO_REUSEPORT` hash, see `connection-balancing.ts`), a connection stays with the worker that
 * took it for as long as the client keeps it alive, and SageMaker's front end, the AWS SDKs and
 * load generators keep theirs for hours. A few connections opened at once then often fall
 * unevenly: four connections to two workers, measured on Node 22, landed 4/0 in one of six
 * tries and 3/1 in another, and 4/0 served 10 600 one-row requests/s against 17 000 for 2/2. Nor
 * does a worker that replaces a crashed one get any of the connections that moved to the others.
 *
 * So each worker tells the primary how many connections it holds; once the counts have settled,
 * the primary tells each worker over its share ({@link connectionLimit}) how many to close; and
 * that worker answers its next requests with `Connection: close`, one per connection. The client reads
 * the whole answer and opens a new connection for its next request, which the balancing above
 * places again. This is how gRPC's `MAX_CONNECTION_AGE` and Envoy's `max_connection_duration`
 * rebalance long-lived connections; here a connection is closed only when its worker holds more
 * than its share, and never with another request of its own in flight (a pipelined one would be
 * lost with it).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionDrain } from './connection-drain.js';

/** How long a worker waits after its count changes before it reports, so a burst sends one report. */
export const REPORT_DELAY_MS = 50;

/**
 * How many connections each of `workers` workers may hold when `total` are open: an even share,
 * plus a tenth of it once shares are large, so that 33 against 31 is left alone and 3 against 1 is
 * not. `undefined` (no limit) with fewer than two workers.
 */
export function connectionLimit(total: number, workers: number): number | undefined {
  if (workers < 2) return undefined;
  const share = total / workers;
  return Math.ceil(share) + Math.floor(share / 10);
}

/** How long the workers' counts must stay unchanged before the primary acts on them. */
export const SETTLE_MS = 200;

/**
 * The primary's side: every worker's count. Once no count has changed for `settleMs` (so that
 * connections being opened or closed at the time, a load generator starting, are not mistaken for
 * an imbalance), each worker holding more than {@link connectionLimit} is told how many to close.
 */
export class ConnectionCensus {
  readonly #counts = new Map<number, number>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  /**
   * @param shed - tells worker `id` to close `count` of its connections.
   * @param settleMs - how long the counts must stay unchanged first.
   */
  constructor(
    private readonly shed: (id: number, count: number) => void,
    private readonly settleMs = SETTLE_MS,
  ) {}

  /** Records that worker `id` holds `open` connections. */
  report(id: number, open: number): void {
    this.#counts.set(id, open);
    this.#settle();
  }

  /** Leaves out a worker that exited. */
  forget(id: number): void {
    if (this.#counts.delete(id)) this.#settle();
  }

  /** Stops acting (the server is stopping). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The workers over the limit now and how many connections each should close. */
  excess(): [id: number, count: number][] {
    let total = 0;
    for (const open of this.#counts.values()) total += open;
    const limit = connectionLimit(total, this.#counts.size);
    if (limit === undefined) return [];
    return [...this.#counts].filter(([, open]) => open > limit).map(([id, open]) => [id, open - limit]);
  }

  #settle(): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      for (const [id, count] of this.excess()) this.shed(id, count);
    }, this.settleMs);
    this.#timer.unref();
  }
}

/**
 * The worker's side: reports the server's connection count (kept by its drain tracker), and closes as many as the
 * primary asks, one per request. A new connection cancels what is left to close: the counts the
 * primary went by are out of date, and it will look again once they settle.
 */
export class ConnectionShedder {
  #toClose = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #closed = 0;

  /**
   * @param report - sends this worker's count of open connections to the primary.
   * @param connections - the server's connections, as the drain tracks them (it must be watching
   *   the same server, and have started first).
   * @param reportDelayMs - how long after a change the count is sent.
   */
  constructor(
    private readonly report: (open: number) => void,
    private readonly connections: Pick<ConnectionDrain, 'connectionCount' | 'inFlightOn'>,
    private readonly reportDelayMs = REPORT_DELAY_MS,
  ) {}

  /** Reports `server`'s connections as they come and go (those its extra listening sockets hand it too). */
  watch(server: Server): void {
    server.on('connection', (socket: Socket) => {
      this.#toClose = 0;
      this.#changed();
      socket.once('close', () => this.#changed());
    });
  }

  /** Connections this worker has asked to close so far. */
  get closed(): number {
    return this.#closed;
  }

  /** The primary asks this worker to close `count` connections. */
  close(count: number): void {
    this.#toClose = this.#stopped ? 0 : Math.max(0, Math.floor(count));
  }

  /** Sends the count now (once listening, so that a worker with no connection is counted too). */
  reportNow(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#stopped) this.report(this.connections.connectionCount);
  }

  /** Stops closing connections and reporting (the worker is draining). */
  stop(): void {
    this.#stopped = true;
    this.#toClose = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Call at the start of each request. While the primary's count of connections to close is not
   * used up, the answer carries `Connection: close` and its connection closes once it is sent. That
   * is decided as the answer's head is written, and never for a connection with another request in
   * flight: Node's server drops a pipelined request read behind an answer that closes its
   * connection (a pipelining client then resends it on a new one, as it must for any close).
   */
  onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (this.#toClose === 0 || !res.shouldKeepAlive) return;
    const writeHead = res.writeHead;
    // Node writes every head through writeHead (res.end() and res.write() call it too).
    res.writeHead = ((...args: Parameters<ServerResponse['writeHead']>) => {
      res.writeHead = writeHead;
      this.#closeAfter(req.socket, res);
      return writeHead.apply(res, args);
    }) as ServerResponse['writeHead'];
  }

  #closeAfter(socket: Socket, res: ServerResponse): void {
    if (this.#toClose === 0 || !res.shouldKeepAlive || this.connections.inFlightOn(socket) !== 1) return;
    this.#toClose--;
    this.#closed++;
    res.setHeader('Connection', 'close');
  }

  #changed(): void {
    if (this.#stopped || this.#timer) return;
    this.#timer = setTimeout(() => this.reportNow(), this.reportDelayMs);
    this.#timer.unref();
  }
}

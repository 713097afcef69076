/**
 * Closing a draining server's idle connections cleanly: a FIN, never a reset.
 *
 * Node's `server.closeIdleConnections()` (also run by `server.close()`) destroys every connection
 * with no request being parsed, including a kept-alive one whose next request has reached the
 * kernel but not yet the parser: the client gets ECONNRESET for a request it already sent. Here an
 * idle connection is ended instead (a FIN, which HTTP clients treat as a closed kept-alive
 * connection and retry on), and, as Go's `http.Server.Shutdown` does, a connection that has not sent
 * its first request yet is left a few seconds to send it (it then gets an answer).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How long a connection that has sent no request yet is left to send one once the drain begins. */
export const NEW_CONNECTION_GRACE_MS = 5_000;

/** How long a connection asked to close may take to finish closing before it is destroyed. */
const CLOSE_TIMEOUT_MS = 2_000;

interface ConnectionState {
  /** When the connection was accepted (ms since the epoch). */
  readonly since: number;
  /** Requests started on it so far. */
  requests: number;
  /** Requests started and not yet answered. */
  inFlight: number;
  /** True once the server stopped reading it for too many pipelined requests in flight, until it reads again. */
  held: boolean;
  /** The bytes handed to the kernel at the last check of stalled answers. */
  flushed: number;
  /** Since when (ms since the epoch) `flushed` has not changed. */
  flushedSince: number;
  /** Ends the count of each request in flight on it (run once its connection closes). */
  readonly unanswered: Set<() => void>;
}

/**
 * Requests one connection may have in flight (HTTP/1.1 pipelining) before the server stops
 * reading it until some are answered. Node's HTTP server parses pipelined requests as fast as they
 * come while their answers are still being computed, so without a limit one client could queue
 * requests without end: in a test, one connection grew a batching worker to 1.4 GB in 7 s and
 * held `/ping` for 2.5 s. Clients that do not pipeline (SageMaker's front end, the AWS SDKs)
 * never have more than one request in flight per connection.
 */
export const MAX_PIPELINED_REQUESTS = 8;

/**
 * Requests one connection may have in flight at all: past it a request other than GET or HEAD
 * (which run no model) is refused at once (503
 * `ERR_SERVER_BUSY`, see {@link ConnectionDrain.onRequest}), which costs a little memory until the
 * answers before it are sent, not a model run. Stopping the reads at
 * {@link MAX_PIPELINED_REQUESTS} takes effect only after the chunk being parsed (up to 64 KB, some
 * 600 small requests), and Node reads again whenever the connection's answers drain: in a test,
 * 20 connections pipelining 20 000 small POST /invocations each, never read, grew a worker by 200 to
 * 430 MB and held `/ping` for up to 9 s.
 */
export const MAX_REQUESTS_IN_FLIGHT = 32;

/** Options for {@link trackConnections}. */
export interface TrackOptions {
  /**
   * How long an answer may wait with none of its bytes taken by the client before its connection
   * is destroyed (checked every second at most). Without it such a connection is kept for good.
   */
  readonly stalledAnswerMs?: number;
}

/** Tracks a server's connections and closes the idle ones when asked. */
export interface ConnectionDrain {
  /**
   * Call at the start of each request (before answering it). False when its connection has more
   * than {@link MAX_REQUESTS_IN_FLIGHT} requests in flight with it: answer it at once, without
   * work (see `refusePipelined`).
   */
  onRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /** Requests started and not yet answered (closed), on every connection. */
  readonly open: number;
  /** Connections open now. */
  readonly connectionCount: number;
  /** True while the stalled-answer sweep runs (with `stalledAnswerMs`, while there are connections). */
  readonly sweeping: boolean;
  /** Requests started and not yet answered on `socket`'s connection (0 for one not tracked). */
  inFlightOn(socket: Socket): number;
  /** Resolves once no request is open (at once if none is). */
  whenIdle(): Promise<void>;
  /**
   * Closes connections with nothing in flight that have served a request already (or have waited
   * longer than {@link NEW_CONNECTION_GRACE_MS} without sending one); returns how many it closed.
   */
  closeIdle(now?: number): number;
}

/**
 * The flags through which Node's HTTP server pauses a connection itself (when a client stops
 * reading its answers): `socket.pause()` alone does not stop its parser, which reads the socket
 * natively, and reading a request body resumes the socket unless `_paused` is set. These are the
 * steps of Node's own `parserOnIncoming` and `socketOnDrain` (unchanged from Node 12 to 24).
 */
interface HttpServerSocket extends Socket {
  _paused?: boolean;
  parser?: { pause(): void; resume(): void } | null;
  /**
   * The bytes given to libuv so far, and those of them it has not yet handed to the kernel (what
   * Node's own socket timeout checks for progress).
   */
  _handle?: { bytesWritten?: number; writeQueueSize?: number } | null;
}

/**
 * The bytes `socket` has handed to the kernel so far: it grows with every byte the client takes,
 * however its writes are split, so a client reading slowly is never taken for one that stopped.
 */
function flushedBytes(socket: Socket): number {
  const handle = (socket as HttpServerSocket)._handle;
  return (handle?.bytesWritten ?? 0) - (handle?.writeQueueSize ?? 0);
}

/**
 * Makes Node's `_paused` flag of `socket` read true while `state.held`, whatever Node sets it to.
 * Node clears it and reads again whenever the answers queued on the connection drain below its
 * high-water mark (`socketOnDrain`, run on every pipelined answer written), which undid a hold at
 * once: each answer let one more chunk of pipelined requests be parsed. With the flag held, Node's
 * own `resume()` is undone by its `onSocketResume` before anything is read, and its parser pauses
 * after each chunk; Node's own back-pressure pause keeps working through the value it set.
 */
function installHold(socket: Socket, state: ConnectionState): void {
  let paused = (socket as HttpServerSocket)._paused === true;
  Object.defineProperty(socket, '_paused', {
    configurable: true,
    enumerable: true,
    get: () => paused || state.held,
    set: (value: boolean) => {
      paused = value;
    },
  });
}

/** Stops reading `socket` once the chunk being parsed is done (Node pauses its parser after it). */
function holdReading(socket: Socket, state: ConnectionState): void {
  state.held = true;
  socket.pause();
}

/** Undoes {@link holdReading}, unless Node holds the connection itself (its answers are not read): Node reads again once they drain. */
function releaseReading(socket: Socket, state: ConnectionState): void {
  state.held = false;
  const s = socket as HttpServerSocket;
  if (s._paused) return;
  s.parser?.resume();
  socket.resume();
}

/** Starts tracking the connections `server` accepts. */
export function trackConnections(server: Server, { stalledAnswerMs }: TrackOptions = {}): ConnectionDrain {
  const connections = new Map<Socket, ConnectionState>();
  let open = 0;
  let idleWaiters: (() => void)[] = [];
  server.on('connection', (socket: Socket) => {
    const state: ConnectionState = { since: Date.now(), requests: 0, inFlight: 0, held: false, flushed: 0, flushedSince: 0, unanswered: new Set() };
    connections.set(socket, state);
    installHold(socket, state);
    socket.once('close', () => {
      connections.delete(socket);
      // Node 20 and 22 never emit 'close' on a pipelined answer still queued behind another when its
      // connection is destroyed: without this a drain would wait out its grace for answers no one can get.
      for (const settle of [...state.unanswered]) settle();
    });
  });
  /**
   * A client that sends requests and never reads the answers holds them, and its connection, for
   * good: Node's keep-alive timeout starts only once an answer is sent, and its request timeouts
   * end once a request has arrived. One sweep for all connections costs nothing per request; it
   * runs while there are connections (started by the first, stopped by the sweep that finds none),
   * so that it does not wake an idle worker every second.
   */
  let sweep: NodeJS.Timeout | undefined;
  let serverClosed = false;
  const sweepStalled = (limitMs: number): void => {
    if (connections.size === 0) {
      clearInterval(sweep);
      sweep = undefined;
      return;
    }
    const now = Date.now();
    for (const [socket, state] of connections) {
      // An upgraded connection (a bidirectional stream) has left HTTP: its pings find dead peers.
      if (!(socket as HttpServerSocket).parser) continue;
      const flushed = flushedBytes(socket);
      if (flushed !== state.flushed || socket.writableLength === 0) {
        state.flushed = flushed;
        state.flushedSince = now;
      } else if (now - state.flushedSince >= limitMs) socket.destroy();
    }
  };
  if (stalledAnswerMs !== undefined) {
    server.on('connection', () => {
      if (sweep || serverClosed) return;
      sweep = setInterval(sweepStalled, Math.min(1000, stalledAnswerMs), stalledAnswerMs);
      sweep.unref();
    });
    server.once('close', () => {
      serverClosed = true;
      clearInterval(sweep);
      sweep = undefined;
    });
  }
  return {
    onRequest(req, res) {
      const state = connections.get(req.socket);
      let admitted = true;
      if (state) {
        state.requests++;
        // Checked on every request, not once: Node resumes a paused connection itself whenever its
        // writes drain.
        if (++state.inFlight > MAX_PIPELINED_REQUESTS && !state.held) holdReading(req.socket, state);
        // GET and HEAD (/ping, /metrics, /execution-parameters) run no model: a client pipelining
        // a thousand pings gets a thousand answers, as it did before the limit.
        admitted = state.inFlight <= MAX_REQUESTS_IN_FLIGHT || req.method === 'GET' || req.method === 'HEAD';
      }
      open++;
      // Ended by the answer's 'close' or by its connection's, whichever comes first.
      let answered = false;
      const settle = () => {
        if (answered) return;
        answered = true;
        state?.unanswered.delete(settle);
        if (state && --state.inFlight <= MAX_PIPELINED_REQUESTS && state.held) releaseReading(req.socket, state);
        if (--open > 0) return;
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const resolve of waiters) resolve();
      };
      state?.unanswered.add(settle);
      res.on('close', settle);
      return admitted;
    },
    get open() {
      return open;
    },
    get connectionCount() {
      return connections.size;
    },
    get sweeping() {
      return sweep !== undefined;
    },
    inFlightOn(socket) {
      return connections.get(socket)?.inFlight ?? 0;
    },
    whenIdle() {
      return open === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    closeIdle(now = Date.now()) {
      let closed = 0;
      for (const [socket, state] of connections) {
        if (state.inFlight > 0) continue;
        if (state.requests === 0 && now - state.since < NEW_CONNECTION_GRACE_MS) continue;
        // end() sends a FIN, a clean close a keep-alive client notices (and retries on), where
        // destroy() with a request already in the kernel's buffer would answer it with a reset.
        socket.end();
        setTimeout(() => socket.destroy(), CLOSE_TIMEOUT_MS).unref();
        closed++;
      }
      return closed;
    },
  };
}

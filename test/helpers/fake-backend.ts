import { appendFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { ContainerBackend, ContainerSpec, RunningContainer } from '../../src/local/backends/backend.js';

/**
 * A container backend for control-plane tests: each "container" is a small HTTP server in this
 * process on the spec's port. `/ping` answers 200 (503 for its first `FAKE_READY_AFTER_MS`; with
 * `FAKE_PING=fail` the container writes a log line and exits at once; with `FAKE_PING=unhealthy` it answers
 * smkit serve's 503 `Unhealthy` for a model that failed to load); `/invocations` answers `{"tag": FAKE_TAG, "id": spec.id,
 * "got": <request body>}` after `FAKE_DELAY_MS`, with status `FAKE_STATUS` (200), chunked (no
 * Content-Length) with `FAKE_CHUNKED=true`; with `FAKE_HOLD=true` it answers only once the test
 * calls {@link FakeBackend.release} (a request kept in flight without a timer); a request with
 * `X-Amzn-SageMaker-Session-Id: NEW_SESSION` is answered with a new session's
 * `X-Amzn-SageMaker-New-Session-Id`; `GET /execution-parameters` answers 404 at once. Real sockets,
 * real ports: only the model server is replaced.
 */
export class FakeBackend implements ContainerBackend {
  readonly name = 'process' as const;
  /** Every container started, in order. */
  readonly started: ContainerSpec[] = [];
  /** Containers running now. */
  running = 0;
  /** Ids of the containers stopped or exited, in order. */
  readonly stopped: string[] = [];
  /** Every invocation a container received, in order. */
  readonly invocations: Array<{ id: string; body: string }> = [];
  /** The method and path of each of them (`POST /models`, `DELETE /models/m-…` on a multi-model container). */
  readonly requests: Array<{ id: string; call: string }> = [];
  /** While true, containers started from now on fail like `FAKE_PING=fail` (a crash loop). */
  failStarts = false;
  /** While set, containers started from now on answer `/ping` 503 this long (a slow start). */
  readyAfterMs: number | undefined;
  /** Ids of running containers whose `/ping` answers 500 from now on (up, but unhealthy). */
  readonly unhealthy = new Set<string>();
  readonly #crash = new Map<string, () => void>();
  /** Stateful sessions the containers opened (for `SessionId` NEW_SESSION), for their ids. */
  #sessions = 0;
  /** Answers of `FAKE_HOLD=true` containers waiting for {@link release}, by container id. */
  readonly #held = new Map<string, Array<() => void>>();

  /** Sends the answers that containers started with `FAKE_HOLD=true` are holding (of container `id` only, when given). */
  release(id?: string): void {
    for (const [holder, answers] of this.#held) {
      if (id !== undefined && holder !== id) continue;
      this.#held.delete(holder);
      for (const answer of answers) answer();
    }
  }

  /** Ids of the containers running now. */
  get runningIds(): string[] {
    return [...this.#crash.keys()];
  }

  /** Makes a running container die as a SIGKILL would: its sockets close and it reports an exit. */
  crash(id: string): void {
    const crash = this.#crash.get(id);
    if (!crash) throw new Error(`no running fake container ${id}; running: ${this.runningIds.join(', ')}`);
    crash();
  }

  async start(spec: ContainerSpec): Promise<RunningContainer> {
    this.started.push(spec);
    const delay = Number(spec.env.FAKE_DELAY_MS ?? 0);
    const fail = spec.env.FAKE_PING === 'fail' || this.failStarts;
    appendFileSync(spec.logFile, `fake container ${spec.id} starting\n`);
    let exited: RunningContainer['exited'];
    let markExited!: () => void;
    const exitPromise = new Promise<void>((r) => (markExited = r));
    const status = Number(spec.env.FAKE_STATUS ?? 200);
    const readyAt = Date.now() + (this.readyAfterMs ?? Number(spec.env.FAKE_READY_AFTER_MS ?? 0));
    const server: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/ping' && spec.env.FAKE_PING === 'unhealthy') {
          // smkit serve's answer when its model failed to load.
          res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'Unhealthy', message: 'model failed to load: no such file model.onnx' }));
          return;
        }
        if (req.url === '/ping') {
          res.writeHead(this.unhealthy.has(spec.id) ? 500 : Date.now() >= readyAt ? 200 : 503).end();
          return;
        }
        if (req.url === '/execution-parameters') {
          // The optional route a model server may leave out: a transform job then uses its own values or the defaults.
          res.writeHead(404).end();
          return;
        }
        this.invocations.push({ id: spec.id, body: Buffer.concat(chunks).toString() });
        this.requests.push({ id: spec.id, call: `${req.method} ${req.url}` });
        const send = (): void => {
          const answer = JSON.stringify({ tag: spec.env.FAKE_TAG ?? '', id: spec.id, got: Buffer.concat(chunks).toString() });
          // Without Content-Length, writeHead makes node:http send the answer chunked.
          const length = spec.env.FAKE_CHUNKED === 'true' ? {} : { 'content-length': Buffer.byteLength(answer) };
          // A request with SessionId NEW_SESSION opens a stateful session, as a container that keeps them answers.
          const opened = req.headers['x-amzn-sagemaker-session-id'] === 'NEW_SESSION' ? { 'x-amzn-sagemaker-new-session-id': `fake${++this.#sessions}; Expires=${new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z')}` } : {};
          res.writeHead(status, { 'content-type': 'application/json', ...length, ...opened }).end(answer);
        };
        if (spec.env.FAKE_HOLD === 'true' && req.url === '/invocations') {
          const held = this.#held.get(spec.id) ?? [];
          held.push(send);
          this.#held.set(spec.id, held);
          // A client that gave up (a stopped transform job) must not keep the test process alive until the answer is due.
        } else setTimeout(send, delay).unref();
      });
    });
    this.running += 1;
    const exit = (code: number | null, signal: string | null = null): void => {
      if (exited) return;
      exited = { code, signal };
      this.running -= 1;
      this.stopped.push(spec.id);
      this.#crash.delete(spec.id);
      markExited();
    };
    if (fail) {
      appendFileSync(spec.logFile, 'fake container: model failed to load: no such file model.onnx\n');
      exit(1);
    } else {
      // The port was probed free and is bound only now: another test file may have taken it in
      // between. Fail as a real container does (exit 1, ERR_PORT_IN_USE in its log), so the product
      // starts it again on a fresh port, instead of an unhandled 'error' ending the test file.
      const bound = await new Promise<boolean>((resolve) => {
        server.once('error', (err) => {
          appendFileSync(spec.logFile, `smkit: ERR_PORT_IN_USE: ${err.message}\n`);
          resolve(false);
        });
        server.listen(spec.port, '127.0.0.1', () => resolve(true));
      });
      if (bound) {
        this.#crash.set(spec.id, () => {
          server.close();
          server.closeAllConnections();
          exit(null, 'SIGKILL');
        });
      } else exit(1);
    }
    return {
      spec,
      url: `http://127.0.0.1:${spec.port}`,
      get exited() {
        return exited;
      },
      exitPromise,
      async stop() {
        if (exited) return;
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeIdleConnections();
        });
        exit(0);
      },
    };
  }
}

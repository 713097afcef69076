import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { until } from '../../test/helpers/until.js';
import { trackConnections, type ConnectionDrain } from './connection-drain.js';
import { ConnectionCensus, ConnectionShedder, connectionLimit } from './connection-rebalancing.js';

describe('connectionLimit', () => {
  test('an even share, rounded up, plus a tenth of it; no limit with fewer than two workers', () => {
    assert.equal(connectionLimit(4, 2), 2);
    assert.equal(connectionLimit(3, 2), 2);
    assert.equal(connectionLimit(16, 2), 8);
    assert.equal(connectionLimit(64, 2), 35);
    assert.equal(connectionLimit(0, 2), 0);
    assert.equal(connectionLimit(9, 4), 3);
    assert.equal(connectionLimit(100, 1), undefined);
    assert.equal(connectionLimit(0, 0), undefined);
  });
});

describe('ConnectionCensus', () => {
  test('once the counts settle, tells each worker over its share how many to close', async () => {
    const told: [number, number][] = [];
    const census = new ConnectionCensus((id, count) => told.push([id, count]), 10);
    census.report(1, 4);
    census.report(2, 0);
    await until('the census to act', () => told.length > 0, { timeoutMs: 5_000, intervalMs: 5 });
    assert.deepEqual(told, [[1, 2]]);
    census.stop();
  });

  test('counts that keep changing are not acted on; a balanced cluster is left alone', async () => {
    const told: [number, number][] = [];
    const census = new ConnectionCensus((id, count) => told.push([id, count]), 60_000);
    census.report(1, 32);
    census.report(2, 0);
    // Still settling: nothing said yet (the other worker's connections may be on their way).
    assert.deepEqual(told, []);
    assert.deepEqual(census.excess(), [[1, 15]]);
    census.report(2, 30);
    assert.deepEqual(census.excess(), [], '32 against 30 is within the share and its tenth');
    census.stop();
  });

  test('a worker that exits is left out; one worker alone has no limit', () => {
    const census = new ConnectionCensus(() => undefined, 60_000);
    census.report(1, 8);
    census.report(2, 0);
    assert.deepEqual(census.excess(), [[1, 4]]);
    census.forget(2);
    assert.deepEqual(census.excess(), []);
    census.report(3, 0);
    assert.deepEqual(census.excess(), [[1, 4]], 'its replacement counts once it reports');
    census.stop();
  });
});

/** A raw keep-alive client on `port` that sends `GET /` requests and reads whole answers. */
class RawClient {
  readonly socket: net.Socket;
  #text = '';
  readonly ended: Promise<void>;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (d: Buffer) => (this.#text += d.toString('latin1')));
    this.ended = new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  /**
   * Sends `count` requests at once (pipelined; the one at `slow`, if any, answered after 50 ms) and
   * resolves with the answers' heads.
   */
  async send(count = 1, slow = -1): Promise<string[]> {
    const start = this.#text.length;
    // One write, so the server reads every request in one chunk and sees them all in flight.
    this.socket.write(Array.from({ length: count }, (_, i) => `GET / HTTP/1.1\r\nHost: x\r\n${i === slow ? 'X-Slow: 1\r\n' : ''}\r\n`).join(''));
    const answers = () => this.#text.slice(start).split('HTTP/1.1 ').slice(1);
    await until('the answers', () => answers().length === count && answers().every((a) => a.endsWith('ok')), { timeoutMs: 10_000, intervalMs: 1 });
    return answers().map((a) => a.split('\r\n\r\n')[0]!);
  }

  /** Sends one request and resolves with its answer's head. */
  async request(): Promise<string> {
    return (await this.send())[0]!;
  }
}

describe('ConnectionShedder over real HTTP', () => {
  let server: Server;
  let port: number;
  let shedder: ConnectionShedder;
  let drain: ConnectionDrain;
  const reports: number[] = [];
  const clients: RawClient[] = [];

  before(async () => {
    server = createServer((req, res) => {
      drain.onRequest(req, res);
      shedder.onRequest(req, res);
      setTimeout(() => res.end('ok'), req.headers['x-slow'] ? 50 : 0);
    });
    drain = trackConnections(server);
    shedder = new ConnectionShedder((open) => reports.push(open), drain, 5);
    shedder.watch(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    for (const c of clients) c.socket.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('reports its count; closes as many connections as asked, one per request, with Connection: close; leaves the rest kept alive', async () => {
    for (let i = 0; i < 3; i++) clients.push(new RawClient(port));
    await until('three connections counted and reported', () => drain.connectionCount === 3 && reports.at(-1) === 3, { timeoutMs: 5_000, intervalMs: 1 });
    shedder.close(2);
    const heads = [];
    for (const c of clients) heads.push(await c.request());
    assert.deepEqual(
      heads.map((h) => /connection: close/i.test(h)),
      [true, true, false],
    );
    await Promise.all([clients[0]!.ended, clients[1]!.ended]);
    assert.match(heads[2]!, /connection: keep-alive/i);
    // The third stays open and is not closed on later requests: the count asked for is used up.
    assert.doesNotMatch(await clients[2]!.request(), /connection: close/i);
    assert.equal(shedder.closed, 2);
    await until('the count of one reported', () => drain.connectionCount === 1 && reports.at(-1) === 1, { timeoutMs: 5_000, intervalMs: 1 });
  });

  test('a new connection cancels what is left to close', async () => {
    shedder.close(5);
    const late = new RawClient(port);
    clients.push(late);
    await until('the new connection counted', () => drain.connectionCount === 2, { timeoutMs: 5_000, intervalMs: 1 });
    assert.doesNotMatch(await clients[2]!.request(), /connection: close/i);
    assert.doesNotMatch(await late.request(), /connection: close/i);
  });

  test('an answer with a pipelined request read behind it does not close its connection (Node would drop that request); the last one does', async () => {
    const late = clients[3]!;
    shedder.close(1);
    // The first answer is written at once, with the second request in flight; the second 50 ms later, alone.
    const heads = await late.send(2, 1);
    assert.equal(heads.length, 2, 'both pipelined requests answered');
    assert.doesNotMatch(heads[0]!, /connection: close/i);
    assert.match(heads[1]!, /connection: close/i);
    await late.ended;
    assert.equal(shedder.closed, 3);
  });

  test('once stopped (draining), it neither closes nor reports', async () => {
    const before = reports.length;
    shedder.stop();
    shedder.close(3);
    const c = new RawClient(port);
    clients.push(c);
    assert.doesNotMatch(await c.request(), /connection: close/i);
    assert.doesNotMatch(await clients[2]!.request(), /connection: close/i);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(reports.length, before);
  });
});

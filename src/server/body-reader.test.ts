/**
 * The body reader over real HTTP: a request whose connection closed before the reader came to it
 * (the reader of a route loads on its first use) is refused at once as a client that left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { readBody } from './body-reader.js';
import type { ToolkitError } from '../errors/catalogue.js';

/** Rejects after `ms` with `what`: only a hang guard, far beyond what the answer takes. */
const hangGuard = (ms: number, what: string) => new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms).unref());

for (const [kind, body] of [['whole', '1,2,3\n'], ['part of a', '1,2']] as const) {
  test(`${kind} body whose client closed before the reader came to it is refused as ERR_CLIENT_GONE at once, not held until the body timeout`, async () => {
    let outcome: Promise<string> | undefined;
    const server = http.createServer((req) => {
      // As when the reader loads with the route's first request: the request has closed by the time it is read.
      outcome = new Promise((resolve) => req.once('close', resolve)).then(() =>
        readBody(req, { maxBytes: 1024, timeoutMs: 120_000 }).then(
          () => 'read',
          (err: ToolkitError) => `${err.code}: ${err.message}`,
        ),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      // A half-close after the request, as an HTTP/1.0 client or `nc -N` does; the server closes its side too.
      socket.end(`POST /x HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 6\r\n\r\n${body}`);
      const got = await Promise.race([
        (async () => {
          while (outcome === undefined) await new Promise((resolve) => setImmediate(resolve));
          return outcome;
        })(),
        hangGuard(30_000, 'no outcome'),
      ]);
      assert.match(got, /^ERR_CLIENT_GONE: the client closed the connection before/);
      socket.destroy();
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
}

import net from 'node:net';
import { once } from 'node:events';

/**
 * Sends one whole `POST /invocations` with a CSV body on a raw socket, then closes the connection
 * without reading the answer, as a client that gives up does: after `stay` milliseconds, or once
 * `stay` (a promise) settles, so a test can check what happens while the client still waits.
 * Resolves with what the server sent before the close (nothing, for a request still waiting).
 */
export async function postAndLeave(url: string, csv: string, stay: number | Promise<unknown> = 200): Promise<Buffer> {
  const { hostname, port } = new URL(url);
  const client = net.connect(Number(port), hostname);
  client.on('error', () => undefined);
  const received: Buffer[] = [];
  client.on('data', (chunk: Buffer) => received.push(chunk));
  const head = `POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: ${Buffer.byteLength(csv)}\r\n\r\n`;
  await new Promise<void>((resolve) => client.write(head + csv, () => resolve()));
  // Long enough for the server to read the request and queue it.
  await (typeof stay === 'number' ? new Promise((r) => setTimeout(r, stay)) : stay);
  client.destroy();
  return Buffer.concat(received);
}

/**
 * Writes `bytes` on a raw socket to `port` on 127.0.0.1 and resolves with everything the server
 * sent once it closes the connection (a request it refuses, or one with `Connection: close`);
 * rejects if it has not closed after `timeoutMs`.
 */
export async function answerUntilClose(port: number, bytes: string, timeoutMs = 10_000): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString()));
  socket.on('error', () => undefined);
  try {
    await once(socket, 'connect');
    socket.write(bytes);
    await once(socket, 'close', { signal: AbortSignal.timeout(timeoutMs) });
    return got;
  } finally {
    socket.destroy();
  }
}

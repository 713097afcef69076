import { createServer, type RequestListener, type Server } from 'node:http';
import { portBindError } from '../../net/ports.js';

/**
 * How long the front door keeps an idle connection open: longer than the AWS SDKs and the AWS CLI
 * keep theirs between calls. Node's default of 5 s raced with clients that reuse a connection idle
 * for about that long: the server closed it as the next request went out, and the client saw
 * ECONNRESET (an SDK client with retries off failed the call).
 */
export const FRONT_DOOR_KEEP_ALIVE_MS = 65_000;

/** The HTTP server of a local front door (the local SageMaker, `smkit local` endpoints). */
export function createFrontDoorServer(app: RequestListener): Server {
  const server = createServer(app);
  // The service allows 60 s per container; a pipeline can take longer than Node's defaults allow.
  server.requestTimeout = 0;
  server.keepAliveTimeout = FRONT_DOOR_KEEP_ALIVE_MS;
  server.headersTimeout = FRONT_DOOR_KEEP_ALIVE_MS + 1000;
  return server;
}

/**
 * Listens on 127.0.0.1:`port` (0: any free port) and resolves with the port bound. A port that
 * cannot be bound (another process holds it, it needs privileges) rejects with `ERR_PORT_IN_USE`,
 * saying how to choose another.
 */
export function listenFrontDoor(server: Server, port: number): Promise<number> {
  return new Promise((ok, ko) => {
    server.once('error', (err: NodeJS.ErrnoException) => ko(portBindError(err, '127.0.0.1', port)));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      ok(typeof address === 'object' && address ? address.port : port);
    });
  });
}

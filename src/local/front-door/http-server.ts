import { createServer, type RequestListener, type Server } from 'node:http';

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

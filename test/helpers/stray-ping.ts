import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Answers (404) a `GET /ping` that is not the test's own, and says whether it did. A server a test
 * starts on port 0 can be given a port that another test, in another process, picked a moment
 * before for a container or server it was starting: that one's readiness poll (`GET /ping`, every
 * 200 ms) then lands here (seen under load: a fake container's first recorded request was such a
 * poll, without the Content-Type the test sent). The poller takes the 404, which lacks its
 * container's instance id, for another server on its port and starts its container on a new one.
 * Servers that record what they receive call this first, so that they record only the test's own
 * requests; a server whose test sends `GET /ping` itself must not use it.
 */
export function answeredStrayPing(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== 'GET' || req.url !== '/ping') return false;
  req.resume();
  res.writeHead(404, { 'content-type': 'text/plain', connection: 'close' }).end('not a container of this test');
  return true;
}

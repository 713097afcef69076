import { createServer } from 'node:net';
import { ToolkitError } from '../errors/catalogue.js';

/** Asks the OS for a free TCP port on `host` (listen on port 0, read it, close). */
export function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Fails with `ERR_PORT_IN_USE` when `host:port` cannot be bound (another process holds it, or the
 * port needs privileges), so a server can refuse to start with one clear line instead of failing
 * later in a worker. `what` names the setting to change, for example `--port (SAGEMAKER_BIND_TO_PORT)`.
 * Port 0 (any free port) always passes.
 */
export function assertPortFree(host: string, port: number, what = '--port'): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((ok, ko) => {
    const server = createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'is already in use by another process' : err.code === 'EACCES' ? 'needs privileges this process does not have' : `cannot be bound (${err.code ?? err.message})`;
      ko(new ToolkitError('ERR_PORT_IN_USE', `port ${port} on ${host} ${why}; stop that process, or pass ${what} with another port (0 picks a free one)`, { cause: err }));
    });
    server.listen(port, host, () => server.close(() => ok()));
  });
}

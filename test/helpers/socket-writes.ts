import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The size of every write `server` makes to its sockets from now on, in order: what tests look at
 * to tell an answer sent in slices from one sent in one write.
 */
export function recordSocketWrites(server: Server): number[] {
  const writes: number[] = [];
  server.on('connection', (s: Socket) => {
    const write = s.write.bind(s) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
    s.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      writes.push(Buffer.byteLength(chunk));
      return write(chunk, ...rest);
    }) as typeof s.write;
  });
  return writes;
}

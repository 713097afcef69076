import type { WriteStream } from 'node:fs';
import type { PipelineSource } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * `stream.pipeline(source, out)` into a file's write stream, settling only once `out` is closed.
 * Node 20's pipeline rejects on the source's error (an S3 body that breaks off) while the file's
 * open may still be pending: a caller that then removed the file, or wrote it again, had the
 * pending open create (or truncate) it afterwards. Node 22 and later wait for the file themselves.
 */
export async function pipeToFile(source: PipelineSource<unknown>, out: WriteStream, options: { signal?: AbortSignal } = {}): Promise<void> {
  try {
    await pipeline(source, out, options);
  } finally {
    if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
  }
}

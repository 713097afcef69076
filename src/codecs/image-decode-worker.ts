/**
 * Code of the thread behind {@link decodeImageSync}: decodes images with sharp (which is async
 * only) and answers on a MessagePort, waking the blocked caller through a shared Int32Array. The
 * thread's entry is a small script in image.ts that imports this module and hands it each job.
 */
import type { MessagePort } from 'node:worker_threads';
import { type ImageChannels, ImageTooLarge, decodeRaw } from './image-decode.js';
import { ToolkitError } from '../errors/catalogue.js';

/** A decode job sent to the worker. */
export interface DecodeJob {
  readonly body: Uint8Array;
  readonly channels: ImageChannels;
  /** The most bytes the decoded pixels may take. */
  readonly maxBytes: number;
  readonly reply: MessagePort;
  readonly signal: Int32Array;
}

/** Decodes one job's image and answers it (the port closed and the caller woken, whatever happened). */
export function decode(job: DecodeJob): Promise<void> {
  return decodeRaw(job.body, job.channels, job.maxBytes)
    .then(
      (raw) => {
        // Copied, not transferred: sharp's output may live in memory Node 22 cannot detach.
        try {
          job.reply.postMessage({ ok: true, raw });
        } catch (err) {
          job.reply.postMessage({ ok: false, message: `cannot hand the decoded image back: ${err instanceof Error ? err.message : String(err)}` });
        }
      },
      (err: unknown) =>
        job.reply.postMessage({
          ok: false,
          message: err instanceof Error ? err.message : String(err),
          ...(err instanceof ImageTooLarge ? { decodedBytes: err.decodedBytes } : {}),
          // sharp could not be loaded (see retrying-load.ts): a 503 (or 500), not the client's 400.
          ...(err instanceof ToolkitError ? { code: err.code } : {}),
        }),
    )
    .finally(() => {
      job.reply.close();
      Atomics.store(job.signal, 0, 1);
      Atomics.notify(job.signal, 0);
    });
}

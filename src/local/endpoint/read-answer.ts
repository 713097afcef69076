import type { BodyBudget } from '../../server/body-budget.js';

/**
 * Largest answer a container may give a real-time invocation: the 6 MB of the `InvokeEndpoint`
 * response `Body` (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html).
 */
export const MAX_REALTIME_ANSWER_BYTES = 6_291_456;

/**
 * Most of a container's error answer (4xx/5xx) that is read: the service quotes at most 2048
 * characters of it (`OriginalMessage`), and says it "could not load the entire response body" of a
 * longer one, which this many bytes always are.
 */
export const MAX_ERROR_ANSWER_BYTES = 64 * 1024;

/** A container's answer body, read up to a limit. */
export interface CappedAnswer {
  /** The body, or its first `maxBytes` when it was longer. */
  body: Buffer;
  /** True when the answer held more than `maxBytes`: the rest was not read, and its connection was closed. */
  cut: boolean;
}

/**
 * A container's answer did not fit in the memory the front door's bodies share
 * (`SMKIT_LOCAL_BODY_MEMORY_MB`): it was not read further, and its connection was closed.
 */
export class AnswerOverBudgetError extends Error {
  constructor(readonly hostname: string) {
    super(`the answer of container ${hostname} does not fit in the memory the front door's bodies share (SMKIT_LOCAL_BODY_MEMORY_MB); it was not read further`);
    this.name = 'AnswerOverBudgetError';
  }
}

/**
 * Reads at most `maxBytes` of a container's answer: past them the body is cancelled (the connection
 * to the container is closed), so an answer of any size holds at most `maxBytes` of memory. A read
 * that fails (a timeout, a lost connection) rejects as reading the body would.
 *
 * With a `budget`, each chunk is taken from it as it arrives: a chunk that does not fit cancels the
 * body and rejects with {@link AnswerOverBudgetError}. On success the caller holds `body.length`
 * bytes of the budget and gives them back; on any failure they are given back here.
 */
export async function readAtMost(res: Response, maxBytes: number, budget?: { bytes: BodyBudget; hostname: string }): Promise<CappedAnswer> {
  if (!res.body) return { body: Buffer.alloc(0), cut: false };
  const reader = res.body.getReader();
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total), cut: false };
      const room = maxBytes - total;
      const kept = Math.min(value.byteLength, room);
      if (budget && !budget.bytes.take(kept)) {
        await reader.cancel().catch(() => {});
        throw new AnswerOverBudgetError(budget.hostname);
      }
      total += kept;
      chunks.push(Buffer.from(value.buffer, value.byteOffset, kept));
      if (value.byteLength > room) {
        await reader.cancel().catch(() => {});
        return { body: Buffer.concat(chunks, total), cut: true };
      }
    }
  } catch (err) {
    budget?.bytes.give(total);
    throw err;
  }
}

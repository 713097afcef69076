/**
 * Bidirectional streams of a model without `bidiFn` (one invocation per message), through the same
 * handler inline and in the inference thread: a streamed answer's custom attributes are taken with
 * its first chunk in both, so a value set after it is warned of, not refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { answerEachMessage } from './per-message.js';
import { InProcessBackend } from '../in-process-backend.js';
import { InferenceWorker } from '../inference-worker.js';
import { createLogger } from '../../logging/logger.js';
import { Cancellation, clientGoneError } from '../../core/cancellation.js';
import type { ServerLogger } from '../../logging/server-logger.js';
import type { InferenceBackend } from '../inference-backend.js';
import type { BidiFrame, BidiRequest } from '../../core/bidi-frame.js';
import { until } from '../../../test/helpers/until.js';

// 'late': a value SageMaker could not carry (not ASCII), set after the first chunk; 'early': the same before it.
// 'stall:<name>': no first chunk until context.signal aborts; then writes its reason's code to <name>.
// 'linger:<name>': a first chunk, then the same.
const HANDLER = `
import { writeFileSync } from 'node:fs';
import path from 'node:path';
export function transformFn(model, body, contentType, accept, context) {
  const text = Buffer.from(body).toString();
  return (async function* () {
    if (text.startsWith('stall:')) {
      await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
      writeFileSync(path.join(context.modelDir, text.slice(6)), String(context.signal.reason?.code));
    }
    if (text.startsWith('linger:')) {
      yield 'a';
      await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
      writeFileSync(path.join(context.modelDir, text.slice(7)), String(context.signal.reason?.code));
    }
    if (text === 'early') context.setCustomAttributes('josé');
    yield 'a';
    if (text === 'late') context.setCustomAttributes('josé');
    yield 'b';
  })();
}
`;

/** Warnings the inline backend's engine logged. */
const warnings: string[] = [];
const capturing = (): ServerLogger => ({
  debug() {},
  info() {},
  error() {},
  warn: (obj: object | string, msg?: string) => void warnings.push(`${JSON.stringify(obj)} ${msg ?? ''}`),
  isLevelEnabled: () => true,
  child: () => capturing(),
});

let dir: string;
let inline: InProcessBackend;
let thread: InferenceWorker;

describe('bidi per message', () => {
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-per-message-'));
    mkdirSync(path.join(dir, 'code'));
    writeFileSync(path.join(dir, 'code', 'inference.mjs'), HANDLER);
    const engine = { modelDir: dir, codeDir: path.join(dir, 'code'), program: 'inference', defaultAccept: 'text/plain', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 } } as const;
    inline = new InProcessBackend({ ...engine, log: capturing() }, capturing());
    thread = new InferenceWorker(new URL('../inference-thread.js', import.meta.url), { engine, logLevel: 'silent', workerIndex: 0 }, 1, createLogger('silent'));
    await Promise.all([inline.whenSettled(), thread.whenSettled()]);
    assert.equal(inline.state(), 'ready', inline.failure()?.message);
    assert.equal(thread.state(), 'ready', thread.failure()?.message);
  });
  after(async () => {
    await Promise.all([inline.close(), thread.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const request: BidiRequest = { requestId: 'r-1', path: '/invocations-bidirectional-stream', query: {}, headers: {} };

  /** Each message's answer as `text` (its parts joined), then how the stream ended: `end` or the error's code. */
  async function exchange(backend: InferenceBackend, messages: string[], timeoutMs = 60_000): Promise<string[]> {
    async function* frames(): AsyncIterable<BidiFrame> {
      for (const m of messages) yield { data: Buffer.from(m), binary: false };
    }
    const out: string[] = [];
    let parts = '';
    try {
      for await (const frame of answerEachMessage(backend, request, frames(), { contentType: 'text/plain', accept: 'text/plain', timeoutMs }, new Cancellation())) {
        parts += Buffer.from(frame.data).toString();
        if (!frame.partial) {
          out.push(parts);
          parts = '';
        }
      }
      out.push('end');
    } catch (err) {
      out.push((err as { code?: string }).code ?? String(err));
    }
    return out;
  }

  for (const mode of ['inline', 'thread'] as const) {
    test(`a streamed answer's custom attributes set after its first chunk are not refused, the stream goes on (${mode})`, async () => {
      const backend = mode === 'inline' ? inline : thread;
      assert.deepEqual(await exchange(backend, ['late', 'next']), ['ab', 'ab', 'end']);
      // One set before it is checked as for an HTTP answer: the message fails.
      assert.deepEqual(await exchange(backend, ['early', 'next']), ['ERR_USER_CODE']);
    });
  }

  /**
   * The code the producer of `name` wrote once its signal aborted. Its content is awaited, not the
   * file: the inference thread writes it while this thread reads, so the file may be there still empty.
   */
  function producerSaid(name: string, mode: string): Promise<string> {
    const file = path.join(dir, name);
    return until(`the producer of (${mode}) ends`, () => (existsSync(file) && readFileSync(file, 'utf8')) || undefined);
  }

  for (const mode of ['inline', 'thread'] as const) {
    test(`a streamed answer whose first chunk does not come within the timeout fails its message with ERR_TIMEOUT, as POST /invocations answers 504, and the producer's signal says so (${mode})`, { timeout: 30_000 }, async () => {
      const backend = mode === 'inline' ? inline : thread;
      const name = `stalled-${mode}`;
      // Before, the stream waited for that chunk for good: the client saw neither an answer nor a close.
      // The timeout is the invocation's too: one that ran out before the stream began would start no producer.
      assert.deepEqual(await exchange(backend, [`stall:${name}`, 'next'], 2_000), ['ERR_TIMEOUT']);
      assert.equal(await producerSaid(name, mode), 'ERR_TIMEOUT');
    });
  }

  for (const mode of ['inline', 'thread'] as const) {
    test(`a client that leaves while a streamed answer waits for its next chunk stops the producer, whose signal says why (${mode})`, { timeout: 30_000 }, async () => {
      const backend = mode === 'inline' ? inline : thread;
      const name = `lingered-${mode}`;
      async function* frames(): AsyncIterable<BidiFrame> {
        yield { data: Buffer.from(`linger:${name}`), binary: false };
      }
      const cancellation = new Cancellation();
      const replies = answerEachMessage(backend, request, frames(), { timeoutMs: 60_000 }, cancellation)[Symbol.asyncIterator]();
      assert.equal(Buffer.from((await replies.next()).value!.data).toString(), 'a');
      // What the WebSocket front does when the client leaves: cancel, then end the replies.
      const asked = replies.next();
      cancellation.cancel(clientGoneError());
      await replies.return!(undefined);
      await asked.catch(() => undefined);
      // Before, the thread's producer was never told: it ran on, and held a SIGTERM for its whole grace.
      assert.equal(await producerSaid(name, mode), 'ERR_CLIENT_GONE');
    });
  }

  test('inline, the value set after the first chunk gets the one warning that says it is not sent', () => {
    const late = warnings.filter((w) => /setCustomAttributes was called after the first chunk/.test(w));
    assert.equal(late.length, 1, warnings.join('\n'));
    assert.match(late[0]!, /"code":"ERR_USER_CODE".*a bidirectional stream's message carries none/);
  });
});

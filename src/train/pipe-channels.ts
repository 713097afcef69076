import { createReadStream, existsSync, readdirSync, statSync, type ReadStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { ToolkitError } from '../errors/catalogue.js';
import { PyDict } from './py-json.js';

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function isFifo(file: string): boolean {
  try {
    return statSync(file).isFIFO();
  } catch {
    return false;
  }
}

/**
 * Pipe-mode channels: those whose `TrainingInputMode` is `Pipe`, plus any channel with
 * `<channel>_<epoch>` FIFOs in the data directory. Maps each to the FIFOs present now, by epoch.
 * SageMaker creates the next epoch's FIFO when the previous one is read to the end, so the list
 * can grow during training (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html).
 */
export function findPipeChannels(inputDataDir: string, inputDataConfig: PyDict): Record<string, string[]> {
  const entries = existsSync(inputDataDir) ? readdirSync(inputDataDir) : [];
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>; // a channel may be named __proto__
  for (const channel of inputDataConfig.keys()) {
    const re = new RegExp(`^${escapeRegExp(channel)}_(\\d+)$`);
    const fifos = entries
      .map((name) => ({ name, m: re.exec(name) }))
      .filter((e) => e.m !== null && isFifo(path.join(inputDataDir, e.name)))
      .sort((a, b) => Number(a.m![1]) - Number(b.m![1]))
      .map((e) => path.join(inputDataDir, e.name));
    const cfg = inputDataConfig.get(channel);
    const mode = cfg instanceof PyDict ? cfg.get('TrainingInputMode') : undefined;
    if (fifos.length > 0 || mode === 'Pipe') out[channel] = fifos;
  }
  return out;
}

/** Options for {@link openPipeEpoch}. */
export interface OpenPipeOptions {
  /** How long to wait for the FIFO to appear. @defaultValue 60000 */
  readonly timeoutMs?: number;
  /** Poll interval while waiting. @defaultValue 100 */
  readonly pollMs?: number;
}

/**
 * Opens one epoch of a Pipe-mode channel as a byte stream: waits (bounded) for
 * `<channelDir>_<epoch>` to exist, then streams it. `channelDir` is `SM_CHANNEL_<NAME>`.
 *
 * @example
 * ```ts
 * for (let epoch = 0; epoch < epochs; epoch++) {
 *   for await (const chunk of await openPipeEpoch(process.env.SM_CHANNEL_TRAINING!, epoch)) consume(chunk);
 * }
 * ```
 */
export async function openPipeEpoch(channelDir: string, epoch: number, options: OpenPipeOptions = {}): Promise<ReadStream> {
  const fifo = `${channelDir}_${epoch}`;
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  while (!existsSync(fifo)) {
    if (Date.now() > deadline) throw new ToolkitError('ERR_TRAIN_PIPE_TIMEOUT', `the pipe ${fifo} did not appear in time.`);
    await sleep(options.pollMs ?? 100);
  }
  return createReadStream(fifo);
}

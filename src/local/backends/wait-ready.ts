import { ToolkitError } from '../../errors/catalogue.js';
import type { RunningContainer } from './backend.js';
import { tailLog } from './log-tail.js';

/** Options of {@link waitForPing}. */
export interface WaitOptions {
  /** Give up after this long. @defaultValue 120 000 ms (what the SageMaker Python SDK's local mode waits) */
  timeoutMs?: number;
  /** Time between polls. @defaultValue 200 ms */
  intervalMs?: number;
  /** Called every few seconds while waiting, with the seconds waited so far. */
  onProgress?: (waitedSeconds: number) => void;
  /** Stops waiting (Ctrl-C during start-up). */
  signal?: AbortSignal;
}

async function pingOnce(url: string): Promise<number | undefined> {
  try {
    // SageMaker's own /ping timeout is 2 s (sagemaker-contract.md §1.3).
    const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return undefined;
  }
}

/** Formats the failure message with the container's last log lines. */
export async function withLogTail(container: RunningContainer, message: string): Promise<string> {
  const tail = await tailLog(container.spec.logFile, 20);
  return `${message}\n--- last lines of ${container.spec.logFile} ---\n${tail || '(empty)'}`;
}

/**
 * Polls `GET /ping` until it answers 200, the container exits, or the deadline passes. Fails with
 * `ERR_CONTAINER_START` and the container's last log lines.
 */
export async function waitForPing(container: RunningContainer, opts: WaitOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const intervalMs = opts.intervalMs ?? 200;
  const started = Date.now();
  let lastReport = 0;
  let lastStatus: number | undefined;
  for (;;) {
    opts.signal?.throwIfAborted();
    if (container.exited) {
      const { code, signal } = container.exited;
      throw new ToolkitError('ERR_CONTAINER_START', await withLogTail(container, `${container.spec.id} exited (${signal ? `signal ${signal}` : `code ${code}`}) before /ping answered 200`));
    }
    lastStatus = await pingOnce(container.url);
    if (lastStatus === 200) return;
    const waited = Date.now() - started;
    if (waited >= timeoutMs) {
      const state = lastStatus === undefined ? 'no answer' : `last status ${lastStatus}`;
      throw new ToolkitError('ERR_CONTAINER_START', await withLogTail(container, `${container.spec.id} did not pass /ping within ${Math.round(timeoutMs / 1000)} s (${state}); raise --startup-timeout if the model is slow to load`));
    }
    if (opts.onProgress && waited - lastReport >= 2_000) {
      lastReport = waited;
      opts.onProgress(Math.round(waited / 1000));
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, timeoutMs - waited)));
  }
}

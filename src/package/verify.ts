import { promises as fs } from 'node:fs';
import { ToolkitError } from '../errors/catalogue.js';
import { describeError, invokeOnce } from '../invoke/invoke.js';
import { startLocalServer, type LocalServer } from '../local/backends/local-server.js';
import { guessContentType } from '../local/transform/run.js';

/**
 * The largest sample {@link verifyArchive} sends: the server it starts has `SAGEMAKER_MAX_PAYLOAD_IN_MB`
 * at its default, 6, what a real-time endpoint takes in one request (InvokeEndpoint's body, 6 MB),
 * so a larger one could only be refused with 413.
 */
export const MAX_SAMPLE_BYTES = 6 * 1024 * 1024;

/** Why a sample of `bytes` cannot be sent, naming {@link MAX_SAMPLE_BYTES}; undefined when it fits. */
export function sampleTooLarge(sample: string, bytes: number): string | undefined {
  if (bytes <= MAX_SAMPLE_BYTES) return undefined;
  return `${sample} is ${bytes} bytes, over the 6 MB (${MAX_SAMPLE_BYTES} bytes) a SageMaker real-time endpoint takes in one request and the server --verify starts accepts: give a smaller sample`;
}

/** Options for {@link verifyArchive}. */
export interface VerifyOptions {
  /** A request body to send once `/ping` passes, at most {@link MAX_SAMPLE_BYTES}. */
  sample?: string;
  /** Its Content-Type. @defaultValue from the sample's extension */
  contentType?: string;
  accept?: string;
  program?: string;
  /** @defaultValue 120 s */
  startupTimeoutMs?: number;
  /** Progress lines go here. */
  log?: (line: string) => void;
}

/** What {@link verifyArchive} saw. */
export interface VerifyResult {
  pingMs: number;
  invocation?: { status: number; contentType: string | null; body: Buffer };
}

/**
 * Loads `model.tar.gz` the way SageMaker would: extracted (safely) into a temporary `/opt/ml/model`
 * and served by `smkit serve`; waits for `/ping`, then sends the sample, if any, and requires a 2xx.
 * Throws `ERR_PACKAGE_VERIFY` with the reason (and the server's last log lines) otherwise.
 */
export async function verifyArchive(archive: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const log = options.log ?? (() => undefined);
  if (options.sample !== undefined) {
    // Before anything starts; read whole, a sample of 2 GiB or more threw Node's RangeError.
    const { size } = await fs.stat(options.sample).catch((err: Error) => {
      throw new ToolkitError('ERR_PACKAGE_VERIFY', `the sample ${options.sample} cannot be read: ${err.message}`, { cause: err });
    });
    const why = sampleTooLarge(options.sample, size);
    if (why !== undefined) throw new ToolkitError('ERR_PACKAGE_VERIFY', why);
  }
  const started = Date.now();
  // SIGINT/SIGTERM stop the server and remove its temporary /opt/ml before the signal ends the
  // process, as smkit local transform does; left to the default, the server outlived the command.
  let server: LocalServer | undefined;
  let received: NodeJS.Signals | undefined;
  const startup = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    received = signal;
    if (server === undefined) startup.abort();
    else void server.stop().finally(() => process.kill(process.pid, signal));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    server = await startLocalServer({
      model: archive,
      env: { SAGEMAKER_MODEL_SERVER_WORKERS: '1', ...(options.program ? { SAGEMAKER_PROGRAM: options.program } : {}) },
      startupTimeoutMs: options.startupTimeoutMs ?? 120_000,
      onWait: (s) => log(`waiting for /ping (${s} s)...`),
      signal: startup.signal,
    });
  } catch (err) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // startLocalServer has stopped what it started: the signal may end the process now.
    if (received !== undefined) process.kill(process.pid, received);
    throw new ToolkitError('ERR_PACKAGE_VERIFY', `${archive} did not start: ${(err as Error).message}`, { cause: err });
  }
  const pingMs = Date.now() - started;
  log(`/ping answered 200 after ${pingMs} ms`);
  try {
    if (options.sample === undefined) return { pingMs };
    const body = await fs.readFile(options.sample);
    const contentType = options.contentType ?? guessContentType(options.sample);
    const result = await invokeOnce({ url: server.url }, body, { contentType, ...(options.accept ? { accept: options.accept } : {}) });
    if (result.status < 200 || result.status >= 300) {
      const tail = (await fs.readFile(server.logFile, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-10).join('\n');
      throw new ToolkitError('ERR_PACKAGE_VERIFY', `the sample ${options.sample} (${contentType}) failed: ${describeError(result)}\n--- last server log lines ---\n${tail}`);
    }
    log(`sample ${options.sample} → HTTP ${result.status} (${result.headers.get('content-type') ?? 'no content-type'}, ${result.body.length} bytes)`);
    return { pingMs, invocation: { status: result.status, contentType: result.headers.get('content-type'), body: result.body } };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await server.stop();
  }
}

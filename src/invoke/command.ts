import { constants, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { TextDecoder } from 'node:util';
import { isUtf8 } from 'node:buffer';
import { counted } from '../core/counted.js';
import { ToolkitError } from '../errors/catalogue.js';
import { invalidPath, pathProblem, positiveSecondsOption } from '../config/flag-values.js';
import { CLOSED_SESSION_ID_HEADER, INVOKE_ENDPOINT_MAX_BODY_BYTES, NEW_SESSION, STREAM_CONTENT_TYPE_HEADER } from '../core/sagemaker-headers.js';
import { openedSessionOf } from '../local/endpoint/chain.js';
import { guessContentType } from '../local/transform/run.js';
import { createWriteStream, lstatSync, rmSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeToFile } from '../fs/pipe-to-file.js';
import { checkHeaderFlag, checkSageMakerHeaderFlag, describeError, invocationUrl, MAX_INVOKE_SECONDS, invokeStream, type InvocationBody, type InvocationHeaders, type InvocationTarget, type StreamedInvocation } from './invoke.js';

/** Flags of `smkit invoke`. */
export interface InvokeCommandOptions {
  file?: string;
  contentType?: string;
  accept?: string;
  customAttributes?: string;
  targetModel?: string;
  targetVariant?: string;
  inferenceId?: string;
  /** `NEW_SESSION` or a stateful session's id. */
  sessionId?: string;
  endpoint?: string;
  /** The front door's base URL, with `endpoint` only. @defaultValue `http://127.0.0.1:8080` */
  frontDoor?: string;
  output?: string;
  verbose?: boolean;
  timeout: string;
  /** Print the answer as it streams (chunked answers; the front door's response stream). */
  stream?: boolean;
}

/**
 * A body whose length is not known beforehand (stdin, a pipe): to a container, sent chunked as it
 * is read, so its size is not bounded by memory; to a front-door endpoint, read whole first, as the
 * SDKs send InvokeEndpoint's `Body` with its length, and refused past the API's limit without
 * reading the rest.
 */
async function unsizedBody(chunks: Readable, source: string, endpoint: boolean): Promise<InvocationBody> {
  if (!endpoint) return { chunks };
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of chunks as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Leaving the loop destroys the stream: nothing more is read.
    if (size > INVOKE_ENDPOINT_MAX_BODY_BYTES) {
      throw new ToolkitError(
        'ERR_CLI_USAGE',
        `${source} holds more than ${INVOKE_ENDPOINT_MAX_BODY_BYTES} bytes, the most InvokeEndpoint takes in a request (6 MB), so it was not sent: send less per request`,
      );
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/**
 * The body `--file` names: a regular file is sent as it is read, its size as Content-Length, so
 * that its size is not bounded by memory (it was read whole, and one over 2 GiB refused); anything
 * else (a pipe, `/dev/stdin`), and a file whose size says 0, has no size to announce and goes as
 * {@link unsizedBody}.
 */
async function fileBody(file: string, endpoint: boolean): Promise<InvocationBody> {
  const expected = 'the request body, a file';
  let handle: FileHandle | undefined;
  try {
    handle = await fs.open(file, 'r');
    const stat = await handle.stat();
    // Size 0 is not always empty: /proc's files say 0 and hold text, and undici sent no such
    // stream with Content-Length 0, nor failed, so the command waited for ever.
    if (stat.isFile() && stat.size > 0) return { length: stat.size, chunks: handle.createReadStream() };
    if (stat.isDirectory()) throw invalidPath('--file', file, expected, 'is a directory');
    return await unsizedBody(handle.createReadStream(), `--file=${JSON.stringify(file)}`, endpoint);
  } catch (err) {
    await handle?.close().catch(() => {});
    throw err instanceof ToolkitError ? err : invalidPath('--file', file, expected, pathProblem(err));
  }
}

/** `ERR_CLI_USAGE` for a body (`--file`, else stdin) whose reading failed with `err` (EIO). */
function unreadableBody(file: string | undefined, err: unknown): ToolkitError {
  if (file !== undefined && file !== '-') return invalidPath('--file', file, 'the request body, a file', pathProblem(err));
  return new ToolkitError('ERR_CLI_USAGE', `the body on stdin ${pathProblem(err)}`, { cause: err });
}

/** Refuses an `--output` that cannot be written before the request is sent (it may have effects). */
async function checkOutput(file: string): Promise<void> {
  const expected = 'a file to save the answer in';
  if (await fs.stat(file).then((s) => s.isDirectory(), () => false)) throw invalidPath('--output', file, expected, 'is a directory');
  const folder = path.dirname(path.resolve(file));
  await fs.access(folder, constants.W_OK).catch((err: unknown) => {
    throw invalidPath('--output', file, expected, `cannot be written: ${folder} ${pathProblem(err, 'written')}`);
  });
}

/** Runs `smkit invoke`: sends the body, prints or saves the answer, throws on an HTTP error. */
export async function invokeCommand(url: string | undefined, opts: InvokeCommandOptions): Promise<void> {
  // `-o -` is stdout, as `--file -` is stdin (and as curl reads it): not a file named "-".
  if (opts.output === '-') opts = { ...opts, output: undefined };
  if (url !== undefined && opts.endpoint !== undefined) {
    throw new ToolkitError('ERR_CLI_USAGE', 'give either a container URL or --endpoint NAME (with --front-door URL), not both');
  }
  if (opts.frontDoor !== undefined && opts.endpoint === undefined) {
    throw new ToolkitError('ERR_CLI_USAGE', `--front-door only applies with --endpoint NAME; to send to a container, give its URL (smkit invoke ${opts.frontDoor})`);
  }
  const timeoutS = positiveSecondsOption('--timeout', opts.timeout, MAX_INVOKE_SECONDS);
  for (const [flag, value] of [
    ['--content-type', opts.contentType],
    ['--accept', opts.accept],
    ['--custom-attributes', opts.customAttributes],
    ['--target-model', opts.targetModel],
    ['--target-variant', opts.targetVariant],
    ['--inference-id', opts.inferenceId],
    ['--session-id', opts.sessionId],
  ] as const) {
    checkHeaderFlag(flag, value);
    checkSageMakerHeaderFlag(flag, value);
  }
  // InvokeEndpointWithResponseStream's SessionId is an open session's id, never NEW_SESSION (the front
  // door answered HTTP 400 ValidationError); a container reached by its URL opens sessions either way.
  if (opts.stream && opts.endpoint !== undefined && opts.sessionId === NEW_SESSION) {
    throw new ToolkitError('ERR_CLI_USAGE', `--session-id ${NEW_SESSION} does not apply with --stream --endpoint: InvokeEndpointWithResponseStream cannot open a stateful session; open it with smkit invoke --endpoint ${opts.endpoint} --session-id ${NEW_SESSION} (without --stream), then stream with the id it prints`);
  }
  // Nor has it a TargetModel: the front door strips the header and a multi-model endpoint answers
  // HTTP 400 ValidationError (API_runtime_InvokeEndpointWithResponseStream names no TargetModel).
  if (opts.stream && opts.endpoint !== undefined && opts.targetModel !== undefined) {
    throw new ToolkitError('ERR_CLI_USAGE', `--target-model does not apply with --stream --endpoint: InvokeEndpointWithResponseStream has no TargetModel, so a multi-model endpoint cannot stream; invoke it without --stream (smkit invoke --endpoint ${opts.endpoint} --target-model ${opts.targetModel})`);
  }
  const target = opts.endpoint !== undefined ? { url: opts.frontDoor ?? 'http://127.0.0.1:8080', endpoint: opts.endpoint } : { url: url ?? 'http://127.0.0.1:8080/invocations' };
  invocationUrl(target); // refuses a URL that is not http(s) or a bad --endpoint name
  if (opts.output !== undefined) await checkOutput(opts.output);
  // Last: stdin is read to its end, and a bad flag after it was reported only then (never, on a pipe held open).
  let body: InvocationBody;
  if (opts.file !== undefined && opts.file !== '-') {
    body = await fileBody(opts.file, target.endpoint !== undefined);
  } else if (opts.file === '-' || !process.stdin.isTTY) {
    body = await unsizedBody(process.stdin, 'the body on stdin', target.endpoint !== undefined).catch((err: unknown) => {
      throw err instanceof ToolkitError ? err : unreadableBody(undefined, err);
    });
  } else {
    throw new ToolkitError('ERR_CLI_USAGE', 'nothing to send: give --file FILE, or pipe the body on stdin');
  }
  const headers: InvocationHeaders = {
    contentType: opts.contentType ?? (opts.file && opts.file !== '-' ? guessContentType(opts.file) : 'application/json'),
    ...(opts.accept !== undefined ? { accept: opts.accept } : {}),
    ...(opts.customAttributes !== undefined ? { customAttributes: opts.customAttributes } : {}),
    ...(opts.targetModel !== undefined ? { targetModel: opts.targetModel } : {}),
    ...(opts.targetVariant !== undefined ? { targetVariant: opts.targetVariant } : {}),
    ...(opts.inferenceId !== undefined ? { inferenceId: opts.inferenceId } : {}),
    ...(opts.sessionId !== undefined ? { sessionId: opts.sessionId } : {}),
  };
  try {
    await (opts.stream ? streamCommand(target, body, headers, timeoutS * 1000, opts) : answerCommand(target, body, headers, timeoutS * 1000, opts));
  } catch (err) {
    // A body that failed to read while it was sent: fetch said only 'fetch failed', as if the server were down.
    const unread: unknown = Buffer.isBuffer(body) ? null : body.chunks.errored;
    throw unread ? unreadableBody(opts.file, unread) : opts.contentType === undefined ? withChosenTypeHint(err, headers.contentType, opts.file, target.endpoint !== undefined) : err;
  } finally {
    // A file read to its end is closed already; one whose request failed, or was answered before it was all sent, is not.
    if (!Buffer.isBuffer(body) && !body.chunks.closed) await new Promise((closed) => body.chunks.once('close', closed).destroy());
  }
}

/** Statuses of a container's answer that may come from a body sent in the wrong type. */
const WRONG_TYPE_STATUSES = new Set([400, 415]);

/**
 * `ERR_INVOKE_FAILED` for an error answer, with its status and, for the front door's 424
 * (ModelError), the container's own (`OriginalStatusCode`) in its details.
 */
function failedInvocation(result: StreamedInvocation, errorBody: Buffer): ToolkitError {
  let originalStatus: unknown;
  try {
    originalStatus = (JSON.parse(errorBody.toString('utf8')) as Record<string, unknown> | null)?.['OriginalStatusCode'];
  } catch {
    // not JSON
  }
  return new ToolkitError('ERR_INVOKE_FAILED', describeError({ ...result, body: errorBody }), {
    details: { status: result.status, ...(typeof originalStatus === 'number' ? { originalStatus } : {}) },
  });
}

/**
 * A refused invocation whose Content-Type smkit invoke chose itself (no --content-type), with
 * that said: `echo 5.1,3.5,1.4,0.2 | smkit invoke URL` sent CSV as JSON and got only "JSON body is
 * not valid JSON", `-f rows.txt` got 415 for text/plain, neither saying the type was smkit's guess.
 * Only a container's 400 or 415 (through a front door, its 424 around one): the front door's own
 * 400 is about the request (`Endpoint nope of account ... not found.`), never the body's type.
 */
function withChosenTypeHint(err: unknown, contentType: string, file: string | undefined, frontDoor: boolean): unknown {
  if (!(err instanceof ToolkitError) || err.code !== 'ERR_INVOKE_FAILED') return err;
  const status = Number(frontDoor ? (err.details?.['status'] === 424 ? err.details['originalStatus'] : undefined) : err.details?.['status']);
  if (!WRONG_TYPE_STATUSES.has(status)) return err;
  const why = file !== undefined && file !== '-' ? `from the file name ${path.basename(file)}` : 'the default for stdin';
  const example = contentType === 'text/csv' ? 'application/json' : 'text/csv';
  return new ToolkitError('ERR_INVOKE_FAILED', `${err.message} (smkit invoke sent Content-Type: ${contentType}, ${why}; if the body is of another type, give it with -c/--content-type, such as -c ${example})`, {
    cause: err,
    ...(err.details ? { details: err.details } : {}),
  });
}

/** Sends the invocation and prints or saves its answer (without --stream). */
async function answerCommand(target: InvocationTarget, body: InvocationBody, headers: InvocationHeaders, timeoutMs: number, opts: InvokeCommandOptions): Promise<void> {
  // The answer is written as it arrives (to -o or a pipe), so its size is not bounded by memory.
  const result = await invokeStream(target, body, headers, timeoutMs, false);
  if (opts.verbose) {
    process.stderr.write(`> POST ${result.url}\n> content-type: ${headers.contentType}\n${headers.accept ? `> accept: ${headers.accept}\n` : ''}`);
    process.stderr.write(`< ${result.status} ${result.statusText}\n`);
    result.headers.forEach((value, name) => process.stderr.write(`< ${name}: ${value}\n`));
  }
  if (result.errorBody) {
    throw failedInvocation(result, result.errorBody);
  }
  reportSession(result.headers);
  const type = result.headers.get('content-type');
  if (opts.output !== undefined) {
    let bytes = 0;
    const counting = async function* (): AsyncIterable<Uint8Array> {
      for await (const chunk of result.chunks) {
        bytes += chunk.length;
        yield chunk;
      }
    };
    // An answer that breaks off, or Ctrl-C or SIGTERM while it arrives, leaves no file that looks whole.
    const output = opts.output;
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      removePartial(output);
      process.kill(process.pid, signal);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await pipeToFile(counting, createWriteStream(output));
    } catch (err) {
      removePartial(output);
      // The answer's own failures are ToolkitErrors; the file's (ENOSPC) are named as --output's.
      throw err instanceof ToolkitError ? err : invalidPath('--output', output, 'a file to save the answer in', pathProblem(err, 'written'));
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    process.stderr.write(`smkit: ${counted(bytes, 'byte')} (${type ?? 'no content-type'}) written to ${opts.output}\n`);
  } else if (!process.stdout.isTTY) {
    const stdout = process.stdout;
    await writeAll(result.chunks, stdout).catch((err: unknown) => {
      if (!stdoutGone(stdout, err)) throw err;
    });
  } else {
    const answer = await terminalAnswer(result.chunks, type);
    // As curl does: binary bytes written to a terminal garble it (and may be read as control sequences).
    if (answer.includes(0) || !isUtf8(answer)) {
      throw new ToolkitError('ERR_CLI_USAGE', `the answer is ${answer.length} bytes of ${type ?? 'binary data'}, not text, so it is not printed to the terminal: save it with -o FILE, or pipe stdout`);
    }
    process.stdout.write(answer);
    if (answer.length > 0 && answer[answer.length - 1] !== 0x0a) process.stdout.write('\n');
  }
}

/**
 * Says on stderr which stateful session the answer opened (its id, to send from now on) or closed.
 * A container may name the session it opened in `X-Amzn-SageMaker-Session-Id` (AWS's stateful
 * sessions page) rather than `X-Amzn-SageMaker-New-Session-Id`: either is taken, as the front door takes them.
 */
function reportSession(headers: Headers): void {
  const opened = openedSessionOf(headers);
  if (opened !== undefined) process.stderr.write(`smkit: session opened: ${opened} (send --session-id ${opened.split(';')[0]!.trim()} from now on)\n`);
  const closed = headers.get(CLOSED_SESSION_ID_HEADER);
  if (closed !== null) process.stderr.write(`smkit: session closed: ${closed}\n`);
}

/**
 * Removes what `-o` holds of an answer that did not arrive whole, when it is a regular file: a
 * device, FIFO or link that `-o` names (/dev/stdout, /dev/full) is not the command's to remove,
 * and was removed (as root, the device node itself).
 */
function removePartial(file: string): void {
  try {
    if (lstatSync(file).isFile()) rmSync(file, { force: true });
  } catch {
    // gone already
  }
}

/** The most of an answer held to be checked and printed on a terminal; more is for -o or a pipe. */
const TERMINAL_MAX_BYTES = 64 * 1024 * 1024;

/** The whole answer, for a terminal: refused past {@link TERMINAL_MAX_BYTES} instead of held in memory. */
async function terminalAnswer(chunks: AsyncIterable<Uint8Array>, type: string | null): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of chunks) {
    size += chunk.length;
    if (size > TERMINAL_MAX_BYTES) {
      throw new ToolkitError('ERR_CLI_USAGE', `the answer (${type ?? 'no content-type'}) is more than ${TERMINAL_MAX_BYTES / 1024 / 1024} MB, too much to print to the terminal: save it with -o FILE, or pipe stdout`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/** The first error each output stream emitted: one listener per stream, which stays (an error after the last write would end the process). */
const outputErrors = new WeakMap<NodeJS.WritableStream, { error?: Error; wake?: () => void }>();

/**
 * Writes `chunk` to `out`, waiting while it is full; throws `out`'s error (EPIPE once the reader of
 * a pipe has gone, as `| head` does; ENOSPC), which went unheard and ended the process with a stack
 * trace, or left the write waiting for a drain that never came.
 */
export async function writeOut(out: NodeJS.WritableStream, chunk: Uint8Array): Promise<void> {
  let state = outputErrors.get(out);
  if (state === undefined) {
    const created: { error?: Error; wake?: () => void } = {};
    out.on('error', (err: Error) => {
      created.error ??= err;
      created.wake?.();
    });
    outputErrors.set(out, (state = created));
  }
  if (state.error) throw state.error;
  if (!out.write(chunk)) {
    await new Promise<void>((resolve) => {
      state.wake = resolve;
      out.once('drain', resolve);
    });
    state.wake = undefined;
  }
  if (state.error) throw state.error;
}

/**
 * Whether `err` is stdout's (`out`'s) saying its reader has gone (`| head`): what it wanted it has,
 * so the command stops quietly. Any other failure of stdout is `ERR_CLI_USAGE`; other errors are thrown as they are.
 */
export function stdoutGone(out: NodeJS.WritableStream, err: unknown): boolean {
  if (err === undefined || err !== outputErrors.get(out)?.error) throw err;
  if ((err as NodeJS.ErrnoException).code === 'EPIPE') return true;
  throw new ToolkitError('ERR_CLI_USAGE', `the answer could not be written to stdout: it ${pathProblem(err, 'written')}`, { cause: err });
}

/** Writes every chunk to `out` as it arrives, waiting while `out` is full. */
async function writeAll(chunks: AsyncIterable<Uint8Array>, out: NodeJS.WritableStream): Promise<void> {
  for await (const chunk of chunks) await writeOut(out, chunk);
}

/** `smkit invoke --stream`: writes each chunk as it arrives (to stdout or `--output`). */
async function streamCommand(target: InvocationTarget, body: InvocationBody, headers: InvocationHeaders, timeoutMs: number, opts: InvokeCommandOptions): Promise<void> {
  const result = await invokeStream(target, body, headers, timeoutMs);
  if (opts.verbose) {
    process.stderr.write(`> POST ${result.url}\n< ${result.status} ${result.statusText}\n`);
    result.headers.forEach((value, name) => process.stderr.write(`< ${name}: ${value}\n`));
  }
  if (result.errorBody) {
    throw failedInvocation(result, result.errorBody);
  }
  // A container's streamed answer opens and closes sessions as a whole one does.
  reportSession(result.headers);
  const file = opts.output !== undefined ? createWriteStream(opts.output) : undefined;
  const out: NodeJS.WritableStream = file ?? process.stdout;
  // As without --stream: a terminal gets text only. The decoder carries a character split across chunks.
  const text = !file && process.stdout.isTTY ? new TextDecoder('utf-8', { fatal: true }) : undefined;
  // InvokeEndpointWithResponseStream's Content-Type is the event stream's; the model's is X-Amzn-SageMaker-Content-Type.
  const type = result.headers.get(target.endpoint !== undefined ? STREAM_CONTENT_TYPE_HEADER : 'content-type');
  const notText = () =>
    new ToolkitError(
      'ERR_CLI_USAGE',
      `the answer (${type ?? 'no content-type'}) is not text from byte ${bytes} on, so the rest is not printed to the terminal: save it with -o FILE, or pipe stdout`,
    );
  let bytes = 0;
  try {
    for await (const chunk of result.chunks) {
      if (text && (chunk.includes(0) || !decodes(text, chunk))) throw notText();
      bytes += chunk.length;
      await writeOut(out, chunk);
    }
  } catch (err) {
    // What arrived stays in the file.
    if (file) {
      if (!file.destroyed) await new Promise<void>((resolve) => file.end(() => resolve()));
      throw err !== undefined && err === outputErrors.get(file)?.error ? invalidPath('--output', opts.output!, 'a file to save the answer in', pathProblem(err, 'written')) : err;
    }
    if (stdoutGone(out, err)) return;
  }
  if (text && !decodes(text)) throw notText();
  if (file) {
    await new Promise<void>((resolve, reject) => {
      file.once('error', reject);
      file.end(() => resolve());
    });
    process.stderr.write(`smkit: ${counted(bytes, 'byte')} streamed to ${opts.output}\n`);
  }
}

/** Whether `chunk` continues valid UTF-8 in `decoder`'s stream; without a chunk, whether the stream ended on a whole character. */
function decodes(decoder: TextDecoder, chunk?: Uint8Array): boolean {
  try {
    if (chunk) decoder.decode(chunk, { stream: true });
    else decoder.decode();
    return true;
  } catch {
    return false;
  }
}

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { ToolkitError } from '../errors/catalogue.js';
import { checkPath, invalidPath, pathProblem, positiveSecondsOption, refuseUrlCredentials, urlWithoutPassword } from '../config/flag-values.js';
import { BIDI_PATH } from '../core/bidi-frame.js';
import { checkHeaderFlag, MAX_INVOKE_SECONDS } from './invoke.js';
import { stdoutGone, writeOut } from './command.js';

/** Flags of `smkit invoke --bidi`. */
export interface BidiInvokeOptions {
  /** Lines to send ("-" or absent with piped input: stdin). */
  readonly file?: string;
  /** Sent as `content-type` in the query string (the container reads messages as this type). */
  readonly contentType?: string;
  /** Sent as `accept` in the query string. */
  readonly accept?: string;
  readonly customAttributes?: string;
  /** Seconds to wait for replies once every line is sent, before closing. */
  readonly idle: string;
  /** Seconds the stream may take to open (`--timeout`). @defaultValue 60 */
  readonly timeout?: string;
  readonly verbose?: boolean;
  /** Refused: the local SageMaker's front door has no bidirectional streams. */
  readonly endpoint?: string;
  /** Refused (but `-`, stdout), as the other flags of `smkit invoke` a stream has no use for (replies go to stdout). */
  readonly output?: string;
  readonly stream?: boolean;
  readonly targetModel?: string;
  readonly targetVariant?: string;
  readonly inferenceId?: string;
  readonly sessionId?: string;
  readonly frontDoor?: string;
}

/** `smkit invoke` flags that a bidirectional stream has no use for, as typed. */
const NOT_WITH_BIDI: ReadonlyArray<readonly [keyof BidiInvokeOptions, string]> = [
  ['output', '--output'],
  ['stream', '--stream'],
  ['targetModel', '--target-model'],
  ['targetVariant', '--target-variant'],
  ['inferenceId', '--inference-id'],
  ['sessionId', '--session-id'],
  ['frontDoor', '--front-door'],
];

/**
 * The WebSocket URL of a container's bidirectional stream: `http://host:port` (or `ws://`) gets
 * `/invocations-bidirectional-stream`; a URL with a path keeps it. Content type and Accept travel
 * in the query string, as SageMaker's `ModelQueryString` does.
 */
export function bidiUrl(url: string | undefined, contentType?: string, accept?: string): URL {
  const text = url ?? 'http://127.0.0.1:8080';
  let u: URL | undefined;
  try {
    u = new URL(text);
  } catch {
    // named below
  }
  // `localhost:8080` parses as a URL of scheme "localhost:".
  if (u === undefined || !['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) {
    throw new ToolkitError('ERR_CLI_USAGE', `--bidi needs an http:// or ws:// URL, not ${urlWithoutPassword(text)}; expected e.g. http://${/^[\w.-]+:\d+(\/|$)/.test(text) ? text : '127.0.0.1:8080'}`);
  }
  // Refused as smkit invoke's other URLs are: ws sent them as Basic auth where fetch refused them.
  refuseUrlCredentials(u, 'smkit invoke');
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.pathname === '/' || u.pathname === '') u.pathname = BIDI_PATH;
  if (contentType !== undefined) u.searchParams.set('content-type', contentType);
  if (accept !== undefined) u.searchParams.set('accept', accept);
  return u;
}

/**
 * `smkit invoke --bidi`: opens the container's bidirectional stream, sends each line of the input
 * as one text message, and prints each reply on its own line as it arrives (binary replies as
 * base64). Once the input is sent, it waits until the container closes the stream, or until
 * `--idle` seconds pass without a reply, and then closes it. A stream the container closed with an
 * error code (4000 + status) fails with `ERR_INVOKE_FAILED`.
 */
export async function bidiCommand(url: string | undefined, opts: BidiInvokeOptions): Promise<void> {
  if (opts.endpoint !== undefined) {
    throw new ToolkitError('ERR_CLI_USAGE', "--bidi talks to a container's WebSocket: give its URL (the local SageMaker has no InvokeEndpointWithBidirectionalStream)");
  }
  // `-o -` is stdout, where the replies go anyway (as `-o -` is stdout without --bidi).
  const ignored = NOT_WITH_BIDI.filter(([key]) => opts[key] !== undefined && !(key === 'output' && opts.output === '-')).map(([, flag]) => flag);
  if (ignored.length > 0) {
    throw new ToolkitError(
      'ERR_CLI_USAGE',
      `${ignored.join(', ')} ${ignored.length > 1 ? 'do' : 'does'} not apply with --bidi: each reply is printed on its own line on stdout${ignored.includes('--output') ? ' (redirect it: > FILE)' : ''}, and the stream carries only --content-type, --accept and --custom-attributes`,
    );
  }
  const idleMs = positiveSecondsOption('--idle', opts.idle, MAX_INVOKE_SECONDS) * 1000;
  const timeoutS = positiveSecondsOption('--timeout', opts.timeout ?? '60', MAX_INVOKE_SECONDS);
  checkHeaderFlag('--custom-attributes', opts.customAttributes);
  // Before the stream opens: a pipe (<(cmd)) is fine, a folder or nothing is not.
  const expected = 'the messages to send, a file of lines';
  if (opts.file !== undefined && opts.file !== '-' && checkPath('--file', opts.file, 'any', expected).isDirectory()) throw invalidPath('--file', opts.file, expected, 'is a directory');
  if ((opts.file === undefined || opts.file === '-') && process.stdin.isTTY) {
    // Typed lines are fine too: the stream stays open until Ctrl-D.
    process.stderr.write('smkit: type one message per line, Ctrl-D to finish\n');
  }
  const target = bidiUrl(url, opts.contentType, opts.accept);
  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(target, { headers: opts.customAttributes !== undefined ? { 'X-Amzn-SageMaker-Custom-Attributes': opts.customAttributes } : {} });
  let idleTimer: NodeJS.Timeout | undefined;
  let inputDone = false;
  // Replies received and not yet written to stdout (see the 'message' listener below).
  let writesWaiting = 0;
  const armIdle = () => {
    clearTimeout(idleTimer);
    // Not while replies wait for stdout: the stream is paused then, so no reply can come, and a
    // slow reader of stdout (longer than --idle) closed the stream while the container was still answering.
    if (inputDone && writesWaiting === 0) idleTimer = setTimeout(() => ws.close(1000), idleMs);
  };
  const closed = new Promise<{ code: number; reason: string }>((resolve, reject) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') }));
    ws.on('error', (err) => reject(new ToolkitError('ERR_INVOKE_FAILED', `${target.href}: ${err.message}`, { cause: err })));
    // A refused handshake: the container's JSON error says why.
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => reject(new ToolkitError('ERR_INVOKE_FAILED', `${target.href} answered ${res.statusCode} instead of opening a stream: ${body.slice(0, 500)}`, { details: { status: res.statusCode } })));
      res.on('error', () => reject(new ToolkitError('ERR_INVOKE_FAILED', `${target.href} answered ${res.statusCode} instead of opening a stream`)));
    });
  });
  // Replies are printed in order; while stdout is full the stream is not read (the container is held
  // back, not this process's memory). A stdout that fails (EPIPE once `| head` has exited) ends the
  // stream, which the command then reports (quietly for EPIPE): it was an unhandled error event.
  let stdoutFailed: unknown;
  // One write at a time (writeOut waits for one drain); messages the paused socket had already
  // delivered queue behind it.
  let writing = Promise.resolve();
  const stdout = process.stdout;
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (stdoutFailed !== undefined) return;
    writesWaiting++;
    armIdle();
    ws.pause();
    const line = Buffer.from(`${binary ? data.toString('base64') : data.toString('utf8')}\n`, 'utf8');
    writing = writing.then(
      () => (stdoutFailed === undefined ? writeOut(stdout, line) : undefined),
    ).then(
      () => {
        if (--writesWaiting > 0) return;
        ws.resume();
        armIdle();
      },
      (err: unknown) => {
        stdoutFailed ??= err ?? new Error('stdout failed');
        // Read again: the close handshake needs the container's answer.
        ws.resume();
        ws.close(1000);
      },
    );
  });
  // A server that takes the connection but never answers the handshake held the command for ever. --timeout is a
  // deadline: ws's handshakeTimeout is the socket's idle time, which a server sending its answer a byte at a time renews.
  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => {
      reject(new ToolkitError('ERR_INVOKE_FAILED', `${target.href}: the stream did not open within ${timeoutS} s (--timeout)`));
      ws.terminate();
    }, timeoutS * 1000);
    ws.once('open', () => {
      clearTimeout(deadline);
      resolve();
    });
    closed.catch((err: unknown) => {
      clearTimeout(deadline);
      reject(err);
    });
  });
  if (opts.verbose) process.stderr.write(`smkit: stream open at ${target.href}\n`);
  const input = opts.file !== undefined && opts.file !== '-' ? createReadStream(opts.file) : process.stdin;
  const readFailed = new Promise<never>((_, reject) =>
    input.once('error', (err: Error) => reject(invalidPath('--file', opts.file ?? '-', expected, pathProblem(err)))),
  );
  const send = (line: string) => new Promise<void>((resolve, reject) => ws.send(line, (err) => (err ? reject(err) : resolve())));
  await Promise.race([
    (async () => {
      for await (const line of createInterface({ input, crlfDelay: Infinity })) {
        if (line.trim() === '' || ws.readyState !== ws.OPEN) continue;
        // A stream the container closed meanwhile ends with its close code, below.
        await send(line).catch(() => undefined);
      }
    })(),
    readFailed,
    closed.then(() => undefined),
  ]);
  inputDone = true;
  // The container may close the stream while the input is still open (lines typed at a terminal, a
  // pipe nobody has closed): stop reading it, or the process would wait for input no one sends.
  input.destroy();
  armIdle();
  const { code, reason } = await closed;
  // The container's close comes with the replies before it, not after they are written: those still
  // waiting for stdout are printed (and a stdout that fails on them reported) before the command
  // ends, or exits 1 for a close code, which cut them off.
  await writing;
  clearTimeout(idleTimer);
  if (stdoutFailed !== undefined && stdoutGone(stdout, stdoutFailed)) return;
  if (opts.verbose) process.stderr.write(`smkit: stream closed: ${code}${reason ? ` ${reason}` : ''}\n`);
  if (code !== 1000 && code !== 1005) {
    throw new ToolkitError('ERR_INVOKE_FAILED', `the container closed the stream with ${code}${reason ? `: ${reason}` : ''}`, { details: { closeCode: code } });
  }
}

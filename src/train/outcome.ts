import { existsSync, lstatSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Keeps the last `limit` bytes of a stream, for the failure file. */
export class TailBuffer {
  #chunks: Buffer[] = [];
  #size = 0;
  constructor(readonly limit = 16 * 1024) {}
  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    while (this.#size - this.#chunks[0]!.length >= this.limit) this.#size -= this.#chunks.shift()!.length;
  }
  text(): string {
    const all = Buffer.concat(this.#chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

/** Longest command shown in a failure headline: SageMaker keeps only the first 1024 characters of the file. */
export const MAX_HEADLINE_COMMAND = 200;

/**
 * The command as shown in a failure headline, cut to {@link MAX_HEADLINE_COMMAND} characters with
 * an ellipsis, so long hyperparameters cannot push the reason out of `FailureReason`.
 */
export function headlineCommand(display: string, max = MAX_HEADLINE_COMMAND): string {
  const chars = [...display];
  return chars.length <= max ? display : `${chars.slice(0, max - 1).join('')}…`;
}

/**
 * `text` with every argument of `args` longer than {@link MAX_HEADLINE_COMMAND} characters cut as
 * {@link headlineCommand} cuts a command, where the text shows it whole, its value after `=` alone,
 * or either as JSON writes it inside quotes (a flag's value in a usage error): a long argument must
 * not push the reason out of `FailureReason` either.
 */
export function shortenArguments(text: string, args: readonly string[]): string {
  const long = args.flatMap((a) => [a, a.slice(a.indexOf('=') + 1)]).filter((a) => [...a].length > MAX_HEADLINE_COMMAND);
  const forms = long.flatMap((a) => [a, JSON.stringify(a).slice(1, -1)]).sort((a, b) => b.length - a.length);
  return forms.reduce((shown, form) => shown.split(form).join(headlineCommand(form)), text);
}

const ERROR_LINE = /^\s*([\w.]*(Error|Exception)\b|error:|fatal:|Traceback)/i;

/**
 * What a terminal shows of a stderr line: a line redrawn with CR (a progress bar: `10%\r20%\r...`)
 * as its last redraw, not every redraw run together; a CRLF line end is a line end.
 */
function shownLine(line: string): string {
  return line.split('\r').findLast((redraw) => redraw.trim() !== '') ?? '';
}

/**
 * Builds a failure description with the reason first: the headline with a one-line summary (the
 * last error-looking line of stderr, else its last line; skipped when `summarize` is false), then
 * the tail of stderr for context.
 */
export function describeScriptFailure(headline: string, stderrTail: string, options: { summarize?: boolean; maxTailLines?: number } = {}): string {
  const { summarize = true, maxTailLines = 20 } = options;
  const lines = stderrTail.split('\n').map((l) => shownLine(l).trimEnd()).filter((l) => l.trim() !== '');
  const errorLine = summarize ? ([...lines].reverse().find((l) => ERROR_LINE.test(l)) ?? lines.at(-1)) : undefined;
  const first = errorLine ? `${headline}: ${errorLine.trim()}` : headline;
  const tail = lines.slice(-maxTailLines);
  return tail.length > 0 ? `${first}\n--- last lines of stderr ---\n${tail.join('\n')}\n` : `${first}\n`;
}

/**
 * Writes `<output>/failure` unless it exists already (the entry point may have written its own
 * reason, which wins, as in STT). Returns whether the file was written: false too when it cannot
 * be (the folder is not writable), which must not end the run with an uncaught error.
 */
export function writeFailure(failureFile: string, reason: string): boolean {
  if (existsSync(failureFile)) return false;
  try {
    // A link to nowhere the entry point left there holds no reason; written through, it would throw ENOENT.
    rmSync(failureFile, { force: true });
    mkdirSync(path.dirname(failureFile), { recursive: true });
    writeFileSync(failureFile, reason);
    return true;
  } catch {
    return false;
  }
}

/** Whether anything is at `file`, a link to nowhere included (`existsSync` follows links). */
function present(file: string): boolean {
  try {
    lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes the `success` and `failure` files an earlier run left in the same tree (a local tree run
 * again to resume from its checkpoints), so the files at the end describe this run: a stale
 * `failure` would otherwise stand beside this run's `success`, or be kept as this run's reason.
 * Returns the files removed.
 */
export function clearOutcome(files: readonly string[]): string[] {
  return files.filter((file) => {
    if (!present(file)) return false;
    // Whatever it is: a folder left there would otherwise stop the run before it starts.
    rmSync(file, { force: true, recursive: true });
    return true;
  });
}

/**
 * Writes the empty `<output>/success` marker STT writes on success, in place of whatever the entry
 * point left there (a link to nowhere would make the write throw ENOENT). Returns whether it could.
 */
export function writeSuccess(successFile: string): boolean {
  try {
    rmSync(successFile, { force: true, recursive: true });
    mkdirSync(path.dirname(successFile), { recursive: true });
    writeFileSync(successFile, '');
    return true;
  } catch {
    return false;
  }
}

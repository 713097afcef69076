import { checkFolderToCreate, invalidPath } from '../../config/flag-values.js';
import { createReadStream, createWriteStream, promises as fs, type WriteStream } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import { pipeline, Readable, Writable } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { createGunzip, gunzip } from 'node:zlib';
import { isToolkitError, ToolkitError } from '../../errors/catalogue.js';
import { firstChars } from '../../errors/text-cut.js';
import { makeDir } from '../../fs/make-dir.js';
import { MAX_ERROR_ANSWER_BYTES } from '../endpoint/read-answer.js';
import { AnswerSpoolError, AnswerTooLargeError, discardAnswers, MAX_PROCESSED_ANSWER_BYTES, SPOOL_AFTER_BYTES, writeAnswers, type Answer } from './answers.js';
import { boundExecutionParameters, fetchExecutionParameters, resolveExecutionParameters, type ExecutionParameters } from './parameters.js';
import { readManifest } from './manifest.js';
import { answersPerRecord, compileDataProcessing, recordFormat, RecordProcessingError, withInferenceId, type CompiledDataProcessing, type DataProcessing } from './data-processing.js';
import { randomUUID } from 'node:crypto';
import { eachFrameOf, eachFrameOfStream, eachLineOf, eachMiniBatchOf, eachRecord, groupMiniBatches, MalformedInputError, RecordTooLargeError, type AssembleWith, type InputRecord, type MiniBatch, type SplitType } from './records.js';

/**
 * A mini-batch sent as it is read (MaxPayloadInMB 0): `stream` gives its bytes again for each
 * attempt. `records` is empty when the file is split (its records are counted as they are sent).
 */
interface StreamedBatch extends MiniBatch {
  readonly stream: () => AsyncIterable<Buffer>;
}

const isStreamed = (batch: MiniBatch): batch is StreamedBatch => 'stream' in batch;

/** Options for {@link runTransform}. */
export interface TransformOptions {
  /** A folder (walked recursively; dot-files skipped) or a single file. */
  input: string;
  /** Where `<relative path>.out` files go; created when missing; must not lie inside `input`. */
  output: string;
  /** The container's base URL, `http://host:port` (a trailing `/invocations` is accepted). */
  url: string;
  /** Request `Content-Type`; when absent, guessed per file from its extension. */
  contentType?: string;
  /** Request `Accept`; when absent, no header is sent and the container's default applies. */
  accept?: string;
  /** @defaultValue `None` */
  splitType?: SplitType;
  /** @defaultValue `None` */
  assembleWith?: AssembleWith;
  /** `S3DataType`: `ManifestFile` makes `input` a manifest listing the files (paths relative to its prefix folder). @defaultValue `S3Prefix` */
  s3DataType?: 'S3Prefix' | 'ManifestFile';
  /** Largest manifest read; the local SageMaker lifts it for the manifests it writes itself. @defaultValue 64 MiB (`MAX_MANIFEST_BYTES` in manifest.ts) */
  maxManifestBytes?: number;
  /** The inputs {@link listTransformInputs} listed already (for `input`), so they are not listed again. */
  inputs?: TransformInputs;
  /** `DataProcessing`: InputFilter, JoinSource, OutputFilter (JSON and CSV records only). */
  dataProcessing?: DataProcessing;
  /**
   * `DataCaptureConfig.GenerateInferenceId`: each record's output gets an inference id (a random
   * UUID) and `time` (the job's start, `2022-08-30T00:49:15Z`) appended, when the output is CSV or
   * JSON (`TransformOutput.Accept`, else the content type); other output is written as it came.
   */
  inferenceIds?: { time: string };
  /** `TransformInput.CompressionType`: `Gzip` files are decompressed before they are split. @defaultValue `None` */
  compressionType?: 'None' | 'Gzip';
  /** The job's values (flags), which win over the container's `/execution-parameters`. */
  parameters?: Partial<ExecutionParameters>;
  /** Per-request timeout. @defaultValue 600 s (`InvocationsTimeoutInSeconds`) */
  timeoutMs?: number;
  /** Retries after a connection error or a 429/502/503/504 answer. @defaultValue 3 (`InvocationsMaxRetries`) */
  retries?: number;
  /** Progress reporting hooks (the CLI draws a bar with them). */
  progress?: TransformProgress;
  /** Told when a value is changed before the run starts (a container's `/execution-parameters` asking for more than a transform job allows). */
  warn?: (message: string) => void;
  /**
   * Stops the run (StopTransformJob, Ctrl-C): requests out are cut, nothing more is sent or
   * retried, and once the files started are settled the run rejects with the signal's reason. A
   * file cut short gets no `.out` nor `.out.failed`, and its `.out.partial` is removed.
   */
  signal?: AbortSignal;
}

/** Progress callbacks; all optional. */
export interface TransformProgress {
  start?(totalRecords: number, parameters: ExecutionParameters): void;
  advance?(records: number, failed: number, file: string): void;
  stop?(): void;
}

/** One record that could not be transformed. */
export interface FailedRecord {
  /** Input file, relative to the input folder. */
  file: string;
  /** 0-based record index within the file (blank lines are not counted). */
  record: number;
  /** HTTP status, or 0 when no answer came (connection error, timeout, payload too large, broken RecordIO/TFRecord frame, a record DataProcessing cannot handle). */
  status: number;
  error: string;
}

/** What {@link runTransform} did. */
export interface TransformSummary {
  /** The execution parameters the run used (the job's, else the container's, else the defaults, within a job's bounds). */
  parameters: ExecutionParameters;
  /** Input files read. */
  files: number;
  /** Records found in them (blank lines not counted). */
  records: number;
  /** Mini-batches sent to `/invocations`, counting each record sent alone after its mini-batch failed (not the retries after a connection error or a 429/502/503/504). */
  requests: number;
  /** The records that could not be transformed, in input order. */
  failed: FailedRecord[];
}

const EXTENSION_TYPES: Record<string, string> = {
  '.csv': 'text/csv',
  '.json': 'application/json',
  '.jsonl': 'application/jsonlines',
  '.jsonlines': 'application/jsonlines',
  '.npy': 'application/x-npy',
  '.npz': 'application/x-npz',
  '.txt': 'text/plain',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
};

/** The content type assumed for a file when `--content-type` is not given. */
export function guessContentType(file: string): string {
  return EXTENSION_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

const RETRY_STATUSES = new Set([429, 502, 503, 504]);

const NEWLINE = Buffer.from('\n');

const gunzipAsync = promisify(gunzip);

/** Bytes of earlier files, read and with mini-batches still out, that may be held while the next file is read: 100 MB, the most MaxConcurrentTransforms × MaxPayloadInMB allows. */
const HELD_BYTES = 100 * 1024 * 1024;

/** The most `fs.readFile` reads at once (its ERR_FS_FILE_TOO_LARGE limit): a SplitType None file longer than this is refused from its size. */
export const MAX_FILE_BYTES = 2 ** 31 - 1;

/** An input file none of whose records is sent, and the record where reading it stopped. */
interface UnreadableFile {
  record: number;
  error: string;
}

/** Bytes read from a RecordIO or TFRecord file at once: its frames are cut from these, with few system calls. */
const READ_BLOCK_BYTES = 1024 * 1024;

/**
 * The records of a RecordIO or TFRecord file ({@link eachFrameOf}), read a block at a time; the
 * file is closed when they are done or given up.
 */
async function* eachFrameOfFile(file: string, splitType: 'RecordIO' | 'TFRecord', strategy: ExecutionParameters['batchStrategy']): AsyncGenerator<InputRecord[]> {
  const fh = await fs.open(file);
  try {
    const { size } = await fh.stat();
    let block = Buffer.alloc(0);
    let blockAt = 0;
    const peek = (offset: number, length: number): Buffer | undefined =>
      offset >= blockAt && offset + length <= blockAt + block.length ? block.subarray(offset - blockAt, offset - blockAt + length) : undefined;
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const held = peek(offset, length);
      if (held) return held;
      const want = Math.min(size - offset, Math.max(length, READ_BLOCK_BYTES));
      const buf = Buffer.allocUnsafe(want);
      let got = 0;
      for (let n = -1; got < want && n !== 0; got += n) ({ bytesRead: n } = await fh.read(buf, got, want - got, offset + got));
      // Shorter than when its size was taken: it changed while it was read.
      if (got < length) throw Object.assign(new Error(`${file} ended at byte ${offset + got}, before the ${size} bytes it had when it was opened`), { code: 'ERR_FILE_CHANGED' });
      block = buf.subarray(0, got);
      blockAt = offset;
      return block.subarray(0, length);
    };
    yield* eachFrameOf({ size, read, peek }, splitType, strategy);
  } finally {
    await fh.close();
  }
}

/** Lists input files relative to `root`, sorted, skipping dot-files and dot-folders; links to files count as files, links to folders are not followed. */
async function listInputs(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await fs.readdir(path.join(root, rel), { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.name.startsWith('.')) continue;
      const childRel = rel === '' ? e.name : path.join(rel, e.name);
      if (e.isDirectory()) await walk(childRel);
      else if (e.isFile()) out.push(childRel);
      // A link to a file is read as the file, as SageMaker local mode's os.path.isfile takes it; one
      // to a folder is not walked (a link to a folder above it would loop for ever).
      else if (e.isSymbolicLink() && (await fs.stat(path.join(root, childRel)).catch(() => undefined))?.isFile()) out.push(childRel);
    }
  };
  await walk('');
  return out;
}

type Outcome = { ok: true; body: Answer } | { ok: false; status: number; error: string };

function errorText(body: Buffer, statusText: string): string {
  const text = body.toString('utf8');
  try {
    const j = JSON.parse(text) as { code?: unknown; message?: unknown };
    if (typeof j.message === 'string') return typeof j.code === 'string' ? `${j.code}: ${j.message}` : j.message;
  } catch {
    // not JSON: fall through to the raw text
  }
  return firstChars(text, 500) || statusText;
}

/**
 * POSTs `body` with exactly `headers` (`fetch` would add `Accept: *\/*`, and the job sends no
 * `Accept` unless `TransformOutput.Accept` is set) and reads the answer. `chunked` sends it
 * with `Transfer-Encoding: chunked` instead of a `Content-Length`; a `body` given as a function is
 * always sent so, its chunks written as they come (with backpressure), never gathered. A success
 * answer past {@link SPOOL_AFTER_BYTES} goes on to the file `spoolTo` names (read as it is written);
 * without `spoolTo` one past {@link MAX_PROCESSED_ANSWER_BYTES} rejects with {@link AnswerTooLargeError}.
 */
function postBody(
  url: string,
  headers: Record<string, string>,
  body: Buffer | (() => AsyncIterable<Buffer>),
  timeoutMs: number,
  chunked = false,
  stop?: AbortSignal,
  spoolTo?: () => string,
): Promise<{ status: number; statusText: string; body: Answer }> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const timeout = AbortSignal.timeout(timeoutMs);
  return new Promise((resolve, reject) => {
    const framing = chunked || typeof body === 'function' ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(body.length) };
    let spool: { file: string; stream: WriteStream } | undefined;
    let settled = false;
    let answerEnded = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      req.destroy();
      if (!spool) return reject(err);
      const { file, stream } = spool;
      // Removed once closed, and only then rejected: a stream still opening would create the file
      // after an earlier rm, and a run that ended meanwhile left it in the output after its end.
      const remove = (): void => void fs.rm(file, { force: true }).catch(() => {}).then(() => reject(err));
      if (stream.closed) remove();
      else stream.once('close', remove);
      stream.destroy();
    };
    const req = send(target, { method: 'POST', headers: { ...headers, ...framing }, signal: stop ? AbortSignal.any([timeout, stop]) : timeout }, (res) => {
      const status = res.statusCode ?? 0;
      const ok = status >= 200 && status < 300;
      const chunks: Buffer[] = [];
      let size = 0;
      const done = (answer: Answer): void => {
        if (settled) return;
        settled = true;
        resolve({ status, statusText: res.statusMessage ?? '', body: answer });
        // An answer that comes before a streamed body ends (a 413 at its first bytes) ends the
        // request: left to go on, the upload, and the file it is read from, outlived the run.
        if (typeof body === 'function' && !req.writableFinished) req.destroy();
      };
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (spool) {
          if (!spool.stream.write(c)) {
            res.pause();
            spool.stream.once('drain', () => res.resume());
          }
          return;
        }
        chunks.push(c);
        // Only an error's first words are reported: a longer error answer, or one that never ends, is not waited for.
        if (!ok && size >= MAX_ERROR_ANSWER_BYTES) {
          res.removeAllListeners('end');
          req.destroy();
          return done(Buffer.concat(chunks));
        }
        if (!ok || size <= SPOOL_AFTER_BYTES) return;
        if (!spoolTo) {
          if (size > MAX_PROCESSED_ANSWER_BYTES) fail(new AnswerTooLargeError());
          return;
        }
        const file = spoolTo();
        spool = { file, stream: createWriteStream(file) };
        spool.stream.on('error', (err) => fail(new AnswerSpoolError(file, err)));
        for (const held of chunks.splice(0)) spool.stream.write(held);
      });
      res.on('end', () => {
        answerEnded = true;
        if (!spool) return done(Buffer.concat(chunks));
        const { file, stream } = spool;
        // Only a spool written to its end is the answer: end()'s callback is also called with a
        // write error (a full disk), which 'error' reports.
        stream.once('finish', () => done({ file, size }));
        stream.end();
      });
      res.on('error', fail);
    });
    // Once the answer has all come, the request's end (cut after an early answer) is no failure.
    req.on('error', (err) => void (answerEnded || fail(err)));
    if (typeof body !== 'function') return void req.end(body);
    // A read error (or a stop) ends the request with that error, which rejects above.
    pipeline(Readable.from(body(), { objectMode: false }), req, (err) => {
      if (err) req.destroy(err);
    });
  });
}

/** Most bytes a file or folder name may have (Linux's NAME_MAX). */
export const NAME_MAX = 255;
/** The longest a name is made beside a file's `.out` while it is written: `<name>.out.partial.<n>`, an answer spooled (n of at most 6 digits). */
export const LONGEST_OUTPUT_SUFFIX = '.out.partial.999999';

/**
 * `ERR_CLI_USAGE` for an input file whose name leaves no room for its `.out` (and the files written
 * beside it until it is complete) in a file name: writing them would fail part-way with ENAMETOOLONG,
 * after the files before it were sent. S3 keys (the local SageMaker's input) have no such limit.
 */
function refuseLongNames(files: readonly string[]): void {
  const most = NAME_MAX - LONGEST_OUTPUT_SUFFIX.length;
  const long = files.find((rel) => Buffer.byteLength(path.basename(rel)) > most);
  if (long === undefined) return;
  throw new ToolkitError(
    'ERR_CLI_USAGE',
    `input file ${long} has a name of ${Buffer.byteLength(path.basename(long))} bytes: its output is named after it with ${LONGEST_OUTPUT_SUFFIX.length} bytes more (<name>.out, and <name>.out.partial.<n> while it is written), past the ${NAME_MAX} bytes a file name may have; rename it to at most ${most} bytes`,
  );
}

/** The names the runner writes beside an input file's path in the output folder: `.out`, and `.out.failed`, `.out.partial`, `.out.partial.<n>` while it runs. */
const OUTPUT_NAME = /\.out(?:\.failed|\.partial(?:\.\d+)?)?$/;

/**
 * The first two of `files` (paths relative to the input, parts separated by `/`) of which the
 * output of one (`<file>.out`, or a name written beside it while it runs) is a folder of the
 * other's path (`a.csv` and `a.csv.out/b.csv`): both outputs go under one output folder, where the
 * file cannot be made beside the folder (EEXIST or EISDIR, naming the output folder), though S3
 * holds both keys. Undefined when there are none.
 */
export function outputWhereFolder(files: readonly string[]): { file: string; folder: string } | undefined {
  const inputs = new Set(files);
  for (const rel of files) {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const folder = parts.slice(0, i).join('/');
      const suffix = OUTPUT_NAME.exec(folder);
      if (suffix !== null && inputs.has(folder.slice(0, suffix.index))) return { file: folder.slice(0, suffix.index), folder: rel };
    }
  }
  return undefined;
}

/** `ERR_CLI_USAGE` for input files of which one's output would be a file where another's output needs a folder ({@link outputWhereFolder}). */
function refuseOutputWhereFolder(files: readonly string[]): void {
  // A folder's files are listed with the platform's separator (a backslash on Windows).
  const clash = outputWhereFolder(path.sep === '/' ? files : files.map((rel) => rel.split(path.sep).join('/')));
  if (clash === undefined) return;
  const { file, folder } = clash;
  throw new ToolkitError(
    'ERR_CLI_USAGE',
    `input files ${file} and ${folder} cannot be transformed into one output folder: the output of ${file} (${file}.out, written as ${file}.out.partial until it is complete) would be a file where ${folder}.out needs a folder; rename or move one of them`,
  );
}

/**
 * The `--output` usage error for an output folder that refuses a file part-way through a run (a
 * full disk, a read-only mount, a file where a sub-folder goes), naming the file when it is not in
 * the error (a failed write's `ENOSPC: no space left on device, write` names none). Its `cause` is
 * the file system's error, `details.flag` is `--output` and `details.problem` the error with the file, so that a transform job of `smkit
 * local` can say it in its own words.
 */
function outputUnwritable(output: string, err: unknown, file?: string): ToolkitError {
  const message = (err as Error).message;
  const where = file === undefined || message.includes(file) ? '' : `${file}: `;
  const e = invalidPath('--output', output, OUTPUT_EXPECTED, `cannot be written (${where}${message})`);
  return new ToolkitError(e.code, e.message, { cause: err, details: { flag: '--output', problem: `${where}${message}` } });
}

/** What `--output` must be: the folder the `.out` files are written to. */
export const OUTPUT_EXPECTED = 'an output folder (created when missing)';

/**
 * Refuses (`ERR_CLI_USAGE`) a ManifestFile `--input` that is a folder, and an `--output` inside a
 * folder `--input` (its .out files would be read as input): what {@link runTransform} checks, for
 * `smkit local transform` to check before it starts a model (it started one, then refused).
 */
export function checkInputAndOutput(input: string, output: string, inputIsFile: boolean, s3DataType?: 'S3Prefix' | 'ManifestFile'): void {
  if (s3DataType === 'ManifestFile' && !inputIsFile) throw new ToolkitError('ERR_CLI_USAGE', `--s3-data-type ManifestFile needs --input to be a manifest file (${input} is a folder)`);
  const inputRoot = path.resolve(input);
  const outputRoot = path.resolve(output);
  if (!inputIsFile && (outputRoot === inputRoot || outputRoot.startsWith(inputRoot + path.sep))) {
    throw new ToolkitError('ERR_CLI_USAGE', `--output ${output} lies inside --input ${input}; choose an output folder outside it`);
  }
}

/** The files a transform reads: the folder they are relative to, and their paths in it. */
export interface TransformInputs {
  dir: string;
  files: string[];
}

/**
 * Lists the files a transform of `input` reads (a manifest's, a folder's, or the one file), refusing
 * (`ERR_CLI_USAGE`) a bad manifest and a name that leaves no room for its `.out`: what
 * {@link runTransform} does first, for `smkit local transform` to do before it starts a model (it
 * started one, waited for its /ping, then refused).
 */
export async function listTransformInputs(input: string, inputIsFile: boolean, s3DataType?: 'S3Prefix' | 'ManifestFile', maxManifestBytes?: number): Promise<TransformInputs> {
  const inputRoot = path.resolve(input);
  const listed = s3DataType === 'ManifestFile' ? await readManifest(inputRoot, maxManifestBytes) : undefined;
  const dir = listed?.dir ?? (inputIsFile ? path.dirname(inputRoot) : inputRoot);
  const files = listed?.files ?? (inputIsFile ? [path.basename(inputRoot)] : await listInputs(inputRoot));
  refuseLongNames(files);
  refuseOutputWhereFolder(files);
  return { dir, files };
}

/**
 * Runs a batch transform over local files against a serving container at `options.url`, as
 * `smkit local transform` does: reads its `GET /execution-parameters` (the job's `parameters` win),
 * splits each input file into records (`splitType`), sends them in mini-batches to `/invocations`
 * (at most `maxConcurrentTransforms` at once; a failed mini-batch's records retried one by one), and
 * writes `<relative path>.out` under `options.output` for each file all of whose records succeeded,
 * or `<relative path>.out.failed` listing the failed ones. A failed record does not reject: it is in
 * the summary's `failed` (the CLI turns a non-empty one into `ERR_TRANSFORM_FAILED`). Rejects with
 * `ERR_CLI_USAGE` for inputs or an output it cannot use (a missing input, an output inside the
 * input, a bad manifest), and with the signal's reason once `options.signal` aborts.
 */
export async function runTransform(options: TransformOptions): Promise<TransformSummary> {
  const base = options.url.replace(/\/+$/, '').replace(/\/invocations$/, '');
  const invocations = `${base}/invocations`;
  const splitType = options.splitType ?? 'None';
  const assembleWith = options.assembleWith ?? 'None';
  const gzip = options.compressionType === 'Gzip';
  const timeoutMs = options.timeoutMs ?? 600_000;
  const retries = options.retries ?? 3;

  const inputRoot = path.resolve(options.input);
  const outputRoot = path.resolve(options.output);
  const inputStat = await fs.stat(inputRoot).catch(() => undefined);
  if (!inputStat) throw invalidPath('--input', options.input, 'an input folder or file', 'does not exist');
  // A FIFO or device (/dev/null) was read as a folder: a stack trace from readdir's ENOTDIR.
  if (!inputStat.isFile() && !inputStat.isDirectory()) throw invalidPath('--input', options.input, 'an input folder or file', 'is neither a file nor a directory');
  const single = inputStat.isFile();
  checkInputAndOutput(options.input, options.output, single, options.s3DataType);
  const { dir: inputDir, files } = options.inputs ?? (await listTransformInputs(options.input, single, options.s3DataType, options.maxManifestBytes));
  /** A file's content type: the job's, else guessed from its name (without `.gz` when gunzipped). */
  const contentTypeOf = (rel: string): string => options.contentType ?? guessContentType(gzip ? rel.replace(/\.gz$/i, '') : rel);
  // DataProcessing is checked against every file's content type before anything is sent: found at
  // its file's turn, a type it cannot read rejected the run with the files before it still out.
  const compiled = new Map<string, CompiledDataProcessing | undefined>();
  if (options.dataProcessing) {
    for (const rel of files) {
      const contentType = contentTypeOf(rel);
      if (compiled.has(contentType)) continue;
      try {
        compiled.set(contentType, compileDataProcessing(options.dataProcessing, { contentType, ...(options.accept ? { accept: options.accept } : {}), splitType, assembleWith }));
      } catch (err) {
        if (options.contentType !== undefined || !isToolkitError(err)) throw err;
        throw new ToolkitError(err.code, `${err.message} (input file ${rel} has no --content-type, and its type was guessed from its name)`);
      }
    }
  }
  checkFolderToCreate('--output', options.output, OUTPUT_EXPECTED);

  const flags = options.parameters ?? {};
  const container = await fetchExecutionParameters(base, undefined, options.signal);
  options.signal?.throwIfAborted();
  const source = (k: 'maxConcurrentTransforms' | 'maxPayloadInMB'): string =>
    flags[k] !== undefined ? "the job's value" : container[k] !== undefined ? "the container's GET /execution-parameters" : 'the default';
  const bounded = boundExecutionParameters(resolveExecutionParameters(flags, container), { maxConcurrentTransforms: source('maxConcurrentTransforms'), maxPayloadInMB: source('maxPayloadInMB') });
  const parameters = bounded.parameters;
  for (const note of bounded.notes) options.warn?.(note);
  // A fraction under one byte (--max-payload 0.0000001) is still a limit: rounded down to 0 it was "no limit".
  const maxBytes = parameters.maxPayloadInMB > 0 ? Math.max(1, Math.floor(parameters.maxPayloadInMB * 1024 * 1024)) : 0;
  const overPayload = (what: string): string => `record ${what}, over MaxPayloadInMB=${parameters.maxPayloadInMB} (${maxBytes} bytes); not sent`;
  // With SplitType None a file is one record, never sent past MaxPayloadInMB: it is not read, or
  // decompressed (a gzip bomb), beyond that.
  const recordLimit = splitType === 'None' && maxBytes > 0 ? maxBytes : undefined;

  /** Why a record of `size` bytes (`over`: at least) is not sent. */
  const tooLarge = (size: number, over = false): string =>
    maxBytes > 0 ? overPayload(`is ${over ? 'over ' : ''}${size} bytes`) : `record is ${over ? 'over ' : ''}${size} bytes, over the ${MAX_FILE_BYTES} bytes (2 GiB) smkit local transform holds at once; not sent`;
  /** Sends a mini-batch, retried as `retries` says; a success answer past {@link SPOOL_AFTER_BYTES} goes to a file `spoolTo` names, or, without it (an answer cut per record), fails past {@link MAX_PROCESSED_ANSWER_BYTES}. */
  const send = async (batch: MiniBatch, contentType: string, spoolTo?: () => string): Promise<Outcome> => {
    if (batch.tooLarge) return { ok: false, status: 0, error: tooLarge(batch.records.find((r) => r.size !== undefined)?.size ?? batch.body.length) };
    const headers: Record<string, string> = { 'content-type': contentType };
    if (options.accept) headers.accept = options.accept;
    for (let attempt = 0; ; attempt++) {
      let outcome: Outcome;
      let retryable: boolean;
      try {
        // MaxPayloadInMB=0 is the API's setting for payloads "transmitted using HTTP chunked encoding".
        const res = await postBody(invocations, headers, isStreamed(batch) ? batch.stream : batch.body, timeoutMs, parameters.maxPayloadInMB === 0, options.signal, spoolTo);
        if (res.status >= 200 && res.status < 300) return { ok: true, body: res.body };
        // Only a success answer is ever spooled.
        outcome = { ok: false, status: res.status, error: errorText(res.body as Buffer, res.statusText) };
        retryable = RETRY_STATUSES.has(res.status);
      } catch (err) {
        // The same answer would come again.
        if (err instanceof AnswerTooLargeError) return { ok: false, status: 0, error: err.message };
        if (err instanceof AnswerSpoolError) throw err;
        const e = err as Error & { code?: string };
        const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
        outcome = { ok: false, status: 0, error: timedOut ? `no answer within ${timeoutMs / 1000} s (--timeout)` : `${e.message}${e.code && !e.message.includes(e.code) ? ` (${e.code})` : ''}` };
        retryable = true;
      }
      if (!retryable || attempt >= retries || options.signal?.aborted) {
        // Retried, it failed each time: the error says so (it is the last one's).
        return attempt > 0 && !outcome.ok ? { ...outcome, error: `${outcome.error} (sent ${attempt + 1} times)` } : outcome;
      }
      await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
  };

  /**
   * A SplitType None file's bytes (decompressed) and how many records they hold (0 or 1), or why
   * it cannot be sent (over MaxPayloadInMB, a file too big to read, one that does not gunzip).
   */
  const readInput = async (rel: string): Promise<{ data: Buffer; count: number } | UnreadableFile> => {
    try {
      let raw: Buffer;
      try {
        if (recordLimit !== undefined && !gzip) {
          const { size } = await fs.stat(path.join(inputDir, rel));
          if (size > recordLimit) return { record: 0, error: overPayload(`is ${size} bytes`) };
        }
        raw = await fs.readFile(path.join(inputDir, rel));
      } catch (err) {
        const e = err as Error & { code?: string };
        if (e.code === 'ERR_FS_FILE_TOO_LARGE') {
          const { size } = await fs.stat(path.join(inputDir, rel));
          return { record: 0, error: `file is ${size} bytes, over the ${MAX_FILE_BYTES} bytes (2 GiB) smkit local transform reads at once; split it into smaller files` };
        }
        if (typeof e.code !== 'string') throw err;
        // Removed, made unreadable or replaced by a folder after the listing: this file fails, the others go on.
        return { record: 0, error: `cannot read the file (${e.message})` };
      }
      let data = raw;
      if (gzip) {
        try {
          data = await gunzipAsync(raw, { maxOutputLength: recordLimit ?? MAX_FILE_BYTES });
        } catch (err) {
          const e = err as Error & { code?: string };
          if (e.code === 'ERR_BUFFER_TOO_LARGE' && recordLimit !== undefined) return { record: 0, error: overPayload(`decompresses to over ${recordLimit} bytes`) };
          return {
            record: 0,
            error:
              e.code === 'ERR_BUFFER_TOO_LARGE'
                ? `decompresses to over ${MAX_FILE_BYTES} bytes (2 GiB), more than smkit local transform holds at once; split it into smaller files`
                : `CompressionType is Gzip but the file does not gunzip (${e.message}); compress it with gzip, or leave out --compression-type for uncompressed files`,
          };
        }
      }
      let count = 0;
      for (const _ of eachRecord(data, splitType, parameters.batchStrategy)) count++;
      return { data, count };
    } catch (err) {
      if (err instanceof MalformedInputError) return { record: err.record, error: err.message };
      throw err;
    }
  };
  const isUnreadable = (r: { data: Buffer; count: number } | UnreadableFile): r is UnreadableFile => !('data' in r);
  // Line, RecordIO and TFRecord files are split as they are read (and gunzipped), uncompressed
  // RecordIO and TFRecord ones a record at a time, so a file is never held whole: only the
  // mini-batches out are. A SplitType None file is its one record.
  const frames = splitType === 'RecordIO' || splitType === 'TFRecord' ? splitType : undefined;
  const streamed = splitType !== 'None';
  /** A streamed file's records, read (and gunzipped) as they are asked for. */
  const streamRecords = (rel: string, strategy = parameters.batchStrategy): AsyncGenerator<InputRecord[]> => {
    if (frames && !gzip) return eachFrameOfFile(path.join(inputDir, rel), frames, strategy);
    // Opened once the records are first asked for: a run stopped before then (a generator never
    // started runs no finally) would leave the file, and its gunzip stream, open for good.
    return (async function* () {
      const file = createReadStream(path.join(inputDir, rel));
      // pipeline() hands a read error on to the gunzip stream, and closes the file with it.
      const bytes: AsyncIterable<Buffer> = gzip ? pipeline(file, createGunzip(), () => {}) : file;
      // A record over the payload limit is never sent: no more of it is kept (a line), or decompressed (a frame), than shows that.
      const keep = maxBytes > 0 ? maxBytes : MAX_FILE_BYTES;
      yield* frames ? eachFrameOfStream(bytes, frames, strategy, keep) : eachLineOf(bytes, keep);
    })();
  };
  /** Why a streamed file stopped being read at `record`: a system error (removed, unreadable), a broken gzip stream, a broken frame or one too large to read. */
  const streamFailure = (err: unknown, record: number): UnreadableFile => {
    if (err instanceof MalformedInputError) return { record: err.record, error: err.message };
    if (err instanceof RecordTooLargeError) return { record: err.record, error: tooLarge(err.size, err.atLeast) };
    const e = err as Error & { code?: string };
    if (typeof e.code === 'string' && e.code.startsWith('Z_')) {
      return { record, error: `CompressionType is Gzip but the file does not gunzip (${e.message}); compress it with gzip, or leave out --compression-type for uncompressed files` };
    }
    if (typeof e.code !== 'string') throw err;
    return { record, error: `cannot read the file (${e.message})` };
  };
  /**
   * MaxPayloadInMB 0 ("arbitrarily large ... transmitted using HTTP chunked encoding"): a SplitType
   * None file is sent as it is read (and gunzipped), never held. A gzipped one is read through
   * first, as split ones are, so that none of a file that does not gunzip is sent.
   */
  const openWhole = async (rel: string): Promise<{ count: number; stream: () => AsyncIterable<Buffer> } | UnreadableFile> => {
    const file = path.join(inputDir, rel);
    const bytes = (): AsyncIterable<Buffer> => (gzip ? pipeline(createReadStream(file), createGunzip(), () => {}) : createReadStream(file));
    let size = 0;
    try {
      if (gzip) {
        const counter = new Writable({
          write(chunk: Buffer, _encoding, callback) {
            size += chunk.length;
            callback();
          },
        });
        // A stop cuts the read-through short: a large object would otherwise be gunzipped to its end first.
        await pipelineAsync(bytes(), counter, options.signal ? { signal: options.signal } : {});
      } else ({ size } = await fs.stat(file));
    } catch (err) {
      return streamFailure(err, 0);
    }
    return { count: size > 0 ? 1 : 0, stream: bytes };
  };
  /** Whether a streamed file holds a record (only its start is read), or why it cannot be read. */
  const hasRecord = async (rel: string): Promise<boolean | UnreadableFile> => {
    try {
      for await (const group of streamRecords(rel)) if (group.length > 0) return true;
      return false;
    } catch (err) {
      return streamFailure(err, 0);
    }
  };
  /** How many records a streamed file holds (it is read through for it, not kept), or why none of it can be sent. */
  const countInput = async (rel: string): Promise<number | UnreadableFile> => {
    let count = 0;
    try {
      for await (const records of streamRecords(rel)) {
        count += records.length;
        options.signal?.throwIfAborted();
      }
    } catch (err) {
      if (options.signal?.aborted) throw err;
      return streamFailure(err, count);
    }
    return count;
  };
  // A gzipped, RecordIO or TFRecord file can turn out broken part-way (a truncated stream, a bad
  // frame): it is read through before it is sent, so that none of a broken file is sent. An
  // uncompressed Line file is read through first only for the progress bar's total (it breaks
  // only where it cannot be read at all), and a SplitType None file, one record, never: otherwise
  // each file is read once, when its turn comes.
  const progressing = options.progress?.start !== undefined;
  const precount = streamed && (gzip || frames !== undefined || progressing);
  let totalRecords = 0;
  /** Streamed files that could not be read through when counted: none of their records is sent. */
  const unsendable = new Map<string, UnreadableFile>();
  if (precount || progressing) {
    for (const rel of files) {
      options.signal?.throwIfAborted();
      if (!precount) {
        // For the bar, a SplitType None file is its one record.
        totalRecords++;
        continue;
      }
      const counted = await countInput(rel);
      if (typeof counted !== 'number') unsendable.set(rel, counted);
      totalRecords += typeof counted === 'number' ? counted : counted.record + 1;
    }
  }
  options.progress?.start?.(totalRecords, parameters);
  /** The records of the files sent, counted as they are read (with a file's broken record). */
  let records = 0;

  const failed: FailedRecord[] = [];
  let requests = 0;
  // MaxConcurrentTransforms counts requests across the job: the next file's mini-batches start while
  // the last ones of the previous file are still out.
  let free = parameters.maxConcurrentTransforms;
  const waiting: (() => void)[] = [];
  const acquire = (): Promise<void> => (free > 0 ? (free--, Promise.resolve()) : new Promise<void>((r) => waiting.push(r)));
  const release = (): void => {
    const w = waiting.shift();
    if (w) w();
    else free++;
  };
  /** Files whose requests are still out, oldest first, with the bytes they hold. */
  const pending: { done: Promise<void>; bytes: number }[] = [];
  let held = 0;
  const settleOldest = async (): Promise<void> => {
    const oldest = pending.shift()!;
    held -= oldest.bytes;
    await oldest.done;
  };
  try {
    /** What broke the run (a file that could not be opened or finished): thrown once every file started has settled. */
    let broke: { error: unknown } | undefined;
    try {
      for (const rel of files) {
        // Stopped: the files started are finished (below) before the run rejects, so none is left half written.
        if (options.signal?.aborted) break;
        const contentType = contentTypeOf(rel);
        const dp = compiled.get(contentType);
        // MaxPayloadInMB 0 puts no bound on a request: the file (SplitType None) or all its records
        // (MULTI_RECORD) go in one, sent as they are read. DataProcessing works on whole records
        // and their answers, so with it the records are gathered as with a limit.
        const stampFormat = options.inferenceIds ? recordFormat(options.accept ?? contentType) : undefined;
        const whole = maxBytes === 0 && !dp && !stampFormat && (splitType === 'None' || parameters.batchStrategy === 'MULTI_RECORD');
        const fileFailures: FailedRecord[] = [];
        // JoinSource=Input joins each answer with the record as read, before the InputFilter (kept while its batch is out).
        const originals = new Map<number, Buffer>();
        // Memory stays bounded: past HELD_BYTES of earlier whole-read files in flight, the oldest is finished first.
        if (!streamed) while (pending.length > 0 && held > HELD_BYTES) await settleOldest();
        const outFile = path.join(outputRoot, `${rel}.out`);
        const failedFile = `${outFile}.failed`;
        // Answers are written as they come, in record order, to a file that becomes the .out only once every record succeeded.
        const partialFile = `${outFile}.partial`;
        // An answer too large to hold goes to `<file>.out.partial.<n>` as it comes, until its turn to be written.
        let spools = 0;
        const spoolTo = (): string => `${partialFile}.${spools++}`;
        /** An answer cut per record (DataProcessing's output side, inference ids) is held whole, never spooled. */
        const spoolable = !dp?.touchesOutput && !stampFormat;
        // Checked before the run, but a folder can refuse files only when asked (EPERM, EROFS, ENOSPC).
        const out = await makeDir(path.dirname(outFile))
          .then(() => fs.open(partialFile, 'w'))
          .catch((err: unknown) => {
            throw outputUnwritable(options.output, err);
          });
        let source: AsyncIterable<Iterable<InputRecord>> = (async function* () {})();
        let bytes = 0;
        let streamedBatch: StreamedBatch | undefined;
        /** Records of a file sent whole in one streamed request, counted as they are read. */
        let streamedRecords = 0;
        const read = streamed ? unsendable.get(rel) : whole ? await openWhole(rel) : await readInput(rel);
        const present = whole && streamed && !read ? await hasRecord(rel) : undefined;
        if (typeof present === 'object') {
          fileFailures.push({ file: rel, record: present.record, status: 0, error: present.error });
          records += present.record + 1;
          options.progress?.advance?.(present.record + 1, 1, rel);
        } else if (present === true) {
          streamedBatch = {
            records: [],
            body: Buffer.alloc(0),
            stream: () =>
              (async function* () {
                streamedRecords = 0;
                for await (const group of streamRecords(rel)) {
                  for (const r of group) {
                    // Over the 2 GiB a record is read up to: the request fails, and the records are sent one by one, this one reported.
                    if (r.size !== undefined) throw new Error(tooLarge(r.size, true));
                    streamedRecords++;
                    yield r.data;
                  }
                }
              })(),
          };
        } else if (read && 'stream' in read) {
          if (read.count > 0) streamedBatch = { records: [{ index: 0, data: Buffer.alloc(0) }], body: Buffer.alloc(0), stream: read.stream };
        } else if (read && isUnreadable(read)) {
          fileFailures.push({ file: rel, record: read.record, status: 0, error: read.error });
          records += read.record + 1;
          options.progress?.advance?.(read.record + 1, 1, rel);
        } else if (read) {
          bytes = read.data.length;
          source = (async function* () {
            yield eachRecord(read.data, splitType, parameters.batchStrategy);
          })();
        } else source = streamRecords(rel);
        // Records are split, filtered and batched only as batches are sent, so what is held is the
        // batches out (and a whole-read file's bytes), not an object per record.
        /** Records of the file read so far. */
        let seen = 0;
        function* filtered(group: Iterable<InputRecord>): Generator<InputRecord> {
          for (const r of group) {
            seen++;
            if (!dp) {
              yield r;
              continue;
            }
            let data: Buffer;
            try {
              data = dp.filterInput(r.data);
            } catch (err) {
              if (!(err instanceof RecordProcessingError)) throw err;
              fileFailures.push({ file: rel, record: r.index, status: 0, error: `InputFilter: ${err.message}` });
              options.progress?.advance?.(1, 1, rel);
              continue;
            }
            originals.set(r.index, r.data);
            yield { index: r.index, data };
          }
        }
        let nextRecord = 0;
        async function* groups(): AsyncGenerator<Iterable<InputRecord>> {
          try {
            for await (const group of source) {
              yield (function* () {
                for (const r of filtered(group)) {
                  nextRecord = r.index + 1;
                  yield r;
                }
              })();
            }
          } catch (err) {
            // A streamed file that cannot be read on (removed, changed, its gzip stream broken, since it was counted) fails from there.
            const failure = streamFailure(err, nextRecord);
            // The records up to the broken one count, as when a file is counted before it is sent.
            seen = Math.max(seen, failure.record + 1);
            fileFailures.push({ file: rel, record: failure.record, status: 0, error: failure.error });
            options.progress?.advance?.(1, 1, rel);
          }
        }
        const batches: AsyncGenerator<MiniBatch> = streamedBatch
          ? (async function* () {
              yield streamedBatch;
            })()
          : eachMiniBatchOf(groups(), parameters.batchStrategy, maxBytes);
        if (streamedBatch?.records.length === 1) seen = 1;
        /** What is written for a mini-batch's answer: the answer itself, or one joined/filtered part per record (throws when the answer cannot be cut per record). */
        const outputParts = (batch: MiniBatch, body: Answer): Answer[] => {
          if (spoolable) return [body];
          const answers = answersPerRecord(body as Buffer, batch.records.length, dp?.touchesOutput ? undefined : 'GenerateInferenceId needs');
          const parts: Buffer[] = [];
          batch.records.forEach((r, k) => {
            let part = answers[k]!;
            try {
              if (dp?.touchesOutput) part = dp.finish(originals.get(r.index)!, part);
            } catch (err) {
              if (!(err instanceof RecordProcessingError)) throw err;
              fileFailures.push({ file: rel, record: r.index, status: 0, error: `${dp!.join ? 'JoinSource=Input/' : ''}OutputFilter: ${err.message}` });
              return;
            }
            if (stampFormat) {
              try {
                part = withInferenceId(part, stampFormat, randomUUID(), options.inferenceIds!.time);
              } catch (err) {
                if (!(err instanceof RecordProcessingError)) throw err;
                fileFailures.push({ file: rel, record: r.index, status: 0, error: `GenerateInferenceId: ${err.message.replace(/^the record/, 'the output')}` });
                return;
              }
              // One record per line, as the guide shows it, whatever AssembleWith.
              if (assembleWith === 'None') part = Buffer.concat([part, NEWLINE]);
            }
            parts.push(part);
          });
          return parts;
        };
        /** Whether the run was stopped before every mini-batch of the file was sent. */
        let cutShort = false;
        /** Sends a split file's records in one streamed request (read again and sent one by one when it fails) and returns what is written for it. */
        const runStreamedFile = async (batch: StreamedBatch): Promise<Answer[]> => {
          requests++;
          const outcome = await send(batch, contentType, spoolTo);
          if (outcome.ok) {
            seen = Math.max(seen, streamedRecords);
            options.progress?.advance?.(streamedRecords, 0, rel);
            return [outcome.body];
          }
          // Stopped: the file is cut short, neither read again nor finished with the answers it got
          // (which, with no failed record, made an .out of them, empty when the stop cut this request).
          if (options.signal?.aborted) {
            cutShort = true;
            return [];
          }
          const parts: Answer[] = [];
          let next = 0;
          try {
            // Split as the job splits (a RecordIO or TFRecord record keeps its framing with MULTI_RECORD),
            // so each record goes as it would in a failed mini-batch's one-by-one requests.
            for await (const group of streamRecords(rel)) {
              for (const r of group) {
                if (options.signal?.aborted) {
                  cutShort = true;
                  return parts;
                }
                next = r.index + 1;
                seen = Math.max(seen, next);
                requests++;
                const o = await send(groupMiniBatches([r], 'SINGLE_RECORD', maxBytes)[0]!, contentType, spoolTo);
                if (o.ok) parts.push(o.body);
                else fileFailures.push({ file: rel, record: r.index, status: o.status, error: o.error });
                options.progress?.advance?.(1, o.ok ? 0 : 1, rel);
              }
            }
          } catch (err) {
            const failure = streamFailure(err, next);
            seen = Math.max(seen, failure.record + 1);
            fileFailures.push({ file: rel, record: failure.record, status: 0, error: failure.error });
            options.progress?.advance?.(1, 1, rel);
          }
          return parts;
        };
        /** Sends a mini-batch (record by record again when it fails as a whole) and returns what is written for it. */
        const runBatch = async (batch: MiniBatch): Promise<Answer[]> => {
          if (isStreamed(batch) && batch.records.length === 0) return runStreamedFile(batch);
          requests++;
          let outcome = await send(batch, contentType, spoolable ? spoolTo : undefined);
          if (outcome.ok) {
            try {
              const parts = outputParts(batch, outcome.body);
              options.progress?.advance?.(batch.records.length, 0, rel);
              return parts;
            } catch (err) {
              if (!(err instanceof RecordProcessingError)) throw err;
              // An answer that cannot be cut per record is asked again record by record, as a failed mini-batch is.
              outcome = { ok: false, status: 0, error: err.message };
            }
          }
          if (batch.records.length === 1 || batch.tooLarge) {
            fileFailures.push({ file: rel, record: batch.records[0]!.index, status: outcome.status, error: outcome.error });
            options.progress?.advance?.(1, 1, rel);
            return [];
          }
          // A failed mini-batch is retried record by record so one bad record does not sink its neighbours.
          const parts: Answer[] = [];
          for (const single of groupMiniBatches(batch.records, 'SINGLE_RECORD', maxBytes)) {
            requests++;
            const o = await send(single, contentType, spoolable ? spoolTo : undefined);
            if (o.ok) parts.push(...outputParts(single, o.body));
            else fileFailures.push({ file: rel, record: single.records[0]!.index, status: o.status, error: o.error });
            options.progress?.advance?.(1, o.ok ? 0 : 1, rel);
          }
          return parts;
        };
        // Only the batches out are held; the first error of one fails the file's finish.
        const inFlight = new Set<Promise<void>>();
        let broken: { error: unknown } | undefined;
        // A mini-batch keeps its place among the MaxConcurrentTransforms until its answer is written,
        // after those of the mini-batches before it: answers that come early wait, but never more of
        // them than there are places.
        const ready = new Map<number, Answer[]>();
        let nextWrite = 0;
        let written = Promise.resolve();
        const answered = (i: number, parts: Answer[]): void => {
          ready.set(i, parts);
          for (let p = ready.get(nextWrite); p !== undefined; p = ready.get(nextWrite)) {
            ready.delete(nextWrite++);
            const chunk = p;
            written = written
              .then(async () => {
                try {
                  // A file with a failed record gets no .out: its answers need not be written.
                  if (fileFailures.length === 0 && !broken && chunk.length > 0) await writeAnswers(out, chunk, assembleWith === 'Line' ? NEWLINE : undefined);
                } finally {
                  await discardAnswers(chunk);
                }
              })
              // A write that fails (a full disk) names the file, which the file system's error (ENOSPC, write) does not.
              .catch((error: unknown) => void (broken ??= { error: outputUnwritable(options.output, error, partialFile) }))
              .finally(release);
          }
        };
        for (let i = 0; ; i++) {
          await acquire();
          const next = options.signal?.aborted ? undefined : await batches.next();
          if (!next || next.done) {
            release();
            // Stopped: the file being read is closed.
            if (!next) {
              cutShort = true;
              await batches.return(undefined);
            }
            break;
          }
          const batch = next.value;
          const run: Promise<void> = runBatch(batch)
            .then(
              (parts) => answered(i, parts),
              (error: unknown) => {
                broken ??= { error };
                answered(i, []);
              },
            )
            .finally(() => {
              for (const r of batch.records) originals.delete(r.index);
              inFlight.delete(run);
            });
          inFlight.add(run);
        }
        records += seen;
        const finish = async (): Promise<void> => {
          try {
            await Promise.all(inFlight);
            await written;
          } finally {
            await out.close();
            // Spools are removed once written; one a failure kept from its turn goes too.
            await Promise.all(Array.from({ length: spools }, (_, k) => fs.rm(`${partialFile}.${k}`, { force: true })));
          }
          const complete = !broken && !cutShort && fileFailures.length === 0;
          if (!complete) await fs.rm(partialFile, { force: true });
          // A file the stop cut short gets neither .out nor .out.failed: its requests were cut, not failed (an earlier run's files stay as they were).
          if (!complete && options.signal?.aborted) return;
          if (broken) throw broken.error;
          if (fileFailures.length > 0) {
            // As in the service, a file with a failed record gets no .out (a stale one from an earlier run goes too).
            fileFailures.sort((a, b) => a.record - b.record);
            await fs.rm(outFile, { force: true });
            await fs.writeFile(failedFile, fileFailures.map((f) => JSON.stringify({ record: f.record, status: f.status, error: f.error })).join('\n') + '\n');
            failed.push(...fileFailures);
          } else {
            await fs.rename(partialFile, outFile);
            await fs.rm(failedFile, { force: true });
          }
        };
        const done = finish();
        // Awaited in settleOldest; until then a failure must not count as unhandled.
        done.catch(() => {});
        pending.push({ done, bytes });
        held += bytes;
      }
    } catch (error) {
      broke = { error };
    }
    // Every file started is settled before the run ends, even when one broke it: left out, their
    // requests went on and their .out (or .out.partial) was written after the run had rejected.
    while (pending.length > 0) {
      try {
        await settleOldest();
      } catch (error) {
        broke ??= { error };
      }
    }
    if (broke) throw broke.error;
    options.signal?.throwIfAborted();
  } finally {
    options.progress?.stop?.();
  }
  const order = new Map(files.map((f, i) => [f, i]));
  failed.sort((a, b) => order.get(a.file)! - order.get(b.file)! || a.record - b.record);
  return { parameters, files: files.length, records, requests, failed };
}

import { counted } from '../../core/counted.js';
import { ToolkitError } from '../../errors/catalogue.js';
import { checkFolderToCreate, checkPath, decimalNumber, invalidFlag, invalidPath, pairValue, positiveSecondsOption, refuseUrlCredentials, urlWithoutPassword, wholeNumberValue } from '../../config/flag-values.js';
import { MAX_API_INTEGER } from '../../config/settings.js';
import { compileDataProcessing, parseJsonPath, type DataProcessing } from './data-processing.js';
import { MAX_PAYLOAD_MB, parseBatchStrategy, type ExecutionParameters } from './parameters.js';
import type { AssembleWith, SplitType } from './records.js';
import { checkInputAndOutput, listTransformInputs, OUTPUT_EXPECTED, runTransform, type TransformProgress, type TransformSummary } from './run.js';
import { startLocalServer, type LocalServer } from '../backends/local-server.js';
import { runInterruptibly } from '../../core/interruptible.js';

/** Flags of `smkit local transform`, as commander hands them over. */
export interface LocalTransformOptions {
  input: string;
  output: string;
  model?: string;
  url?: string;
  contentType?: string;
  accept?: string;
  splitType: SplitType;
  assembleWith: AssembleWith;
  compressionType?: 'None' | 'Gzip';
  /** `S3DataType`: `ManifestFile` reads `--input` as a manifest. */
  s3DataType?: 'S3Prefix' | 'ManifestFile';
  /** `DataProcessing.InputFilter`, `JoinSource`, `OutputFilter`. */
  inputFilter?: string;
  joinSource?: 'None' | 'Input';
  outputFilter?: string;
  strategy?: string;
  maxPayload?: string;
  maxConcurrent?: string;
  timeout: string;
  retries: string;
  startupTimeout: string;
  progress: boolean;
  /** `--env KEY=VALUE` (repeatable): the container's environment, as `ContainerDefinition.Environment`. */
  env?: string[];
}

export { MAX_PAYLOAD_MB };
/** `ModelClientConfig.InvocationsTimeoutInSeconds` maximum (botocore `sagemaker` model). */
export const MAX_TIMEOUT_S = 3600;
/** `ModelClientConfig.InvocationsMaxRetries` maximum (botocore `sagemaker` model). */
export const MAX_RETRIES = 3;

/** Parses `--env KEY=VALUE` flags; names follow the `Environment` rule `[a-zA-Z_][a-zA-Z0-9_]*`. */
function parseEnvFlags(flags: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const flag of flags) {
    const [key, value] = pairValue('--env', flag, 'KEY=VALUE, a KEY of letters, digits and _ not starting with a digit', /^[a-zA-Z_][a-zA-Z0-9_]*$/);
    env[key] = value;
  }
  return env;
}

function flagParameters(opts: LocalTransformOptions): Partial<ExecutionParameters> {
  const out: Partial<ExecutionParameters> = {};
  if (opts.strategy !== undefined) {
    const s = parseBatchStrategy(opts.strategy);
    if (!s) throw invalidFlag('--strategy', opts.strategy, 'MultiRecord or SingleRecord (also MULTI_RECORD, SINGLE_RECORD)');
    out.batchStrategy = s;
  }
  if (opts.maxPayload !== undefined) {
    const mb = decimalNumber(opts.maxPayload);
    // CreateTransformJob refuses MaxPayloadInMB over 100.
    if (!Number.isFinite(mb) || mb < 0 || mb > MAX_PAYLOAD_MB) throw invalidFlag('--max-payload', opts.maxPayload, `a number of MB from 0 to ${MAX_PAYLOAD_MB}`);
    out.maxPayloadInMB = mb;
  }
  // CreateTransformJob takes MaxConcurrentTransforms=0 as "not set": /execution-parameters, then 1, decide.
  if (opts.maxConcurrent !== undefined) {
    const n = Number(opts.maxConcurrent.trim());
    // A started container (SAGEMAKER_MAX_CONCURRENT_TRANSFORMS) refuses more than the API's integer.
    if (!/^\d+$/.test(opts.maxConcurrent.trim()) || n > MAX_API_INTEGER) {
      throw invalidFlag('--max-concurrent', opts.maxConcurrent, `a whole number of requests up to ${MAX_API_INTEGER}, 0 for not set`);
    }
    if (n !== 0) out.maxConcurrentTransforms = n;
  }
  if (out.maxConcurrentTransforms !== undefined && out.maxPayloadInMB !== undefined && out.maxConcurrentTransforms * out.maxPayloadInMB > MAX_PAYLOAD_MB) {
    throw new ToolkitError(
      'ERR_CLI_USAGE',
      `--max-concurrent × --max-payload must be at most ${MAX_PAYLOAD_MB} MB, as CreateTransformJob requires (got ${out.maxConcurrentTransforms} × ${out.maxPayloadInMB} = ${out.maxConcurrentTransforms * out.maxPayloadInMB}); lower one of them`,
    );
  }
  return out;
}

/**
 * The batch variables SageMaker sets on a transform container: `SAGEMAKER_BATCH=true`, and each of
 * the three parameters the job sets (a `MaxPayloadInMB` of 0 too).
 */
export function batchEnv(p: Partial<ExecutionParameters>): Record<string, string> {
  const env: Record<string, string> = { SAGEMAKER_BATCH: 'true' };
  if (p.batchStrategy) env.SAGEMAKER_BATCH_STRATEGY = p.batchStrategy;
  if (p.maxPayloadInMB !== undefined) env.SAGEMAKER_MAX_PAYLOAD_IN_MB = String(p.maxPayloadInMB);
  if (p.maxConcurrentTransforms !== undefined) env.SAGEMAKER_MAX_CONCURRENT_TRANSFORMS = String(p.maxConcurrentTransforms);
  return env;
}

async function progressBar(enabled: boolean): Promise<TransformProgress | undefined> {
  if (!enabled || !process.stderr.isTTY) return undefined;
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'transform |{bar}| {percentage}% | {value}/{total} records | {failed} failed | {file}', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let failed = 0;
  return {
    start: (total) => bar.start(total, 0, { failed, file: '' }),
    advance: (n, f, file) => {
      failed += f;
      bar.increment(n, { failed, file });
    },
    stop: () => bar.stop(),
  };
}

/**
 * Checks `--url` before anything is read or written: an http:// or https:// URL without a user name
 * or password. Unchecked, `localhost:8080`, `ftp://...` or a typo ran the job, failed every record
 * ("Protocol "localhost:" not supported") and wrote the .failed files; and `http://me:pw@host`
 * was sent as Basic auth, where smkit invoke refuses that URL.
 */
function transformUrl(text: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(text);
  } catch {
    // named below
  }
  if (parsed?.protocol === 'http:' || parsed?.protocol === 'https:') return refuseUrlCredentials(parsed, 'smkit local transform', '--url');
  const hostPort = /^[\w.-]+:\d+(\/|$)/.test(text);
  throw invalidFlag('--url', urlWithoutPassword(text), `an http:// or https:// URL of a running container, such as ${hostPort ? `http://${text}` : 'http://127.0.0.1:8080'}`);
}

/** Runs `smkit local transform`: starts the model (or uses `--url`), transforms, reports. */
export async function localTransform(opts: LocalTransformOptions): Promise<TransformSummary> {
  if ((opts.model === undefined) === (opts.url === undefined)) {
    throw new ToolkitError('ERR_CLI_USAGE', 'give exactly one of --model <dir|model.tar.gz> (smkit starts it) or --url http://host:port (a running container)');
  }
  if (opts.url !== undefined) transformUrl(opts.url);
  const parameters = flagParameters(opts);
  const dataProcessing: DataProcessing = {
    ...(opts.inputFilter !== undefined ? { inputFilter: opts.inputFilter } : {}),
    ...(opts.joinSource ? { joinSource: opts.joinSource } : {}),
    ...(opts.outputFilter !== undefined ? { outputFilter: opts.outputFilter } : {}),
  };
  // Checked before a model is started: the paths always, the content type when it is given (else per file).
  if (opts.inputFilter !== undefined) parseJsonPath(opts.inputFilter, '--input-filter');
  if (opts.outputFilter !== undefined) parseJsonPath(opts.outputFilter, '--output-filter');
  if (opts.contentType) {
    compileDataProcessing(dataProcessing, { contentType: opts.contentType, ...(opts.accept ? { accept: opts.accept } : {}), splitType: opts.splitType, assembleWith: opts.assembleWith });
  }
  // ModelClientConfig limits: InvocationsTimeoutInSeconds 1-3600, InvocationsMaxRetries 0-3.
  const timeoutS = positiveSecondsOption('--timeout', opts.timeout, MAX_TIMEOUT_S);
  const retries = wholeNumberValue('--retries', opts.retries, 0, MAX_RETRIES);
  // At most an hour, as smkit local --startup-timeout.
  const startupS = positiveSecondsOption('--startup-timeout', opts.startupTimeout, 3600);
  const env = parseEnvFlags(opts.env ?? []);
  // A FIFO or device (/dev/null) is refused by runTransform too, but only once the model had started.
  const input = checkPath('--input', opts.input, 'any', 'an input folder or file');
  if (!input.isFile() && !input.isDirectory()) throw invalidPath('--input', opts.input, 'an input folder or file', 'is neither a file nor a directory');
  checkFolderToCreate('--output', opts.output, OUTPUT_EXPECTED);
  checkInputAndOutput(opts.input, opts.output, input.isFile(), opts.s3DataType);
  if (opts.model !== undefined) checkPath('--model', opts.model, 'any', 'a model directory or a model.tar.gz');
  // A bad manifest or a name too long for its .out was refused only once the model had started.
  const inputs = await listTransformInputs(opts.input, input.isFile(), opts.s3DataType);

  let server: LocalServer | undefined;
  // Ctrl-C or SIGTERM: the run is stopped, so the files being written are removed (no
  // <file>.out.partial is left to look like output) before the server stops and the signal ends
  // the process; left to the default, the partial files stayed behind. Listened to from before the
  // model starts: a signal while it loads stops the wait, and startLocalServer stops the child it
  // started; left to the default there, the child outlived the command.
  return runInterruptibly(
    async (signal) => {
      if (opts.model !== undefined) {
        process.stderr.write(`smkit: starting ${opts.model} for batch transform...\n`);
        server = await startLocalServer({
          model: opts.model,
          env: { ...env, ...batchEnv(parameters) },
          startupTimeoutMs: startupS * 1000,
          onWait: (s) => process.stderr.write(`smkit: waiting for /ping ... ${s} s\n`),
          signal,
        });
      }
      const summary = await runTransform({
        input: opts.input,
        inputs,
        output: opts.output,
        url: server?.url ?? opts.url!,
        ...(opts.contentType ? { contentType: opts.contentType } : {}),
        ...(opts.accept ? { accept: opts.accept } : {}),
        splitType: opts.splitType,
        assembleWith: opts.assembleWith,
        ...(opts.compressionType ? { compressionType: opts.compressionType } : {}),
        ...(opts.s3DataType ? { s3DataType: opts.s3DataType } : {}),
        dataProcessing,
        parameters,
        timeoutMs: timeoutS * 1000,
        retries,
        warn: (message) => process.stderr.write(`smkit: warning: ${message}\n`),
        signal,
        ...(await progressBar(opts.progress).then((p) => (p ? { progress: p } : {}))),
      });
      const p = summary.parameters;
      process.stderr.write(
        `smkit: ${counted(summary.records, 'record')} from ${counted(summary.files, 'file')} in ${counted(summary.requests, 'request')} ` +
          `(BatchStrategy=${p.batchStrategy}, MaxPayloadInMB=${p.maxPayloadInMB}, MaxConcurrentTransforms=${p.maxConcurrentTransforms}); output in ${opts.output}\n`,
      );
      if (summary.failed.length > 0) {
        const byFile = new Map<string, number>();
        for (const f of summary.failed) byFile.set(f.file, (byFile.get(f.file) ?? 0) + 1);
        for (const f of summary.failed.slice(0, 10)) process.stderr.write(`  failed: ${f.file} record ${f.record}: ${f.status ? `HTTP ${f.status}: ` : ''}${f.error}\n`);
        if (summary.failed.length > 10) process.stderr.write(`  ... and ${summary.failed.length - 10} more\n`);
        throw new ToolkitError(
          'ERR_TRANSFORM_FAILED',
          `${summary.failed.length} of ${summary.records} records failed; the others were written. Details: ${[...byFile.keys()].map((f) => `${f}.out.failed`).join(', ')} under ${opts.output}`,
        );
      }
      return summary;
    },
    async () => {
      await server?.stop();
    },
  );
}

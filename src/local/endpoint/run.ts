import { readLogFormat } from '../../config/settings.js';
import { readLocalLogLevel } from '../../config/local-sagemaker.js';
import { misspeltSmkitVariableWarnings } from '../../core/smkit-variables.js';
import { ignoredShellContainerVariables } from '../../config/local-endpoint.js';
import { choiceValue, wholeNumberValue } from '../../config/flag-values.js';
import { ToolkitError } from '../../errors/catalogue.js';
import { createLogger } from '../../logging/logger.js';
import type { ContainerEngine } from '../backends/docker-backend.js';
import { loadEndpointTarget } from '../../endpoint-file/load.js';
import { assertPortFree } from '../../net/ports.js';
import type { LocalRunHandle } from '../control-plane/start-local.js';
import { frontDoorPort } from './front-door-port.js';
import { checkBackendFlags, dockerOnlyFlags, engineFlags, onlyApply, them } from './backend-flags.js';
import { GPU_CHOICES, type GpuChoice } from '../backends/gpu.js';
import { readLocalSageMakerEnv } from '../control-plane/local-settings.js';
import type { LocalEndpointsHandle, StartOptions } from './start.js';
import { ASYNC_SHUTDOWN_WAIT_MS } from '../control-plane/async-inference.js';

/** Flags of `smkit local <target>`. */
export interface LocalEndpointCliOptions {
  name?: string;
  port?: string;
  backend?: string;
  engine?: string;
  gpus?: string;
  image?: string;
  startupTimeout?: string;
  seed?: string;
  keep?: boolean;
  logFormat?: string;
}

function intFlag(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  return value === undefined ? undefined : wholeNumberValue(flag, value, min, max);
}

/** Turns CLI flags into {@link StartOptions}, validating each. */
export function startOptionsFromFlags(flags: LocalEndpointCliOptions): StartOptions {
  const opts: StartOptions = {};
  const port = intFlag('--port', flags.port, 0, 65535);
  if (port !== undefined) opts.port = port;
  if (flags.backend !== undefined) {
    opts.backend = choiceValue('--backend', flags.backend, ['process', 'docker'] as const);
  }
  if (flags.engine !== undefined) {
    opts.engine = choiceValue<ContainerEngine>('--engine', flags.engine, ['docker', 'podman']);
  }
  if (flags.gpus !== undefined) opts.gpus = choiceValue<GpuChoice>('--gpus', flags.gpus, GPU_CHOICES);
  if (flags.image !== undefined) opts.image = flags.image;
  const dockerOnly = dockerOnlyFlags(opts);
  // The process backend runs no container: an image, engine or GPU choice given with it would be ignored.
  if (opts.backend === 'process' && dockerOnly.length > 0) {
    throw new ToolkitError('ERR_CLI_USAGE', `${onlyApply(dockerOnly)} with the docker backend: leave out --backend process, or leave ${them(dockerOnly)} out`);
  }
  const timeout = intFlag('--startup-timeout', flags.startupTimeout, 1, 3600);
  if (timeout !== undefined) opts.startupTimeoutMs = timeout * 1000;
  const seed = intFlag('--seed', flags.seed, 0, 2 ** 32 - 1);
  if (seed !== undefined) opts.seed = seed;
  if (flags.keep) opts.keepWorkDir = true;
  return opts;
}

/** The lines printed once every endpoint is ready. */
export function readyBanner(handle: LocalEndpointsHandle): string {
  const lines = [`smkit local: ready on ${handle.url} (${handle.backend} backend; Ctrl-C stops everything)`];
  for (const e of handle.endpoints.values()) {
    const variants = e.variants.map((v) => `${v.name}${v.containers.length > 1 ? ` [pipeline of ${v.containers.length}]` : ''}`).join(', ');
    lines.push(`  ${e.name}: POST ${handle.url}/endpoints/${e.name}/invocations  variants: ${variants}${e.shadow ? `; shadow: ${e.shadow.name}` : ''}${e.capture ? `; capture → ${e.capture.shownDestination}` : ''}`);
  }
  return lines.join('\n');
}

/** The lines printed when an empty local SageMaker is ready. */
export function controlPlaneBanner(url: string, backend: string): string {
  return [
    `smkit local: local SageMaker ready on ${url} (${backend} backend; Ctrl-C stops everything)`,
    `  control plane and runtime: point any SDK at ${url}, for example`,
    `  aws sagemaker list-endpoints --endpoint-url ${url}`,
  ].join('\n');
}

/**
 * `smkit local [model dir | model.tar.gz | endpoint file]`: starts the local SageMaker (and the
 * target's endpoints), prints where the front door listens, and runs until SIGINT, SIGTERM or SIGHUP, then
 * stops everything it started.
 */
export async function runLocalEndpoints(target: string | undefined, flags: LocalEndpointCliOptions): Promise<void> {
  // Each flag's value first, then what they go with.
  const fromFlags = startOptionsFromFlags(flags);
  if (target === undefined && flags.name !== undefined) throw new ToolkitError('ERR_CLI_USAGE', '--name needs a model directory, model.tar.gz or endpoint file');
  // An empty local SageMaker runs each model's own Image, on the process backend unless --backend docker.
  if (target === undefined && flags.image !== undefined) {
    throw new ToolkitError('ERR_CLI_USAGE', '--image needs a model directory, model.tar.gz or endpoint file: an empty local SageMaker runs each model\'s own Image; leave it out');
  }
  const engine = engineFlags(fromFlags);
  if (target === undefined && engine.length > 0 && flags.backend === undefined) {
    throw new ToolkitError('ERR_CLI_USAGE', `${onlyApply(engine)} with the docker backend: add --backend docker, or leave ${them(engine)} out`);
  }
  const config = target === undefined ? undefined : await loadEndpointTarget(target, flags.name === undefined ? {} : { name: flags.name });
  // Wrong flags and settings say so first; then a taken port fails before the local SageMaker's
  // code loads (about a third of a second of CPU).
  if (config) checkBackendFlags(config, fromFlags);
  readLocalSageMakerEnv({});
  await assertPortFree('127.0.0.1', frontDoorPort(config, fromFlags.port), '--port');
  const { startLocal } = await import('../control-plane/start-local.js');
  // The same line format as `smkit serve` (level names, ISO times), on stderr: stdout is the banner.
  const logger = createLogger(readLocalLogLevel(), { component: 'smkit-local' }, { format: readLogFormat(process.env, flags.logFormat, process.stderr.isTTY === true), fd: 2 });
  for (const { variable, meant, message } of misspeltSmkitVariableWarnings(process.env)) logger.warn({ variable, meant }, message);
  const ignored = ignoredShellContainerVariables();
  if (ignored.length > 0) {
    logger.warn(
      { variables: ignored },
      `${ignored.join(', ')} ${ignored.length === 1 ? 'is' : 'are'} set in this shell, but containers and training jobs do not inherit ${ignored.length === 1 ? 'it' : 'them'} (a SageMaker container gets only its own Environment): set ${ignored.length === 1 ? 'it' : 'them'} in the container's env of the endpoint file, or the Environment of CreateModel or CreateTrainingJob`,
    );
  }
  const opts: StartOptions = {
    ...fromFlags,
    progress: (line) => process.stderr.write(`${line}\n`),
    log: (level, msg, fields) => logger[level](fields, msg),
  };
  // Signals are handled from the start, so Ctrl-C during start-up still stops the children.
  const interrupted = new AbortController();
  let stopRequested: () => void = () => {};
  const stopSignal = new Promise<void>((done) => (stopRequested = done));
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    // A repeated signal must not kill us half-way through stopping containers and removing trees.
    if (signalled) return void process.stderr.write(`smkit local: ${signal}: still stopping (containers get up to 30 s to drain, then queued asynchronous requests up to ${ASYNC_SHUTDOWN_WAIT_MS / 1000} s to have their results or failures written)\n`);
    signalled = true;
    // After a hang-up the terminal fails every write (EIO): that must not end this process before
    // it has stopped what it started.
    if (signal === 'SIGHUP') for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
    process.stderr.write(`smkit local: ${signal}: stopping endpoints\n`);
    interrupted.abort(new Error(`interrupted by ${signal}`));
    stopRequested();
  };
  // A closed terminal (SIGHUP) stops them too: the children lead process groups of their own, which the hang-up does not reach.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  let run: LocalRunHandle;
  try {
    run = await startLocal(config, { ...opts, signal: interrupted.signal });
  } catch (err) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    if (interrupted.signal.aborted) return;
    throw err;
  }
  const handle: LocalEndpointsHandle | undefined = run.file;
  process.stdout.write(`${handle ? readyBanner(handle) : controlPlaneBanner(run.url, opts.backend ?? 'process')}\n`);
  await stopSignal;
  try {
    await run.stop();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
  for (const e of handle?.endpoints.values() ?? []) {
    if (e.shadow) logger.info({ endpoint: e.name, shadow: e.shadow.name, ...e.shadowStats }, 'shadow comparison totals');
    if (e.capture) logger.info({ endpoint: e.name, records: e.capture.written, failed: e.capture.failed, destination: e.capture.shownDestination }, 'data capture totals');
  }
  logger.flush();
}

import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { ToolkitError } from '../../errors/catalogue.js';
import type { ContainerBackend, ContainerSpec, RunningContainer } from './backend.js';
import { tapLines } from './line-tap.js';
import type { CONTAINER_LOG_CAP, LogCap } from './capped-log.js';
import { openChildLog, pipeChildOutput } from './child-log.js';
import { runningContainer, trackExit } from './child-exit.js';
import { probeEngines, type EngineProbe } from '../../containers/engine.js';
import { trackUntilReleased } from './orphan-reaper.js';
import { gpuDeviceRunArgs, gpuFailureHint, gpuRunArgs, localGpuIndexes, nvidiaDriverPresent, type GpuChoice } from './gpu.js';
import { removeContainers } from './container-removal.js';
import { formatPortRange } from './safe-port-range.js';

/** A container engine CLI that speaks `docker run`. */
export type ContainerEngine = 'docker' | 'podman';

/** Inputs of {@link buildDockerRunArgs}. */
export interface DockerRunInput {
  spec: ContainerSpec;
  image: string;
  /** Unique container name (`--name`). */
  containerName: string;
  /** How the engine gives the container this machine's GPUs ({@link gpuRunArgs}), when it gets them. */
  gpuArgs?: readonly string[];
  /** The private file holding {@link dockerEnvFileText} (`--env-file`), when the container has variables for one. */
  envFile?: string;
}

/**
 * Variables the engine's CLI, or what it runs, acts on: its daemon, configuration, proxies, the Go
 * runtime, the paths it runs with; the credential helpers it starts to pull an image
 * (docker-credential-ecr-login reads AWS_CONFIG_FILE, whose credential_process it runs; gcloud's,
 * GOOGLE_APPLICATION_CREDENTIALS); the shell of a `docker` that is a script (podman-docker's:
 * SHELLOPTS=xtrace with PS4 runs a command); the C library's loader, allocator and resolver. A
 * container's value for one of them never goes into the engine's environment.
 */
const ENGINE_OWN_VARIABLE =
  /^(DOCKER_|CONTAINER|_CONTAINERS|PODMAN|BUILDAH|BUILDKIT|STORAGE_|REGISTRY_AUTH_FILE$|XDG_|GO(DEBUG|GC|MAXPROCS|TRACEBACK|MEMLIMIT|FLAGS|PATH|ROOT|EXPERIMENT)$|LD_|SSL_CERT_|SSH_|DBUS_|NOTIFY_SOCKET$|(HTTPS?|NO|ALL|FTP)_PROXY$|PATH$|HOME$|USER$|TMPDIR$|SHELL$|LANG$|LC_|TZ$|AWS_|AZURE_|GOOGLE_|CLOUDSDK_|GCE_|BASH|SHELLOPTS$|ENV$|PS4$|IFS$|CDPATH$|GLOBIGNORE$|GLIBC_TUNABLES$|MALLOC_|GCONV_PATH$|LOCPATH$|OPENSSL_|LOCALDOMAIN$|RES_OPTIONS$|HOSTALIASES$|NLSPATH$|RUST_|CNI_|NETAVARK|CONMON|CRUN|RUNC|PASSWORD_STORE_|GNUPGHOME$|GPG_|KRB5|NODE_OPTIONS$|PYTHON)/i;

/** A container's environment, as `docker run` gets it: what its spec names, and the variables smkit sets. */
function containerEnv(spec: ContainerSpec): Record<string, string> {
  return {
    ...spec.env,
    ...(spec.multiModel ? { SAGEMAKER_MULTI_MODEL: 'true' } : {}),
    SAGEMAKER_BIND_TO_PORT: String(spec.port),
    // Not published: a second port is the container's own (see safePortRangeFor).
    ...(spec.safePortRange ? { SAGEMAKER_SAFE_PORT_RANGE: formatPortRange(spec.safePortRange) } : {}),
  };
}

/**
 * A name and value that `--env-file` gives the container exactly, with every engine: one line,
 * no blank and no quote at either end, no `#` (podman 4.6 and later read the file as dotenv: they
 * trim blanks and quotes from both ends and take `#` for a comment).
 */
function envFileSafe(key: string, value: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) && /^(?:[^\s\0"'`#]|[^\s\0"'`#][^\r\n\0#]*[^\s\0"'`#])$/.test(value);
}

/** How a container's variables reach it: {@link splitContainerEnv}. */
export interface ContainerEnvRoutes {
  /** Written to a private `--env-file`: neither on the command line nor in the engine's environment. */
  file: Record<string, string>;
  /** `-e NAME`, the value in the engine client's environment (a value the file cannot hold exactly). */
  named: Record<string, string>;
  /** `-e NAME=value` (a value the file cannot hold, of a variable the engine acts on itself). */
  inline: Record<string, string>;
}

/**
 * Where each of a container's variables goes. A value on the command line (`-e NAME=value`) can be
 * read by every user of the machine (`ps`, `/proc/<pid>/cmdline`), and a model's environment holds
 * tokens and keys; one in the engine's environment steers the engine (and the credential helper
 * it runs to pull an image, and a `docker` script's shell). So each goes into an env file only this
 * user reads, but a value the file cannot hold exactly (several lines, a quote, a `#`, a blank at
 * either end): that one goes in the engine's environment, or on the command line for a variable
 * the engine acts on ({@link ENGINE_OWN_VARIABLE}).
 */
export function splitContainerEnv(spec: ContainerSpec): ContainerEnvRoutes {
  const routes: ContainerEnvRoutes = { file: {}, named: {}, inline: {} };
  for (const [key, value] of Object.entries(containerEnv(spec))) {
    if (envFileSafe(key, value)) routes.file[key] = value;
    else if (ENGINE_OWN_VARIABLE.test(key)) routes.inline[key] = value;
    else routes.named[key] = value;
  }
  return routes;
}

/** The text of the `--env-file` of `spec`'s container ({@link splitContainerEnv}), empty when it needs none. */
export function dockerEnvFileText(spec: ContainerSpec): string {
  return Object.entries(splitContainerEnv(spec).file)
    .map(([key, value]) => `${key}=${value}\n`)
    .join('');
}

/**
 * The environment of the `docker run` client for `spec`: `base` (this process's), with only the
 * container's variables that neither its env file nor the command line carries ({@link splitContainerEnv}).
 */
export function dockerRunEnv(spec: ContainerSpec, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, ...splitContainerEnv(spec).named };
}

/**
 * The `docker run` / `podman run` arguments for one container, as SageMaker starts it
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html): `run <image> serve`, the model read-only at
 * `/opt/ml/model`, the container's environment, and `SAGEMAKER_BIND_TO_PORT` published on
 * 127.0.0.1 only. The image comes after `--`, so no image name is read as an option of `run`.
 * The container's variables come from `envFile` (holding {@link dockerEnvFileText}), but for
 * those it cannot hold ({@link splitContainerEnv}).
 */
export function buildDockerRunArgs({ spec, image, containerName, gpuArgs = [], envFile }: DockerRunInput): string[] {
  const routes = splitContainerEnv(spec);
  const args = [
    'run',
    '--rm',
    '--name', containerName,
    '--hostname', spec.hostname,
    '-p', `127.0.0.1:${spec.port}:${spec.port}`,
    ...(spec.memoryMb === undefined ? [] : ['--memory', `${spec.memoryMb}m`]),
    ...gpuArgs,
    ...(spec.multiModel ? ['-v', `${join(spec.optMlDir, 'models')}:/opt/ml/models:ro`] : ['-v', `${spec.modelDir ?? join(spec.optMlDir, 'model')}:/opt/ml/model:ro`]),
  ];
  if (Object.keys(routes.file).length > 0) {
    if (envFile === undefined) throw new Error(`${spec.id}: docker run needs the env file of its container's variables`);
    args.push('--env-file', envFile);
  }
  for (const key of Object.keys(routes.named)) args.push('-e', key);
  for (const [key, value] of Object.entries(routes.inline)) args.push('-e', `${key}=${value}`);
  // `--` ends run's options: an image such as `--privileged` (CreateModel's Image takes any
  // non-blank string) is then refused as a reference, not taken as an option with `serve` as the image.
  args.push('--', image, 'serve');
  return args;
}

/** A container name docker accepts: `smkit-<endpoint>-<variant>-<host>-<random>`. */
export function dockerContainerName(spec: ContainerSpec): string {
  const base = `smkit-${spec.id}`.replace(/[^a-zA-Z0-9_.-]+/g, '-').slice(0, 100);
  return `${base}-${randomBytes(3).toString('hex')}`;
}

/**
 * Finds a container engine that can run containers: the preferred one, else `docker` (when its
 * daemon answers), else `podman`; with none, what each engine tried said. The same probe `smkit build` uses.
 */
export async function detectContainerEngine(preferred?: ContainerEngine): Promise<EngineProbe> {
  return probeEngines(preferred);
}

/**
 * `ERR_BACKEND_UNAVAILABLE` for `wanted` (`--backend docker`, `--engine podman`) when no engine
 * answered, with what each said: a docker CLI whose daemon is down is not a missing CLI.
 */
export function backendUnavailable(wanted: string, failures: readonly string[], preferred?: ContainerEngine): ToolkitError {
  const fix = preferred === undefined ? 'start the Docker daemon or install podman' : preferred === 'docker' ? 'start the Docker daemon (or install docker)' : 'install podman (or make it work for this user)';
  return new ToolkitError('ERR_BACKEND_UNAVAILABLE', `${wanted} needs a container engine that answers, and ${preferred ?? 'none'} ${preferred === undefined ? 'does' : 'does not'} here (${failures.join('; ')}): ${fix}, or use --backend process`);
}

/** Options of {@link DockerBackend}. */
export interface DockerBackendOptions {
  /** How much of each container's output its log file keeps. @defaultValue {@link CONTAINER_LOG_CAP} */
  logCap?: LogCap;
  /** Which containers get this machine's GPUs (`smkit local --gpus`). @defaultValue `auto` */
  gpus?: GpuChoice;
  /** Whether this machine has an NVIDIA GPU to give containers (with `gpus: 'auto'`). @defaultValue {@link nvidiaDriverPresent} */
  gpuPresent?: () => boolean;
  /**
   * This machine's GPUs by index, for containers that take some of them ({@link ContainerSpec.gpuCount}).
   * @defaultValue {@link localGpuIndexes} (the `/dev/nvidiaN` files)
   */
  localGpus?: () => number[];
  /** Receives the warning that a GPU instance type's containers run without a GPU here (once per backend). */
  warn?: (message: string) => void;
  /**
   * How long a `docker stop` may go on once its container's `run` client is gone before it is
   * killed (an engine that hangs must not keep this process alive). @defaultValue 5000 ms
   */
  stopCommandWaitMs?: number;
}

/** {@link DockerBackendOptions} whose warnings go to a local endpoint's log, with the `--gpus` choice. */
export function dockerBackendOptions(log: ((level: 'warn', message: string, fields: Record<string, unknown>) => void) | undefined, gpus?: GpuChoice): DockerBackendOptions {
  return { ...(log ? { warn: (message: string) => log('warn', message, {}) } : {}), ...(gpus === undefined ? {} : { gpus }) };
}

/**
 * Runs each container with `docker run` (or `podman run`) from a given image, attached: the
 * `docker run` client exits when the container does. Stopping a container whose client is already
 * gone (killed while the container went on running) removes it with `docker rm -f`. A GPU instance
 * type's containers get this machine's GPUs when it has an NVIDIA driver.
 */
export class DockerBackend implements ContainerBackend {
  readonly name = 'docker' as const;
  private readonly gpus: GpuChoice;
  private readonly logCap: LogCap | undefined;
  private readonly stopCommandWaitMs: number;
  private readonly gpuPresent: () => boolean;
  private readonly warn: (message: string) => void;
  private warnedNoGpu = false;
  private warnedFewGpus = false;
  private readonly localGpus: () => number[];
  /** How many running containers have each GPU of this machine (by index), of those given some ({@link ContainerSpec.gpuCount}). */
  private readonly gpuTakers = new Map<number, number>();

  constructor(
    private readonly engine: ContainerEngine,
    private readonly defaultImage?: string,
    opts: DockerBackendOptions = {},
  ) {
    this.gpus = opts.gpus ?? 'auto';
    this.logCap = opts.logCap;
    this.stopCommandWaitMs = opts.stopCommandWaitMs ?? 5_000;
    this.gpuPresent = opts.gpuPresent ?? nvidiaDriverPresent;
    this.localGpus = opts.localGpus ?? (() => localGpuIndexes());
    this.warn = opts.warn ?? (() => {});
  }

  /**
   * The `run` options that give a container of a GPU instance type this machine's GPUs, with what
   * gives back those it takes ({@link takeGpus}); none (and a warning, once) without a GPU.
   */
  private gpuArgsFor(spec: ContainerSpec): { args: string[]; release: () => void } {
    const none = { args: [], release: () => {} };
    if (!spec.gpus || this.gpus === 'none') return none;
    if (this.gpus === 'all' || this.gpuPresent()) return spec.gpuCount === undefined ? { args: gpuRunArgs(this.engine), release: () => {} } : this.takeGpus(spec, spec.gpuCount);
    if (!this.warnedNoGpu) {
      this.warnedNoGpu = true;
      this.warn(
        `${spec.id}: its instance type has NVIDIA GPUs on SageMaker, but this machine has no NVIDIA driver (/dev/nvidiactl, or /dev/dxg under WSL 2), so GPU instance types' containers run without a GPU here (smkit's GPU image falls back to its CPU path; another image may fail to start). ` +
          `With the engine on another host (DOCKER_HOST) or a driver elsewhere, start smkit local with --gpus all; --gpus none runs them without a GPU and without this warning`,
      );
    }
    return none;
  }

  /**
   * `count` GPUs of this machine for a container that takes them to itself (an inference component
   * copy: SageMaker gives each its `NumberOfAcceleratorDevicesRequired` devices; given all of them,
   * every copy put its worker 0 on GPU 0, all the copies on one GPU): the ones the fewest running
   * containers have, lowest index first, shared only when there are not enough. All of them when this
   * machine's GPUs are not known here (no `/dev/nvidiaN`: WSL 2, an engine on another host), when
   * it takes as many as there are, and (with a warning, once) when it takes more.
   */
  private takeGpus(spec: ContainerSpec, count: number): { args: string[]; release: () => void } {
    const local = this.localGpus();
    if (local.length === 0) return { args: gpuRunArgs(this.engine), release: () => {} };
    if (count > local.length && !this.warnedFewGpus) {
      this.warnedFewGpus = true;
      this.warn(`${spec.id}: each copy takes ${count} accelerators (NumberOfAcceleratorDevicesRequired), and this machine has ${local.length} GPU${local.length === 1 ? '' : 's'}: the copies that take more than there are get all of them`);
    }
    const taken = [...local].sort((a, b) => (this.gpuTakers.get(a) ?? 0) - (this.gpuTakers.get(b) ?? 0) || a - b).slice(0, Math.min(count, local.length)).sort((a, b) => a - b);
    for (const i of taken) this.gpuTakers.set(i, (this.gpuTakers.get(i) ?? 0) + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      for (const i of taken) {
        const left = (this.gpuTakers.get(i) ?? 1) - 1;
        if (left > 0) this.gpuTakers.set(i, left);
        else this.gpuTakers.delete(i);
      }
    };
    return { args: taken.length === local.length ? gpuRunArgs(this.engine) : gpuDeviceRunArgs(this.engine, taken), release };
  }

  async start(spec: ContainerSpec): Promise<RunningContainer> {
    const image = spec.image ?? this.defaultImage;
    if (!image) {
      throw new ToolkitError('ERR_BACKEND_UNAVAILABLE', `${spec.id}: the docker backend needs an image; pass --image or set "image" in the endpoint file`);
    }
    const containerName = dockerContainerName(spec);
    // An empty value on the line shows nothing.
    const onLine = Object.entries(splitContainerEnv(spec).inline)
      .filter(([, value]) => value !== '')
      .map(([key]) => key);
    if (onLine.length > 0) {
      // Said by name only: the values are what must not be repeated anywhere.
      this.warn(
        `${spec.id}: the value of ${onLine.join(', ')} goes on the container engine's command line (docker run -e NAME=VALUE), which every user of this machine can read (ps) while the container runs: ` +
          `the engine acts on ${onLine.length === 1 ? 'that variable' : 'those variables'} itself, so ${onLine.length === 1 ? 'it is' : 'they are'} not put in its environment, and the private env file cannot hold ${onLine.length === 1 ? 'its value' : 'their values'} exactly ` +
          `(a line break, a quote or blank at either end, a #). A value without those goes in the env file instead`,
      );
    }
    const envFile = await writeEnvFile(spec);
    const log = await openChildLog(spec.logFile, this.logCap ? { cap: this.logCap } : {}).catch((err: unknown) => {
      envFile?.remove();
      throw err;
    });
    // The container runs under the engine, not under this process: should this process end
    // without stopping it (SIGKILL, a crash), the reaper removes it.
    const release = trackUntilReleased({ kind: 'container', engine: this.engine, name: containerName });
    let child: ChildProcessByStdio<null, Readable, Readable>;
    const gpu = this.gpuArgsFor(spec);
    const gpuArgs = gpu.args;
    try {
      child = spawn(this.engine, buildDockerRunArgs({ spec, image, containerName, gpuArgs, ...(envFile ? { envFile: envFile.path } : {}) }), { stdio: ['ignore', 'pipe', 'pipe'], env: dockerRunEnv(spec) });
    } catch (err) {
      // Nothing started (spawn refuses an argument with a NUL byte at once): nothing for the reaper to remove.
      release();
      gpu.release();
      log.end();
      envFile?.remove();
      throw err;
    }
    const endLog = pipeChildOutput([child.stdout, child.stderr], log, (err) => this.warn(`${spec.id}: its log file ${spec.logFile} failed (${err.message}); the container's output is no longer written there`));
    // An engine that cannot give the container the GPUs says so on stderr, last, before it exits:
    // after what it wrote pulling an image not here yet (a line or more per layer, past 8 KB for
    // an image of 60 layers). The last few KB are kept to name the fix.
    const said: Buffer[] = [];
    let saidBytes = 0;
    if (gpuArgs.length > 0) {
      child.stderr.on('data', (chunk: Buffer) => {
        said.push(chunk);
        saidBytes += chunk.length;
        while (saidBytes - said[0]!.length >= ENGINE_STDERR_KEPT) saidBytes -= said.shift()!.length;
      });
    }
    if (spec.logLines) {
      tapLines(child.stdout, spec.logLines);
      tapLines(child.stderr, spec.logLines);
    }
    let graceSeconds = 30;
    /** Every `docker stop` spawned, with the grace (`-t`) it was given. */
    const stopCommands: { command: ChildProcess; graceSeconds: number }[] = [];
    const tracked = trackExit(
      child,
      () => {
        // An attached `run --rm` client that exits by itself has seen its container removed (or
        // never started one); one killed by a signal may have left it running, for stop() (or the reaper) to remove.
        if (child.signalCode === null) release();
        // The GPUs it took are free for the next container once its client is gone (its container is, or is being removed).
        gpu.release();
        endLog();
        // The engine read the file when it parsed run's options; it is not needed after the client.
        envFile?.remove();
      },
      () => {
        // A stop at once with another shares its `docker stop` unless it asks for a shorter grace,
        // which only a `docker stop` of its own gives; every one is bounded once the client is gone.
        if (stopCommands.some((s) => running(s.command) && s.graceSeconds <= graceSeconds)) return;
        const command = spawn(this.engine, ['stop', '-t', String(graceSeconds), containerName], { stdio: 'ignore' }).once('error', () => child.kill('SIGTERM'));
        stopCommands.push({ command, graceSeconds });
      },
    );
    const stop = async (graceMs: number): Promise<void> => {
      // Without its client the container may still run (and hold its port): remove it outright.
      if (tracked.exited) {
        // Left to the reaper when the engine did not answer in time.
        if (await removeContainers(this.engine, [containerName])) release();
        return;
      }
      graceSeconds = Math.max(1, Math.ceil(graceMs / 1000));
      // Give `docker stop` its own grace period before killing the CLI process.
      await tracked.stop(graceMs + 5_000);
      await Promise.all(stopCommands.map((s) => endWithin(s.command, this.stopCommandWaitMs)));
      // A client killed at the end of the grace period (`docker stop` did not return in time) may leave its container running.
      if (child.signalCode === null || (await removeContainers(this.engine, [containerName]))) release();
    };
    const exitHint = (): string | undefined => (said.length === 0 ? undefined : gpuFailureHint(this.engine, Buffer.concat(said).toString('utf8')));
    return runningContainer(spec, tracked, { stop, exitHint });
  }
}

/**
 * Writes `spec`'s env file ({@link dockerEnvFileText}) into a folder of its own that only this user
 * can open (0700, the file 0600), tracked for the reaper should this process end first; none when
 * the container has no variable for one.
 */
async function writeEnvFile(spec: ContainerSpec): Promise<{ path: string; remove: () => void } | undefined> {
  const text = dockerEnvFileText(spec);
  if (text === '') return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'smkit-env-'));
  const release = trackUntilReleased({ kind: 'folder', path: dir });
  // At once (a folder of one small file): a process that exits right after its containers stop
  // would otherwise leave it to the reaper, which says it found something not stopped.
  const remove = (): void => {
    try {
      rmSync(dir, { recursive: true, force: true });
      release();
    } catch {
      // Left to the reaper.
    }
  };
  const path = join(dir, 'container.env');
  try {
    await writeFile(path, text, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    remove();
    throw err;
  }
  return { path, remove };
}

/** Whether `child` was spawned and has not exited yet. */
function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null && child.pid !== undefined;
}

/** Waits up to `ms` for `child` to exit, then kills it (SIGKILL). */
async function endWithin(child: ChildProcess, ms: number): Promise<void> {
  if (!running(child)) return;
  let timer: NodeJS.Timeout | undefined;
  await new Promise<void>((done) => {
    child.once('exit', () => done());
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      done();
    }, ms);
  });
  clearTimeout(timer);
}

/** How much of the end of a GPU container's `run` client stderr is kept (at least) to recognise a refusal of the GPUs. */
const ENGINE_STDERR_KEPT = 8 * 1024;

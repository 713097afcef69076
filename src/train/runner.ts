import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { TrainingSettings } from '../config/training.js';
import { detectGpus } from '../devices/gpus.js';
import { isToolkitError, ToolkitError } from '../errors/catalogue.js';
import { createLogger, type SmkitLogger } from '../logging/logger.js';
import { entryPointCommand, resolveCodeDir, shebangLine, type EntryPointCommand } from './entry-point.js';
import { buildTrainingEnvironment, readTrainingConfig, type TrainingEnvironment } from './environment.js';
import { TailBuffer, clearOutcome, describeScriptFailure, headlineCommand, writeFailure, writeSuccess } from './outcome.js';
import { trainingPaths, type TrainingPaths } from './paths.js';
import { detectNeuronCores } from './neurons.js';
import { findPipeChannels } from './pipe-channels.js';
import { groupEnded, killMarked } from './process-group.js';

/** Inputs to {@link runTraining}. */
export interface RunTrainingOptions {
  readonly settings: Readonly<TrainingSettings>;
  readonly logger?: SmkitLogger;
  /** GPU count for `SM_NUM_GPUS`. @defaultValue `detectGpus().length` */
  readonly numGpus?: number;
  /** CPU count for `SM_NUM_CPUS`. @defaultValue `os.cpus().length` (Python's `cpu_count()`) */
  readonly numCpus?: number;
  /** Neuron core count for `SM_NUM_NEURONS`. @defaultValue what `neuron-ls -j` lists (`detectNeuronCores`), as STT counts */
  readonly numNeurons?: number;
  /** Forward this process's SIGTERM/SIGINT to the entry point. @defaultValue true */
  readonly handleSignals?: boolean;
}

/** What a training run ended with. */
export interface TrainingResult {
  /** 0 on success; the entry point's exit code (or 128 + signal number) otherwise. */
  readonly exitCode: number;
  readonly paths: TrainingPaths;
  /** The failure description, when the run failed. */
  readonly failureReason?: string;
  /** The environment given to the entry point, when it got that far. */
  readonly environment?: TrainingEnvironment;
}

/** `NODE_PATH` for the entry point: the user's own, then smkit's module folders, so scripts can `require` packages smkit ships (as STT exports `PYTHONPATH`). */
function nodePath(inherited: string | undefined): string {
  const own = createRequire(import.meta.url).resolve.paths('smkit') ?? [];
  return [...(inherited ? inherited.split(path.delimiter) : []), ...own].filter((p, i, all) => p !== '' && all.indexOf(p) === i).join(path.delimiter);
}

/** The variable that marks the processes of one run (a random id each run): see {@link killMarked}. */
const RUN_ID_VARIABLE = 'SMKIT_TRAINING_RUN_ID';

/** Linux's limit on one argument or environment string, its NUL included (MAX_ARG_STRLEN, 32 pages of 4 KiB). */
const MAX_ARG_STRLEN = 131_072;

const CRLF_FIX = "the file has Windows (CRLF) line ends; convert them to LF (dos2unix, or git's core.autocrlf=false).";

/**
 * What `ENOENT` from starting the entry point means. The entry point was found before, so for one
 * run directly it is the interpreter its `#!` line names that is missing (`spawn ./train ENOENT`
 * names the file that is there); most often a Windows line end, whose CR the kernel takes as part
 * of the interpreter's name. Otherwise the program that runs it (`python3`) is not on PATH.
 */
function missingProgram(command: EntryPointCommand): string | undefined {
  if (command.command !== command.file) {
    return path.isAbsolute(command.command) ? undefined : `${command.command} was not found on PATH; install it in the image to run a ${path.extname(command.file)} entry point.`;
  }
  const line = shebangLine(command.file);
  if (line === undefined) return undefined;
  // What the kernel looks for: the text up to a space or tab, a CR included.
  const interpreter = /^[ \t]*([^ \t]*)/.exec(line)![1]!;
  const shown = JSON.stringify(interpreter);
  if (interpreter.endsWith('\r')) return `the interpreter of the entry point's #! line, ${shown}, ends with a carriage return: ${CRLF_FIX}`;
  // The kernel says ENOENT too for an interpreter that is there when what it needs is not: a
  // script's own #! interpreter, or the loader of a binary built for another system (musl, glibc).
  if (interpreter !== '' && existsSync(path.resolve(command.cwd, interpreter))) {
    return `the interpreter of the entry point's #! line, ${shown}, is there but could not be run: a program it needs is missing (its own #! interpreter, or the loader of a binary built for another system).`;
  }
  return `the interpreter of the entry point's #! line, ${shown}, does not exist; install it in the image or change the #! line.`;
}

/**
 * Why the entry point could not be started: the spawn error's message, and for `E2BIG` (the
 * arguments and environment are over what `execve` takes) which string is too long, or how long
 * all of them are, and what to change. Every hyperparameter is in `SM_HPS`, `SM_TRAINING_ENV` and
 * the arguments, so 100 values of 2500 characters, which `CreateTrainingJob` takes, are over the
 * limit; STT fails such a job too ("Argument list too long").
 */
function startError(err: Error, command: EntryPointCommand, env: Readonly<Record<string, string>>): string {
  const missing = (err as NodeJS.ErrnoException).code === 'ENOENT' ? missingProgram(command) : undefined;
  if (missing !== undefined) return `${err.message}: ${missing}`;
  if ((err as NodeJS.ErrnoException).code !== 'E2BIG') return err.message;
  const strings: [string, number][] = [
    ...Object.entries(env).map(([k, v]) => [`the environment variable ${k}`, Buffer.byteLength(`${k}=${v}`) + 1] as [string, number]),
    ...command.args.map((a, i) => [`argument ${i + 1} of the command`, Buffer.byteLength(a) + 1] as [string, number]),
  ];
  const [what, bytes] = strings.reduce((a, b) => (b[1] > a[1] ? b : a));
  const fix = 'make the hyperparameters smaller (each is in SM_HPS, SM_TRAINING_ENV, its SM_HP_ variable and the arguments), for example by passing large values as a file in a channel';
  if (bytes > MAX_ARG_STRLEN) return `${err.message}: ${what} is ${bytes} bytes, over the ${MAX_ARG_STRLEN} bytes Linux takes for one; ${fix}.`;
  const total = strings.reduce((sum, [, n]) => sum + n, 0);
  return `${err.message}: the arguments and environment are ${total} bytes together, over what the system takes (getconf ARG_MAX); ${fix}, or start smkit train with a smaller environment.`;
}

/**
 * Creates the folders training writes and checks that this user may write them, before the entry
 * point runs: a tree only root may write (`docker run --user 1000 <image> train` with a root-owned
 * /opt/ml) fails here with the folder named, not hours later in the script or in writing
 * `output/failure`.
 */
function ensureWritable(dirs: readonly string[]): void {
  for (const dir of dirs) {
    try {
      mkdirSync(dir, { recursive: true });
      accessSync(dir, constants.W_OK);
    } catch (err) {
      const uid = process.getuid?.();
      throw new ToolkitError(
        'ERR_TRAIN_OUTPUT',
        `${dir} cannot be written${uid === undefined ? '' : ` by the user smkit runs as (uid ${uid})`}: ${(err as Error).message}. ` +
          'Training writes the model, output/success or output/failure and checkpoints there. SageMaker runs training containers as root; ' +
          'under another user (docker run --user), make the /opt/ml tree writable by that user (chown it, or mount it read-write)',
      );
    }
  }
}

/**
 * `SM_TRAINING_ENV` for the log line: the object, or the text as it is when it holds `NaN` or
 * `Infinity` (a hyperparameter such as `"NaN"` or `"1e400"`), which Python's `json.dumps` writes
 * and JSON has no words for; the run must not fail over its log line.
 */
function trainingEnvForLog(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Whether `dir` holds nothing (or cannot be read: a link to nowhere, a file put in its place). */
function folderEmpty(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0;
  } catch {
    return true;
  }
}

function signalExitCode(signal: NodeJS.Signals | null): number {
  const n = signal ? os.constants.signals[signal] : undefined;
  return n ? 128 + n : 1;
}

/**
 * Runs one training job the way AWS's training toolkit does (https://github.com/aws/sagemaker-training-toolkit): reads
 * `<base>/input/config`, exports the `SM_*` variables, runs the entry point with the
 * hyperparameters as arguments from the code directory, streams its output, and writes
 * `<base>/output/success` or `<base>/output/failure`. SIGTERM is forwarded to the entry point's
 * process group; after `graceSeconds` the group is killed. A SIGTERM during start-up (while the
 * submit directory's archive is extracted) stops it: the entry point is not started, the failure
 * file says so, and the exit code is 128 + the signal number.
 */
export async function runTraining(options: RunTrainingOptions): Promise<TrainingResult> {
  const { settings } = options;
  const log = options.logger ?? createLogger(settings.logLevel, { component: 'train' }, settings.logFormat);
  const paths = trainingPaths(settings.baseDir);
  const fail = (exitCode: number, reason: string, environment?: TrainingEnvironment): TrainingResult => {
    // A tree this user cannot write must not turn the reason into a crash with a stack trace.
    let written = false;
    let writeError: string | undefined;
    try {
      written = writeFailure(paths.failureFile, reason);
    } catch (err) {
      writeError = (err as Error).message;
    }
    log.error({ exitCode, failureFile: paths.failureFile, written, ...(writeError !== undefined && { writeError }) }, reason.split('\n')[0]);
    return { exitCode, paths, failureReason: reason, environment };
  };

  // Signal the whole group so shell scripts' children stop too.
  let child: ChildProcess | undefined;
  const signalGroup = (signal: NodeJS.Signals) => {
    if (!child) return;
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      child.kill(signal);
    }
  };
  let stopSignal: NodeJS.Signals | undefined;
  const startup = new AbortController();
  let killed = false;
  let killTimer: NodeJS.Timeout | undefined;
  let graceOver = () => {};
  const graceEnded = new Promise<void>((resolve) => (graceOver = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopSignal) return;
    stopSignal = signal;
    if (!child) {
      // Still starting up (extracting the submit directory): stop that; the entry point never starts.
      log.warn({ signal }, 'stop requested during start-up; the entry point will not be started');
      startup.abort(new Error(`${signal} received`));
      return;
    }
    log.warn({ signal, graceSeconds: settings.graceSeconds }, 'stop requested; forwarding the signal to the entry point');
    signalGroup(signal);
    killTimer = setTimeout(() => {
      killed = true;
      const entryPointRuns = child?.exitCode === null && child.signalCode === null;
      log.error({ graceSeconds: settings.graceSeconds }, entryPointRuns ? 'the entry point did not exit in the grace period; killing it' : 'processes the entry point started did not exit in the grace period; killing them');
      signalGroup('SIGKILL');
      graceOver();
    }, settings.graceSeconds * 1000);
  };
  const handleSignals = options.handleSignals ?? true;
  const stopHandlingSignals = () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
  // Handlers first, before the start-up and the child: a SIGTERM that landed before them would take
  // the signal's default action and end smkit, leaving no failure file (or, once the child runs, the
  // detached entry point with no parent).
  if (handleSignals) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  let environment: TrainingEnvironment;
  let command: EntryPointCommand;
  const runId = randomUUID();
  let env: Record<string, string>;
  try {
    ensureWritable([paths.model, paths.output, paths.outputData, paths.checkpoints]);
    for (const file of clearOutcome([paths.successFile, paths.failureFile])) log.warn({ file }, 'removed the outcome file of an earlier run in this tree');
    const config = readTrainingConfig(paths);
    for (const file of config.defaulted) log.warn({ file }, 'config file absent; using the default');
    environment = buildTrainingEnvironment(config, {
      paths,
      numCpus: options.numCpus ?? Math.max(1, os.cpus().length),
      numGpus: options.numGpus ?? detectGpus().length,
      numNeurons: options.numNeurons ?? detectNeuronCores(settings.inheritedEnv),
      programEnv: settings.program,
      trainingModule: settings.trainingModule,
      jobName: settings.jobName,
      modelParallelParameters: settings.modelParallelParameters,
    });
    if (environment.userEntryPoint === undefined) {
      stopHandlingSignals();
      return fail(1, 'ERR_TRAIN_ENTRY_POINT: no entry point; set SAGEMAKER_PROGRAM or the sagemaker_program hyperparameter to a script in the code directory.');
    }
    const codeDir = await resolveCodeDir(paths, [environment.submitDirectory, settings.submitDirectory], startup.signal);
    if (stopSignal) throw startup.signal.reason;
    command = entryPointCommand(codeDir, environment.userEntryPoint, environment.userArgs);
    const pipes = findPipeChannels(paths.inputData, config.inputDataConfig);
    env = {
      ...settings.inheritedEnv,
      ...environment.vars,
      SAGEMAKER_BASE_DIR: paths.base,
      CURRENT_HOST: environment.currentHost,
      SAGEMAKER_JOB_NAME: environment.jobName,
      SAGEMAKER_REGION: environment.region ?? settings.region ?? '',
      NODE_PATH: nodePath(settings.inheritedEnv['NODE_PATH']),
      SMKIT_CHECKPOINT_DIR: paths.checkpoints,
      // Marks every process the entry point starts, those that leave its process group too (see killMarked).
      [RUN_ID_VARIABLE]: runId,
    };
    if (Object.keys(pipes).length > 0) env['SMKIT_PIPE_CHANNELS'] = JSON.stringify(pipes);
    log.info({ trainingEnv: trainingEnvForLog(environment.vars['SM_TRAINING_ENV']!) }, 'training environment');
  } catch (err) {
    stopHandlingSignals();
    if (stopSignal) return fail(signalExitCode(stopSignal), `Training stopped: ${stopSignal} received during start-up; the entry point was not started`);
    if (isToolkitError(err)) return fail(1, `${err.code}: ${err.message}`);
    return fail(1, `ERR_INTERNAL: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }

  let started: ChildProcessByStdio<null, null, Readable>;
  try {
    started = spawn(command.command, command.args, { cwd: command.cwd, env, stdio: ['ignore', 'inherit', 'pipe'], detached: true });
  } catch (err) {
    if (handleSignals) stopHandlingSignals();
    return fail(1, `ExecuteUserScriptError: could not start "${headlineCommand(command.display)}": ${startError(err as Error, command, env)}`, environment);
  }
  // The pid is its process group's id too: should smkit itself be SIGKILLed (outside a container,
  // where nothing else ends the group), the log says which group is left running.
  log.info({ command: command.display, cwd: command.cwd, entryPointPid: started.pid }, 'invoking the entry point');
  child = started;
  const stderrTail = new TailBuffer();
  const stderrDone = new Promise<void>((resolve) => {
    started.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      stderrTail.push(chunk);
    });
    started.stderr.on('close', resolve);
    started.stderr.on('error', () => resolve());
  });

  const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    started.once('error', (error) => resolve({ code: null, signal: null, error }));
    started.once('exit', (code, signal) => resolve({ code, signal }));
  });
  // Stopping, the grace period is the group's, not only the entry point's: a shell script dies of
  // the SIGTERM at once while the program it started saves a checkpoint. Until the last of the
  // group's processes has ended, or the end of the grace period. Not until stderr closes: a program
  // that redirected its stderr would be killed mid-save, and a process outside the group (setsid)
  // holding it open would hold the run for the whole grace period, to be reported killed.
  const entryPointKilled = killed;
  if (stopSignal && !killed && !ended.error && started.pid !== undefined) {
    const waited = new AbortController();
    await Promise.race([groupEnded(started.pid, waited.signal), graceEnded]);
    waited.abort();
  }
  clearTimeout(killTimer);
  if (handleSignals) stopHandlingSignals();
  // A container ends with its entry point, and every process in it: what the entry point left
  // running in its group (a background process still writing model/) ends now too, before the
  // outputs are read and uploaded, and does not outlive the job.
  signalGroup('SIGKILL');
  // And those that left the group (setsid, a daemon): in the container they would end with it too;
  // outside one (smkit local train, the local SageMaker) they would outlive the job, still writing to its log.
  const strays = killMarked(RUN_ID_VARIABLE, runId);
  if (strays.length > 0) log.warn({ pids: strays }, 'killed processes the entry point started outside its process group (setsid), as the container would end them');
  // Bounded: a grandchild holding stderr open must not keep the run alive.
  await Promise.race([stderrDone, new Promise((r) => setTimeout(r, 2000).unref())]);
  // And let go of it: a process outside the group (setsid) holding it open would otherwise keep
  // smkit, whose exit ends the container, running after the outcome is written, until the job's time runs out.
  started.stderr.destroy();

  if (ended.error) {
    return fail(1, `ExecuteUserScriptError: could not start "${headlineCommand(command.display)}": ${startError(ended.error, command, env)}`, environment);
  }
  const exitCode = ended.code ?? signalExitCode(ended.signal);
  if (exitCode === 0) {
    const written = writeSuccess(paths.successFile);
    log.info({ successFile: paths.successFile, written }, 'training completed');
    // SageMaker completes such a job too, with an empty model.tar.gz: say so where it shows, not at CreateModel.
    if (folderEmpty(paths.model)) log.warn({ modelDir: paths.model }, 'the entry point exited 0 without saving anything in the model folder (SM_MODEL_DIR), so there is no model (on SageMaker, an empty model.tar.gz); save the trained model under SM_MODEL_DIR');
    return { exitCode: 0, paths, environment };
  }
  // STT's extra_info for return code 137: most often the kernel's OOM killer.
  const oom = exitCode === 137 ? ' (OutOfMemory: Process killed by SIGKILL (signal 9))' : '';
  // `#!/usr/bin/env bash` with a Windows line end: env is found, `bash\r` is not, and env's
  // message (`/usr/bin/env: 'bash\r': No such file ...`) reads, as a terminal shows it, `': No such file or directory`.
  const crlf = exitCode === 127 && command.command === command.file && shebangLine(command.file)?.endsWith('\r') ? ` (the entry point's #! line ends with a carriage return: ${CRLF_FIX.slice(0, -1)})` : '';
  const how = ended.code !== null ? `exit code ${ended.code}` : `signal ${ended.signal}`;
  const headline = stopSignal
    ? `Training stopped: ${stopSignal} received; the entry point ${entryPointKilled ? `did not exit within ${settings.graceSeconds} s and was killed` : `ended with ${how}${killed ? `; processes it started did not exit within ${settings.graceSeconds} s and were killed` : ''}`}`
    : `ExecuteUserScriptError: "${headlineCommand(command.display)}" ended with ${how}${oom}${crlf}`;
  return fail(exitCode, describeScriptFailure(headline, stderrTail.text(), { summarize: !stopSignal }), environment);
}

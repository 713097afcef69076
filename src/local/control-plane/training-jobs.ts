import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { constants, mkdir, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { firstChars, startAndEnd } from '../../errors/text-cut.js';
import os from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createModelArchive, extractModelArchive } from '../../archive/model-archive.js';
import { nulEnvironmentValue } from '../../aws/container-environment.js';
import { pipeToFile } from '../../fs/pipe-to-file.js';
import { isToolkitError } from '../../errors/catalogue.js';
import { AwsServiceError, validationException as validation } from '../../aws/service.js';
import { s3FolderPrefix as folderPrefix } from '../../aws/s3-location.js';
import { inheritedChildEnv } from '../../config/local-endpoint.js';
import { MAX_TRAIN_GRACE_SECONDS } from '../../config/training.js';
import { inTree } from '../../train/entry-point.js';
import { trainingPaths, type TrainingPaths } from '../../train/paths.js';
import { trackExit, type TrackedChild } from '../backends/child-exit.js';
import { tapLines } from '../backends/line-tap.js';
import { CappedLogFile, TRAINING_LOG_CAP, type LogCap } from '../backends/capped-log.js';
import { pipeChildOutput } from '../backends/child-log.js';
import { SMKIT_BIN } from '../backends/process-backend.js';
import { trackChildProcess } from '../backends/orphan-reaper.js';
import type { EndpointLog } from '../endpoint/local-endpoint.js';
import { keyFiles } from '../s3/file-and-folder.js';
import { parseS3Location, type S3Objects } from '../s3/objects.js';
import { CheckpointSync } from './checkpoint-sync.js';
import { jobFolder } from './job-folder.js';
import { epochSeconds, listPage, type ListInput } from './listing.js';
import type { MetricStore } from './cloudwatch/metric-store.js';
import type { LogStore } from './logs/log-store.js';
import { trainingJobLogs } from './logs/sagemaker-logs.js';
import type { ControlPlaneStore, TrainingJobRecord } from './store.js';
import { MetricDefinitionsCompiler, TrainingMetrics, type CompiledMetricDefinition, type MetricDefinitionInput } from './training-metrics.js';
import { WarmPools, warmPoolKey } from './warm-pools.js';

type Input = Record<string, unknown>;
type Output = Record<string, unknown>;

/**
 * An unknown training job, for DescribeTrainingJob, StopTrainingJob, UpdateTrainingJob and
 * DeleteTrainingJob alike: the service answers it with `ValidationException: Requested resource not
 * found.`, not the `ResourceNotFound` its model names (aws/aws-sdk#165; AWS's own Kubernetes
 * controller matches that answer for a training job: aws-controllers-k8s/sagemaker-controller
 * generator.yaml), so one `except` catches it from every operation.
 */
function notFound(): AwsServiceError {
  return validation('Requested resource not found.');
}

/** `StoppingCondition.MaxRuntimeInSeconds` when the request gives none: one day (API_StoppingCondition). */
export const DEFAULT_MAX_RUNTIME_SECONDS = 86_400;

/**
 * Members of CreateTrainingJob that the local SageMaker accepts without acting on them (a VPC, retries,
 * debugger and profiler settings, experiments, SageMaker managed MLflow) and that DescribeTrainingJob gives back as sent, as
 * the service's does: the SageMaker Python SDK's `Estimator.attach` reads `VpcConfig` and
 * `RetryStrategy` from it.
 */
const DESCRIBED_AS_SENT = [
  'VpcConfig', 'RetryStrategy', 'DebugHookConfig', 'DebugRuleConfigurations', 'TensorBoardOutputConfig', 'ExperimentConfig',
  'ProfilerConfig', 'ProfilerRuleConfigurations', 'RemoteDebugConfig', 'InfraCheckConfig', 'MlflowConfig',
] as const;

/** The longest delay `setTimeout` keeps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** `CheckpointConfig.LocalPath` when not given (API_CheckpointConfig), the only one the local SageMaker takes. */
const DEFAULT_CHECKPOINT_PATH = '/opt/ml/checkpoints';


/** A tar archive of no entries: its two zero end-of-archive blocks. */
const EMPTY_TAR = Buffer.alloc(1024);

/** How long the output of an entry point that has exited is still read for metrics, at most. */
const OUTPUT_DRAIN_MS = 2000;

/**
 * The environment a job's `smkit train` starts with: this process's (minus container settings),
 * `AWS_REGION` set to the local SageMaker's region (the one in the job's ARN), then the job's
 * `Environment`, which may set it otherwise, and `TRAINING_JOB_NAME` and `TRAINING_JOB_ARN`, which
 * it may not (they are SageMaker's). The SageMaker Python SDK's local mode likewise sets `AWS_REGION`
 * before the job's environment (https://github.com/aws/sagemaker-python-sdk, `sagemaker/local/image.py`;
 * it lets that environment override `TRAINING_JOB_NAME` too), and the training toolkit reads
 * `AWS_REGION` (https://github.com/aws/sagemaker-training-toolkit, `trainer.py`).
 */
export function trainingJobEnv(
  inherited: Readonly<Record<string, string>>,
  environment: Readonly<Record<string, string>>,
  job: { readonly name: string; readonly arn: string },
  region: string,
): Record<string, string> {
  return { ...inherited, AWS_REGION: region, ...environment, TRAINING_JOB_NAME: job.name, TRAINING_JOB_ARN: job.arn };
}

/** `FailureReason` holds at most 1024 characters (botocore `FailureReason`). */
const MAX_FAILURE_REASON = 1024;

interface Channel {
  ChannelName: string;
  DataSource: { S3DataSource?: { S3DataType: string; S3Uri: string; S3DataDistributionType?: string }; [other: string]: unknown };
  ContentType?: string;
  CompressionType?: string;
  RecordWrapperType?: string;
  InputMode?: string;
}

interface AlgorithmSpecification {
  TrainingImage?: string;
  AlgorithmName?: string;
  TrainingInputMode: string;
  ContainerEntrypoint?: string[];
  ContainerArguments?: string[];
  MetricDefinitions?: MetricDefinitionInput[];
}

/** What the training jobs of a local SageMaker need. */
export interface TrainingJobsContext {
  store: ControlPlaneStore<unknown>;
  /**
   * The local SageMaker's work folder: each job's `/opt/ml` tree and log go under it. Its owner
   * tracks it for the reaper (unless kept), from before a job's input data is downloaded.
   */
  workDir: string;
  /** Where channels are read from and artifacts written to. */
  s3: () => S3Objects;
  /** The backend endpoints run on: training jobs run as `smkit train` processes, on the process backend only. */
  backend: 'process' | 'docker';
  /** Most jobs in progress at once (`SMKIT_LOCAL_MAX_INSTANCES`, one instance each); `ResourceLimitExceeded` beyond. */
  maxJobs?: number;
  /** `SIGTERM` grace of `StopTrainingJob` and `MaxRuntimeInSeconds`. @defaultValue `SMKIT_TRAIN_GRACE_SECONDS` (90 s), as `smkit train` reads it */
  graceSeconds?: number;
  /** `bin/smkit.js` (tests). @defaultValue this package's */
  bin?: string;
  log?: EndpointLog;
  /** How much of a job's output its log file keeps (tests make it small). @defaultValue {@link TRAINING_LOG_CAP} */
  logFileCap?: LogCap;
  /** The local CloudWatch Logs: each job's output goes to its stream in `/aws/sagemaker/TrainingJobs`. */
  logs?: LogStore;
  /** The local CloudWatch's metric store: the values `MetricDefinitions` find go to it. */
  metrics?: MetricStore;
  /** How long one metric regex may run on one line before it is disabled for the job. @defaultValue 1000 ms */
  metricRegexBudgetMs?: number;
  /** The clock warm pools' keep-alive is read on (tests move it). @defaultValue Date.now */
  now?: () => number;
  /** Arms `MaxRuntimeInSeconds`' timer: calls `fire` after `ms` unless the returned function cancels it first (tests fire it instead of waiting). @defaultValue {@link realTimer} */
  timer?: TrainingTimer;
}

/** Calls `fire` once `ms` have passed, unless the function it returns is called first. */
export type TrainingTimer = (ms: number, fire: () => void) => () => void;

/**
 * {@link TrainingTimer} on `setTimeout`; it does not keep the process alive. Past 2^31 - 1 ms
 * (24.8 days; the API allows 28) `setTimeout` fires at once: a longer wait is made of such steps.
 */
export const realTimer: TrainingTimer = (ms, fire) => {
  let t: NodeJS.Timeout;
  const arm = (left: number): void => {
    t = setTimeout(() => (left > MAX_TIMER_MS ? arm(left - MAX_TIMER_MS) : fire()), Math.min(left, MAX_TIMER_MS)).unref();
  };
  arm(ms);
  return () => clearTimeout(t);
};

/** A running job: its `smkit train` process, once started, and why it is being stopped. */
interface Run {
  child?: TrackedChild;
  stop?: 'Stopped' | 'MaxRuntimeExceeded';
  /** Aborted by a stop: closes the channel, code and checkpoint downloads in flight, however large the object. */
  downloads: AbortController;
  /** Cancels `MaxRuntimeInSeconds`' timer, once armed. */
  cancelTimer?: () => void;
  done?: Promise<void>;
}


/** A hyperparameter as the SageMaker SDK's framework estimators send it (JSON-encoded), or as given. */
function hyperparameterString(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'string' ? parsed : value;
  } catch {
    return value;
  }
}

/**
 * Where an object under an `S3Prefix` channel lands, relative to the channel's folder. Slashes at
 * its start (`train//a.csv` under `train/`, as `f"{prefix}/{name}"` makes of a prefix ending in
 * `/`) separate it from the prefix, as a path joined to the channel's folder reads them: the file
 * is `a.csv`, not one at the root that is left out.
 */
function channelFile(prefix: string, key: string): string {
  return channelPath(prefix, key).replace(/^\/+/, '');
}

/** Why a key whose file `rel` is not under the channel's folder `dir` is left out: it is the folder itself (`.`), or leads out of it (`..`). */
function leftOutWhy(dir: string, rel: string): string {
  return resolve(dir, rel) === dir ? `is "${rel}", the folder itself` : `leads out of it ('..' segments)`;
}

function channelPath(prefix: string, key: string): string {
  if (prefix === '' || prefix.endsWith('/')) return key.slice(prefix.length);
  if (key === prefix) return basename(prefix);
  if (key.startsWith(`${prefix}/`)) return key.slice(prefix.length + 1);
  return key.slice(prefix.lastIndexOf('/') + 1);
}

/**
 * The start of the job's failure file, as much as can become `FailureReason` (`maxChars`
 * characters, so at most 4 bytes each), or '' when there is none. Only a regular file is read, and
 * only its start: the entry point may leave a FIFO there (an open or read would wait for a writer
 * forever), a link to `/dev/zero` (a read to the end would never end) or a file of many MB.
 */
async function readFailureStart(file: string, maxChars: number): Promise<string> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => undefined);
  if (handle === undefined) return '';
  try {
    if (!(await handle.stat()).isFile()) return '';
    const bytes = Buffer.alloc(maxChars * 4);
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, 0);
    return bytes.toString('utf8', 0, bytesRead);
  } catch {
    return '';
  } finally {
    await handle.close();
  }
}

/** `s3://bucket/prefix` + `<job>/output/<file>`. */
function outputKey(prefix: string, job: string, file: string): string {
  return `${folderPrefix(prefix)}${job}/output/${file}`;
}

/**
 * SageMaker training jobs, run locally: `CreateTrainingJob` lays out an `/opt/ml` tree (config
 * files, `S3Prefix` channels downloaded in File mode, `sagemaker_submit_directory` code), runs
 * `smkit train` against it as the training image's `train` would run, and uploads `model/` and
 * `output/data/` as `<S3OutputPath>/<job>/output/model.tar.gz` and `output.tar.gz`. Statuses and
 * secondary statuses follow the job as SageMaker reports them.
 */
export class TrainingJobs {
  private readonly runs = new Map<string, Run>();
  private readonly warmPools: WarmPools;
  private readonly metricCompiler = new MetricDefinitionsCompiler();
  /** Set by {@link stopAll}: the jobs it stops are those running then, so no job may start after. */
  private stopping = false;

  constructor(private readonly ctx: TrainingJobsContext) {
    this.warmPools = new WarmPools(() => ctx.store.trainingJobs.values(), ctx.now);
  }

  /** `CreateTrainingJob` (tags are the caller's). Rejects, creating nothing, when the request cannot run here. */
  async create(input: Input): Promise<Output> {
    const { store } = this.ctx;
    const name = String(input.TrainingJobName);
    const arn = store.arn('training-job', name);
    this.checkStopping();
    this.checkName(name, arn);
    this.check(input);
    let metricDefinitions: CompiledMetricDefinition[];
    try {
      // Kept for the job's run, so they are compiled once.
      metricDefinitions = await this.metricCompiler.compile((input.AlgorithmSpecification as AlgorithmSpecification).MetricDefinitions);
    } finally {
      // The local SageMaker may have begun to stop while they compiled (the stop rejects the compile): that answer wins.
      this.checkStopping();
    }
    // Another request may have taken the name while they compiled.
    this.checkName(name, arn);
    const max = this.ctx.maxJobs;
    if (max !== undefined && this.runs.size >= max) {
      throw new AwsServiceError(
        'ResourceLimitExceeded',
        `The account-level service limit 'local instances for training job usage' is ${max} Instances, with current utilization of ${this.runs.size} Instances and a request delta of 1 Instances. Wait for a job to end, or raise SMKIT_LOCAL_MAX_INSTANCES to allow more.`,
        400,
      );
    }
    const output = parseS3Location(String((input.OutputDataConfig as { S3OutputPath: string }).S3OutputPath))!;
    const now = new Date();
    const spec = input.AlgorithmSpecification as AlgorithmSpecification;
    const request: Record<string, unknown> = {
      ...(input.HyperParameters === undefined ? {} : { HyperParameters: input.HyperParameters }),
      AlgorithmSpecification: { EnableSageMakerMetricsTimeSeries: false, ...spec },
      RoleArn: input.RoleArn,
      ...(input.InputDataConfig === undefined
        ? {}
        : {
            InputDataConfig: (input.InputDataConfig as Channel[]).map((c) => ({
              ...c,
              DataSource: { S3DataSource: { S3DataDistributionType: 'FullyReplicated', ...c.DataSource.S3DataSource } },
              CompressionType: c.CompressionType ?? 'None',
              RecordWrapperType: c.RecordWrapperType ?? 'None',
            })),
          }),
      // The service gives KmsKeyId back as '' when none was sent, and the SageMaker Python SDK's
      // Estimator.attach reads it unconditionally (job_details["OutputDataConfig"]["KmsKeyId"]).
      OutputDataConfig: { KmsKeyId: '', ...(input.OutputDataConfig as object) },
      ResourceConfig: { InstanceCount: 1, ...(input.ResourceConfig as object | undefined) },
      StoppingCondition: { MaxRuntimeInSeconds: DEFAULT_MAX_RUNTIME_SECONDS, ...(input.StoppingCondition as object | undefined) },
      ...(input.Environment === undefined ? {} : { Environment: input.Environment }),
      ...(input.CheckpointConfig === undefined ? {} : { CheckpointConfig: input.CheckpointConfig }),
      EnableNetworkIsolation: input.EnableNetworkIsolation === true,
      EnableInterContainerTrafficEncryption: input.EnableInterContainerTrafficEncryption === true,
      EnableManagedSpotTraining: input.EnableManagedSpotTraining === true,
      ...Object.fromEntries(DESCRIBED_AS_SENT.filter((member) => input[member] !== undefined).map((member) => [member, input[member]])),
    };
    const job: TrainingJobRecord = {
      name,
      arn,
      createdAt: now,
      lastModified: now,
      request,
      status: 'InProgress',
      secondaryStatus: 'Starting',
      transitions: [{ status: 'Starting', startedAt: now, message: 'Preparing the instances for training' }],
      modelArtifacts: `s3://${output.bucket}/${outputKey(output.key, name, 'model.tar.gz')}`,
      metricDefinitions,
      warmPoolKey: warmPoolKey(input),
    };
    store.trainingJobs.set(name, job);
    const reused = this.warmPools.claim(job);
    if (reused) this.ctx.log?.('info', 'training job reuses a warm pool', { trainingJob: name, warmPoolOf: reused.name });
    const run: Run = { downloads: new AbortController() };
    this.runs.set(name, run);
    run.done = this.run(job, run)
      .catch((err: unknown) => this.finish(job, 'Failed', 'Failed', 'Training job failed', `InternalServerError: ${(err as Error).message}`))
      .finally(() => {
        run.cancelTimer?.();
        // The name may belong to a newer job by now (the ended one deleted, the name reused).
        if (this.runs.get(name) === run) this.runs.delete(name);
      });
    return { TrainingJobArn: arn };
  }

  /** `ServiceUnavailable` once the local SageMaker is stopping: a job started then would outlive it. */
  private checkStopping(): void {
    if (this.stopping) {
      throw new AwsServiceError('ServiceUnavailable', 'The local SageMaker is stopping and starts no more training jobs: send CreateTrainingJob again once smkit local has been started again.', 503);
    }
  }

  /** `ResourceInUse` when a training job has `name`'s ARN. */
  private checkName(name: string, arn: string): void {
    if (this.ctx.store.taken('training-job', name)) {
      throw new AwsServiceError('ResourceInUse', `Training job names must be unique within an AWS account and region, and a training job with this name already exists (${arn})`, 400);
    }
  }

  /** The checks SageMaker makes past the shapes, and what the local SageMaker cannot run; `MetricDefinitions` are checked as they compile. */
  private check(input: Input): void {
    if (this.ctx.backend !== 'process') {
      throw validation('The local SageMaker runs training jobs on its process backend only (as smkit train processes); start smkit local without --backend docker to run them.');
    }
    // Before AlgorithmSpecification, which a serverless job need not give: its refusal says why.
    if (input.ServerlessJobConfig !== undefined) {
      throw validation('ServerlessJobConfig (a serverless customization of a base model) is not supported by the local SageMaker, which runs training code from a submit directory: give AlgorithmSpecification.TrainingImage and the code instead.');
    }
    // The service registers the trained model in the group (OutputModelPackageArn); the local SageMaker has no model registry.
    const packageGroup = (input.ModelPackageConfig as { ModelPackageGroupArn?: unknown } | undefined)?.ModelPackageGroupArn;
    if (input.ModelPackageConfig !== undefined) {
      throw validation(`ModelPackageConfig${packageGroup === undefined ? '' : ` (group ${String(packageGroup)})`} is not supported by the local SageMaker, which has no model registry to put the trained model in: leave it unset and use ModelArtifacts.S3ModelArtifacts.`);
    }
    const spec = input.AlgorithmSpecification as AlgorithmSpecification | undefined;
    if (spec === undefined) throw validation('AlgorithmSpecification is required: give TrainingImage and TrainingInputMode.');
    if (spec.AlgorithmName !== undefined) {
      throw validation(`AlgorithmSpecification.AlgorithmName "${spec.AlgorithmName}" names an algorithm resource, which the local SageMaker does not have: give a TrainingImage instead.`);
    }
    if (spec.TrainingImage === undefined) throw validation('AlgorithmSpecification.TrainingImage is required: the image whose training code runs.');
    if (spec.ContainerEntrypoint !== undefined || spec.ContainerArguments !== undefined) {
      throw validation('AlgorithmSpecification.ContainerEntrypoint and ContainerArguments are not supported by the local SageMaker, which runs smkit train as the image\'s train command: leave them unset.');
    }
    const resources = input.ResourceConfig as { InstanceCount?: number; InstanceGroups?: unknown[]; TrainingPlanArn?: string } | undefined;
    // The plan must exist in the account, and the local SageMaker has none (ListTrainingJobs' TrainingPlanArnEquals matches no job).
    if (resources?.TrainingPlanArn !== undefined) {
      throw validation(`ResourceConfig.TrainingPlanArn ${resources.TrainingPlanArn} names a training plan, which the local SageMaker does not have (it reserves no capacity): leave it unset.`);
    }
    const count = resources?.InstanceCount;
    if (count !== undefined && count !== 1) throw validation(`ResourceConfig.InstanceCount ${count} is not supported by the local SageMaker, which runs a training job on one instance: use 1.`);
    // A heterogeneous cluster: run as one instance of the default group, its groups' code would find neither its group nor its hosts.
    if (resources?.InstanceGroups !== undefined) {
      throw validation('ResourceConfig.InstanceGroups (a heterogeneous cluster) is not supported by the local SageMaker, which runs a training job on one instance: give InstanceType and InstanceCount 1 instead.');
    }
    if (parseS3Location(String((input.OutputDataConfig as { S3OutputPath: string }).S3OutputPath)) === undefined) {
      throw validation(`OutputDataConfig.S3OutputPath ${String((input.OutputDataConfig as { S3OutputPath: string }).S3OutputPath)} is not an S3 location: use s3://bucket/prefix.`);
    }
    const nul = nulEnvironmentValue(input.Environment as Record<string, string> | undefined, 'Environment');
    if (nul !== undefined) throw validation(nul);
    const stopping = input.StoppingCondition as { MaxRuntimeInSeconds?: number; MaxWaitTimeInSeconds?: number } | undefined;
    const maxWait = stopping?.MaxWaitTimeInSeconds;
    if (maxWait !== undefined) {
      // The service's own words (seen from CreateTrainingJob, Kenza-AI/sagify#111, aws/sagemaker-python-sdk#4140).
      if (input.EnableManagedSpotTraining !== true) throw validation('Invalid MaxWaitTimeInSeconds. It is only supported when EnableManagedSpotTraining is set to true');
      // The service model: it "must be equal to or greater than MaxRuntimeInSeconds" (spot capacity waited for plus the run).
      // Compared only when both are given: nothing public shows the service holding a MaxWaitTimeInSeconds to the default one day.
      const maxRuntime = stopping?.MaxRuntimeInSeconds;
      if (maxRuntime !== undefined && maxWait < maxRuntime) throw validation(`Invalid MaxWaitTimeInSeconds. It must be equal to or greater than MaxRuntimeInSeconds: ${maxWait} is less than ${maxRuntime}.`);
    }
    if ((input.OutputDataConfig as { CompressionType?: string }).CompressionType === 'NONE') {
      throw validation('OutputDataConfig.CompressionType NONE (uncompressed model output) is not supported by the local SageMaker, which uploads model.tar.gz and output.tar.gz: leave it unset or GZIP.');
    }
    const checkpoints = input.CheckpointConfig as { S3Uri: string; LocalPath?: string } | undefined;
    if (checkpoints !== undefined) {
      if (parseS3Location(checkpoints.S3Uri) === undefined) throw validation(`CheckpointConfig.S3Uri ${checkpoints.S3Uri} is not an S3 location: use s3://bucket/prefix.`);
      if (checkpoints.LocalPath !== undefined && checkpoints.LocalPath.replace(/\/+$/, '') !== DEFAULT_CHECKPOINT_PATH) {
        throw validation(`CheckpointConfig.LocalPath ${checkpoints.LocalPath} is not supported by the local SageMaker, which keeps checkpoints in ${DEFAULT_CHECKPOINT_PATH} (SMKIT_CHECKPOINT_DIR): leave it unset.`);
      }
    }
    const seen = new Set<string>();
    for (const c of (input.InputDataConfig as Channel[] | undefined) ?? []) {
      // `.` and `..` pass the API's pattern but name input/data itself or its parent.
      if (c.ChannelName === '.' || c.ChannelName === '..') throw validation(`Channel name "${c.ChannelName}" names a folder, not a channel: use letters, digits, '.', '-' and '_', other than "." and "..".`);
      if (seen.has(c.ChannelName)) throw validation(`Channel names must be unique: "${c.ChannelName}" is given more than once in InputDataConfig.`);
      seen.add(c.ChannelName);
      const mode = c.InputMode ?? spec.TrainingInputMode;
      if (mode === 'Pipe') throw validation(`Channel "${c.ChannelName}" uses Pipe input mode, which the local SageMaker does not stream: use File or FastFile.`);
      if (c.CompressionType === 'Gzip') throw validation(`Channel "${c.ChannelName}": CompressionType Gzip is used only in Pipe input mode; in File mode leave it unset or None.`);
      // The API reference says the same of RecordWrapperType as of CompressionType ("In File mode, leave this field unset or set it
      // to None"): the objects would reach the job unwrapped, where code that reads RecordIO records expects them wrapped.
      if (c.RecordWrapperType === 'RecordIO') {
        throw validation(`Channel "${c.ChannelName}": RecordWrapperType RecordIO (each S3 object wrapped in a RecordIO record) is for Pipe input mode, which the local SageMaker does not stream; in ${mode} mode leave it unset or None, as the API reference says.`);
      }
      const s3 = c.DataSource.S3DataSource;
      if (s3 === undefined) throw validation(`Channel "${c.ChannelName}": the local SageMaker reads channels from an S3DataSource only.`);
      if (s3.S3DataType !== 'S3Prefix') throw validation(`Channel "${c.ChannelName}": S3DataType ${s3.S3DataType} is not supported by the local SageMaker: use S3Prefix.`);
      if (parseS3Location(s3.S3Uri) === undefined) throw validation(`Channel "${c.ChannelName}": S3Uri ${s3.S3Uri} is not an S3 location: use s3://bucket/prefix.`);
    }
  }

  private job(name: string): TrainingJobRecord {
    const found = this.ctx.store.trainingJobs.get(name);
    if (!found) throw notFound();
    return found;
  }

  /** `DescribeTrainingJob`. */
  describe(name: string): Output {
    const j = this.job(name);
    // At least 1, the service model's minimum: a job that failed or was stopped within half a second
    // of its start would otherwise say 0, and the SageMaker Python SDK's logs_for_job (fit(logs=True),
    // attach) divides BillableTimeInSeconds by it for a spot job (ZeroDivisionError).
    const seconds = (from?: Date, to?: Date): number | undefined => (from && to ? Math.max(1, Math.round((to.getTime() - from.getTime()) / 1000)) : undefined);
    const trainingSeconds = seconds(j.trainingStartedAt, j.trainingEndedAt);
    return {
      TrainingJobName: j.name,
      TrainingJobArn: j.arn,
      ModelArtifacts: { S3ModelArtifacts: j.modelArtifacts },
      TrainingJobStatus: j.status,
      SecondaryStatus: j.secondaryStatus,
      ...(j.failureReason === undefined ? {} : { FailureReason: j.failureReason }),
      ...j.request,
      CreationTime: epochSeconds(j.createdAt),
      ...(j.trainingStartedAt ? { TrainingStartTime: epochSeconds(j.trainingStartedAt) } : {}),
      ...(j.trainingEndedAt ? { TrainingEndTime: epochSeconds(j.trainingEndedAt) } : {}),
      LastModifiedTime: epochSeconds(j.lastModified),
      SecondaryStatusTransitions: j.transitions.map((t) => ({
        Status: t.status,
        StartTime: epochSeconds(t.startedAt),
        ...(t.endedAt ? { EndTime: epochSeconds(t.endedAt) } : {}),
        StatusMessage: t.message,
      })),
      ...(trainingSeconds === undefined ? {} : { TrainingTimeInSeconds: trainingSeconds, BillableTimeInSeconds: trainingSeconds }),
      ...this.warmPoolStatus(j),
      ...(j.finalMetrics && j.finalMetrics.size > 0
        ? { FinalMetricDataList: [...j.finalMetrics.entries()].sort(([a], [b]) => a - b).map(([, m]) => ({ MetricName: m.name, Value: m.value, Timestamp: m.at / 1000 })) }
        : {}),
    };
  }

  /** `WarmPoolStatus`, when the job has a warm pool. */
  private warmPoolStatus(j: TrainingJobRecord): Output {
    const status = this.warmPools.describe(j);
    return status === undefined ? {} : { WarmPoolStatus: status };
  }

  /** `ListTrainingJobs`: no local job has a training plan, so `TrainingPlanArnEquals` matches none. */
  list(input: Input): Output {
    const wanted = input.WarmPoolStatusEquals;
    const all =
      input.TrainingPlanArnEquals !== undefined
        ? []
        : [...this.ctx.store.trainingJobs.values()].filter((j) => wanted === undefined || this.warmPools.current(j)?.status === wanted);
    const page = listPage('ListTrainingJobs', all, input as ListInput, (j) => ({ name: j.name, createdAt: j.createdAt, lastModified: j.lastModified, status: j.status }), { statusAfterPage: true });
    return {
      TrainingJobSummaries: page.items.map((j) => ({
        TrainingJobName: j.name,
        TrainingJobArn: j.arn,
        CreationTime: epochSeconds(j.createdAt),
        ...(j.trainingEndedAt ? { TrainingEndTime: epochSeconds(j.trainingEndedAt) } : {}),
        LastModifiedTime: epochSeconds(j.lastModified),
        TrainingJobStatus: j.status,
        SecondaryStatus: j.secondaryStatus,
        ...this.warmPoolStatus(j),
      })),
      ...(page.nextToken ? { NextToken: page.nextToken } : {}),
    };
  }

  /** `StopTrainingJob`: `Stopping` now; `SIGTERM` to the job, which is `Stopped` once it has ended and uploaded. */
  stop(name: string): Output {
    const j = this.job(name);
    const run = this.runs.get(name);
    if (j.status !== 'InProgress' || !run) throw validation(`The request was rejected because the training job is in status ${j.status}.`);
    this.requestStop(j, run, 'Stopped');
    return {};
  }

  /**
   * `UpdateTrainingJob`: only the warm-pool keep-alive, Debugger profiling and remote debugging can
   * be changed. The keep-alive of an `Available` warm pool is changed (0 terminates it); a local job
   * has no Debugger or remote debugging, so those are refused naming why; a request that changes
   * nothing answers the job's ARN.
   */
  update(input: Input): Output {
    const name = String(input.TrainingJobName);
    const j = this.ctx.store.trainingJobs.get(name);
    if (!j) throw notFound();
    if (input.ProfilerConfig !== undefined || input.ProfilerRuleConfigurations !== undefined) {
      throw validation('ProfilerConfig and ProfilerRuleConfigurations cannot be updated: the local SageMaker has no SageMaker Debugger (CreateTrainingJob accepts and ignores its profiler settings). Leave them unset.');
    }
    if (input.RemoteDebugConfig !== undefined) {
      throw validation(
        `RemoteDebugConfig cannot be updated: the local SageMaker has no remote debugging through AWS Systems Manager. The job is a local smkit train process; its output is in ${join(this.ctx.workDir, 'logs', `training-job-${j.name}.log`)}. Leave RemoteDebugConfig unset.`,
      );
    }
    // Checked after the refusals above, so a refused request changes nothing.
    const keepAlive = (input.ResourceConfig as { KeepAlivePeriodInSeconds: number } | undefined)?.KeepAlivePeriodInSeconds;
    if (keepAlive !== undefined && !this.warmPools.update(j, keepAlive)) {
      const pool = this.warmPools.current(j)?.status;
      throw validation(
        `Training job "${j.arn}" ${pool === undefined ? 'has no warm pool' : `has a warm pool that is ${pool}`}: KeepAlivePeriodInSeconds can be updated only while a job's warm pool is Available, from when the job ends with a KeepAlivePeriodInSeconds above 0 until a matching job reuses the pool or the keep-alive runs out. Leave ResourceConfig unset.`,
      );
    }
    if (keepAlive !== undefined) j.lastModified = new Date();
    return { TrainingJobArn: j.arn };
  }

  /**
   * `DeleteTrainingJob`: a job that has ended (`Completed`, `Failed`, `Stopped`) is forgotten and
   * its local tree removed, so the name can be used again; one in progress, or one that retains an
   * `Available` warm pool (the service model: only jobs that "don't retain an Available managed
   * warm pool" can be deleted), is `ResourceInUse`.
   */
  async delete(name: string): Promise<Output> {
    const j = this.ctx.store.trainingJobs.get(name);
    if (!j) throw notFound();
    if (j.status === 'InProgress' || j.status === 'Stopping') {
      throw new AwsServiceError('ResourceInUse', `Training job "${j.arn}" is in status ${j.status}: only a Completed, Failed or Stopped job can be deleted. Stop it first (StopTrainingJob).`, 400);
    }
    if (this.warmPools.current(j)?.status === 'Available') {
      throw new AwsServiceError(
        'ResourceInUse',
        `Training job "${j.arn}" retains an Available warm pool, and a job can be deleted only once it does not: terminate the pool with UpdateTrainingJob (ResourceConfig.KeepAlivePeriodInSeconds 0), or wait until its keep-alive has passed or a matching job reuses it.`,
        400,
      );
    }
    this.ctx.store.trainingJobs.delete(name);
    let root: string;
    try {
      root = join(this.ctx.workDir, 'training', name);
    } catch {
      return {}; // A work folder that cannot be made (a full disk) holds nothing of the job's.
    }
    await rm(root, { recursive: true, force: true });
    return {};
  }

  /** Stops every running job (the local SageMaker is stopping) and waits for them to end. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    const running = [...this.runs.entries()];
    for (const [name, run] of running) {
      const j = this.ctx.store.trainingJobs.get(name);
      if (j && j.status === 'InProgress') this.requestStop(j, run, 'Stopped');
    }
    await Promise.all([...running.map(([, run]) => run.done), this.metricCompiler.stop()]);
  }

  private requestStop(j: TrainingJobRecord, run: Run, why: 'Stopped' | 'MaxRuntimeExceeded'): void {
    if (run.stop) return;
    run.stop = why;
    run.downloads.abort(new Error(`StopTrainingJob (${why})`));
    j.status = 'Stopping';
    this.transition(j, 'Stopping', why === 'MaxRuntimeExceeded' ? 'Stopping the training job: it reached MaxRuntimeInSeconds' : 'Stopping the training job');
    void run.child?.stop(this.killAfterMs());
  }

  /** Past `smkit train`'s own grace (it forwards SIGTERM, then kills the entry point): kill it. */
  private killAfterMs(): number {
    return ((this.ctx.graceSeconds ?? MAX_TRAIN_GRACE_SECONDS) + 10) * 1000;
  }

  private transition(j: TrainingJobRecord, status: string, message: string): void {
    const now = new Date();
    const last = j.transitions.at(-1);
    if (last && last.endedAt === undefined) last.endedAt = now;
    j.transitions.push({ status, startedAt: now, message });
    j.secondaryStatus = status;
    j.lastModified = now;
  }

  /** Ends a job its stop ended, at whatever step: the last transition names the limit when `MaxRuntimeInSeconds` stopped it. */
  private stopped(j: TrainingJobRecord, why: 'Stopped' | 'MaxRuntimeExceeded'): void {
    this.finish(j, 'Stopped', why, why === 'MaxRuntimeExceeded' ? 'Training job stopped: it exceeded MaxRuntimeInSeconds' : 'Training job stopped');
  }

  private finish(j: TrainingJobRecord, status: 'Completed' | 'Failed' | 'Stopped', secondary: string, message: string, failureReason?: string): void {
    const now = new Date();
    this.transition(j, secondary, message);
    j.transitions.at(-1)!.endedAt = now;
    j.status = status;
    if (failureReason !== undefined) j.failureReason = startAndEnd(failureReason, MAX_FAILURE_REASON);
    j.trainingEndedAt ??= now;
    j.lastModified = now;
    // AWS keeps a warm pool after a job that completed, was stopped once its instances were up, or
    // failed with an algorithm or client error; not after an internal error.
    const healthy = status === 'Completed' || (status === 'Stopped' ? j.trainingStartedAt !== undefined : !j.failureReason?.startsWith('InternalServerError'));
    this.warmPools.release(j, healthy);
    this.ctx.log?.('info', `training job ${status.toLowerCase()}`, { trainingJob: j.name, ...(failureReason === undefined ? {} : { failureReason: j.failureReason }) });
  }

  private async run(j: TrainingJobRecord, run: Run): Promise<void> {
    // The input data downloaded here before any process starts needs no tracking of its own: the
    // work folder it is in started the reaper when it was made, and is kept or removed as a whole.
    await this.runIn(join(this.ctx.workDir, 'training', j.name), j, run);
  }

  private async runIn(root: string, j: TrainingJobRecord, run: Run): Promise<void> {
    const paths = trainingPaths(join(root, 'opt', 'ml'));
    const req = j.request as { HyperParameters?: Record<string, string>; InputDataConfig?: Channel[]; OutputDataConfig: { S3OutputPath: string; KmsKeyId?: string }; StoppingCondition: { MaxRuntimeInSeconds: number } };
    const checkpoints = this.checkpointSync(j, root, paths);
    try {
      await this.layOut(j, paths);
      if (run.stop) return this.stopped(j, run.stop);
      j.trainingStartedAt = new Date();
      const maxRuntimeMs = req.StoppingCondition.MaxRuntimeInSeconds * 1000;
      run.cancelTimer = (this.ctx.timer ?? realTimer)(maxRuntimeMs, () => this.requestStop(j, run, 'MaxRuntimeExceeded'));
      this.transition(j, 'Downloading', 'Downloading input data');
      for (const c of req.InputDataConfig ?? []) await this.downloadChannel(c, paths, run, j.name);
      // Where smkit train looks for the code: the hyperparameter first, then the environment variable.
      const submitHp = hyperparameterString(req.HyperParameters?.['sagemaker_submit_directory']);
      const submit = submitHp ?? (j.request.Environment as Record<string, string> | undefined)?.['SAGEMAKER_SUBMIT_DIRECTORY'];
      await this.downloadCode(submit, submitHp === undefined ? 'SAGEMAKER_SUBMIT_DIRECTORY' : 'sagemaker_submit_directory', root, paths, run.downloads.signal);
      await checkpoints?.restore(() => run.stop !== undefined, run.downloads.signal);
    } catch (err) {
      // A download the stop closed part-way is the stop, not a failure.
      if (run.stop) return this.stopped(j, run.stop);
      return this.finish(j, 'Failed', 'Failed', 'Training job failed', `ClientError: ${(err as Error).message}`);
    }
    if (run.stop) return this.stopped(j, run.stop);

    this.transition(j, 'Training', 'Training image download completed. Training in progress.');
    checkpoints?.start();
    // If the process cannot even be started, the periodic sync must not outlive the job.
    const exit = await this.train(j, paths, run).finally(() => checkpoints?.stop());
    // MaxRuntimeInSeconds bounds the training: the archiving and uploading after it do not count
    // (API_StoppingCondition: the 30-day total includes "time spent ... archiving and uploading
    // models after it has been stopped"), so a job that ended in time is not stopped while it uploads.
    run.cancelTimer?.();
    try {
      await checkpoints?.finish();
    } catch (err) {
      return this.finish(j, 'Failed', 'Failed', 'Training job failed', `ClientError: Could not upload the checkpoints to ${(j.request.CheckpointConfig as { S3Uri: string }).S3Uri} (CheckpointConfig.S3Uri): ${(err as Error).message}`);
    }
    const out = parseS3Location(req.OutputDataConfig.S3OutputPath)!;
    // The service encrypts the model artifacts "at rest using Amazon S3 server-side encryption" with it. An empty key is no key.
    const kmsKeyId = req.OutputDataConfig.KmsKeyId || undefined;
    const uploadOutputs = async (): Promise<void> => {
      await this.upload(paths.model, out.bucket, outputKey(out.key, j.name, 'model.tar.gz'), root, paths.base, kmsKeyId);
      await this.upload(paths.outputData, out.bucket, outputKey(out.key, j.name, 'output.tar.gz'), root, paths.base, kmsKeyId);
    };
    if (exit.code !== 0 && !run.stop) {
      // A failure file the job made a link out of its tree (to a host file) is not read, as such folders are not uploaded.
      const failureFile = await jobFolder(paths.failureFile, paths.base, { create: false });
      if (failureFile === undefined) this.ctx.log?.('warn', "the failure file leads out of the job's tree or nowhere (a symbolic link); it is not read", { trainingJob: j.name, file: paths.failureFile });
      const written = failureFile === undefined ? '' : (await readFailureStart(failureFile, MAX_FAILURE_REASON)).trimEnd();
      const code = exit.code ?? 128 + (os.constants.signals[exit.signal as NodeJS.Signals] ?? 0);
      // SageMaker uploads what a failed job saved too (the SageMaker Python SDK's local mode copies it, aws/sagemaker-python-sdk#746);
      // the algorithm's error stays the reason when that upload fails.
      await uploadOutputs().catch((err: unknown) => this.ctx.log?.('warn', 'could not upload the output of a failed training job', { trainingJob: j.name, error: (err as Error).message }));
      // SageMaker's form, "AlgorithmError: <failure file>, exit code: <n>"; the file is cut so the code still fits in 1024 characters.
      const suffix = `, exit code: ${code}`;
      const head = 'AlgorithmError: ';
      return this.finish(j, 'Failed', 'Failed', 'Training job failed', `${head}${firstChars(written, MAX_FAILURE_REASON - head.length - suffix.length)}${suffix}`);
    }

    this.transition(j, 'Uploading', 'Uploading generated training model');
    try {
      await uploadOutputs();
    } catch (err) {
      // A local S3 server without a KMS refuses SSE-KMS uploads: say where the key comes from.
      const sse = kmsKeyId === undefined ? '' : ` with SSE-KMS key ${kmsKeyId} (OutputDataConfig.KmsKeyId; an S3 server without KMS refuses such uploads: leave KmsKeyId out of the job there)`;
      return this.finish(j, 'Failed', 'Failed', 'Training job failed', `ClientError: Could not upload the training output to ${req.OutputDataConfig.S3OutputPath}${sse}: ${(err as Error).message}`);
    }
    if (run.stop) return this.stopped(j, run.stop);
    this.finish(j, 'Completed', 'Completed', 'Training job completed');
  }

  /** The `/opt/ml` tree and its config files (`checkpointconfig.json` with a `CheckpointConfig`), as SageMaker writes them. */
  private async layOut(j: TrainingJobRecord, paths: TrainingPaths): Promise<void> {
    const req = j.request as { HyperParameters?: Record<string, string>; InputDataConfig?: Channel[]; AlgorithmSpecification: AlgorithmSpecification; ResourceConfig: { InstanceType?: string } };
    for (const dir of [paths.inputConfig, paths.inputData, paths.model, paths.outputData, paths.code, paths.checkpoints]) await mkdir(dir, { recursive: true });
    const channels = Object.fromEntries(
      (req.InputDataConfig ?? []).map((c) => [
        c.ChannelName,
        {
          ...(c.ContentType === undefined ? {} : { ContentType: c.ContentType }),
          TrainingInputMode: c.InputMode ?? req.AlgorithmSpecification.TrainingInputMode,
          S3DistributionType: c.DataSource.S3DataSource?.S3DataDistributionType ?? 'FullyReplicated',
          RecordWrapperType: c.RecordWrapperType ?? 'None',
        },
      ]),
    );
    const instanceType = req.ResourceConfig.InstanceType ?? 'local';
    const resources = {
      current_host: 'algo-1',
      current_instance_type: instanceType,
      current_group_name: 'homogeneousCluster',
      hosts: ['algo-1'],
      instance_groups: [{ instance_group_name: 'homogeneousCluster', instance_type: instanceType, hosts: ['algo-1'] }],
      network_interface_name: 'eth0',
    };
    await writeFile(paths.hyperparametersFile, JSON.stringify(req.HyperParameters ?? {}));
    await writeFile(paths.inputDataConfigFile, JSON.stringify(channels));
    await writeFile(paths.resourceConfigFile, JSON.stringify(resources));
    // SageMaker writes this beside the others when the job has a CheckpointConfig; SageMaker
    // Debugger (smdebug's state_store.py) finds the checkpoint folder through its LocalPath.
    const checkpoints = j.request.CheckpointConfig as { S3Uri: string } | undefined;
    if (checkpoints !== undefined) await writeFile(join(paths.inputConfig, 'checkpointconfig.json'), JSON.stringify({ LocalPath: paths.checkpoints, S3Uri: checkpoints.S3Uri }));
  }

  /** Every object under an `S3Prefix` channel's prefix, into `input/data/<channel>/` (File mode; FastFile reads the same files). */
  private async downloadChannel(c: Channel, paths: TrainingPaths, run: Run, jobName: string): Promise<void> {
    const uri = c.DataSource.S3DataSource!.S3Uri;
    const { bucket, key: prefix } = parseS3Location(uri)!;
    const dir = resolve(paths.inputData, c.ChannelName);
    await mkdir(dir, { recursive: true });
    const signal = run.downloads.signal;
    let listed: string[];
    try {
      listed = await this.ctx.s3().list(bucket, prefix, { signal });
    } catch (err) {
      if (signal.aborted) throw err;
      // Said as a checkpoint listing failure is: S3's own message names neither the channel nor its URI.
      throw new Error(`Could not list the objects of channel "${c.ChannelName}" under ${uri}: ${(err as Error).message}`, { cause: err });
    }
    const keys = listed.filter((k) => !k.endsWith('/'));
    if (keys.length === 0) {
      throw new Error(`No S3 objects found under S3 URL "${uri}" given in input data source. Please ensure that the bucket exists in the selected region and that objects exist under that S3 prefix.`);
    }
    const { files, clash } = keyFiles(dir, keys, (key) => channelFile(prefix, key));
    // Keys whose `..` segments lead out of the channel's folder are not downloaded (they would be
    // written elsewhere in the job's tree or on the host); a channel of nothing else would train on an empty folder.
    const kept = new Set(files.map((f) => f.key));
    const leftOut = keys.filter((k) => !kept.has(k));
    if (leftOut.length > 0 && files.length === 0) {
      throw new Error(`None of the ${keys.length} S3 objects under "${uri}" can be downloaded into channel "${c.ChannelName}": the key of each, past the prefix, names no file in the channel's folder (that of s3://${bucket}/${leftOut[0]} ${leftOutWhy(dir, channelFile(prefix, leftOut[0]!))}). Rename the objects to keys with a file name past the prefix, without '.' or '..' segments.`);
    }
    if (leftOut.length > 0) {
      this.ctx.log?.('warn', `S3 objects whose keys name the channel's folder itself ('.') or lead out of it ('..' segments) are not downloaded`, { trainingJob: jobName, channel: c.ChannelName, count: leftOut.length, first: `s3://${bucket}/${leftOut[0]}` });
    }
    if (clash !== undefined) {
      throw new Error(`The S3 object s3://${bucket}/${clash.file.key} would be a file where s3://${bucket}/${clash.folder.key} needs a folder in channel "${c.ChannelName}", whose objects are downloaded under their keys after the prefix of "${uri}": rename one of them.`);
    }
    for (const { key, file } of files) {
      if (run.stop) return;
      try {
        await mkdir(dirname(file), { recursive: true });
        await pipeToFile(await this.ctx.s3().get(bucket, key, { signal }), createWriteStream(file), { signal });
      } catch (err) {
        if (signal.aborted) throw err;
        // S3's message (Access Denied) names neither the object nor the channel, the file system's (ENAMETOOLONG) not the object.
        throw new Error(`Could not download s3://${bucket}/${key} of channel "${c.ChannelName}" to ${file}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  /** The job's checkpoint folder kept in step with `CheckpointConfig.S3Uri`, when it has one. */
  private checkpointSync(j: TrainingJobRecord, root: string, paths: TrainingPaths): CheckpointSync | undefined {
    const config = j.request.CheckpointConfig as { S3Uri: string } | undefined;
    if (config === undefined) return undefined;
    const { bucket, key } = parseS3Location(config.S3Uri)!;
    return new CheckpointSync({ s3: this.ctx.s3, bucket, prefix: folderPrefix(key), dir: paths.checkpoints, scratch: join(root, 'checkpoint.upload'), base: paths.base, job: j.name, ...(this.ctx.log ? { log: this.ctx.log } : {}) });
  }

  /**
   * An `s3://` submit directory (the SDK's `sourcedir.tar.gz`), extracted into `code/`, and so is an
   * archive under `/opt/ml` that a channel put in the tree (a network-isolated job's `code` channel,
   * `/opt/ml/input/data/code/sourcedir.tar.gz`): both come from S3 and are checked alike. Other
   * local ones are read by `smkit train` itself.
   */
  private async downloadCode(submit: string | undefined, source: string, root: string, paths: TrainingPaths, signal: AbortSignal): Promise<void> {
    if (submit === undefined) return;
    const location = parseS3Location(submit);
    if (!location) {
      const given = submit.replace(/^file:\/\//, '');
      const local = inTree(paths, given);
      if (local === given || !/\.(tar\.gz|tgz|tar)$/.test(local) || !(await stat(local).then((st) => st.isFile(), () => false))) return;
      return this.extractCode(local, submit, source, paths, signal);
    }
    const archive = join(root, 'sourcedir.tar.gz');
    try {
      await pipeToFile(await this.ctx.s3().get(location.bucket, location.key, { signal }), createWriteStream(archive), { signal });
    } catch (err) {
      throw new Error(`Could not download the training code from ${submit}: ${(err as Error).message}`, { cause: err });
    }
    try {
      await this.extractCode(archive, submit, source, paths, signal);
    } finally {
      await rm(archive, { force: true });
    }
  }

  /** The code archive `archive` (given as `submit` by `source`) into `code/`. */
  private async extractCode(archive: string, submit: string, source: string, paths: TrainingPaths, signal: AbortSignal): Promise<void> {
    try {
      // Checked and bounded as a model.tar.gz is: a gzip bomb or an archive bigger than the free
      // space fills no disk, and no entry is written outside code/.
      await extractModelArchive(archive, paths.code, { signal });
    } catch (err) {
      if (signal.aborted) throw err;
      const cause = (err as Error).cause as { code?: string; message?: string } | undefined;
      const what = cause?.code === 'TAR_BAD_ARCHIVE' ? `it is not a tar or tar.gz archive (${cause.message})` : isToolkitError(err) ? `${err.code}: ${err.message}` : (err as Error).message;
      throw new Error(`Could not extract the training code from ${submit} (${source}): ${what}. Upload the code folder as a tar.gz, as the SageMaker Python SDK's sourcedir.tar.gz is.`, { cause: err });
    }
  }

  /** Runs `smkit train` against the tree, with the job's environment, until it exits. */
  private async train(j: TrainingJobRecord, paths: TrainingPaths, run: Run): Promise<{ code: number | null; signal: string | null }> {
    const environment = (j.request.Environment as Record<string, string> | undefined) ?? {};
    const logFile = join(this.ctx.workDir, 'logs', `training-job-${j.name}.log`);
    // Started afresh: a job created again under the name of a deleted one is another job, whose log
    // must not follow the old one's output (its CloudWatch stream is a new one too). Capped: its head and its tail are kept.
    const log = await CappedLogFile.open(logFile, this.ctx.logFileCap ?? TRAINING_LOG_CAP);
    const child = spawn(process.execPath, [this.ctx.bin ?? SMKIT_BIN, 'train', '--base-dir', paths.base, ...(this.ctx.graceSeconds === undefined ? [] : ['--grace-seconds', String(this.ctx.graceSeconds)])], {
      cwd: paths.base,
      env: trainingJobEnv(inheritedChildEnv(), environment, j, this.ctx.store.region),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const closed = new Promise<void>((resolveClosed) => child.once('close', () => resolveClosed()));
    const endLog = pipeChildOutput([child.stdout, child.stderr], log, (err) => this.ctx.log?.('warn', `training job ${j.name}: its log file ${logFile} failed (${err.message}); the job's output is no longer written there`, { trainingJob: j.name }));
    if (this.ctx.logs) {
      const sink = trainingJobLogs(this.ctx.logs, j.name);
      tapLines(child.stdout, sink);
      tapLines(child.stderr, sink);
    }
    const metrics = this.metrics(j);
    if (metrics) {
      const sink = (line: string): void => metrics.line(line);
      tapLines(child.stdout, sink);
      tapLines(child.stderr, sink);
    }
    // Should this process end without stopping the job, the reaper stops it, with smkit train's own grace.
    const release = child.pid === undefined ? () => {} : trackChildProcess(child.pid, false, this.killAfterMs());
    run.child = trackExit(child, () => {
      release();
      endLog();
    });
    // A stop that came while the process was being started.
    if (run.stop) void run.child.stop(this.killAfterMs());
    await run.child.exitPromise;
    if (metrics) {
      // The last lines may still be in the pipes at exit; a process the entry point left behind may hold them open, hence the bound.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise<void>((resolveLate) => (timer = setTimeout(resolveLate, OUTPUT_DRAIN_MS)))]);
      clearTimeout(timer);
      // The job ends with FinalMetricDataList complete.
      await metrics.close();
    }
    return run.child.exited ?? { code: null, signal: null };
  }

  /** The job's `MetricDefinitions` applied to its output, when it has any; their latest values become its `FinalMetricDataList`. */
  private metrics(j: TrainingJobRecord): TrainingMetrics | undefined {
    const definitions = j.metricDefinitions ?? [];
    if (definitions.length === 0) return undefined;
    const metrics = new TrainingMetrics({
      jobName: j.name,
      definitions,
      ...(this.ctx.metrics ? { metrics: this.ctx.metrics } : {}),
      ...(this.ctx.log ? { log: this.ctx.log } : {}),
      ...(this.ctx.metricRegexBudgetMs === undefined ? {} : { budgetMs: this.ctx.metricRegexBudgetMs }),
    });
    j.finalMetrics = metrics.final;
    return metrics;
  }

  /** `dir` as a `.tar.gz` at `s3://bucket/key`, encrypted with `kmsKeyId` when given; an empty folder is an empty archive. */
  private async upload(given: string, bucket: string, key: string, root: string, base: string, kmsKeyId: string | undefined): Promise<void> {
    const sse = kmsKeyId === undefined ? {} : { kmsKeyId };
    // The job may have put a link in the folder's place: one out of its tree is left out, as a link inside the folder is.
    const dir = await jobFolder(given, base);
    if (dir === undefined) {
      this.ctx.log?.('warn', "a training output folder leads out of the job's tree or nowhere (the job replaced it, or a folder above it, with a symbolic link); it is uploaded as an empty archive", { archive: key, folder: given });
    }
    // Or with a file (or a FIFO), or a folder above it with a file (then it is not there: it cannot
    // be made under a file): there is no folder to pack, and its read would fail the job's upload with ENOTDIR.
    const found = dir === undefined ? undefined : await stat(dir).catch(() => undefined);
    const folder = found?.isDirectory() === true;
    if (dir !== undefined && !folder) {
      const why = found === undefined ? 'the job replaced a folder above it with a file' : 'the job replaced it with a file';
      this.ctx.log?.('warn', `a training output folder is not a folder (${why}); it is uploaded as an empty archive`, { archive: key, folder: given });
    }
    if (dir === undefined || !folder || (await readdir(dir)).length === 0) return this.ctx.s3().put(bucket, key, gzipSync(EMPTY_TAR), 'application/x-tar', sse);
    const archive = join(root, `${basename(key)}.upload`);
    // A training job's output is uploaded whatever its size and names, as SageMaker does; what hosts it is checked there.
    // Links are followed only inside the folder: one to a host file or folder (the job runs as this
    // process's user, outside any container) must not put it in S3, nor one to nowhere fail the upload.
    const onLinkLeftOut = (link: string, why: string): void => this.ctx.log?.('warn', 'a symbolic link in the training output is left out of its archive', { archive: key, link, why });
    // A file removed after it was listed (by a process the job left running) was not meant to be kept: left out, not a failed upload.
    const onVanished = (file: string): void => this.ctx.log?.('warn', 'a file of the training output was removed while it was being archived; it is left out', { archive: key, file });
    await createModelArchive(dir, archive, { maxEntries: Infinity, maxDirectories: Infinity, maxFolderLevels: Infinity, checkNames: false, onLinkLeftOut, onVanished });
    try {
      await this.ctx.s3().putFile(bucket, key, archive, 'application/x-tar', sse);
    } finally {
      await rm(archive, { force: true });
    }
  }

}

import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rm, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { startAndEnd } from '../../errors/text-cut.js';
import { nulEnvironmentValue } from '../../aws/container-environment.js';
import { pipeToFile } from '../../fs/pipe-to-file.js';
import type { ContainerDefinition, Tag } from '../../aws/shapes/sagemaker.js';
import { validateInput, type ShapeRule } from '../../aws/shapes/validate.js';
import { AwsServiceError, validationException as validation } from '../../aws/service.js';
import { partitionOf } from '../../aws/partition.js';
import { s3FolderPrefix as folderPrefix, parseS3Location } from '../../aws/s3-location.js';
import { isToolkitError, ToolkitError } from '../../errors/catalogue.js';
import { MAX_JSON_DEPTH, jsonNestsDeeperThan } from '../../codecs/json-depth.js';
import type { ContainerBackend } from '../backends/backend.js';
import { gpusOf } from '../backends/gpu.js';
import { InstanceStartError, instanceLauncher, isModelArchiveFailure } from '../fleet/instance-launcher.js';
import { ModelDataError, resolveModelData } from '../fleet/model-data.js';
import type { ModelDataHolds } from '../fleet/model-data-holds.js';
import { fileWhereFolder } from '../s3/file-and-folder.js';
import type { S3Objects } from '../s3/objects.js';
import { batchEnv, MAX_PAYLOAD_MB } from '../transform/command.js';
import { compileDataProcessing, parseJsonPath, type DataProcessing } from '../transform/data-processing.js';
import { parseBatchStrategy, type ExecutionParameters } from '../transform/parameters.js';
import { LONGEST_OUTPUT_SUFFIX, MAX_FILE_BYTES, NAME_MAX, outputWhereFolder, runTransform, type TransformSummary } from '../transform/run.js';
import { MAX_MANIFEST_BYTES } from '../transform/manifest.js';
import { AnswerSpoolError } from '../transform/answers.js';
import { epochSeconds, listPage, type ListInput } from './listing.js';
import type { ControlPlaneStore } from './store.js';
import { checkRequestTags } from './tags.js';
import type { LogStore } from './logs/log-store.js';
import type { LineSink } from '../backends/line-tap.js';
import type { EndpointLog } from '../endpoint/local-endpoint.js';
import { transformJobInstanceLogs } from './logs/sagemaker-logs.js';
import { settledWithin, untilAborted } from './settling.js';

type Input = Record<string, unknown>;
type Output = Record<string, unknown>;

/** `TransformJobStatus`. */
export type TransformJobStatus = 'InProgress' | 'Completed' | 'Failed' | 'Stopping' | 'Stopped';

const JOB_NAME: ShapeRule = { kind: 'string', min: 1, max: 63, pattern: '[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}' };
const S3_URI: ShapeRule = { kind: 'string', min: 0, max: 1024, pattern: '(https|s3)://([^/]+)/?(.*)' };
const KMS_KEY: ShapeRule = { kind: 'string', min: 0, max: 2048, pattern: '[a-zA-Z0-9:/_-]*' };
const JSON_PATH: ShapeRule = { kind: 'string', min: 0, max: 63 };
const STATUS: ShapeRule = { kind: 'string', enum: ['InProgress', 'Completed', 'Failed', 'Stopping', 'Stopped'] };
/** `ExperimentEntityName`: the names of `ExperimentConfig`, which Describe echoes. */
const EXPERIMENT_ENTITY: ShapeRule = { kind: 'string', min: 1, max: 120, pattern: '[a-zA-Z0-9](-*[a-zA-Z0-9]){0,119}' };
const TAG_TEXT = '([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)';

/** Input shapes of the transform-job operations (botocore `sagemaker/2017-07-24/service-2.json`). */
export const TRANSFORM_JOB_INPUTS: Readonly<Record<string, ShapeRule & { kind: 'structure' }>> = {
  CreateTransformJob: {
    kind: 'structure',
    required: ['TransformJobName', 'ModelName', 'TransformInput', 'TransformOutput', 'TransformResources'],
    members: {
      TransformJobName: JOB_NAME,
      ModelName: { kind: 'string', min: 0, max: 63, pattern: '[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?' },
      // No maximum in the model: a value past the 32-bit integer is a SerializationException (validate.ts).
      MaxConcurrentTransforms: { kind: 'integer', min: 0 },
      ModelClientConfig: {
        kind: 'structure',
        members: { InvocationsTimeoutInSeconds: { kind: 'integer', min: 1, max: 3600 }, InvocationsMaxRetries: { kind: 'integer', min: 0, max: 3 } },
      },
      MaxPayloadInMB: { kind: 'integer', min: 0 },
      BatchStrategy: { kind: 'string', enum: ['MultiRecord', 'SingleRecord'] },
      Environment: {
        kind: 'map',
        min: 0,
        max: 16,
        key: { kind: 'string', min: 0, max: 1024, pattern: '[a-zA-Z_][a-zA-Z0-9_]{0,1023}' },
        value: { kind: 'string', min: 0, max: 10240, pattern: '[\\S\\s]*' },
      },
      TransformInput: {
        kind: 'structure',
        required: ['DataSource'],
        members: {
          DataSource: {
            kind: 'structure',
            required: ['S3DataSource'],
            members: {
              S3DataSource: {
                kind: 'structure',
                required: ['S3DataType', 'S3Uri'],
                members: { S3DataType: { kind: 'string', enum: ['ManifestFile', 'S3Prefix', 'AugmentedManifestFile', 'Converse'] }, S3Uri: S3_URI },
              },
            },
          },
          ContentType: { kind: 'string', min: 0, max: 256, pattern: '.*' },
          CompressionType: { kind: 'string', enum: ['None', 'Gzip'] },
          SplitType: { kind: 'string', enum: ['None', 'Line', 'RecordIO', 'TFRecord'] },
        },
      },
      TransformOutput: {
        kind: 'structure',
        required: ['S3OutputPath'],
        members: { S3OutputPath: S3_URI, Accept: { kind: 'string', min: 0, max: 256, pattern: '.*' }, AssembleWith: { kind: 'string', enum: ['None', 'Line'] }, KmsKeyId: KMS_KEY },
      },
      DataCaptureConfig: { kind: 'structure', required: ['DestinationS3Uri'], members: { DestinationS3Uri: S3_URI, KmsKeyId: KMS_KEY, GenerateInferenceId: { kind: 'boolean' } } },
      TransformResources: {
        kind: 'structure',
        required: ['InstanceType', 'InstanceCount'],
        // InstanceType's long enum (instance families) is not repeated here: locally every type runs the same; the shape is the one CreateEndpointConfig checks.
        members: {
          InstanceType: { kind: 'string', pattern: 'ml\\.[a-z0-9-]+\\.[a-z0-9]+' },
          InstanceCount: { kind: 'integer', min: 1 },
          VolumeKmsKeyId: KMS_KEY,
          TransformAmiVersion: { kind: 'string', min: 1, max: 63, pattern: '[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*' },
        },
      },
      DataProcessing: { kind: 'structure', members: { InputFilter: JSON_PATH, OutputFilter: JSON_PATH, JoinSource: { kind: 'string', enum: ['Input', 'None'] } } },
      ExperimentConfig: { kind: 'structure', members: { ExperimentName: EXPERIMENT_ENTITY, TrialName: EXPERIMENT_ENTITY, TrialComponentDisplayName: EXPERIMENT_ENTITY, RunName: EXPERIMENT_ENTITY } },
      Tags: {
        kind: 'list',
        min: 0,
        max: 50,
        member: { kind: 'structure', required: ['Key', 'Value'], members: { Key: { kind: 'string', min: 1, max: 128, pattern: TAG_TEXT }, Value: { kind: 'string', min: 0, max: 256, pattern: TAG_TEXT } } },
      },
    },
  },
  DescribeTransformJob: { kind: 'structure', required: ['TransformJobName'], members: { TransformJobName: JOB_NAME } },
  StopTransformJob: { kind: 'structure', required: ['TransformJobName'], members: { TransformJobName: JOB_NAME } },
  ListTransformJobs: {
    kind: 'structure',
    members: {
      CreationTimeAfter: { kind: 'timestamp' },
      CreationTimeBefore: { kind: 'timestamp' },
      LastModifiedTimeAfter: { kind: 'timestamp' },
      LastModifiedTimeBefore: { kind: 'timestamp' },
      NameContains: { kind: 'string', min: 0, max: 63, pattern: '[a-zA-Z0-9\\-]+' },
      StatusEquals: STATUS,
      SortBy: { kind: 'string', enum: ['Name', 'CreationTime', 'Status'] },
      SortOrder: { kind: 'string', enum: ['Ascending', 'Descending'] },
      NextToken: { kind: 'string', min: 0, max: 8192 },
      MaxResults: { kind: 'integer', min: 1, max: 100 },
    },
  },
};

/** A `CreateTransformJob` as stored, with its status. */
interface TransformJob {
  name: string;
  arn: string;
  createdAt: Date;
  lastModified: Date;
  status: TransformJobStatus;
  failureReason?: string;
  startedAt?: Date;
  endedAt?: Date;
  /** The request's members as Describe echoes them. */
  request: Input;
  stop: AbortController;
  done: Promise<void>;
}

/** What the transform jobs need of the local SageMaker. */
export interface TransformJobsContext {
  store: ControlPlaneStore<unknown>;
  backend: ContainerBackend;
  /** The local SageMaker's work folder: each job's input, output and container go under it. */
  workDir: string;
  startupTimeoutMs: number;
  /** Most instances the running jobs may take together, each job its `InstanceCount` (`SMKIT_LOCAL_MAX_INSTANCES`). @defaultValue unlimited */
  maxInstances?: number;
  s3: () => S3Objects;
  progress?: (line: string) => void;
  /** The local CloudWatch Logs: the job's container output goes to its stream in `/aws/sagemaker/TransformJobs`. */
  logs?: LogStore;
  /** Where a job's warnings go (a container's `/execution-parameters` lowered to what a transform job allows). */
  log?: EndpointLog;
  /** Counts the jobs and deployments using each downloaded model data version (see `DeploymentContext.modelData`). */
  modelData?: ModelDataHolds;
  /** Largest `ManifestFile` manifest object read (tests lower it). @defaultValue `MAX_MANIFEST_BYTES` (64 MiB) */
  maxManifestBytes?: number;
}

/** A job that ends as `Failed`, with the `FailureReason` it gets. */
class JobFailure extends Error {}

/**
 * A job's `FailureReason`: at most 1024 characters (`FailureReason` in the service model), cut
 * between characters in its middle, so that the cause at its end stays (a key near 1 KB is what is cut).
 */
export function transformFailureReason(text: string): string {
  return startAndEnd(text, 1024);
}


/**
 * What a transform job itself reports, written to an instance's data-log stream once its share of
 * the input has run: the parameters it ran with (`[sagemaker logs]: MaxConcurrentTransforms=1,
 * MaxPayloadInMB=6, BatchStrategy=MULTI_RECORD`), then one line per failed record, naming its input
 * object (`prefix` + the file's path), the record and the error. The `FailureReason` quotes only the first.
 */
function writeDataLog(sink: LineSink | undefined, summary: TransformSummary, prefix: string, suffixes: ReadonlyMap<string, string>): void {
  if (!sink) return;
  const p = summary.parameters;
  sink(`[sagemaker logs]: MaxConcurrentTransforms=${p.maxConcurrentTransforms}, MaxPayloadInMB=${p.maxPayloadInMB}, BatchStrategy=${p.batchStrategy}`);
  for (const f of summary.failed) {
    sink(`[sagemaker logs]: ${prefix}${suffixes.get(f.file) ?? f.file}: record ${f.record}: ${f.status ? `HTTP ${f.status}: ${f.error}` : apiWording(f.error)}`);
  }
}

/** `--input-filter` and the like, as the runner's messages name them, in the API's names. */
function apiWording(message: string): string {
  const names: Record<string, string> = {
    '--input-filter': 'DataProcessing.InputFilter',
    '--output-filter': 'DataProcessing.OutputFilter',
    '--join-source': 'DataProcessing.JoinSource',
    '--content-type': 'TransformInput.ContentType',
    '--split-type': 'TransformInput.SplitType',
    '--assemble-with': 'TransformOutput.AssembleWith',
    '--accept': 'TransformOutput.Accept',
    '--compression-type': 'TransformInput.CompressionType',
    '--strategy': 'BatchStrategy',
    '--timeout': 'ModelClientConfig.InvocationsTimeoutInSeconds',
  };
  return message.replace(/--(input-filter|output-filter|join-source|content-type|split-type|assemble-with|accept|compression-type|strategy|timeout)\b/g, (m) => names[m] ?? m);
}


/**
 * How long `CreateTransformJob` waits for S3 to list the input prefix before it answers, so that an
 * empty prefix or a missing bucket is refused in the call as the service refuses it, while an S3
 * that does not answer leaves the listing (and its failure) to the job.
 */
const LISTING_WAIT_MS = 2_000;

/** The service's `ValidationException` for a prefix with no objects, `why` appended. */
function noObjects(s3Uri: string, why: string): string {
  return `No S3 objects found under S3 URL "${s3Uri}" given in input data source. Please ensure that the bucket exists and that objects exist under that S3 prefix${why}.`;
}

/**
 * Whether `err` is S3 refusing the request (a 4xx: a missing bucket, access denied), which says
 * the input is wrong; not a connection that failed or timed out, nor S3 failing (a 5xx).
 */
function answeredByS3(err: unknown): boolean {
  const status = (err as { $metadata?: { httpStatusCode?: unknown } } | undefined)?.$metadata?.httpStatusCode;
  return typeof status === 'number' && status >= 400 && status < 500;
}

/**
 * The object's body, or the abort's reason as soon as `signal` aborts (a stopped job does not wait
 * on S3); a body that still comes after the abort is destroyed, so its connection is not left open.
 */
function getUntilAborted(s3: S3Objects, bucket: string, key: string, signal: AbortSignal): ReturnType<S3Objects['get']> {
  return untilAborted(s3.get(bucket, key, { signal }), signal, (body) => body.destroy());
}

/** Downloads of an input object whose body breaks off part-way, before the job fails: the SDK's own 3 attempts of a request. */
const DOWNLOAD_ATTEMPTS = 3;
/** The system calls of a file being written: an error of one of them is the disk's, not S3's. */
const FILE_SYSCALLS = new Set(['open', 'write', 'writev', 'close', 'fsync', 'ftruncate']);

/**
 * An object the job begins to write, and whether its key held an object before the job wrote it
 * (or S3 would not say): such a key a stop never deletes, as that object may be another job's output
 * the PUT, cut short, never replaced.
 */
type S3Object = { bucket: string; key: string; existed: boolean };
/** Deletes a stopped job sends S3 at once. */
const REMOVE_AT_ONCE = 8;

/** `TransformResources.InstanceCount` of a (validated) `CreateTransformJob` request. */
function instanceCountOf(request: Input): number {
  return (request.TransformResources as { InstanceCount: number }).InstanceCount;
}

/** A key's path below the input prefix, when it is one the runner can read as a file (no empty, `.` or `..` segment). */
function safeRelative(rel: string): boolean {
  return rel !== '' && rel.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/** `rel` without the slashes it starts with: a key past the prefix of `batch//a.csv` under `batch/` is `a.csv`. */
function pastSlashes(rel: string): string {
  return rel.replace(/^\/+/, '');
}

/**
 * `JobFailure` for two input objects that would be downloaded to one file, and whose outputs would
 * be one object: keys that differ only in the slashes after the prefix (`batch/a.csv` and `batch//a.csv`).
 */
function refuseSameRel(objects: readonly InputObject[]): void {
  const seen = new Map<string, InputObject>();
  for (const o of objects) {
    const first = seen.get(o.rel);
    if (first !== undefined) {
      throw new JobFailure(`ClientError: The input objects s3://${first.bucket}/${first.key} and s3://${o.bucket}/${o.key} differ only in the slashes after the prefix, which separate a key's name from the prefix: both would be transformed as ${o.rel}, into one output object ${o.rel}.out; rename or move one of them.`);
    }
    seen.set(o.rel, o);
  }
}

/** An input object to download: where it is, and its path under the job's input folder. */
type InputObject = { bucket: string; key: string; rel: string };

/**
 * `JobFailure` for an input object whose key after the prefix has a part no local name can hold:
 * a folder part over {@link NAME_MAX} bytes, or an object name with no room for the `.out` (and
 * `.out.partial.<n>`) the runner names after it. S3 keys have no such limit; the file system would
 * refuse it part-way, after the objects before it were downloaded (or the model started), with its
 * own error and the local path.
 */
function refuseLongNames(objects: readonly InputObject[]): void {
  const most = NAME_MAX - LONGEST_OUTPUT_SUFFIX.length;
  for (const o of objects) {
    const parts = o.rel.split('/');
    const name = parts.pop()!;
    const folder = parts.find((p) => Buffer.byteLength(p) > NAME_MAX);
    if (folder !== undefined) {
      throw new JobFailure(`ClientError: The input object s3://${o.bucket}/${o.key} has a part of ${Buffer.byteLength(folder)} bytes after the prefix: the local SageMaker downloads each object into a folder under its key after the prefix, and a file or folder name may have at most ${NAME_MAX} bytes; rename it.`);
    }
    if (Buffer.byteLength(name) > most) {
      throw new JobFailure(
        `ClientError: The input object s3://${o.bucket}/${o.key} has a name of ${Buffer.byteLength(name)} bytes after its last '/': the local SageMaker writes its output under that name with ${LONGEST_OUTPUT_SUFFIX.length} bytes more (<name>.out, and <name>.out.partial.<n> while it is written), and a file name may have at most ${NAME_MAX} bytes; rename it to at most ${most} bytes.`,
      );
    }
  }
}

/**
 * `JobFailure` for input objects of which one would be written as a file where another's path needs
 * a folder (`a.csv` and `a.csv/b.csv`): the downloads would fail with the file system's error
 * (EISDIR or EEXIST, naming the local folder), the second an `InternalServerError`.
 */
function refuseFileAndFolder(objects: readonly InputObject[]): void {
  const clash = fileWhereFolder(objects, (o) => o.rel);
  if (clash === undefined) return;
  const { file, folder } = clash;
  throw new JobFailure(
    `ClientError: The input object s3://${file.bucket}/${file.key} would be a file where the input object s3://${folder.bucket}/${folder.key} needs a folder: the local SageMaker downloads the input objects into a folder, under their keys after the prefix; rename one of them.`,
  );
}

/**
 * `JobFailure` for input objects of which the output of one would be a file where another's output
 * needs a folder (`a.csv` and `a.csv.out/b.csv`: `a.csv.out` and `a.csv.out/b.csv.out`, two keys S3
 * holds, but one local output folder cannot): the runner would refuse them only once every object
 * was downloaded and the model started, in `smkit local transform`'s words (`--output=...`).
 */
function refuseOutputWhereFolder(objects: readonly InputObject[]): void {
  const clash = outputWhereFolder(objects.map((o) => o.rel));
  if (clash === undefined) return;
  const file = objects.find((o) => o.rel === clash.file)!;
  const folder = objects.find((o) => o.rel === clash.folder)!;
  throw new JobFailure(
    `ClientError: The input objects s3://${file.bucket}/${file.key} and s3://${folder.bucket}/${folder.key} cannot be transformed in one job: the local SageMaker writes each object's output into a local folder before it uploads it, and the first's output (${file.rel}.out) would be a file where the second's (${folder.rel}.out) needs a folder; rename or move one of them.`,
  );
}

/**
 * Batch transform jobs of the local SageMaker: `CreateTransformJob` reads its input from S3
 * (`S3Prefix` or a `ManifestFile`), starts the model's container as an endpoint starts it (with the
 * job's `Environment` and the batch variables), runs the same runner as `smkit local transform`
 * and writes `<key>.out` objects under `S3OutputPath`. `InstanceCount` instances (no more than there
 * are input objects) share the objects, each counted against `SMKIT_LOCAL_MAX_INSTANCES`.
 */
export class TransformJobs {
  private readonly jobs = new Map<string, TransformJob>();
  /** Set by {@link stopAll}: the jobs it stops are those running then, so no job may start after. */
  private stopping = false;
  /** The stop controllers of create calls still listing their input, which {@link stopAll} cuts short. */
  private readonly creating = new Set<AbortController>();

  constructor(private readonly ctx: TransformJobsContext) {}

  /** The operations to add to the SageMaker service's dispatch table. */
  operations(): Record<string, (input: Input) => Promise<Output> | Output> {
    const checked =
      (op: string, fn: (i: Input) => Promise<Output> | Output) =>
      (i: Input): Promise<Output> | Output => {
        validateInput(i, TRANSFORM_JOB_INPUTS[op]!);
        return fn(i);
      };
    return {
      CreateTransformJob: checked('CreateTransformJob', (i) => this.create(i)),
      DescribeTransformJob: checked('DescribeTransformJob', (i) => this.describe(i)),
      ListTransformJobs: checked('ListTransformJobs', (i) => this.list(i)),
      StopTransformJob: checked('StopTransformJob', (i) => this.stopJob(i)),
    };
  }

  /** Whether `arn` is a transform job's ARN here (jobs are never deleted, so every job created so far). */
  has(arn: string): boolean {
    return [...this.jobs.values()].some((j) => j.arn === arn);
  }

  private arn(name: string): string {
    return `arn:${partitionOf(this.ctx.store.region)}:sagemaker:${this.ctx.store.region}:${this.ctx.store.accountId}:transform-job/${name.toLowerCase()}`;
  }

  private job(name: string): TransformJob {
    const found = this.jobs.get(name);
    // A ValidationException, which the SDK waiter TransformJobCompletedOrStopped takes as a failure.
    if (!found) throw validation(`Could not find requested job with name ${name}`);
    return found;
  }

  private async create(input: Input): Promise<Output> {
    this.checkStopping();
    const name = String(input.TransformJobName);
    const lower = name.toLowerCase();
    if ([...this.jobs.keys()].some((k) => k.toLowerCase() === lower)) {
      throw new AwsServiceError('ResourceInUse', `Job name must be unique within an AWS account and region, and a job with this name already exists (${this.arn(name)})`, 400);
    }
    checkRequestTags(input.Tags as Tag[] | undefined);
    const modelName = String(input.ModelName);
    const model = this.ctx.store.models.get(modelName);
    if (!model) throw validation(`Could not find model "${this.ctx.store.arn('model', modelName)}".`);
    if (model.containers.length !== 1 || model.containers[0]!.Mode === 'MultiModel') {
      throw validation(`Model ${modelName} has ${model.containers.length} containers${model.containers[0]?.Mode === 'MultiModel' ? ' in MultiModel mode' : ''}; the local SageMaker runs transform jobs on a single-container, single-model model.`);
    }
    const tin = input.TransformInput as { DataSource: { S3DataSource: { S3DataType: string; S3Uri: string } }; ContentType?: string; CompressionType?: 'None' | 'Gzip'; SplitType?: 'None' | 'Line' | 'RecordIO' | 'TFRecord' };
    const tout = input.TransformOutput as { S3OutputPath: string; Accept?: string; AssembleWith?: 'None' | 'Line' };
    const source = tin.DataSource.S3DataSource;
    if (source.S3DataType !== 'S3Prefix' && source.S3DataType !== 'ManifestFile') {
      // "The following values are compatible: ManifestFile, S3Prefix" (TransformS3DataSource): not a local limit.
      throw validation(`S3DataType ${source.S3DataType} is not compatible with transform jobs: TransformInput.DataSource.S3DataSource.S3DataType takes S3Prefix or ManifestFile, as the API reference lists the compatible values.`);
    }
    const inputAt = parseS3Location(source.S3Uri);
    if (!inputAt) throw validation(`S3Uri ${source.S3Uri} is not an S3 location: use s3://bucket/prefix or an Amazon S3 https:// URL.`);
    if (!parseS3Location(tout.S3OutputPath)) throw validation(`S3OutputPath ${tout.S3OutputPath} is not an S3 location: use s3://bucket/prefix or an Amazon S3 https:// URL.`);
    const capture = input.DataCaptureConfig as { DestinationS3Uri: string } | undefined;
    if (capture && !parseS3Location(capture.DestinationS3Uri)) throw validation(`DataCaptureConfig.DestinationS3Uri ${capture.DestinationS3Uri} is not an S3 location: use s3://bucket/prefix or an Amazon S3 https:// URL.`);
    const nul = nulEnvironmentValue(input.Environment as Record<string, string> | undefined, 'Environment');
    if (nul !== undefined) throw validation(nul);
    const payload = input.MaxPayloadInMB as number | undefined;
    const concurrent = (input.MaxConcurrentTransforms as number | undefined) || undefined;
    if (payload !== undefined && payload > MAX_PAYLOAD_MB) throw validation(`MaxPayloadInMB must be at most ${MAX_PAYLOAD_MB} (got ${payload}).`);
    if (payload !== undefined && concurrent !== undefined && payload * concurrent > MAX_PAYLOAD_MB) {
      throw validation(`MaxConcurrentTransforms × MaxPayloadInMB must be at most ${MAX_PAYLOAD_MB} MB (got ${concurrent} × ${payload} = ${concurrent * payload}); lower one of them.`);
    }
    const dpIn = input.DataProcessing as { InputFilter?: string; OutputFilter?: string; JoinSource?: 'None' | 'Input' } | undefined;
    const dataProcessing: DataProcessing = {
      ...(dpIn?.InputFilter !== undefined ? { inputFilter: dpIn.InputFilter } : {}),
      ...(dpIn?.JoinSource !== undefined ? { joinSource: dpIn.JoinSource } : {}),
      ...(dpIn?.OutputFilter !== undefined ? { outputFilter: dpIn.OutputFilter } : {}),
    };
    try {
      if (dataProcessing.inputFilter !== undefined) parseJsonPath(dataProcessing.inputFilter, 'DataProcessing.InputFilter');
      if (dataProcessing.outputFilter !== undefined) parseJsonPath(dataProcessing.outputFilter, 'DataProcessing.OutputFilter');
      if (tin.ContentType) {
        compileDataProcessing(dataProcessing, { contentType: tin.ContentType, ...(tout.Accept ? { accept: tout.Accept } : {}), splitType: tin.SplitType ?? 'None', assembleWith: tout.AssembleWith ?? 'None' });
      }
    } catch (err) {
      if (err instanceof ToolkitError) throw validation(apiWording(err.message));
      throw err;
    }
    // Made before the listing starts, so that stopping the job (or refusing the call) closes it.
    const stop = new AbortController();
    let listing: Promise<string[]> | undefined;
    if (source.S3DataType === 'S3Prefix') {
      // The service refuses an empty prefix in the call itself; an S3 that is slow, silent or not
      // running must not hold the call (up to 3 × SMKIT_LOCAL_S3_TIMEOUT_SECONDS): the job gets the
      // listing, and fails on it.
      listing = this.ctx
        .s3()
        .list(inputAt.bucket, inputAt.key, { signal: stop.signal })
        .then((keys) => keys.filter((k) => !k.endsWith('/')));
      listing.catch(() => {});
      this.creating.add(stop);
      let early: Awaited<ReturnType<typeof settledWithin<string[]>>>;
      try {
        early = await settledWithin(listing, LISTING_WAIT_MS);
      } finally {
        this.creating.delete(stop);
      }
      // The local SageMaker may have begun to stop while S3 was listed: a job started now would outlive it.
      if (this.stopping) {
        stop.abort();
        this.checkStopping();
      }
      if (early?.ok && early.value.length === 0) throw validation(noObjects(source.S3Uri, ''));
      if (early && !early.ok && answeredByS3(early.error)) throw validation(noObjects(source.S3Uri, ` (S3 answered: ${(early.error as Error).message})`));
    }
    // A refused call closes the listing it started.
    const refuse = (err: Error): never => {
      stop.abort();
      throw err;
    };
    // Checked again: another create of the same name may have finished while S3 was listed.
    if ([...this.jobs.keys()].some((k) => k.toLowerCase() === lower)) {
      refuse(new AwsServiceError('ResourceInUse', `Job name must be unique within an AWS account and region, and a job with this name already exists (${this.arn(name)})`, 400));
    }
    const max = this.ctx.maxInstances;
    const wanted = instanceCountOf(input);
    const used = [...this.jobs.values()].filter((j) => j.status === 'InProgress' || j.status === 'Stopping').reduce((n, j) => n + instanceCountOf(j.request), 0);
    if (max !== undefined && used + wanted > max) {
      refuse(
        new AwsServiceError(
          'ResourceLimitExceeded',
          `The account-level service limit 'local instances for transform job usage' is ${max} Instances, with current utilization of ${used} Instances and a request delta of ${wanted} Instances. ` +
            (wanted > max ? `Ask for at most ${max} (TransformResources.InstanceCount), or raise SMKIT_LOCAL_MAX_INSTANCES.` : 'Raise SMKIT_LOCAL_MAX_INSTANCES, or wait for a job to end.'),
          400,
        ),
      );
    }
    const now = new Date();
    const job: TransformJob = { name, arn: this.arn(name), createdAt: now, lastModified: now, status: 'InProgress', request: input, stop, done: Promise.resolve() };
    this.jobs.set(name, job);
    job.done = this.run(job, model.containers[0]!, dataProcessing, listing);
    return { TransformJobArn: job.arn };
  }

  private setStatus(job: TransformJob, status: TransformJobStatus, failureReason?: string): void {
    job.status = status;
    job.lastModified = new Date();
    if (failureReason !== undefined) job.failureReason = transformFailureReason(failureReason);
  }

  /** Runs a job to its end; never rejects. */
  private async run(job: TransformJob, container: ContainerDefinition, dataProcessing: DataProcessing, listing: Promise<string[]> | undefined): Promise<void> {
    const signal = job.stop.signal;
    const req = job.request;
    const tin = req.TransformInput as { DataSource: { S3DataSource: { S3DataType: string; S3Uri: string } }; ContentType?: string; CompressionType?: 'None' | 'Gzip'; SplitType?: 'None' | 'Line' | 'RecordIO' | 'TFRecord' };
    const tout = req.TransformOutput as { S3OutputPath: string; Accept?: string; AssembleWith?: 'None' | 'Line' };
    const client = req.ModelClientConfig as { InvocationsTimeoutInSeconds?: number; InvocationsMaxRetries?: number } | undefined;
    let root = '';
    let stopContainers: (() => Promise<void>) | undefined;
    /** Output and capture objects the job has begun to write: removed when it is stopped, which stores no output. */
    const written: S3Object[] = [];
    // The job's model data is held until its containers have stopped.
    const modelData = this.ctx.modelData?.lease();
    job.startedAt = new Date();
    try {
      // Reading the work folder's path may make it, which may fail (a full disk): the job fails.
      root = join(this.ctx.workDir, 'transform-jobs', job.name);
      const inputDir = join(root, 'input');
      const outputDir = join(root, 'output');
      // With SplitType None an uncompressed object is one record, which the runner refuses from its
      // size past the job's MaxPayloadInMB (or, with 0 and DataProcessing, past the 2 GiB it reads
      // at once): such an object is not downloaded. With 0 (or none) and no DataProcessing it may be
      // streamed whatever its size, so it is downloaded whole.
      const payloadMB = req.MaxPayloadInMB as number | undefined;
      const processing = parseJsonPath(dataProcessing.inputFilter ?? '$', 'InputFilter').length > 0 || parseJsonPath(dataProcessing.outputFilter ?? '$', 'OutputFilter').length > 0 || dataProcessing.joinSource === 'Input';
      // Without MaxPayloadInMB the container's /execution-parameters may say 0 too.
      const limit = payloadMB ? payloadMB * 1024 * 1024 : processing ? MAX_FILE_BYTES : undefined;
      const oneRecordOver = (tin.SplitType ?? 'None') === 'None' && tin.CompressionType !== 'Gzip' ? limit : undefined;
      const { rels: files, prefix: inputPrefix, suffixes } = await this.download(tin.DataSource.S3DataSource, inputDir, signal, listing, oneRecordOver);
      const capture = req.DataCaptureConfig as { DestinationS3Uri: string; KmsKeyId?: string; GenerateInferenceId?: boolean } | undefined;
      signal.throwIfAborted();
      const parameters: Partial<ExecutionParameters> = {};
      if (req.BatchStrategy !== undefined) parameters.batchStrategy = parseBatchStrategy(String(req.BatchStrategy))!;
      if (req.MaxPayloadInMB !== undefined) parameters.maxPayloadInMB = req.MaxPayloadInMB as number;
      // 0 is "not set": the container's /execution-parameters, then 1, decide.
      if (req.MaxConcurrentTransforms) parameters.maxConcurrentTransforms = req.MaxConcurrentTransforms as number;
      let modelSource: string;
      try {
        // With the job's signal: StopTransformJob does not wait for the model data to download.
        modelSource = await resolveModelData(container.ModelDataUrl, 'SingleModel', join(this.ctx.workDir, 'model-data'), this.ctx.s3, modelData, signal);
      } catch (err) {
        if (err instanceof ModelDataError) throw new JobFailure(`ClientError: ${err.message}`);
        throw err;
      }
      const logsDir = join(this.ctx.workDir, 'logs');
      /** Each instance's data-log stream, by its index (the local CloudWatch Logs on). */
      const dataLogs = new Map<number, LineSink>();
      const launch = instanceLauncher(
        {
          backend: this.ctx.backend,
          workDir: join(root, 'instances'),
          logsDir,
          startupTimeoutMs: this.ctx.startupTimeoutMs,
          signal,
          ...(this.ctx.progress ? { progress: this.ctx.progress } : {}),
          ...(this.ctx.logs ? { instanceLogs: transformJobInstanceLogs(this.ctx.logs, job.name, dataLogs) } : {}),
        },
        `transform-job/${job.name}`,
        [
          {
            hostname: 'primary',
            ...(container.Image === undefined ? {} : { image: container.Image }),
            // The job's Environment over the model's, then the batch variables SageMaker sets.
            env: { ...(container.Environment ?? {}), ...((req.Environment as Record<string, string> | undefined) ?? {}), ...batchEnv(parameters) },
            modelSource,
            // An archive that cannot be extracted is named by its URL, not by smkit's local copy.
            ...(container.ModelDataUrl?.startsWith('s3://') ? { modelUrl: container.ModelDataUrl } : {}),
            mode: 'SingleModel',
            ...gpusOf((req.TransformResources as { InstanceType: string }).InstanceType),
          },
        ],
      );
      // The service spreads the input objects over the job's instances ("one instance might process
      // input1.csv, and the other instance might process ... input2.csv"), each taking up to
      // MaxConcurrentTransforms requests at once; an instance with no object would stay idle (one
      // starts even for a manifest that lists nothing, so a model that cannot start still fails the job).
      const count = Math.max(1, Math.min(instanceCountOf(req), files.length));
      const launched = await Promise.allSettled(Array.from({ length: count }, (_, i) => launch(i, signal)));
      const instances = launched.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      stopContainers = async () => void (await Promise.all(instances.flatMap((instance) => instance.containers.map((c) => c.stop(5_000).catch(() => {})))));
      const notStarted = launched.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (notStarted) {
        const err: unknown = notStarted.reason;
        if (err instanceof InstanceStartError) throw new JobFailure(`ClientError: The model container did not pass the ping health check: it ${err.reason}.${err.logTail ? ` Last log lines: ${err.logTail}` : ''}`);
        // The model data is the user's to fix, as when it cannot be downloaded.
        if (isModelArchiveFailure(err) && !signal.aborted) throw new JobFailure(`ClientError: ${err.message}`);
        throw err;
      }
      await mkdir(root, { recursive: true });
      // Object k goes to instance k mod count: each instance gets its share, in the job's order.
      const runs = await Promise.allSettled(
        instances.map(async (instance, i) => {
          const manifest = join(root, `manifest-${i}.json`);
          await writeFile(manifest, JSON.stringify([{ prefix: inputDir }, ...files.filter((_, k) => k % count === i)]));
          return runTransform({
            input: manifest,
            output: outputDir,
            url: instance.chain[0]!.url,
            s3DataType: 'ManifestFile',
            // Written here from a listing or a manifest already read: not the user's to keep small.
            maxManifestBytes: Number.POSITIVE_INFINITY,
            ...(tin.ContentType ? { contentType: tin.ContentType } : {}),
            ...(tout.Accept ? { accept: tout.Accept } : {}),
            splitType: tin.SplitType ?? 'None',
            assembleWith: tout.AssembleWith ?? 'None',
            ...(tin.CompressionType ? { compressionType: tin.CompressionType } : {}),
            dataProcessing,
            parameters,
            ...(capture?.GenerateInferenceId ? { inferenceIds: { time: job.startedAt!.toISOString().replace(/\.\d{3}Z$/, 'Z') } } : {}),
            ...(client?.InvocationsTimeoutInSeconds === undefined ? {} : { timeoutMs: client.InvocationsTimeoutInSeconds * 1000 }),
            ...(client?.InvocationsMaxRetries === undefined ? {} : { retries: client.InvocationsMaxRetries }),
            signal,
            warn: (message) => {
              this.ctx.log?.('warn', `transform job ${job.name}: ${message}`, { job: job.name });
              // Also where the job's user looks: its instance's data-log stream.
              dataLogs.get(i)?.(`[sagemaker logs]: ${message}`);
            },
          });
        }),
      );
      const broken = runs.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (broken) {
        const err: unknown = broken.reason;
        // The job's local output folder refusing a file (a full disk) is not smkit local transform's --output flag: the folder and the file system's error are named.
        // So is a spool file there refusing a large answer (AnswerSpoolError, which names the file).
        const unwritable = err instanceof ToolkitError && err.details?.['flag'] === '--output' && err.details['problem'] !== undefined ? String(err.details['problem']) : err instanceof AnswerSpoolError ? err.message : undefined;
        if (unwritable !== undefined && !signal.aborted) {
          throw new JobFailure(`ClientError: Could not write the job's output into ${outputDir}, the local SageMaker's work folder for it (on the disk of the machine running smkit local; it is uploaded to S3OutputPath from there): ${unwritable}`);
        }
        // Framing the runner refuses for a file (DataProcessing on a content type it cannot read) fails the job in its words.
        if (err instanceof ToolkitError && !signal.aborted) throw new JobFailure(`ClientError: ${apiWording(err.message)}`);
        throw err;
      }
      const summaries = (runs as PromiseFulfilledResult<TransformSummary>[]).map((r) => r.value);
      // Every failed record, not only the FailureReason's first, in the data-log stream of the instance that sent it.
      summaries.forEach((summary, i) => writeDataLog(dataLogs.get(i), summary, inputPrefix, suffixes));
      const order = new Map(files.map((f, k) => [f, k]));
      const summary = {
        records: summaries.reduce((n, x) => n + x.records, 0),
        failed: summaries.flatMap((x) => x.failed).sort((a, b) => order.get(a.file)! - order.get(b.file)! || a.record - b.record),
      };
      signal.throwIfAborted();
      // An empty key is no key.
      const uploaded = await this.upload(tout.S3OutputPath, outputDir, signal, (req.TransformOutput as { KmsKeyId?: string }).KmsKeyId || undefined, written, (req.TransformOutput as { Accept?: string }).Accept || undefined);
      signal.throwIfAborted();
      if (capture) await this.writeCapture(job, capture, { prefix: inputPrefix, keys: files.map((f) => suffixes.get(f) ?? f) }, uploaded, signal, written);
      signal.throwIfAborted();
      if (summary.failed.length > 0) {
        const first = summary.failed[0]!;
        const failedFiles = [...new Set(summary.failed.map((f) => f.file))];
        throw new JobFailure(
          `AlgorithmError: ${summary.failed.length} of ${summary.records} records failed in ${failedFiles.length} input file(s), which got no .out object; the other files' output was written. ` +
            // A record's error is the runner's, which names smkit local transform's flags: the job's reason names the API's members.
            `First: ${first.file} record ${first.record}: ${first.status ? `HTTP ${first.status}: ` : ''}${first.status ? first.error : apiWording(first.error)}`,
        );
      }
      job.endedAt = new Date();
      this.setStatus(job, 'Completed');
    } catch (err) {
      // "When you stop a batch transform job before it is completed, Amazon SageMaker doesn't store
      // the job's output in Amazon S3" (StopTransformJob): a stop during the upload takes back what it wrote.
      if (signal.aborted) await this.removeWritten(job, written);
      job.endedAt = new Date();
      if (signal.aborted) this.setStatus(job, 'Stopped');
      else if (err instanceof JobFailure) this.setStatus(job, 'Failed', err.message);
      else this.setStatus(job, 'Failed', `InternalServerError: ${(err as Error).message}`);
    } finally {
      await stopContainers?.();
      modelData?.release();
      if (root !== '') await rm(root, { recursive: true, force: true }).catch(() => {});
    }
  }

  /**
   * Downloads the job's input objects into `dir`; returns their paths relative to it, in the order
   * they are transformed. `listing` is the `S3Prefix` listing `CreateTransformJob` started. An
   * object longer than `refuseOver` bytes is not downloaded: a sparse file of its length stands in
   * for it, which the runner refuses from its size without reading it.
   */
  private async download(source: { S3DataType: string; S3Uri: string }, dir: string, signal: AbortSignal, listing: Promise<string[]> | undefined, refuseOver?: number): Promise<{ rels: string[]; prefix: string; suffixes: Map<string, string> }> {
    const at = parseS3Location(source.S3Uri)!;
    const s3 = this.ctx.s3();
    let objects: InputObject[];
    /** What the relative paths are relative to, as an s3:// URI. */
    let base: string;
    if (source.S3DataType === 'ManifestFile') {
      const chunks: Buffer[] = [];
      const cap = this.ctx.maxManifestBytes ?? MAX_MANIFEST_BYTES;
      let total = 0;
      try {
        const body = await getUntilAborted(s3, at.bucket, at.key, signal);
        // Refused from the length S3 gives, else once more than the cap has come: never held whole.
        if (body.contentLength !== undefined && body.contentLength > cap) total = body.contentLength;
        else {
          for await (const c of body) {
            chunks.push(c as Buffer);
            total += (c as Buffer).length;
            if (total > cap) break;
          }
        }
        body.destroy();
      } catch (err) {
        if (signal.aborted) throw err;
        throw new JobFailure(`ClientError: Could not read the manifest file at ${source.S3Uri} (TransformInput.DataSource.S3DataSource.S3Uri): ${(err as Error).message}`);
      }
      if (total > cap) {
        throw new JobFailure(`ClientError: The manifest file at ${source.S3Uri} is larger than ${cap} bytes, the most the local SageMaker reads of a manifest; split its objects over several jobs, or use S3Prefix.`);
      }
      let manifest: unknown;
      const text = Buffer.concat(chunks).toString('utf8');
      // An element is quoted in the FailureReason (JSON.stringify, which recurses); JSON.parse takes seconds over millions of brackets.
      if (jsonNestsDeeperThan(text)) throw new JobFailure(`ClientError: Could not read the manifest file at ${source.S3Uri} as JSON (it nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep).`);
      try {
        manifest = JSON.parse(text);
      } catch (err) {
        throw new JobFailure(`ClientError: Could not read the manifest file at ${source.S3Uri} as JSON (${(err as Error).message}).`);
      }
      const [head, ...entries] = Array.isArray(manifest) ? (manifest as unknown[]) : [];
      const prefix = typeof head === 'object' && head !== null ? (head as { prefix?: unknown }).prefix : undefined;
      const prefixAt = typeof prefix === 'string' ? parseS3Location(prefix) : undefined;
      if (!prefixAt) throw new JobFailure(`ClientError: The manifest file at ${source.S3Uri} must be a JSON array starting with {"prefix": "s3://bucket/prefix/"} followed by keys relative to it.`);
      base = `s3://${prefixAt.bucket}/${prefixAt.key}`;
      // The manifest's keys are a set ("the complete set of S3Uris in this manifest"): a key listed
      // twice is transformed once, as two runs of it would write the same .out at once.
      const listed = new Set<string>();
      objects = entries.flatMap((e, i) => {
        // The service "appends the suffix elements to the prefix": a suffix starting with '/' is the key prefix + '/…'
        // (some/prefix//a.csv), whose leading slashes separate it from the prefix, as a path join makes of them.
        if (typeof e !== 'string' || pastSlashes(e) === '') throw new JobFailure(`ClientError: Element ${i + 1} of the manifest file at ${source.S3Uri} (${JSON.stringify(e)}) is not a key relative to its prefix.`);
        // a//b.csv is a key S3 holds (it was "not a key relative to its prefix"): what stops it is the local folder, as for a listed one.
        if (!safeRelative(pastSlashes(e))) throw new JobFailure(`ClientError: The input object s3://${prefixAt.bucket}/${prefixAt.key + e} (element ${i + 1} of the manifest file at ${source.S3Uri}) has a key the local SageMaker cannot write as a file (an empty, "." or ".." part after the prefix); rename it.`);
        if (listed.has(e)) return [];
        listed.add(e);
        return [{ bucket: prefixAt.bucket, key: prefixAt.key + e, rel: pastSlashes(e) }];
      });
    } else {
      // Output keys keep the input key's part after the prefix's last '/'.
      const cut = at.key.lastIndexOf('/') + 1;
      base = `s3://${at.bucket}/${at.key.slice(0, cut)}`;
      let keys: string[];
      try {
        keys = await untilAborted(listing ?? s3.list(at.bucket, at.key, { signal }).then((ks) => ks.filter((k) => !k.endsWith('/'))), signal);
      } catch (err) {
        if (signal.aborted) throw err;
        if (answeredByS3(err)) throw new JobFailure(`ClientError: ${noObjects(source.S3Uri, ` (S3 answered: ${(err as Error).message})`)}`);
        const message = (err as Error).message.replace(/\.$/, '');
        // A timeout's, a dropped connection's or too many keys' message already says what to check.
        const check = ['TimeoutError', 'ConnectionClosedError'].includes((err as Error).name) || isToolkitError(err) ? '' : ' Check that S3 is running and reachable at AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL), where the local SageMaker reads its input.';
        throw new JobFailure(`ClientError: Could not list the input objects under S3 URL "${source.S3Uri}" (TransformInput.DataSource.S3DataSource.S3Uri): ${message}.${check}`);
      }
      if (keys.length === 0) throw new JobFailure(`ClientError: ${noObjects(source.S3Uri, '')}`);
      objects = keys.map((key) => {
        // Slashes right after the prefix (batch//a.csv, as f"{prefix}/{name}" makes of a prefix ending in '/') separate the name
        // from it, also when the S3Uri leaves out its last '/' (s3://data/batch: batch//a.csv is batch/a.csv, as batch/a.csv is).
        const past = key.slice(at.key.length);
        const rel = past.startsWith('/') ? [key.slice(cut, at.key.length), pastSlashes(past)].filter((p) => p !== '').join('/') : key.slice(cut);
        if (!safeRelative(rel)) throw new JobFailure(`ClientError: The input object s3://${at.bucket}/${key} has a key the local SageMaker cannot write as a file (an empty, "." or ".." part after the prefix); rename it.`);
        return { bucket: at.bucket, key, rel };
      });
    }
    refuseSameRel(objects);
    refuseFileAndFolder(objects);
    refuseLongNames(objects);
    refuseOutputWhereFolder(objects);
    for (const o of objects) {
      signal.throwIfAborted();
      const file = join(dir, o.rel);
      await mkdir(join(file, '..'), { recursive: true });
      for (let attempt = 1; ; attempt++) {
        let answered = false;
        let unwritable = false;
        try {
          const body = await getUntilAborted(s3, o.bucket, o.key, signal);
          answered = true;
          if (refuseOver !== undefined && body.contentLength !== undefined && body.contentLength > refuseOver) {
            body.destroy();
            // A failure from here on is the disk's, not S3's.
            unwritable = true;
            const placeholder = await open(file, 'w');
            await placeholder.truncate(body.contentLength).finally(() => placeholder.close());
            break;
          }
          const sink = createWriteStream(file);
          // Only the file's own failure (a system call on it) makes it unwritable: pipeline also
          // destroys the sink with the body's error when the body breaks off, and Node 22 emits
          // that on the sink before pipeline's promise settles.
          sink.once('error', (e: NodeJS.ErrnoException) => void (FILE_SYSCALLS.has(e.syscall ?? '') && (unwritable = true)));
          // The next attempt writes the file once this one's is closed: an open still pending would truncate what it wrote.
          await pipeToFile(body, sink, { signal });
          break;
        } catch (err) {
          if (signal.aborted) throw err;
          // The SDK retries a request until S3 answers, not a body that breaks off part-way (a
          // connection reset, a stall): the object is downloaded again from its start. A file
          // that cannot be written (a full disk) is not.
          const broke = answered && !unwritable;
          if (broke && attempt < DOWNLOAD_ATTEMPTS) continue;
          const tries = broke ? ` (it broke off part-way ${attempt} times)` : '';
          throw new JobFailure(`ClientError: Could not download the input object s3://${o.bucket}/${o.key}${tries}: ${(err as Error).message}`);
        }
      }
    }
    // Each object's key past `base`, which its rel leaves the leading slashes out of.
    const suffixes = new Map(objects.map((o) => [o.rel, o.key.slice(base.length - `s3://${o.bucket}/`.length)]));
    return { rels: objects.map((o) => o.rel), prefix: base, suffixes };
  }

  /**
   * `DataCaptureConfig`, as "Capture data from batch transform job" describes it: two manifests in
   * the format of a `ManifestFile` input, one under `<DestinationS3Uri>/input/` listing the job's
   * input objects, one under `<DestinationS3Uri>/output/` listing the `.out` objects written, each
   * in the `yyyy/mm/dd/hh/` of the job's start (UTC), encrypted with `KmsKeyId` when given.
   */
  private async writeCapture(job: TransformJob, capture: { DestinationS3Uri: string; KmsKeyId?: string }, input: { prefix: string; keys: string[] }, output: { prefix: string; keys: string[] }, signal: AbortSignal, written: S3Object[]): Promise<void> {
    const at = parseS3Location(capture.DestinationS3Uri)!;
    const t = job.startedAt!;
    const two = (n: number): string => String(n).padStart(2, '0');
    const hour = `${t.getUTCFullYear()}/${two(t.getUTCMonth() + 1)}/${two(t.getUTCDate())}/${two(t.getUTCHours())}`;
    // An empty key is no key.
    const kmsKeyId = capture.KmsKeyId || undefined;
    for (const [folder, listed] of [['input', input], ['output', output]] as const) {
      const key = `${folderPrefix(at.key)}${folder}/${hour}/${job.name}.jsonl`;
      written.push({ bucket: at.bucket, key, existed: await this.existedBefore(at.bucket, key, signal) });
      try {
        await this.ctx.s3().put(at.bucket, key, Buffer.from(JSON.stringify([{ prefix: listed.prefix }, ...listed.keys]) + '\n'), 'application/jsonlines', { signal, ...(kmsKeyId === undefined ? {} : { kmsKeyId }) });
      } catch (err) {
        if (signal.aborted) throw err;
        const sse = kmsKeyId === undefined ? '' : ` with SSE-KMS key ${kmsKeyId} (DataCaptureConfig.KmsKeyId; an S3 server without KMS refuses such uploads: leave KmsKeyId out of the job there)`;
        throw new JobFailure(`ClientError: Could not write the data capture manifest s3://${at.bucket}/${key}${sse}: ${(err as Error).message}`);
      }
    }
  }

  /**
   * Uploads every `.out` file under `dir` to `S3OutputPath/<relative path>.out`, encrypted with
   * `kmsKeyId` (`TransformOutput.KmsKeyId`) when given, as the service encrypts the output "at rest
   * using Amazon S3 server-side encryption" with it. Each object's Content-Type is the job's
   * `TransformOutput.Accept` when it has one (the type every answer was asked in; the API reference
   * does not say what the service sets); without one, none is set, as the answers may differ.
   */
  private async upload(outputPath: string, dir: string, signal: AbortSignal, kmsKeyId: string | undefined, written: S3Object[], accept?: string): Promise<{ prefix: string; keys: string[] }> {
    const at = parseS3Location(outputPath)!;
    const prefix = folderPrefix(at.key);
    const keys: string[] = [];
    const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isFile() || !e.name.endsWith('.out')) continue;
      signal.throwIfAborted();
      const file = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
      // Split at the platform's separator only: a key may hold a backslash (a\b.csv), which on POSIX is part of a file's name, not a folder.
      const rel = relative(dir, file).split(sep).join('/');
      // Counted before it is sent: a PUT cut short by a stop may still have been stored.
      written.push({ bucket: at.bucket, key: prefix + rel, existed: await this.existedBefore(at.bucket, prefix + rel, signal) });
      try {
        await this.ctx.s3().putFile(at.bucket, prefix + rel, file, accept, { signal, ...(kmsKeyId === undefined ? {} : { kmsKeyId }) });
      } catch (err) {
        // A local S3 server without a KMS refuses SSE-KMS uploads: say where the key comes from.
        const sse = kmsKeyId === undefined ? '' : ` with SSE-KMS key ${kmsKeyId} (TransformOutput.KmsKeyId; an S3 server without KMS refuses such uploads: leave KmsKeyId out of the job there)`;
        throw new JobFailure(`ClientError: Could not write the output object s3://${at.bucket}/${prefix + rel}${sse}: ${(err as Error).message}`);
      }
      keys.push(rel);
    }
    return { prefix: `s3://${at.bucket}/${prefix}`, keys: keys.sort() };
  }

  /**
   * Whether `bucket` holds an object at `key` before the job writes it: one ListObjectsV2 of the key
   * as prefix (the key sorts first among those it begins). An S3 that does not say counts as yes,
   * so that a stop never deletes what may be an object the job did not write.
   */
  private async existedBefore(bucket: string, key: string, signal: AbortSignal): Promise<boolean> {
    try {
      return (await this.ctx.s3().list(bucket, key, { maxKeys: 1000, firstOnly: true, signal })).includes(key);
    } catch {
      signal.throwIfAborted();
      return true;
    }
  }

  /**
   * Deletes the objects a stopped job wrote, a few at a time: those at keys that held no object
   * before (an earlier job's output at the same S3OutputPath is never deleted: if the PUT was cut
   * short, it is still that job's; the keys left are logged). An S3 that fails or does not answer
   * ends it at the first such delete (logged with how many were left), so a stop (and a shutdown,
   * which waits for its jobs) is not held by one timeout per object.
   */
  private async removeWritten(job: TransformJob, all: readonly S3Object[]): Promise<void> {
    const written = all.filter((o) => !o.existed);
    const kept = all.filter((o) => o.existed);
    if (kept.length > 0) {
      const names = kept.slice(0, 3).map((o) => `s3://${o.bucket}/${o.key}`).join(', ');
      this.ctx.log?.('warn', `transform job ${job.name} was stopped: ${kept.length} object(s) it began to write were left in place, as their keys held an object before the job (${names}${kept.length > 3 ? ', …' : ''}), which a delete could take from another job`, { job: job.name });
    }
    let next = 0;
    let failed: { object: S3Object; error: string } | undefined;
    const worker = async (): Promise<void> => {
      while (failed === undefined && next < written.length) {
        const object = written[next++]!;
        await this.ctx.s3().delete(object.bucket, object.key).catch((err: Error) => void (failed ??= { object, error: err.message }));
      }
    };
    await Promise.all(Array.from({ length: Math.min(REMOVE_AT_ONCE, written.length) }, worker));
    if (failed) {
      this.ctx.log?.('warn', `transform job ${job.name} was stopped, but not all of the ${written.length} output objects it wrote could be deleted: s3://${failed.object.bucket}/${failed.object.key}: ${failed.error}`, { job: job.name });
    }
  }

  private describe(input: Input): Output {
    const job = this.job(String(input.TransformJobName));
    const r = job.request;
    const pick = (k: string): Output => (r[k] === undefined ? {} : { [k]: r[k] });
    return {
      TransformJobName: job.name,
      TransformJobArn: job.arn,
      TransformJobStatus: job.status,
      ...(job.failureReason === undefined ? {} : { FailureReason: job.failureReason }),
      ModelName: r.ModelName,
      ...pick('MaxConcurrentTransforms'),
      ...pick('ModelClientConfig'),
      ...pick('MaxPayloadInMB'),
      ...pick('BatchStrategy'),
      ...pick('Environment'),
      TransformInput: r.TransformInput,
      ...pick('TransformOutput'),
      ...pick('DataCaptureConfig'),
      TransformResources: r.TransformResources,
      CreationTime: epochSeconds(job.createdAt),
      ...(job.startedAt ? { TransformStartTime: epochSeconds(job.startedAt) } : {}),
      ...(job.endedAt ? { TransformEndTime: epochSeconds(job.endedAt) } : {}),
      ...pick('DataProcessing'),
      ...pick('ExperimentConfig'),
    };
  }

  private list(input: Input): Output {
    const page = listPage('ListTransformJobs', [...this.jobs.values()], input as ListInput, (j) => ({ name: j.name, createdAt: j.createdAt, lastModified: j.lastModified, status: j.status }));
    return {
      TransformJobSummaries: page.items.map((j) => ({
        TransformJobName: j.name,
        TransformJobArn: j.arn,
        CreationTime: epochSeconds(j.createdAt),
        ...(j.endedAt ? { TransformEndTime: epochSeconds(j.endedAt) } : {}),
        LastModifiedTime: epochSeconds(j.lastModified),
        TransformJobStatus: j.status,
        ...(j.failureReason === undefined ? {} : { FailureReason: j.failureReason }),
      })),
      ...(page.nextToken ? { NextToken: page.nextToken } : {}),
    };
  }

  private stopJob(input: Input): Output {
    const job = this.job(String(input.TransformJobName));
    if (job.status === 'Stopping' || job.status === 'Stopped') return {};
    if (job.status !== 'InProgress') throw validation(`Transform job ${job.name} is ${job.status}; only an InProgress job can be stopped.`);
    this.setStatus(job, 'Stopping');
    job.stop.abort();
    return {};
  }

  /** `ServiceUnavailable` once the local SageMaker is stopping: a job started then would outlive it. */
  private checkStopping(): void {
    if (this.stopping) {
      throw new AwsServiceError('ServiceUnavailable', 'The local SageMaker is stopping and starts no more transform jobs: send CreateTransformJob again once smkit local has been started again.', 503);
    }
  }

  /** Stops every running job and waits for them (server shutdown); calls still listing their input are refused. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const listing of this.creating) listing.abort();
    for (const job of this.jobs.values()) if (job.status === 'InProgress') job.stop.abort();
    await Promise.all([...this.jobs.values()].map((j) => j.done));
  }
}

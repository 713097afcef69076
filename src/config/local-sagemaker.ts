import { totalmem } from 'node:os';
import type { VariableName } from '../core/smkit-variables.js';
import { awsProfile } from './deploy.js';
import { decimalNumber, urlWithoutPassword } from './flag-values.js';
import { invalid, LOG_LEVEL_FORMS, parseLogLevel, readInt, readNumber, type LogLevel } from './settings.js';

/**
 * What the local SageMaker reads from the environment: where S3 is (for `s3://` model data and
 * capture destinations), the region and account named in ARNs. The standard AWS SDK variables,
 * read here once.
 */
export interface LocalSageMakerSettings {
  /** `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`: a local S3 (path-style addressing is then used). */
  readonly s3EndpointUrl?: string;
  /** `AWS_REGION`, else `AWS_DEFAULT_REGION`. @defaultValue `us-east-1` */
  readonly region: string;
  /** `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), when both are set. */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * `AWS_PROFILE` and the shared files it is read from (as `smkit deploy` reads them), so that an
   * `s3://` URL sent to Amazon S3 with no credentials found can name a profile that is not there.
   */
  readonly profile?: { readonly name: string; readonly configFile: string; readonly credentialsFile: string };
  /** `SMKIT_LOCAL_ACCOUNT_ID`: the 12-digit account in ARNs. @defaultValue `000000000000` */
  readonly accountId: string;
  /**
   * `SMKIT_LOCAL_MAX_INSTANCES`: most instances all endpoints may run at once, blue and green
   * fleets counted (an endpoint's rolling update: its old fleet and one batch of the new)
   * (`ResourceLimitExceeded` beyond, as the account's instance quota); apart from
   * them, the most instances the running transform jobs ask for together (their `InstanceCount`s), and
   * the most inference component copies together (running, starting or waiting for room, and the old
   * ones beside the new until an update has stopped them; a rolling update: the old ones and one
   * batch). @defaultValue 16
   */
  readonly maxInstances: number;
  /**
   * `SMKIT_LOCAL_HEALTH_CHECK_SECONDS`: time between `/ping` health checks of each instance in
   * service; an instance that fails 3 in a row is stopped and replaced. `0` turns the checks off
   * (instances are then replaced only when their container exits). @defaultValue 5
   */
  readonly healthCheckSeconds: number;
  /**
   * `SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE`: most real-time invocations (`InvokeEndpoint`,
   * `InvokeEndpointWithResponseStream`) one instance of a variant has in flight at once; one more,
   * when every instance has that many, is throttled at once (400 `ThrottlingException`) instead of
   * waiting on a container that is not keeping up. From 1 to 1000000.
   * @defaultValue {@link DEFAULT_MAX_INVOCATIONS_PER_INSTANCE}
   */
  readonly maxInvocationsPerInstance?: number;
  /**
   * `SMKIT_LOCAL_SERVERLESS_IDLE_SECONDS`: a serverless variant's instance above its
   * `ProvisionedConcurrency` stops after this long without a request (the next request after
   * that cold-starts one again). @defaultValue 60
   */
  readonly serverlessIdleSeconds?: number;
  /**
   * `SMKIT_LOCAL_BODY_MEMORY_MB`: the most memory the front door's request bodies, queued
   * asynchronous bodies, running asynchronous requests' inputs and answers, and real-time answers
   * may take together (503 `ServiceUnavailable` beyond, which the AWS SDKs retry; an asynchronous
   * input waits in the queue for room, or fails when it can never fit, as does an answer that does not); at least
   * 12, one largest request and its answer. @defaultValue a quarter of the machine's memory, at least 12
   */
  readonly bodyMemoryMb?: number;
  /**
   * `SMKIT_LOCAL_LOG_STREAM_MB`: the most a log stream of the local CloudWatch Logs keeps (message
   * bytes plus 26 per event, as CloudWatch counts them); its oldest events are dropped beyond.
   * From 1 to 1024. @defaultValue 8
   */
  readonly logStreamMb?: number;
  /**
   * `SMKIT_LOCAL_LOGS_MB`: the most all log streams of the local CloudWatch Logs keep together
   * (counted as for `SMKIT_LOCAL_LOG_STREAM_MB`); beyond it the oldest events of the largest stream
   * are dropped (each stream keeps its newest event). From 1 to 65536. @defaultValue {@link DEFAULT_LOGS_MB}
   */
  readonly logsMb?: number;
  /**
   * `SMKIT_LOCAL_S3_TIMEOUT_SECONDS`: the longest S3 may take to accept a connection, and to go
   * without sending or taking a byte once connected (an idle timeout: a large object that keeps
   * moving is never cut off); a request that times out is retried by the SDK, then fails naming
   * S3's endpoint and this variable. `0` turns both off (the SDK's own default: wait for ever).
   * @defaultValue {@link DEFAULT_S3_TIMEOUT_SECONDS}
   */
  readonly s3TimeoutSeconds?: number;
}

/**
 * Default `SMKIT_LOCAL_S3_TIMEOUT_SECONDS`: botocore's `connect_timeout` and `read_timeout` (60 s
 * each), which the AWS CLI and the SageMaker Python SDK use; the JavaScript SDK sets none.
 */
export const DEFAULT_S3_TIMEOUT_SECONDS = 60;

/**
 * Default `SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE`. AWS publishes no per-instance figure (its
 * throttling depends on the instance type); this is as many as an asynchronous endpoint's
 * `MaxConcurrentInvocationsPerInstance` may be, loose enough that only a container far behind its
 * callers reaches it.
 */
export const DEFAULT_MAX_INVOCATIONS_PER_INSTANCE = 1000;

/**
 * `SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE` alone (see {@link LocalSageMakerSettings}), for
 * `startLocalEndpoints` used as a library, which reads none of the local SageMaker's other settings.
 */
export function readMaxInvocationsPerInstance(env: NodeJS.ProcessEnv = process.env): number {
  return readInt(env, 'SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE', DEFAULT_MAX_INVOCATIONS_PER_INSTANCE, 1, 1_000_000);
}

/**
 * `SMKIT_LOG_LEVEL` for `smkit local`'s own log lines on stderr (the forms `smkit serve` takes;
 * `SAGEMAKER_CONTAINER_LOG_LEVEL` is a container's, not read here). @defaultValue `info`
 */
export function readLocalLogLevel(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const raw = str(env, 'SMKIT_LOG_LEVEL');
  if (raw === undefined) return 'info';
  const level = parseLogLevel(raw);
  if (!level) throw invalid('SMKIT_LOG_LEVEL', raw, LOG_LEVEL_FORMS);
  return level;
}

/** Default of `SMKIT_LOCAL_LOG_STREAM_MB`: what one log stream of the local CloudWatch Logs keeps. */
export const DEFAULT_LOG_STREAM_MB = 8;

/** Default of `SMKIT_LOCAL_LOGS_MB`: what all streams of the local CloudWatch Logs keep together (32 full streams). */
export const DEFAULT_LOGS_MB = 256;

/** Smallest `SMKIT_LOCAL_BODY_MEMORY_MB`: a 6 MB request and its 6 MB answer. */
const MIN_BODY_MEMORY_MB = 12;

function str(env: NodeJS.ProcessEnv, key: string): string | undefined {
  const v = env[key];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** A number of seconds that may also be 0 (`off`, as the variable's help says), else from 0.1 to `max`. */
function readSecondsOrOff(env: NodeJS.ProcessEnv, name: VariableName, fallback: number, max: number, off: string): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  const n = decimalNumber(raw);
  if (!Number.isFinite(n) || n < 0 || n > max || (n > 0 && n < 0.1)) throw invalid(name, raw, `0 (${off}) or a decimal number of seconds from 0.1 to ${max}`);
  return n;
}

/** An http:// or https:// URL, as the AWS SDKs take in their endpoint variables. */
function readEndpointUrl(env: NodeJS.ProcessEnv): string | undefined {
  const name = str(env, 'AWS_ENDPOINT_URL_S3') !== undefined ? 'AWS_ENDPOINT_URL_S3' : 'AWS_ENDPOINT_URL';
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  let protocol: string | undefined;
  try {
    protocol = new URL(raw).protocol;
  } catch {
    // named below
  }
  if (protocol !== 'http:' && protocol !== 'https:') throw invalid(name, urlWithoutPassword(raw), 'an http:// or https:// URL such as http://127.0.0.1:4569');
  return raw;
}

/**
 * `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`: named in every ARN and used by the S3
 * client, whose SDK refuses a Region that is not a host name label ("us east 1") only when model
 * data is first read, so it is checked here, as that SDK checks it.
 */
function readRegion(env: NodeJS.ProcessEnv): string {
  const name = str(env, 'AWS_REGION') !== undefined ? 'AWS_REGION' : 'AWS_DEFAULT_REGION';
  const raw = str(env, name);
  if (raw === undefined) return 'us-east-1';
  // The SDK's host label rule (@smithy's isValidHostLabel): 1-63 letters, digits and hyphens, no hyphen at either end. All
  // digits pass there too ('123'), so they pass here; '*', which the SDK only warns about, is no Region to name in an ARN.
  if (!/^(?!-)[a-zA-Z0-9-]{1,63}(?<!-)$/.test(raw)) throw invalid(name, raw, 'a Region name such as us-east-1 (letters, digits and hyphens)');
  return raw;
}

/**
 * Reads {@link LocalSageMakerSettings}; an invalid value stops start-up with `ERR_CONFIG_INVALID`
 * in the shape every setting's error has (`SMKIT_LOCAL_MAX_INSTANCES="lots" is invalid: expected
 * a whole number from 1 to 1000.`), as a bad flag value is worded.
 * @param memoryBytes the machine's memory, for defaults that are a share of it
 */
export function loadLocalSageMakerSettings(env: NodeJS.ProcessEnv = process.env, memoryBytes = totalmem()): Readonly<LocalSageMakerSettings> {
  const s3EndpointUrl = readEndpointUrl(env);
  const accountId = str(env, 'SMKIT_LOCAL_ACCOUNT_ID') ?? '000000000000';
  if (!/^\d{12}$/.test(accountId)) throw invalid('SMKIT_LOCAL_ACCOUNT_ID', accountId, 'an account ID of 12 digits, such as 000000000000');
  const maxInstances = readInt(env, 'SMKIT_LOCAL_MAX_INSTANCES', 16, 1, 1000);
  const healthCheckSeconds = readSecondsOrOff(env, 'SMKIT_LOCAL_HEALTH_CHECK_SECONDS', 5, 3600, 'off');
  const serverlessIdleSeconds = readNumber(env, 'SMKIT_LOCAL_SERVERLESS_IDLE_SECONDS', 60, 0.1, 86_400);
  const maxInvocationsPerInstance = readMaxInvocationsPerInstance(env);
  // At least a 6 MB request and its 6 MB answer.
  const bodyMemoryMb = readNumber(env, 'SMKIT_LOCAL_BODY_MEMORY_MB', Math.max(MIN_BODY_MEMORY_MB, Math.floor(memoryBytes / 4 / (1024 * 1024))), MIN_BODY_MEMORY_MB, 1_048_576);
  // At least one largest log event.
  const logStreamMb = readNumber(env, 'SMKIT_LOCAL_LOG_STREAM_MB', DEFAULT_LOG_STREAM_MB, 1, 1024);
  const logsMb = readNumber(env, 'SMKIT_LOCAL_LOGS_MB', DEFAULT_LOGS_MB, 1, 65_536);
  const s3TimeoutSeconds = readSecondsOrOff(env, 'SMKIT_LOCAL_S3_TIMEOUT_SECONDS', DEFAULT_S3_TIMEOUT_SECONDS, 3600, 'no timeout');
  const accessKeyId = str(env, 'AWS_ACCESS_KEY_ID');
  const secretAccessKey = str(env, 'AWS_SECRET_ACCESS_KEY');
  const sessionToken = str(env, 'AWS_SESSION_TOKEN');
  return Object.freeze({
    ...(s3EndpointUrl === undefined ? {} : { s3EndpointUrl }),
    region: readRegion(env),
    ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } } : {}),
    ...awsProfile(env),
    accountId,
    maxInstances,
    healthCheckSeconds,
    serverlessIdleSeconds,
    maxInvocationsPerInstance,
    bodyMemoryMb,
    logStreamMb,
    logsMb,
    s3TimeoutSeconds,
  });
}

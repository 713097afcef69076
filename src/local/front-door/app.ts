import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { awsJsonErrorAnswer, awsJsonVersionOf, dispatchAwsJson, MAX_AWS_JSON_BODY_BYTES, serviceForTarget, type AwsJsonErrorAnswer } from '../../aws/protocols/aws-json.js';
import { escapeXml, writeQueryError } from '../../aws/protocols/query.js';
import { OTHER_SERVICE_HINT } from '../../aws/other-service-hint.js';
import { excerpt } from '../../errors/excerpt.js';
import { endInSlices } from '../../net/end-in-slices.js';
import { sendTextAndClose } from '../../server/respond.js';
import { AwsServiceError, INTERNAL_FAILURE_MESSAGE, queryCodeOf, queryFaultOf, reportInternalFailure, type AwsService, type InternalFailureLog, type QueryErrorDetails } from '../../aws/service.js';
import { ContainerFailure, type InvokeEndpointRequest, type InvokeEndpointResponse } from '../endpoint/chain.js';
import { ModelFetchUnavailableError } from '../endpoint/container.js';
import { OversizeBodyError, TargetContainerError, UnknownVariantError } from '../endpoint/local-endpoint.js';
import { MissingTargetModelError, ModelNotReadyError, TargetModelError } from '../endpoint/multi-model.js';
import { AnswerOverBudgetError } from '../endpoint/read-answer.js';
import { PipelineStreamingError, StreamBrokenError, StreamTimeoutError, type StreamedAnswer, type StreamOptions } from '../endpoint/stream.js';
import { AsyncInferenceNotConfiguredError, AsyncOutputKeyTooLongError, AsyncOutputNameTooLongError, AsyncOutputOutsideFolderError, AsyncQueueClosedError, AsyncQueueFullError, type AsyncInvocationAccepted, type AsyncInvocationRequest } from '../control-plane/async-inference.js';
import {
  NEW_SESSION,
  PRINTABLE_ID_PATTERN,
  readSageMakerHeaders,
  INVOKE_ENDPOINT_MAX_BODY_BYTES,
  SAGEMAKER_HEADERS,
  SAGEMAKER_NAME_MAX_LENGTH,
  SAGEMAKER_NAME_PATTERN,
  SESSION_ID_HEADER,
  SESSION_ID_MAX_LENGTH,
  SESSION_ID_PATTERN,
  STREAM_ACCEPT_HEADER,
  STREAM_CONTENT_TYPE_HEADER,
} from '../../core/sagemaker-headers.js';
import { EVENT_STREAM_CONTENT_TYPE, internalStreamFailure, modelStreamError, payloadPart } from './event-stream.js';
import type { AllowedHosts } from '../../config/settings.js';
import { foreignOriginFault } from './foreign-origin.js';
import { InferenceComponentRouteError } from './inference-component-route.js';
import { FRONT_DOOR_BODY_READ_TIMEOUT_MS, FRONT_DOOR_SEND_IDLE_MS, type FrontDoorListener } from './http-server.js';
import { holdUntilDone, invokeBody, type BodyRefusal } from './invoke-body.js';
import { BodyBudget } from '../../server/body-budget.js';
import { coldStartFailed, endpointNotFound, frontDoorBusy, instancesBusy, modelErrorFor, noInstanceInService, RuntimeApiError, serverlessThrottled, validationError, type ConstraintViolation } from './runtime-errors.js';

/** The `Content-Type` of a query-protocol request. */
const FORM_CONTENT_TYPE = /^application\/x-www-form-urlencoded\b/i;

/** Largest InvokeEndpoint body: 6 MB ({@link INVOKE_ENDPOINT_MAX_BODY_BYTES}). */
export const MAX_INVOKE_BODY_BYTES = INVOKE_ENDPOINT_MAX_BODY_BYTES;

/** What the front door needs of an endpoint: invoke it, or open a streamed invocation. */
export interface RoutableEndpoint {
  /**
   * Resolves with the answering variant and response; rejects with `ContainerFailure`,
   * `UnknownVariantError`, `TargetModelError`, `OversizeBodyError` (a serverless variant's 4 MB), or `AnswerOverBudgetError` when an answer does not
   * fit in `budget`, from which the answers take their bytes as they arrive (the front door gives
   * back the response's once it is sent).
   */
  invoke(req: InvokeEndpointRequest, timeoutMs?: number, maxAnswerBytes?: number, budget?: BodyBudget): Promise<{ variant: string; response: InvokeEndpointResponse }>;
  /**
   * Opens a streamed invocation; rejects like {@link RoutableEndpoint.invoke}, or with
   * `PipelineStreamingError`. `opts.signal` is aborted when the caller's connection closes.
   */
  stream(req: InvokeEndpointRequest, opts?: StreamOptions): Promise<{ variant: string; answer: StreamedAnswer }>;
  /**
   * Queues an asynchronous invocation (`InvokeEndpointAsync`); absent, or throwing
   * `AsyncInferenceNotConfiguredError`, for an endpoint that is not asynchronous. Calls
   * `req.release` once the queued request holds its body no longer (not when it throws).
   */
  invokeAsync?(req: AsyncInvocationRequest): AsyncInvocationAccepted;
  /** True for an asynchronous endpoint, which takes only `InvokeEndpointAsync`. */
  readonly asynchronous?: boolean;
  /**
   * Set on an endpoint that hosts inference components: the component `InferenceComponentName`
   * names, which takes the invocation; throws `InferenceComponentRouteError` when the name is
   * missing or names no component of the endpoint that can take it.
   */
  inferenceComponent?(name: string | undefined): RoutableEndpoint;
}

/**
 * Answers the AWS query protocol (a form-encoded `POST /`); `xmlns`, the service's XML namespace,
 * goes on the errors the front door answers for it (a body too large or not decodable).
 */
export type QueryHandler = ((req: Request, res: Response) => void) & { readonly xmlns?: string };

/** Finds the endpoint that serves a name at this moment (a `Map` of `LocalEndpoint`s is one). */
export interface EndpointDirectory {
  get(name: string): RoutableEndpoint | undefined;
}

/** Options of {@link createFrontDoor}. */
export interface FrontDoorOptions {
  /**
   * `Host` names requests may be addressed to besides `localhost` and IP addresses
   * (`SMKIT_ALLOWED_HOSTS`); `'any'` for all. @defaultValue none
   */
  allowedHosts?: AllowedHosts;
  /** Looks up a running endpoint by name. */
  endpoints: EndpointDirectory;
  /**
   * AWS services answered on `POST /` with an `X-Amz-Target: <prefix>.<Operation>` header
   * (awsJson 1.0/1.1), chosen by their `targetPrefix`. @defaultValue none
   */
  services?: readonly AwsService[];
  /**
   * Answers a form-encoded `POST /` (`Content-Type: application/x-www-form-urlencoded`,
   * `Action=...`: the AWS query protocol, which the AWS CLI and boto3 use for CloudWatch).
   * `req.body` is the raw body as a `Buffer`, of at most {@link MAX_AWS_JSON_BODY_BYTES} (the
   * control plane's limit): a smaller limit of its own the handler answers in its protocol (XML),
   * as the front door answers a body over that limit, or one it cannot decode.
   */
  queryHandler?: QueryHandler;
  /** Account id used in messages. @defaultValue `000000000000` */
  accountId?: string;
  /**
   * The most memory the bodies the front door holds may take together (`SMKIT_LOCAL_BODY_MEMORY_MB`):
   * each request body (real-time, asynchronous, control plane) from its first byte (an
   * asynchronous one's inline body until its queued request has run), a running asynchronous
   * request's `InputLocation` input and answers until its result is written (an input with no room
   * yet waits in the queue, one that can never fit and an answer that does not fail that request), each container's
   * real-time answer (a shadow variant's too) from its first byte, until the response is done. Past it a request is refused with a
   * 503 `ServiceUnavailable` that the AWS SDKs retry. Each body is at most 6 MB; this bounds their
   * sum, which otherwise grows with the callers (a thousand slow 6 MB uploads hold 6 GB). @defaultValue unbounded
   */
  bodyMemoryBytes?: number;
  /**
   * How long a request body may take to arrive once its headers are in before it is refused with a
   * 408 and its connection closed (tests shorten it).
   * @defaultValue {@link FRONT_DOOR_BODY_READ_TIMEOUT_MS} (give the front door's HTTP server the same, as its `bodyTimeoutMs`, so that Node's own request timeout stays later)
   */
  bodyTimeoutMs?: number;
  /**
   * How long a caller may take nothing of its answer before its connection is closed (tests shorten it).
   * @defaultValue {@link FRONT_DOOR_SEND_IDLE_MS}
   */
  sendIdleMs?: number;
  /**
   * The ARN of the log group an endpoint's containers write to, when a local CloudWatch Logs keeps
   * it: a `ModelError`'s `LogStreamArn` is that ARN, so the caller can read the logs with the logs
   * API. Without it (or when it gives `undefined`) `LogStreamArn` is the container's log file.
   */
  logGroupArn?: (endpointName: string) => string | undefined;
  /** Called for each failed invocation (for the CLI's log). */
  onError?: (endpoint: string, err: RuntimeApiError) => void;
  /**
   * Told the cause of each `InternalFailure` (whose message says nothing of it, as AWS's does not)
   * that the front door itself or an awsJson control-plane service (`services`) answered. The
   * `queryHandler` reports its own: give `createCloudWatchQueryHandler` the same hook. Without
   * it, or when it throws, the cause is a process warning (code `SMKIT_INTERNAL_FAILURE`) instead.
   */
  onInternalFailure?: InternalFailureLog;
}

/** A header value pattern of the API model, with the text the service shows for it. */
interface ValuePattern {
  test: RegExp;
  shown: string;
}

/** `\p{ASCII}*` (shapes `Header`, `CustomAttributesHeader`): any US-ASCII, a tab included. */
const ASCII: ValuePattern = { test: /^[\x00-\x7f]*$/, shown: '\\p{ASCII}*' };
/** `\A\S[\p{Print}]*\z` (shapes `InferenceId`, `TargetModelHeader`): no leading blank, then printable ASCII. */
const PRINTABLE_ID: ValuePattern = { test: PRINTABLE_ID_PATTERN, shown: '\\A\\S[\\p{Print}]*\\z' };
/** `^[a-zA-Z0-9](-*[a-zA-Z0-9])*` (shapes `TargetVariantHeader`, `TargetContainerHostnameHeader`, at most 63 characters). */
const NAME: ValuePattern = { test: SAGEMAKER_NAME_PATTERN, shown: '^[a-zA-Z0-9](-*[a-zA-Z0-9])*' };

interface HeaderRule {
  header: string;
  member: string;
  min: number;
  max: number;
  /** The API model's pattern. */
  pattern?: ValuePattern;
  /** The API model marks the member `sensitive`: a violation does not quote its value. */
  sensitive?: boolean;
}

/** The pattern of each SageMaker header's shape in the API model. */
const SAGEMAKER_HEADER_PATTERNS: Readonly<Record<string, ValuePattern>> = {
  customAttributes: ASCII,
  targetModel: PRINTABLE_ID,
  inferenceId: PRINTABLE_ID,
  targetVariant: NAME,
};

/** `TargetContainerHostname` of `InvokeEndpoint` (Direct-mode pipelines); the front door reads it, containers never see it. */
const TARGET_CONTAINER_HOSTNAME_HEADER = 'x-amzn-sagemaker-target-container-hostname';

/**
 * `PrefixAwareId` of `InvokeEndpoint` and `InvokeEndpointWithResponseStream`: a routing hint for a
 * variant whose `RoutingStrategy` is `PREFIX_AWARE`; the front door reads it, containers never see it.
 * 1 to 64 characters of `\A\S[\p{Print}]*\z` (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html).
 */
const PREFIX_AWARE_ID_HEADER = 'x-amzn-sagemaker-prefix-aware-id';

/** InvokeEndpoint header constraints: Content-Type and Accept, the SageMaker headers' table, then TargetContainerHostname and PrefixAwareId. */
const HEADER_RULES: readonly HeaderRule[] = [
  { header: 'content-type', member: 'contentType', min: 0, max: 1024, pattern: ASCII },
  { header: 'accept', member: 'accept', min: 0, max: 1024, pattern: ASCII },
  ...Object.entries(SAGEMAKER_HEADERS).map(([member, spec]) => ({
    member,
    ...spec,
    ...(SAGEMAKER_HEADER_PATTERNS[member] ? { pattern: SAGEMAKER_HEADER_PATTERNS[member] } : {}),
    ...(member === 'customAttributes' ? { sensitive: true } : {}),
  })),
  { header: TARGET_CONTAINER_HOSTNAME_HEADER, member: 'targetContainerHostname', min: 0, max: SAGEMAKER_NAME_MAX_LENGTH, pattern: NAME },
  { header: PREFIX_AWARE_ID_HEADER, member: 'prefixAwareId', min: 1, max: 64, pattern: PRINTABLE_ID },
];

function header(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** `InferenceComponentName` of `InvokeEndpoint`: routes to an inference component of an endpoint that hosts them; refused elsewhere. */
const INFERENCE_COMPONENT_HEADER = 'x-amzn-sagemaker-inference-component';
/** The API model's `InferenceComponentHeader`: at most 63 characters of its pattern. */
const INFERENCE_COMPONENT_RULE: HeaderRule = {
  header: INFERENCE_COMPONENT_HEADER,
  member: 'inferenceComponentName',
  min: 0,
  max: SAGEMAKER_NAME_MAX_LENGTH,
  pattern: { test: /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/, shown: '^[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?$' },
};

/** `InvokeEndpointWithResponseStream` carries `Accept` as `X-Amzn-SageMaker-Accept`, with `InvokeEndpoint`'s constraints. */
const STREAM_ACCEPT_RULE: HeaderRule = { header: STREAM_ACCEPT_HEADER, member: 'accept', min: 0, max: 1024, pattern: ASCII };

/** The violations of `rules` by the request's headers (lengths, then the pattern). */
function ruleViolations(req: Request, rules: readonly HeaderRule[]): ConstraintViolation[] {
  const violations: ConstraintViolation[] = [];
  for (const rule of rules) {
    const value = header(req, rule.header);
    if (value === undefined) continue;
    const violation = (constraint: string) => violations.push({ value, member: rule.member, constraint, ...(rule.sensitive ? { sensitive: true } : {}) });
    if (value.length < rule.min) violation(`Member must have length greater than or equal to ${rule.min}`);
    else if (value.length > rule.max) violation(`Member must have length less than or equal to ${rule.max}`);
    else if (rule.pattern && !rule.pattern.test.test(value)) violation(`Member must satisfy regular expression pattern: ${rule.pattern.shown}`);
  }
  return violations;
}

function checkHeaders(req: Request, endpointName: string): ConstraintViolation[] {
  const violations: ConstraintViolation[] = [];
  if (endpointName.length > SAGEMAKER_NAME_MAX_LENGTH) violations.push({ value: endpointName, member: 'endpointName', constraint: `Member must have length less than or equal to ${SAGEMAKER_NAME_MAX_LENGTH}` });
  else if (!SAGEMAKER_NAME_PATTERN.test(endpointName)) violations.push({ value: endpointName, member: 'endpointName', constraint: 'Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*' });
  violations.push(...ruleViolations(req, HEADER_RULES));
  violations.push(...ruleViolations(req, [INFERENCE_COMPONENT_RULE]));
  return violations;
}

/** `EnableExplanations` of `InvokeEndpoint` (a JMESPath expression for Clarify explainers). */
const ENABLE_EXPLANATIONS_HEADER = 'x-amzn-sagemaker-enable-explanations';
/** The API model's `EnableExplanationsHeader`: 1 to 64 characters. */
const ENABLE_EXPLANATIONS_MAX_LENGTH = 64;

/** `InvokeEndpoint`'s `EnableExplanations` is checked as the service checks it (no local endpoint has an explainer to use it). */
function explanationsViolations(req: Request): ConstraintViolation[] {
  const value = header(req, ENABLE_EXPLANATIONS_HEADER);
  if (value === undefined) return [];
  if (value.length < 1) return [{ value, member: 'enableExplanations', constraint: 'Member must have length greater than or equal to 1' }];
  if (value.length > ENABLE_EXPLANATIONS_MAX_LENGTH) return [{ value, member: 'enableExplanations', constraint: `Member must have length less than or equal to ${ENABLE_EXPLANATIONS_MAX_LENGTH}` }];
  return [];
}

/**
 * `SessionId`: at most 256 characters of `^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`, or `NEW_SESSION` where
 * `opens` (`InvokeEndpoint`'s `SessionIdOrNewSessionConstantHeader`). `InvokeEndpointWithResponseStream`'s
 * is the API model's `SessionIdHeader`, without `NEW_SESSION` (sessions are not opened there), so
 * `NEW_SESSION` fails its pattern, and a bad id is shown that pattern, as the service says.
 */
function sessionViolations(req: Request, opens: boolean): ConstraintViolation[] {
  const session = header(req, SESSION_ID_HEADER);
  if (session === undefined) return [];
  if (session.length > SESSION_ID_MAX_LENGTH) return [{ value: session, member: 'sessionId', constraint: `Member must have length less than or equal to ${SESSION_ID_MAX_LENGTH}` }];
  if ((opens && session === NEW_SESSION) || SESSION_ID_PATTERN.test(session)) return [];
  const pattern = opens ? '^(NEW_SESSION)$|^[a-zA-Z0-9](-*[a-zA-Z0-9])*$' : '^[a-zA-Z0-9](-*[a-zA-Z0-9])*$';
  return [{ value: session, member: 'sessionId', constraint: `Member must satisfy regular expression pattern: ${pattern}` }];
}

/**
 * Headers of the real-time operations that `InvokeEndpointAsync` does not name (its `ContentType`
 * and `Accept` are `X-Amzn-SageMaker-Content-Type` and `-Accept`): the service strips every header
 * its API does not name (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html),
 * so an asynchronous request neither checks nor honours them.
 */
const NOT_ASYNC_HEADERS: readonly string[] = [
  'content-type',
  'accept',
  SAGEMAKER_HEADERS.targetModel.header,
  SAGEMAKER_HEADERS.targetVariant.header,
  TARGET_CONTAINER_HOSTNAME_HEADER,
  SESSION_ID_HEADER,
  INFERENCE_COMPONENT_HEADER,
  ENABLE_EXPLANATIONS_HEADER,
  PREFIX_AWARE_ID_HEADER,
];

/**
 * A result or failure location as a header value: its UTF-8 bytes (HTTP carries bytes past ASCII as
 * obs-text, RFC 9110 §5.5; clients read them as Latin-1), a control character, which no header
 * value may hold, percent-encoded. An S3 key may hold any UTF-8, and so may the S3OutputPath.
 */
function locationHeader(location: string): string {
  return Buffer.from(location, 'utf8')
    .toString('latin1')
    .replace(/[^\t\x20-\x7e\x80-\xff]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/**
 * A header value as its sender meant it: node:http hands over each byte past ASCII as one Latin-1
 * character, but botocore (boto3, the AWS CLI) sends a header's text as UTF-8, while the JavaScript
 * SDK (node:http) sends a character up to U+00FF as that one byte. Bytes that form UTF-8 are read
 * as UTF-8 (an S3 key is UTF-8: `é` from boto3 is bytes C3 A9, which Latin-1 would make `Ã©`, a
 * key that does not exist), others as Latin-1 (the JavaScript SDK's lone byte E9 stays `é`).
 */
function headerText(value: string | undefined): string | undefined {
  if (value === undefined || !/[\x80-\xff]/.test(value) || /[^\x00-\xff]/.test(value)) return value;
  const bytes = Buffer.from(value, 'latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : value;
}

/** Largest inline `Body` of `InvokeEndpointAsync` (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html). */
export const MAX_ASYNC_BODY_BYTES = 128_000;

/** The headers only `InvokeEndpointAsync` reads. */
const ASYNC_HEADERS = {
  contentType: 'x-amzn-sagemaker-content-type',
  accept: 'x-amzn-sagemaker-accept',
  inputLocation: 'x-amzn-sagemaker-inputlocation',
  outputPathExtension: 'x-amzn-sagemaker-s3outputpathextension',
  filename: 'x-amzn-sagemaker-filename',
  requestTtlSeconds: 'x-amzn-sagemaker-requestttlseconds',
  invocationTimeoutSeconds: 'x-amzn-sagemaker-invocationtimeoutseconds',
} as const;

/** `InvokeEndpointAsync`'s own header constraints, as the API model states them: each value is checked against its own pattern only. */
const ASYNC_RULES: ReadonlyArray<{ header: string; member: string; min: number; max: number; pattern?: RegExp; shown?: string; integer?: boolean }> = [
  { header: ASYNC_HEADERS.contentType, member: 'contentType', min: 0, max: 1024, pattern: ASCII.test, shown: ASCII.shown },
  { header: ASYNC_HEADERS.accept, member: 'accept', min: 0, max: 1024, pattern: ASCII.test, shown: ASCII.shown },
  { header: ASYNC_HEADERS.inputLocation, member: 'inputLocation', min: 1, max: 1024, pattern: /^(https|s3):\/\/([^/]+)\/?(.*)$/, shown: '^(https|s3)://([^/]+)/?(.*)$' },
  { header: ASYNC_HEADERS.outputPathExtension, member: 's3OutputPathExtension', min: 1, max: 512, pattern: /^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+$/, shown: "^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+$" },
  { header: ASYNC_HEADERS.filename, member: 'filename', min: 1, max: 32, pattern: /^(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, shown: '^(?!.*\\..*\\.)[a-zA-Z0-9][a-zA-Z0-9-_\\.]*$' },
  { header: ASYNC_HEADERS.requestTtlSeconds, member: 'requestTTLSeconds', min: 60, max: 21600, integer: true },
  { header: ASYNC_HEADERS.invocationTimeoutSeconds, member: 'invocationTimeoutSeconds', min: 1, max: 3600, integer: true },
];

function checkAsyncHeaders(req: Request): ConstraintViolation[] {
  const violations: ConstraintViolation[] = [];
  for (const rule of ASYNC_RULES) {
    const value = header(req, rule.header);
    if (value === undefined) continue;
    if (rule.integer) {
      const n = Number(value);
      if (!/^-?\d+$/.test(value.trim())) violations.push({ value, member: rule.member, constraint: 'Member must be an integer' });
      else if (n < rule.min) violations.push({ value, member: rule.member, constraint: `Member must have value greater than or equal to ${rule.min}` });
      else if (n > rule.max) violations.push({ value, member: rule.member, constraint: `Member must have value less than or equal to ${rule.max}` });
    } else if (value.length < rule.min) violations.push({ value, member: rule.member, constraint: `Member must have length greater than or equal to ${rule.min}` });
    else if (value.length > rule.max) violations.push({ value, member: rule.member, constraint: `Member must have length less than or equal to ${rule.max}` });
    else if (rule.pattern && !rule.pattern.test(value)) violations.push({ value, member: rule.member, constraint: `Member must satisfy regular expression pattern: ${rule.shown}` });
  }
  return violations;
}

/** The InvokeEndpoint request members from the HTTP request; `acceptHeader` differs for streaming. */
function readInvocation(req: Request, acceptHeader: string): InvokeEndpointRequest {
  const invocation: InvokeEndpointRequest = {
    body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
    contentType: header(req, 'content-type') ?? 'application/octet-stream',
  };
  const accept = header(req, acceptHeader);
  if (accept !== undefined) invocation.accept = accept;
  Object.assign(invocation, readSageMakerHeaders((name) => header(req, name)));
  const targetContainer = header(req, TARGET_CONTAINER_HOSTNAME_HEADER);
  if (targetContainer !== undefined) invocation.targetContainerHostname = targetContainer;
  const session = header(req, SESSION_ID_HEADER);
  if (session !== undefined) invocation.sessionId = session;
  const prefixAwareId = header(req, PREFIX_AWARE_ID_HEADER);
  if (prefixAwareId !== undefined) invocation.prefixAwareId = prefixAwareId;
  return invocation;
}

/**
 * Resolves when `res` can take more (`drain`) or will take nothing more (`close`); a caller that
 * takes nothing for `idleMs` has its connection closed.
 */
function writable(res: Response, idleMs: number): Promise<void> {
  return new Promise((resolve) => {
    const idle = setTimeout(() => res.destroy(), idleMs);
    const done = () => {
      clearTimeout(idle);
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * A request over a serverless variant's 4 MB: the service answers `ValidationError` (400) `Request
 * <request id> has oversize body.` (as reported in aws/sagemaker-python-sdk#4271,
 * https://github.com/aws/sagemaker-python-sdk/issues/4271); smkit adds the limit and what to do.
 */
function oversizeBody(res: Response, err: OversizeBodyError): RuntimeApiError {
  return new RuntimeApiError('ValidationError', 400, `Request ${String(res.getHeader('x-amzn-RequestId'))} has oversize body. ${err.message}`);
}

/**
 * The service a request was signed for: a SigV4 (or SigV4a) credential scope's service
 * (`Credential=AKID/20261207/us-east-1/s3/aws4_request`, SigV4a's without the region), from
 * `Authorization` or a presigned URL's `X-Amz-Credential`; `s3` for Signature Version 2 (`Authorization:
 * AWS AKID:signature`, or a presigned URL's `AWSAccessKeyId` and `Signature`, as the AWS CLI v1's
 * `aws s3 presign` writes them), which only Amazon S3 still takes; undefined for a request not signed so.
 */
function signingServiceOf(req: Request): string | undefined {
  const auth = req.headers.authorization;
  const query = req.originalUrl.indexOf('?');
  const params = query < 0 ? undefined : new URLSearchParams(req.originalUrl.slice(query + 1));
  const credential = (typeof auth === 'string' ? /\bCredential=([^,\s]+)/.exec(auth)?.[1] : undefined) ?? params?.get('X-Amz-Credential') ?? undefined;
  if (credential === undefined) {
    const sigV2 = typeof auth === 'string' ? /^AWS [^:\s]+:\S+$/.test(auth.trim()) : params?.has('AWSAccessKeyId') === true && params.has('Signature');
    return sigV2 ? 's3' : undefined;
  }
  const scope = credential.split('/');
  // <access key>/<date>/<region>/<service>/aws4_request; SigV4a's has no region.
  return scope.length >= 4 && scope[scope.length - 1] === 'aws4_request' ? scope[scope.length - 2] : undefined;
}

/**
 * The answer to a call of a REST service smkit local does not answer (`aws s3 cp` with
 * `AWS_ENDPOINT_URL` pointing here): a 400 `UnknownOperationException` naming the service and what to
 * set, in a shape the client reads, S3's XML `<Error>` for `s3` (a bare 404 read as "Not Found",
 * which a HeadObject takes for a missing object), else the JSON of the runtime's errors.
 */
function sendOtherServiceError(req: Request, res: Response, service: string): void {
  const s3 = service === 's3';
  const message =
    `smkit local does not answer ${s3 ? 'Amazon S3' : `the AWS service signed for as "${excerpt(service, 64)}"`} (got ${req.method} ${excerpt(req.path, 200)}): if ${OTHER_SERVICE_HINT}` +
    (s3 ? '; or give S3 its own endpoint with AWS_ENDPOINT_URL_S3, such as a local S3 server at http://127.0.0.1:4569.' : '.');
  if (!s3) return sendError(res, new RuntimeApiError('UnknownOperationException', 400, message));
  const requestId = String(res.getHeader('x-amzn-RequestId') ?? '');
  res.status(400).setHeader('Content-Type', 'application/xml');
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>UnknownOperationException</Code><Message>${escapeXml(message)}</Message><RequestId>${escapeXml(requestId)}</RequestId></Error>`);
}

function sendError(res: Response, err: RuntimeApiError): void {
  res.status(err.status).setHeader('x-amzn-ErrorType', err.type);
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(err.body()));
}

/** A refused invocation's message: a missing `TargetModel` opens with the service's words, naming the request. */
function validationMessage(err: Error, res: Response): string {
  return err instanceof MissingTargetModelError ? `Request ${String(res.getHeader('x-amzn-RequestId'))} is missing a target model header. ${err.message}` : err.message;
}

/**
 * The SageMaker Runtime front door (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html): `POST /endpoints/{name}/invocations`
 * with the service's headers and error format, so AWS SDK clients work against it with an
 * endpoint override. A SigV4 `Authorization` is accepted and its signature never checked; only its
 * credential scope is read, to name the service a call the front door does not answer was signed for.
 */
export function createFrontDoor(opts: FrontDoorOptions): express.Express & Required<Pick<FrontDoorListener, 'answerHeadFault'>> {
  const accountId = opts.accountId ?? '000000000000';
  /** The SigV4 signing names of what this front door answers: the runtime (`sagemaker`), its services, and CloudWatch's query protocol. */
  const answeredServices = new Set(['sagemaker', ...(opts.services ?? []).map((s) => s.signingName), ...(opts.queryHandler ? ['monitoring'] : [])]);
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use((_req, res, next) => {
    res.setHeader('x-amzn-RequestId', randomUUID());
    next();
  });

  const sendIdleMs = opts.sendIdleMs ?? FRONT_DOOR_SEND_IDLE_MS;
  const budget = opts.bodyMemoryBytes === undefined ? undefined : new BodyBudget(opts.bodyMemoryBytes);
  const busy = () => frontDoorBusy(budget!.held, budget!.maxBytes);
  // Bodies over a limit are refused as they arrive, not read to their end first (as express.raw
  // does), and a body that stalls is answered in the request's protocol; the HTTP server's own
  // request timeout comes later (frontDoorRequestTimeoutMs), for bodies nothing reads.
  const bodyTimeoutMs = opts.bodyTimeoutMs ?? FRONT_DOOR_BODY_READ_TIMEOUT_MS;
  // A body is refused before it is parsed, so in the protocol the request names by its headers, as
  // the route below tells them apart: the SDKs read an error by its Content-Type, and a query
  // protocol client (the AWS CLI and boto3 for CloudWatch) reads only XML.
  const speaksQuery = (req: Request) => header(req, 'x-amz-target') === undefined && opts.queryHandler !== undefined && FORM_CONTENT_TYPE.test(header(req, 'content-type') ?? '');
  /**
   * `err` as the control plane writes it: in the query protocol, XML naming `requestId`; else the
   * awsJson error of the version `contentType` names ({@link awsJsonErrorAnswer}), with
   * `x-amzn-query-error` when `target`'s service is query-compatible (CloudWatch).
   */
  const controlPlaneAnswer = (err: AwsServiceError & QueryErrorDetails, via: { requestId: string } | { target: string; contentType: string | undefined }): AwsJsonErrorAnswer => {
    if ('requestId' in via) return { status: err.status, headers: {}, text: writeQueryError(queryCodeOf(err), err.message, queryFaultOf(err), opts.queryHandler!.xmlns ?? '', via.requestId), contentType: 'text/xml' };
    const queryCompatible = serviceForTarget(opts.services ?? [], via.target)?.awsQueryCompatible === true;
    return awsJsonErrorAnswer(awsJsonVersionOf(via.contentType), err, queryCompatible);
  };
  /** A control-plane refusal in the protocol the request's headers name (`controlPlaneAnswer`). */
  const controlPlaneError = (req: Request, err: AwsServiceError & QueryErrorDetails): BodyRefusal =>
    controlPlaneAnswer(
      err,
      speaksQuery(req) ? { requestId: String(req.res?.getHeader('x-amzn-RequestId') ?? randomUUID()) } : { target: header(req, 'x-amz-target') ?? '', contentType: header(req, 'content-type') },
    );
  /** An error the front door answers for a service: `type` in awsJson, `queryCode` in the query protocol and `x-amzn-query-error`. */
  const refusal = (type: string, queryCode: string, message: string, status: number): AwsServiceError & QueryErrorDetails => Object.assign(new AwsServiceError(type, message, status), { queryCode });
  const controlPlaneBody = invokeBody({
    maxBytes: MAX_AWS_JSON_BODY_BYTES,
    timeoutMs: bodyTimeoutMs,
    ...(budget ? { budget: { bytes: budget, busy } } : {}),
    refusals: {
      // The errors AWS documents as common to all its services' APIs for a request body too large
      // (RequestEntityTooLargeException, 413) and one that does not decode by its Content-Encoding
      // (MalformedHttpRequestException, 400): https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html.
      // CloudWatch's query code for a request over its size limit is RequestEntityTooLarge, as its own 1 MB limit answers.
      tooLarge: (req) => controlPlaneError(req, refusal('RequestEntityTooLargeException', 'RequestEntityTooLarge', `The request body is larger than the ${MAX_AWS_JSON_BODY_BYTES} bytes this server accepts.`, 413)),
      unreadable: (message, req) => controlPlaneError(req, new AwsServiceError('MalformedHttpRequestException', message, 400)),
      // In the control plane's protocols too, not the runtime's {"Message"}: botocore takes a JSON
      // error's code from __type only (else the status, "503"), and a query-compatible client its code from x-amzn-query-error.
      busy: (err, req) => controlPlaneError(req, new AwsServiceError(err.type, err.message, err.status)),
      // The common error for a request that could not be read in time (RequestTimeoutException, 408; same page).
      timedOut: (message, req) => controlPlaneError(req, new AwsServiceError('RequestTimeoutException', message, 408)),
    },
  });
  // The runtime passes an invocation's body to the model as the bytes sent ("Amazon SageMaker passes
  // all of the data in the body to the model") and strips every header its API does not name,
  // Content-Encoding among them (API_runtime_InvokeEndpoint): a gzipped body reaches the container
  // gzipped, with no header saying so. The control plane's SDKs do compress (PutMetricData's
  // requestCompression trait), so its bodies are decoded.
  const asyncBody = invokeBody({
    maxBytes: MAX_ASYNC_BODY_BYTES,
    timeoutMs: bodyTimeoutMs,
    inflate: false,
    ...(budget ? { budget: { bytes: budget, busy } } : {}),
    refusals: {
      // InvokeEndpointAsync says so as a ValidationError.
      tooLarge: () => {
        const err = validationError([{ value: '', member: 'body', constraint: `Member must have length less than or equal to ${MAX_ASYNC_BODY_BYTES}`, sensitive: true }]);
        return { status: err.status, type: err.type, body: err.body() };
      },
      unreadable: (message) => ({ status: 400, type: 'ValidationError', body: { Message: message } }),
    },
  });

  const realTimeBody = invokeBody({ maxBytes: MAX_INVOKE_BODY_BYTES, timeoutMs: bodyTimeoutMs, inflate: false, ...(budget ? { budget: { bytes: budget, busy } } : {}) });

  // A request a web page of another site sent is refused before anything reads its body or acts on
  // it (foreignOriginFault), in the protocol its headers name, and its connection closed.
  app.use((req: Request, res: Response, next: NextFunction) => {
    const fault = foreignOriginFault(req, opts.allowedHosts);
    if (fault === undefined) return next();
    const controlPlane = req.method === 'POST' && isRootTarget(req.url) && (header(req, 'x-amz-target') !== undefined || speaksQuery(req));
    if (controlPlane) {
      const err = new AwsServiceError('AccessDeniedException', fault, 403);
      const answer = controlPlaneAnswer(err, speaksQuery(req) ? { requestId: String(res.getHeader('x-amzn-RequestId')) } : { target: header(req, 'x-amz-target') ?? '', contentType: header(req, 'content-type') });
      for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
      return sendTextAndClose(req, res, answer.status, answer.text, answer.contentType);
    }
    const err = new RuntimeApiError('AccessDeniedException', 403, fault);
    res.setHeader('x-amzn-ErrorType', err.type);
    sendTextAndClose(req, res, err.status, JSON.stringify(err.body()), 'application/json');
  });

  // Control-plane APIs share the port with the runtime, told apart as the services tell them apart.
  app.post('/', controlPlaneBody, (req: Request, res: Response, next: NextFunction) => {
    const target = header(req, 'x-amz-target');
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    // A caller that stops reading its answer (a List* answer can be megabytes) is dropped, as for
    // invocations; set once the operation has answered, so a slow operation is not cut by it.
    const dropIfUnread = () => void res.setTimeout(sendIdleMs, () => res.destroy());
    if (target !== undefined) {
      dispatchAwsJson(opts.services ?? [], target, header(req, 'content-type'), body, res, opts.onInternalFailure).then(dropIfUnread, next);
      return;
    }
    if (opts.queryHandler && FORM_CONTENT_TYPE.test(header(req, 'content-type') ?? '')) {
      req.body = body;
      // The handler answers when it will: the timeout is set now (a CloudWatch operation takes no time of its own).
      dropIfUnread();
      opts.queryHandler(req, res);
      return;
    }
    next();
  });

  /** Validates the headers and finds the endpoint; answers the error itself and returns undefined when it cannot. */
  /** Like resolveTarget, for the real-time operations, which an asynchronous endpoint refuses. */
  const resolveRealTimeTarget = (req: Request<{ endpointName: string }>, res: Response, more: readonly ConstraintViolation[] = []) => {
    const target = resolveTarget(req, res, more);
    if (target?.endpoint.asynchronous) {
      return void target.fail(new RuntimeApiError('ValidationError', 400, `Endpoint ${target.name} is an asynchronous endpoint (its endpoint configuration has an AsyncInferenceConfig): invoke it with InvokeEndpointAsync.`));
    }
    return target;
  };

  /** `routeComponents` false: the endpoint itself is the target even when it hosts inference components (InvokeEndpointAsync has no InferenceComponentName). */
  const resolveTarget = (req: Request<{ endpointName: string }>, res: Response, more: readonly ConstraintViolation[] = [], routeComponents = true) => {
    const name = req.params.endpointName;
    const fail = (err: RuntimeApiError): void => {
      opts.onError?.(name, err);
      sendError(res, err);
    };
    const violations = [...checkHeaders(req, name), ...more];
    if (violations.length > 0) return void fail(validationError(violations));
    const endpoint = opts.endpoints.get(name);
    if (!endpoint) return void fail(endpointNotFound(name, accountId));
    const component = header(req, INFERENCE_COMPONENT_HEADER);
    if (endpoint.inferenceComponent && routeComponents) {
      try {
        return { name, endpoint: endpoint.inferenceComponent(component), fail };
      } catch (err) {
        if (err instanceof InferenceComponentRouteError) return void fail(new RuntimeApiError('ValidationError', 400, err.message));
        return void fail(new RuntimeApiError('InternalFailure', 500, `smkit local front door failed: ${(err as Error).message}`));
      }
    }
    if (component !== undefined) {
      // The service's answer for an endpoint without inference components.
      return void fail(new RuntimeApiError('ValidationError', 400, 'Inference Component Name header is not allowed for endpoints to which you dont plan to deploy inference components. Please remove the Inference Component Name header and try again.'));
    }
    return { name, endpoint, fail };
  };

  app.post(
    '/endpoints/:endpointName/invocations',
    realTimeBody,
    async (req: Request<{ endpointName: string }>, res: Response) => {
      const target = resolveRealTimeTarget(req, res, [...sessionViolations(req, true), ...explanationsViolations(req)]);
      if (!target) return;
      const { name, endpoint, fail } = target;
      const invocation = readInvocation(req, 'accept');

      try {
        const { variant, response } = await endpoint.invoke(invocation, undefined, undefined, budget);
        // The answer's bytes, taken as they arrived, are held until it is sent.
        if (budget) holdUntilDone(res, budget, response.body.length);
        res.status(200);
        res.setHeader('Content-Type', response.contentType);
        res.setHeader('x-Amzn-Invoked-Production-Variant', variant);
        if (response.customAttributes !== undefined) res.setHeader(SAGEMAKER_HEADERS.customAttributes.header, response.customAttributes);
        if (response.newSessionId !== undefined) res.setHeader('X-Amzn-SageMaker-New-Session-Id', response.newSessionId);
        if (response.closedSessionId !== undefined) res.setHeader('X-Amzn-SageMaker-Closed-Session-Id', response.closedSessionId);
        // A caller that stops reading its answer is dropped (once the answer is sent, Node's keep-alive
        // timeout takes over); one that reads it slowly is not, the answer going in slices.
        res.setTimeout(sendIdleMs, () => res.destroy());
        endInSlices(res, response.body);
      } catch (err) {
        if (err instanceof ContainerFailure) return fail(modelErrorFor(err, opts.logGroupArn?.(name)));
        if (err instanceof UnknownVariantError || err instanceof TargetModelError || err instanceof TargetContainerError) return fail(new RuntimeApiError('ValidationError', 400, validationMessage(err, res)));
        if (err instanceof OversizeBodyError) return fail(oversizeBody(res, err));
        if (err instanceof ModelNotReadyError) return fail(new RuntimeApiError('ModelNotReadyException', 429, err.message));
        if (err instanceof ModelFetchUnavailableError) return fail(new RuntimeApiError('ServiceUnavailable', 503, err.message));
        if (err instanceof AnswerOverBudgetError) {
          // An answer that does not fit is not read further (and a retry may pass).
          res.setHeader('Retry-After', '1');
          return fail(busy());
        }
        const unavailable = noInstanceInService(name, err) ?? serverlessThrottled(name, err) ?? instancesBusy(name, err) ?? coldStartFailed(name, err);
        if (unavailable) return fail(unavailable);
        return fail(new RuntimeApiError('InternalFailure', 500, `smkit local front door failed: ${(err as Error).message}`));
      }
    },
  );

  app.post(
    '/endpoints/:endpointName/invocations-response-stream',
    realTimeBody,
    async (req: Request<{ endpointName: string }>, res: Response) => {
      // The streaming operation has no TargetModel, and the service strips every header its API
      // does not name (API_runtime_InvokeEndpointWithResponseStream): a multi-model endpoint is not streamed.
      delete req.headers[SAGEMAKER_HEADERS.targetModel.header];
      // Nor a plain Accept: its Accept is X-Amzn-SageMaker-Accept, checked in its place.
      delete req.headers.accept;
      const target = resolveRealTimeTarget(req, res, [...ruleViolations(req, [STREAM_ACCEPT_RULE]), ...sessionViolations(req, false)]);
      if (!target) return;
      const { name, endpoint, fail } = target;
      // The streaming operation carries Accept as X-Amzn-SageMaker-Accept (API_runtime_InvokeEndpointWithResponseStream).
      const invocation = readInvocation(req, STREAM_ACCEPT_HEADER);
      // A caller that goes away stops the container's answer: nothing is read for nobody.
      const callerGone = new AbortController();
      res.once('close', () => callerGone.abort());
      let answer: StreamedAnswer;
      let variantName: string;
      try {
        ({ variant: variantName, answer } = await endpoint.stream(invocation, { signal: callerGone.signal }));
      } catch (err) {
        if (callerGone.signal.aborted) return;
        if (err instanceof ContainerFailure) return fail(modelErrorFor(err, opts.logGroupArn?.(name)));
        if (err instanceof UnknownVariantError || err instanceof TargetModelError || err instanceof TargetContainerError) return fail(new RuntimeApiError('ValidationError', 400, validationMessage(err, res)));
        if (err instanceof OversizeBodyError) return fail(oversizeBody(res, err));
        if (err instanceof ModelNotReadyError) return fail(new RuntimeApiError('ModelNotReadyException', 429, err.message));
        if (err instanceof ModelFetchUnavailableError) return fail(new RuntimeApiError('ServiceUnavailable', 503, err.message));
        const unavailable = noInstanceInService(name, err) ?? serverlessThrottled(name, err) ?? instancesBusy(name, err) ?? coldStartFailed(name, err);
        if (unavailable) return fail(unavailable);
        if (err instanceof PipelineStreamingError) return fail(new RuntimeApiError('ValidationError', 400, `Response streaming is supported for single-container variants; ${name}/${err.variant} is a serial pipeline of ${err.containers}.`));
        return fail(new RuntimeApiError('InternalFailure', 500, `smkit local front door failed: ${(err as Error).message}`));
      }
      res.status(200);
      res.setHeader('Content-Type', EVENT_STREAM_CONTENT_TYPE);
      res.setHeader(STREAM_CONTENT_TYPE_HEADER, answer.contentType);
      res.setHeader('x-Amzn-Invoked-Production-Variant', variantName);
      if (answer.customAttributes !== undefined) res.setHeader(SAGEMAKER_HEADERS.customAttributes.header, answer.customAttributes);
      try {
        // Read the container no faster than the caller reads the stream: a caller that stops
        // reading holds the container back instead of filling this process's memory.
        for await (const chunk of answer.chunks) {
          // Once the caller is gone ('close' came) neither 'drain' nor 'close' will: no wait. The
          // container's read is aborted with it, so no chunk should come after; this does not rely on that.
          if (!res.write(payloadPart(chunk)) && !callerGone.signal.aborted) await writable(res, sendIdleMs);
          if (callerGone.signal.aborted) break;
        }
      } catch (err) {
        if (callerGone.signal.aborted) return;
        // The service's words for a stream cut by its time limit (ModelStreamError, ErrorCode ModelInvocationTimeExceeded).
        if (err instanceof StreamTimeoutError) res.write(modelStreamError(`Your model ${err.hostname} did not complete sending the inference response in the allotted time.`, 'ModelInvocationTimeExceeded'));
        else if (err instanceof StreamBrokenError) res.write(modelStreamError(`The model's response stream broke: ${err.message}. See the container log for more information.`, 'StreamBroken'));
        else {
          // A failure of the front door's own is not the model's: the service's event for it, with
          // its words (API_runtime_ResponseStream), and the cause reported as an InternalFailure's is.
          reportInternalFailure('front door', err, opts.onInternalFailure);
          res.write(internalStreamFailure('The stream processing failed because of an unknown error, exception or failure. Try your request again.'));
        }
      }
      res.setTimeout(sendIdleMs, () => res.destroy());
      res.end();
    },
  );

  app.post(
    '/endpoints/:endpointName/async-invocations',
    asyncBody,
    (req: Request<{ endpointName: string }>, res: Response) => {
      for (const name of NOT_ASYNC_HEADERS) delete req.headers[name];
      // An S3 key may hold any UTF-8: checked (1024 characters) and read as the client meant it.
      const sentLocation = header(req, ASYNC_HEADERS.inputLocation);
      if (sentLocation !== undefined) req.headers[ASYNC_HEADERS.inputLocation] = headerText(sentLocation);
      const violations = checkAsyncHeaders(req);
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      // An endpoint for inference components is never asynchronous (its config cannot have AsyncInferenceConfig): it refuses as any real-time endpoint does.
      const target = resolveTarget(req, res, violations, false);
      if (!target) return;
      const { name, endpoint, fail } = target;
      const inputLocation = header(req, ASYNC_HEADERS.inputLocation);
      if ((inputLocation === undefined) === (body.length === 0)) return fail(new RuntimeApiError('ValidationError', 400, 'Body and InputLocation are mutually exclusive: provide exactly one of them.'));
      if (!endpoint.invokeAsync) return fail(new RuntimeApiError('ValidationError', 400, new AsyncInferenceNotConfiguredError(name).message));
      const contentType = header(req, ASYNC_HEADERS.contentType);
      const accept = header(req, ASYNC_HEADERS.accept);
      const inferenceId = header(req, SAGEMAKER_HEADERS.inferenceId.header);
      const extension = header(req, ASYNC_HEADERS.outputPathExtension);
      const filename = header(req, ASYNC_HEADERS.filename);
      const ttl = header(req, ASYNC_HEADERS.requestTtlSeconds);
      const invocationTimeout = header(req, ASYNC_HEADERS.invocationTimeoutSeconds);
      // The queue keeps the inline body until the request has run: it holds its bytes of the budget
      // till then, so that queued bodies (up to 10000 of 128000 bytes per endpoint) are bounded too.
      const queued = budget && inputLocation === undefined ? body.length : 0;
      if (queued > 0 && !budget!.take(queued)) {
        res.setHeader('Retry-After', '1');
        return fail(busy());
      }
      let releasable = queued > 0;
      const release = () => {
        if (releasable) budget!.give(queued);
        releasable = false;
      };
      let accepted: AsyncInvocationAccepted;
      try {
        accepted = endpoint.invokeAsync({
          invocation: { ...readSageMakerHeaders((h) => header(req, h)), contentType: contentType ?? 'application/octet-stream', ...(accept === undefined ? {} : { accept }) },
          ...(inputLocation === undefined ? { body } : { inputLocation }),
          ...(inferenceId === undefined ? {} : { inferenceId }),
          ...(extension === undefined ? {} : { outputPathExtension: extension }),
          ...(filename === undefined ? {} : { filename }),
          ...(ttl === undefined ? {} : { requestTtlSeconds: Number(ttl) }),
          ...(invocationTimeout === undefined ? {} : { invocationTimeoutSeconds: Number(invocationTimeout) }),
          ...(queued > 0 ? { release } : {}),
          ...(budget ? { budget } : {}),
        });
      } catch (err) {
        release();
        if (err instanceof AsyncInferenceNotConfiguredError || err instanceof AsyncOutputOutsideFolderError || err instanceof AsyncOutputKeyTooLongError || err instanceof AsyncOutputNameTooLongError) return fail(new RuntimeApiError('ValidationError', 400, err.message));
        if (err instanceof AsyncQueueFullError || err instanceof AsyncQueueClosedError) return fail(new RuntimeApiError('ServiceUnavailable', 503, err.message));
        return fail(new RuntimeApiError('InternalFailure', 500, `smkit local front door failed: ${(err as Error).message}`));
      }
      res.status(202);
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('X-Amzn-SageMaker-OutputLocation', locationHeader(accepted.outputLocation));
      if (accepted.failureLocation !== undefined) res.setHeader('X-Amzn-SageMaker-FailureLocation', locationHeader(accepted.failureLocation));
      // A Buffer: node:http writes the headers as Latin-1 then, but joins them to a string body and writes both as UTF-8.
      res.end(Buffer.from(JSON.stringify({ InferenceId: accepted.inferenceId })));
    },
  );

  app.use((req: Request, res: Response) => {
    if (/^\/endpoints\/[^/]+\/invocations-bidirectional-stream\/?$/.test(req.path)) {
      const message =
        'smkit local does not offer InvokeEndpointWithBidirectionalStream (SageMaker Runtime HTTP/2): open a WebSocket to the container at /invocations-bidirectional-stream instead, for example smkit invoke --bidi http://127.0.0.1:<port of the container>';
      return sendError(res, new RuntimeApiError('UnknownOperationException', 404, message));
    }
    const signedFor = signingServiceOf(req);
    if (signedFor !== undefined && !answeredServices.has(signedFor)) return sendOtherServiceError(req, res, signedFor);
    sendError(res, new RuntimeApiError('UnknownOperationException', 404, `smkit local answers only POST /endpoints/{EndpointName}/invocations, /invocations-response-stream and /async-invocations, and POST / with X-Amz-Target for the control plane (got ${req.method} ${req.path}).`));
  });

  /**
   * A control-plane request (`POST /`, with `X-Amz-Target` or, for the query handler, a form body)
   * whose head the server refuses before routing (two `Host` lines, differing `Content-Type` lines or
   * lines of one `X-Amzn-SageMaker-*` header, an invalid `Host`, a fragment in the target) is answered as its service answers errors: a query
   * client (botocore, the AWS CLI) reads only XML, an awsJson one `__type` (CloudWatch's code from
   * `x-amzn-query-error`). The error is AWS's common one for a request wrong at the HTTP level,
   * MalformedHttpRequestException (400), as for a body that does not decode. Any other request
   * (an invocation, or a request for no route) is answered as the runtime answers a request it
   * refuses, a ValidationError (400) in x-amzn-ErrorType with the message in `Message`, which an SDK
   * client reads (smkit serve's `{"code":"ERR_BAD_REQUEST"}` became an error named ERR_BAD_REQUEST
   * in the AWS SDK for JavaScript, and one named 400 in botocore). A control-plane `POST /` that
   * is neither JSON nor a query is left to the server's own answer.
   */
  const answerHeadFault = (req: IncomingMessage, res: ServerResponse, fault: string): boolean => {
    const sentence = fault.charAt(0).toUpperCase() + fault.slice(1);
    if (!isRootTarget(req.url ?? '')) {
      res.setHeader('x-amzn-RequestId', randomUUID());
      const err = new RuntimeApiError('ValidationError', 400, sentence);
      res.setHeader('x-amzn-ErrorType', err.type);
      sendTextAndClose(req, res, err.status, JSON.stringify(err.body()), 'application/json');
      return true;
    }
    if (req.method !== 'POST') return false;
    const raw = req.headers['x-amz-target'];
    const target = Array.isArray(raw) ? raw.join(', ') : raw;
    // Two Content-Type lines may differ: each is read for what it can say, none trusted as the one.
    const contentTypes = contentTypeLines(req);
    const json = target !== undefined;
    const query = !json && opts.queryHandler !== undefined && contentTypes.some((t) => FORM_CONTENT_TYPE.test(t));
    if (!json && !query) return false;
    const requestId = randomUUID();
    res.setHeader('x-amzn-RequestId', requestId);
    const err = new AwsServiceError('MalformedHttpRequestException', sentence, 400);
    const answer = controlPlaneAnswer(err, query ? { requestId } : { target: target!, contentType: contentTypes.find((t) => /x-amz-json/i.test(t)) });
    for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
    sendTextAndClose(req, res, answer.status, answer.text, answer.contentType);
    return true;
  };

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof URIError) {
      // The router could not percent-decode the endpoint name (`%E0%A4%A`): no valid name has a `%`.
      const raw = /^\/endpoints\/([^/]*)/.exec(req.path)?.[1] ?? req.path;
      return sendError(res, validationError([{ value: raw, member: 'endpointName', constraint: 'Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*' }]));
    }
    const e = err as { status?: number; message?: string };
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      return sendError(res, new RuntimeApiError('ValidationError', 400, e.message ?? 'The request could not be read.'));
    }
    reportInternalFailure('front door', err, opts.onInternalFailure);
    sendError(res, new RuntimeApiError('InternalFailure', 500, INTERNAL_FAILURE_MESSAGE));
  });
  return Object.assign(app, { answerHeadFault });
}

/** Whether a request target is the control plane's `/` (origin form, or absolute form with that path), whatever query or fragment follows. */
function isRootTarget(url: string): boolean {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(url)?.[0];
  // An absolute form's empty path is `/` (RFC 9110 §4.2.3), as express routes `http://host?Action=…`.
  const path = authority === undefined ? url : url.slice(authority.length).replace(/^(?!\/)/, '/');
  return path === '/' || path.startsWith('/?') || path.startsWith('/#');
}

/** Every `Content-Type` line of a request, as sent (Node keeps only the first in `req.headers`). */
function contentTypeLines(req: IncomingMessage): string[] {
  const lines: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'content-type') lines.push(req.rawHeaders[i + 1]!);
  return lines;
}

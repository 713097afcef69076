import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { AwsServiceError, internalFailure, queryCodeOf, queryFaultOf, serviceNameOf, type AwsService, type InternalFailureLog, type QueryErrorDetails } from '../service.js';
import { jsonNestsDeeperThan } from '../../codecs/json-depth.js';
import { endInSlices } from '../../net/end-in-slices.js';
import { excerpt } from '../../errors/excerpt.js';
import { OTHER_SERVICE_HINT } from '../other-service-hint.js';

/** The two JSON protocol versions: SageMaker and Application Auto Scaling speak 1.1, CloudWatch 1.0. */
export type AwsJsonVersion = '1.0' | '1.1';

/** Largest awsJson request body accepted: 5 MiB, far above any control-plane request. */
export const MAX_AWS_JSON_BODY_BYTES = 5 * 1024 * 1024;

/**
 * Deepest nesting of objects and arrays an awsJson request may have. No operation's input comes
 * near it; deeper input is refused before any service code walks it (recursively).
 */
export const MAX_AWS_JSON_DEPTH = 512;

/** One awsJson request: which service prefix and operation, and the input members. */
export interface AwsJsonRequest {
  /** The part of `X-Amz-Target` before the dot, for example `SageMaker`. */
  targetPrefix: string;
  /** The operation, for example `CreateEndpoint`. */
  operation: string;
  input: Record<string, unknown>;
  /** Taken from the request's `Content-Type`; the response uses the same. */
  version: AwsJsonVersion;
}

/** The protocol version a request's `Content-Type` names (1.1 unless it says 1.0). */
export function awsJsonVersionOf(contentType: string | undefined): AwsJsonVersion {
  return /application\/x-amz-json-1\.0/i.test(contentType ?? '') ? '1.0' : '1.1';
}

/**
 * Parses an awsJson request (`X-Amz-Target: <prefix>.<Operation>`, JSON object body). An empty
 * body is `{}`, as the SDKs send for operations without input. Throws `SerializationException`
 * (400) for a body that is not a JSON object or nests deeper than {@link MAX_AWS_JSON_DEPTH}, and
 * `UnknownOperationException` (query code `InvalidAction`) for a malformed target.
 */
export function parseAwsJsonRequest(target: string, contentType: string | undefined, body: Buffer): AwsJsonRequest {
  const version = awsJsonVersionOf(contentType);
  const dot = target.lastIndexOf('.');
  if (dot <= 0 || dot === target.length - 1) {
    // In the query protocol an operation the service does not have is InvalidAction (CloudWatch's
    // common errors), the code a query-compatible service gives any UnknownOperationException.
    throw Object.assign(new AwsServiceError('UnknownOperationException', `X-Amz-Target "${excerpt(target, 100)}" is not of the form <Service>.<Operation>.`, 400), { queryCode: 'InvalidAction' });
  }
  let input: unknown = {};
  const text = body.toString('utf8');
  if (text.trim() !== '') {
    if (jsonNestsDeeperThan(text, MAX_AWS_JSON_DEPTH)) {
      throw new AwsServiceError('SerializationException', `The request body nests objects and arrays more than ${MAX_AWS_JSON_DEPTH} deep.`, 400);
    }
    try {
      input = JSON.parse(text);
    } catch (err) {
      throw new AwsServiceError('SerializationException', `The request body is not valid JSON: ${(err as Error).message}`, 400);
    }
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new AwsServiceError('SerializationException', 'The request body must be a JSON object of the operation\'s input members.', 400);
  }
  return { targetPrefix: target.slice(0, dot), operation: target.slice(dot + 1), input: input as Record<string, unknown>, version };
}

/** The `Content-Type` of an awsJson answer in `version`. */
export function contentTypeFor(version: AwsJsonVersion): string {
  return `application/x-amz-json-${version}`;
}

function ensureRequestId(res: ServerResponse): void {
  if (!res.hasHeader('x-amzn-RequestId')) res.setHeader('x-amzn-RequestId', randomUUID());
}

/** Writes an operation's output: 200 with the JSON body in the request's protocol version. */
export function writeAwsJsonOutput(res: ServerResponse, version: AwsJsonVersion, output: Record<string, unknown>): void {
  ensureRequestId(res);
  const body = JSON.stringify(output);
  res.statusCode = 200;
  res.setHeader('Content-Type', contentTypeFor(version));
  res.setHeader('Content-Length', Buffer.byteLength(body));
  // A List* answer can be megabytes: written in slices, a caller reading it slowly is not taken for one that stopped.
  endInSlices(res, body);
}

/** An awsJson error as it goes on the wire, whoever answers it: the service ({@link writeAwsJsonError}) or the front door refusing a body. */
export interface AwsJsonErrorAnswer {
  readonly status: number;
  /** The request's protocol version's (`application/x-amz-json-1.1` or `-1.0`). */
  readonly contentType: string;
  /** `x-amzn-ErrorType`, and for a query-compatible service `x-amzn-query-error`. */
  readonly headers: Readonly<Record<string, string>>;
  /** `{"__type": <type>, "message": <text>}`. */
  readonly text: string;
}

/**
 * A service error the way the JS SDK v3, botocore and the AWS CLI read it: the status,
 * `x-amzn-ErrorType` and a body `{"__type": <type>, "message": <text>}`, and for query-compatible
 * services (CloudWatch) `x-amzn-query-error: <query code>;Sender|Receiver`, from which those SDKs
 * take the error code. `__type` stays the JSON type there, the query code going in the header only,
 * as Smithy's protocol test for awsQueryCompatible has it (QueryCompatibleAwsJson10CustomCodeError:
 * `__type` `aws.protocoltests.json10#CustomCodeError` with `x-amzn-query-error: Customized;Sender`);
 * botocore keeps that `__type` as the error's `QueryErrorCode`.
 */
export function awsJsonErrorAnswer(version: AwsJsonVersion, err: AwsServiceError & QueryErrorDetails, queryCompatible = false): AwsJsonErrorAnswer {
  return {
    status: err.status,
    contentType: contentTypeFor(version),
    headers: { 'x-amzn-ErrorType': err.type, ...(queryCompatible ? { 'x-amzn-query-error': `${queryCodeOf(err)};${queryFaultOf(err)}` } : {}) },
    text: JSON.stringify({ __type: err.type, message: err.message }),
  };
}

/** Writes a service error as {@link awsJsonErrorAnswer} has it. */
export function writeAwsJsonError(res: ServerResponse, version: AwsJsonVersion, err: AwsServiceError & QueryErrorDetails, queryCompatible = false): void {
  ensureRequestId(res);
  const answer = awsJsonErrorAnswer(version, err, queryCompatible);
  res.statusCode = answer.status;
  res.setHeader('Content-Type', answer.contentType);
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  res.setHeader('Content-Length', Buffer.byteLength(answer.text));
  res.end(answer.text);
}

/**
 * Runs one awsJson request against the service whose `targetPrefix` matches and writes the
 * answer. Anything that is not an {@link AwsServiceError} becomes a 500 `InternalFailure`, so a bug
 * shows as a service error instead of a dropped connection; its text goes to `onInternalFailure`
 * only, as AWS's answer says nothing of the cause (without it, or when it throws, to a process
 * warning: `reportInternalFailure`).
 */
export async function dispatchAwsJson(services: readonly AwsService[], target: string, contentType: string | undefined, body: Buffer, res: ServerResponse, onInternalFailure?: InternalFailureLog): Promise<void> {
  const version = awsJsonVersionOf(contentType);
  // Found before the body is read, so that a body it cannot read is answered as its other errors are
  // (for CloudWatch with x-amzn-query-error), and as the front door answers a body it refuses.
  const service = serviceForTarget(services, target);
  const queryCompatible = service?.awsQueryCompatible ?? false;
  let request: AwsJsonRequest;
  try {
    request = parseAwsJsonRequest(target, contentType, body);
  } catch (err) {
    return writeAwsJsonError(res, version, err as AwsServiceError, queryCompatible);
  }
  if (!service) {
    const known = services.map((s) => s.targetPrefix).join(', ');
    return writeAwsJsonError(res, version, new AwsServiceError('UnknownOperationException', `No local service answers X-Amz-Target prefix "${excerpt(request.targetPrefix, 100)}" (this server answers: ${known || 'none'}); if ${OTHER_SERVICE_HINT}.`, 400));
  }
  try {
    const output = await service.call(request.operation, request.input);
    writeAwsJsonOutput(res, version, output);
  } catch (err) {
    const serviceError = err instanceof AwsServiceError ? err : internalFailure(serviceNameOf(service.signingName), err, onInternalFailure);
    writeAwsJsonError(res, version, serviceError, queryCompatible);
  }
}

/** The service an `X-Amz-Target` names by its part before the last dot, as {@link parseAwsJsonRequest} reads it; undefined when none has that prefix. */
export function serviceForTarget(services: readonly AwsService[], target: string): AwsService | undefined {
  const dot = target.lastIndexOf('.');
  return dot > 0 ? services.find((s) => s.targetPrefix === target.slice(0, dot)) : undefined;
}

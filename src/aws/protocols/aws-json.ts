import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { AwsServiceError, type AwsService } from '../service.js';
import { jsonNestsDeeperThan } from '../../codecs/json-depth.js';
import { endInSlices } from '../../net/end-in-slices.js';

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
 * `UnknownOperationException` for a malformed target.
 */
export function parseAwsJsonRequest(target: string, contentType: string | undefined, body: Buffer): AwsJsonRequest {
  const version = awsJsonVersionOf(contentType);
  const dot = target.lastIndexOf('.');
  if (dot <= 0 || dot === target.length - 1) {
    throw new AwsServiceError('UnknownOperationException', `X-Amz-Target "${target}" is not of the form <Service>.<Operation>.`, 400);
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

/**
 * Writes a service error the way the JS SDK v3, botocore and the AWS CLI read it: the status,
 * `x-amzn-ErrorType`, a body `{"__type": <type>, "message": <text>}`, and for query-compatible
 * services (CloudWatch) `x-amzn-query-error: <type>;Sender|Receiver`, from which those SDKs take
 * the error code.
 */
export function writeAwsJsonError(res: ServerResponse, version: AwsJsonVersion, err: AwsServiceError, queryCompatible = false): void {
  ensureRequestId(res);
  const body = JSON.stringify({ __type: err.type, message: err.message });
  res.statusCode = err.status;
  res.setHeader('Content-Type', contentTypeFor(version));
  res.setHeader('x-amzn-ErrorType', err.type);
  // A query-compatible error may name its query code apart from its shape (InvalidParameterValue vs InvalidParameterValueException).
  const queryCode = (err as AwsServiceError & { queryCode?: unknown }).queryCode;
  if (queryCompatible) res.setHeader('x-amzn-query-error', `${typeof queryCode === 'string' ? queryCode : err.type};${err.sender ? 'Sender' : 'Receiver'}`);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

/**
 * Runs one awsJson request against the service whose `targetPrefix` matches and writes the
 * answer. Anything that is not an {@link AwsServiceError} becomes a 500 `InternalFailure`, so a bug
 * shows as a service error instead of a dropped connection.
 */
export async function dispatchAwsJson(services: readonly AwsService[], target: string, contentType: string | undefined, body: Buffer, res: ServerResponse): Promise<void> {
  const version = awsJsonVersionOf(contentType);
  let request: AwsJsonRequest;
  try {
    request = parseAwsJsonRequest(target, contentType, body);
  } catch (err) {
    return writeAwsJsonError(res, version, err as AwsServiceError);
  }
  const service = services.find((s) => s.targetPrefix === request.targetPrefix);
  if (!service) {
    const known = services.map((s) => s.targetPrefix).join(', ');
    return writeAwsJsonError(res, version, new AwsServiceError('UnknownOperationException', `No local service answers X-Amz-Target prefix "${request.targetPrefix}" (this server answers: ${known || 'none'}).`, 400));
  }
  try {
    const output = await service.call(request.operation, request.input);
    writeAwsJsonOutput(res, version, output);
  } catch (err) {
    const serviceError = err instanceof AwsServiceError ? err : new AwsServiceError('InternalFailure', `The local ${service.signingName} service failed: ${(err as Error).message}`, 500);
    writeAwsJsonError(res, version, serviceError, service.awsQueryCompatible ?? false);
  }
}

import type { SageMakerHeaders } from './context.js';

/** One SageMaker request header: its HTTP name (lower case) and the length limits `InvokeEndpoint` puts on it. */
export interface SageMakerHeaderSpec {
  /** Lower-case HTTP header name, for example `x-amzn-sagemaker-custom-attributes`. */
  readonly header: string;
  /** Shortest value the Runtime API accepts. */
  readonly min: number;
  /** Longest value the Runtime API accepts. */
  readonly max: number;
}

/**
 * The one table of SageMaker's invocation headers, by the member name user code sees. Limits are
 * `InvokeEndpoint`'s documented constraints
 * (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html); the
 * container, the local front door, serial pipelines and `smkit invoke` all read and write them
 * from here.
 */
export const SAGEMAKER_HEADERS: Readonly<Record<keyof SageMakerHeaders, SageMakerHeaderSpec>> = Object.freeze({
  customAttributes: { header: 'x-amzn-sagemaker-custom-attributes', min: 0, max: 1024 },
  targetModel: { header: 'x-amzn-sagemaker-target-model', min: 1, max: 1024 },
  targetVariant: { header: 'x-amzn-sagemaker-target-variant', min: 0, max: 63 },
  inferenceId: { header: 'x-amzn-sagemaker-inference-id', min: 1, max: 64 },
});

/** smkit's own response header of `/ping` that carries `SMKIT_INSTANCE_ID` (not a SageMaker header). */
export const INSTANCE_ID_HEADER = 'x-smkit-instance-id';

/** `SessionId` of `InvokeEndpoint`: `NEW_SESSION` on the request that opens a stateful session, then its id. */
export const SESSION_ID_HEADER = 'x-amzn-sagemaker-session-id';
/** `NewSessionId` of `InvokeEndpoint`'s answer: `<id>; Expires=<time>`. */
export const NEW_SESSION_ID_HEADER = 'x-amzn-sagemaker-new-session-id';
/** `ClosedSessionId` of `InvokeEndpoint`'s answer. */
export const CLOSED_SESSION_ID_HEADER = 'x-amzn-sagemaker-closed-session-id';
/** The `SessionId` value that asks for a new session. */
export const NEW_SESSION = 'NEW_SESSION';
/** `SessionId`'s constraint in the Runtime API model (with `NEW_SESSION`), at most 256 characters. */
export const SESSION_ID_PATTERN = /^[a-zA-Z0-9](-*[a-zA-Z0-9])*$/;
/** Longest `SessionId`. */
export const SESSION_ID_MAX_LENGTH = 256;
/**
 * `\A\S[\p{Print}]*\z` of the Runtime API model (shapes `TargetModelHeader`, `InferenceId`): no
 * leading blank, then printable ASCII (Java's `\p{Print}`, space to `~`); no tab.
 */
export const PRINTABLE_ID_PATTERN = /^\S[\x20-\x7e]*$/;

/** `InvokeEndpointWithResponseStream` carries the caller's Accept in this header. */
export const STREAM_ACCEPT_HEADER = 'x-amzn-sagemaker-accept';
/** `InvokeEndpointWithResponseStream` answers the container's Content-Type in this header. */
export const STREAM_CONTENT_TYPE_HEADER = 'x-amzn-sagemaker-content-type';

/** The headers as [member, spec] pairs, listed once: every request reads them. */
const HEADER_ENTRIES = Object.entries(SAGEMAKER_HEADERS) as [keyof SageMakerHeaders, SageMakerHeaderSpec][];

/** Reads the SageMaker headers of a request; `get` returns a header's value by lower-case name. */
export function readSageMakerHeaders(get: (header: string) => string | undefined): SageMakerHeaders {
  const out: SageMakerHeaders = {};
  for (const [member, spec] of HEADER_ENTRIES) {
    const value = get(spec.header);
    if (value !== undefined) out[member] = value;
  }
  return out;
}

/** Writes the SageMaker headers that are set into `into` (lower-case names) and returns it. */
export function writeSageMakerHeaders(headers: SageMakerHeaders, into: Record<string, string> = {}): Record<string, string> {
  for (const [member, spec] of HEADER_ENTRIES) {
    const value = headers[member];
    if (value !== undefined) into[spec.header] = value;
  }
  return into;
}

/**
 * SageMaker's rule for endpoint, variant, model and container host names: letters, digits and
 * hyphens, not starting or ending with a hyphen, at most {@link SAGEMAKER_NAME_MAX_LENGTH} characters
 * (`EndpointName` in https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html).
 */
export const SAGEMAKER_NAME_PATTERN = /^[a-zA-Z0-9](-*[a-zA-Z0-9])*$/;
/**
 * Largest request body of InvokeEndpoint and InvokeEndpointWithResponseStream: 6 MB (`Body`
 * maximum 6291456 bytes, https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html;
 * older API models said 5242880). A blob the SDKs send whole, with its Content-Length.
 */
export const INVOKE_ENDPOINT_MAX_BODY_BYTES = 6_291_456;
/** Longest endpoint, variant or host name. */
export const SAGEMAKER_NAME_MAX_LENGTH = 63;

/** True when `name` follows {@link SAGEMAKER_NAME_PATTERN} and is at most 63 characters. */
export function isSageMakerName(name: string): boolean {
  return name.length <= SAGEMAKER_NAME_MAX_LENGTH && SAGEMAKER_NAME_PATTERN.test(name);
}

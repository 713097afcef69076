import { ToolkitError } from '../errors/catalogue.js';

/** What the AWS CLI and the SDKs send when the caller gives no content type. */
const OCTET_STREAM = 'application/octet-stream';

/**
 * Adds a hint to a 4xx decode or input error when the client probably forgot its Content-Type:
 * none at all (smkit then reads the body as JSON), or `application/octet-stream` (what the AWS
 * CLI and SDKs send by default, handed on as raw bytes). The hint says which type was assumed and
 * how to set one. Other errors, and requests with a real content type, pass through unchanged.
 */
export function withContentTypeHint(err: unknown, sentContentType: string | undefined): unknown {
  if (!(err instanceof ToolkitError) || err.status < 400 || err.status >= 500) return err;
  const sent = sentContentType?.split(';')[0]?.trim().toLowerCase() ?? '';
  let hint: string;
  if (sent === '') {
    hint = 'the request had no Content-Type, so the body was read as application/json';
  } else if (sent === OCTET_STREAM) {
    hint = 'the request\'s Content-Type was application/octet-stream (what the AWS CLI and SDKs send when none is given), so the body was handed on as raw bytes';
  } else {
    return err;
  }
  const how = "set the body's type: curl -H 'Content-Type: text/csv', aws sagemaker-runtime invoke-endpoint --content-type text/csv, or ContentType in an SDK call";
  const message = `${err.message} (${hint}; ${how})`;
  // A protocol's {"error"} member (TF Serving, v2) repeats the message: keep the two equal.
  const details = err.details && 'error' in err.details ? { ...err.details, error: message } : err.details;
  return new ToolkitError(err.code, message, { status: err.status, cause: err, ...(details ? { details } : {}) });
}

import { STATUS_CODES } from 'node:http';
import { ToolkitError } from '../errors/catalogue.js';

/** The parts of an AWS SDK service exception deploy reads. */
interface SdkError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * What to set when the SDK could not even send a call: it found no region or no credentials
 * (its own errors name neither the flag nor the variables), or the credentials have expired; and
 * what to do about a role SageMaker cannot assume or a quota, which no change to the call itself gets past.
 */
function setupHint(name: string, message: string): string {
  if (message === 'Region is missing') return ' Give the region: --region, deploy.region in the endpoint file, AWS_REGION, or region in your AWS profile.';
  if (name === 'CredentialsProviderError') {
    return ' No AWS credentials were found: set AWS_PROFILE (a profile of ~/.aws/config; run aws sso login first for an SSO one), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; to rehearse against the local SageMaker, give --endpoint-url http://127.0.0.1:PORT.';
  }
  if (name === 'ValidationException' && /^Could not assume role /.test(message)) {
    return " The role is deploy.role in the endpoint file: check its ARN (a role under a path keeps the path in it, arn:aws:iam::<account>:role/service-role/<name>) and that its trust policy lets sagemaker.amazonaws.com call sts:AssumeRole; IAM changes take a while to reach SageMaker, so for a role created or changed just now, run smkit deploy again in a minute.";
  }
  if (name === 'ResourceLimitExceeded') {
    return ' Quotas are per account and region: ask for more in the Service Quotas console (Amazon SageMaker, the quota the message names), or change instanceType or instanceCount in the endpoint file; what deploy made before this step stays, and the next run picks up from there.';
  }
  if (name === 'ExpiredTokenException' || name === 'ExpiredToken') return ' The AWS credentials have expired: refresh them (aws sso login, or new temporary keys) and run smkit deploy again.';
  return '';
}

/**
 * What to do when a throttled or 5xx call has used up the SDK's attempts: a later run plans
 * from what exists, so it picks up where this one stopped (a create that went through after all is
 * found, not made twice).
 */
function retryHint(err: unknown): string {
  if (!isTransient(err)) return '';
  const attempts = (err as { $metadata?: { attempts?: number } }).$metadata?.attempts;
  return ` The AWS SDK ${attempts !== undefined && attempts > 1 ? `tried ${attempts} times` : 'gave up'} (AWS_MAX_ATTEMPTS, default 3; AWS_RETRY_MODE=adaptive also slows its calls down): run smkit deploy again in a while; it plans from what exists, so it picks up where this run stopped.`;
}

/**
 * An answer without an error body (S3 answers `HeadObject` so, having no body to send) reaches
 * the SDK as `Unknown: UnknownError`: name its HTTP status instead, and for an S3 call refused with
 * 403 say whose keys were refused.
 */
function bodylessError(step: string, e: SdkError): { name: string; message: string; hint: string } | undefined {
  const status = e.$metadata?.httpStatusCode;
  if (status === undefined || (e.name !== 'Unknown' && e.message !== 'UnknownError')) return undefined;
  const hint =
    status === 403 && step.startsWith('S3 ')
      ? ' S3 refused the credentials deploy signs with: they need s3:GetObject and s3:PutObject on deploy.artifacts (and s3:ListBucket, or a missing object reads as 403). A local S3 such as s3rver takes only its own keys (S3RVER, S3RVER), which deploy uses when no AWS credentials are set: for the rehearsal, unset AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_PROFILE, or set the keys to those.'
      : status === 301 && step.startsWith('S3 ')
        ? " The bucket is in another AWS Region than the one deploy calls S3 in: deploy to the bucket's Region (--region, deploy.region, AWS_REGION), or give deploy.artifacts a bucket in this one."
        : status === 400 && step.startsWith('S3 ')
          // S3 answers a HEAD signed for another Region than the bucket's with a bare 400 as often as
          // with a 301 (aws/aws-sdk-js-v3#7304, boto/botocore#1413).
          ? " S3 answers so a request signed for another AWS Region than the bucket's: if deploy.artifacts is a bucket in another Region, deploy to that Region (--region, deploy.region, AWS_REGION), or give deploy.artifacts a bucket in this one."
          : '';
  return { name: `HTTP ${status}`, message: `${STATUS_CODES[status] ?? 'Error'} (the answer had no error body)`, hint };
}

/**
 * What to fix when nothing took the connection (`ECONNREFUSED`): in a rehearsal, smkit local or the
 * local S3 is not running where the URL says (or not yet). The error named only the address; which
 * setting sent the call there, and what to start, is what the user needs.
 */
function connectionHint(step: string, err: unknown): string {
  // A host of several addresses (localhost at ::1 and 127.0.0.1): Node tries each and fails with an
  // AggregateError of the attempts, whose own code is the first attempt's; one refused is enough.
  const attempts: unknown[] = err instanceof AggregateError ? err.errors : [err];
  const e = (attempts.find((a) => (a as { code?: string } | undefined)?.code === 'ECONNREFUSED') ?? {}) as { code?: string; address?: string; port?: number };
  if (e.code !== 'ECONNREFUSED') return '';
  const at = e.address !== undefined ? ` at ${e.address}${e.port !== undefined ? `:${e.port}` : ''}` : '';
  // ECR is never local: only AWS_ENDPOINT_URL_ECR or AWS_ENDPOINT_URL sends its calls to a port where nothing listens.
  if (step.startsWith('ECR ')) return ` Nothing accepted the connection${at}, where AWS_ENDPOINT_URL_ECR (else AWS_ENDPOINT_URL) sends the ECR calls (smkit local serves none): fix the variable, or unset it to push to ECR itself.`;
  return /^(S3 |AbortMultipartUpload)/.test(step)
    ? ` Nothing accepted the connection${at}, where AWS_ENDPOINT_URL_S3 (else AWS_ENDPOINT_URL) sends the S3 calls: start the local S3 there (npx s3rver --directory /tmp/s3 --configure-bucket <bucket> --port ${e.port ?? '<port>'}), or fix the variable.`
    : ` Nothing accepted the connection${at}, where --endpoint-url (else an AWS_ENDPOINT_URL_* variable) sends the SageMaker, CloudWatch and Application Auto Scaling calls: start smkit local there (smkit local --port ${e.port ?? '<port>'}) and wait until it says it is ready, or fix the URL.`;
}

/** Wraps a failed SDK call as `ERR_DEPLOY_FAILED`, keeping the service's error name and message. */
export function serviceError(step: string, err: unknown): ToolkitError {
  if (err instanceof ToolkitError) return err;
  const e = (err ?? {}) as SdkError;
  const bodyless = bodylessError(step, e);
  const name = bodyless?.name ?? e.name ?? 'Error';
  // Node's AggregateError (a connection to each of a host's addresses failed) has no message of its own: its attempts' say it.
  const message = bodyless?.message ?? (err instanceof AggregateError && err.message === '' ? err.errors.map((x: unknown) => (x instanceof Error ? x.message : String(x))).join('; ') : e.message) ?? String(err);
  const hint = bodyless?.hint || setupHint(name, message) || connectionHint(step, err) || retryHint(err);
  return new ToolkitError('ERR_DEPLOY_FAILED', `${step} failed: ${name}: ${hint ? `${message.replace(/\.?$/, '.')}${hint}` : message}`, {
    cause: err,
    details: { serviceError: name, ...(e.$metadata?.httpStatusCode !== undefined ? { httpStatus: e.$metadata.httpStatusCode } : {}) },
  });
}

/**
 * True for SageMaker's answer to a `Describe*` of a missing resource: a `ValidationException`
 * whose message starts "Could not find" (the API has no dedicated not-found error for these).
 */
export function isSageMakerNotFound(err: unknown): boolean {
  const e = (err ?? {}) as SdkError;
  return e.name === 'ValidationException' && /could not find/i.test(e.message ?? '');
}

/**
 * True for SageMaker's refusal to change an endpoint that is changing already (`UpdateEndpoint`
 * while it is Updating, for example because autoscaling is adding an instance): a
 * `ValidationException` "Cannot update in-progress endpoint".
 */
export function isInProgress(err: unknown): boolean {
  const e = (err ?? {}) as SdkError;
  return e.name === 'ValidationException' && /in-progress endpoint/i.test(e.message ?? '');
}

/**
 * The error names AWS services give a throttled call (the AWS SDK retries the same ones); SageMaker
 * answers `ThrottlingException` with HTTP 400.
 */
const THROTTLING = new Set(['ThrottlingException', 'Throttling', 'ThrottledException', 'RequestThrottledException', 'TooManyRequestsException', 'RequestLimitExceeded', 'RequestThrottled', 'SlowDown']);

/** Connection errors worth trying again: the call may not have reached the service. */
const TRANSIENT_NETWORK = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);

/**
 * True for a failure that says nothing about the request: throttling, a 5xx
 * (`ServiceUnavailable`, `InternalFailure`), a 429, a dropped connection. The SDK has already
 * retried it (`AWS_MAX_ATTEMPTS`, default 3) when deploy sees it.
 */
export function isTransient(err: unknown): boolean {
  const e = (err ?? {}) as SdkError & { code?: string };
  const status = e.$metadata?.httpStatusCode;
  return THROTTLING.has(e.name ?? '') || (status !== undefined && (status >= 500 || status === 429)) || TRANSIENT_NETWORK.has(e.code ?? '') || TRANSIENT_NETWORK.has(e.name ?? '');
}

/** Describe* that answers undefined for a missing SageMaker resource. */
export async function describeOrUndefined<T>(step: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (isSageMakerNotFound(err)) return undefined;
    throw serviceError(step, err);
  }
}

/** Runs an SDK call, turning a failure into {@link serviceError}. */
export async function call<T>(step: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw serviceError(step, err);
  }
}

/**
 * Runs a paged SDK call from its first page to its last (the one with no `NextToken`), turning a
 * failure into {@link serviceError}. A token that comes back a second time fails the step: a
 * service that kept answering the same page would otherwise hold deploy in the loop for good.
 */
export async function allPages<T extends { NextToken?: string | undefined }>(step: string, page: (token: string | undefined) => Promise<T>): Promise<T[]> {
  const pages: T[] = [];
  const seen = new Set<string>();
  let token: string | undefined;
  do {
    const res = await call(step, () => page(token));
    pages.push(res);
    token = res.NextToken;
    if (token !== undefined && seen.has(token)) {
      throw new ToolkitError('ERR_DEPLOY_FAILED', `${step} failed: page ${pages.length} answered a NextToken it had answered before, so its pages never end.`);
    }
    if (token) seen.add(token);
  } while (token);
  return pages;
}

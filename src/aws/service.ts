import { excerpt, thrownMessage } from '../errors/excerpt.js';
/**
 * One AWS service as the local SageMaker serves it; operations take and return the API's JSON
 * shapes (PascalCase members, as the service models name them).
 */
export interface AwsService {
  /** X-Amz-Target prefix: 'SageMaker' | 'GraniteServiceVersion20100801' (CloudWatch) | 'AnyScaleFrontendService' (Application Auto Scaling). */
  readonly targetPrefix: string;
  /** SigV4 signing name: 'sagemaker' | 'monitoring' | 'application-autoscaling'. */
  readonly signingName: string;
  /**
   * True for services whose JSON protocol keeps query-protocol error codes (the `awsQueryCompatible`
   * trait, CloudWatch): errors then also carry the `x-amzn-query-error: <Code>;<Sender|Receiver>` header.
   * @defaultValue false
   */
  readonly awsQueryCompatible?: boolean;
  /** Runs one operation. Throws AwsServiceError for modelled errors; an unknown operation is an AwsServiceError('UnknownOperationException', ..., 400). */
  call(operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** A modelled service error: `type` is the error shape name ('ValidationException', 'ResourceNotFound', ...). */
export class AwsServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = type;
  }

  /** True when the caller is at fault (4xx), as the query protocol's `Sender` / `Receiver` says. */
  get sender(): boolean {
    return this.status < 500;
  }
}

/**
 * What an error of a query-compatible service (CloudWatch) may say besides its JSON type: its
 * query-protocol code where it has its own (`InvalidParameterValue` for `InvalidParameterValueException`),
 * and its fault where its status does not tell it.
 */
export interface QueryErrorDetails {
  readonly queryCode?: string;
  readonly fault?: 'Sender' | 'Receiver';
}

/** An error's query-protocol code: its own, else its type. */
export function queryCodeOf(err: AwsServiceError & QueryErrorDetails): string {
  return err.queryCode ?? err.type;
}

/** An error's query-protocol fault: its own, else `Sender` for a 4xx and `Receiver` for a 5xx. */
export function queryFaultOf(err: AwsServiceError & QueryErrorDetails): 'Sender' | 'Receiver' {
  return err.fault ?? (err.sender ? 'Sender' : 'Receiver');
}

/**
 * The message of AWS's common `InternalFailure` (500), which is all a caller is told of an
 * unexpected failure ([common errors](https://docs.aws.amazon.com/sagemaker/latest/APIReference/CommonErrors.html)):
 * a local service's own error text (a bug's message, paths and all) goes to the log
 * ({@link InternalFailureLog}), not into the answer.
 */
export const INTERNAL_FAILURE_MESSAGE = 'The request processing has failed because of an unknown error, exception or failure.';

/**
 * Told what a local service threw whose cause its caller was not told: the caller was answered a
 * bare `InternalFailure`, or, when the failure came after the answer's headers were sent or the
 * error answer could not be written, got no error answer at all (so the log's text says only that
 * the caller was not told the cause). `where` names it: the service's name (`SageMaker`,
 * `CloudWatch`, `CloudWatch Logs`, `Application Auto Scaling`, see {@link serviceNameOf}) or
 * `front door`.
 */
export type InternalFailureLog = (where: string, err: unknown) => void;

const SERVICE_NAMES: Readonly<Record<string, string>> = {
  sagemaker: 'SageMaker',
  monitoring: 'CloudWatch',
  logs: 'CloudWatch Logs',
  'application-autoscaling': 'Application Auto Scaling',
};

/** A local service's name, as its messages say it, from its signing name (an unknown one is itself). */
export function serviceNameOf(signingName: string): string {
  return SERVICE_NAMES[signingName] ?? signingName;
}

/** The warning code of {@link reportInternalFailure}'s fallback. */
export const INTERNAL_FAILURE_WARNING = 'SMKIT_INTERNAL_FAILURE';

/**
 * Hands the cause of an `InternalFailure` (which the answer does not carry) to `log`. With no
 * `log`, or when `log` itself throws, the cause is a process warning instead (code
 * {@link INTERNAL_FAILURE_WARNING}, its message naming `where` and the cause's message, its stack
 * as the detail), which Node prints to stderr, so that it is never lost; what `log` threw is a
 * warning too. It never throws, so a hook's bug cannot fail the answer or the process.
 */
export function reportInternalFailure(where: string, err: unknown, log: InternalFailureLog | undefined): void {
  if (log) {
    try {
      log(where, err);
      return;
    } catch (logErr) {
      warnInternalFailure(`the onInternalFailure hook threw, told of a failure of the local ${where}`, logErr);
    }
  }
  warnInternalFailure(`the local ${where} failed (its caller was not told the cause)`, err);
}

function warnInternalFailure(what: string, err: unknown): void {
  try {
    const stack = err instanceof Error && typeof err.stack === 'string' ? err.stack : undefined;
    process.emitWarning(`${what}: ${thrownMessage(err)}`, { code: INTERNAL_FAILURE_WARNING, ...(stack === undefined ? {} : { detail: stack }) });
  } catch {
    // A warning that cannot be made (an err whose stack getter throws) has nowhere else to go.
  }
}

/** The `InternalFailure` a caller gets for what a local service threw; `log` is told the cause ({@link reportInternalFailure}). */
export function internalFailure(where: string, err: unknown, log: InternalFailureLog | undefined): AwsServiceError {
  reportInternalFailure(where, err, log);
  return new AwsServiceError('InternalFailure', INTERNAL_FAILURE_MESSAGE, 500);
}

/**
 * A log that {@link internalFailureLogger} writes each cause to, as a warning with its message and
 * fields (the `log` option of `startLocalEndpoint` and `startLocalSageMaker`, an `EndpointLog`, is one).
 */
export type WarnLog = (level: 'warn', msg: string, fields: Record<string, unknown>) => void;

/** Logs what a local service (`where`) threw whose cause its caller was not told ({@link InternalFailureLog}): the cause is only here. */
function logInternalFailure(log: WarnLog, where: string, err: unknown): void {
  log('warn', `the local ${where} failed (its caller was not told the cause)`, { message: thrownMessage(err), ...(err instanceof Error && err.stack !== undefined ? { stack: err.stack } : {}) });
}

/**
 * The `onInternalFailure` hook that logs each cause through `log` (a warning naming `where`, with
 * the cause's message and stack), or `undefined` without a `log`, so that the causes become process
 * warnings instead ({@link reportInternalFailure}).
 */
export function internalFailureLogger(log: WarnLog | undefined): InternalFailureLog | undefined {
  return log ? (where, err) => logInternalFailure(log, where, err) : undefined;
}

/** The error every service answers for an operation it does not implement. */
export function unknownOperation(service: string, operation: string): AwsServiceError {
  return new AwsServiceError('UnknownOperationException', `The local ${service} does not implement the operation ${excerpt(operation, 100)}.`, 400);
}

/** The `ValidationException` (400) SageMaker and Application Auto Scaling answer for a request they refuse. */
export function validationException(message: string): AwsServiceError {
  return new AwsServiceError('ValidationException', message, 400);
}

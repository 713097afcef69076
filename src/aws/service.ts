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

/** Told what a local service (`where`: its signing name, `front door`) threw that its caller was answered an `InternalFailure` for. */
export type InternalFailureLog = (where: string, err: unknown) => void;

/** The `InternalFailure` a caller gets for what a local service threw; `log` is told the cause. */
export function internalFailure(where: string, err: unknown, log: InternalFailureLog | undefined): AwsServiceError {
  log?.(where, err);
  return new AwsServiceError('InternalFailure', INTERNAL_FAILURE_MESSAGE, 500);
}

/** Logs what a local service (`where`) threw that its caller was answered a bare `InternalFailure` for: the cause is only here. */
export function logInternalFailure(log: ((level: 'warn', msg: string, fields: Record<string, unknown>) => void) | undefined, where: string, err: unknown): void {
  log?.('warn', `the local ${where} failed (the caller was answered InternalFailure)`, { message: thrownMessage(err), ...(err instanceof Error && err.stack !== undefined ? { stack: err.stack } : {}) });
}

/** The error every service answers for an operation it does not implement. */
export function unknownOperation(service: string, operation: string): AwsServiceError {
  return new AwsServiceError('UnknownOperationException', `The local ${service} does not implement the operation ${excerpt(operation, 100)}.`, 400);
}

/** The `ValidationException` (400) SageMaker and Application Auto Scaling answer for a request they refuse. */
export function validationException(message: string): AwsServiceError {
  return new AwsServiceError('ValidationException', message, 400);
}

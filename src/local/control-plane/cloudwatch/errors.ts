import { excerpt } from '../../../errors/excerpt.js';
import { AwsServiceError, type QueryErrorDetails } from '../../../aws/service.js';
import { ConstraintViolations } from '../../../aws/violations.js';

/**
 * A CloudWatch error. CloudWatch speaks JSON 1.0 in "query compatible" mode, so each error has
 * two names: the JSON shape name (`__type`, e.g. `InvalidParameterValueException`) and the query
 * protocol code (`<Code>`, and the `x-amzn-query-error: Code;Sender` header, e.g.
 * `InvalidParameterValue`). Both come from botocore's `cloudwatch` model.
 */
export class CloudWatchError extends AwsServiceError implements QueryErrorDetails {
  constructor(
    type: string,
    /** The query-protocol error code. */
    readonly queryCode: string,
    message: string,
    status = 400,
    /** `Sender` for client faults, `Receiver` for server faults. */
    readonly fault: 'Sender' | 'Receiver' = 'Sender',
  ) {
    super(type, message, status);
    this.name = type;
  }
}

/** `InvalidParameterValue`: a value is out of the range the operation accepts. */
export const invalidParameterValue = (message: string): CloudWatchError =>
  new CloudWatchError('InvalidParameterValueException', 'InvalidParameterValue', message);

/** `InvalidParameterCombination`: parameters that cannot go together (or one that needs another). */
export const invalidParameterCombination = (message: string): CloudWatchError =>
  new CloudWatchError('InvalidParameterCombinationException', 'InvalidParameterCombination', message);

/** `MissingParameter`: a parameter the operation needs is absent. */
export const missingParameter = (message: string): CloudWatchError =>
  new CloudWatchError('MissingRequiredParameterException', 'MissingParameter', message);

/** `ResourceNotFound` (404): a named alarm does not exist. */
export const resourceNotFound = (message: string): CloudWatchError => new CloudWatchError('ResourceNotFound', 'ResourceNotFound', message, 404);

/** `LimitExceeded`: the local alarm limit is reached. */
export const limitExceeded = (message: string): CloudWatchError => new CloudWatchError('LimitExceededFault', 'LimitExceeded', message);

/** `InvalidNextToken`: a pagination token this service did not issue. */
export const invalidNextToken = (message: string): CloudWatchError => new CloudWatchError('InvalidNextToken', 'InvalidNextToken', message);

/** `InvalidFormat`: `StateReasonData` is not JSON. */
export const invalidFormat = (message: string): CloudWatchError => new CloudWatchError('InvalidFormatFault', 'InvalidFormat', message);

/** `InvalidAction` / `UnknownOperationException`: the operation is not one this local service answers. */
export const unknownOperation = (operation: string): CloudWatchError =>
  new CloudWatchError('UnknownOperationException', 'InvalidAction', `The action ${excerpt(operation, 100)} is not valid for this web service (the local CloudWatch answers ${CLOUDWATCH_OPERATIONS.join(', ')}).`);

/** The operations the local CloudWatch answers. */
export const CLOUDWATCH_OPERATIONS = [
  'PutMetricAlarm',
  'DescribeAlarms',
  'SetAlarmState',
  'DeleteAlarms',
  'GetMetricStatistics',
  'ListMetrics',
  'DescribeAlarmHistory',
  'DescribeAlarmsForMetric',
  'EnableAlarmActions',
  'DisableAlarmActions',
  'PutMetricData',
  'GetMetricData',
] as const;

/** `ValidationError`: a value the service refuses outright, such as an alarm action that is not a valid ARN. */
export const validationError = (message: string): CloudWatchError => new CloudWatchError('ValidationException', 'ValidationError', message);

/** Constraint violations raised as CloudWatch's `ValidationError`. */
export class Violations extends ConstraintViolations {
  /** Throws the collected violations as one `ValidationError`, if any. */
  throwIfAny(): void {
    const message = this.message();
    if (message !== undefined) throw validationError(message);
  }
}

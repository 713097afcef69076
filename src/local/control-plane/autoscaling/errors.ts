import { excerpt } from '../../../errors/excerpt.js';
import { AwsServiceError } from '../../../aws/service.js';
import { ConstraintViolations } from '../../../aws/violations.js';

/** `ValidationException` of Application Auto Scaling. */
export const validationException = (message: string): AwsServiceError => new AwsServiceError('ValidationException', message);

/** `ObjectNotFoundException`: no such scalable target or scaling policy. */
export const objectNotFound = (message: string): AwsServiceError => new AwsServiceError('ObjectNotFoundException', message);

/** `LimitExceededException`: the local limit of targets or policies is reached. */
export const limitExceeded = (message: string): AwsServiceError => new AwsServiceError('LimitExceededException', message);

/** `InvalidNextTokenException`: a pagination token `operation` did not give, saying what to pass instead. */
export const invalidNextToken = (operation: string): AwsServiceError =>
  new AwsServiceError('InvalidNextTokenException', `The NextToken is not one ${operation} gave: pass the NextToken of the previous ${operation} answer as it came, or none for the first page.`);

/** The operations the local Application Auto Scaling answers. */
export const AUTOSCALING_OPERATIONS = [
  'RegisterScalableTarget',
  'DescribeScalableTargets',
  'DeregisterScalableTarget',
  'PutScalingPolicy',
  'DescribeScalingPolicies',
  'DeleteScalingPolicy',
  'DescribeScalingActivities',
  'PutScheduledAction',
  'DescribeScheduledActions',
  'DeleteScheduledAction',
] as const;

/** `UnknownOperationException` for an operation not answered locally. */
export const unknownOperation = (operation: string): AwsServiceError =>
  new AwsServiceError('UnknownOperationException', `The local Application Auto Scaling does not answer ${excerpt(operation, 100)}; it answers ${AUTOSCALING_OPERATIONS.join(', ')}.`);

/** Constraint violations raised as `ValidationException`. */
export class Violations extends ConstraintViolations {
  /** Throws the collected violations as one `ValidationException`, if any. */
  throwIfAny(): void {
    const message = this.message();
    if (message !== undefined) throw validationException(message);
  }
}

import { describeViolations, type Violation } from './shapes/validate.js';
import { firstChars } from '../errors/text-cut.js';

/**
 * Collects the model-constraint violations of one request, for services that check members in
 * code rather than with a shape rule; worded by {@link describeViolations}. Each service turns the
 * message into its own error type (CloudWatch `ValidationError`, `ValidationException`).
 */
export class ConstraintViolations {
  private readonly items: Violation[] = [];

  /** Records that `member` (lower camel case path, as AWS names it) must `constraint` ("be an integer"). */
  add(value: unknown, member: string, constraint: string): void {
    const shown = value === undefined || value === null ? 'null' : typeof value === 'string' ? firstChars(value, 256) : firstChars(JSON.stringify(value) ?? String(value), 256);
    this.items.push({ value: shown, path: member, constraint: `Member must ${constraint}` });
  }

  /** The combined message, or undefined when nothing was recorded. */
  message(): string | undefined {
    return this.items.length === 0 ? undefined : describeViolations(this.items);
  }
}

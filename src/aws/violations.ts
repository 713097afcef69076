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

  /**
   * Checks a string member against the model's `min`/`max` length and records what it breaks, in
   * the services' words ("Member must have length less than or equal to 255"), as a shape rule
   * would; a value that is not a string at all is recorded as such. Returns whether it passed.
   */
  length(value: unknown, member: string, min: number, max: number): boolean {
    if (typeof value !== 'string') this.add(value, member, `be a string of ${min} to ${max} characters`);
    else if (value.length < min) this.add(value, member, `have length greater than or equal to ${min}`);
    else if (value.length > max) this.add(value, member, `have length less than or equal to ${max}`);
    else return true;
    return false;
  }

  /**
   * Checks an integer member against the model's `min`/`max` value and records what it breaks, in
   * the services' words ("Member must have value less than or equal to 100"); a value that is not an
   * integer is recorded as such. Returns whether it passed.
   */
  range(value: unknown, member: string, min: number, max: number): boolean {
    if (typeof value !== 'number' || !Number.isInteger(value)) this.add(value, member, `be an integer from ${min} to ${max}`);
    else if (value < min) this.add(value, member, `have value greater than or equal to ${min}`);
    else if (value > max) this.add(value, member, `have value less than or equal to ${max}`);
    else return true;
    return false;
  }

  /** The combined message, or undefined when nothing was recorded. */
  message(): string | undefined {
    return this.items.length === 0 ? undefined : describeViolations(this.items);
  }
}

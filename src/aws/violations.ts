/**
 * Collects model-constraint violations of one request and words them as AWS request validation
 * does: "N validation error(s) detected: Value 'x' at 'member' failed to satisfy constraint:
 * Member must ...". Each service turns the message into its own error type.
 */
export class ConstraintViolations {
  private readonly items: string[] = [];

  /** Records one violation of `member` (lower camel case, as AWS names it). */
  add(value: unknown, member: string, constraint: string): void {
    const shown = value === undefined || value === null ? 'null' : `'${typeof value === 'string' ? value.slice(0, 256) : JSON.stringify(value)?.slice(0, 256)}'`;
    this.items.push(`Value ${shown} at '${member}' failed to satisfy constraint: Member must ${constraint}`);
  }

  /** The combined message, or undefined when nothing was recorded. */
  message(): string | undefined {
    if (this.items.length === 0) return undefined;
    const n = this.items.length;
    return `${n} validation error${n === 1 ? '' : 's'} detected: ${this.items.join('; ')}`;
  }
}

/**
 * Request-supplied text quoted in error messages is kept short, so a hostile request cannot make
 * an error answer (or a log line) megabytes long.
 */

/** `text` cut to `max` characters, with `…` when cut. */
export function excerpt(text: string, max = 60): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** `"a", "b", "c"` for at most `max` names (each excerpted), then `and N more`. */
export function quotedNames(names: readonly string[], max = 10): string {
  const shown = names.slice(0, max).map((n) => `"${excerpt(n)}"`);
  return names.length > max ? `${shown.join(', ')} and ${names.length - max} more` : shown.join(', ');
}

/** Most characters of a message from user code that an error quotes (see {@link thrownMessage}). */
export const THROWN_MESSAGE_MAX = 4096;

/**
 * What user code threw, as text an error message can quote: an error's `message`, or any other
 * value as a string. It never throws (an object without a prototype, a `toString` or a `message`
 * getter that throws), and it is cut to `max` characters, so a hook that throws a 10 MB message
 * does not make a 10 MB answer.
 */
export function thrownMessage(thrown: unknown, max = THROWN_MESSAGE_MAX): string {
  let text: string;
  try {
    const message = (thrown as { message?: unknown } | null | undefined)?.message;
    text = typeof message === 'string' ? message : String(thrown);
  } catch {
    text = `a thrown ${typeof thrown} that cannot be turned into text`;
  }
  return excerpt(text, max);
}

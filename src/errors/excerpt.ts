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

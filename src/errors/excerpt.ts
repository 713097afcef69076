/**
 * Request-supplied text quoted in error messages is kept short, so a hostile request cannot make
 * an error answer (or a log line) megabytes long.
 */
import { firstChars } from './text-cut.js';

/** `text` cut to `max` characters, with `…` when cut, never between the two halves of a surrogate pair. */
export function excerpt(text: string, max = 60): string {
  return text.length > max ? `${firstChars(text, max)}…` : text;
}

/** `"a", "b", "c"` for at most `max` names (each excerpted), then `and N more`. */
export function quotedNames(names: readonly string[], max = 10): string {
  const shown = names.slice(0, max).map((n) => `"${excerpt(n)}"`);
  return names.length > max ? `${shown.join(', ')} and ${names.length - max} more` : shown.join(', ');
}

/**
 * The `Symbol.toStringTag` getter of typed arrays' shared prototype: a typed array's own kind
 * (`'Float32Array'`; a Buffer's is `'Uint8Array'`), undefined for any other value. It reads the
 * array's internal slot, so no getter or Proxy trap of user code's runs.
 */
const typedArrayTag = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, Symbol.toStringTag)!.get as (this: unknown) => string | undefined;

/** `%TypedArray%`, the constructor every typed array of this realm inherits from. */
const TypedArray = Object.getPrototypeOf(Uint8Array) as abstract new () => object;

/**
 * True for a typed array made in another realm (a `vm` context's), which `instanceof` this realm's
 * typed arrays does not recognise. It runs no code of the value's.
 */
export function isOtherRealmTypedArray(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typedArrayTag.call(v) !== undefined && !(v instanceof TypedArray);
}

/**
 * `name` after its article, for a message: `an Int32Array`, `a Float32Array`, `a Uint8Array`
 * (said "you-int"): `an` before a vowel other than a U.
 */
export function withArticle(name: string): string {
  return `${/^[AEIO]/i.test(name) ? 'an' : 'a'} ${name}`;
}

/**
 * What a value is, for a message about one given where another was due: `undefined`, `null`,
 * `an array`, `a Float32Array` (any typed array), `an object`, `a string`, `a number`, `a function`...
 * It runs no code of the value's (a getter, a Proxy trap), so it never throws.
 */
export function valueKind(v: unknown): string {
  if (v === undefined || v === null) return String(v);
  if (typeof v !== 'object') return `a ${typeof v}`;
  const tag = typedArrayTag.call(v);
  if (tag !== undefined) return withArticle(tag);
  try {
    return Array.isArray(v) ? 'an array' : 'an object';
  } catch {
    // Array.isArray throws on a revoked Proxy.
    return 'an object';
  }
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

/**
 * A request value as short JSON for an error message: at most `max` characters (then `…`), written
 * only as far as that. `JSON.stringify` would write all of it first, and overflow the stack on a
 * value nested a few thousand levels deep (a 2 MB body of `[[[…]]]`). It never throws.
 */
export function jsonExcerpt(value: unknown, max = 60): string {
  let out = '';
  // Arrays and objects being written, with the index of the next element or key.
  const open: { items: Record<string, unknown> | unknown[]; keys: string[] | undefined; i: number }[] = [];
  let next: unknown = value;
  let pending = true;
  while (out.length <= max) {
    if (pending) {
      pending = false;
      if (Array.isArray(next)) {
        out += '[';
        open.push({ items: next, keys: undefined, i: 0 });
      } else if (typeof next === 'object' && next !== null) {
        out += '{';
        open.push({ items: next as Record<string, unknown>, keys: Object.keys(next), i: 0 });
      } else if (typeof next === 'string') out += JSON.stringify(next.slice(0, max + 1));
      else out += typeof next === 'number' || typeof next === 'boolean' || next === null ? String(JSON.stringify(next)) : String(next);
      continue;
    }
    const top = open.at(-1);
    if (top === undefined) break;
    const { items, keys } = top;
    if (top.i === (keys ?? (items as unknown[])).length) {
      out += keys ? '}' : ']';
      open.pop();
      continue;
    }
    if (top.i > 0) out += ',';
    if (keys) {
      const key = keys[top.i]!;
      out += `${JSON.stringify(key.slice(0, max + 1))}:`;
      next = (items as Record<string, unknown>)[key];
    } else next = (items as unknown[])[top.i];
    top.i++;
    pending = true;
  }
  return excerpt(out, max);
}

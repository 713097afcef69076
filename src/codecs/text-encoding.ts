import { isUtf8 } from 'node:buffer';
import { ToolkitError, type ErrorCode } from '../errors/catalogue.js';

/**
 * Refuses a text body that starts with a UTF-16 byte order mark (what Windows tools write for
 * "Unicode"), naming the encoding: read as UTF-8 it would fail on its first character with a
 * message about unreadable bytes, which says nothing about what to change.
 *
 * @param what names the body in the message, for example `JSON body`.
 * @throws ToolkitError `code` (a 400) when the body is UTF-16.
 */
export function refuseUtf16(body: Uint8Array, what: string, code: ErrorCode): void {
  if (body.length >= 2 && ((body[0] === 0xff && body[1] === 0xfe) || (body[0] === 0xfe && body[1] === 0xff))) {
    throw new ToolkitError(code, `${what} is UTF-16 (it starts with a UTF-16 byte order mark); send it as UTF-8`);
  }
}

/**
 * The UTF-16 a text body without a byte order mark looks like, from its first 64 bytes: text of
 * ASCII characters in UTF-16 has a zero byte beside each one (after it in little-endian, before it
 * in big-endian) and UTF-8 text has none. Reads only a body that failed to parse already.
 */
export function utf16Look(body: Uint8Array): 'UTF-16LE' | 'UTF-16BE' | undefined {
  const pairs = Math.min(body.length, 64) >> 1;
  // One with the mark is refuseUtf16's to name.
  if (pairs < 2 || (body[0] === 0xff && body[1] === 0xfe) || (body[0] === 0xfe && body[1] === 0xff)) return undefined;
  let evenZeros = 0;
  let oddZeros = 0;
  for (let i = 0; i < 2 * pairs; i += 2) {
    if (body[i] === 0) evenZeros++;
    if (body[i + 1] === 0) oddZeros++;
  }
  if (evenZeros === 0 && 2 * oddZeros >= pairs) return 'UTF-16LE';
  if (oddZeros === 0 && 2 * evenZeros >= pairs) return 'UTF-16BE';
  return undefined;
}

/**
 * `err`, a `code` error of a text body that failed to parse, replaced by one saying the body looks
 * like UTF-16 (see {@link utf16Look}) and to send UTF-8, when it does: read as UTF-8, such a body
 * fails on its first zero byte with a message about an unexpected character. Any other error is
 * returned as it is.
 *
 * @param what names the body in the message, for example `JSON body`.
 */
export function explainUtf16(err: unknown, body: Uint8Array, what: string, code: ErrorCode): unknown {
  if (!(err instanceof ToolkitError) || err.code !== code) return err;
  const look = utf16Look(body);
  if (look === undefined) return err;
  return new ToolkitError(
    code,
    `${what} looks like ${look} without a byte order mark (a zero byte beside each character); send it as UTF-8 (text bodies are read as UTF-8, whatever charset the Content-Type names)`,
    { cause: err },
  );
}

/**
 * Refuses a text body that is not UTF-8 (a Latin-1 or Windows-1252 `é`, a cut character), naming the
 * first byte that is not: read as UTF-8 each such byte would become U+FFFD, and the request would be
 * answered 200 on text it did not send.
 *
 * @param what names the body in the message, for example `JSON body`.
 * @param bytes how to send bytes instead, for the message (for example `as {"b64": "..."}`).
 * @throws ToolkitError `code` (a 400) when the body is not UTF-8.
 */
export function refuseNonUtf8(body: Uint8Array, what: string, code: ErrorCode, bytes: string): void {
  if (isUtf8(body)) return;
  const at = firstNonUtf8(body);
  let line = 1;
  for (let i = 0; i < at; i++) if (body[i] === 0x0a) line++;
  throw new ToolkitError(
    code,
    `${what} is not UTF-8: byte 0x${body[at]!.toString(16).toUpperCase().padStart(2, '0')} at position ${at} (line ${line}) is not part of a UTF-8 character; ` +
      `send text as UTF-8 (convert a Latin-1 or Windows-1252 body first), and bytes ${bytes}`,
  );
}

/** Offset of the first byte that does not begin a whole, shortest-form UTF-8 character (body known not to be UTF-8). */
function firstNonUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (n === 0) return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < [0, 0x80, 0x800, 0x10000][n]! || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return b.length - 1;
}

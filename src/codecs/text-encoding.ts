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

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

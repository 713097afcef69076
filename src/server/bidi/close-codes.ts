import type { ToolkitError } from '../../errors/catalogue.js';

/** The longest close reason RFC 6455 allows (a control frame's 125 bytes, less the 2-byte code). */
const MAX_REASON_BYTES = 123;

/** Normal closure: the stream ended. */
export const CLOSE_NORMAL = 1000;
/** Going away: the server is shutting down. */
export const CLOSE_GOING_AWAY = 1001;

/**
 * The close code a failed stream ends with: 4000 + the HTTP status the same error answers on
 * `POST /invocations` (4400 bad input, 4415 no decoder, 4500 user code failed, 4504 timeout...), in
 * the range RFC 6455 leaves to applications; 1001 when the server is shutting down. SageMaker hands
 * the code to the client in a `ModelStreamError`.
 */
export function closeCodeFor(error: ToolkitError): number {
  if (error.code === 'ERR_SHUTTING_DOWN') return CLOSE_GOING_AWAY;
  const status = error.status >= 400 && error.status <= 599 ? error.status : 500;
  return 4000 + status;
}

/** `<code>: <message>`, cut to the 123 bytes a close frame holds, never inside a UTF-8 character. */
export function closeReason(error: ToolkitError): string {
  const full = `${error.code}: ${error.message}`;
  if (Buffer.byteLength(full) <= MAX_REASON_BYTES) return full;
  const bytes = Buffer.from(full, 'utf8');
  let end = MAX_REASON_BYTES - 3;
  // Back up to the start of a character: continuation bytes are 10xxxxxx.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return `${bytes.subarray(0, end).toString('utf8')}...`;
}

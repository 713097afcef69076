import { crc32 } from '../codecs/crc32.js';
import { ToolkitError } from '../errors/catalogue.js';

/** An event stream message's prelude: its total length, its headers' length, and their CRC (4 bytes each). */
const PRELUDE_BYTES = 12;
/** The shortest event stream message: its prelude and its own CRC. */
const MIN_EVENT_MESSAGE_BYTES = PRELUDE_BYTES + 4;
/** The most headers boto3 reads in a message (botocore/eventstream.py, `_MAX_HEADERS_LENGTH`). */
const MAX_EVENT_HEADERS_BYTES = 128 * 1024;
/** The most payload boto3 reads in a message (botocore/eventstream.py, `_MAX_PAYLOAD_LENGTH`). */
const MAX_EVENT_PAYLOAD_BYTES = 24 * 1024 * 1024;
/**
 * The longest event stream message read. A longer length is a malformed stream, which would
 * otherwise be held in memory until it ended.
 */
const MAX_EVENT_MESSAGE_BYTES = MIN_EVENT_MESSAGE_BYTES + MAX_EVENT_HEADERS_BYTES + MAX_EVENT_PAYLOAD_BYTES;
/** Pieces of a message not yet whole kept apart before they are joined into one. */
const PIECES_JOINED = 1024;

/**
 * What is wrong with the prelude at the start of `bytes` (at least {@link PRELUDE_BYTES} long) of a
 * message `size` bytes long, checked as boto3 checks it once its 12 bytes are in: its CRC first, so
 * that a length damaged on the way is not waited for, then the lengths of the headers and payload.
 */
function preludeProblem(bytes: Buffer, size: number): string | undefined {
  const expected = bytes.readUInt32BE(8);
  const actual = crc32(bytes.subarray(0, 8));
  if (actual !== expected) return `a message's prelude checksum (${actual}) did not match the expected value of ${expected}`;
  const headers = bytes.readUInt32BE(4);
  if (headers > size - MIN_EVENT_MESSAGE_BYTES) return `a message of ${size} bytes says its headers are ${headers} bytes long`;
  if (headers > MAX_EVENT_HEADERS_BYTES) return `a message's headers are ${headers} bytes long, over the ${MAX_EVENT_HEADERS_BYTES} boto3 reads`;
  const payload = size - headers - MIN_EVENT_MESSAGE_BYTES;
  if (payload > MAX_EVENT_PAYLOAD_BYTES) return `a message's payload is ${payload} bytes long, over the ${MAX_EVENT_PAYLOAD_BYTES} boto3 reads`;
  return undefined;
}

/**
 * `PayloadPart` bytes from an AWS event stream body; a `ModelStreamError` event throws, and so does
 * a stream that is not valid (a message whose CRC or lengths are wrong, one cut off at the end), as
 * `ERR_INVOKE_FAILED` naming `url`: as soon as the bad prelude is in, not once its message would be.
 */
export async function* eventStreamPayloads(url: string, body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const { EventStreamCodec } = await import('@smithy/eventstream-codec');
  const codec = new EventStreamCodec(
    (bytes) => Buffer.from(bytes).toString('utf8'),
    (text) => new Uint8Array(Buffer.from(text, 'utf8')),
  );
  const malformed = (why: string, cause?: unknown) =>
    new ToolkitError('ERR_INVOKE_FAILED', `${url} answered 200 but its event stream is not valid: ${why}`, cause === undefined ? undefined : { cause });
  // The bytes of messages not yet whole, joined only once one is: a long message is not copied again with each piece.
  let parts: Buffer[] = [];
  // How many of `parts` are joined pieces already, not joined again.
  let joinedParts = 0;
  let held = 0;
  for await (const piece of body) {
    parts.push(Buffer.from(piece));
    held += piece.length;
    while (held >= 4) {
      // The prelude is read from the first piece: join the pieces it is spread over.
      if (parts[0]!.length < Math.min(held, PRELUDE_BYTES)) {
        parts = [Buffer.concat(parts)];
        joinedParts = 0;
      }
      // Each message starts with its total length (4 bytes, big-endian).
      const size = parts[0]!.readUInt32BE(0);
      if (size < MIN_EVENT_MESSAGE_BYTES || size > MAX_EVENT_MESSAGE_BYTES) {
        throw malformed(`a message says it is ${size} bytes long, where ${MIN_EVENT_MESSAGE_BYTES} to ${MAX_EVENT_MESSAGE_BYTES} bytes are`);
      }
      if (held < PRELUDE_BYTES) break;
      const problem = preludeProblem(parts[0]!, size);
      if (problem !== undefined) throw malformed(problem);
      if (held < size) break;
      const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      let message: ReturnType<typeof codec.decode>;
      try {
        message = codec.decode(new Uint8Array(all.subarray(0, size)));
      } catch (err) {
        throw malformed((err as Error).message, err);
      }
      const rest = all.subarray(size);
      parts = rest.length > 0 ? [rest] : [];
      joinedParts = 0;
      held = rest.length;
      const type = message.headers[':message-type']?.value;
      if (type === 'event' && message.headers[':event-type']?.value === 'PayloadPart') yield message.body;
      else if (type === 'exception' || type === 'error') {
        const name = String(message.headers[':exception-type']?.value ?? message.headers[':error-code']?.value ?? 'StreamError');
        // An error message says what went wrong in its :error-message header (botocore/parsers.py), an exception in its payload.
        const said = type === 'error' ? message.headers[':error-message']?.value : undefined;
        throw new ToolkitError('ERR_INVOKE_FAILED', `the stream broke: ${name}: ${said !== undefined ? String(said) : Buffer.from(message.body).toString('utf8')}`);
      }
    }
    // A message sent a few bytes at a time is not held as that many Buffers, some 130 bytes each (24 MiB in
    // 1-byte pieces would be over 3 GB): its pieces are joined a thousand at a time, and not joined again.
    if (parts.length - joinedParts > PIECES_JOINED) {
      parts.push(Buffer.concat(parts.splice(joinedParts)));
      joinedParts = parts.length;
    }
  }
  if (held > 0) throw malformed(`it ended inside a message, ${held} bytes of which arrived`);
}

import { ToolkitError } from '../errors/catalogue.js';

/** The shortest event stream message: its prelude (total length, headers length, their CRC) and its own CRC. */
const MIN_EVENT_MESSAGE_BYTES = 16;
/**
 * The longest event stream message read: boto3's parser refuses a payload over 24 MiB or headers
 * over 128 KiB (botocore/eventstream.py). A longer length is a malformed stream, which would
 * otherwise be held in memory until it ended.
 */
const MAX_EVENT_MESSAGE_BYTES = MIN_EVENT_MESSAGE_BYTES + 128 * 1024 + 24 * 1024 * 1024;

/**
 * `PayloadPart` bytes from an AWS event stream body; a `ModelStreamError` event throws, and so does
 * a stream that is not valid (a message whose CRC or length is wrong, one cut off at the end), as
 * `ERR_INVOKE_FAILED` naming `url`.
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
  let held = 0;
  for await (const piece of body) {
    parts.push(Buffer.from(piece));
    held += piece.length;
    while (held >= 4) {
      if (parts[0]!.length < 4) parts = [Buffer.concat(parts)];
      // Each message starts with its total length (4 bytes, big-endian).
      const size = parts[0]!.readUInt32BE(0);
      if (size < MIN_EVENT_MESSAGE_BYTES || size > MAX_EVENT_MESSAGE_BYTES) {
        throw malformed(`a message says it is ${size} bytes long, where ${MIN_EVENT_MESSAGE_BYTES} to ${MAX_EVENT_MESSAGE_BYTES} bytes are`);
      }
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
      held = rest.length;
      const type = message.headers[':message-type']?.value;
      if (type === 'event' && message.headers[':event-type']?.value === 'PayloadPart') yield message.body;
      else if (type === 'exception' || type === 'error') {
        const name = String(message.headers[':exception-type']?.value ?? message.headers[':error-code']?.value ?? 'StreamError');
        throw new ToolkitError('ERR_INVOKE_FAILED', `the stream broke: ${name}: ${Buffer.from(message.body).toString('utf8')}`);
      }
    }
  }
  if (held > 0) throw malformed(`it ended inside a message, ${held} bytes of which arrived`);
}

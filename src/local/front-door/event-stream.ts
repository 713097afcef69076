import { EventStreamCodec } from '@smithy/eventstream-codec';
import { truncateMessage } from './runtime-errors.js';

const codec = new EventStreamCodec(
  (bytes) => Buffer.from(bytes).toString('utf8'),
  (text) => new Uint8Array(Buffer.from(text, 'utf8')),
);

/** The media type of an AWS event stream body. */
export const EVENT_STREAM_CONTENT_TYPE = 'application/vnd.amazon.eventstream';

/** A `PayloadPart` event of `InvokeEndpointWithResponseStream`: the bytes are the payload. */
export function payloadPart(bytes: Uint8Array): Uint8Array {
  return codec.encode({
    headers: {
      ':message-type': { type: 'string', value: 'event' },
      ':event-type': { type: 'string', value: 'PayloadPart' },
      ':content-type': { type: 'string', value: 'application/octet-stream' },
    },
    body: bytes,
  });
}

/** A `ModelStreamError` exception event: the stream broke after it started (`Message` at most 2048 characters, as the API model says). */
export function modelStreamError(message: string, errorCode: 'StreamBroken' | 'ModelInvocationTimeExceeded'): Uint8Array {
  return codec.encode({
    headers: {
      ':message-type': { type: 'string', value: 'exception' },
      ':exception-type': { type: 'string', value: 'ModelStreamError' },
      ':content-type': { type: 'string', value: 'application/json' },
    },
    body: new Uint8Array(Buffer.from(JSON.stringify({ Message: truncateMessage(message), ErrorCode: errorCode }), 'utf8')),
  });
}

/**
 * An `InternalStreamFailure` exception event: the stream failed for a reason of the service's own,
 * not the model's ("The stream processing failed because of an unknown error, exception or
 * failure. Try your request again.", API_runtime_ResponseStream). Its only member is `Message`.
 */
export function internalStreamFailure(message: string): Uint8Array {
  return codec.encode({
    headers: {
      ':message-type': { type: 'string', value: 'exception' },
      ':exception-type': { type: 'string', value: 'InternalStreamFailure' },
      ':content-type': { type: 'string', value: 'application/json' },
    },
    body: new Uint8Array(Buffer.from(JSON.stringify({ Message: truncateMessage(message) }), 'utf8')),
  });
}

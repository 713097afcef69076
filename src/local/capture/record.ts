import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';

/** How a payload is stored in a capture record (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html). */
export type CaptureEncoding = 'CSV' | 'JSON' | 'BASE64';

/** The content-type lists of `CaptureContentTypeHeader`. */
export interface CaptureContentTypes {
  csvContentTypes: readonly string[];
  jsonContentTypes: readonly string[];
}

function essence(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}

/**
 * Picks the encoding for a payload: a type listed in `csvContentTypes` is `CSV`, one in
 * `jsonContentTypes` is `JSON`, anything else (or everything when no lists are set) is `BASE64`.
 * Parameters such as `; charset=utf-8` are ignored when matching.
 */
export function captureEncoding(contentType: string, types: CaptureContentTypes): CaptureEncoding {
  const type = essence(contentType);
  if (types.csvContentTypes.some((t) => essence(t) === type)) return 'CSV';
  if (types.jsonContentTypes.some((t) => essence(t) === type)) return 'JSON';
  return 'BASE64';
}

/** One side (`endpointInput` or `endpointOutput`) of a capture record. */
export interface CapturedPayload {
  observedContentType: string;
  mode: 'INPUT' | 'OUTPUT';
  data: string;
  encoding: CaptureEncoding;
}

/** A Model Monitor data-capture record, one JSON line. */
export interface CaptureRecord {
  captureData: { endpointInput?: CapturedPayload; endpointOutput?: CapturedPayload };
  /**
   * `customAttributes` is a list holding the caller's `CustomAttributes`, as the service writes it
   * (a record captured on AWS, in aws-samples/amazon-sagemaker-data-quality-monitor-custom-preprocessing,
   * has `"customAttributes": ["{...}"]`, and Model Monitor preprocessing scripts read
   * `event_metadata.custom_attribute[0]`).
   */
  eventMetadata: { eventId: string; inferenceTime: string; inferenceId?: string; customAttributes?: [string] };
  eventVersion: '0';
}

/**
 * Encodes one payload as Model Monitor stores it. A payload under a CSV or JSON type whose bytes are
 * not UTF-8 is stored as `BASE64`, which the record's `encoding` says: as text its invalid bytes
 * would become U+FFFD and be lost to every reader.
 */
export function capturePayload(mode: 'INPUT' | 'OUTPUT', body: Buffer, contentType: string, types: CaptureContentTypes, data: PayloadText = payloadText): CapturedPayload {
  const listed = captureEncoding(contentType, types);
  const encoding = listed !== 'BASE64' && !isUtf8(body) ? 'BASE64' : listed;
  return { observedContentType: contentType, mode, data: data(body, encoding), encoding };
}

/** Makes a payload's `data` in the encoding {@link capturePayload} chose for it. */
export type PayloadText = (body: Buffer, encoding: CaptureEncoding) => string;

/** The payload's `data`: its base64, or its UTF-8 text (`encoding` is `BASE64` unless the bytes are UTF-8). */
export function payloadText(body: Buffer, encoding: CaptureEncoding): string {
  return encoding === 'BASE64' ? body.toString('base64') : body.toString('utf8');
}

/**
 * Characters `JSON.stringify` makes of each byte of UTF-8 text, inside the quotes: a quote, a
 * backslash and the control characters with a short escape (`\n`) take 2; the other control
 * characters 6 (`\u001f`); a byte that starts a character 1, or 2 when it starts one of four
 * bytes (a surrogate pair); a continuation byte 0. Nothing else is escaped (DEL, U+2028 and U+2029
 * are not, and valid UTF-8 holds no lone surrogate).
 */
const JSON_CHARS = Uint8Array.from({ length: 256 }, (_, b) =>
  b === 0x08 || b === 0x09 || b === 0x0a || b === 0x0c || b === 0x0d || b === 0x22 || b === 0x5c ? 2 : b < 0x20 ? 6 : b < 0x80 ? 1 : b < 0xc0 ? 0 : b < 0xf0 ? 1 : 2,
);

/** Bytes counted between two looks at whether the count has passed its limit. */
const COUNT_STEP_BYTES = 64 * 1024;

/**
 * The length of `JSON.stringify(payloadText(body, encoding))` less its two quotes, found from the
 * bytes without making the text: exact for base64 and for valid UTF-8 (which a text `encoding`
 * implies). Past `atMost` it stops counting and gives a number over `atMost` that the length is at
 * least: counting is a step per byte, seconds for a 1 GB asynchronous payload, during which the
 * event loop (every endpoint of the process) would wait, for a record too long to write anyway.
 */
function jsonTextLength(body: Buffer, encoding: CaptureEncoding, atMost: number): { chars: number; exact: boolean } {
  if (encoding === 'BASE64') return { chars: 4 * Math.ceil(body.length / 3), exact: true };
  let chars = 0;
  for (let start = 0; start < body.length; start += COUNT_STEP_BYTES) {
    // No character of UTF-8 takes fewer than one for each three of its bytes.
    const least = chars + Math.ceil((body.length - start) / 3);
    if (least > atMost) return { chars: least, exact: false };
    const end = Math.min(body.length, start + COUNT_STEP_BYTES);
    for (let i = start; i < end; i++) chars += JSON_CHARS[body[i]!]!;
  }
  return { chars, exact: true };
}

/** A capture record whose payloads' `data` is not made yet, and the length its JSON line will have. */
export interface MeasuredCaptureRecord {
  /** The record, each payload's `data` empty until {@link fillCaptureData} makes it. */
  record: CaptureRecord;
  /**
   * Characters of `JSON.stringify(record)` once filled, with its newline; when that is more than
   * the `maxLineChars` measured against, a number over it that the line takes at least.
   */
  lineLength: number;
  /** Whether `lineLength` is the line's length, not a number it takes at least (measured past the limit). */
  exact: boolean;
}

/**
 * Builds the record of `event` without its payloads' text and measures the JSON line it will make:
 * a payload of hundreds of MB would cost several times that in strings, so its size is known first.
 * A line longer than `maxLineChars` is measured only as far as needed to know that.
 */
export function measureCaptureRecord(event: CaptureEvent, types: CaptureContentTypes, maxLineChars = Infinity): MeasuredCaptureRecord {
  const sized: Array<{ body: Buffer; encoding: CaptureEncoding }> = [];
  const record = buildCaptureRecord(event, types, (body, encoding) => {
    sized.push({ body, encoding });
    return '';
  });
  let lineLength = JSON.stringify(record).length + 1;
  let exact = true;
  for (const { body, encoding } of sized) {
    const text = jsonTextLength(body, encoding, maxLineChars - lineLength);
    lineLength += text.chars;
    exact &&= text.exact;
  }
  return { record, lineLength, exact };
}

/** Makes the `data` of a record from {@link measureCaptureRecord} (for the same `event`). */
export function fillCaptureData(record: CaptureRecord, event: CaptureEvent): void {
  const { endpointInput, endpointOutput } = record.captureData;
  if (event.input && endpointInput) endpointInput.data = payloadText(event.input.body, endpointInput.encoding);
  if (event.output && endpointOutput) endpointOutput.data = payloadText(event.output.body, endpointOutput.encoding);
}

/** `2022-02-14T17:25:49Z`: seconds resolution, as in AWS's capture examples. */
export function inferenceTime(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** What {@link buildCaptureRecord} needs about one invocation. */
export interface CaptureEvent {
  at: Date;
  input?: { body: Buffer; contentType: string };
  output?: { body: Buffer; contentType: string };
  inferenceId?: string;
  customAttributes?: string;
  eventId?: string;
}

/**
 * Builds one capture record (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html).
 * @param data Makes each payload's `data` ({@link measureCaptureRecord} passes one that makes none).
 */
export function buildCaptureRecord(event: CaptureEvent, types: CaptureContentTypes, data: PayloadText = payloadText): CaptureRecord {
  const captureData: CaptureRecord['captureData'] = {};
  if (event.input) captureData.endpointInput = capturePayload('INPUT', event.input.body, event.input.contentType, types, data);
  if (event.output) captureData.endpointOutput = capturePayload('OUTPUT', event.output.body, event.output.contentType, types, data);
  const eventMetadata: CaptureRecord['eventMetadata'] = { eventId: event.eventId ?? randomUUID(), inferenceTime: inferenceTime(event.at) };
  if (event.inferenceId !== undefined) eventMetadata.inferenceId = event.inferenceId;
  // An empty header (curl's `-H 'X-Amzn-SageMaker-Custom-Attributes;'`; the AWS SDKs send none for
  // an empty string) carries no attributes: not `[""]`, which a Model Monitor script reading
  // `custom_attribute[0]` would take for some.
  if (event.customAttributes !== undefined && event.customAttributes !== '') eventMetadata.customAttributes = [event.customAttributes];
  return { captureData, eventMetadata, eventVersion: '0' };
}

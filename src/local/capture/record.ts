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
  eventMetadata: { eventId: string; inferenceTime: string; inferenceId?: string; customAttributes?: string };
  eventVersion: '0';
}

/**
 * Encodes one payload as Model Monitor stores it. A payload under a CSV or JSON type whose bytes are
 * not UTF-8 is stored as `BASE64`, which the record's `encoding` says: as text its invalid bytes
 * would become U+FFFD and be lost to every reader.
 */
export function capturePayload(mode: 'INPUT' | 'OUTPUT', body: Buffer, contentType: string, types: CaptureContentTypes): CapturedPayload {
  const encoding = payloadEncoding(body, contentType, types);
  return { observedContentType: contentType, mode, data: encoding === 'BASE64' ? body.toString('base64') : body.toString('utf8'), encoding };
}

/** The encoding {@link capturePayload} stores `body` with. */
function payloadEncoding(body: Buffer, contentType: string, types: CaptureContentTypes): CaptureEncoding {
  const listed = captureEncoding(contentType, types);
  return listed !== 'BASE64' && !isUtf8(body) ? 'BASE64' : listed;
}

/**
 * The size of the `data` {@link capturePayload} would make of `body`, found without making it:
 * the base64 text's length, or the UTF-8 text's bytes (at least its characters, before any JSON
 * escapes).
 */
export function capturedDataLength(body: Buffer, contentType: string, types: CaptureContentTypes): number {
  return payloadEncoding(body, contentType, types) === 'BASE64' ? 4 * Math.ceil(body.length / 3) : body.length;
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

/** Builds one capture record (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html). */
export function buildCaptureRecord(event: CaptureEvent, types: CaptureContentTypes): CaptureRecord {
  const captureData: CaptureRecord['captureData'] = {};
  if (event.input) captureData.endpointInput = capturePayload('INPUT', event.input.body, event.input.contentType, types);
  if (event.output) captureData.endpointOutput = capturePayload('OUTPUT', event.output.body, event.output.contentType, types);
  const eventMetadata: CaptureRecord['eventMetadata'] = { eventId: event.eventId ?? randomUUID(), inferenceTime: inferenceTime(event.at) };
  if (event.inferenceId !== undefined) eventMetadata.inferenceId = event.inferenceId;
  if (event.customAttributes !== undefined) eventMetadata.customAttributes = event.customAttributes;
  return { captureData, eventMetadata, eventVersion: '0' };
}

import { lazyRequire } from '../core/lazy-require.js';

/** Loaded at the first header parsed, not when a server worker starts. */
const contentType = lazyRequire<typeof import('content-type')>('content-type');

/** A parsed `Content-Type` (or one `Accept` entry): the bare media type and its parameters. */
export interface MediaType {
  /** Lower-cased `type/subtype` without parameters or whitespace; `''` when the header is missing or empty. */
  readonly mediaType: string;
  /** Parameters with lower-cased names (`charset`, `q` ...); values as sent, quotes removed. */
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Parses a `Content-Type` header leniently: parameters such as `; charset=utf-8` are tolerated,
 * case is ignored and stray spaces (`application/json ; charset = utf-8`, `text / csv`) are accepted,
 * because browsers, curl and SDKs all send slightly different forms.
 *
 * @example
 * parseMediaType('Application/JSON; charset=UTF-8') // { mediaType: 'application/json', params: { charset: 'UTF-8' } }
 */
export function parseMediaType(header: string | undefined): MediaType {
  if (header === undefined) return NO_MEDIA_TYPE;
  let parsed = parsedTypes.get(header);
  if (parsed) return parsed;
  if (header.trim() === '') return NO_MEDIA_TYPE;
  const { type, parameters } = contentType().parse(header);
  parsed = Object.freeze({ mediaType: normaliseType(type), params: Object.freeze({ ...parameters }) });
  // Clients send the same few headers over and over.
  if (parsedTypes.size >= MAX_PARSED_TYPES) parsedTypes.clear();
  parsedTypes.set(header, parsed);
  return parsed;
}

const NO_MEDIA_TYPE: MediaType = Object.freeze({ mediaType: '', params: Object.freeze({}) });

/** Headers parsed lately, each with its (frozen) result; emptied when full, so it stays small. */
const parsedTypes = new Map<string, MediaType>();
const MAX_PARSED_TYPES = 256;

/**
 * Splits an `Accept` header into its entries, in order, each parsed like a `Content-Type`.
 * Empty entries (`a/b,,c/d`) are skipped.
 */
export function parseMediaTypeList(header: string): MediaType[] {
  const out: MediaType[] = [];
  let start = 0;
  while (start < header.length) {
    const parsed = contentType().parse(header, { comma: true, start });
    const mediaType = normaliseType(parsed.type);
    if (mediaType !== '') out.push({ mediaType, params: { ...parsed.parameters } });
    // `index` stops at the comma that ends this entry (or the end of the header).
    start = parsed.index + 1;
  }
  return out;
}

function normaliseType(type: string): string {
  return type.replace(/\s+/g, '').toLowerCase();
}

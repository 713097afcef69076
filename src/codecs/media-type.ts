import { lazyRequire } from '../core/lazy-require.js';

/** Loaded at the first header parsed, not when a server worker starts. */
const contentType = lazyRequire<typeof import('content-type')>('content-type');

/** A parsed `Content-Type` (or one `Accept` entry): the bare media type and its parameters. */
export interface MediaType {
  /** Lower-cased `type/subtype` without parameters or whitespace; `''` when the header is missing or empty. */
  mediaType: string;
  /** Parameters with lower-cased names (`charset`, `q` ...); values as sent, quotes removed. */
  params: Record<string, string>;
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
  if (header === undefined || header.trim() === '') return { mediaType: '', params: {} };
  const parsed = contentType().parse(header);
  return { mediaType: normaliseType(parsed.type), params: { ...parsed.parameters } };
}

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

import { parseMediaTypeList } from './media-type.js';

interface AcceptEntry {
  type: string;
  q: number;
  order: number;
}

/**
 * Picks the response media type for an `Accept` header.
 *
 * - A missing or empty header, or one that only holds `*\/*` (with any q), means `defaultAccept`
 *   (SageMaker's `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`), as the Python toolkit does.
 * - Otherwise entries are tried by descending q-value, ties in header order. A type's q is that of
 *   the most specific entry that covers it (RFC 9110 §12.5.1: its own, else `type/*`, else `*\/*`),
 *   so `application/json;q=0.1, *\/*` ranks JSON below the rest, and `q=0` excludes a type. A q
 *   outside RFC 9110's qvalue grammar (`q=abc`, `q=-1`, `q=2`, empty) is ignored: the range counts as q=1;
 *   more than three decimals are read (`q=0.0001` ranks below `q=0.001`).
 *   Media-type parameters other than `q` are ignored (`application/json; charset=utf-8` is JSON).
 * - An exact entry matches when it is in `available`. A wildcard (`type/*`, `*\/*`) prefers
 *   `defaultAccept` when the wildcard covers it, else the first covered type in `available`.
 *
 * @param accept The raw `Accept` header.
 * @param available Media types that can be produced, in preference order (for example the registry's encodable types).
 * @param defaultAccept The configured default type.
 * @returns The chosen media type, or `undefined` when nothing acceptable can be produced (answer 406).
 *
 * @example
 * negotiateAccept('text/csv;q=0.5, application/json', ['application/json', 'text/csv'], 'application/json') // 'application/json'
 */
export function negotiateAccept(accept: string | undefined, available: readonly string[], defaultAccept: string): string | undefined {
  if (accept === undefined || accept.trim() === '') return defaultAccept;
  const entries = parseAccept(accept);
  if (entries.length === 0 || entries.every((e) => isAnyType(e.type) && e.q > 0)) return defaultAccept;

  const wanted = entries.filter((e) => e.q > 0).sort((a, b) => b.q - a.q || a.order - b.order);
  const offered = available.map((t) => t.toLowerCase());
  const defaultType = defaultAccept.toLowerCase();
  // An entry picks a type only when it is the entry that sets that type's q.
  const picks = (entry: AcceptEntry, type: string) => covers(entry.type, type) && decisiveEntry(entries, type) === entry;

  for (const entry of wanted) {
    if (!entry.type.includes('*')) {
      if (offered.includes(entry.type) && picks(entry, entry.type)) return entry.type;
      continue;
    }
    if (picks(entry, defaultType)) return defaultAccept;
    const first = offered.find((t) => picks(entry, t));
    if (first !== undefined) return first;
  }
  return undefined;
}

/** The entry that sets `type`'s q: its exact range, else its `type/*`, else `*\/*`; the first of equals. */
function decisiveEntry(entries: readonly AcceptEntry[], type: string): AcceptEntry | undefined {
  let best: AcceptEntry | undefined;
  let bestRank = -1;
  for (const e of entries) {
    const rank = e.type === type ? 2 : isAnyType(e.type) ? 0 : covers(e.type, type) ? 1 : -1;
    if (rank > bestRank) {
      best = e;
      bestRank = rank;
    }
  }
  return best;
}

function parseAccept(header: string): AcceptEntry[] {
  return parseMediaTypeList(header).map((m, order) => ({ type: m.mediaType, q: parseQ(m.params['q']), order }));
}

/**
 * RFC 9110 §12.4.2's qvalue (0 to 1), with any number of decimals: the grammar allows three, but a
 * sender writing `q=0.0001` plainly ranks the type last, not first.
 */
const QVALUE = /^(?:0(?:\.\d*)?|1(?:\.0*)?)$/;

function parseQ(raw: string | undefined): number {
  const text = raw?.trim();
  // A q outside RFC 9110's grammar (empty, `abc`, `-1`, `2`) is ignored, as if the range had
  // none (q=1), rather than failing the request or excluding the type: the sender meant the type, and
  // no peer server refuses a request for it. An empty q counting as 1 was the first such choice.
  if (text === undefined || !QVALUE.test(text)) return 1;
  return Number(text);
}

function covers(range: string, type: string): boolean {
  if (isAnyType(range)) return true;
  if (range.endsWith('/*')) return type.startsWith(range.slice(0, -1));
  return range === type;
}

function isAnyType(range: string): boolean {
  // Some clients send a bare `*`; it means the same as `*/*`.
  return range === '*/*' || range === '*';
}

/** RFC 9110's `token`. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The `Content-Type` of an answer user code encoded itself (a Buffer, a string, a stream) without
 * naming its type, for the `Accept` it was given: the media type the client ranks first (highest
 * q, ties in header order) that is not a wildcard, with its parameters before `q` (a list, a
 * q-value or a wildcard is no media type: sent as the answer's `Content-Type`, clients could not
 * tell what they got). With only wildcards, `defaultAccept` when they accept it (the most specific
 * range covering it has a q above 0), else `application/octet-stream` (bytes of a type nobody named).
 *
 * @example
 * answerTypeFor('text/plain, application/json;q=0.5', 'application/json') // 'text/plain'
 * answerTypeFor('application/jsonlines;q=0.9', 'application/json') // 'application/jsonlines'
 */
export function answerTypeFor(accept: string, defaultAccept: string): string {
  const entries = parseMediaTypeList(accept).map((m, order) => ({ type: m.mediaType, params: m.params, q: parseQ(m.params['q']), order }));
  const wanted = entries.filter((e) => e.q > 0).sort((a, b) => b.q - a.q || a.order - b.order);
  const concrete = wanted.find((e) => !e.type.includes('*'));
  if (concrete) {
    // The media type's own parameters: those before q (after it, RFC 7231's accept-extensions).
    const params: string[] = [];
    for (const [name, value] of Object.entries(concrete.params)) {
      if (name.toLowerCase() === 'q') break;
      // RFC 9110 §5.6.6: parameter = token "=" parameter-value. The parser keeps a name that is no
      // token (`;=x`, `;a b=1`, `;"a"=1`), which went out as a Content-Type no client can parse; a
      // name without `=` (`;verbose`) is no parameter at all and is left out by the parser already.
      if (!TOKEN.test(name)) continue;
      params.push(`;${name}=${TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`}`);
    }
    return concrete.type + params.join('');
  }
  // The default type's q is that of the most specific range covering it: `*/*, application/json;q=0` excludes it.
  const decisive = decisiveEntry(entries, defaultAccept.toLowerCase());
  return decisive !== undefined && decisive.q > 0 ? defaultAccept : 'application/octet-stream';
}

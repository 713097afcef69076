import { invalidNextToken } from './errors.js';
import { jsonNestsDeeperThan } from '../../../codecs/json-depth.js';

/** Where an item sorts in a listing: by the number, then by the string (unique per item). */
export type SortKey = readonly [number, string];

const compare = (a: SortKey, b: SortKey): number => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);

/**
 * One page of `all` (any order), sorted by `keyOf`, starting after the item an earlier page's
 * token names. The token holds that item's sort key, not a position, so a page is the same
 * whatever was added before it or deleted since, even the item itself;
 * `InvalidNextTokenException` for a token this service did not issue, or issued to another
 * `operation` (whose keys would page this listing wrongly: from the start, or past its end).
 */
export function paginate<T>(operation: string, all: readonly T[], token: unknown, max: number, keyOf: (item: T) => SortKey): { page: T[]; next?: string } {
  const sorted = [...all].sort((a, b) => compare(keyOf(a), keyOf(b)));
  let after: SortKey | undefined;
  if (token !== undefined) {
    let parsed: unknown;
    try {
      const text = typeof token === 'string' ? Buffer.from(token, 'base64url').toString('utf8') : undefined;
      // A token is a client's text: JSON.parse takes seconds over millions of brackets (see json-depth.ts).
      parsed = text === undefined || jsonNestsDeeperThan(text) ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!Array.isArray(parsed) || parsed.length !== 3 || parsed[0] !== operation || !Number.isFinite(parsed[1]) || typeof parsed[2] !== 'string') throw invalidNextToken(operation);
    after = [parsed[1] as number, parsed[2] as string];
  }
  const rest = after === undefined ? sorted : sorted.filter((x) => compare(keyOf(x), after!) > 0);
  const page = rest.slice(0, max);
  return rest.length > max ? { page, next: Buffer.from(JSON.stringify([operation, ...keyOf(page[page.length - 1]!)]), 'utf8').toString('base64url') } : { page };
}

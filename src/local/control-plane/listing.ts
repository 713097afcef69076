import { AwsServiceError } from '../../aws/service.js';
import { jsonNestsDeeperThan } from '../../codecs/json-depth.js';
import { timestampMillis } from '../../aws/shapes/timestamp.js';

/** The members every SageMaker `List*` operation shares. */
export interface ListInput {
  SortBy?: string;
  SortOrder?: 'Ascending' | 'Descending';
  NextToken?: string;
  MaxResults?: number;
  NameContains?: string;
  CreationTimeBefore?: number | string;
  CreationTimeAfter?: number | string;
  LastModifiedTimeBefore?: number | string;
  LastModifiedTimeAfter?: number | string;
  StatusEquals?: string;
}

/** What listing needs to know of a resource. */
export interface Listed {
  name: string;
  createdAt: Date;
  lastModified?: Date;
  status?: string;
}

/** A timestamp as awsJson sends it: epoch seconds, with milliseconds as a fraction. */
export function epochSeconds(d: Date): number {
  return d.getTime() / 1000;
}

/** A time bound's instant; validation has refused any that names none. */
function toMillis(v: number | string): number {
  return timestampMillis(v) ?? Number.NaN;
}

/** Where a page ends: the sort key and name of its last item, and the listing they order. */
interface PagePosition {
  operation: string;
  sortBy: string;
  sortOrder: string;
  key: string | number;
  name: string;
}

function encodePosition(p: PagePosition): string {
  return Buffer.from(JSON.stringify([p.operation, p.sortBy, p.sortOrder, p.key, p.name]), 'utf8').toString('base64url');
}

/** The position `token` carries, when it is one `operation` issued for this sort; otherwise undefined. */
function decodePosition(token: string, operation: string, sortBy: string, sortOrder: string): PagePosition | undefined {
  let parsed: unknown;
  try {
    // In the try: a token that is not a string (Buffer.from throws) is a bad token as any other.
    const text = Buffer.from(token, 'base64url').toString('utf8');
    // A token is a client's text: JSON.parse takes seconds over millions of brackets (see json-depth.ts).
    if (jsonNestsDeeperThan(text)) return undefined;
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 5) return undefined;
  const [op, by, order, key, name] = parsed as unknown[];
  if (op !== operation || by !== sortBy || order !== sortOrder || typeof name !== 'string') return undefined;
  if (typeof key !== (sortBy === 'CreationTime' ? 'number' : 'string')) return undefined;
  return { operation, sortBy, sortOrder, key: key as string | number, name };
}

/**
 * Filters, sorts and pages resources as the SageMaker `List*` operation `operation` does:
 * `NameContains`, time bounds (`CreationTimeAfter` inclusive, the others exclusive) and
 * `StatusEquals` filter; `SortBy` (default `CreationTime`) and `SortOrder` (default `Descending`)
 * order; `MaxResults` (default 10) pages. `NextToken` carries the last item's sort key and name, so
 * the next page starts after it whatever was created or deleted in between; a token that is not one
 * `operation` issued for the same sort is a `ValidationException`.
 *
 * With `statusAfterPage` and both `StatusEquals` and `MaxResults` given, the page is taken first and
 * `StatusEquals` then filters it, so a page may hold fewer items than `MaxResults`, or none, and still
 * have a `NextToken`: `ListTrainingJobs` works so ("the MaxResults number of training jobs are first
 * retrieved ignoring the StatusEquals parameter and then they are filtered by the StatusEquals
 * parameter", https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ListTrainingJobs.html).
 */
export function listPage<T>(operation: string, all: readonly T[], input: ListInput, view: (item: T) => Listed, options: { statusAfterPage?: boolean } = {}): { items: T[]; nextToken?: string } {
  const lower = input.NameContains?.toLowerCase();
  const statusAfterPage = options.statusAfterPage === true && input.StatusEquals !== undefined && input.MaxResults !== undefined;
  let items = all.filter((item) => {
    const v = view(item);
    if (lower !== undefined && !v.name.toLowerCase().includes(lower)) return false;
    if (input.CreationTimeBefore !== undefined && !(v.createdAt.getTime() < toMillis(input.CreationTimeBefore))) return false;
    // Inclusive, unlike the other bounds: "a creation time greater than or equal to the specified time" (List* API reference).
    if (input.CreationTimeAfter !== undefined && !(v.createdAt.getTime() >= toMillis(input.CreationTimeAfter))) return false;
    const modified = (v.lastModified ?? v.createdAt).getTime();
    if (input.LastModifiedTimeBefore !== undefined && !(modified < toMillis(input.LastModifiedTimeBefore))) return false;
    if (input.LastModifiedTimeAfter !== undefined && !(modified > toMillis(input.LastModifiedTimeAfter))) return false;
    if (input.StatusEquals !== undefined && !statusAfterPage && v.status !== input.StatusEquals) return false;
    return true;
  });
  const sortBy = input.SortBy ?? 'CreationTime';
  const sortOrder = input.SortOrder ?? 'Descending';
  const key = (v: Listed): string | number => (sortBy === 'Name' ? v.name : sortBy === 'Status' ? (v.status ?? '') : v.createdAt.getTime());
  // Names are unique within a listing, so (key, name) orders every item.
  const direction = sortOrder === 'Descending' ? -1 : 1;
  const compare = (ka: string | number, na: string, kb: string | number, nb: string): number => direction * (ka < kb ? -1 : ka > kb ? 1 : na < nb ? -1 : na > nb ? 1 : 0);
  items.sort((a, b) => {
    const va = view(a);
    const vb = view(b);
    return compare(key(va), va.name, key(vb), vb.name);
  });
  if (input.NextToken !== undefined) {
    const after = decodePosition(input.NextToken, operation, sortBy, sortOrder);
    if (!after) {
      throw new AwsServiceError('ValidationException', `Invalid pagination token: pass the NextToken of the previous ${operation} answer as it came, with the same SortBy and SortOrder, or no NextToken for the first page.`, 400);
    }
    const start = items.findIndex((item) => {
      const v = view(item);
      return compare(key(v), v.name, after.key, after.name) > 0;
    });
    items = start < 0 ? [] : items.slice(start);
  }
  const max = input.MaxResults ?? 10;
  const ofStatus = (page: T[]): T[] => (statusAfterPage ? page.filter((item) => view(item).status === input.StatusEquals) : page);
  if (items.length <= max) return { items: ofStatus(items) };
  items = items.slice(0, max);
  const last = view(items[max - 1]!);
  return { items: ofStatus(items), nextToken: encodePosition({ operation, sortBy, sortOrder, key: key(last), name: last.name }) };
}

import { AwsServiceError } from '../../aws/service.js';

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

function toMillis(v: number | string): number {
  return typeof v === 'number' ? v * 1000 : Date.parse(v);
}

/**
 * Filters, sorts and pages resources as the SageMaker `List*` operations do: `NameContains`,
 * time bounds (`CreationTimeAfter` inclusive, the others exclusive) and `StatusEquals` filter; `SortBy` (default `CreationTime`) and `SortOrder`
 * (default `Descending`) order; `MaxResults` (default 10) pages, with an opaque `NextToken`.
 */
export function listPage<T>(all: readonly T[], input: ListInput, view: (item: T) => Listed): { items: T[]; nextToken?: string } {
  const lower = input.NameContains?.toLowerCase();
  let items = all.filter((item) => {
    const v = view(item);
    if (lower !== undefined && !v.name.toLowerCase().includes(lower)) return false;
    if (input.CreationTimeBefore !== undefined && !(v.createdAt.getTime() < toMillis(input.CreationTimeBefore))) return false;
    // Inclusive, unlike the other bounds: "a creation time greater than or equal to the specified time" (List* API reference).
    if (input.CreationTimeAfter !== undefined && !(v.createdAt.getTime() >= toMillis(input.CreationTimeAfter))) return false;
    const modified = (v.lastModified ?? v.createdAt).getTime();
    if (input.LastModifiedTimeBefore !== undefined && !(modified < toMillis(input.LastModifiedTimeBefore))) return false;
    if (input.LastModifiedTimeAfter !== undefined && !(modified > toMillis(input.LastModifiedTimeAfter))) return false;
    if (input.StatusEquals !== undefined && v.status !== input.StatusEquals) return false;
    return true;
  });
  const by = input.SortBy ?? 'CreationTime';
  const key = (item: T): string | number => {
    const v = view(item);
    return by === 'Name' ? v.name : by === 'Status' ? (v.status ?? '') : v.createdAt.getTime();
  };
  items.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka < kb ? -1 : ka > kb ? 1 : view(a).name < view(b).name ? -1 : 1;
  });
  if ((input.SortOrder ?? 'Descending') === 'Descending') items.reverse();
  let start = 0;
  if (input.NextToken !== undefined) {
    const decoded = /^page:(\d+)$/.exec(Buffer.from(input.NextToken, 'base64url').toString('utf8'));
    const n = decoded ? Number(decoded[1]) : NaN;
    if (!Number.isInteger(n) || n < 0) throw new AwsServiceError('ValidationException', 'Invalid pagination token.', 400);
    start = n;
  }
  const max = input.MaxResults ?? 10;
  items = items.slice(start, start + max + 1);
  if (items.length > max) return { items: items.slice(0, max), nextToken: Buffer.from(`page:${start + max}`).toString('base64url') };
  return { items };
}

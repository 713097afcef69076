import { invalidNextToken } from './errors.js';

/** One page of `all` from the position an earlier page's token names; `InvalidNextTokenException` for a foreign token. */
export function paginate<T>(all: readonly T[], token: unknown, max: number): { page: T[]; next?: string } {
  let offset = 0;
  if (token !== undefined) {
    offset = typeof token === 'string' ? Number(Buffer.from(token, 'base64url').toString('utf8')) : NaN;
    if (!Number.isInteger(offset) || offset < 0 || offset > all.length) throw invalidNextToken();
  }
  const page = all.slice(offset, offset + max);
  return offset + max < all.length ? { page, next: Buffer.from(String(offset + max), 'utf8').toString('base64url') } : { page };
}

import { invalidNextToken } from './errors.js';
import { jsonNestsDeeperThan } from '../../../codecs/json-depth.js';

/** An opaque pagination token carrying the position after which the next page starts. */
export function encodeToken(after: string): string {
  return Buffer.from(JSON.stringify({ after }), 'utf8').toString('base64url');
}

/** The position a {@link encodeToken} token carries; `InvalidNextToken` for anything else. */
export function decodeToken(token: unknown): string {
  try {
    const text = Buffer.from(String(token), 'base64url').toString('utf8');
    // A token is a client's text: JSON.parse takes seconds over millions of brackets (see json-depth.ts).
    const parsed = (jsonNestsDeeperThan(text) ? {} : JSON.parse(text)) as { after?: unknown };
    if (typeof parsed.after === 'string') return parsed.after;
  } catch {
    // fall through
  }
  throw invalidNextToken('The NextToken is not one this service issued.');
}

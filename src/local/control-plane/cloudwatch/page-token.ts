import { invalidNextToken, invalidParameterValue, type CloudWatchError } from './errors.js';
import { jsonNestsDeeperThan } from '../../../codecs/json-depth.js';

/** The paged operations; each reads only the tokens it gave. */
export type PagedOperation = 'DescribeAlarms' | 'DescribeAlarmHistory' | 'GetMetricData' | 'ListMetrics';

/** An opaque pagination token of `operation`, carrying the position after which its next page starts. */
export function encodeToken(operation: PagedOperation, after: string): string {
  return Buffer.from(JSON.stringify({ op: operation, after }), 'utf8').toString('base64url');
}

/**
 * The position a {@link encodeToken} token of `operation` carries; {@link tokenNotGivenBy}'s error
 * for anything else, a token of another operation included (its position would page this listing wrongly).
 */
export function decodeToken(operation: PagedOperation, token: unknown): string {
  try {
    const text = Buffer.from(String(token), 'base64url').toString('utf8');
    // A token is a client's text: JSON.parse takes seconds over millions of brackets (see json-depth.ts).
    const parsed = (jsonNestsDeeperThan(text) ? {} : JSON.parse(text)) as { op?: unknown; after?: unknown };
    if (parsed.op === operation && typeof parsed.after === 'string') return parsed.after;
  } catch {
    // fall through
  }
  throw tokenNotGivenBy(operation);
}

/**
 * The error for a token `operation` did not give, saying what to pass instead: `InvalidNextToken`,
 * or for ListMetrics, whose errors in the API model are only `InvalidParameterValue` and
 * `InternalServiceFault` (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_ListMetrics.html),
 * `InvalidParameterValue`: an SDK that checks an error against the operation's own gets one it knows.
 */
export function tokenNotGivenBy(operation: PagedOperation): CloudWatchError {
  const message = `The NextToken is not one ${operation} gave: pass the NextToken of the previous ${operation} answer as it came, or none for the first page.`;
  return operation === 'ListMetrics' ? invalidParameterValue(message) : invalidNextToken(message);
}

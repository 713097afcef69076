import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AwsServiceError, INTERNAL_FAILURE_MESSAGE, queryCodeOf, queryFaultOf, reportInternalFailure, serviceNameOf, type InternalFailureLog } from '../../../aws/service.js';
import { endInSlices } from '../../../net/end-in-slices.js';
import { parseQueryBody, QueryParseError, writeQueryError, writeQueryResponse } from '../../../aws/protocols/query.js';
import type { CloudWatchService } from './cloudwatch-service.js';
import { CLOUDWATCH_API_VERSION, CLOUDWATCH_MAP_MEMBERS, CLOUDWATCH_TIMESTAMP_MEMBERS, CLOUDWATCH_XMLNS, coerceQueryInput, unsupportedVersion } from './query-shapes.js';

/** Largest query body read (the form encoding of the largest CloudWatch request stays far below). */
export const MAX_QUERY_BODY_BYTES = 1_048_576;

/** A request whose body a framework may already have read (express `raw`/`text`). */
export type QueryHttpRequest = IncomingMessage & { body?: unknown };

function readBody(req: QueryHttpRequest): Promise<string | undefined> {
  if (Buffer.isBuffer(req.body)) return Promise.resolve(req.body.length > MAX_QUERY_BODY_BYTES ? undefined : req.body.toString('utf8'));
  if (typeof req.body === 'string') return Promise.resolve(Buffer.byteLength(req.body) > MAX_QUERY_BODY_BYTES ? undefined : req.body);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_QUERY_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, requestId: string, xml: string, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/xml');
  res.setHeader('x-amzn-RequestId', requestId);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  // A ListMetrics or GetMetricData answer can be megabytes: written in slices, a caller reading it slowly is not taken for one that stopped.
  endInSlices(res, xml);
}

/**
 * The CloudWatch query-protocol endpoint (what the AWS CLI and boto3 send): parses a
 * form-encoded `POST /`, calls the {@link CloudWatchService}, and answers the service's XML or its
 * `<ErrorResponse>`. Every body gets a 2xx or a 4xx; an unexpected failure is a 500 `InternalFailure`
 * whose cause goes to `onInternalFailure` only (without it, or when it throws, to a process warning:
 * {@link reportInternalFailure}), as does a failure after the answer's headers were sent, and a
 * failure to write an error answer, after which the response is destroyed.
 */
export function createCloudWatchQueryHandler(cloudwatch: CloudWatchService, onInternalFailure?: InternalFailureLog): ((req: QueryHttpRequest, res: ServerResponse) => void) & { readonly xmlns: string } {
  const handler = (req: QueryHttpRequest, res: ServerResponse): void => {
    const requestId = randomUUID();
    const fail = (status: number, code: string, message: string, fault: 'Sender' | 'Receiver' = 'Sender'): void =>
      send(res, status, requestId, writeQueryError(code, message, fault, CLOUDWATCH_XMLNS, requestId));
    void (async () => {
      const body = await readBody(req);
      if (body === undefined) return fail(413, 'RequestEntityTooLarge', `The request body is larger than ${MAX_QUERY_BODY_BYTES} bytes.`);
      const request = parseQueryBody(body);
      if (request.version !== undefined && request.version !== CLOUDWATCH_API_VERSION) throw unsupportedVersion(request.version, request.action);
      const input = coerceQueryInput(request.action, request.params);
      const output = await cloudwatch.call(request.action, input);
      send(res, 200, requestId, writeQueryResponse(request.action, output, CLOUDWATCH_XMLNS, requestId, { mapMembers: CLOUDWATCH_MAP_MEMBERS, timestampMembers: CLOUDWATCH_TIMESTAMP_MEMBERS }));
    })().catch((err: unknown) => {
      // Named inside the try, so that nothing on this path can throw outside one (a signing name that
      // cannot be read leaves the service's usual name).
      let where = 'CloudWatch';
      try {
        where = serviceNameOf(cloudwatch.signingName);
        // Once its headers are out the caller cannot be answered the error, whatever it is: it is reported.
        const answerable = !res.headersSent;
        if (answerable && err instanceof QueryParseError) return fail(400, err.code, err.message);
        if (answerable && err instanceof AwsServiceError) return fail(err.status, queryCodeOf(err), err.message, queryFaultOf(err));
        reportInternalFailure(where, err, onInternalFailure);
        if (answerable) fail(500, 'InternalFailure', INTERNAL_FAILURE_MESSAGE, 'Receiver');
        // An answer cut short after its headers: ending it would pass it off as whole.
        else res.destroy();
      } catch (sendErr) {
        // Nothing awaits this promise: a throw here would be an unhandled rejection, which ends the
        // process. The answer could not be written, so the caller's connection is dropped rather
        // than left waiting for one.
        reportInternalFailure(where, sendErr, onInternalFailure);
        try {
          res.destroy();
        } catch {
          // A response that cannot even be destroyed has nothing left to tell its caller.
        }
      }
    });
  };
  // The front door's own refusals of a query body (too large, not decodable) carry CloudWatch's namespace too.
  return Object.assign(handler, { xmlns: CLOUDWATCH_XMLNS });
}

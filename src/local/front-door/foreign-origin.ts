import type { IncomingMessage } from 'node:http';
import { excerpt } from '../../errors/excerpt.js';
import { foreignOrigin } from '../../server/foreign-origin.js';

/**
 * Why a front-door request that came from a web page on another site ({@link foreignOrigin}) is
 * refused, or undefined for one that did not. The local SageMaker would otherwise run the page's
 * `CreateModel` (its environment, its image) as this user. SDKs and the AWS CLI send neither
 * `Origin` nor `Referer`; pages on this machine are let through, as LocalStack lets its own local
 * origins through and refuses others with a 403.
 */
export function foreignOriginFault(req: IncomingMessage): string | undefined {
  const from = foreignOrigin(req);
  if (from === undefined) return undefined;
  return (
    `smkit local takes no request from a web page of another site (${from.header}: ${excerpt(from.value, 100)}): ` +
    'a page could otherwise drive the local SageMaker, which runs containers and processes, through your browser. ' +
    'AWS SDKs and the AWS CLI send no Origin; a page must be served from localhost or a loopback address.'
  );
}

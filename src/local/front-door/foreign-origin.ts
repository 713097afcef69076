import type { IncomingMessage } from 'node:http';
import { excerpt } from '../../errors/excerpt.js';
import type { AllowedHosts } from '../../config/settings.js';
import { foreignHost, foreignOrigin } from '../../server/foreign-origin.js';

/**
 * Why a front-door request that came from a web page on another site ({@link foreignOrigin}) is
 * refused, or undefined for one that did not. The local SageMaker would otherwise run the page's
 * `CreateModel` (its environment, its image) as this user. SDKs and the AWS CLI send neither
 * `Origin` nor `Referer`; pages on this machine are let through, as LocalStack lets its own local
 * origins through and refuses others with a 403.
 */
export function foreignOriginFault(req: IncomingMessage, allowedHosts?: AllowedHosts): string | undefined {
  const from = foreignOrigin(req);
  if (from === undefined) return foreignHostFault(req, allowedHosts);
  return (
    `smkit local takes no request from a web page of another site (${from.header}: ${excerpt(from.value, 100)}): ` +
    'a page could otherwise drive the local SageMaker, which runs containers and processes, through your browser. ' +
    'AWS SDKs and the AWS CLI send no Origin; a page must be served from localhost or a loopback address.'
  );
}

/**
 * Why a front-door request addressed to a name other than `localhost`, an IP address or one of
 * `allowedHosts` (`SMKIT_ALLOWED_HOSTS`) is refused ({@link foreignHost}), or undefined. The front
 * door listens on 127.0.0.1 only, so an SDK calls it by `localhost` or an address; a page that
 * points its own name at 127.0.0.1 (DNS rebinding) reaches it under that name, with no `Origin`
 * on a `GET`. As Jupyter refuses a `Host` other than `localhost` unless `allow_remote_access` is set.
 */
function foreignHostFault(req: IncomingMessage, allowedHosts: AllowedHosts | undefined): string | undefined {
  const host = foreignHost(req, allowedHosts);
  if (host === undefined) return undefined;
  return (
    `smkit local takes no request addressed to Host: ${excerpt(host, 100)}, a name that is not localhost, an IP address or one SMKIT_ALLOWED_HOSTS lists: ` +
    'a web page that points its own name at this machine (DNS rebinding) could otherwise drive the local SageMaker through your browser. ' +
    'Call it as http://localhost:PORT or http://127.0.0.1:PORT, or add the name to SMKIT_ALLOWED_HOSTS (comma-separated; * for any).'
  );
}

/** The free-port helper lives in `net/ports.ts`; re-exported here for the backends. */
export { findFreePort } from '../../net/ports.js';

import { ToolkitError } from '../errors/catalogue.js';

/**
 * Gives why this worker process is leaving on its own (exit codes 79 to 81, see exit-codes.ts), or
 * undefined when it is not (a SIGTERM drain, or no drain).
 */
export type LeavingReason = () => string | undefined;

/**
 * The 503 `ERR_SHUTTING_DOWN` a draining worker process refuses work with. After a SIGTERM it says
 * `onSigterm`; a worker process leaving on its own says so, and why, instead: no SIGTERM came, and
 * the server goes on serving, so the client is told to retry (another worker process, or the one
 * started in this one's place, takes it).
 */
export function drainingError(leaving: string | undefined, onSigterm: string): ToolkitError {
  return leaving === undefined ? new ToolkitError('ERR_SHUTTING_DOWN', onSigterm) : leavingError(leaving);
}

/** The 503 `ERR_SHUTTING_DOWN` of a worker process leaving on its own, for `reason`. */
export function leavingError(reason: string): ToolkitError {
  return new ToolkitError('ERR_SHUTTING_DOWN', `this worker process is leaving (${reason}); retry: another worker process serves (or the one started in its place will)`);
}

import type { ToolkitError } from '../errors/catalogue.js';

/**
 * What a client is told of a failed model load (`GET /ping`'s 503, a refused invocation or
 * WebSocket): for an error user code threw in a load hook (`details.hook`), its code and the hook,
 * not its message, which may quote a connection string or a secret; else the message, which smkit
 * wrote (a pipeline file's error, a missing model). The whole message is in the log of the load.
 */
export function loadFailureReason(failure: ToolkitError | undefined): string {
  if (failure === undefined) return 'see the server log';
  const { hook, handler } = failure.details ?? {};
  if (typeof hook !== 'string') return failure.message;
  return `${failure.code}: ${hook}${typeof handler === 'string' ? ` in ${handler}` : ''} failed; its error is in the server log (not quoted here, as it may hold secrets)`;
}

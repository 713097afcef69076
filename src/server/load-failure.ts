import type { ToolkitError } from '../errors/catalogue.js';

/**
 * What a client is told of a failed model load (`GET /ping`'s 503, a refused invocation or
 * WebSocket): for an error user code threw in a load hook (`details.hook`), its code and the hook,
 * not its message, which may quote a connection string or a secret; for a user module's syntax
 * error (`details.syntaxError`), the module and the place, not the line there or V8's message,
 * which quote user source; else the message, which smkit wrote (a pipeline file's error, a missing
 * model). The whole message is in the log of the load.
 */
export function loadFailureReason(failure: ToolkitError | undefined): string {
  if (failure === undefined) return 'see the server log';
  const { hook, handler, syntaxError } = failure.details ?? {};
  if (typeof syntaxError === 'string' && typeof handler === 'string') {
    return `${failure.code}: ${handler} has a syntax error at ${syntaxError}; the error and the line are in the server log (not quoted here, as user source may hold secrets)`;
  }
  if (typeof hook !== 'string') return failure.message;
  return `${failure.code}: ${hook}${typeof handler === 'string' ? ` in ${handler}` : ''} failed; its error is in the server log (not quoted here, as it may hold secrets)`;
}

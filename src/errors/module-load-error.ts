import { ToolkitError } from './catalogue.js';
import { thrownMessage } from './excerpt.js';
import { isNodeError } from './node-error.js';
import { syntaxErrorPlace } from './syntax-error-place.js';

/**
 * The `ERR_HANDLER_LOAD` for a user module (the handler module, a custom step's module) whose import
 * threw `err`. Its message, which the load's log writes, says everything: a syntax error's place and
 * line (which the import's error does not carry), what the module's top-level code threw. Its
 * `details` say what a client may be told instead (see `loadFailureReason`): a syntax error's place
 * (`syntaxError`), or that the top-level code failed (`hook`), since the line and what the code
 * threw are user source and data, which may hold a secret. Node's own errors (a missing package)
 * have neither: their message says what to fix.
 *
 * @param intro - the message's start, naming the module: `cannot load handler /opt/ml/model/code/inference.mjs`.
 */
export function moduleLoadError(file: string, intro: string, err: unknown): ToolkitError {
  const syntax = isSyntaxError(err);
  const place = syntax ? syntaxErrorPlace(file) : undefined;
  const message = `${intro}${place ? ` (${place.at}: ${place.source})` : ''}: ${thrownMessage(err)}`;
  if (place) return new ToolkitError('ERR_HANDLER_LOAD', message, { cause: err, details: { syntaxError: place.at, handler: file } });
  if (isNodeError(err)) return new ToolkitError('ERR_HANDLER_LOAD', message, { cause: err });
  // A SyntaxError the check does not find was thrown by the top-level code (JSON.parse of a setting,
  // whose message quotes the text) or is in a module this one imports.
  const hook = syntax ? 'its top-level code (or a module it imports)' : 'its top-level code';
  return new ToolkitError('ERR_HANDLER_LOAD', message, { cause: err, details: { hook, handler: file } });
}

/** `err instanceof SyntaxError`, false for a thrown Proxy whose prototype cannot be read (on which instanceof throws). */
function isSyntaxError(err: unknown): boolean {
  try {
    return err instanceof SyntaxError;
  } catch {
    return false;
  }
}

import { ToolkitError } from '../errors/catalogue.js';
import type { EngineDescription } from '../handlers/engine.js';

/**
 * The 504 for an invocation that ran past `timeoutMs`. When the model has handler hooks, it names
 * them and what to fix: the request was with them when its time ran out (a promise that never
 * settles, a loop), unless it was still waiting for its turn (`queued`).
 */
export function invocationTimeout(timeoutMs: number, description: EngineDescription | undefined, queued = false): ToolkitError {
  const limit = `the invocation took longer than ${timeoutMs / 1000} s (SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS or SAGEMAKER_MODEL_SERVER_TIMEOUT)`;
  const hooks = description?.requestHooks ?? [];
  if (queued || hooks.length === 0) return new ToolkitError('ERR_TIMEOUT', limit);
  return new ToolkitError(
    'ERR_TIMEOUT',
    `${limit} in the handler's ${hooks.join('/')}${description?.handler ? ` (${description.handler})` : ''}: make ${hooks.length > 1 ? 'them' : 'it'} answer within it (a promise that never settles, or a loop that does not end, holds the request until then), or raise the timeout`,
  );
}

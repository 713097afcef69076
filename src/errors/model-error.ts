import { ToolkitError } from './catalogue.js';

/**
 * The error class user handler code throws to answer with its own HTTP status (like the Python
 * toolkit's `BaseInferenceToolkitError`). A status from 400 to 599 reaches the client as is (its
 * `code` is `ERR_USER_CODE`); any other (a 2xx, 600, a fraction) is answered as 500.
 *
 * @example
 * ```js
 * import { ModelError } from 'smkit';
 * export function inputFn(body) {
 *   if (body.length === 0) throw new ModelError(400, 'send at least one row');
 * }
 * ```
 */
export class ModelError extends ToolkitError {
  constructor(status: number, message: string, options?: ErrorOptions) {
    const valid = Number.isInteger(status) && status >= 400 && status <= 599;
    super('ERR_USER_CODE', message, { status: valid ? status : 500, cause: options?.cause });
    this.name = 'ModelError';
  }
}

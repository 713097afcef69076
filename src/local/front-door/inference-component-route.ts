/**
 * An invocation names no inference component of an endpoint that hosts them, names one it does
 * not host, or names one that cannot take requests now: the front door answers a 400
 * `ValidationError` with this message.
 */
export class InferenceComponentRouteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InferenceComponentRouteError';
  }
}

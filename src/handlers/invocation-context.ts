import type { InvocationContext, InvocationSession, Logger, SageMakerHeaders } from '../core/context.js';
import { CANCELLATION, Cancellation } from '../core/cancellation.js';

/**
 * The context of one invocation, as user hooks and pipeline steps receive it. A class rather than
 * an object literal: `signal` must be a getter (its `AbortSignal` is made only when asked for), and
 * an object literal with a getter costs about 0.5 µs to create, against 15 ns for this.
 */
export class EngineContext implements InvocationContext {
  readonly customAttributes: string | undefined;
  readonly inferenceId: string | undefined;
  readonly targetModel: string | undefined;
  readonly targetVariant: string | undefined;
  readonly session: InvocationSession | undefined;
  /** For the steps that pass it on to their runtime; not part of what user code is told about. */
  readonly [CANCELLATION]: Cancellation | undefined;

  /**
   * @param setCustomAttributes an own function, so that user code may call it unbound
   */
  constructor(
    headers: SageMakerHeaders,
    readonly requestId: string,
    readonly contentType: string,
    readonly accept: string,
    readonly modelDir: string,
    readonly log: Logger,
    readonly setCustomAttributes: (value: string) => void,
    cancellation: Cancellation | undefined,
    session?: InvocationSession,
  ) {
    this.customAttributes = headers.customAttributes;
    this.inferenceId = headers.inferenceId;
    this.targetModel = headers.targetModel;
    this.targetVariant = headers.targetVariant;
    this[CANCELLATION] = cancellation;
    this.session = session;
  }

  get signal(): AbortSignal {
    return Cancellation.signalOf(this[CANCELLATION]);
  }
}

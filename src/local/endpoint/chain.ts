import type { SageMakerHeaders } from '../../core/context.js';
import { ensureModelLoaded, type MultiModelHost } from './multi-model.js';
/** A container as the front door sees it: where it listens and where its log goes. */
export interface ChainContainer {
  hostname: string;
  url: string;
  logFile: string;
  /** Set for a multi-model container: models load on demand by `TargetModel`. */
  multiModel?: MultiModelHost;
}

/** An invocation as the caller sent it (sagemaker-contract.md §8 request headers). */
export interface InvocationRequest extends SageMakerHeaders {
  body: Buffer;
  contentType: string;
  accept?: string;
}

/** A container's successful answer. */
export interface InvocationResponse {
  body: Buffer;
  contentType: string;
  customAttributes?: string;
}

/** Why a container failed: it answered 4xx/5xx, could not be reached, or ran past the timeout. */
export type FailureKind = 'status' | 'unreachable' | 'timeout';

/** A container in a chain failed; carries what the front door needs for a `ModelError`. */
export class ContainerFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    readonly container: ChainContainer,
    /** Position in the chain, from 0. */
    readonly index: number,
    /** The container's HTTP status (kind `status`). */
    readonly status: number | undefined,
    /** The container's response body as text (kind `status`), else a description. */
    readonly detail: string,
  ) {
    super(`${container.hostname}: ${kind}${status === undefined ? '' : ` ${status}`}: ${detail}`);
    this.name = 'ContainerFailure';
  }
}

/** Options of {@link invokeChain}. */
export interface ChainOptions {
  /** Per-container time limit (SageMaker allows 60 s, sagemaker-contract.md §1.3). @defaultValue 60 000 */
  timeoutMs?: number;
}

export function requestHeaders(req: InvocationRequest, contentType: string, accept: string | undefined): Record<string, string> {
  // `*/*` (what fetch would send anyway) means "your SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT".
  const headers: Record<string, string> = { 'content-type': contentType, accept: accept ?? '*/*' };
  if (req.customAttributes !== undefined) headers['x-amzn-sagemaker-custom-attributes'] = req.customAttributes;
  if (req.targetModel !== undefined) headers['x-amzn-sagemaker-target-model'] = req.targetModel;
  if (req.targetVariant !== undefined) headers['x-amzn-sagemaker-target-variant'] = req.targetVariant;
  if (req.inferenceId !== undefined) headers['x-amzn-sagemaker-inference-id'] = req.inferenceId;
  return headers;
}

/**
 * Sends a request through one container or a serial inference pipeline (sagemaker-contract.md §4,
 * peer-systems.md §C-6.5): container i's response body and `Content-Type` become container i+1's
 * request; the caller's `Accept` goes to the last container only; the earlier ones get `Accept: *\/*`
 * and so answer in their own `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`. Throws {@link ContainerFailure} naming the
 * container that failed.
 */
export async function invokeChain(containers: readonly ChainContainer[], req: InvocationRequest, opts: ChainOptions = {}): Promise<InvocationResponse> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let body = req.body;
  let contentType = req.contentType;
  let customAttributes: string | undefined;
  for (const [index, container] of containers.entries()) {
    const last = index === containers.length - 1;
    const route = container.multiModel
      ? `/models/${await ensureModelLoaded(container, container.multiModel, req.targetModel, index, timeoutMs)}/invoke`
      : '/invocations';
    let res: Response;
    try {
      res = await fetch(`${container.url}${route}`, {
        method: 'POST',
        headers: requestHeaders(req, contentType, last ? req.accept : undefined),
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'TimeoutError' || name === 'AbortError') {
        throw new ContainerFailure('timeout', container, index, undefined, `no response within ${Math.round(timeoutMs / 1000)} s`);
      }
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ContainerFailure('unreachable', container, index, undefined, cause?.code ?? cause?.message ?? (err as Error).message);
    }
    let answer: Buffer;
    try {
      answer = Buffer.from(await res.arrayBuffer());
    } catch (err) {
      throw new ContainerFailure('unreachable', container, index, undefined, `connection lost while reading the response: ${(err as Error).message}`);
    }
    if (res.status >= 400) {
      throw new ContainerFailure('status', container, index, res.status, answer.toString('utf8'));
    }
    body = answer;
    contentType = res.headers.get('content-type') ?? 'application/octet-stream';
    customAttributes = res.headers.get('x-amzn-sagemaker-custom-attributes') ?? undefined;
  }
  const response: InvocationResponse = { body, contentType };
  if (customAttributes !== undefined) response.customAttributes = customAttributes;
  return response;
}

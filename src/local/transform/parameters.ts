import type { BatchStrategy } from '../../config/settings.js';
import { ToolkitError } from '../../errors/catalogue.js';
import { readAtMost } from '../endpoint/read-answer.js';

/** The three values `/execution-parameters` may set (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-batch-code.html). */
export interface ExecutionParameters {
  maxConcurrentTransforms: number;
  batchStrategy: BatchStrategy;
  /** 0 means no limit. */
  maxPayloadInMB: number;
}

/**
 * SageMaker's defaults when neither the job nor the container says otherwise
 * (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html,
 * https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-batch-code.html).
 */
export const DEFAULT_EXECUTION_PARAMETERS: Readonly<ExecutionParameters> = Object.freeze({
  maxConcurrentTransforms: 1,
  batchStrategy: 'MULTI_RECORD',
  maxPayloadInMB: 6,
});

/** Parses a `BatchStrategy` in either spelling (`MULTI_RECORD` or `MultiRecord`). */
export function parseBatchStrategy(raw: string): BatchStrategy | undefined {
  const v = raw.replace(/[_-]/g, '').toLowerCase();
  if (v === 'multirecord') return 'MULTI_RECORD';
  if (v === 'singlerecord') return 'SINGLE_RECORD';
  return undefined;
}

/**
 * Most of an `/execution-parameters` answer that is read: it is an object of three values, and
 * read whole an answer that never ends held all the container sent until the timeout (hundreds of
 * MB a second over loopback).
 */
export const MAX_EXECUTION_PARAMETERS_BYTES = 64 * 1024;

/**
 * Reads the container's `GET /execution-parameters` answer, keeping only well-formed values.
 * Returns an empty object when the route is missing, answers anything but a 2xx (a redirect is not
 * followed), the answer is not JSON or is over {@link MAX_EXECUTION_PARAMETERS_BYTES} (not read
 * further; the route is optional), or when `stop` aborts the call.
 */
export async function fetchExecutionParameters(baseUrl: string, timeoutMs = 5000, stop?: AbortSignal): Promise<Partial<ExecutionParameters>> {
  let body: unknown;
  try {
    const timeout = AbortSignal.timeout(timeoutMs);
    // A redirect is not followed (to whatever host the container names): a 3xx is an answer without parameters, as any non-2xx.
    const res = await fetch(`${baseUrl}/execution-parameters`, { redirect: 'manual', signal: stop ? AbortSignal.any([timeout, stop]) : timeout });
    if (!res.ok) {
      // Not read: its connection is closed, not left to send an answer no one reads.
      await res.body?.cancel().catch(() => {});
      return {};
    }
    const answer = await readAtMost(res, MAX_EXECUTION_PARAMETERS_BYTES);
    if (answer.cut) return {};
    // A leading byte-order mark is dropped, as res.json() (which read this answer before) drops it.
    body = JSON.parse(answer.body.toString('utf8').replace(/^\uFEFF/, ''));
  } catch {
    return {};
  }
  if (typeof body !== 'object' || body === null) return {};
  const b = body as Record<string, unknown>;
  const out: Partial<ExecutionParameters> = {};
  if (Number.isInteger(b.MaxConcurrentTransforms) && (b.MaxConcurrentTransforms as number) >= 1) out.maxConcurrentTransforms = b.MaxConcurrentTransforms as number;
  if (typeof b.BatchStrategy === 'string') {
    const s = parseBatchStrategy(b.BatchStrategy);
    if (s) out.batchStrategy = s;
  }
  if (typeof b.MaxPayloadInMB === 'number' && Number.isFinite(b.MaxPayloadInMB) && b.MaxPayloadInMB >= 0) out.maxPayloadInMB = b.MaxPayloadInMB;
  return out;
}

/**
 * Precedence as batch transform applies it (your-algorithms-batch-code.html): the job's values
 * (flags), then the container's `/execution-parameters` answer, then the defaults.
 */
export function resolveExecutionParameters(flags: Partial<ExecutionParameters>, container: Partial<ExecutionParameters>): ExecutionParameters {
  return {
    maxConcurrentTransforms: flags.maxConcurrentTransforms ?? container.maxConcurrentTransforms ?? DEFAULT_EXECUTION_PARAMETERS.maxConcurrentTransforms,
    batchStrategy: flags.batchStrategy ?? container.batchStrategy ?? DEFAULT_EXECUTION_PARAMETERS.batchStrategy,
    maxPayloadInMB: flags.maxPayloadInMB ?? container.maxPayloadInMB ?? DEFAULT_EXECUTION_PARAMETERS.maxPayloadInMB,
  };
}

/** `MaxPayloadInMB` above this, or `MaxConcurrentTransforms × MaxPayloadInMB` above this, is refused by CreateTransformJob. */
export const MAX_PAYLOAD_MB = 100;

/**
 * The most requests smkit keeps out at once when `MaxPayloadInMB` sets no bound on their product
 * (it is 0): as many as the 100 MB rule allows at 1 MB, the smallest limit the API takes.
 */
export const MAX_CONCURRENT_TRANSFORMS = 100;

/**
 * `parameters` brought within what CreateTransformJob allows: `MaxPayloadInMB` at most 100, and
 * `MaxConcurrentTransforms × MaxPayloadInMB` at most 100 MB (at most
 * {@link MAX_CONCURRENT_TRANSFORMS} requests with a `MaxPayloadInMB` of 0). The job's own values
 * are checked where they are given; these limits catch a container's `/execution-parameters`
 * answer (or a job value paired with one) that would otherwise open any number of requests at
 * once. `notes` say what was lowered and why.
 */
export function boundExecutionParameters(parameters: ExecutionParameters, sources: { maxConcurrentTransforms: string; maxPayloadInMB: string }): { parameters: ExecutionParameters; notes: string[] } {
  const notes: string[] = [];
  let { maxConcurrentTransforms, maxPayloadInMB } = parameters;
  if (maxPayloadInMB > MAX_PAYLOAD_MB) {
    notes.push(`MaxPayloadInMB=${maxPayloadInMB} (${sources.maxPayloadInMB}) is over the ${MAX_PAYLOAD_MB} MB a transform job allows; using MaxPayloadInMB=${MAX_PAYLOAD_MB}`);
    maxPayloadInMB = MAX_PAYLOAD_MB;
  }
  const most = maxPayloadInMB > 0 ? Math.max(1, Math.min(MAX_CONCURRENT_TRANSFORMS, Math.floor(MAX_PAYLOAD_MB / maxPayloadInMB))) : MAX_CONCURRENT_TRANSFORMS;
  if (maxConcurrentTransforms > most) {
    notes.push(
      maxPayloadInMB > 0
        ? `MaxConcurrentTransforms=${maxConcurrentTransforms} (${sources.maxConcurrentTransforms}) × MaxPayloadInMB=${maxPayloadInMB} is over the ${MAX_PAYLOAD_MB} MB a transform job allows; using MaxConcurrentTransforms=${most}`
        : `MaxConcurrentTransforms=${maxConcurrentTransforms} (${sources.maxConcurrentTransforms}) with MaxPayloadInMB=0 is over the ${MAX_CONCURRENT_TRANSFORMS} requests at once smkit sends; using MaxConcurrentTransforms=${most}`,
    );
    maxConcurrentTransforms = most;
  }
  return { parameters: { ...parameters, maxConcurrentTransforms, maxPayloadInMB }, notes };
}


import { DescribeEndpointCommand, type DescribeEndpointCommandOutput } from '@aws-sdk/client-sagemaker';
import { setTimeout as sleep } from 'node:timers/promises';
import { ToolkitError } from '../errors/catalogue.js';
import type { DeployClients } from './clients.js';
import { whileInterruptible } from './interrupt.js';
import { isSageMakerNotFound, isTransient, serviceError } from './service-error.js';

/** How a wait for the endpoint polls. */
export interface WaitOptions {
  /** Seconds between `DescribeEndpoint` calls. */
  readonly pollSeconds: number;
  /** Give up after this many seconds. */
  readonly timeoutSeconds: number;
  readonly log: (line: string) => void;
  /** Bake interval of the deployment, to print the time left while `Baking`. */
  readonly bakeSeconds?: number;
  /** Stops the wait (Ctrl-C): the pending poll and `DescribeEndpoint` call reject. */
  readonly signal?: AbortSignal;
  /** The command that picks up after a wait that gave up (`smkit deploy`, the default, or `smkit deploy --delete`). */
  readonly rerun?: string;
}

/** How a create or update ended. */
export type WaitOutcome =
  | { readonly kind: 'in-service' }
  /**
   * `reason` is DescribeEndpoint's `FailureReason`, when it still says one: a later change (an
   * autoscaling capacity update right after the rollback) clears it.
   */
  | { readonly kind: 'rolled-back'; readonly reason: string | undefined; readonly serving: string | undefined }
  | { readonly kind: 'failed'; readonly reason: string };

/**
 * One progress line for a `DescribeEndpoint` answer: the status, each pending variant's stage
 * (creating the new fleet, traffic shifted, baking with the time left) and the weights, so a user
 * can follow a blue/green update step by step.
 */
export function describeProgress(ep: DescribeEndpointCommandOutput, bakeSeconds?: number, now = Date.now()): string {
  const parts = [`${ep.EndpointName}: ${ep.EndpointStatus}`];
  const pending = ep.PendingDeploymentSummary;
  for (const v of pending?.ProductionVariants ?? []) {
    const stage = v.VariantStatus?.[v.VariantStatus.length - 1];
    let text = `${v.VariantName}`;
    if (stage?.Status) {
      text += ` ${stage.Status}`;
      if (stage.Status === 'Baking' && bakeSeconds !== undefined && stage.StartTime) {
        const left = Math.max(0, Math.ceil(bakeSeconds - (now - new Date(stage.StartTime).getTime()) / 1000));
        text += ` (bake time left ${left} s)`;
      }
      if (stage.StatusMessage) text += `: ${stage.StatusMessage}`;
    }
    if (v.CurrentInstanceCount !== undefined || v.DesiredInstanceCount !== undefined) text += `, instances ${v.CurrentInstanceCount ?? 0}/${v.DesiredInstanceCount ?? '?'}`;
    parts.push(text);
  }
  if (!pending) {
    for (const v of ep.ProductionVariants ?? []) {
      const stage = v.VariantStatus?.[v.VariantStatus.length - 1];
      const serverless = v.CurrentServerlessConfig ?? v.DesiredServerlessConfig;
      const capacity = serverless
        ? `serverless ${serverless.MemorySizeInMB} MB, concurrency ${serverless.MaxConcurrency}${serverless.ProvisionedConcurrency ? ` (${serverless.ProvisionedConcurrency} provisioned)` : ''}`
        : `instances ${v.CurrentInstanceCount ?? '?'}`;
      parts.push(`${v.VariantName} weight ${v.CurrentWeight ?? '?'}, ${capacity}${stage?.Status ? `, ${stage.Status}${stage.StatusMessage ? `: ${stage.StatusMessage}` : ''}` : ''}`);
    }
  }
  return parts.join(' | ');
}

/** The bake countdown of {@link describeProgress}. */
const BAKE_LEFT = / \(bake time left \d+ s\)/g;
/** How often an unchanged progress line is printed again for its bake countdown alone. */
const BAKE_REPRINT_MS = 60_000;

/** Consecutive polls that may fail transiently (throttled, 5xx, after the SDK's own retries) before a wait gives up. */
export const MAX_MISSED_POLLS = 8;

/** The longest pause between polls while `DescribeEndpoint` keeps failing transiently, unless `--poll-interval` is longer. */
const MAX_BACKOFF_SECONDS = 60;

/** A wait's `DescribeEndpoint` calls: polls that fail transiently back off and are tried again. */
class Poller {
  private missed = 0;

  constructor(
    private readonly clients: DeployClients,
    private readonly name: string,
    private readonly opts: WaitOptions,
  ) {}

  /**
   * The endpoint, or undefined when SageMaker says it does not exist. A call that fails
   * transiently (throttling, a 5xx, a dropped connection) even after the SDK's retries is logged
   * and tried again after a pause that doubles each time, as polling faster would only be
   * throttled more; {@link MAX_MISSED_POLLS} in a row, or the wait's deadline, end the wait with
   * the service's error and what to do.
   */
  async describe(deadline: number): Promise<DescribeEndpointCommandOutput | undefined> {
    const { signal } = this.opts;
    for (;;) {
      try {
        const ep = await this.clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: this.name }), signal ? { abortSignal: signal } : {});
        this.missed = 0;
        return ep;
      } catch (err) {
        if (isSageMakerNotFound(err)) {
          this.missed = 0;
          return undefined;
        }
        if (signal?.aborted || !isTransient(err)) throw serviceError(`SageMaker DescribeEndpoint ${this.name}`, err);
        this.missed += 1;
        const pause = Math.min(this.opts.pollSeconds * 2 ** this.missed, Math.max(this.opts.pollSeconds, MAX_BACKOFF_SECONDS));
        const step = `SageMaker DescribeEndpoint ${this.name}`;
        if (this.missed >= MAX_MISSED_POLLS || Date.now() + pause * 1000 > deadline) {
          const e = serviceError(step, err);
          const said = `${(err as { name?: string }).name ?? 'Error'}: ${(err as { message?: string }).message ?? String(err)}`;
          throw new ToolkitError(
            'ERR_DEPLOY_FAILED',
            `${step} failed: ${said.replace(/\.?$/, '.')} ${this.missed} poll(s) in a row failed so; deploy stopped waiting, but the endpoint's change goes on in SageMaker: follow it with aws sagemaker describe-endpoint --endpoint-name ${this.name} and run ${this.opts.rerun ?? 'smkit deploy'} again once it has settled`,
            { cause: err, ...(e.details ? { details: e.details } : {}) },
          );
        }
        this.opts.log(`${step}: ${(err as { name?: string }).name ?? 'Error'}: ${(err as { message?: string }).message ?? String(err)}; polling again in ${pause} s`);
        await sleep(pause * 1000, undefined, signal ? { signal } : {});
      }
    }
  }
}

/**
 * Polls `DescribeEndpoint` until a create or update ends, printing a line whenever what it says
 * changes. An update ends `InService` on `configName` (done), `InService` on another config after
 * it was seen changing (rolled back), or `Failed`. The API reference gives `RollingBack` only to an
 * `UpdateEndpointWeightsAndCapacities` change being undone, so an update's rollback is told by the
 * config it ends on, not by that status.
 */
export async function waitForEndpoint(clients: DeployClients, name: string, configName: string, opts: WaitOptions): Promise<WaitOutcome> {
  const deadline = Date.now() + opts.timeoutSeconds * 1000;
  let last = '';
  let lastLine = '';
  let lastLogged = 0;
  let sawChange = false;
  let sawRollback = false;
  let settledPolls = 0;
  const poller = new Poller(clients, name, opts);
  let seen = false;
  let unseenPolls = 0;
  for (;;) {
    const ep = await poller.describe(deadline);
    if (!ep) {
      // Reads are eventually consistent: right after CreateEndpoint, DescribeEndpoint can still
      // answer "Could not find endpoint" for a moment.
      if (!seen && ++unseenPolls < MAX_MISSED_POLLS && Date.now() <= deadline) {
        await sleep(opts.pollSeconds * 1000, undefined, opts.signal ? { signal: opts.signal } : {});
        continue;
      }
      throw new ToolkitError(
        'ERR_DEPLOY_FAILED',
        seen ? `endpoint ${name} disappeared while waiting for it` : `endpoint ${name} was not found by DescribeEndpoint in ${unseenPolls} polls after it was created or updated (deleted meanwhile?); see aws sagemaker describe-endpoint --endpoint-name ${name}`,
      );
    }
    seen = true;
    const line = describeProgress(ep, opts.bakeSeconds);
    // The bake countdown changes at every poll: compared with it, every poll of a bake printed the
    // same line again (one a poll for the whole bake interval). It is printed when anything else
    // changes, and at most once a minute while nothing else does.
    const key = line.replace(BAKE_LEFT, '');
    if (key !== last || (line !== lastLine && Date.now() - lastLogged >= BAKE_REPRINT_MS)) {
      opts.log(line);
      last = key;
      lastLine = line;
      lastLogged = Date.now();
    }
    const status = ep.EndpointStatus;
    if (status === 'RollingBack') sawRollback = true;
    if (status !== 'InService') sawChange = true;
    if (status === 'Failed' || status === 'UpdateRollbackFailed') {
      return { kind: 'failed', reason: ep.FailureReason ?? `endpoint is ${status}` };
    }
    if (status === 'InService') {
      if (ep.EndpointConfigName === configName && !ep.PendingDeploymentSummary) return { kind: 'in-service' };
      // Right after UpdateEndpoint a service may still answer with the old state: a few polls
      // without any change before calling it a rollback.
      if (ep.EndpointConfigName !== configName && (sawChange || sawRollback || ++settledPolls >= 5)) {
        return { kind: 'rolled-back', reason: ep.FailureReason, serving: ep.EndpointConfigName };
      }
    }
    if (Date.now() > deadline) throw new ToolkitError('ERR_DEPLOY_FAILED', `endpoint ${name} still ${status} after ${opts.timeoutSeconds} s; it keeps going on the service side (see DescribeEndpoint)`);
    await sleep(opts.pollSeconds * 1000, undefined, opts.signal ? { signal: opts.signal } : {});
  }
}

/**
 * {@link waitForEndpointDeleted} that Ctrl-C (or SIGTERM) stops with `ERR_DEPLOY_FAILED`, saying the
 * deletion goes on in SageMaker and, in `next`, what to run then. A deletion that fails (the
 * endpoint ends `Failed`) ends with `ERR_DEPLOY_FAILED` saying so, and that `again` (the command
 * that deletes it) tries once more.
 */
export async function followDeletion(clients: DeployClients, name: string, opts: WaitOptions, next: string, again: string): Promise<void> {
  const outcome = await whileInterruptible(async (signal) => {
    try {
      return await waitForEndpointDeleted(clients, name, { ...opts, signal, rerun: again });
    } catch (err) {
      if (!signal.aborted) {
        // --timeout, or DescribeEndpoint failing: what is left is the same as after Ctrl-C.
        if (!(err instanceof ToolkitError)) throw err;
        throw new ToolkitError(err.code, `${err.message.replace(/\.?$/, '.')} The deletion goes on in SageMaker. ${next}`, { cause: err, ...(err.details ? { details: err.details } : {}) });
      }
      const why = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
      throw new ToolkitError('ERR_DEPLOY_FAILED', `${why} while endpoint ${name} was being deleted; the deletion goes on in SageMaker. ${next}`, { cause: err });
    }
  });
  if (outcome.kind === 'failed') {
    throw new ToolkitError(
      'ERR_DEPLOY_FAILED',
      `SageMaker could not delete endpoint ${name}: it is Failed${outcome.reason !== undefined ? ` (${outcome.reason})` : ''}, and nothing was deleted after it. Run ${again} again to delete it once more, or see aws sagemaker describe-endpoint --endpoint-name ${name}`,
    );
  }
}

/** How a wait for a deletion ended: the endpoint is gone, or the deletion failed (`Failed`, with DescribeEndpoint's `FailureReason`). */
export type DeletionOutcome = { readonly kind: 'deleted' } | { readonly kind: 'failed'; readonly reason?: string };

/**
 * Polls until `DescribeEndpoint` says the endpoint is gone, or that the deletion failed: `Failed`
 * after `Deleting` (AWS's own `EndpointDeleted` waiter fails on `Failed` too). A `Failed` endpoint
 * being deleted may still read `Failed` for a moment, so one never seen `Deleting` counts as failed
 * only after {@link MAX_MISSED_POLLS} such polls; before, the wait went on until `--timeout` and then
 * said the deletion goes on.
 */
export async function waitForEndpointDeleted(clients: DeployClients, name: string, opts: WaitOptions): Promise<DeletionOutcome> {
  const deadline = Date.now() + opts.timeoutSeconds * 1000;
  let last = '';
  let sawDeleting = false;
  let failedPolls = 0;
  const poller = new Poller(clients, name, opts);
  for (;;) {
    const ep = await poller.describe(deadline);
    if (!ep) return { kind: 'deleted' };
    if (ep.EndpointStatus !== last) {
      opts.log(`${name}: ${ep.EndpointStatus}`);
      last = ep.EndpointStatus ?? '';
    }
    if (ep.EndpointStatus === 'Deleting') sawDeleting = true;
    if (ep.EndpointStatus === 'Failed' && (sawDeleting || ++failedPolls >= MAX_MISSED_POLLS)) {
      return { kind: 'failed', ...(ep.FailureReason ? { reason: ep.FailureReason } : {}) };
    }
    if (Date.now() > deadline) throw new ToolkitError('ERR_DEPLOY_FAILED', `endpoint ${name} still ${ep.EndpointStatus} after ${opts.timeoutSeconds} s`);
    await sleep(opts.pollSeconds * 1000, undefined, opts.signal ? { signal: opts.signal } : {});
  }
}

/** Statuses of an endpoint in the middle of a change (its own update, autoscaling, a rollback). */
const TRANSITIONAL = new Set(['Creating', 'Updating', 'SystemUpdating', 'RollingBack', 'Deleting']);

/** True while an endpoint status means it is changing (Creating, Updating, RollingBack, …). */
export function isChanging(status: string | undefined): boolean {
  return TRANSITIONAL.has(status ?? '');
}

/**
 * Waits while the endpoint is changing (an autoscaling activity, another update) so a deploy
 * starts from a settled state; returns at once when it does not exist or is settled.
 */
export async function waitForEndpointSettled(clients: DeployClients, name: string, opts: WaitOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutSeconds * 1000;
  let last = '';
  const poller = new Poller(clients, name, opts);
  for (;;) {
    const ep = await poller.describe(deadline);
    if (!ep || !TRANSITIONAL.has(ep.EndpointStatus ?? '')) return;
    if (ep.EndpointStatus !== last) {
      opts.log(`${name} is ${ep.EndpointStatus}; waiting for it to settle before planning`);
      last = ep.EndpointStatus ?? '';
    }
    if (Date.now() > deadline) throw new ToolkitError('ERR_DEPLOY_FAILED', `endpoint ${name} still ${ep.EndpointStatus} after ${opts.timeoutSeconds} s`);
    await sleep(opts.pollSeconds * 1000);
  }
}

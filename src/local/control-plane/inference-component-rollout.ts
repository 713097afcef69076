import { setTimeout as pause } from 'node:timers/promises';
import { validationException } from '../../aws/service.js';
import type { Deployment } from './deployment.js';

/** botocore's `InferenceComponentCapacitySize`: a number of copies, or a share of them. */
export interface CopyCapacitySize {
  Type: 'COPY_COUNT' | 'CAPACITY_PERCENT';
  Value: number;
}

/** botocore's `InferenceComponentRollingUpdatePolicy`. */
export interface ComponentRollingPolicy {
  MaximumBatchSize: CopyCapacitySize;
  WaitIntervalInSeconds: number;
  MaximumExecutionTimeoutInSeconds?: number;
  RollbackMaximumBatchSize?: CopyCapacitySize;
}

/** A rolling update of an inference component stopped and rolled back: its message is the component's `FailureReason`. */
export class ComponentRollbackError extends Error {}

/** Copies in one batch of `size` out of `copies`: a percentage rounds up, and a batch is at least one copy. */
export function copiesPerBatch(size: CopyCapacitySize, copies: number): number {
  return Math.max(1, size.Type === 'COPY_COUNT' ? size.Value : Math.ceil((size.Value * copies) / 100 - 1e-9));
}

/**
 * Throws `ValidationException` for a `MaximumBatchSize` percentage outside 5% to 50%, the range
 * botocore's model gives ("between 5% to 50% of the copy count of the inference component"). A
 * `COPY_COUNT` is not held to it: a component of one copy could not roll at all.
 */
export function checkRollingPolicy(policy: ComponentRollingPolicy): void {
  const size = policy.MaximumBatchSize;
  if (size.Type === 'CAPACITY_PERCENT' && (size.Value < 5 || size.Value > 50)) {
    throw validationException(`RollingUpdatePolicy MaximumBatchSize (${size.Value} CAPACITY_PERCENT) must be between 5% and 50% of the copy count of the inference component.`);
  }
}

/** What {@link rollOut} needs of the component being updated. */
export interface RolloutOptions {
  /** The component's name, for messages. */
  name: string;
  /** The old copies, serving now. */
  blue: Deployment;
  /** Copies of the new specification once the update is over (at least 1). */
  copies: number;
  policy: ComponentRollingPolicy;
  /** Starts the new specification with `copies` copies (the first batch). */
  start(copies: number): Promise<Deployment>;
  /** The new copies take invocations beside the old ones from now on (until the rollout ends either way). */
  serveBeside(green: Deployment | undefined): void;
  /**
   * The copies, old and new together, the rollout holds against the local limit from now on:
   * called before it runs more than it held, and once it runs fewer.
   */
  holding(copies: number): void;
  /** The most copies, old and new together, the rollout may hold now: what it holds and what the local limit has free (Infinity without one). */
  room(): number;
  /** The first of the `AutoRollbackConfiguration` alarms in ALARM, if any. */
  alarmFiring(): Promise<string | undefined>;
  /** How often the alarms are read while waiting out `WaitIntervalInSeconds`. */
  alarmPollMs: number;
  /** The clock `WaitIntervalInSeconds` and `MaximumExecutionTimeoutInSeconds` count on. */
  now: () => number;
  /** Aborted when the component is deleted or the local SageMaker stops: the new copies are stopped, the old ones left as they are. */
  signal: AbortSignal;
}

/**
 * The copies, old and new together, a rolling update of `old` copies to `copies` new ones in
 * batches of `policy.MaximumBatchSize` holds against the local limit when it starts: the old copies
 * and the first batch. No later step holds more, but the last (all the new copies, when they are
 * more) and a rollback.
 */
export function rolloutCopies(policy: ComponentRollingPolicy, old: number, copies: number): number {
  return old + Math.min(copiesPerBatch(policy.MaximumBatchSize, copies), copies);
}

/**
 * A rolling update of an inference component's copies (`RollingUpdatePolicy`): the new
 * specification's copies start a batch (`MaximumBatchSize`) at a time, each batch taking invocations
 * once it passes `/ping`, and as many old copies leave rotation and stop (after their requests in
 * flight); after each batch the rollout waits `WaitIntervalInSeconds`, reading the alarms. An alarm
 * in ALARM, `MaximumExecutionTimeoutInSeconds` passed or a batch that does not start rolls back:
 * the old copies come back to their number (`RollbackMaximumBatchSize` at a time, else all at once)
 * and the new ones stop. Resolves with the new deployment, its old one scaled to none.
 *
 * Against the local limit it holds the old copies and one batch, as SageMaker provisions one batch
 * beside the old fleet at a time: the room of the old copies a batch replaced goes to the next
 * batch, and is held through the wait so that nothing else takes it. It never holds fewer than the
 * old copies, which a rollback may bring back.
 */
export async function rollOut(o: RolloutOptions): Promise<Deployment> {
  const blueFleet = o.blue.variants[0]!.fleet;
  const blueCopies = blueFleet.size;
  const batch = copiesPerBatch(o.policy.MaximumBatchSize, o.copies);
  const timeout = o.policy.MaximumExecutionTimeoutInSeconds;
  const deadline = timeout === undefined ? undefined : o.now() + timeout * 1000;
  const hold = (old: number, incoming: number): void => o.holding(Math.max(blueCopies, old + incoming));
  let green: Deployment | undefined;
  try {
    let started = Math.min(batch, o.copies);
    hold(blueCopies, started);
    green = await o.start(started);
    o.serveBeside(green);
    for (let step = 1; ; step++) {
      const old = Math.max(0, blueCopies - step * batch);
      await blueFleet.scaleTo(old);
      const next = Math.min(o.copies, started + batch);
      hold(old, next);
      await bake(o, deadline);
      if (started >= o.copies) break;
      started = next;
      await green.variants[0]!.fleet.scaleTo(started);
    }
    await blueFleet.scaleTo(0);
    hold(0, started);
    // Deleted or stopped while the last batch started or was read: the new copies stop too.
    o.signal.throwIfAborted();
    return green;
  } catch (err) {
    if (!o.signal.aborted) await rollBack(o, blueCopies, green);
    o.serveBeside(undefined);
    await green?.stop();
    throw err;
  }
}

/**
 * The old copies back to `blueCopies`, a rollback batch at a time, each batch taking the place of
 * as many new copies. Each batch is held against the local limit beside the new copies still
 * running before it starts; when the limit has no room for both, as many new copies as it lacks
 * stop first (the rollout always holds room for the old copies alone).
 */
async function rollBack(o: RolloutOptions, blueCopies: number, green: Deployment | undefined): Promise<void> {
  const blueFleet = o.blue.variants[0]!.fleet;
  const greenFleet = green?.variants[0]!.fleet;
  const greenSize = (): number => greenFleet?.size ?? 0;
  const size = o.policy.RollbackMaximumBatchSize;
  const batch = size === undefined ? blueCopies : copiesPerBatch(size, blueCopies);
  const hold = (old: number): void => o.holding(Math.max(blueCopies, old + greenSize()));
  try {
    // Counted on a target, not on the fleet's size: an old copy being replaced counts toward
    // scaleTo's number without being in rotation, and a loop on size would never end.
    for (let target = blueFleet.size; target < blueCopies; ) {
      target = Math.min(blueCopies, target + batch);
      // Held before any new copy stops, not after: room freed while they drain would otherwise be
      // free for another component's copies as well as for this batch. The room is at least what
      // the rollout holds, so this never holds fewer than the copies still running.
      const keep = Math.min(greenSize(), Math.max(0, o.room() - target));
      o.holding(Math.max(blueCopies, target + keep));
      if (greenFleet && keep < greenSize()) await greenFleet.scaleTo(keep);
      await blueFleet.scaleTo(target);
      if (greenFleet) {
        await greenFleet.scaleTo(Math.max(0, greenSize() - batch));
        hold(target);
      }
    }
  } catch {
    // The old copies that did not start again: the component keeps those that did (CurrentCopyCount says how many).
  }
}

/** Waits `WaitIntervalInSeconds`, reading the alarms throughout; throws {@link ComponentRollbackError} when one fires or the time allowed is over. */
async function bake(o: RolloutOptions, deadline: number | undefined): Promise<void> {
  const end = o.now() + o.policy.WaitIntervalInSeconds * 1000;
  for (;;) {
    // A wait of 0 s never pauses, so would not see the deletion or the stop otherwise.
    o.signal.throwIfAborted();
    const firing = await o.alarmFiring();
    if (firing !== undefined) throw new ComponentRollbackError(`CloudWatch alarm "${firing}" was in ALARM state during the rolling update of inference component "${o.name}"; the update was rolled back.`);
    if (deadline !== undefined && o.now() > deadline) throw new ComponentRollbackError(`The rolling update of inference component "${o.name}" did not finish within MaximumExecutionTimeoutInSeconds; the update was rolled back.`);
    const left = end - o.now();
    if (left <= 0) return;
    await pause(Math.min(left, o.alarmPollMs), undefined, { signal: o.signal });
  }
}

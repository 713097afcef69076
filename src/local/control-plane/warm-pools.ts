import type { TrainingJobRecord } from './store.js';

/** `WarmPoolStatus.Status` (botocore `WarmPoolResourceStatus`). */
export type WarmPoolState = 'Available' | 'Terminated' | 'Reused' | 'InUse';

/** A training job's warm pool: the instances it ran on, kept for a matching job. */
export interface WarmPoolRecord {
  status: WarmPoolState;
  /** When it became `Available` (the job ended), epoch ms on the warm pools' clock. */
  availableSince?: number;
  /** Seconds it was kept: set once it is `Reused` or `Terminated` (`ResourceRetainedBillableTimeInSeconds`). */
  retainedSeconds?: number;
  /** The job that took it over (`ReusedByJob`). */
  reusedBy?: string;
}

/** The request members that must be identical for a job to reuse a warm pool. */
interface MatchInput {
  RoleArn?: unknown;
  ResourceConfig?: { InstanceCount?: unknown; InstanceType?: unknown; VolumeKmsKeyId?: unknown; VolumeSizeInGB?: unknown };
  VpcConfig?: { SecurityGroupIds?: unknown; Subnets?: unknown };
  EnableInterContainerTrafficEncryption?: unknown;
  EnableNetworkIsolation?: unknown;
}

/**
 * What a job must share with the job of a warm pool to reuse it: the values AWS's "Matching
 * training jobs" list names (role, instance count and type, volume size and KMS key, VPC security
 * groups and subnets, inter-container traffic encryption, network isolation).
 */
export function warmPoolKey(input: MatchInput): string {
  const r = input.ResourceConfig ?? {};
  const sorted = (v: unknown): unknown => (Array.isArray(v) ? [...(v as string[])].sort() : null);
  return JSON.stringify([
    input.RoleArn,
    r.InstanceCount ?? 1,
    r.InstanceType ?? null,
    r.VolumeKmsKeyId || null,
    r.VolumeSizeInGB ?? null,
    sorted(input.VpcConfig?.SecurityGroupIds),
    sorted(input.VpcConfig?.Subnets),
    input.EnableInterContainerTrafficEncryption === true,
    input.EnableNetworkIsolation === true,
  ]);
}

/** A job's `ResourceConfig.KeepAlivePeriodInSeconds`, 0 when not given. */
export function keepAliveSeconds(j: TrainingJobRecord): number {
  return (j.request.ResourceConfig as { KeepAlivePeriodInSeconds?: number } | undefined)?.KeepAlivePeriodInSeconds ?? 0;
}

/**
 * SageMaker managed warm pools, emulated: a job with `KeepAlivePeriodInSeconds` above 0 that ends
 * with its instances healthy keeps them `Available` for that long; the next matching job takes them
 * over (`Reused` on the old job, `InUse` on the new one), and past the keep-alive they are
 * `Terminated`. Expiry is read off the clock whenever a status is asked for, so nothing runs in the
 * background and tests move the clock instead of waiting.
 */
export class WarmPools {
  constructor(
    private readonly jobs: () => Iterable<TrainingJobRecord>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The job's warm pool as it stands now (one whose keep-alive has passed becomes `Terminated`), if it has one. */
  current(j: TrainingJobRecord): WarmPoolRecord | undefined {
    const pool = j.warmPool;
    if (pool?.status === 'Available' && pool.availableSince !== undefined) {
      const keepMs = keepAliveSeconds(j) * 1000;
      if (this.now() >= pool.availableSince + keepMs) {
        pool.status = 'Terminated';
        pool.retainedSeconds = keepAliveSeconds(j);
      }
    }
    return pool;
  }

  /**
   * Gives a new job the `Available` warm pool of a matching job, the one kept longest, when there is
   * one: that job's pool becomes `Reused` and the new job's `InUse`. Managed Spot Training takes no
   * warm pool (AWS: warm pools cannot be used with spot instances).
   */
  claim(j: TrainingJobRecord): TrainingJobRecord | undefined {
    if (j.request.EnableManagedSpotTraining === true || j.warmPoolKey === undefined) return undefined;
    let from: TrainingJobRecord | undefined;
    for (const other of this.jobs()) {
      if (other === j || other.warmPoolKey !== j.warmPoolKey || this.current(other)?.status !== 'Available') continue;
      if (from === undefined || other.warmPool!.availableSince! < from.warmPool!.availableSince!) from = other;
    }
    if (from === undefined) return undefined;
    const pool = from.warmPool!;
    pool.status = 'Reused';
    pool.reusedBy = j.name;
    pool.retainedSeconds = Math.round((this.now() - pool.availableSince!) / 1000);
    j.warmPool = { status: 'InUse' };
    return from;
  }

  /**
   * The job has ended: with a keep-alive above 0 and `healthy` instances its warm pool is `Available`
   * (its own, or the one it reused); otherwise one it reused or asked for is `Terminated`.
   */
  release(j: TrainingJobRecord, healthy: boolean): void {
    const keep = keepAliveSeconds(j);
    if (j.warmPool === undefined && keep === 0) return;
    if (healthy && keep > 0 && j.request.EnableManagedSpotTraining !== true) j.warmPool = { status: 'Available', availableSince: this.now() };
    else j.warmPool = { status: 'Terminated', retainedSeconds: 0 };
  }

  /**
   * `UpdateTrainingJob`'s new keep-alive for an `Available` pool, counted from when the job ended
   * (the service model's "period ... for which the Training cluster is kept alive after the job is
   * finished"); 0 terminates it now. Returns false, changing nothing, when the job has no
   * `Available` pool.
   */
  update(j: TrainingJobRecord, seconds: number): boolean {
    const pool = this.current(j);
    if (pool?.status !== 'Available') return false;
    (j.request.ResourceConfig as { KeepAlivePeriodInSeconds?: number }).KeepAlivePeriodInSeconds = seconds;
    if (seconds === 0) {
      pool.status = 'Terminated';
      pool.retainedSeconds = Math.round((this.now() - pool.availableSince!) / 1000);
    } else {
      // A keep-alive shortened to before now has already run out.
      this.current(j);
    }
    return true;
  }

  /** `WarmPoolStatus` of `DescribeTrainingJob` and `ListTrainingJobs`, when the job has a warm pool. */
  describe(j: TrainingJobRecord): Record<string, unknown> | undefined {
    const pool = this.current(j);
    if (pool === undefined) return undefined;
    return {
      Status: pool.status,
      ...(pool.retainedSeconds === undefined ? {} : { ResourceRetainedBillableTimeInSeconds: pool.retainedSeconds }),
      ...(pool.reusedBy === undefined ? {} : { ReusedByJob: pool.reusedBy }),
    };
  }
}

import type { CapacitySize, DeploymentConfig } from '../../../aws/shapes/sagemaker.js';
import { validationException as validation } from '../../../aws/service.js';

/** One step of a blue/green update: the share of traffic on the new fleet, then a bake. */
export interface TrafficStep {
  /** Fraction of requests the new (green) fleet takes, from 0 to 1. */
  greenShare: number;
  /** Seconds to bake at this share, watching the alarms. */
  bakeSeconds: number;
}

/** How an update moves traffic: the steps, then how long the old fleet stays after the last one. */
export interface TrafficPlan {
  type: 'ALL_AT_ONCE' | 'CANARY' | 'LINEAR' | 'ROLLING';
  steps: TrafficStep[];
  terminationWaitSeconds: number;
  /** Roll back when the update runs longer than this. */
  maximumExecutionSeconds?: number;
}


/** A `CapacitySize` as a share of `instances`. */
export function capacityShare(size: CapacitySize, instances: number): number {
  return size.Type === 'CAPACITY_PERCENT' ? size.Value / 100 : size.Value / Math.max(1, instances);
}

/**
 * Whether an `INSTANCE_COUNT` step is outside `[min, max]` of the new fleet. The API reference
 * measures a step against "the variant's total instance count" (TrafficRoutingConfig,
 * RollingUpdatePolicy), which with several production variants may be the whole new fleet or each
 * variant's count: the step is refused only when it is outside the range by both readings, so
 * nothing SageMaker may take is refused here (as `smkit deploy` checks a file only where there is
 * one variant). A `CAPACITY_PERCENT` reads the same either way.
 */
function outOfRange(size: CapacitySize, greenInstances: number, variantInstances: readonly number[] | undefined, min: number, max: number): boolean {
  const out = (share: number) => share > max || share < min;
  if (!out(capacityShare(size, greenInstances))) return false;
  if (size.Type !== 'INSTANCE_COUNT' || variantInstances === undefined || variantInstances.length < 2) return true;
  return variantInstances.some((n) => out(capacityShare(size, n)));
}

/** How a refused step names the capacity it was measured against. */
function capacityText(size: CapacitySize, greenInstances: number, variantInstances: readonly number[] | undefined): string {
  const fleet = `the new fleet's capacity (${greenInstances} instance${greenInstances === 1 ? '' : 's'})`;
  return size.Type === 'INSTANCE_COUNT' && variantInstances !== undefined && variantInstances.length > 1 ? `${fleet}, or of each production variant's instance count (${variantInstances.join(', ')})` : fleet;
}

/**
 * Throws `ValidationException` when a `DeploymentConfig` gives both update policies: checked before
 * anything that reads one of them, so the answer does not send its caller to the other one.
 */
export function checkOnePolicy(config: DeploymentConfig | undefined): void {
  if (config?.BlueGreenUpdatePolicy && config.RollingUpdatePolicy) throw validation('DeploymentConfig can have either BlueGreenUpdatePolicy or RollingUpdatePolicy, not both.');
}

/**
 * Checks a `DeploymentConfig` against the rules the service applies before an update starts
 * (one policy kind, the sizes the traffic type needs, canary, linear and rolling steps within half
 * of the new fleet's capacity) and throws `ValidationException` naming what to fix.
 * `variantInstances` are the new config's production variants' instance counts (see `outOfRange`).
 */
export function checkDeploymentConfig(config: DeploymentConfig | undefined, greenInstances: number, variantInstances?: readonly number[]): void {
  if (!config) return;
  checkOnePolicy(config);
  const bg = config.BlueGreenUpdatePolicy;
  const rolling = config.RollingUpdatePolicy;
  if (bg) {
    const t = bg.TrafficRoutingConfiguration;
    if (t.Type === 'CANARY') {
      if (!t.CanarySize) throw validation('CanarySize must be specified when TrafficRoutingConfiguration Type is CANARY.');
      if (outOfRange(t.CanarySize, greenInstances, variantInstances, 0, 0.5)) throw validation(`CanarySize (${t.CanarySize.Value} ${t.CanarySize.Type}) must be at most 50% of ${capacityText(t.CanarySize, greenInstances, variantInstances)}.`);
      if (t.CanarySize.Type === 'CAPACITY_PERCENT' && t.CanarySize.Value > 100) throw validation('CanarySize CAPACITY_PERCENT must be at most 100.');
    } else if (t.CanarySize) {
      throw validation(`CanarySize applies only to TrafficRoutingConfiguration Type CANARY (got ${t.Type}).`);
    }
    if (t.Type === 'LINEAR') {
      if (!t.LinearStepSize) throw validation('LinearStepSize must be specified when TrafficRoutingConfiguration Type is LINEAR.');
      if (outOfRange(t.LinearStepSize, greenInstances, variantInstances, 0.1, 0.5)) throw validation(`LinearStepSize (${t.LinearStepSize.Value} ${t.LinearStepSize.Type}) must be between 10% and 50% of ${capacityText(t.LinearStepSize, greenInstances, variantInstances)}.`);
    } else if (t.LinearStepSize) {
      throw validation(`LinearStepSize applies only to TrafficRoutingConfiguration Type LINEAR (got ${t.Type}).`);
    }
  }
  if (rolling) {
    // "Value must be between 5% to 50% of the variant's total instance count" (RollingUpdatePolicy, API reference).
    const size = rolling.MaximumBatchSize;
    const share = capacityShare(size, greenInstances);
    if (share > 0.5 || share < 0.05) throw validation(`RollingUpdatePolicy MaximumBatchSize (${size.Value} ${size.Type}) must be between 5% and 50% of the new fleet's capacity (${greenInstances} instance${greenInstances === 1 ? '' : 's'}).`);
  }
}

function steps(share: number, bake: number): TrafficStep[] {
  const out: TrafficStep[] = [];
  const count = Math.ceil(1 / share - 1e-9);
  for (let i = 1; i <= count; i++) out.push({ greenShare: Math.min(1, i * share), bakeSeconds: bake });
  out[out.length - 1]!.greenShare = 1;
  return out;
}

/**
 * The traffic steps of an update, as the deployment guardrails describe them: all at once
 * (100%, bake); canary (the canary share, bake, then 100%, bake); linear (equal steps up to 100%,
 * baking after each); rolling (batches of `MaximumBatchSize`, baking after each). Without a
 * deployment config an update shifts all at once with no bake.
 */
export function planTraffic(config: DeploymentConfig | undefined, greenInstances: number, variantInstances?: readonly number[]): TrafficPlan {
  checkDeploymentConfig(config, greenInstances, variantInstances);
  const bg = config?.BlueGreenUpdatePolicy;
  const rolling = config?.RollingUpdatePolicy;
  if (rolling) {
    // A batch is whole instances ("provision capacity … on the new endpoint fleet"): a percentage
    // rounds up to at least one, and every step starts a batch (no bake where nothing changed).
    const n = Math.max(1, greenInstances);
    const batch = Math.max(1, Math.ceil(capacityShare(rolling.MaximumBatchSize, n) * n - 1e-9));
    return {
      type: 'ROLLING',
      steps: steps(batch / n, rolling.WaitIntervalInSeconds),
      terminationWaitSeconds: 0,
      ...(rolling.MaximumExecutionTimeoutInSeconds === undefined ? {} : { maximumExecutionSeconds: rolling.MaximumExecutionTimeoutInSeconds }),
    };
  }
  if (!bg) return { type: 'ALL_AT_ONCE', steps: [{ greenShare: 1, bakeSeconds: 0 }], terminationWaitSeconds: 0 };
  const t = bg.TrafficRoutingConfiguration;
  const common = {
    terminationWaitSeconds: bg.TerminationWaitInSeconds ?? 0,
    ...(bg.MaximumExecutionTimeoutInSeconds === undefined ? {} : { maximumExecutionSeconds: bg.MaximumExecutionTimeoutInSeconds }),
  };
  switch (t.Type) {
    case 'ALL_AT_ONCE':
      return { type: 'ALL_AT_ONCE', steps: [{ greenShare: 1, bakeSeconds: t.WaitIntervalInSeconds }], ...common };
    case 'CANARY':
      return {
        type: 'CANARY',
        steps: [
          { greenShare: capacityShare(t.CanarySize!, greenInstances), bakeSeconds: t.WaitIntervalInSeconds },
          { greenShare: 1, bakeSeconds: t.WaitIntervalInSeconds },
        ],
        ...common,
      };
    case 'LINEAR':
      return { type: 'LINEAR', steps: steps(capacityShare(t.LinearStepSize!, greenInstances), t.WaitIntervalInSeconds), ...common };
  }
}

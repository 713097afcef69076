import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeploymentConfig } from '../../../aws/shapes/sagemaker.js';
import { planTraffic } from './traffic-plan.js';

const bg = (routing: Record<string, unknown>, extra: Record<string, unknown> = {}): DeploymentConfig =>
  ({ BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { WaitIntervalInSeconds: 5, ...routing }, ...extra } }) as unknown as DeploymentConfig;

test('ALL_AT_ONCE, CANARY and LINEAR become traffic steps with a bake after each', () => {
  assert.deepEqual(planTraffic(bg({ Type: 'ALL_AT_ONCE' }, { TerminationWaitInSeconds: 7 }), 2), { type: 'ALL_AT_ONCE', steps: [{ greenShare: 1, bakeSeconds: 5 }], terminationWaitSeconds: 7 });
  assert.deepEqual(planTraffic(bg({ Type: 'CANARY', CanarySize: { Type: 'INSTANCE_COUNT', Value: 1 } }), 4).steps, [
    { greenShare: 0.25, bakeSeconds: 5 },
    { greenShare: 1, bakeSeconds: 5 },
  ]);
  assert.deepEqual(planTraffic(bg({ Type: 'CANARY', CanarySize: { Type: 'CAPACITY_PERCENT', Value: 10 } }), 1).steps.map((s) => s.greenShare), [0.1, 1]);
  assert.deepEqual(planTraffic(bg({ Type: 'LINEAR', LinearStepSize: { Type: 'CAPACITY_PERCENT', Value: 30 } }), 3).steps.map((s) => Math.round(s.greenShare * 100)), [30, 60, 90, 100]);
  assert.deepEqual(planTraffic(bg({ Type: 'LINEAR', LinearStepSize: { Type: 'INSTANCE_COUNT', Value: 1 } }), 2).steps.map((s) => s.greenShare), [0.5, 1]);
  assert.deepEqual(planTraffic({ RollingUpdatePolicy: { MaximumBatchSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 2, MaximumExecutionTimeoutInSeconds: 900 } }, 4), {
    type: 'ROLLING',
    steps: [0.25, 0.5, 0.75, 1].map((greenShare) => ({ greenShare, bakeSeconds: 2 })),
    terminationWaitSeconds: 0,
    maximumExecutionSeconds: 900,
  });
  assert.deepEqual(planTraffic(undefined, 1).steps, [{ greenShare: 1, bakeSeconds: 0 }]);
});

test('a rolling batch is whole instances: a percentage of 3 instances is a batch of 1 (3 steps), of 5 at 30% a batch of 2 (3 steps)', () => {
  const rolling = (Value: number): DeploymentConfig => ({ RollingUpdatePolicy: { MaximumBatchSize: { Type: 'CAPACITY_PERCENT', Value }, WaitIntervalInSeconds: 1 } });
  assert.deepEqual(planTraffic(rolling(10), 3).steps.map((s) => Math.round(s.greenShare * 100)), [33, 67, 100]);
  assert.deepEqual(planTraffic(rolling(30), 5).steps.map((s) => Math.round(s.greenShare * 100)), [40, 80, 100]);
  assert.deepEqual(planTraffic(rolling(50), 4).steps.map((s) => s.greenShare), [0.5, 1]);
});

test('the rules the service checks before an update starts', () => {
  assert.throws(() => planTraffic(bg({ Type: 'CANARY' }), 2), /CanarySize must be specified/);
  assert.throws(() => planTraffic(bg({ Type: 'CANARY', CanarySize: { Type: 'INSTANCE_COUNT', Value: 2 } }), 2), /at most 50% of the new fleet's capacity \(2 instances\)/);
  assert.throws(() => planTraffic(bg({ Type: 'LINEAR' }), 2), /LinearStepSize must be specified/);
  assert.throws(() => planTraffic(bg({ Type: 'LINEAR', LinearStepSize: { Type: 'CAPACITY_PERCENT', Value: 60 } }), 2), /LinearStepSize .* between 10% and 50%/);
  assert.throws(() => planTraffic(bg({ Type: 'LINEAR', LinearStepSize: { Type: 'INSTANCE_COUNT', Value: 1 } }), 20), /between 10% and 50% of the new fleet's capacity \(20 instances\)/);
  assert.throws(() => planTraffic(bg({ Type: 'ALL_AT_ONCE', CanarySize: { Type: 'INSTANCE_COUNT', Value: 1 } }), 2), /CanarySize applies only/);
  const rolling = (Type: 'INSTANCE_COUNT' | 'CAPACITY_PERCENT', Value: number): DeploymentConfig => ({ RollingUpdatePolicy: { MaximumBatchSize: { Type, Value }, WaitIntervalInSeconds: 0 } });
  assert.throws(() => planTraffic(rolling('CAPACITY_PERCENT', 60), 4), /MaximumBatchSize \(60 CAPACITY_PERCENT\) must be between 5% and 50% of the new fleet's capacity \(4 instances\)/);
  assert.throws(() => planTraffic(rolling('INSTANCE_COUNT', 1), 1), /between 5% and 50% of the new fleet's capacity \(1 instance\)/);
  assert.throws(() => planTraffic(rolling('INSTANCE_COUNT', 1), 21), /between 5% and 50%/);
  assert.equal(planTraffic(rolling('INSTANCE_COUNT', 1), 20).steps.length, 20);
  assert.throws(
    () => planTraffic({ ...bg({ Type: 'ALL_AT_ONCE' }), RollingUpdatePolicy: { MaximumBatchSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 0 } }, 2),
    (err: Error & { type?: string }) => err.type === 'ValidationException' && /either BlueGreenUpdatePolicy or RollingUpdatePolicy/.test(err.message),
  );
});

test('with several production variants an INSTANCE_COUNT step is refused only when it is outside the range of the whole new fleet and of some variant ("the variant\'s total instance count" reads either way)', () => {
  const linear = (Value: number) => bg({ Type: 'LINEAR', LinearStepSize: { Type: 'INSTANCE_COUNT', Value } });
  // 1 of 10 + 10: 5% of the fleet, 10% of each variant.
  assert.equal(planTraffic(linear(1), 20, [10, 10]).steps.length, 20);
  assert.throws(() => planTraffic(linear(1), 21, [10, 11]), /LinearStepSize \(1 INSTANCE_COUNT\) must be between 10% and 50% of the new fleet's capacity \(21 instances\), or of each production variant's instance count \(10, 11\)\./);
  assert.throws(() => planTraffic(linear(6), 11, [6, 5]), /of each production variant's instance count \(6, 5\)/);
  // 1 of 1 + 9: 100% of one variant, 10% of the fleet.
  assert.equal(planTraffic(bg({ Type: 'CANARY', CanarySize: { Type: 'INSTANCE_COUNT', Value: 1 } }), 10, [1, 9]).steps[0]!.greenShare, 0.1);
  // A percentage reads the same either way.
  assert.throws(() => planTraffic(bg({ Type: 'LINEAR', LinearStepSize: { Type: 'CAPACITY_PERCENT', Value: 5 } }), 20, [10, 10]), /between 10% and 50% of the new fleet's capacity \(20 instances\)\./);
});

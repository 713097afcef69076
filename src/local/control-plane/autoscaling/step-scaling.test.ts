import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readStepScalingConfig, type StepAdjustment, type StepScalingConfig } from './step-scaling-config.js';
import { aggregateMetric, breachSide, decideStep, findStep, requestedCapacity, roundPercentChange, type StepSituation } from './step-scaling.js';

// The user guide's example ("How step scaling for Application Auto Scaling works", Step
// adjustments): a scale-out and a scale-in policy around a threshold of 50, PercentChangeInCapacity.
const scaleOut: StepAdjustment[] = [
  { MetricIntervalLowerBound: 0, MetricIntervalUpperBound: 10, ScalingAdjustment: 0 },
  { MetricIntervalLowerBound: 10, MetricIntervalUpperBound: 20, ScalingAdjustment: 10 },
  { MetricIntervalLowerBound: 20, ScalingAdjustment: 30 },
];
const scaleIn: StepAdjustment[] = [
  { MetricIntervalLowerBound: -10, MetricIntervalUpperBound: 0, ScalingAdjustment: 0 },
  { MetricIntervalLowerBound: -20, MetricIntervalUpperBound: -10, ScalingAdjustment: -10 },
  { MetricIntervalUpperBound: -20, ScalingAdjustment: -30 },
];
/** The capacity after the policy's step for `metric` against threshold 50. */
const afterStep = (steps: StepAdjustment[], metric: number, current: number, downwards: boolean): number => {
  const breach = metric - 50;
  const step = findStep(steps, breach, breachSide(breach, downwards));
  assert.ok(step, `a step for ${metric}`);
  return requestedCapacity(current, 'PercentChangeInCapacity', step.ScalingAdjustment);
};

test('the user guide example: 60 adds 10 % of 10, 70 adds 30 % of 11 (3.3 → 3), 40 removes 10 % of 14 (1.4 → 1), 30 removes 30 % of 13 (3.9 → 3)', () => {
  assert.equal(afterStep(scaleOut, 55, 10, false), 10, 'between 50 and 60 the capacity is unchanged');
  assert.equal(afterStep(scaleOut, 60, 10, false), 11);
  assert.equal(afterStep(scaleOut, 70, 11, false), 14);
  assert.equal(afterStep(scaleIn, 40, 14, true), 13);
  assert.equal(afterStep(scaleIn, 30, 13, true), 10);
});

test('bounds: above the threshold the lower bound is inclusive and the upper exclusive; below it the reverse (StepAdjustment reference)', () => {
  const steps = [
    { MetricIntervalLowerBound: 0, MetricIntervalUpperBound: 10, ScalingAdjustment: 1 },
    { MetricIntervalLowerBound: 10, ScalingAdjustment: 2 },
  ];
  assert.equal(findStep(steps, 10, 'above')?.ScalingAdjustment, 2, 'metric = threshold + 10 belongs to [10, ∞)');
  assert.equal(findStep(steps, 9.999, 'above')?.ScalingAdjustment, 1);
  assert.equal(findStep(steps, 0, 'above')?.ScalingAdjustment, 1, 'the metric at the threshold is in [0, 10)');
  const below = [
    { MetricIntervalLowerBound: -10, MetricIntervalUpperBound: 0, ScalingAdjustment: -1 },
    { MetricIntervalUpperBound: -10, ScalingAdjustment: -2 },
  ];
  assert.equal(findStep(below, -10, 'below')?.ScalingAdjustment, -2, 'threshold − 10 belongs to (−∞, −10]');
  assert.equal(findStep(below, 0, 'below')?.ScalingAdjustment, -1, 'the threshold itself belongs to (−10, 0]');
  assert.equal(findStep(below, 0, 'above'), undefined, 'read from above, 0 is outside (−10, 0)');
  assert.equal(breachSide(0, true), 'below');
  assert.equal(breachSide(0, false), 'above');
  assert.equal(breachSide(-1, false), 'below');
  assert.equal(findStep([{ MetricIntervalLowerBound: 0, ScalingAdjustment: -100 }], -1, 'below'), undefined, 'a breach of −1 is under a lower bound of 0: no step');
});

test('MetricAggregationType: Average (the default), Minimum, Maximum of the alarm datapoints', () => {
  assert.equal(aggregateMetric([1, 2, 6]), 3);
  assert.equal(aggregateMetric([1, 2, 6], 'Minimum'), 1);
  assert.equal(aggregateMetric([1, 2, 6], 'Maximum'), 6);
  assert.ok(Number.isNaN(aggregateMetric([])));
});

test('PercentChangeInCapacity rounding as documented: 12.7 → 12, .67 → 1, −.58 → −1, −6.67 → −6; MinAdjustmentMagnitude', () => {
  assert.deepEqual([12.7, 0.67, -0.58, -6.67, 3, 0, -1].map(roundPercentChange), [12, 1, -1, -6, 3, 0, -1]);
  assert.equal(requestedCapacity(4, 'PercentChangeInCapacity', 25), 5, '25 % of 4 is 1');
  assert.equal(requestedCapacity(4, 'PercentChangeInCapacity', 25, 2), 6, 'at least 2 with MinAdjustmentMagnitude 2');
  assert.equal(requestedCapacity(4, 'PercentChangeInCapacity', -25, 2), 2, 'the magnitude applies to scale-in too');
  assert.equal(requestedCapacity(10, 'PercentChangeInCapacity', 50, 2), 15, 'a change larger than the minimum is kept');
  assert.equal(requestedCapacity(3, 'ChangeInCapacity', 5), 8);
  assert.equal(requestedCapacity(3, 'ExactCapacity', 5), 5);
  assert.equal(requestedCapacity(0, 'ChangeInCapacity', 1), 1, 'scale up from zero');
});

const config = (c: Partial<StepScalingConfig> = {}): StepScalingConfig => ({ AdjustmentType: 'ChangeInCapacity', StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }], ...c });
const situation = (s: Partial<StepSituation> = {}): StepSituation => ({
  current: 1,
  minCapacity: 1,
  maxCapacity: 4,
  config: config(),
  step: { MetricIntervalLowerBound: 0, ScalingAdjustment: 1 },
  cooldownMs: 300_000,
  state: {},
  scaleOutSuspended: false,
  scaleInSuspended: false,
  now: 1_000_000,
  ...s,
});

test('decideStep clamps to min and max, and scales up from zero (the asynchronous-endpoint recipe)', () => {
  assert.deepEqual(decideStep(situation({ current: 0, minCapacity: 0 })), { desired: 1, direction: 'out', base: 0 });
  assert.equal(decideStep(situation({ current: 3, step: { ScalingAdjustment: 5 } }))?.desired, 4, 'never above MaxCapacity');
  assert.equal(decideStep(situation({ current: 4 })), undefined, 'already at MaxCapacity');
  assert.equal(decideStep(situation({ current: 2, step: { ScalingAdjustment: -5 } }))?.desired, 1, 'never below MinCapacity');
  assert.equal(decideStep(situation({ current: 1, step: { ScalingAdjustment: -1 } })), undefined, 'already at MinCapacity');
  assert.deepEqual(decideStep(situation({ current: 3, config: config({ AdjustmentType: 'ExactCapacity' }), step: { ScalingAdjustment: 2 } })), { desired: 2, direction: 'in', base: 3 });
  assert.equal(decideStep(situation({ step: { ScalingAdjustment: 0 } })), undefined, 'a zero step changes nothing');
  assert.equal(decideStep(situation({ scaleOutSuspended: true })), undefined);
  assert.equal(decideStep(situation({ current: 3, step: { ScalingAdjustment: -1 }, scaleInSuspended: true })), undefined);
});

test('cooldown: during a scale-out cooldown the added capacity counts (only a larger step adds more); scale-in waits for its cooldown', () => {
  // The user guide's example: +2 started the cooldown at capacity 1; the alarm fires again with +2, then +3.
  const state = { scaleOut: { at: 1_000_000 - 60_000, from: 1 } };
  assert.equal(decideStep(situation({ current: 3, maxCapacity: 10, state, step: { ScalingAdjustment: 2 } })), undefined, '+2 again during the cooldown adds nothing');
  assert.deepEqual(decideStep(situation({ current: 3, maxCapacity: 10, state, step: { ScalingAdjustment: 3 } })), { desired: 4, direction: 'out', base: 1 }, '+3 adds only 1');
  assert.deepEqual(decideStep(situation({ current: 3, maxCapacity: 10, state, cooldownMs: 60_000, step: { ScalingAdjustment: 2 } })), { desired: 5, direction: 'out', base: 3 }, 'after the cooldown the step applies to the current capacity');
  const scaledIn = { scaleInAt: 1_000_000 - 60_000 };
  assert.equal(decideStep(situation({ current: 3, state: scaledIn, step: { ScalingAdjustment: -1 } })), undefined, 'scale-in blocked during its cooldown');
  assert.equal(decideStep(situation({ current: 3, state: scaledIn, step: { ScalingAdjustment: 1 } }))?.desired, 4, 'a scale-out is not blocked by a scale-in cooldown');
  assert.equal(decideStep(situation({ current: 3, state: scaledIn, cooldownMs: 60_000, step: { ScalingAdjustment: -1 } }))?.desired, 2);
});

test('property: a rounded percent change is a whole number of the same sign, at least 1 and never larger than the raw change beyond 1', () => {
  fc.assert(
    fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), (raw) => {
      const r = roundPercentChange(raw);
      assert.ok(Number.isInteger(r));
      if (raw === 0) return assert.equal(r, 0);
      assert.equal(Math.sign(r), Math.sign(raw));
      assert.ok(Math.abs(r) >= 1 && Math.abs(r) <= Math.max(1, Math.abs(raw)));
    }),
  );
});

/** A valid policy: breakpoints cut the line into contiguous steps, the outer two open. */
const contiguousSteps = fc
  .uniqueArray(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 19 })
  .map((points) => [...points].sort((a, b) => a - b))
  .map((points): StepAdjustment[] =>
    [undefined, ...points].map((lower, i) => ({
      ...(lower !== undefined ? { MetricIntervalLowerBound: lower } : {}),
      ...(points[i] !== undefined ? { MetricIntervalUpperBound: points[i] } : {}),
      ScalingAdjustment: i - 5,
    })),
  );

test('property: steps that cut the line without gap or overlap are accepted, and every breach falls in exactly the step that holds it', () => {
  fc.assert(
    // Half the breaches land exactly on a bound, where inclusive and exclusive differ.
    fc.property(contiguousSteps, fc.oneof(fc.double({ min: -2000, max: 2000, noNaN: true }), fc.nat().map((n) => ({ bound: n }))), fc.boolean(), (steps, pick, downwards) => {
      readStepScalingConfig({ AdjustmentType: 'ChangeInCapacity', StepAdjustments: steps });
      const bounds = steps.flatMap((s) => (s.MetricIntervalLowerBound !== undefined ? [s.MetricIntervalLowerBound] : []));
      const breach = typeof pick === 'number' ? pick : bounds[pick.bound % bounds.length]!;
      const side = breachSide(breach, downwards);
      const holding = steps.filter((s) => {
        const lower = s.MetricIntervalLowerBound ?? -Infinity;
        const upper = s.MetricIntervalUpperBound ?? Infinity;
        return side === 'above' ? lower <= breach && breach < upper : lower < breach && breach <= upper;
      });
      assert.equal(holding.length, 1);
      assert.equal(findStep(steps, breach, side), holding[0]);
    }),
  );
});

test('property: removing an inner step of a valid policy leaves a gap that is refused', () => {
  fc.assert(
    fc.property(contiguousSteps.filter((s) => s.length >= 3), fc.nat(), (steps, pick) => {
      const inner = 1 + (pick % (steps.length - 2));
      assert.throws(() => readStepScalingConfig({ AdjustmentType: 'ChangeInCapacity', StepAdjustments: steps.filter((_, i) => i !== inner) }), /gap/);
    }),
  );
});

test('property: a step decision stays within [MinCapacity, MaxCapacity] and moves the way it says', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 20 }),
      fc.integer({ min: 0, max: 20 }),
      fc.integer({ min: 0, max: 40 }),
      fc.constantFrom('ChangeInCapacity' as const, 'PercentChangeInCapacity' as const, 'ExactCapacity' as const),
      fc.integer({ min: -300, max: 300 }),
      fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
      (a, b, current, type, adjustment, magnitude) => {
        const [min, max] = a <= b ? [a, b] : [b, a];
        const d = decideStep(
          situation({
            current,
            minCapacity: min,
            maxCapacity: max,
            config: config({ AdjustmentType: type, ...(magnitude !== undefined ? { MinAdjustmentMagnitude: magnitude } : {}) }),
            step: { ScalingAdjustment: type === 'ExactCapacity' ? Math.abs(adjustment) : adjustment },
          }),
        );
        if (!d) return;
        assert.ok(d.desired >= min && d.desired <= max);
        assert.ok(d.direction === 'out' ? d.desired > current : d.desired < current);
      },
    ),
  );
});

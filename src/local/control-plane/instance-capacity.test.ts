// First-fit placement of inference component copies by their ComputeResourceRequirements.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { instanceCapacity, placeFirstFit } from './instance-capacity.js';

test('copies taking a fraction of a vCPU fill an instance exactly: 20 copies of 0.4 vCPU on 8 vCPUs, 80 of 0.6 on 48, 40 of 2.4 on 96', () => {
  const cases: Array<[string, number, number]> = [
    ['ml.g5.2xlarge', 0.4, 20],
    ['ml.m5.12xlarge', 0.6, 80],
    ['ml.m5.12xlarge', 1.2, 40],
    ['ml.m5.24xlarge', 2.4, 40],
    ['ml.m5.large', 0.3, 6],
  ];
  for (const [type, cpus, expected] of cases) {
    const capacity = instanceCapacity(type)!;
    const [placed] = placeFirstFit(capacity, 1, [{ copies: expected + 1, requirements: { NumberOfCpuCoresRequired: cpus, MinMemoryRequiredInMb: 128 } }]);
    assert.equal(placed, expected, `${type}, ${cpus} vCPUs a copy`);
  }
});

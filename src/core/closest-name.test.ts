import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closestNames, orList } from './closest-name.js';

const VARIANT = ['name', 'weight', 'instanceCount', 'instanceType', 'autoscaling', 'serverless', 'model', 'env', 'hostname', 'image', 'mode', 'containers'];

test('closestNames: a typo, a swap, another case or separator finds the name, every one as near; nothing close finds none', () => {
  assert.deepEqual(closestNames('instanceTyp', VARIANT), ['instanceType']);
  assert.deepEqual(closestNames('InstanceType', VARIANT), ['instanceType']);
  assert.deepEqual(closestNames('instance_count', VARIANT), ['instanceCount']);
  assert.deepEqual(closestNames('autoScaling', VARIANT), ['autoscaling']);
  assert.deepEqual(closestNames('container', VARIANT), ['containers']);
  assert.deepEqual(closestNames('blueGreenUpdatePolicie', ['blueGreenUpdatePolicy', 'rollingUpdatePolicy']), ['blueGreenUpdatePolicy']);
  // A swap and a letter too many are one edit each.
  assert.deepEqual(closestNames('modle', VARIANT), ['model', 'mode']);
  assert.deepEqual(closestNames('mod', VARIANT), ['mode']);
  for (const far of ['InitialInstanceCount', 'x', 'k'.repeat(1_000_000)]) assert.deepEqual(closestNames(far, VARIANT), []);
  assert.deepEqual(closestNames('bucket', ['role', 'artifacts', 'image', 'region']), []);
  assert.equal(orList(['a']), '"a"');
  assert.equal(orList(['a', 'b', 'c']), '"a", "b" or "c"');
});

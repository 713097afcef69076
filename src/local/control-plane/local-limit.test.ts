import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AwsServiceError } from '../../aws/service.js';
import { checkLocalLimit, type LocalLimit } from './local-limit.js';

// The two limits as EndpointLifecycle.checkLimit and InferenceComponents.checkCopies build them.
const instances = (max: number | undefined): LocalLimit => ({ name: 'local instances for endpoint usage', unit: 'Instances', max });
const copies = (max: number | undefined): LocalLimit => ({ name: 'local inference component copies', unit: 'copies', max });

/** What checkLocalLimit threw, or undefined when it passed. */
function thrown(limit: LocalLimit, delta: number, used: number): unknown {
  try {
    checkLocalLimit(limit, delta, () => used);
  } catch (err) {
    return err;
  }
  return undefined;
}

test('checkLocalLimit: past the limit, ResourceLimitExceeded (400) words the endpoint instance limit and the inference component copy limit to the letter', () => {
  const endpoint = thrown(instances(4), 2, 3);
  assert.ok(endpoint instanceof AwsServiceError);
  assert.equal(endpoint.type, 'ResourceLimitExceeded');
  assert.equal(endpoint.status, 400);
  assert.equal(
    endpoint.message,
    "The account-level service limit 'local instances for endpoint usage' is 4 Instances, with current utilization of 3 Instances and a request delta of 2 Instances. Raise SMKIT_LOCAL_MAX_INSTANCES to allow more.",
  );
  const component = thrown(copies(1), 1, 1);
  assert.ok(component instanceof AwsServiceError);
  assert.equal(component.type, 'ResourceLimitExceeded');
  assert.equal(component.status, 400);
  assert.equal(
    component.message,
    "The account-level service limit 'local inference component copies' is 1 copies, with current utilization of 1 copies and a request delta of 1 copies. Raise SMKIT_LOCAL_MAX_INSTANCES to allow more.",
  );
});

test('checkLocalLimit: without a limit, or for a delta that does not grow the use, nothing is checked and the use is not counted', () => {
  let asked = 0;
  const used = (): number => {
    asked++;
    return 1_000;
  };
  for (const [limit, delta] of [
    [instances(undefined), 5],
    [copies(undefined), 1],
    [instances(2), 0],
    [copies(2), -3],
  ] as const) {
    assert.doesNotThrow(() => checkLocalLimit(limit, delta, used), `${limit.name}, max ${limit.max}, delta ${delta}`);
  }
  assert.equal(asked, 0);
  // The same counter is asked once there is something to check, so 0 above is not for want of calls.
  assert.throws(() => checkLocalLimit(instances(2), 1, used), AwsServiceError);
  assert.equal(asked, 1);
});

test('checkLocalLimit: use plus delta equal to the limit passes; one more is refused', () => {
  for (const limit of [instances(5), copies(5)]) {
    assert.equal(thrown(limit, 2, 3), undefined, `${limit.name}: 3 + 2 of 5`);
    assert.equal(thrown(limit, 5, 0), undefined, `${limit.name}: 0 + 5 of 5`);
    const oneMoreAsked = thrown(limit, 3, 3);
    assert.ok(oneMoreAsked instanceof AwsServiceError, `${limit.name}: 3 + 3 of 5`);
    assert.equal(oneMoreAsked.type, 'ResourceLimitExceeded');
    const oneMoreInUse = thrown(limit, 2, 4);
    assert.ok(oneMoreInUse instanceof AwsServiceError, `${limit.name}: 4 + 2 of 5`);
    assert.equal(oneMoreInUse.type, 'ResourceLimitExceeded');
  }
});

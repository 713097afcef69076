import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CloudWatchClient, PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../local/control-plane/local-sagemaker.js';
import { localClientConfig } from '../../test/helpers/local-sdk-clients.js';
import { rolledBackReason } from './rollback-reason.js';
import type { DeploymentConfig } from '@aws-sdk/client-sagemaker';

// The local SageMaker's CloudWatch, through the real SDK client: what `smkit deploy` reports when
// DescribeEndpoint no longer says why an update was rolled back.
let local: LocalSageMakerHandle;
let cloudwatch: CloudWatchClient;

describe('rollback reason', () => {
  before(async () => {
    local = await startLocalSageMaker({ port: 0, settings: { region: 'us-east-1', accountId: '111122223333' } });
    cloudwatch = new CloudWatchClient(localClientConfig(local.url));
    for (const name of ['firing', 'quiet']) {
      await cloudwatch.send(
        new PutMetricAlarmCommand({ AlarmName: name, Namespace: 'AWS/SageMaker', MetricName: 'Invocation5XXErrors', Statistic: 'Sum', Period: 60, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' }),
      );
    }
    await cloudwatch.send(new SetAlarmStateCommand({ AlarmName: 'firing', StateValue: 'ALARM', StateReason: 'five 5xx answers in a minute.' }));
    await cloudwatch.send(new SetAlarmStateCommand({ AlarmName: 'quiet', StateValue: 'OK', StateReason: 'fine' }));
  });

  after(async () => {
    cloudwatch?.destroy();
    await local?.stop();
  });

  const rollbackOn = (...alarms: string[]): { config: { name: string }; deploymentConfig: DeploymentConfig } => ({
    config: { name: 'iris-new' },
    deploymentConfig: { AutoRollbackConfiguration: { Alarms: alarms.map((AlarmName) => ({ AlarmName })) } },
  });
  const cleared = { reason: undefined, serving: 'iris-old' };

  test("the endpoint's FailureReason, when it still says one, is the reason", async () => {
    assert.equal(await rolledBackReason({ cloudwatch }, rollbackOn('firing'), { reason: 'Alarm firing fired.', serving: 'iris-old' }), 'Alarm firing fired.');
  });

  test('once the FailureReason is cleared: the rollback alarms in ALARM, with their reasons', async () => {
    assert.equal(await rolledBackReason({ cloudwatch }, rollbackOn('quiet', 'firing'), cleared), 'rollback alarm(s) in ALARM: firing (five 5xx answers in a minute)');
  });

  test('no alarm in ALARM, none configured, or CloudWatch unreachable: which config the endpoint serves', async () => {
    const fallback = 'the endpoint is InService on iris-old, not iris-new';
    assert.equal(await rolledBackReason({ cloudwatch }, rollbackOn('quiet'), cleared), fallback);
    assert.equal(await rolledBackReason({ cloudwatch }, { config: { name: 'iris-new' } }, cleared), fallback);
    const unreachable = new CloudWatchClient({ ...localClientConfig('http://127.0.0.1:9'), maxAttempts: 1 });
    try {
      assert.equal(await rolledBackReason({ cloudwatch: unreachable }, rollbackOn('firing'), cleared), fallback);
    } finally {
      unreachable.destroy();
    }
  });
});

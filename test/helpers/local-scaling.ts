import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationAutoScalingService } from '../../src/local/control-plane/autoscaling/autoscaling-service.js';
import { invokeScalingPolicy } from '../../src/local/control-plane/autoscaling/step-policy-invocation.js';
import { VariantScaler } from '../../src/local/control-plane/autoscaling/variant-scaler.js';
import { CloudWatchService } from '../../src/local/control-plane/cloudwatch/cloudwatch-service.js';
import { createMetricClock } from '../../src/local/control-plane/cloudwatch/metric-clock.js';
import { MetricStore } from '../../src/local/control-plane/cloudwatch/metric-store.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';
import { createComponentEndpoint } from './component-host.js';
import { FakeBackend } from './fake-backend.js';
import { localSdkClients, type LocalSdkClients } from './local-sdk-clients.js';
import { startInTempDir } from './temp-dir.js';
import type { UntilOptions } from './until.js';

/** The execution role of the endpoint configs and models the scaling tests create. */
export const SCALING_ROLE = 'arn:aws:iam::123456789012:role/local';

/** A local SageMaker whose scaler the test ticks, with its CloudWatch, a model folder and SDK clients. */
export interface LocalScaling {
  /** A temporary folder holding `weights.bin`, for ModelDataUrl or ArtifactUrl. */
  dir: string;
  local: LocalSageMakerHandle;
  backend: FakeBackend;
  /** The scaler, never run on a timer: the test calls `tick()`. */
  scaler: VariantScaler;
  cloudwatch: CloudWatchService;
  /** SDK clients for the local SageMaker; the runtime client does not retry. */
  clients: LocalSdkClients;
  /** Creates endpoint `name` (config `name`) for inference components on one ml.g5.2xlarge instance and waits until it is InService. */
  hostEndpoint(name: string): Promise<void>;
  /** Ends the clients and the local SageMaker and removes `dir`. */
  stop(): Promise<void>;
}

/**
 * Starts a local SageMaker (us-east-1, account 123456789012) on a {@link FakeBackend} with
 * CloudWatch and Application Auto Scaling on a one-minute metric clock read from `now` (default
 * `Date.now`), and a {@link VariantScaler} the test ticks. `stepPolicies` lets alarms invoke step
 * scaling policies; `maxInvocationsPerInstance` goes to the settings; `tmpPrefix` names the model
 * folder (removed again when the start fails).
 */
export async function startLocalScaling(options: { tmpPrefix: string; poll: UntilOptions; now?: () => number; maxInvocationsPerInstance?: number; stepPolicies?: boolean }): Promise<LocalScaling> {
  const clock = createMetricClock(60, options.now ?? (() => Date.now()));
  const metrics = new MetricStore(clock);
  const cloudwatch = new CloudWatchService({ metrics, clock });
  const backend = new FakeBackend();
  let scaler: VariantScaler | undefined;
  const { dir, started: local } = await startInTempDir(options.tmpPrefix, async (dir) => {
    await writeFile(join(dir, 'weights.bin'), 'w');
    return startLocalSageMaker({
      port: 0,
      backendImpl: backend,
      metrics,
      startupTimeoutMs: 5_000,
      settings: { region: 'us-east-1', accountId: '123456789012', ...(options.maxInvocationsPerInstance === undefined ? {} : { maxInvocationsPerInstance: options.maxInvocationsPerInstance }) },
      services: ({ sagemaker }) => {
        const autoscaling = new ApplicationAutoScalingService({ sagemaker, cloudwatch, now: clock.now });
        if (options.stepPolicies) cloudwatch.setScalingActionHandler((invocation) => invokeScalingPolicy(autoscaling, invocation, clock.now()));
        scaler = new VariantScaler({ autoscaling, cloudwatch, metrics, sagemaker, clock });
        return [cloudwatch, autoscaling];
      },
    });
  });
  const clients = localSdkClients(local.url, { runtimeMaxAttempts: 1 });
  return {
    dir,
    local,
    backend,
    scaler: scaler!,
    cloudwatch,
    clients,
    hostEndpoint: (name) => createComponentEndpoint(clients.sagemaker, name, options.poll, { role: SCALING_ROLE }),
    async stop() {
      clients.destroy();
      await local.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

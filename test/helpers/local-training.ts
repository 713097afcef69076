import { join } from 'node:path';
import type { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { startLocalSageMaker, type LocalSageMakerHandle, type LocalSageMakerOptions } from '../../src/local/control-plane/local-sagemaker.js';
import { startLocalS3, type LocalS3 } from './local-s3.js';
import { localSdkClients, type LocalSdkClients } from './local-sdk-clients.js';
import { REPO_ROOT } from './serve-process.js';

/** The training scripts jobs run (test/fixtures/train), read in place as a job's submit directory. */
export const TRAIN_FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'train');

/** A role ARN for `CreateTrainingJob` (the local SageMaker assumes nothing with it). */
export const TRAINING_ROLE = 'arn:aws:iam::111122223333:role/SageMakerRole';

/** A local SageMaker for training jobs, the local S3 it reads and writes, and SDK clients for it. */
export interface LocalTraining {
  s3: LocalS3;
  local: LocalSageMakerHandle;
  clients: LocalSdkClients;
  sm: SageMakerClient;
  /** Ends the clients, the local SageMaker and the S3 server. */
  stop(): Promise<void>;
}

/**
 * A local SageMaker (us-east-1, account 111122223333) on a local S3 server holding the bucket
 * `data`, with real SDK clients for it; `options` go to `startLocalSageMaker`, `maxInstances` to its
 * settings (SMKIT_LOCAL_MAX_INSTANCES).
 */
export async function startLocalTraining({ maxInstances, ...options }: Omit<LocalSageMakerOptions, 'port' | 'settings'> & { maxInstances?: number } = {}): Promise<LocalTraining> {
  const s3 = await startLocalS3(['data']);
  let local: LocalSageMakerHandle;
  try {
    local = await startLocalSageMaker({ port: 0, settings: { s3EndpointUrl: s3.url, region: 'us-east-1', accountId: '111122223333', ...(maxInstances === undefined ? {} : { maxInstances }) }, ...options });
  } catch (err) {
    await s3.stop();
    throw err;
  }
  const clients = localSdkClients(local.url);
  return {
    s3,
    local,
    clients,
    sm: clients.sagemaker,
    async stop() {
      clients.destroy();
      await local.stop();
      await s3.stop();
    },
  };
}

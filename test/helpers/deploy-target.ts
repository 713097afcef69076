import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDeployClients, type DeployClients } from '../../src/deploy/clients.js';
import { startLocalSageMaker } from '../../src/local/control-plane/local-sagemaker.js';
import { FakeBackend } from './fake-backend.js';

/** What {@link withDeployTarget} gives its test. */
export interface DeployTarget {
  /** `smkit deploy`'s clients, pointed at the local SageMaker. */
  clients: DeployClients;
  /** The local SageMaker's URL (for `--endpoint-url`). */
  url: string;
  /** A folder holding one file, for `ModelDataUrl`. */
  modelDir: string;
}

/**
 * Runs `run` against a local SageMaker whose containers are fakes (account 000000000000,
 * us-east-1), then stops it and removes the model folder, whether `run` passed or not.
 */
export async function withDeployTarget(run: (target: DeployTarget) => Promise<void>): Promise<void> {
  const modelDir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-test-'));
  // The folder goes even when the local SageMaker does not start.
  try {
    await writeFile(path.join(modelDir, 'weights.bin'), 'w');
    const sm = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 10_000, settings: { region: 'us-east-1', accountId: '000000000000' } });
    const clients = createDeployClients({ endpointUrl: sm.url, region: 'us-east-1' }, { hasCredentials: false });
    try {
      await run({ clients, url: sm.url, modelDir });
    } finally {
      clients.destroy();
      await sm.stop();
    }
  } finally {
    await rm(modelDir, { recursive: true, force: true });
  }
}

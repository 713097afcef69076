import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { readEndpointFile } from '../../src/endpoint-file/load.js';
import { startLocalEndpoints, type LocalEndpointsHandle } from '../../src/local/endpoint/start.js';
import { localClientConfig } from './local-sdk-clients.js';

/** Local endpoints started from an endpoint file, with an SDK client pointed at their front door. */
export interface LocalEndpointsUnderTest {
  dir: string;
  handle: LocalEndpointsHandle;
  client: SageMakerRuntimeClient;
  stop(): Promise<void>;
}

/**
 * Writes `endpointsYaml` into a fresh temporary folder (after `prepare` fills it, for relative
 * paths), starts the endpoints on a free port, and makes an AWS SDK v3 client with dummy
 * credentials for them.
 */
export async function startLocalForTest(endpointsYaml: string, prepare: (dir: string) => Promise<void> = async () => {}): Promise<LocalEndpointsUnderTest> {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-local-test-'));
  let handle: LocalEndpointsHandle;
  try {
    await prepare(dir);
    await writeFile(join(dir, 'endpoints.yaml'), endpointsYaml);
    handle = await startLocalEndpoints(await readEndpointFile(join(dir, 'endpoints.yaml')), { port: 0, startupTimeoutMs: 60_000 });
  } catch (err) {
    // A start that failed hands nothing back to stop: the folder goes here.
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const client = new SageMakerRuntimeClient(localClientConfig(handle.url));
  return {
    dir,
    handle,
    client,
    async stop() {
      client.destroy();
      await handle.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

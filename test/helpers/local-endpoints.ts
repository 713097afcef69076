import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { readEndpointFile } from '../../src/endpoint-file/load.js';
import { startLocalEndpoints, type LocalEndpointsHandle } from '../../src/local/endpoint/start.js';
import { localClientConfig } from './local-sdk-clients.js';
import { startInTempDir } from './temp-dir.js';

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
  const { dir, started: handle } = await startInTempDir('smkit-local-test-', async (dir) => {
    await prepare(dir);
    await writeFile(join(dir, 'endpoints.yaml'), endpointsYaml);
    return startLocalEndpoints(await readEndpointFile(join(dir, 'endpoints.yaml')), { port: 0, startupTimeoutMs: 60_000 });
  });
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

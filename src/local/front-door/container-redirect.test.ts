// A container that answers a redirect (3xx with a Location) is not followed: the front door sends an
// invocation, a streamed invocation or a model load to the container and nowhere else, whatever URL
// the container names (fetch follows redirects by default, so a container could have the front door
// call any host). Through the real AWS SDK client.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { craftTarGz } from '../../../test/fixtures/archive/craft.js';
import { multiModelHost, type ChainContainer } from '../endpoint/container.js';
import { LocalEndpoint } from '../endpoint/local-endpoint.js';
import { createFrontDoor } from './app.js';
import { createFrontDoorServer, listenFrontDoor } from './http-server.js';
import { answeredStrayPing } from '../../../test/helpers/stray-ping.js';

const servers: Server[] = [];
const dirs: string[] = [];
describe('container redirect', () => {
  after(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  async function listen(server: Server): Promise<string> {
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Where the container redirects to: counts the requests it gets (none is the point). */
  async function elsewhere(): Promise<{ url: string; hits: string[] }> {
    const hits: string[] = [];
    const url = await listen(
      createServer((req, res) => {
        if (answeredStrayPing(req, res)) return;
        hits.push(`${req.method} ${req.url}`);
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain' }).end('answered by another host');
      }),
    );
    return { url, hits };
  }

  /** A container answering every request `status` with a Location on `target`, and an HTML page saying so (as Flask's redirect does). */
  async function redirecting(status: number, target: string): Promise<string> {
    return listen(
      createServer((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(status, { location: `${target}/elsewhere`, 'content-type': 'text/html' }).end('<h1>Redirecting...</h1>'));
      }),
    );
  }

  async function frontDoorFor(container: ChainContainer): Promise<SageMakerRuntimeClient> {
    const ep = new LocalEndpoint('ep', [{ name: 'AllTraffic', weight: 1, containers: [container] }]);
    const server = createFrontDoorServer(createFrontDoor({ endpoints: new Map([['ep', ep]]) }));
    servers.push(server);
    return new SageMakerRuntimeClient({ ...localClientConfig(`http://127.0.0.1:${await listenFrontDoor(server, 0)}`), maxAttempts: 1 });
  }

  for (const status of [302, 307]) {
    test(`InvokeEndpoint: a container's ${status} is not followed; its answer is the invocation's, as the service returns it`, async () => {
      const other = await elsewhere();
      const client = await frontDoorFor({ hostname: 'primary', url: await redirecting(status, other.url), logFile: '/tmp/primary.log' });
      try {
        const out = await client.send(new InvokeEndpointCommand({ EndpointName: 'ep', Body: Buffer.from('{}'), ContentType: 'application/json' }));
        assert.equal(Buffer.from(out.Body!).toString(), '<h1>Redirecting...</h1>');
        assert.equal(out.ContentType, 'text/html');
        assert.deepEqual(other.hits, [], 'nothing was sent where the container pointed');
      } finally {
        client.destroy();
      }
    });
  }

  test('InvokeEndpointWithResponseStream: a container\'s 302 is not followed; its answer is the stream', async () => {
    const other = await elsewhere();
    const client = await frontDoorFor({ hostname: 'primary', url: await redirecting(302, other.url), logFile: '/tmp/primary.log' });
    try {
      const out = await client.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'ep', Body: Buffer.from('go') }));
      const parts: string[] = [];
      for await (const event of out.Body!) if (event.PayloadPart?.Bytes) parts.push(Buffer.from(event.PayloadPart.Bytes).toString());
      assert.equal(parts.join(''), '<h1>Redirecting...</h1>');
      assert.equal(out.ContentType, 'text/html');
      assert.deepEqual(other.hits, [], 'nothing was sent where the container pointed');
    } finally {
      client.destroy();
    }
  });

  test('multi-model: a container that answers a model load (POST /models) with a 307 is not followed; the invocation is a ModelError carrying the 307', async () => {
    const other = await elsewhere();
    const dir = await mkdtemp(join(tmpdir(), 'smkit-redirect-'));
    dirs.push(dir);
    await mkdir(join(dir, 'source'));
    await writeFile(join(dir, 'source', 'a.tar.gz'), craftTarGz([{ path: 'model.onnx', body: 'weights' }]));
    const multiModel = multiModelHost({ source: join(dir, 'source'), hostDir: join(dir, 'models'), containerDir: join(dir, 'models') });
    const client = await frontDoorFor({ hostname: 'primary', url: await redirecting(307, other.url), logFile: join(dir, 'primary.log'), multiModel });
    try {
      await assert.rejects(
        client.send(new InvokeEndpointCommand({ EndpointName: 'ep', Body: Buffer.from('{}'), ContentType: 'application/json', TargetModel: 'a.tar.gz' })),
        (err: { name: string; $metadata?: { httpStatusCode?: number }; OriginalStatusCode?: number; OriginalMessage?: string; message: string }) => {
          assert.equal(err.name, 'ModelError', err.message);
          assert.equal(err.$metadata?.httpStatusCode, 424);
          assert.equal(err.OriginalStatusCode, 307);
          assert.equal(err.OriginalMessage, '<h1>Redirecting...</h1>');
          // A redirect, not a "client error (307)".
          assert.match(err.message, /^Received redirect \(307\) from primary with message "<h1>Redirecting\.\.\.<\/h1>"/);
          return true;
        },
      );
      assert.deepEqual(other.hits, [], 'nothing was sent where the container pointed');
    } finally {
      client.destroy();
    }
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { CreateModelCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import type { AwsService } from '../../aws/service.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { createFrontDoor, type RoutableEndpoint } from './app.js';
import { createFrontDoorServer } from './http-server.js';

// A web page of any site can POST a form or text/plain to 127.0.0.1 with no CORS preflight, and,
// with DNS rebinding, send anything under its own Host: the front door must not act on either.
describe('the front door refuses requests from web pages of other sites', () => {
  const calls: string[] = [];
  const sagemaker: AwsService = {
    targetPrefix: 'SageMaker',
    signingName: 'sagemaker',
    call: async (op) => {
      calls.push(`SageMaker.${op}`);
      return {};
    },
  };
  const endpoint: RoutableEndpoint = {
    invoke: async () => {
      calls.push('invoke');
      return { variant: 'AllTraffic', response: { body: Buffer.from('ok'), contentType: 'text/plain' } };
    },
    stream: () => Promise.reject(new Error('not streamed here')),
  };
  const queryHandler = Object.assign(
    (req: { body: unknown }, res: import('express').Response) => {
      calls.push(`query ${String(req.body)}`);
      res.status(200).type('text/xml').send('<ok/>');
    },
    { xmlns: 'http://monitoring.amazonaws.com/doc/2010-08-01/' },
  );
  const app = createFrontDoor({ endpoints: new Map([['e', endpoint]]), services: [sagemaker], queryHandler });
  const createModel = '{"ModelName":"m","PrimaryContainer":{"Image":"x","Environment":{"NODE_OPTIONS":"--import=data:text/javascript,1"}}}';

  test('a cross-site form POST (CloudWatch query), a rebound CreateModel (awsJson) and a text/plain invocation are 403 AccessDeniedException in their protocol; nothing runs', async () => {
    calls.length = 0;
    const form = await request(app).post('/').set('Origin', 'https://evil.example').set('Content-Type', 'application/x-www-form-urlencoded').send('Action=SetAlarmState&AlarmName=a&StateValue=ALARM');
    assert.equal(form.status, 403);
    assert.equal(form.headers['content-type'], 'text/xml');
    assert.match(form.text, /<Code>AccessDeniedException<\/Code><Message>smkit local takes no request from a web page of another site \(Origin: https:\/\/evil\.example\)/);
    // DNS rebinding: the page's own name in Host, its origin in Origin; any header may be set.
    const rebound = await request(app).post('/').set('Host', 'evil.example:8080').set('Origin', 'http://evil.example:8080').set('X-Amz-Target', 'SageMaker.CreateModel').set('Content-Type', 'application/x-amz-json-1.1').send(createModel);
    assert.equal(rebound.status, 403);
    assert.equal(rebound.headers['x-amzn-errortype'], 'AccessDeniedException');
    assert.equal(JSON.parse(rebound.text).__type, 'AccessDeniedException');
    assert.equal(rebound.headers.connection, 'close');
    // A sandboxed frame or a file:// page says Origin: null; an older browser only a Referer.
    for (const [name, value] of [['Origin', 'null'], ['Referer', 'https://evil.example/page.html'], ['Origin', 'http://127.0.0.1.evil.example'], ['Origin', 'http://localhost, https://evil.example'], ['Origin', 'http://evil.localhost'], ['Origin', 'http://[::ffff:10.0.0.1]']] as const) {
      const invoked = await request(app).post('/endpoints/e/invocations').set(name, value).set('Content-Type', 'text/plain').send('x');
      assert.equal(invoked.status, 403, `${name}: ${value}`);
      assert.equal(invoked.headers['x-amzn-errortype'], 'AccessDeniedException');
      assert.match(JSON.parse(invoked.text).Message, /from a web page of another site/);
    }
    assert.deepEqual(calls, []);
  });

  test('requests with no Origin (SDKs, the AWS CLI, curl) or from a page on this machine are served', async () => {
    calls.length = 0;
    assert.equal((await request(app).post('/').set('X-Amz-Target', 'SageMaker.CreateModel').set('Content-Type', 'application/x-amz-json-1.1').send(createModel)).status, 200);
    const local = ['http://localhost:3000', 'http://127.0.0.1:8080', 'http://[::1]:9000', 'https://LOCALHOST.', 'http://127.1:80', 'http://[::ffff:127.0.0.1]:8080'];
    for (const origin of local) {
      const res = await request(app).post('/endpoints/e/invocations').set('Origin', origin).set('Content-Type', 'text/plain').send('x');
      assert.equal(res.status, 200, origin);
    }
    const form = await request(app).post('/').set('Referer', 'http://localhost:3000/x').set('Content-Type', 'application/x-www-form-urlencoded').send('Action=ListMetrics');
    assert.equal(form.status, 200);
    assert.deepEqual(calls, ['SageMaker.CreateModel', ...local.map(() => 'invoke'), 'query Action=ListMetrics']);
  });

  test('a request addressed to a name other than localhost or an address (DNS rebinding: a GET carries no Origin, and the page can leave Referer off) is 403 AccessDeniedException; SMKIT_ALLOWED_HOSTS names more', async () => {
    calls.length = 0;
    const rebound = await request(app).post('/').set('Host', 'evil.example:8080').set('X-Amz-Target', 'SageMaker.CreateModel').set('Content-Type', 'application/x-amz-json-1.1').send(createModel);
    assert.equal(rebound.status, 403);
    assert.equal(JSON.parse(rebound.text).__type, 'AccessDeniedException');
    assert.match(JSON.parse(rebound.text).message, /addressed to Host: evil\.example:8080.*DNS rebinding.*SMKIT_ALLOWED_HOSTS/);
    for (const host of ['evil.example', '127.0.0.1.nip.io:8080', 'evil.localhost:8080']) {
      const invoked = await request(app).post('/endpoints/e/invocations').set('Host', host).set('Content-Type', 'text/plain').send('x');
      assert.equal(invoked.status, 403, host);
      assert.equal(invoked.headers['x-amzn-errortype'], 'AccessDeniedException');
    }
    assert.deepEqual(calls, []);
    for (const host of ['localhost:8080', 'LOCALHOST', '127.0.0.1:8080', '[::1]:8080', '10.0.0.5:8080']) {
      assert.equal((await request(app).post('/endpoints/e/invocations').set('Host', host).set('Content-Type', 'text/plain').send('x')).status, 200, host);
    }
    const named = createFrontDoor({ endpoints: new Map([['e', endpoint]]), allowedHosts: ['devbox.example', '.corp.example'] });
    for (const [host, status] of [['devbox.example:8080', 200], ['gpu.corp.example', 200], ['localhost', 200], ['evil.example', 403]] as const) {
      assert.equal((await request(named).post('/endpoints/e/invocations').set('Host', host).set('Content-Type', 'text/plain').send('x')).status, status, host);
    }
    const any = createFrontDoor({ endpoints: new Map([['e', endpoint]]), allowedHosts: 'any' });
    assert.equal((await request(any).post('/endpoints/e/invocations').set('Host', 'evil.example').set('Content-Type', 'text/plain').send('x')).status, 200);
  });

  describe('an AWS SDK client', () => {
    const server = createFrontDoorServer(app);
    let client: SageMakerClient;
    before(async () => {
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      client = new SageMakerClient(localClientConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    });
    after(() => {
      client.destroy();
      server.close();
    });

    test('reads the refusal as AccessDeniedException, and is served without an Origin', async () => {
      calls.length = 0;
      const input = { ModelName: 'm', ExecutionRoleArn: 'arn:aws:iam::000000000000:role/r', PrimaryContainer: { Image: 'x' } };
      await client.send(new CreateModelCommand(input));
      const command = new CreateModelCommand(input);
      command.middlewareStack.add((next) => (args) => {
        (args.request as { headers: Record<string, string> }).headers['origin'] = 'https://evil.example';
        return next(args);
      }, { step: 'build' });
      await assert.rejects(client.send(command), (err: Error & { $metadata?: { httpStatusCode?: number } }) => err.name === 'AccessDeniedException' && err.$metadata?.httpStatusCode === 403);
      assert.deepEqual(calls, ['SageMaker.CreateModel']);
    });

    test('called as http://localhost:PORT (its signed Host names localhost) is served', async () => {
      calls.length = 0;
      const byName = new SageMakerClient(localClientConfig(`http://localhost:${(server.address() as AddressInfo).port}`));
      try {
        await byName.send(new CreateModelCommand({ ModelName: 'm', ExecutionRoleArn: 'arn:aws:iam::000000000000:role/r', PrimaryContainer: { Image: 'x' } }));
      } finally {
        byName.destroy();
      }
      assert.deepEqual(calls, ['SageMaker.CreateModel']);
    });
  });
});

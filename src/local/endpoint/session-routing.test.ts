// Stateful sessions on a variant of two stand-in instances (small HTTP servers): the session a
// container opens comes back as NewSessionId and its later requests stick to that instance, in
// either of the forms containers announce one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Fleet } from '../fleet/fleet.js';
import { LocalEndpoint } from './local-endpoint.js';
import { until } from '../../../test/helpers/until.js';

const servers: Server[] = [];
let fleet: Fleet;
let endpoint: LocalEndpoint;
let opened = 0;

/**
 * An instance that answers its own name. `NEW_SESSION` opens a session, announced by the request
 * body's form: `engine` as AWS's model hosting container standards announce an engine's session
 * (`X-Amzn-SageMaker-New-Session-Id: <id>`, no expiry), `expires` with `; Expires=<time>`.
 */
async function instance(name: string): Promise<string> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.url === '/ping') return void res.end();
      const headers: Record<string, string> = { 'content-type': 'text/plain' };
      if (req.headers['x-amzn-sagemaker-session-id'] === 'NEW_SESSION') {
        const id = `s${++opened}`;
        // "short" lives about two seconds.
        const lifetime = body === 'short' ? 2_000 : 3_600_000;
        headers['x-amzn-sagemaker-new-session-id'] = body === 'engine' ? id : `${id}; Expires=${new Date(Date.now() + lifetime).toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
      }
      // "reopen" opens another session in a session's request, as a body {"requestType": "NEW_SESSION"} does.
      if (body === 'reopen') headers['x-amzn-sagemaker-session-id'] = `s${++opened}; Expires=${new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
      // "close" ends the request's session, as a container's session.close() does.
      if (body === 'close') headers['x-amzn-sagemaker-closed-session-id'] = String(req.headers['x-amzn-sagemaker-session-id']);
      res.writeHead(200, headers).end(name);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

before(async () => {
  fleet = new Fleet('AllTraffic', async (index) => {
    const url = await instance(`i${index}`);
    return { id: `i${index}`, containers: [], chain: [{ hostname: 'primary', url, logFile: '/dev/null' }] };
  });
  await fleet.scaleTo(2);
  endpoint = new LocalEndpoint('chat', [{ name: 'AllTraffic', weight: 1, containers: [], instances: fleet }]);
});

after(async () => {
  await fleet?.stop();
  for (const s of servers) s.close();
});

const invoke = async (body: string, sessionId: string) => {
  const { response } = await endpoint.invoke({ body: Buffer.from(body), contentType: 'text/plain', sessionId });
  return { answeredBy: response.body.toString(), newSessionId: response.newSessionId };
};

for (const form of ['engine', 'expires'] as const) {
  test(`a session announced in X-Amzn-SageMaker-New-Session-Id (${form === 'engine' ? 'an id alone' : 'with Expires'}) comes back as NewSessionId, and its requests stay on its instance`, async () => {
    const first = await invoke(form, 'NEW_SESSION');
    assert.ok(first.newSessionId !== undefined, 'NewSessionId comes back');
    const id = first.newSessionId.split(';')[0]!;
    // Without the session, the two instances take turns: with it, each request goes to the one that opened it.
    for (let i = 0; i < 6; i++) assert.equal((await invoke('hello', id)).answeredBy, first.answeredBy);
  });
}

test('a session the container closes in a streamed answer (InvokeEndpointWithResponseStream) is forgotten, as after InvokeEndpoint: its id no longer sticks to the instance', async () => {
  const first = await invoke('expires', 'NEW_SESSION');
  const id = first.newSessionId!.split(';')[0]!;
  assert.equal(endpoint.holdsSession(id), true);
  const { answer } = await endpoint.stream({ body: Buffer.from('close'), contentType: 'text/plain', sessionId: id });
  let text = '';
  for await (const chunk of answer.chunks) text += Buffer.from(chunk).toString();
  assert.equal(text, first.answeredBy, 'the stream went to the session\'s instance');
  assert.equal(answer.closedSessionId, id);
  assert.equal(endpoint.holdsSession(id), false);
  // Its id routes like any request again: both instances take it.
  const answeredBy = new Set<string>();
  for (let i = 0; i < 6; i++) answeredBy.add((await invoke('hello', id)).answeredBy);
  assert.equal(answeredBy.size, 2);
});

test('an endpoint that remembers as many sessions as it may forgets the expired ones before an open one: the oldest open session still sticks to its instance', async () => {
  const small = new LocalEndpoint('chat-small', [{ name: 'AllTraffic', weight: 1, containers: [], instances: fleet }], { maxSessions: 2 });
  const open = async (body: string) => {
    const { response } = await small.invoke({ body: Buffer.from(body), contentType: 'text/plain', sessionId: 'NEW_SESSION' });
    const [id, expires] = response.newSessionId!.split('; Expires=');
    return { id: id!, answeredBy: response.body.toString(), expiresAt: Date.parse(expires!) };
  };
  const oldest = await open('expires');
  const short = await open('short');
  await until('the short session has expired', () => Date.now() > short.expiresAt + 50);
  // The map is full (two sessions, one expired): the expired one makes room, not the oldest open one.
  const third = await open('expires');
  assert.equal(small.holdsSession(oldest.id), true, 'the oldest open session is still routed');
  assert.equal(small.holdsSession(third.id), true);
  for (let i = 0; i < 6; i++) {
    const { response } = await small.invoke({ body: Buffer.from('hello'), contentType: 'text/plain', sessionId: oldest.id });
    assert.equal(response.body.toString(), oldest.answeredBy);
  }
  // All open: the oldest one makes room, as a bound must.
  await open('expires');
  assert.equal(small.holdsSession(oldest.id), false);
  assert.equal(small.holdsSession(third.id), true);
});

test('a session a container opens in a streamed answer (a body {"requestType": "NEW_SESSION"} in an open session) sticks to its instance, as one opened by InvokeEndpoint does', async () => {
  const first = await invoke('expires', 'NEW_SESSION');
  const id = first.newSessionId!.split(';')[0]!;
  const { answer } = await endpoint.stream({ body: Buffer.from('reopen'), contentType: 'text/plain', sessionId: id });
  let text = '';
  for await (const chunk of answer.chunks) text += Buffer.from(chunk).toString();
  assert.equal(text, first.answeredBy);
  const reopened = answer.newSessionId?.split(';')[0];
  assert.ok(reopened !== undefined && reopened !== id, `the container opened another session: ${answer.newSessionId}`);
  assert.equal(endpoint.holdsSession(reopened), true);
  for (let i = 0; i < 6; i++) assert.equal((await invoke('hello', reopened)).answeredBy, first.answeredBy);
});

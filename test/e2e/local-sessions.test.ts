// Stateful sessions through the local SageMaker with the real SDK clients: a variant of two
// instances (real `smkit serve` children), a handler that counts its session's requests. The
// session opened with SessionId NEW_SESSION sticks to the instance that opened it; its id and
// expiry come back as NewSessionId, its close as ClosedSessionId.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand, UpdateEndpointCommand, waitUntilEndpointInService } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand } from '@aws-sdk/client-sagemaker-runtime';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';
import { localSdkClients, type LocalSdkClients } from '../helpers/local-sdk-clients.js';
import { REPO_ROOT } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';

/** `NewSessionId`'s pattern in the SageMaker Runtime API model. */
const NEW_SESSION_ID = /^[a-zA-Z0-9](-*[a-zA-Z0-9])*;\sExpires=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$/;

const run = promisify(execFile);

/** Snippet that prints `ok` when this Python's boto3 knows `InvokeEndpoint`'s SessionId (botocore from late 2024 on). */
const BOTO3_HAS_SESSIONS = "import boto3; boto3.client('sagemaker-runtime', region_name='us-east-1').meta.service_model.operation_model('InvokeEndpoint').input_shape.members['SessionId']; print('ok')";

/** The first Python on PATH (or Debian's) whose boto3 can send SessionId, or undefined. */
async function pythonWithSessionBoto3(): Promise<string | undefined> {
  for (const python of ['python3', '/usr/bin/python3']) {
    try {
      const { stdout } = await run(python, ['-c', BOTO3_HAS_SESSIONS], { timeout: 30_000 });
      if (stdout.trim() === 'ok') return python;
    } catch {
      // no such Python, no boto3, or one too old for sessions: try the next
    }
  }
  return undefined;
}
const BOTO3_PYTHON = await pythonWithSessionBoto3();

const BOTO3_SESSIONS_SCRIPT = `
import json, sys, boto3, botocore
rt = boto3.client('sagemaker-runtime', endpoint_url=sys.argv[1], region_name='us-east-1', config=botocore.config.Config(retries={'max_attempts': 1}))
def call(body, session=None):
    kw = {} if session is None else {'SessionId': session}
    out = rt.invoke_endpoint(EndpointName='chat', ContentType='text/plain', Body=body, **kw)
    return out, json.loads(out['Body'].read())
first, a = call(b'hello', 'NEW_SESSION')
sid = first['NewSessionId'].split(';')[0]
turns = [call(b'hello', sid)[1] for _ in range(3)]
bye, b = call(b'bye', sid)
errors = {}
for name, session in [('closed', sid), ('long', 'x' * 257), ('slash', 'a/b')]:
    try:
        call(b'hello', session)
        errors[name] = 'no error'
    except botocore.exceptions.ClientError as e:
        errors[name] = e.response['Error']['Code'] + ': ' + e.response['Error']['Message']
print(json.dumps({'new': first['NewSessionId'], 'first': a, 'turns': turns, 'closed': bye.get('ClosedSessionId'), 'bye': b, 'later_new': [k for k in ('NewSessionId', 'ClosedSessionId') if k in rt.invoke_endpoint(EndpointName='chat', ContentType='text/plain', Body=b'x')], 'errors': errors}))
`;

let work: string;
let local: LocalSageMakerHandle;
let clients: LocalSdkClients;

describe('local sessions', () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smkit-sessions-e2e-'));
    local = await startLocalSageMaker({ port: 0, settings: { region: 'us-east-1', accountId: '111122223333' }, startupTimeoutMs: 60_000 });
    clients = localSdkClients(local.url, { runtimeMaxAttempts: 1 });
    await clients.sagemaker.send(
      new CreateModelCommand({
        ModelName: 'chat',
        ExecutionRoleArn: 'arn:aws:iam::111122223333:role/SageMakerRole',
        PrimaryContainer: { ModelDataUrl: join(REPO_ROOT, 'test/fixtures/handlers/session-counter'), Environment: { SAGEMAKER_ENABLE_STATEFUL_SESSIONS: 'true' } },
      }),
    );
    await clients.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'chat', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'chat', InitialInstanceCount: 2, InstanceType: 'ml.m5.large' }] }));
    await clients.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'chat', EndpointConfigName: 'chat' }));
    await waitUntilEndpointInService({ client: clients.sagemaker, minDelay: 1, maxDelay: 1, maxWaitTime: 90 }, { EndpointName: 'chat' });
  });

  after(async () => {
    clients?.destroy();
    await local?.stop();
    await rm(work, { recursive: true, force: true });
  });

  async function invoke(body: string, sessionId?: string) {
    const out = await clients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'chat', ContentType: 'text/plain', Body: Buffer.from(body), ...(sessionId === undefined ? {} : { SessionId: sessionId }) }));
    return { out, answer: JSON.parse(Buffer.from(out.Body!).toString()) as { session: string | null; count?: number; pid: number } };
  }

  test('a session sticks to the instance that opened it; NewSessionId and ClosedSessionId come back', async () => {
    const first = await invoke('hello', 'NEW_SESSION');
    assert.match(first.out.NewSessionId ?? '', NEW_SESSION_ID);
    const id = first.out.NewSessionId!.split(';')[0]!;
    assert.deepEqual([first.answer.session, first.answer.count], [id, 1]);

    // Without a session the two instances share the traffic; with it, every request reaches the one that holds it.
    const plain = new Set<number>();
    for (let i = 0; i < 6; i++) plain.add((await invoke('hello')).answer.pid);
    assert.equal(plain.size, 2, 'requests without a session go to both instances');
    for (let n = 2; n <= 7; n++) {
      const next = await invoke('hello', id);
      assert.deepEqual([next.answer.session, next.answer.count, next.answer.pid], [id, n, first.answer.pid]);
      assert.equal(next.out.NewSessionId, undefined);
    }
    const bye = await invoke('bye', id);
    assert.equal(bye.out.ClosedSessionId, id);
    assert.equal(bye.answer.count, 8);

    // A closed session is the container's to refuse: the client sees a ModelError with its message.
    await assert.rejects(invoke('hello', id), (err: Error & { name: string }) => err.name === 'ModelError' && /ERR_SESSION_NOT_FOUND/.test(err.message));
  });

  test('SessionId is validated as the API model says, and the streaming operation cannot open a session', async () => {
    await assert.rejects(invoke('hello', 'not/a/session'), (err: Error & { name: string }) => err.name === 'ValidationError' && /sessionId.*\^\(NEW_SESSION\)\$/.test(err.message));
    await assert.rejects(invoke('hello', 'x'.repeat(257)), (err: Error & { name: string }) => err.name === 'ValidationError' && /less than or equal to 256/.test(err.message));
    await assert.rejects(
      clients.runtime.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'chat', ContentType: 'text/plain', Body: Buffer.from('hi'), SessionId: 'NEW_SESSION' })),
      // The streaming operation's SessionId is the API model's SessionIdHeader: NEW_SESSION fails its pattern.
      (err: Error & { name: string }) => err.name === 'ValidationError' && /'NEW_SESSION' at 'sessionId'.*pattern: \^\[a-zA-Z0-9\]\(-\*\[a-zA-Z0-9\]\)\*\$$/.test(err.message),
    );
  });

  test('during a blue/green update a session stays on the instance that opened it, on the old fleet or the new', async () => {
    const variant = (count: number) => [{ VariantName: 'AllTraffic', ModelName: 'chat', InitialInstanceCount: count, InstanceType: 'ml.m5.large' as const }];
    await clients.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'bg-blue', ProductionVariants: variant(1) }));
    await clients.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'bg-green', ProductionVariants: variant(2) }));
    await clients.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'bg', EndpointConfigName: 'bg-blue' }));
    await waitUntilEndpointInService({ client: clients.sagemaker, minDelay: 1, maxDelay: 1, maxWaitTime: 90 }, { EndpointName: 'bg' });
    const send = async (body: string, sessionId: string) => {
      const out = await clients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'bg', ContentType: 'text/plain', Body: Buffer.from(body), SessionId: sessionId }));
      return { out, answer: JSON.parse(Buffer.from(out.Body!).toString()) as { session: string; count: number; pid: number } };
    };
    const onBlue = await send('hello', 'NEW_SESSION');
    // A canary of one instance of the new fleet's two: half the traffic goes to the new fleet while it bakes.
    await clients.sagemaker.send(
      new UpdateEndpointCommand({
        EndpointName: 'bg',
        EndpointConfigName: 'bg-green',
        DeploymentConfig: { BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'CANARY', CanarySize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 3600 }, TerminationWaitInSeconds: 0 } },
      }),
    );
    await until('the canary to bake', async () => {
      const d = await clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'bg' }));
      return d.PendingDeploymentSummary?.ProductionVariants?.[0]?.VariantStatus?.[0]?.Status === 'Baking' ? true : undefined;
    }, { timeoutMs: 90_000, intervalMs: 200 });
    // Sessions opened now land on either fleet.
    const opened = [onBlue];
    for (let i = 0; i < 4; i++) opened.push(await send('hello', 'NEW_SESSION'));
    for (const first of opened) {
      const id = first.out.NewSessionId!.split(';')[0]!;
      for (let n = 2; n <= 7; n++) {
        const next = await send('hello', id);
        assert.deepEqual([next.answer.session, next.answer.count, next.answer.pid], [id, n, first.answer.pid]);
      }
    }
  });

  test('once a blue/green update has stopped the old fleet, a session it held is refused by the container (ModelError), and NEW_SESSION opens one on the new fleet', async () => {
    const variant = [{ VariantName: 'AllTraffic', ModelName: 'chat', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const }];
    await clients.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'td-blue', ProductionVariants: variant }));
    await clients.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'td-green', ProductionVariants: variant }));
    await clients.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'td', EndpointConfigName: 'td-blue' }));
    await waitUntilEndpointInService({ client: clients.sagemaker, minDelay: 1, maxDelay: 1, maxWaitTime: 90 }, { EndpointName: 'td' });
    const send = async (sessionId: string) => {
      const out = await clients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'td', ContentType: 'text/plain', Body: Buffer.from('hello'), SessionId: sessionId }));
      return { out, answer: JSON.parse(Buffer.from(out.Body!).toString()) as { session: string; count: number; pid: number } };
    };
    const onBlue = await send('NEW_SESSION');
    const id = onBlue.out.NewSessionId!.split(';')[0]!;
    await clients.sagemaker.send(
      new UpdateEndpointCommand({
        EndpointName: 'td',
        EndpointConfigName: 'td-green',
        DeploymentConfig: { BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 0 }, TerminationWaitInSeconds: 0 } },
      }),
    );
    await until('the new fleet to serve alone', async () => {
      const d = await clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'td' }));
      return d.EndpointStatus === 'InService' && d.EndpointConfigName === 'td-green' ? true : undefined;
    }, { timeoutMs: 90_000, intervalMs: 200 });
    // The instance that held the session is gone: the request goes to the new fleet, whose container
    // answers that the session is not open there, and the client gets that answer as a ModelError.
    await assert.rejects(send(id), (err: Error & { name: string; OriginalStatusCode?: number }) => err.name === 'ModelError' && err.OriginalStatusCode === 400 && /ERR_SESSION_NOT_FOUND/.test(err.message));
    const onGreen = await send('NEW_SESSION');
    assert.notEqual(onGreen.answer.pid, onBlue.answer.pid);
    assert.equal((await send(onGreen.out.NewSessionId!.split(';')[0]!)).answer.count, 2);
  });

  test('boto3 invoke_endpoint(SessionId=...) opens, continues and closes a session on one instance', { skip: BOTO3_PYTHON ? false : 'no python3 with a boto3 that knows SessionId' }, async () => {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, AWS_ACCESS_KEY_ID: 'AKIDLOCAL', AWS_SECRET_ACCESS_KEY: 'local', AWS_EC2_METADATA_DISABLED: 'true' };
    const { stdout } = await run(BOTO3_PYTHON!, ['-c', BOTO3_SESSIONS_SCRIPT, local.url], { env, timeout: 120_000 });
    const seen = JSON.parse(stdout) as {
      new: string;
      first: { session: string; count: number; pid: number };
      turns: { session: string; count: number; pid: number }[];
      closed?: string;
      bye: { count: number; pid: number };
      later_new: string[];
      errors: Record<string, string>;
    };
    assert.match(seen.new, NEW_SESSION_ID, 'boto3 reads NewSessionId from X-Amzn-SageMaker-New-Session-Id');
    const id = seen.new.split(';')[0]!;
    assert.deepEqual([seen.first.session, seen.first.count], [id, 1]);
    assert.deepEqual(
      seen.turns.map((t) => [t.session, t.count, t.pid]),
      [2, 3, 4].map((n) => [id, n, seen.first.pid]),
      'every turn reached the instance that opened the session',
    );
    assert.equal(seen.closed, id, 'boto3 reads ClosedSessionId');
    assert.deepEqual([seen.bye.count, seen.bye.pid], [5, seen.first.pid]);
    assert.deepEqual(seen.later_new, [], 'an answer outside a session carries neither header');
    assert.match(seen.errors['closed']!, /^ModelError: .*ERR_SESSION_NOT_FOUND/);
    assert.match(seen.errors['long']!, /^ValidationError: .*less than or equal to 256/);
    assert.match(seen.errors['slash']!, /^ValidationError: .*\^\(NEW_SESSION\)\$/);
  });
});

// The fleet's health handling with real sockets and ports (FakeBackend: only the model server is
// replaced): dead instances leave rotation at once, replacements start through the same launcher
// with a growing backoff, and stopping or shrinking cancels replacements without leaving anything running.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { until } from '../../../test/helpers/until.js';
import { ToolkitError } from '../../errors/catalogue.js';
import type { BackoffPolicy } from '../../core/restart-backoff.js';
import { Fleet } from './fleet.js';
import { instanceHealthy, instanceLauncher, InstanceStartError, type ContainerTemplate } from './instance-launcher.js';

let dir: string;
describe('fleet', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-fleet-test-'));
    await mkdir(join(dir, 'model'));
    await writeFile(join(dir, 'model', 'weights.bin'), 'w');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  interface Line {
    level: string;
    msg: string;
    fields: Record<string, unknown>;
  }

  let fleets = 0;
  /** A fleet of `FakeBackend` instances (one container each, or a pipeline of `hosts`) and the lines it logs. */
  function makeFleet(backoff: BackoffPolicy, hosts: string[] = ['primary']): { fleet: Fleet; backend: FakeBackend; lines: Line[]; prefix: string } {
    const backend = new FakeBackend();
    const lines: Line[] = [];
    const prefix = `ep${++fleets}/cfg/AllTraffic`;
    const templates: ContainerTemplate[] = hosts.map((hostname) => ({ hostname, env: {}, modelSource: join(dir, 'model'), mode: 'SingleModel' }));
    const launch = instanceLauncher({ backend, workDir: join(dir, 'instances'), logsDir: join(dir, 'logs'), startupTimeoutMs: 60_000 }, prefix, templates);
    const fleet = new Fleet('AllTraffic', launch, { backoff, log: (level, msg, fields) => lines.push({ level, msg, fields }) });
    return { fleet, backend, lines, prefix };
  }

  /** Deadline and pace of every wait in this file. */
  const POLL = { timeoutMs: 30_000, intervalMs: 20 };

  /** The instance id (`.../i<n>`) each of `n` leases goes to. */
  function leaseTargets(fleet: Fleet, n: number): string[] {
    const leases = Array.from({ length: n }, () => fleet.acquire());
    const urls = leases.map((l) => l.containers[0]!.url);
    for (const l of leases) l.release();
    return urls;
  }

  const QUICK: BackoffPolicy = { baseMs: 20, maxMs: 1_000, healthyMs: 60_000 };

  test('a dead instance leaves rotation at once, the rest of its pipeline stops, and a replacement joins once it passes /ping', async () => {
    const { fleet, backend, lines, prefix } = makeFleet(QUICK, ['first', 'second']);
    try {
      await fleet.scaleTo(2);
      assert.equal(backend.running, 4);
      const survivorUrl = fleet.acquire();
      survivorUrl.release();
      const i1 = backend.started.find((s) => s.id === `${prefix}/i1/first`)!;
      backend.readyAfterMs = 60_000; // the replacement stays unready until the assertions below ran
      backend.crash(`${prefix}/i0/first`);
      await until('the dead instance to leave rotation', () => fleet.size === 1, POLL);
      assert.equal(fleet.replacements, 1);
      assert.deepEqual(new Set(leaseTargets(fleet, 4)), new Set([`http://127.0.0.1:${i1.port}`]), 'every request goes to the surviving instance');
      await until('the dead instance\'s other container to stop', () => backend.stopped.includes(`${prefix}/i0/second`), POLL);
      const died = lines.find((l) => l.msg.startsWith('instance died'));
      assert.deepEqual(died && { level: died.level, instance: died.fields.instance, container: died.fields.container, exit: died.fields.exit, inService: died.fields.inService }, {
        level: 'warn',
        instance: `${prefix}/i0`,
        container: 'first',
        exit: 'signal SIGKILL',
        inService: 1,
      });
      // The replacement (i2) is started but not yet healthy: not in rotation.
      await until('the replacement to start', () => backend.started.some((s) => s.id === `${prefix}/i2/first`), POLL);
      assert.equal(fleet.size, 1);
    } finally {
      backend.readyAfterMs = undefined;
      await fleet.stop();
    }
    assert.equal(backend.running, 0, 'stopping the fleet stopped the replacement that was still starting');
  });

  test('a replacement joins rotation once healthy and takes requests', async () => {
    const { fleet, backend, lines, prefix } = makeFleet(QUICK);
    try {
      await fleet.scaleTo(2);
      backend.crash(`${prefix}/i0/primary`);
      await until('the replacement to join', () => lines.some((l) => l.msg === 'replacement instance in service'), POLL);
      assert.deepEqual([fleet.size, fleet.replacements], [2, 0]);
      const i2 = backend.started.find((s) => s.id === `${prefix}/i2/primary`)!;
      assert.ok(leaseTargets(fleet, 4).includes(`http://127.0.0.1:${i2.port}`), 'the replacement gets requests');
      assert.equal(backend.running, 2);
      const joined = lines.find((l) => l.msg === 'replacement instance in service');
      assert.deepEqual(joined && [joined.fields.instance, joined.fields.replaces, joined.fields.inService], [`${prefix}/i2`, `${prefix}/i0`, 2]);
    } finally {
      await fleet.stop();
    }
    assert.equal(backend.running, 0);
  });

  test('with every instance dead, acquire fails with ERR_NO_INSTANCE_IN_SERVICE (503) while the replacement starts', async () => {
    const { fleet, backend, prefix } = makeFleet(QUICK);
    try {
      await fleet.scaleTo(1);
      backend.readyAfterMs = 60_000;
      backend.crash(`${prefix}/i0/primary`);
      await until('the instance to leave rotation', () => fleet.size === 0, POLL);
      assert.throws(
        () => fleet.acquire(),
        (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_NO_INSTANCE_IN_SERVICE' && err.status === 503 && /AllTraffic has no healthy instance in service; 1 replacement instance is starting/.test(err.message),
      );
    } finally {
      backend.readyAfterMs = undefined;
      await fleet.stop();
    }
    assert.equal(backend.running, 0);
  });

  test('a replacement that keeps failing is retried with a doubling delay, then joins once it starts', async () => {
    const { fleet, backend, lines, prefix } = makeFleet({ baseMs: 10, maxMs: 80, healthyMs: 60_000 });
    try {
      await fleet.scaleTo(1);
      backend.failStarts = true;
      backend.crash(`${prefix}/i0/primary`);
      const retries = await until('four failed replacements', () => {
        const r = lines.filter((l) => l.msg.startsWith('replacement instance did not start'));
        return r.length >= 4 ? r : undefined;
      }, POLL);
      assert.deepEqual(retries.slice(0, 4).map((l) => l.fields.retryInMs), [20, 40, 80, 80]);
      assert.match(String(retries[0]!.fields.error), /primary: exited \(code 1\) before \/ping answered 200/);
      backend.failStarts = false;
      await until('a replacement to join', () => lines.some((l) => l.msg === 'replacement instance in service'), POLL);
      assert.equal(fleet.size, 1);
      assert.equal(backend.running, 1);
    } finally {
      backend.failStarts = false;
      await fleet.stop();
    }
    assert.equal(backend.running, 0);
  });

  test('scaling counts replacements on the way: growing to the same size starts nothing, shrinking cancels them', async () => {
    const { fleet, backend, prefix } = makeFleet(QUICK);
    try {
      await fleet.scaleTo(2);
      backend.readyAfterMs = 60_000;
      backend.crash(`${prefix}/i0/primary`);
      await until('the replacement to start', () => backend.started.some((s) => s.id === `${prefix}/i2/primary`), POLL);
      const startedBefore = backend.started.length;
      await fleet.scaleTo(2);
      assert.equal(backend.started.length, startedBefore, 'the replacement already counts toward two');
      await fleet.scaleTo(1);
      assert.equal(fleet.replacements, 0);
      assert.equal(fleet.size, 1);
      assert.deepEqual(backend.runningIds, [`${prefix}/i1/primary`], 'the cancelled replacement was stopped');
    } finally {
      backend.readyAfterMs = undefined;
      await fleet.stop();
    }
    assert.equal(backend.running, 0);
  });

  test('stopping the fleet while a replacement waits out its backoff starts nothing more', async () => {
    const { fleet, backend, prefix } = makeFleet({ baseMs: 600_000, maxMs: 600_000, healthyMs: 60_000 });
    await fleet.scaleTo(1);
    backend.crash(`${prefix}/i0/primary`);
    await until('the replacement to be scheduled', () => fleet.replacements === 1, POLL);
    const startedBefore = backend.started.length;
    await fleet.stop();
    assert.equal(fleet.replacements, 0);
    assert.equal(backend.started.length, startedBefore);
    assert.equal(backend.running, 0);
    await assert.rejects(fleet.scaleTo(1), /fleet is stopped/);
  });

  test('stopping the fleet while instances start (a serverless cold start, a scale-out) cuts the starts short and resolves only once their containers have stopped', async () => {
    const { fleet, backend } = makeFleet(QUICK);
    // The containers start but never pass /ping, so both starts are still under way when the stop begins.
    backend.readyAfterMs = 600_000;
    const adding = fleet.addInstance();
    const growing = fleet.scaleTo(1);
    adding.catch(() => {});
    growing.catch(() => {});
    await until('both instances started their containers', () => backend.running === 2, POLL);
    await fleet.stop();
    assert.equal(backend.running, 0, `containers left running: ${backend.runningIds.join(', ')}`);
    await assert.rejects(adding, (err: ToolkitError) => err.code === 'ERR_NO_INSTANCE_IN_SERVICE');
    await assert.rejects(growing, /the fleet is stopped and cannot grow/);
  });

  test('health checks: an instance that fails them 3 times in a row is stopped and replaced; a passing one stays', async () => {
    const backend = new FakeBackend();
    const lines: Line[] = [];
    const prefix = `ep${++fleets}/cfg/AllTraffic`;
    const launch = instanceLauncher({ backend, workDir: join(dir, 'instances'), logsDir: join(dir, 'logs'), startupTimeoutMs: 60_000 }, prefix, [{ hostname: 'primary', env: {}, modelSource: join(dir, 'model'), mode: 'SingleModel' }]);
    const fleet = new Fleet('AllTraffic', launch, { backoff: QUICK, health: { probe: instanceHealthy, intervalMs: 20 }, log: (level, msg, fields) => lines.push({ level, msg, fields }) });
    try {
      await fleet.scaleTo(2);
      backend.unhealthy.add(`${prefix}/i0/primary`);
      await until('the replacement to join', () => lines.some((l) => l.msg === 'replacement instance in service'), POLL);
      const evicted = lines.filter((l) => l.msg.startsWith('instance failed its health checks'));
      assert.deepEqual(evicted.map((l) => [l.level, l.fields.instance, l.fields.failedChecks]), [['warn', `${prefix}/i0`, 3]]);
      assert.ok(backend.stopped.includes(`${prefix}/i0/primary`), 'the unhealthy instance was stopped');
      assert.deepEqual(backend.runningIds.sort(), [`${prefix}/i1/primary`, `${prefix}/i2/primary`]);
      assert.equal(fleet.size, 2);
    } finally {
      await fleet.stop();
    }
    assert.equal(backend.running, 0);
  });

  test('an instance whose container does not answer /ping in time fails to start with a reason that says so once, for the FailureReason around it', async () => {
    const backend = new FakeBackend();
    const template = { hostname: 'primary', env: { FAKE_READY_AFTER_MS: '600000' }, modelSource: join(dir, 'model'), mode: 'SingleModel' as const };
    const launch = instanceLauncher({ backend, workDir: join(dir, 'instances'), logsDir: join(dir, 'logs'), startupTimeoutMs: 1_000 }, `ep${++fleets}/cfg/AllTraffic`, [template]);
    await assert.rejects(launch(0, new AbortController().signal), (err: InstanceStartError) => {
      assert.equal(err.name, 'InstanceStartError');
      // The deployment words it "did not pass the ping health check: it <reason>".
      assert.equal(err.reason, 'did not answer /ping with 200 within 1 s');
      return true;
    });
    assert.equal(backend.running, 0);
  });

  test('an instance whose container says on /ping that its model failed to load fails with a reason that reads after "it", for the FailureReason around it', async () => {
    const backend = new FakeBackend();
    const template = { hostname: 'primary', env: { FAKE_PING: 'unhealthy' }, modelSource: join(dir, 'model'), mode: 'SingleModel' as const };
    const launch = instanceLauncher({ backend, workDir: join(dir, 'instances'), logsDir: join(dir, 'logs'), startupTimeoutMs: 60_000 }, `ep${++fleets}/cfg/AllTraffic`, [template]);
    await assert.rejects(launch(0, new AbortController().signal), (err: InstanceStartError) => {
      assert.equal(err.name, 'InstanceStartError');
      // The deployment words it "did not pass the ping health check: it <reason>": "it model failed to load" before.
      assert.equal(err.reason, 'answered /ping with 503: model failed to load: no such file model.onnx');
      return true;
    });
    assert.equal(backend.running, 0);
  });

  test('a pipeline instance fails as soon as one of its containers does: the others\' /ping waits are cut short, not waited for to their deadline, and every container is stopped', { timeout: 30_000 }, async () => {
    const backend = new FakeBackend();
    const slow = { hostname: 'slow', env: { FAKE_READY_AFTER_MS: '600000' }, modelSource: join(dir, 'model'), mode: 'SingleModel' as const };
    const broken = { hostname: 'broken', env: { FAKE_PING: 'fail' }, modelSource: join(dir, 'model'), mode: 'SingleModel' as const };
    // A deadline no test waits for: before, the instance failed only once the slow container's ran out.
    const launch = instanceLauncher({ backend, workDir: join(dir, 'instances'), logsDir: join(dir, 'logs'), startupTimeoutMs: 600_000 }, `ep${++fleets}/cfg/AllTraffic`, [slow, broken]);
    await assert.rejects(launch(0, new AbortController().signal), (err: InstanceStartError) => {
      assert.equal(err.name, 'InstanceStartError');
      assert.equal(err.hostname, 'broken');
      return true;
    });
    assert.equal(backend.running, 0);
  });

  test('health checks: failures that do not come 3 in a row replace nothing', async () => {
    const backend = new FakeBackend();
    const lines: Line[] = [];
    const launch = instanceLauncher({ backend, workDir: join(dir, 'instances'), logsDir: join(dir, 'logs'), startupTimeoutMs: 60_000 }, `ep${++fleets}/cfg/AllTraffic`, [{ hostname: 'primary', env: {}, modelSource: join(dir, 'model'), mode: 'SingleModel' }]);
    let probes = 0;
    // Two failures, a pass, two failures, a pass, ...
    const probe = async (): Promise<boolean> => ++probes % 3 === 0;
    const fleet = new Fleet('AllTraffic', launch, { backoff: QUICK, health: { probe, intervalMs: 10 }, log: (level, msg, fields) => lines.push({ level, msg, fields }) });
    try {
      await fleet.scaleTo(1);
      await until('a dozen health checks', () => probes >= 12, POLL);
      assert.deepEqual(lines, []);
      assert.equal(fleet.size, 1);
    } finally {
      await fleet.stop();
    }
  });

  test('a fleet scaled to 0 (an asynchronous endpoint) stops every instance, lends none, and grows again from 0', async () => {
    const { fleet, backend } = makeFleet(QUICK);
    try {
      await fleet.scaleTo(2);
      const lease = fleet.acquire();
      // The instance lent out drains before it stops; the other stops at once.
      const shrinking = fleet.scaleTo(0);
      assert.equal(fleet.size, 0);
      assert.throws(() => fleet.acquire(), (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_NO_INSTANCE_IN_SERVICE');
      lease.release();
      await shrinking;
      assert.deepEqual([backend.running, fleet.containers.length, fleet.inFlight], [0, 0, 0]);
      await fleet.scaleTo(1);
      assert.equal(fleet.size, 1);
      assert.equal(backend.running, 1);
      fleet.acquire().release();
    } finally {
      await fleet.stop();
    }
    assert.equal(backend.running, 0);
  });

  test('of equally busy instances the one whose chain holds the model is lent; a busier one that holds it loses to an idle one that does not', async () => {
    const { fleet, prefix } = makeFleet(QUICK);
    try {
      await fleet.scaleTo(2);
      const first = fleet.acquire();
      const holder = first.instance!;
      first.release();
      const holds = (chain: readonly { url: string }[]) => chain[0]!.url === first.containers[0]!.url;
      // Rotation alone would alternate; the instance holding the model keeps getting it while idle.
      const lent: (string | undefined)[] = [];
      for (let i = 0; i < 3; i++) {
        const l = fleet.acquire(undefined, holds);
        lent.push(l.instance);
        l.release();
      }
      assert.deepEqual(lent, [holder, holder, holder]);
      const busy = fleet.acquire(undefined, holds);
      const spill = fleet.acquire(undefined, holds);
      busy.release();
      spill.release();
      assert.equal(busy.instance, holder);
      assert.ok(spill.instance?.startsWith(`${prefix}/`) && spill.instance !== holder, 'with the holder busy, the idle instance takes the request');
    } finally {
      await fleet.stop();
    }
  });
  /** `promise`'s outcome, or 'still waiting' after `ms`: a regression fails instead of hanging. */
  function within<T>(promise: Promise<T>, ms: number): Promise<T | 'still waiting'> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'still waiting'>((resolve) => (timer = setTimeout(resolve, ms, 'still waiting')));
    return Promise.race([promise, late]).finally(() => clearTimeout(timer));
  }

  test('stopping the fleet stops an instance whose request never ends once its stop grace is out, also one a scale-in left draining for it, and the late release is harmless', async () => {
    const backend = new FakeBackend();
    const prefix = `ep${++fleets}/cfg/AllTraffic`;
    const launch = instanceLauncher({ backend, workDir: join(dir, 'instances'), logsDir: join(dir, 'logs'), startupTimeoutMs: 60_000 }, prefix, [{ hostname: 'primary', env: {}, modelSource: join(dir, 'model'), mode: 'SingleModel' }]);
    const fleet = new Fleet('AllTraffic', launch, { backoff: QUICK, stopGraceMs: 200 });
    await fleet.scaleTo(3);
    // Leases never released (an asynchronous invocation may run an hour): one on each instance.
    const leases = [fleet.acquire(), fleet.acquire(), fleet.acquire()];
    assert.equal(new Set(leases.map((l) => l.instance)).size, 3);
    // A scale-in leaves one instance draining for its request, however long it runs...
    const shrinking = fleet.scaleTo(2);
    await until('a scale-in drains an instance', () => (fleet.size === 2 ? true : undefined), POLL);
    const stopped = fleet.stop().then(() => 'stopped' as const);
    assert.equal(await within(stopped, 30_000), 'stopped', "the fleet's stop waited for requests in flight beyond its stop grace");
    assert.equal(await within(shrinking.then(() => 'shrunk' as const), 30_000), 'shrunk', 'the scale-in still waits for its instance');
    assert.equal(backend.running, 0, 'an instance was left running after the stop');
    for (const l of leases) l.release();
    assert.equal(fleet.inFlight, 0);
  });
  test('stopping the fleet with waitForRequests (an update retiring its old fleet) lets a request in flight run past the stop grace, and stops its instance once it ends', async () => {
    const backend = new FakeBackend();
    const prefix = `ep${++fleets}/cfg/AllTraffic`;
    const launch = instanceLauncher({ backend, workDir: join(dir, 'instances'), logsDir: join(dir, 'logs'), startupTimeoutMs: 60_000 }, prefix, [{ hostname: 'primary', env: {}, modelSource: join(dir, 'model'), mode: 'SingleModel' }]);
    const fleet = new Fleet('AllTraffic', launch, { backoff: QUICK, stopGraceMs: 200 });
    await fleet.scaleTo(2);
    const busy = fleet.acquire();
    const stopped = fleet.stop({ waitForRequests: true }).then(() => 'stopped' as const);
    await until('the idle instance stopped', () => (backend.running === 1 ? true : undefined), POLL);
    // Five stop graces on: a bounded drain would have stopped the busy instance by now.
    assert.equal(await within(stopped, 1_000), 'still waiting', 'the stop cut a request in flight of a fleet an update retires');
    assert.equal(backend.running, 1);
    busy.release();
    assert.equal(await within(stopped, 30_000), 'stopped');
    assert.equal(backend.running, 0);
  });
});

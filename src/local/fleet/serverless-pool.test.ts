// A serverless variant's pool over a real Fleet of FakeBackend instances (real sockets; only the
// model server is replaced). Leases are held and released by the test, so concurrency is exact.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { until } from '../../../test/helpers/until.js';
import type { InstanceLease } from '../endpoint/local-endpoint.js';
import { Fleet } from './fleet.js';
import { instanceLauncher } from './instance-launcher.js';
import { ServerlessNotReadyError, ServerlessPool, ServerlessThrottlingError, type ServerlessPoolOptions } from './serverless-pool.js';

let dir: string;
describe('serverless pool', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-serverless-pool-'));
    await mkdir(join(dir, 'model'));
    await writeFile(join(dir, 'model', 'weights.bin'), 'w');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  let pools = 0;
  /**
   * A pool whose every lease is also released by `stop()`: a failing test leaves nothing in flight,
   * so stopping the pool (which waits for in-flight requests) cannot hang.
   */
  function makePool(opts: Partial<ServerlessPoolOptions> = {}, signal?: AbortSignal): { pool: ServerlessPool; backend: FakeBackend; coldStarts: number[]; stop(): Promise<void> } {
    const backend = new FakeBackend();
    const coldStarts: number[] = [];
    const launch = instanceLauncher({ backend, workDir: join(dir, 'instances'), logsDir: join(dir, 'logs'), startupTimeoutMs: 30_000, ...(signal ? { signal } : {}) }, `sl${++pools}/cfg/AllTraffic`, [
      { hostname: 'primary', env: {}, modelSource: join(dir, 'model'), mode: 'SingleModel' },
    ]);
    const pool = new ServerlessPool(new Fleet('AllTraffic', launch), { maxConcurrency: 2, provisioned: 0, idleMs: 60_000, onColdStart: (ms) => coldStarts.push(ms), ...opts });
    const leases: InstanceLease[] = [];
    const acquire = pool.acquire.bind(pool);
    pool.acquire = async (preferred?: string) => {
      const lease = await acquire(preferred);
      leases.push(lease);
      return lease;
    };
    return {
      pool,
      backend,
      coldStarts,
      async stop() {
        for (const l of leases) l.release();
        await pool.stop();
      },
    };
  }

  const POLL = { timeoutMs: 30_000, intervalMs: 20 };

  test('a cold start per concurrent request, warm reuse after, throttled beyond MaxConcurrency', async () => {
    const { pool, backend, coldStarts, stop } = makePool();
    try {
      assert.equal(pool.size, 0);
      // Two at once with nothing running: each starts its own instance, neither shares.
      const [a, b] = await Promise.all([pool.acquire(), pool.acquire()]);
      assert.equal(backend.started.length, 2);
      assert.equal(coldStarts.length, 2);
      assert.notEqual(a.instance, b.instance, 'one instance per concurrent invocation');
      assert.equal(pool.concurrency, 2);
      await assert.rejects(pool.acquire(), (err: unknown) => err instanceof ServerlessThrottlingError && /MaxConcurrency of 2/.test(err.message));
      assert.equal(pool.concurrency, 2, 'the throttled request holds no slot');
      a.release();
      a.release();
      assert.equal(pool.concurrency, 1, 'a second release changes nothing');
      const c = await pool.acquire();
      assert.equal(c.instance, a.instance, 'the idle warm instance serves the next request');
      assert.equal(backend.started.length, 2, 'no new instance');
      b.release();
      c.release();
    } finally {
      await stop();
    }
    assert.equal(backend.running, 0);
  });

  test('at the local instance limit requests share the running instances; with none they are throttled', async () => {
    let room = true;
    const { pool, backend, stop } = makePool({ canStart: () => room, maxConcurrency: 3 });
    try {
      room = false;
      await assert.rejects(pool.acquire(), (err: unknown) => err instanceof ServerlessThrottlingError && /SMKIT_LOCAL_MAX_INSTANCES/.test(err.message));
      assert.equal(pool.concurrency, 0);
      room = true;
      const a = await pool.acquire();
      room = false;
      const b = await pool.acquire();
      assert.equal(b.instance, a.instance, 'shared the one running instance');
      assert.equal(backend.started.length, 1);
      a.release();
      b.release();
    } finally {
      await stop();
    }
  });

  // Each instance answers /ping 5 s after it starts, far past the 50 ms a request waits for it
  // (readyWithinMs): a timer due first, whatever the load, so no request gets the instance in time.
  test('a cold start outlasting readyWithinMs is a ServerlessNotReadyError holding no slot; the next request waits for that start (no second one), MaxConcurrency throttling before it; one nobody claims joins the idle instances and retires', async () => {
    const { pool, backend, stop } = makePool({ maxConcurrency: 1, readyWithinMs: 50 });
    backend.readyAfterMs = 5_000;
    try {
      await assert.rejects(pool.acquire(), (err: unknown) => err instanceof ServerlessNotReadyError && /still being provisioned after 0\.05 s; it goes on starting/.test(err.message));
      assert.equal(pool.concurrency, 0, 'the request answered not-ready holds no slot');
      // The start goes on (its container may not be launched yet: the fleet's count is what is exact).
      assert.equal(pool.fleet.starting, 1);
      const waiting = pool.acquire();
      // MaxConcurrency (1) is taken by the request waiting for the start: throttled, as the service throttles first.
      await assert.rejects(pool.acquire(), ServerlessThrottlingError);
      await assert.rejects(waiting, ServerlessNotReadyError);
      assert.equal(pool.fleet.starting, 1, 'the second request waited for the first start, starting no other');
      assert.equal(pool.concurrency, 0);
      // Nobody claims it: once up, it is idle (not held in flight), so the idle sweep can retire it.
      await until('the unclaimed instance to join, idle', () => pool.size === 1 && pool.fleet.idle === 1, POLL);
      assert.equal(backend.started.length, 1, 'one container ever started');
      assert.equal(pool.fleet.retireIdle(0, 0), 1);
      await until('the retired instance to stop', () => backend.running === 0, POLL);
    } finally {
      await stop();
    }
  });

  test('stopping the pool while a start nobody waits for any more is under way stops that start too: no instance left running', async () => {
    const { pool, backend, stop } = makePool({ readyWithinMs: 50 });
    backend.readyAfterMs = 3_000;
    await assert.rejects(pool.acquire(), ServerlessNotReadyError);
    await until('the container started', () => backend.running === 1, POLL);
    await stop();
    assert.equal(backend.running, 0);
    assert.equal(pool.size, 0);
  });

  test('idle instances above ProvisionedConcurrency stop; the provisioned ones stay', async () => {
    const { pool, backend, stop } = makePool({ provisioned: 1, idleMs: 50 });
    try {
      const [a, b] = await Promise.all([pool.acquire(), pool.acquire()]);
      assert.equal(pool.size, 2);
      a.release();
      b.release();
      await until('the instance above provisioned concurrency to stop', () => pool.size === 1 && backend.running === 1, POLL);
    } finally {
      await stop();
    }
    assert.equal(backend.running, 0);
  });

  test('more than ten concurrent cold starts are not reported as a listener leak on the signals every start shares, and leave no listener behind', async () => {
    // The deployment's signal, which every start of its instances listens to, as the fleet's own does.
    const deployment = new AbortController();
    const { pool, backend, stop } = makePool({ maxConcurrency: 12 }, deployment.signal);
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const leases = await Promise.all(Array.from({ length: 12 }, () => pool.acquire()));
      assert.equal(backend.started.length, 12, 'a cold start per concurrent request');
      assert.equal(getEventListeners(deployment.signal, 'abort').length, 0, 'each start stopped listening once its instance joined');
      for (const lease of leases) lease.release();
      // Node emits the warning on the next tick after the listener that passed the limit.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings.map((w) => w.message), []);
    } finally {
      process.off('warning', onWarning);
      await stop();
    }
  });
});

// LocalEndpoint against a real HTTP container: a shadow variant with no instance in service (its
// instances died and are being replaced) skips its copy; the production answer is unaffected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ToolkitError } from '../../errors/catalogue.js';
import { LocalEndpoint, type InstancePool } from './local-endpoint.js';
import type { InvocationRecord } from '../control-plane/invocation-metrics.js';

test('a shadow variant with no instance in service skips its copy; production answers and its instance is released', async () => {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let inFlight = 0;
  const production: InstancePool = {
    size: 1,
    acquire: () => {
      inFlight += 1;
      return { containers: [{ hostname: 'primary', url, logFile: '/dev/null' }], release: () => (inFlight -= 1) };
    },
  };
  const emptyShadow: InstancePool = {
    size: 0,
    acquire: () => {
      throw new ToolkitError('ERR_NO_INSTANCE_IN_SERVICE', 'Variant Shadow has no healthy instance in service. Try your call again.');
    },
  };
  const logged: Array<{ msg: string; fields: Record<string, unknown> }> = [];
  const endpoint = new LocalEndpoint('ep', [{ name: 'Prod', weight: 1, containers: [], instances: production }], {
    shadow: { name: 'Shadow', weight: 1, containers: [], instances: emptyShadow },
    log: (_level, msg, fields) => logged.push({ msg, fields }),
  });
  try {
    const { variant, response } = await endpoint.invoke({ body: Buffer.from('[1]'), contentType: 'application/json' });
    assert.equal(variant, 'Prod');
    assert.equal(response.body.toString(), '{"ok":true}');
    assert.equal(inFlight, 0, 'the production instance was released');
    assert.deepEqual(endpoint.shadowStats, { requests: 1, compared: 0, differing: 0, shadowErrors: 1 });
    assert.equal(logged[0]?.msg, 'shadow variant failed');
    assert.match(String(logged[0]?.fields.error), /no healthy instance in service/);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('routing by weight skips a variant with 0 instances while another has some; with none anywhere the weights stand', () => {
  const pool = (size: number): InstancePool => ({ size, acquire: () => ({ containers: [], release: () => {} }) });
  const variants = [
    { name: 'Zero', weight: 9, containers: [], instances: pool(0) },
    { name: 'One', weight: 1, containers: [], instances: pool(1) },
  ];
  let r = 0;
  const endpoint = new LocalEndpoint('ep', variants, { random: () => (r = (r + 0.137) % 1) });
  const picked = new Set(Array.from({ length: 50 }, () => endpoint.route().name));
  assert.deepEqual([...picked], ['One']);
  const empty = new LocalEndpoint('ep', [variants[0]!, { ...variants[1]!, instances: pool(0) }], { random: () => 0 });
  assert.equal(empty.route().name, 'Zero');
  assert.equal(endpoint.route('Zero').name, 'Zero', 'a TargetVariant is honoured');
});

test('routing by weight takes weights relative to each other at any size: two variants of 1e308 (summing past Number.MAX_VALUE) get half the traffic each', () => {
  const pool: InstancePool = { size: 1, acquire: () => ({ containers: [], release: () => {} }) };
  for (const weights of [[1e308, 1e308], [Number.MAX_VALUE, Number.MAX_VALUE, Number.MAX_VALUE], [5e-324, 5e-324], [1e308, 0, 1e308]]) {
    const variants = weights.map((weight, i) => ({ name: `V${i}`, weight, containers: [], instances: pool }));
    // An even grid of the random source over [0, 1): each variant of weight takes its share of it.
    const steps = 1200;
    let i = 0;
    const endpoint = new LocalEndpoint('ep', variants, { random: () => i++ / steps });
    const counts = new Map<string, number>();
    for (let n = 0; n < steps; n++) {
      const name = endpoint.route().name;
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    const weighted = weights.filter((w) => w > 0).length;
    for (const [k, w] of weights.entries()) {
      const got = counts.get(`V${k}`) ?? 0;
      if (w === 0) assert.equal(got, 0, `weights ${weights}: V${k} has weight 0`);
      else assert.ok(Math.abs(got - steps / weighted) <= 1, `weights ${weights}: V${k} got ${got} of ${steps}`);
    }
  }
});

test("InvocationModelErrors counts what a container answered (a 4xx, no answer), not a request refused before any container answered (a TargetModel on a single-model endpoint)", async () => {
  // Before, every 4xx or 5xx outcome counted: a TargetModel or TargetContainerHostname the variant
  // cannot serve, or a model still loading, raised an alarm on the model's errors.
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(400, { 'content-type': 'text/plain' }).end('bad input'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((r) => closed.close(() => r()));
  const records: InvocationRecord[] = [];
  const pool = (containerUrl: string): InstancePool => ({ size: 1, acquire: () => ({ containers: [{ hostname: 'primary', url: containerUrl, logFile: '/dev/null' }], release: () => {} }) });
  const endpoint = new LocalEndpoint(
    'ep',
    [
      { name: 'Answers400', weight: 1, containers: [], instances: pool(url) },
      { name: 'Gone', weight: 0, containers: [], instances: pool(closedUrl) },
    ],
    { metrics: { record: (r) => records.push(r) } },
  );
  try {
    const body = Buffer.from('[1]');
    await assert.rejects(endpoint.invoke({ body, contentType: 'application/json', targetVariant: 'Answers400' }));
    await assert.rejects(endpoint.invoke({ body, contentType: 'application/json', targetVariant: 'Gone' }));
    await assert.rejects(endpoint.invoke({ body, contentType: 'application/json', targetVariant: 'Answers400', targetModel: 'a.tar.gz' }), /not a multi-model endpoint/);
    assert.deepEqual(
      records.map((r) => [r.variant, r.outcome, r.modelError === true]),
      [
        ['Answers400', '4xx', true],
        ['Gone', '5xx', true],
        ['Answers400', '4xx', false],
      ],
    );
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('a full session map whose sessions expire one by one as new ones open is not read whole on each open, and forgets only expired ones', (t) => {
  // Each open after the first expiry would otherwise read all the sessions remembered to drop the
  // one that expired since: 100 000 entries per new session at the real bound.
  const N = 2_000;
  const base = Date.UTC(2030, 0, 1);
  let now = base;
  t.mock.method(Date, 'now', () => now);
  const endpoint = new LocalEndpoint('ep', [{ name: 'Prod', weight: 1, containers: [], instances: { size: 0, acquire: () => { throw new Error('unused'); } } }], { maxSessions: N });
  /** Map entries read by iterating the session map. */
  let read = 0;
  class CountingMap<K, V> extends Map<K, V> {
    override entries(): MapIterator<[K, V]> {
      return counted(super.entries());
    }
    override keys(): MapIterator<K> {
      return counted(super.keys());
    }
    override values(): MapIterator<V> {
      return counted(super.values());
    }
    override [Symbol.iterator](): MapIterator<[K, V]> {
      return counted(super.entries());
    }
    override forEach(fn: (value: V, key: K, map: Map<K, V>) => void): void {
      for (const [k, v] of this) fn(v, k, this);
    }
  }
  function counted<T>(it: MapIterator<T>): MapIterator<T> {
    const next = it.next.bind(it);
    return Object.assign(it, { next: () => (read++, next()) });
  }
  const internal = endpoint as unknown as {
    sessions: Map<string, unknown>;
    expiries: unknown[];
    noteSessions(response: { newSessionId?: string; closedSessionId?: string }, variant: string, instance: string | undefined): void;
  };
  internal.sessions = new CountingMap();
  const open = (id: string, expiresAt: number) => internal.noteSessions({ newSessionId: `${id}; Expires=${new Date(expiresAt).toISOString()}` }, 'Prod', undefined);
  // Full: session i expires at base + (i + 1) s.
  for (let i = 0; i < N; i++) open(`old${i}`, base + (i + 1) * 1000);
  // One expires per second; a new one (open an hour) opens each second.
  for (let k = 0; k < N; k++) {
    now = base + (k + 1) * 1000 + 500;
    open(`new${k}`, now + 3_600_000);
  }
  assert.ok(read < 10 * N, `${read} session entries read for ${N} new sessions`);
  // Only expired ones were forgotten: every new session is still routed.
  assert.equal(internal.sessions.size, N);
  for (let k = 0; k < N; k++) assert.equal(endpoint.holdsSession(`new${k}`), true, `new${k} is still routed`);
  // Sessions opened and closed leave nothing behind for long: what expiries are kept stays bounded.
  for (let i = 0; i < 5 * N; i++) {
    open(`brief${i}`, now + 60_000);
    internal.noteSessions({ closedSessionId: `brief${i}` }, 'Prod', undefined);
  }
  assert.ok(internal.expiries.length <= 2 * internal.sessions.size + 65, `${internal.expiries.length} expiries kept for ${internal.sessions.size} sessions`);
});

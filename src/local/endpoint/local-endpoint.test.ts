// LocalEndpoint against a real HTTP container: a shadow variant with no instance in service (its
// instances died and are being replaced) skips its copy; the production answer is unaffected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ToolkitError } from '../../errors/catalogue.js';
import { LocalEndpoint, type InstancePool } from './local-endpoint.js';

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

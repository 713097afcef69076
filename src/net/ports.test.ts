import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PORT_RANGE_POOL_LOW, assertPortFree, findFreePortRange, portBindError, portRangePool, rangeStartIn } from './ports.js';

const failure = (code: string) => Object.assign(new Error(`listen ${code}`), { code });

test('a port that cannot be bound is ERR_PORT_IN_USE, saying why and what to change', () => {
  const taken = portBindError(failure('EADDRINUSE'), '127.0.0.1', 8080);
  assert.equal(taken.code, 'ERR_PORT_IN_USE');
  assert.match(taken.message, /^port 8080 on 127\.0\.0\.1 is already in use by another process; .*pass --port with another port \(0 picks a free one\)/);
  const privileged = portBindError(failure('EACCES'), '0.0.0.0', 80, '--port (SAGEMAKER_BIND_TO_PORT)');
  assert.equal(privileged.code, 'ERR_PORT_IN_USE');
  assert.match(privileged.message, /port 80 on 0\.0\.0\.0 needs privileges this process does not have; .*--port \(SAGEMAKER_BIND_TO_PORT\)/);
  const other = portBindError(failure('EADDRNOTAVAIL'), '10.9.9.9', 8080);
  assert.match(other.message, /cannot be bound \(EADDRNOTAVAIL\)/);
  assert.equal((other.cause as NodeJS.ErrnoException).code, 'EADDRNOTAVAIL');
});

test("port ranges are drawn below the OS's ephemeral ports (Linux's ip_local_port_range, else 32768), from 20000; none when that leaves too little room", () => {
  assert.deepEqual(portRangePool(10, '32768\t60999\n'), [PORT_RANGE_POOL_LOW, 32_767]);
  assert.deepEqual(portRangePool(10, undefined), [20_000, 32_767]);
  assert.deepEqual(portRangePool(10, 'not a range'), [20_000, 32_767]);
  assert.deepEqual(portRangePool(10, '49152 65535'), [20_000, 49_151]);
  assert.equal(portRangePool(10, '1024 65535'), undefined);
  assert.equal(portRangePool(10, '20500 60999'), undefined);
});

test('findFreePortRange gives consecutive ports that can be bound, below the ephemeral ones, and never the same twice', async () => {
  let ephemeral: string | undefined;
  try {
    ephemeral = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
  } catch {
    ephemeral = undefined;
  }
  const pool = portRangePool(10, ephemeral);
  const ranges = [await findFreePortRange(10), await findFreePortRange(10)];
  for (const [low, high] of ranges) {
    assert.equal(high - low, 9);
    if (pool) assert.ok(low >= pool[0] && high <= pool[1], `${low}-${high} within ${pool[0]}-${pool[1]}`);
    for (let port = low; port <= high; port++) await assertPortFree('127.0.0.1', port);
  }
  const [[a, b], [c, d]] = ranges as [readonly [number, number], readonly [number, number]];
  assert.ok(b < c || d < a, `${a}-${b} and ${c}-${d} overlap`);
});

test('a range drawn from the pool lies within it at either end', () => {
  const pool = [20_000, 32_767] as const;
  const lowest = rangeStartIn(pool, 10, (min) => min);
  const highest = rangeStartIn(pool, 10, (_min, max) => max - 1);
  assert.equal(lowest, 20_000);
  assert.equal(highest + 9, 32_767);
  for (let i = 0; i < 1000; i++) {
    const low = rangeStartIn(pool, 10);
    assert.ok(low >= 20_000 && low + 9 <= 32_767, `${low}`);
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const MODULE = new URL('./metrics.js', import.meta.url).href;

test('prom-client that could not be loaded for want of file descriptors is loaded on the next use once they are free', { skip: process.platform !== 'linux' }, () => {
  const script = `
import { openSync, closeSync } from 'node:fs';
import { createMetrics } from ${JSON.stringify(MODULE)};
const taken = [];
const metrics = createMetrics();
metrics.observe('m', 200, 0.01);
try { for (;;) taken.push(openSync('/dev/null', 'r')); } catch (err) { if (err.code !== 'EMFILE') throw err; }
const first = await metrics.render().then(() => 'loaded', (err) => err.code ?? err.message);
for (const fd of taken.splice(0)) closeSync(fd);
const { body } = await metrics.render();
console.log(JSON.stringify({ first, counted: body.includes('smkit_invocations_total{model="m",status="200"} 1') }));
`;
  // POSIX sh sets the limit, then runs Node in its place.
  const r = spawnSync('sh', ['-c', 'ulimit -n 64 && exec "$0" "$@"', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { first: string; counted: boolean };
  assert.equal(result.first, 'ERR_SERVER_BUSY', 'with no descriptor free the scrape is refused as busy');
  assert.equal(result.counted, true, 'the second scrape loads prom-client and writes what was recorded before');
});

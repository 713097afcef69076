// docs/images.md's tables of the image's build arguments and of the environment the image sets
// are the Dockerfile's: each ARG has a row giving its default, each ENV variable a row giving its
// value, and each row names an ARG or ENV the Dockerfile has, so a build argument or variable
// added, dropped or changed there cannot leave the page behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/serve-process.js';

const dockerfile = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
const page = readFileSync(path.join(REPO_ROOT, 'docs/images.md'), 'utf8');

/** The rows of the table whose header starts with `heading`: the backquoted names of the first cell, and the second cell. */
function table(heading: string): Array<{ names: string[]; value: string }> {
  const start = page.indexOf(`| ${heading} |`);
  assert.ok(start >= 0, `docs/images.md has no table headed "${heading}"`);
  const end = page.indexOf('\n\n', start);
  return page
    .slice(start, end < 0 ? undefined : end)
    .split('\n')
    .slice(2)
    .map((line) => line.split(' | '))
    .map(([first, value]) => ({ names: [...(first ?? '').matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]!), value: value ?? '' }));
}

/** Name → every value the Dockerfile gives it, in `ARG name=value` or `ENV name=value ...` lines. */
function assignments(keyword: 'ARG' | 'ENV'): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  for (const m of dockerfile.matchAll(new RegExp(`^${keyword}\\s+(.+)$`, 'gm'))) {
    for (const a of m[1]!.matchAll(/([A-Z][A-Z0-9_]*)=(\S+)/g)) found.set(a[1]!, (found.get(a[1]!) ?? new Set()).add(a[2]!));
  }
  return found;
}

for (const [keyword, heading] of [['ARG', 'Build argument'], ['ENV', 'Variable']] as const) {
  test(`docs/images.md's "${heading}" table and the Dockerfile's ${keyword} lines name the same variables, with the same values`, () => {
    const rows = table(heading);
    const set = assignments(keyword);
    assert.ok(set.size >= 3, `only ${set.size} ${keyword} variables found in the Dockerfile`);
    const documented = new Set(rows.flatMap((r) => r.names));
    assert.deepEqual([...set.keys()].filter((n) => !documented.has(n)), [], `${keyword} variables with no row`);
    assert.deepEqual([...documented].filter((n) => !set.has(n)), [], `rows of variables the Dockerfile does not set`);
    const wrong: string[] = [];
    for (const [name, values] of set) {
      const row = rows.find((r) => r.names.includes(name))!;
      // Each value, backquoted on its own or in a list of one row for several variables (`dev`, `unknown`).
      for (const value of values) if (!row.value.includes(`\`${value}\``)) wrong.push(`${name}: the Dockerfile sets ${value}, the row says ${row.value}`);
    }
    assert.deepEqual(wrong, []);
  });
}

/** The text of each image stage of the Dockerfile (`FROM … AS cpu`, `FROM … AS gpu`), to its next FROM. */
function imageStages(): Record<'cpu' | 'gpu', string> {
  const stages: Record<string, string> = {};
  const parts = dockerfile.split(/^(?=FROM\s)/m);
  for (const part of parts) {
    const name = /^FROM\s+\S+\s+AS\s+(\S+)/i.exec(part)?.[1];
    if (name) stages[name] = part;
  }
  assert.ok(stages.cpu && stages.gpu, 'the Dockerfile has cpu and gpu stages');
  return { cpu: stages.cpu, gpu: stages.gpu };
}

/** The `ENV` assignments of one stage: name → value. */
function stageEnv(stage: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const m of stage.matchAll(/^ENV\s+(.+)$/gm)) for (const a of m[1]!.matchAll(/([A-Z][A-Z0-9_]*)=(\S+)/g)) found.set(a[1]!, a[2]!);
  return found;
}

test('docs/images.md\'s "Variable" table says which image sets each variable: a row saying "GPU image" is the gpu stage\'s alone, any other row is set by both images, each image\'s value in the row', () => {
  const stages = imageStages();
  const env = { cpu: stageEnv(stages.cpu), gpu: stageEnv(stages.gpu) };
  const wrong: string[] = [];
  for (const row of table('Variable')) {
    for (const name of row.names) {
      const setBy = (['cpu', 'gpu'] as const).filter((v) => env[v].has(name));
      const gpuOnly = /GPU image/.test(row.value);
      const cpuOnly = /CPU image/.test(row.value);
      const expected = gpuOnly ? ['gpu'] : cpuOnly ? ['cpu'] : ['cpu', 'gpu'];
      if (setBy.join() !== expected.join()) wrong.push(`${name}: the row says ${gpuOnly ? 'the GPU image only' : cpuOnly ? 'the CPU image only' : 'both images'} (${row.value.trim()}), the Dockerfile sets it in ${setBy.join(' and ') || 'neither'} stage`);
      for (const v of setBy) if (!row.value.includes(`\`${env[v].get(name)}\``)) wrong.push(`${name}: the ${v} image sets ${env[v].get(name)}, the row says ${row.value.trim()}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('docs/images.md names each SageMaker capability label of the images, and which image lacks one: multi-models is the cpu image\'s alone', () => {
  const stages = imageStages();
  const labels = (stage: string) => new Set([...stage.matchAll(/(com\.amazonaws\.sagemaker\.capabilities\.[a-z-]+)="?true"?/g)].map((m) => m[1]!));
  const cpu = labels(stages.cpu);
  const gpu = labels(stages.gpu);
  assert.ok(cpu.has('com.amazonaws.sagemaker.capabilities.accept-bind-to-port') && gpu.has('com.amazonaws.sagemaker.capabilities.accept-bind-to-port'), 'both images accept SAGEMAKER_BIND_TO_PORT');
  const bullet = page.slice(page.indexOf('- Labels:'), page.indexOf('\n\n', page.indexOf('- Labels:')));
  for (const label of new Set([...cpu, ...gpu])) {
    assert.ok(bullet.includes(`\`${label}=true\``), `${label} is not in the Labels bullet`);
    const only = cpu.has(label) && !gpu.has(label) ? 'CPU' : gpu.has(label) && !cpu.has(label) ? 'GPU' : undefined;
    const said = new RegExp(`\`${label.replace(/\./g, '\\.')}=true\` \\(the (CPU|GPU) image only`).exec(bullet)?.[1];
    assert.equal(said, only, `${label}: set by ${only ? `the ${only} image only` : 'both images'}, the bullet says ${said ? `the ${said} image only` : 'nothing of the kind'}`);
  }
});

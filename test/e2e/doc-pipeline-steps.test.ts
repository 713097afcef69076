// The pipeline file's step tables (the README's for the tensor steps and `custom`, TF.js and
// vision's for the image steps) list every step kind the server registers, each with every option
// key it takes, and no kind it does not: a step or option added, renamed or dropped in the code
// cannot leave the tables behind (a key the table lacks is one users never learn of; a kind the
// code lacks fails their pipeline's load with ERR_PIPELINE_INVALID).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/serve-process.js';
import { createDefaultSteps } from '../../src/pipeline/default-steps.js';
import { tensorStepTraits } from '../../src/pipeline/steps/tensor-ops.js';
import { visionStepTraits } from '../../src/pipeline/steps/vision.js';

/**
 * The rows of a page's step table (the one headed `| step | options | does |`, in any case), from
 * its header to the blank line after it: name → the options cell. The table is found by its header,
 * not by its first row, so a row added above the first or the first dropped is still read, and a
 * row of another table of the page that names a step is not taken for the step's.
 */
function stepRows(page: string): Map<string, string> {
  const text = readFileSync(path.join(REPO_ROOT, page), 'utf8');
  const header = /^\| step \| options \| does \|$/im.exec(text);
  assert.ok(header, `${page} has no table headed "| step | options | does |"`);
  const end = text.indexOf('\n\n', header.index);
  const table = text.slice(header.index, end < 0 ? undefined : end);
  return new Map([...table.matchAll(/^\| `([a-z][a-z-]*)` \| ([^|]*(?:\\\|[^|]*)*) \|/gm)].map((m) => [m[1]!, m[2]!]));
}

const TABLES: ReadonlyArray<{ page: string; kinds: string[] }> = [
  { page: 'README.md', kinds: [...Object.keys(tensorStepTraits), 'custom'] },
  { page: 'docs/tfjs-and-vision.md', kinds: Object.keys(visionStepTraits) },
];

test('each step kind the server registers has a row in its table, naming every option it takes', () => {
  const registry = createDefaultSteps();
  const tabled = TABLES.flatMap((t) => t.kinds);
  // Every registered kind but predict (whose keys the README gives in prose) is in one of the tables.
  assert.deepEqual(registry.kinds().filter((k) => k !== 'predict' && !tabled.includes(k)), [], 'step kinds in no table');
  const wrong: string[] = [];
  for (const { page, kinds } of TABLES) {
    const rows = stepRows(page);
    for (const kind of kinds) {
      const cell = rows.get(kind);
      if (cell === undefined) {
        wrong.push(`${page}: no row for the step \`${kind}\``);
        continue;
      }
      const options = registry.traits(kind).options ?? [];
      // `tensor`/`tensors` together are the targeting every such step takes, said once in prose; a step that takes `tensor` alone names it.
      const listed = options.includes('tensors') ? options.filter((o) => o !== 'tensor' && o !== 'tensors') : options;
      for (const option of listed) if (!cell.includes(`\`${option}\``) && !cell.includes(`\`${option}:`)) wrong.push(`${page}: the \`${kind}\` row does not name its option \`${option}\``);
    }
  }
  assert.deepEqual(wrong, []);
});

test('the step tables name no step kind the server lacks', () => {
  const kinds = new Set(createDefaultSteps().kinds());
  const named = TABLES.flatMap((t) => [...stepRows(t.page).keys()]);
  assert.ok(named.length >= 14, `only ${named.length} step rows found`);
  assert.deepEqual(named.filter((k) => !kinds.has(k)), []);
});

test("the predict step's keys in the README are the ones the runtimes take", async () => {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const { onnxRuntimeFactory } = await import('../../src/runtimes/onnx/factory.js');
  const { tfjsRuntimeFactory } = await import('../../src/runtimes/tfjs/factory.js');
  assert.deepEqual([...(onnxRuntimeFactory.stepOptions ?? [])], [], 'the README names no ONNX-only predict key');
  for (const key of tfjsRuntimeFactory.stepOptions ?? []) assert.match(readme, new RegExp(`for a TF\\.js model also [^.]*\`${key}\``), `the README does not name the TF.js predict key ${key}`);
});

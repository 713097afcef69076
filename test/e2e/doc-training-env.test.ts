// docs/training.md's table of the SM_* variables is what `smkit train` gives the template tree at
// /opt/ml (opt-ml-template/): every variable it sets has a row (SM_CHANNEL_<NAME> and SM_HP_<NAME>
// stand for theirs), every row is a variable it sets, and each row whose value is one literal
// (`/opt/ml/model`, `["algo-1"]`, `train.mjs`) or ends in one after ":" is that value, and each
// value given after "else" is the one a tree whose config files leave it out gets, so a variable
// added, dropped or changed in src/train cannot leave the page behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/serve-process.js';
import { buildTrainingEnvironment, readTrainingConfig } from '../../src/train/environment.js';
import { trainingPaths } from '../../src/train/paths.js';

const page = readFileSync(path.join(REPO_ROOT, 'docs/training.md'), 'utf8');
const section = page.slice(page.indexOf('## The SM_* variables'), page.indexOf('\n## ', page.indexOf('## The SM_* variables') + 1));
const rows = new Map([...section.matchAll(/^\| `(SM_[A-Z0-9_<>]+)` \| (.*) \|$/gm)].map((m) => [m[1]!, m[2]!]));

/**
 * The SM_* variables of the template tree, read where it lies but named as at /opt/ml; `bare`: with
 * no hyperparameters and a resourceconfig.json of `current_host` and `hosts` only.
 */
function templateVariables(bare = false): Record<string, string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'doc-training-env-'));
  try {
    const base = path.join(dir, 'opt', 'ml');
    cpSync(path.join(REPO_ROOT, 'opt-ml-template'), base, { recursive: true });
    if (bare) {
      writeFileSync(path.join(base, 'input/config/hyperparameters.json'), '{}');
      writeFileSync(path.join(base, 'input/config/resourceconfig.json'), JSON.stringify({ current_host: 'algo-1', hosts: ['algo-1'] }));
    }
    const paths = trainingPaths(base);
    const env = buildTrainingEnvironment(readTrainingConfig(paths), { paths, numCpus: 4, numGpus: 0 });
    return Object.fromEntries(Object.entries(env.vars).map(([k, v]) => [k, v.split(base).join('/opt/ml')]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const rowFor = (variable: string, hyperparameters: readonly string[]): string =>
  variable.startsWith('SM_CHANNEL_') && variable !== 'SM_CHANNELS' ? 'SM_CHANNEL_<NAME>' : variable.startsWith('SM_HP_') && hyperparameters.includes(variable) ? 'SM_HP_<NAME>' : variable;

test("docs/training.md's SM_* table has a row for each variable the template tree gets, and no other", () => {
  const vars = templateVariables();
  const hyperparameters = Object.keys(JSON.parse(vars['SM_HPS']!) as object).map((k) => `SM_HP_${k.toUpperCase()}`);
  assert.ok(rows.size >= 30, `only ${rows.size} rows found in docs/training.md's SM_* table`);
  const set = new Set(Object.keys(vars).map((v) => rowFor(v, hyperparameters)));
  assert.deepEqual([...set].filter((v) => !rows.has(v)), [], 'variables set with no row');
  // SM_TOPOLOGY is set only for a resourceconfig.json with a topology, as its row says.
  assert.deepEqual([...rows.keys()].filter((v) => !set.has(v) && v !== 'SM_TOPOLOGY'), [], 'rows of variables not set');
});

test("each SM_* row's literal value is the template tree's, and its value after \"else\" a bare tree's", () => {
  const vars = templateVariables();
  const bare = templateVariables(true);
  const wrong: string[] = [];
  let checked = 0;
  for (const [variable, cell] of rows) {
    if (variable.includes('<')) continue;
    // A cell that is one literal, or whose value for the template follows a colon at its end.
    const literal = /^`([^`]*)`$/.exec(cell.trim())?.[1] ?? /: `([^`]*)`$/.exec(cell.trim())?.[1];
    if (literal !== undefined) {
      checked++;
      if (vars[variable] !== literal) wrong.push(`${variable}: the page says \`${literal}\`, the template tree gets ${JSON.stringify(vars[variable])}`);
    }
    const fallback = /, else `([^`]*)`$/.exec(cell.trim())?.[1];
    if (fallback !== undefined) {
      checked++;
      if (bare[variable] !== fallback) wrong.push(`${variable}: the page says else \`${fallback}\`, a tree without it gets ${JSON.stringify(bare[variable])}`);
    }
  }
  assert.deepEqual(wrong, []);
  assert.ok(checked >= 15, `only ${checked} values checked`);
});

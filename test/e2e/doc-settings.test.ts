// Every variable src/config reads (the only place settings are read) is documented: the serving
// settings each in a row of the README's settings table, the others (local SageMaker, training,
// deploy) on a page of docs/ or in the README, so a new setting cannot ship unexplained; and each
// row's default and range are the ones the code applies, so a changed default cannot leave the
// table behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSettings } from '../../src/config/settings.js';
import { loadLocalSageMakerSettings } from '../../src/config/local-sagemaker.js';
import { loadLocalMetricsSettings } from '../../src/config/local-metrics.js';
import { loadTrainingSettings } from '../../src/config/training.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CONFIG = path.join(REPO_ROOT, 'src', 'config');
const VARIABLE = /\b(?:SMKIT|SAGEMAKER|SM)_[A-Z0-9_]+\b/g;

const read = (file: string): string => readFileSync(file, 'utf8');
const variablesIn = (file: string): string[] => [...new Set(read(path.join(CONFIG, file)).match(VARIABLE) ?? [])].sort();
const readme = read(path.join(REPO_ROOT, 'README.md'));
const docs = readdirSync(path.join(REPO_ROOT, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => read(path.join(REPO_ROOT, 'docs', f)));

test("every serving setting has a row in the README's settings table", () => {
  const variables = variablesIn('settings.ts');
  assert.ok(variables.length > 40, `only ${variables.length} variables found in src/config/settings.ts`);
  const rows = new Set([...readme.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
  assert.deepEqual(variables.filter((v) => !rows.has(v)), []);
});

test('every other variable src/config reads is named in the README or a page of docs/', () => {
  const files = readdirSync(CONFIG).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'settings.ts');
  const missing = files.flatMap((f) => variablesIn(f).filter((v) => ![readme, ...docs].some((page) => page.includes(`\`${v}\``))).map((v) => `${v} (src/config/${f})`));
  assert.deepEqual(missing, []);
});

/** The README's settings table: each variable's default cell and meaning cell. */
const ROWS = new Map([...readme.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \| ([^|]*) \| (.*) \|$/gm)].map((m) => [m[1]!, { default: m[2]!.trim(), meaning: m[3]! }]));

/** The serving settings read from `env`, on a fixed machine (4 CPUs, Node 20, 8 GB), stateful sessions on so their variables are read. */
const settingsWith = (env: Record<string, string>): unknown => loadSettings({ SAGEMAKER_ENABLE_STATEFUL_SESSIONS: 'true', ...env }, {}, 4, 20, 8 * 2 ** 30);

test("each settings row whose default is a literal value (`8080`, `auto`, `true`) is the default the code applies", () => {
  const baseline = settingsWith({});
  const wrong: string[] = [];
  let checked = 0;
  for (const variable of variablesIn('settings.ts')) {
    const literal = /^`([^`<]+)`/.exec(ROWS.get(variable)?.default ?? '')?.[1];
    if (literal === undefined || variable === 'SAGEMAKER_ENABLE_STATEFUL_SESSIONS') continue;
    // Without /dev/shm the sessions folder is the temporary folder's, as the row says.
    if (variable === 'SAGEMAKER_SESSIONS_PATH' && !existsSync('/dev/shm')) continue;
    try {
      assert.deepEqual(settingsWith({ [variable]: literal }), baseline);
    } catch {
      wrong.push(`${variable}: the README's default is \`${literal}\`, but setting it to that changes the settings`);
    }
    checked++;
  }
  assert.deepEqual(wrong, []);
  assert.ok(checked >= 30, `only ${checked} literal defaults found in the README's settings table`);
});

test("each numeric setting's row names the range its error gives", () => {
  const wrong: string[] = [];
  let checked = 0;
  for (const variable of variablesIn('settings.ts')) {
    let message = '';
    try {
      settingsWith({ [variable]: 'x' });
    } catch (err) {
      message = (err as Error).message;
    }
    // A bound another setting sets is named in the error: "from 6 (SAGEMAKER_MAX_PAYLOAD_IN_MB: ...) to 1048576".
    const range = /from (\S+)(?: \(([A-Z][A-Z0-9_]+)[^)]*\))? to (\d+(?:\.\d+)?)/.exec(message);
    if (!range) continue;
    // "1 000 000" in prose is 1000000.
    const meaning = ROWS.get(variable)!.meaning.replace(/(\d)[\s\u202f](?=\d{3}\b)/g, '$1');
    const [, min, setBy, max] = range;
    // A bound just over 0 (0.000001) the row words as "over 0"; one another setting sets, by that setting's name.
    const wanted = setBy !== undefined ? [`\`${setBy}\` to ${max}`] : Number(min) > 0 && Number(min) < 0.001 ? [`to ${max}`, `at most ${max}`] : [`${min} to ${max}`];
    // Each bound a whole number of the row: "0 to 256" must not pass for a row that says "10 to 2560".
    const says = (w: string) => new RegExp(`(?<![\\d.])${w.replace(/\./g, '\\.')}(?!\\.?\\d)`).test(meaning);
    if (!wanted.some(says)) wrong.push(`${variable}: the README's row does not say "${wanted.join('" or "')}" (its error: ${message})`);
    checked++;
  }
  assert.deepEqual(wrong, []);
  assert.ok(checked >= 20, `only ${checked} numeric settings found`);
});

/**
 * The settings validated together with others (a value that is fine alone but refused beside
 * another's), found by trying pairs of values each valid alone, with batching off and on: the
 * checks above set one variable at a time and never see these rules.
 */
function jointRules(): Array<{ env: Record<string, string>; refused: string; partners: string[]; message: string }> {
  const candidates = ['0', '1', '2', '16', '1000', '10000', '0.5', 'true'];
  const errorOf = (env: Record<string, string>): string | undefined => {
    try {
      settingsWith(env);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  };
  const variables = variablesIn('settings.ts');
  const rules = new Map<string, { env: Record<string, string>; refused: string; partners: string[]; message: string }>();
  for (const base of [{}, { SMKIT_BATCH_MAX_SIZE: '8' }] as Array<Record<string, string>>) {
    const alone = new Map(variables.map((v) => [v, candidates.filter((c) => errorOf({ ...base, [v]: c }) === undefined)]));
    for (const a of variables) {
      for (const b of variables) {
        if (a >= b) continue;
        for (const x of alone.get(a)!) {
          for (const y of alone.get(b)!) {
            const env = { ...base, [a]: x, [b]: y };
            const message = errorOf(env);
            if (message === undefined) continue;
            const refused = /^([A-Z][A-Z0-9_]+)=/.exec(message)?.[1] ?? '';
            // The variables the rule needs: without any of them the value is taken.
            const partners = Object.keys(env).filter((v) => v !== refused && errorOf(Object.fromEntries(Object.entries(env).filter(([k]) => k !== v)))?.startsWith(`${refused}=`) !== true);
            const key = [refused, ...partners.sort()].join(' ');
            if (!rules.has(key)) rules.set(key, { env, refused, partners, message });
          }
        }
      }
    }
  }
  return [...rules.values()];
}

test('each setting validated together with others: its error names them, its first error already gives every bound, and its README row names them', () => {
  const wrong: string[] = [];
  const rules = jointRules();
  for (const { env, refused, partners: others, message } of rules) {
    // The timeout is named by the variable that set it, SAGEMAKER_MODEL_SERVER_TIMEOUT or its _SECONDS form.
    const named = (v: string) => message.includes(v.replace(/_SECONDS$/, ''));
    for (const other of others) if (!named(other)) wrong.push(`${JSON.stringify(env)}: the error does not name ${other}: ${message}`);
    // A value wrong on its own, beside the same settings, is told every bound at once (not the lone range, then the joint one).
    let lone = '';
    try {
      settingsWith({ ...env, [refused]: 'x' });
    } catch (err) {
      lone = (err as Error).message;
    }
    const expected = (m: string) => m.slice(m.indexOf(' is invalid: '));
    if (expected(lone) !== expected(message)) wrong.push(`${JSON.stringify(env)}: ${refused}=x is told "${expected(lone)}", a value refused beside the others "${expected(message)}"`);
    const row = ROWS.get(refused)?.meaning ?? '';
    for (const other of others) if (!row.includes(`\`${other}\``)) wrong.push(`${refused}: the README's row does not name \`${other}\`, which it is checked against (${message})`);
  }
  assert.deepEqual(wrong, []);
  // The payload limit bounds the body memory; the invocation timeout (either variable) the batching delay with batching on.
  assert.ok(rules.length >= 3, `only ${rules.length} rules found: ${JSON.stringify(rules)}`);
});

test("each setting whose error lists the values it takes names every one of them in its README row", () => {
  const wrong: string[] = [];
  let checked = 0;
  for (const variable of variablesIn('settings.ts')) {
    let message = '';
    try {
      settingsWith({ [variable]: 'not-a-value-of-any-setting' });
    } catch (err) {
      message = (err as Error).message;
    }
    // "expected one of auto, thread, inline" or "a comma-separated list of auto, cpu, cuda, ...".
    const list = /expected (?:one of|a comma-separated list of) ([^.(]+)/.exec(message)?.[1];
    if (list === undefined) continue;
    const values = list.split(/,\s*|\s+or\s+/).map((v) => v.trim()).filter((v) => v !== '');
    // A list of words only (not a described form such as "web page origins such as https://...").
    if (!values.every((v) => /^[\w-]+$/.test(v))) continue;
    const meaning = ROWS.get(variable)!.meaning;
    for (const value of values) if (!meaning.includes(`\`${value}\``)) wrong.push(`${variable}: the README's row does not name \`${value}\` (its error: ${message})`);
    checked++;
  }
  assert.deepEqual(wrong, []);
  assert.ok(checked >= 6, `only ${checked} settings with a list of values found`);
});

/**
 * The settings tables of the pages of docs/ (the local SageMaker's, its CloudWatch's, training's),
 * each with the loader of the variables it lists: an `SMKIT_` variable the loader's file reads has
 * a row there, a literal default is the one the code applies, and a numeric row names the range
 * its error gives, as the README's rows are checked above.
 */
const PAGE_TABLES: ReadonlyArray<{ page: string; file: string; load: (env: Record<string, string>) => unknown }> = [
  { page: 'docs/local-sagemaker.md', file: 'local-sagemaker.ts', load: (env) => loadLocalSageMakerSettings(env, 8 * 2 ** 30) },
  { page: 'docs/local-alarms-and-scaling.md', file: 'local-metrics.ts', load: (env) => loadLocalMetricsSettings(env) },
  // The inherited environment is the variables given, and the tree's flag says whether one was set.
  { page: 'docs/training.md', file: 'training.ts', load: (env) => ({ ...loadTrainingSettings(env), inheritedEnv: undefined, baseDirIsDefault: undefined }) },
];

test("each settings table of docs/ lists its loader's SMKIT_ variables, with the defaults and ranges the code applies", () => {
  const wrong: string[] = [];
  let checked = 0;
  for (const { page, file, load } of PAGE_TABLES) {
    const rows = new Map([...read(path.join(REPO_ROOT, page)).matchAll(/^\| `([A-Z][A-Z0-9_]+)` \| ([^|]*) \| (.*) \|$/gm)].map((m) => [m[1]!, { default: m[2]!.trim(), meaning: m[3]! }]));
    for (const variable of variablesIn(file).filter((v) => v.startsWith('SMKIT_') && !rows.has(v))) wrong.push(`${page}: no row for ${variable} (src/config/${file} reads it)`);
    const baseline = load({});
    for (const [variable, row] of rows) {
      const literal = /^`([^`<]+)`/.exec(row.default)?.[1];
      if (literal !== undefined) {
        try {
          assert.deepEqual(load({ [variable]: literal }), baseline);
        } catch {
          wrong.push(`${page}: ${variable}'s default is \`${literal}\`, but setting it to that changes the settings`);
        }
        checked++;
      }
      let message = '';
      try {
        load({ [variable]: 'x' });
      } catch (err) {
        message = (err as Error).message;
      }
      const range = /from (\S+) to (\d+(?:\.\d+)?)/.exec(message);
      if (!range) continue;
      const meaning = row.meaning.replace(/(\d)[\s\u202f](?=\d{3}\b)/g, '$1');
      const [, min, max] = range;
      if (![`${min} to ${max}`, `${min}–${max}`].some((w) => new RegExp(`(?<![\\d.])${w.replace(/\./g, '\\.')}(?!\\.?\\d)`).test(meaning))) {
        wrong.push(`${page}: ${variable}'s row does not say "${min} to ${max}" (its error: ${message})`);
      }
      checked++;
    }
  }
  assert.deepEqual(wrong, []);
  assert.ok(checked >= 20, `only ${checked} defaults and ranges checked in the tables of docs/`);
});

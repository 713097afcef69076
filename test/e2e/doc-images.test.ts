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

// The package entry (package.json "main") exports every name the docs import from 'smkit', and the
// functions the docs tell users to call from code, so a snippet copied from the docs resolves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './helpers/serve-process.js';

const entry = (await import(pathToFileURL(path.join(REPO_ROOT, JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).main as string)).href)) as Record<string, unknown>;

/** README.md and docs/*.md. */
function docPages(): Array<{ page: string; text: string }> {
  const docs = readdirSync(path.join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f));
  return ['README.md', ...docs].map((page) => ({ page, text: readFileSync(path.join(REPO_ROOT, page), 'utf8') }));
}

test("every value the docs import from 'smkit' is exported by the package entry", () => {
  const named: string[] = [];
  for (const { page, text } of docPages()) {
    for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'smkit'/g)) {
      for (const part of m[1]!.split(',')) {
        const name = part.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0]!;
        if (name !== '' && !part.trim().startsWith('type ')) named.push(`${page}: ${name}`);
      }
    }
  }
  assert.ok(named.length >= 2, `the docs import from 'smkit' (found ${named.length})`);
  assert.deepEqual(named.filter((n) => entry[n.split(': ')[1]!] === undefined), [], 'imported in the docs but not exported');
});

test('functions the docs call from code are exported by the package entry', () => {
  for (const { page, text } of docPages()) {
    for (const name of ['startLocalSageMaker', 'startLocalEndpoints', 'runTransform']) {
      if (text.includes(`\`${name}()`)) assert.equal(typeof entry[name], 'function', `${page} calls ${name}() from code`);
    }
  }
  assert.equal(typeof entry.startLocalSageMaker, 'function');
});

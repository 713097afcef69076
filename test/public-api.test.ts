// The package entry (package.json "main") exports every name the docs import from 'smkit', and the
// functions the docs tell users to call from code, so a snippet copied from the docs resolves; and
// each value it exports carries a TSDoc comment.
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

/**
 * The source file and line where `name` is declared, following src/index.ts's `export { … } from`
 * and `export * from` to the module that declares it, or undefined when no module does.
 */
function declarationOf(name: string, file: string, seen = new Set<string>()): { file: string; lines: string[]; at: number } | undefined {
  if (seen.has(file)) return undefined;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const own = new RegExp(`^export (?:declare )?(?:async )?(?:function\\*?|const|let|class|abstract class) ${name}\\b`);
  const at = lines.findIndex((l) => own.test(l));
  if (at >= 0) return { file, lines, at };
  const target = (spec: string): string => path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'));
  for (const m of text.matchAll(/^export \{([^}]*)\} from '([^']+)'/gm)) {
    const parts = m[1]!.split(',').map((p) => p.trim()).filter((p) => p !== '' && !p.startsWith('type '));
    const part = parts.find((p) => (p.split(/\s+as\s+/)[1] ?? p.split(/\s+as\s+/)[0]) === name);
    if (part !== undefined) return declarationOf(part.split(/\s+as\s+/)[0]!, target(m[2]!), seen);
  }
  for (const m of text.matchAll(/^export \* from '([^']+)'/gm)) {
    const found = declarationOf(name, target(m[1]!), seen);
    if (found) return found;
  }
  return undefined;
}

test("every value the package entry exports has a TSDoc comment where it is declared, so an editor's hover explains it", () => {
  const index = path.join(REPO_ROOT, 'src', 'index.ts');
  const undocumented: string[] = [];
  const unfound: string[] = [];
  const names = Object.keys(entry);
  assert.ok(names.length >= 40, `only ${names.length} values exported by the package entry`);
  for (const name of names) {
    const found = declarationOf(name, index);
    if (!found) {
      unfound.push(name);
      continue;
    }
    // The comment ends on the line above the declaration (line comments and decorators between are allowed).
    let above = found.at - 1;
    while (above >= 0 && /^\s*(\/\/|@)/.test(found.lines[above]!)) above--;
    if (!/\*\/\s*$/.test(found.lines[above] ?? '')) undocumented.push(`${name} (${path.relative(REPO_ROOT, found.file)}:${found.at + 1})`);
  }
  assert.deepEqual(unfound, [], 'exported by the package entry, but no declaration found from src/index.ts');
  assert.deepEqual(undocumented, [], 'exported by the package entry without a /** */ comment');
});

// Every relative link of README.md, docs/*.md and opt-ml-template/README.md points at a file of the
// checkout, and every #anchor at a heading (or an <a id>/<a name>) of the page it names, so a renamed
// heading or a moved page cannot leave a reader with a dead link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const PAGES = ['README.md', 'opt-ml-template/README.md', ...readdirSync(path.join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** The lines of a page outside fenced code blocks, with their 1-based numbers. */
function proseLines(text: string): [number, string][] {
  const out: [number, string][] = [];
  let fenced = false;
  text.split('\n').forEach((line, i) => {
    if (/^\s*```/.test(line)) fenced = !fenced;
    else if (!fenced) out.push([i + 1, line]);
  });
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]+>/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

const anchorCache = new Map<string, Set<string>>();

/** The anchors of a page: one per heading (repeats get -1, -2, ... as on GitHub) and each <a id|name>. */
function anchorsOf(page: string): Set<string> {
  let anchors = anchorCache.get(page);
  if (anchors) return anchors;
  anchors = new Set();
  const seen = new Map<string, number>();
  for (const [, line] of proseLines(readFileSync(path.join(REPO_ROOT, page), 'utf8'))) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const base = slug(heading[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const a of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(a[1]!);
  }
  anchorCache.set(page, anchors);
  return anchors;
}

test('relative links and anchors of the README and docs resolve', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const page of PAGES) {
    for (const [n, line] of proseLines(readFileSync(path.join(REPO_ROOT, page), 'utf8'))) {
      // Inline code may show link syntax without being a link.
      for (const m of line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        const href = m[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(href)) continue;
        checked++;
        const [file, anchor] = href.split('#') as [string, string | undefined];
        const target = file === '' ? page : path.posix.normalize(path.posix.join(path.posix.dirname(page), file));
        if (!existsSync(path.join(REPO_ROOT, target))) broken.push(`${page}:${n}: ${href}: no file ${target}`);
        else if (anchor !== undefined && !(target.endsWith('.md') && anchorsOf(target).has(anchor))) broken.push(`${page}:${n}: ${href}: no heading #${anchor} in ${target}`);
      }
    }
  }
  assert.ok(checked > 100, `only ${checked} relative links found: is the link pattern still right?`);
  assert.deepEqual(broken, []);
});

test('the anchors follow GitHub: code spans, punctuation and repeats', () => {
  assert.equal(slug('Images: build, run, push, deploy'), 'images-build-run-push-deploy');
  assert.equal(slug('Where the goals stand (2026-12-02)'), 'where-the-goals-stand-2026-12-02');
  assert.equal(slug('`smkit invoke`: one request'), 'smkit-invoke-one-request');
  assert.equal(slug('The /opt/ml tree'), 'the-optml-tree');
});

/** Every file under `dir` (relative to the checkout) whose name ends with `ext`. */
function filesUnder(dir: string, ext: string): string[] {
  return readdirSync(path.join(REPO_ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(ext))
    .map((f) => path.posix.join(dir, f.split(path.sep).join('/')));
}

test("SageMaker's behaviour is cited from AWS's own pages, not from the project's contract notes (sagemaker-contract.md, which is not in the checkout)", () => {
  const notes = /sagemaker-contract\.md|\bcontract §\s*\d/;
  const files = [...PAGES, ...filesUnder('src', '.ts')];
  assert.ok(files.length > 300, `only ${files.length} files found: is the listing still right?`);
  const cited: string[] = [];
  for (const file of files) {
    readFileSync(path.join(REPO_ROOT, file), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (notes.test(line)) cited.push(`${file}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(cited, []);
});

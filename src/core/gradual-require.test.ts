import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { packageLoadOrder, requireGradually } from './gradual-require.js';

/** What the fixture packages record as they load (each pushes its name). */
const loadLog: string[] = ((globalThis as { __gradualLoadLog?: string[] }).__gradualLoadLog = []);

interface FixturePackage {
  name: string;
  dependencies: string[];
  /** A map that hides package.json from resolution. */
  exportsOnlyMain?: boolean;
  /** Where it is installed, below the root's node_modules (default: at the top). */
  under?: string;
  /** Its main file requires this, which is not a declared dependency. */
  requiresUndeclared?: string;
}

/** Writes packages into a fresh `node_modules` tree; returns the file their names resolve from. */
function writeTree(root: string, packages: FixturePackage[]): string {
  for (const p of packages) {
    const dir = path.join(root, 'node_modules', ...(p.under ? [p.under, 'node_modules'] : []), p.name);
    mkdirSync(dir, { recursive: true });
    const manifest: Record<string, unknown> = { name: p.name, version: '1.0.0', main: 'index.js', dependencies: Object.fromEntries(p.dependencies.map((d) => [d, '*'])) };
    if (p.exportsOnlyMain) manifest['exports'] = { '.': './index.js' };
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify(manifest));
    const requires = [...p.dependencies, ...(p.requiresUndeclared ? [p.requiresUndeclared] : [])].map((d) => `require(${JSON.stringify(d)});`).join('\n');
    writeFileSync(path.join(dir, 'index.js'), `globalThis.__gradualLoadLog.push(${JSON.stringify(`${p.under ? `${p.under}/` : ''}${p.name}`)});\n${requires}\n`);
  }
  return path.join(root, 'entry.js');
}

function tempRoot(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'smkit-gradual-'));
}

test('every package is required once, in a turn of its own, after the packages it depends on (random dependency graphs)', async () => {
  // Package i may depend only on packages after it, so each graph is acyclic.
  const graphs = fc
    .integer({ min: 1, max: 7 })
    .chain((n) => fc.tuple(fc.constant(n), fc.array(fc.array(fc.boolean(), { minLength: n, maxLength: n }), { minLength: n, maxLength: n }), fc.subarray([...Array(n).keys()], { minLength: 1 })));
  let run = 0;
  await fc.assert(
    fc.asyncProperty(graphs, async ([n, edges, roots]) => {
      const root = tempRoot();
      try {
        const names = [...Array(n).keys()].map((i) => `p${run}-${i}`);
        run++;
        const deps = (i: number) => names.filter((_, j) => j > i && edges[i]![j]);
        const from = writeTree(root, names.map((name, i) => ({ name, dependencies: deps(i) })));
        const wanted = roots.map((i) => names[i]!);
        const order = packageLoadOrder(wanted, from).map((s) => s.name);

        // Exactly the packages reachable from the roots, each once.
        const reachable = new Set<string>();
        const walk = (i: number): void => {
          if (reachable.has(names[i]!)) return;
          reachable.add(names[i]!);
          for (const d of deps(i)) walk(names.indexOf(d));
        };
        for (const r of roots) walk(r);
        assert.deepEqual([...order].sort(), [...reachable].sort());
        for (const [i, name] of names.entries()) {
          if (!reachable.has(name)) continue;
          for (const d of deps(i)) assert.ok(order.indexOf(d) < order.indexOf(name), `${d} comes before ${name}, which depends on it`);
        }

        // A turn loads one package at most: its dependencies are already loaded.
        loadLog.length = 0;
        const required = await requireGradually(wanted, from, async () => void loadLog.push('turn'));
        assert.deepEqual(required, order);
        assert.deepEqual(
          loadLog.filter((line) => line !== 'turn'),
          order,
        );
        for (const [i, line] of loadLog.entries()) if (line !== 'turn') assert.equal(loadLog[i - 1], 'turn', `${line} loaded in a turn of its own`);
        // Finding each package (its package.json) takes a turn of its own too.
        assert.ok(loadLog.filter((line) => line === 'turn').length >= 2 * order.length, 'a turn to find each package and one to load it');
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    }),
    { numRuns: 25 },
  );
});

test('a package is resolved from its dependent: two versions of one name are two steps', () => {
  const root = tempRoot();
  try {
    const from = writeTree(root, [
      { name: 'app', dependencies: ['shared', 'inner'] },
      { name: 'shared', dependencies: [] },
      { name: 'inner', dependencies: ['shared'] },
      // inner has its own copy of shared, nested below it.
      { name: 'shared', dependencies: [], under: 'inner' },
    ]);
    const order = packageLoadOrder(['app'], from);
    assert.deepEqual(
      order.map((s) => s.name),
      ['shared', 'shared', 'inner', 'app'],
    );
    const nested = order[1]!;
    assert.equal(createRequire(nested.from).resolve('shared'), path.join(root, 'node_modules', 'inner', 'node_modules', 'shared', 'index.js'));
    assert.equal(createRequire(order[0]!.from).resolve('shared'), path.join(root, 'node_modules', 'shared', 'index.js'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a cycle ends; a missing package is left out; a package that fails to load is skipped; one whose exports hide package.json is found', async () => {
  const root = tempRoot();
  try {
    const from = writeTree(root, [
      { name: 'cyc-a', dependencies: ['cyc-b'] },
      { name: 'cyc-b', dependencies: ['cyc-a'] },
      // Depends on a package that is not installed: requiring it throws.
      { name: 'broken', dependencies: ['not-installed'] },
      // Its package.json is not exported: it is found above its main file, with its own dependency.
      { name: 'hidden', dependencies: ['leaf'], exportsOnlyMain: true },
      { name: 'leaf', dependencies: [] },
      { name: 'uses-hidden', dependencies: ['hidden'] },
    ]);
    assert.deepEqual(
      packageLoadOrder(['cyc-a', 'broken', 'uses-hidden', 'nowhere', 'node:zlib'], from).map((s) => s.name),
      ['cyc-b', 'cyc-a', 'broken', 'leaf', 'hidden', 'uses-hidden', 'node:zlib'],
    );
    loadLog.length = 0;
    const required = await requireGradually(['cyc-a', 'broken', 'uses-hidden'], from, async () => void loadLog.push('turn'));
    assert.deepEqual(required, ['cyc-b', 'cyc-a', 'leaf', 'hidden', 'uses-hidden']);
    assert.ok(loadLog.includes('broken'), 'the broken package ran until its missing dependency');
    const ownTurn = (name: string) => loadLog[loadLog.indexOf(name) - 1] === 'turn';
    assert.ok(ownTurn('hidden') && ownTurn('uses-hidden') && ownTurn('leaf'), 'the hidden package and its dependent load in turns of their own');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a dependency named in skip is neither looked up nor required, nor what only it depends on', async () => {
  const root = tempRoot();
  try {
    const from = writeTree(root, [
      { name: 'skip-host', dependencies: ['skip-eager'] },
      { name: 'skip-eager', dependencies: [] },
      { name: 'skip-lazy', dependencies: ['skip-under-lazy'] },
      { name: 'skip-under-lazy', dependencies: [] },
    ]);
    // skip-host declares skip-lazy too but does not require it (a transport helper, say).
    const manifest = path.join(root, 'node_modules', 'skip-host', 'package.json');
    writeFileSync(manifest, JSON.stringify({ ...JSON.parse(readFileSync(manifest, 'utf8')), dependencies: { 'skip-eager': '*', 'skip-lazy': '*' } }));
    const skip = new Set(['skip-lazy']);
    assert.deepEqual(packageLoadOrder(['skip-host'], from).map((s) => s.name), ['skip-eager', 'skip-under-lazy', 'skip-lazy', 'skip-host']);
    assert.deepEqual(packageLoadOrder(['skip-host'], from, skip).map((s) => s.name), ['skip-eager', 'skip-host']);
    loadLog.length = 0;
    const required = await requireGradually(['skip-host'], from, async () => undefined, () => true, skip);
    assert.deepEqual(required, ['skip-eager', 'skip-host']);
    assert.deepEqual(loadLog, ['skip-eager', 'skip-host']);
    // A name asked for directly is loaded even when skip names it.
    assert.deepEqual(await requireGradually(['skip-lazy'], from, async () => undefined, () => true, skip), ['skip-under-lazy', 'skip-lazy']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("the server's own rarer-route packages (express, multer) load in many steps, express after its dependencies", async () => {
  const from = import.meta.url;
  const order = packageLoadOrder(['express', 'multer'], from);
  const names = order.map((s) => s.name);
  assert.ok(names.length >= 30, `express and multer need ${names.length} packages`);
  for (const [i, step] of order.entries()) {
    const manifest = JSON.parse(readFileSync(step.manifest, 'utf8')) as { dependencies?: Record<string, string> };
    for (const dependency of Object.keys(manifest.dependencies ?? {})) {
      if (names.includes(dependency)) assert.ok(names.slice(0, i).includes(dependency), `${dependency} is required before ${step.name}`);
    }
  }
  let turns = 0;
  const required = await requireGradually(['express', 'multer'], from, async () => void turns++);
  assert.ok(turns >= order.length, 'a turn before each package');
  assert.ok(required.includes('express') && required.includes('multer'));
  const express = createRequire(from).resolve('express');
  assert.ok(createRequire(from).cache[express], 'express is loaded afterwards');
});

test('without descriptors to spare it stops before the next package with 503 ERR_SERVER_BUSY; a later call goes on from there', async () => {
  const root = tempRoot();
  try {
    const from = writeTree(root, [
      { name: 'fd-a', dependencies: ['fd-b'] },
      { name: 'fd-b', dependencies: [] },
    ]);
    loadLog.length = 0;
    let checks = 0;
    // Descriptors run out after the first package is required.
    const canLoad = () => checks++ < 3 || loadLog.length === 0;
    await assert.rejects(requireGradually(['fd-a'], from, async () => undefined, canLoad), { code: 'ERR_SERVER_BUSY', status: 503 });
    assert.deepEqual(loadLog, ['fd-b']);
    assert.deepEqual(await requireGradually(['fd-a'], from, async () => undefined, () => true), ['fd-b', 'fd-a']);
    assert.deepEqual(loadLog, ['fd-b', 'fd-a'], 'fd-b is not loaded twice (require keeps it)');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

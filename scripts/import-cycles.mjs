#!/usr/bin/env node
// Finds import cycles among the compiled modules (dist/src by default), two ways:
// - modules: every static `import ... from` / `export ... from` between relative .js files is an edge
//   (type-only imports are gone after tsc; a lazy import() is not a load-time dependency);
// - areas (the top-level folders: server, local, build, ...): static and lazy imports both count, so
//   a lower layer never reaches up into a higher one, even lazily.
// It also checks the areas that must never reach another one, even through a third area or lazily
// (FORBIDDEN_REACH: `smkit deploy` is a client of the SageMaker API and never loads the local SageMaker).
// Usage: node scripts/import-cycles.mjs [dir]   (exit 1 and one line per cycle or forbidden path when there are any)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const STATIC = /^\s*(?:import|export)\s[^'"`;]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|^\s*import\s*['"](\.{1,2}\/[^'"]+)['"]/gm;
const LAZY = /\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.js') && !name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

/** The import graph of the .js files under `dir`: file → files it imports (statically; with `lazy`, also by import()). */
export function importGraph(dir, { lazy = false } = {}) {
  const graph = new Map();
  for (const file of walk(dir)) {
    const text = readFileSync(file, 'utf8');
    const deps = new Set();
    for (const m of text.matchAll(STATIC)) deps.add(path.resolve(path.dirname(file), m[1] ?? m[2]));
    if (lazy) for (const m of text.matchAll(LAZY)) deps.add(path.resolve(path.dirname(file), m[1]));
    graph.set(file, [...deps].filter((d) => d !== file));
  }
  return graph;
}

/** The graph between areas (top-level folders of `dir`; files at the top are the area `.`), static and lazy imports. */
export function areaGraph(dir) {
  const area = (f) => {
    const parts = path.relative(dir, f).split(path.sep);
    return parts.length > 1 ? path.join(dir, parts[0]) : path.join(dir, '.');
  };
  const graph = new Map();
  for (const [file, deps] of importGraph(dir, { lazy: true })) {
    const from = area(file);
    if (!graph.has(from)) graph.set(from, new Set());
    for (const d of deps) if (area(d) !== from) graph.get(from).add(area(d));
  }
  return new Map([...graph].map(([k, v]) => [k, [...v]]));
}

/** Area pairs [from, to]: no module of `from` may load a module of `to`, directly or through others, statically or lazily. */
export const FORBIDDEN_REACH = [['deploy', 'local']];

/**
 * For each [from, to] pair, every module of area `from` that reaches area `to` through imports
 * (static and lazy), with one shortest import chain as paths relative to `dir`.
 */
export function forbiddenReach(dir, pairs = FORBIDDEN_REACH) {
  const graph = importGraph(dir, { lazy: true });
  const areaOf = (f) => path.relative(dir, f).split(path.sep)[0];
  const found = [];
  for (const [from, to] of pairs) {
    for (const start of [...graph.keys()].filter((f) => areaOf(f) === from).sort()) {
      // Breadth first, so the chain reported is a shortest one.
      const previous = new Map([[start, undefined]]);
      const queue = [start];
      let hit;
      while (queue.length > 0 && !hit) {
        const file = queue.shift();
        for (const dep of graph.get(file) ?? []) {
          if (previous.has(dep)) continue;
          previous.set(dep, file);
          if (areaOf(dep) === to) {
            hit = dep;
            break;
          }
          if (graph.has(dep)) queue.push(dep);
        }
      }
      if (!hit) continue;
      const chain = [];
      for (let f = hit; f !== undefined; f = previous.get(f)) chain.unshift(path.relative(dir, f));
      found.push(chain);
    }
  }
  return found;
}

/** Every strongly connected group of more than one module (Tarjan), as paths relative to `dir`, sorted. */
export function findCycles(dir) {
  return stronglyConnected(importGraph(dir), dir);
}

/** Every cycle between areas (top-level folders), as folder names, sorted. */
export function findAreaCycles(dir) {
  return stronglyConnected(areaGraph(dir), dir);
}

function stronglyConnected(graph, dir) {
  let index = 0;
  const stack = [];
  const on = new Set();
  const idx = new Map();
  const low = new Map();
  const cycles = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const group = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        group.push(path.relative(dir, w));
      } while (w !== v);
      if (group.length > 1) cycles.push(group.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return cycles.sort((a, b) => a[0].localeCompare(b[0]));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = path.resolve(process.argv[2] ?? 'dist/src');
  const cycles = findCycles(dir);
  const areaCycles = findAreaCycles(dir);
  const reach = forbiddenReach(dir);
  for (const c of cycles) console.log(`import cycle: ${c.join(' <-> ')}`);
  for (const c of areaCycles) console.log(`area cycle: ${c.join(' <-> ')}`);
  for (const c of reach) console.log(`forbidden import path: ${c.join(' -> ')}`);
  const problems = cycles.length + areaCycles.length + reach.length;
  if (problems === 0) console.log(`no import cycles among ${importGraph(dir).size} modules in ${path.relative(process.cwd(), dir) || '.'}, nor between its folders, and no forbidden import path (${FORBIDDEN_REACH.map(([a, b]) => `${a} -/-> ${b}`).join(', ')})`);
  process.exit(problems === 0 ? 0 : 1);
}

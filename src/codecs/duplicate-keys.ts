import { createRequire } from 'node:module';
import type { Scalar } from 'yaml';

/** The YAML package, loaded only when a key repeats (it adds to every cold start otherwise). */
function yamlPackage(): typeof import('yaml') {
  return createRequire(import.meta.url)('yaml') as typeof import('yaml');
}

/** How many object members valid JSON `text` is written with: its strings followed by a colon. */
function writtenMembers(text: string): number {
  let n = 0;
  // Every string matches where it starts (the colon is optional), so no match begins inside one.
  for (const m of text.matchAll(/"(?:[^"\\]|\\.)*"(\s*:)?/g)) if (m[1] !== undefined) n++;
  return n;
}

/** How many members the objects `JSON.parse` made hold: fewer than written when a key repeats. */
function parsedMembers(content: unknown): number {
  let n = 0;
  const stack = [content];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null) continue;
    const values = Object.values(v);
    if (!Array.isArray(v)) n += values.length;
    for (const x of values) stack.push(x);
  }
  return n;
}

/**
 * Where the first key written twice in one mapping of `text` (YAML, or JSON, which is YAML 1.2)
 * is: `line 3, column 3: duplicate key "predict" (first at line 2, column 3)`; undefined when no
 * key repeats.
 */
export function describeDuplicateKey(text: string): string | undefined {
  const yaml = yamlPackage();
  const lines = new yaml.LineCounter();
  return firstDuplicateKey(yaml, yaml.parseDocument(text, { uniqueKeys: false, lineCounter: lines }), lines);
}

/**
 * The first key written twice in one mapping of a parsed document (read with `uniqueKeys: false`
 * and `lines` as its `lineCounter`), said as {@link describeDuplicateKey} says it; undefined when
 * no key repeats. Keys are equal as the package's `uniqueKeys` takes them (scalars of one value),
 * found with a set per mapping: the package compares each key with every one before it, so a
 * file of 40 000 keys took 12 s to read, 400 000 about 20 minutes.
 */
export function firstDuplicateKey(yaml: typeof import('yaml'), doc: import('yaml').Document, lines: import('yaml').LineCounter): string | undefined {
  let found: { key: Scalar; first: Scalar } | undefined;
  yaml.visit(doc, {
    Map(_, map) {
      const seen = new Map<unknown, Scalar>();
      for (const { key } of map.items) {
        // NaN is no key's equal (===), as the package compares them.
        if (!yaml.isScalar(key) || Number.isNaN(key.value)) continue;
        const first = seen.get(key.value);
        if (first === undefined) seen.set(key.value, key);
        else if (found === undefined || (key.range?.[0] ?? Infinity) < (found.key.range?.[0] ?? Infinity)) found = { key, first };
      }
      return undefined;
    },
  });
  if (found === undefined) return undefined;
  const where = (offset: number | undefined): string => {
    const { line, col } = lines.linePos(offset ?? 0);
    return `line ${line}, column ${col}`;
  };
  return `${where(found.key.range?.[0])}: duplicate key ${JSON.stringify(found.key.value)}${found.first.range ? ` (first at ${where(found.first.range[0])})` : ''}`;
}

/**
 * Where the first mapping or list written as a key of a parsed document is (`line 2, column 3: a
 * mapping or list is used as a key`), read as {@link firstDuplicateKey} reads it; undefined when
 * every key is a scalar (or an alias). The package turns such a key into text to make a JavaScript
 * object, at a cost that grows steeply with how deep keys nest within keys: 1 KB of `? ? ? … x`
 * (512 levels) took 40 s, of `[? [? … x]]` (256 levels) 19 s. No configuration file's keys are
 * anything but names.
 */
export function firstCollectionKey(yaml: typeof import('yaml'), doc: import('yaml').Document, lines: import('yaml').LineCounter): string | undefined {
  let at: number | undefined;
  yaml.visit(doc, {
    Pair(_, pair) {
      if (!yaml.isCollection(pair.key)) return undefined;
      at = pair.key.range?.[0] ?? 0;
      return yaml.visit.BREAK;
    },
  });
  if (at === undefined) return undefined;
  const { line, col } = lines.linePos(at);
  return `line ${line}, column ${col}: a mapping or list is used as a key, where a key is a name`;
}

/**
 * Throws when valid JSON `text`, which `JSON.parse` made `content`, writes a key twice in one
 * object: `JSON.parse` keeps the last silently, so the file would mean something else than it shows.
 * The YAML package reads the text again only when the member counts say a key repeats (so a JSON
 * file does not load the package at every start), to say where.
 */
export function refuseDuplicateJsonKeys(text: string, content: unknown): void {
  if (writtenMembers(text) === parsedMembers(content)) return;
  const where = describeDuplicateKey(text) ?? 'a key is written twice in one object';
  throw new Error(`${where}; a key may appear once in an object (JSON would keep only the last)`);
}

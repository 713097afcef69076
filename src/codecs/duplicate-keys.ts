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
  const doc = yaml.parseDocument(text, { uniqueKeys: true, lineCounter: lines });
  const duplicate = doc.errors.find((e) => e.code === 'DUPLICATE_KEY');
  if (duplicate === undefined) return undefined;
  const at = duplicate.pos[0];
  const where = (offset: number): string => {
    const { line, col } = lines.linePos(offset);
    return `line ${line}, column ${col}`;
  };
  let message = `${where(at)}: duplicate key`;
  yaml.visit(doc, {
    Map(_, map) {
      const i = map.items.findIndex((p) => yaml.isScalar(p.key) && p.key.range?.[0] === at);
      if (i < 0) return undefined;
      const key = (map.items[i]!.key as Scalar).value;
      const first = map.items.slice(0, i).find((p) => yaml.isScalar(p.key) && p.key.value === key)?.key as Scalar | undefined;
      message = `${where(at)}: duplicate key ${JSON.stringify(key)}${first?.range ? ` (first at ${where(first.range[0])})` : ''}`;
      return yaml.visit.BREAK;
    },
  });
  return message;
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

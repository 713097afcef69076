import { readFileSync } from 'node:fs';

/** A shell block of the README or a page under docs/ marked `<!-- doc-test ... -->` to be run by the doc-block test. */
export interface DocBlock {
  /** The markdown file, relative to the repository. */
  readonly file: string;
  /** Line of the opening fence (1-based). */
  readonly line: number;
  /** Blocks of one group run, in document order, in one shell (a server started by one is used by the next). */
  readonly group: string;
  /** Tools the block needs beyond node, bash and curl (for example `aws`); the group is skipped without them. */
  readonly needs: readonly string[];
  /** Shell run before the block (for example a server the block assumes is running). */
  readonly before?: string;
  /** The block's text, de-indented. */
  readonly code: string;
}

const MARKER = /^\s*<!--\s*doc-test\b(.*?)-->\s*$/;
const ATTRIBUTE = /(\w+)=(?:"([^"]*)"|(\S+))/g;

/** Finds the marked shell blocks of one markdown file. */
export function readDocBlocks(absFile: string, relFile: string): DocBlock[] {
  const lines = readFileSync(absFile, 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const marker = MARKER.exec(lines[i]!);
    if (!marker) continue;
    const attrs: Record<string, string> = {};
    for (const m of marker[1]!.matchAll(ATTRIBUTE)) attrs[m[1]!] = m[2] ?? m[3]!;
    let j = i + 1;
    while (j < lines.length && lines[j]!.trim() === '') j++;
    const fence = /^(\s*)```(sh|bash)\s*$/.exec(lines[j] ?? '');
    if (!fence) throw new Error(`${relFile}:${i + 1}: a doc-test marker must be followed by a \`\`\`sh block`);
    const indent = fence[1]!.length;
    const code: string[] = [];
    let k = j + 1;
    for (; k < lines.length && !/^\s*```\s*$/.test(lines[k]!); k++) code.push(lines[k]!.slice(Math.min(indent, lines[k]!.search(/\S|$/))));
    if (k === lines.length) throw new Error(`${relFile}:${j + 1}: unterminated code block`);
    // `skip="why"`: a block that cannot run here (an image build, AWS), marked so the reason is on record.
    if (attrs.skip !== undefined) {
      i = k;
      continue;
    }
    blocks.push({
      file: relFile,
      line: j + 1,
      group: attrs.group ?? `${relFile}:${j + 1}`,
      needs: attrs.needs ? attrs.needs.split(',') : [],
      ...(attrs.before ? { before: attrs.before } : {}),
      code: code.join('\n'),
    });
    i = k;
  }
  return blocks;
}

/**
 * The answers a block documents: comment lines that show output (`# [[0.98, ...]]`, `# {"a": 1}`,
 * `# 0.98,0.01`), as patterns where `...` stands for anything.
 */
export function expectedOutputs(code: string): RegExp[] {
  const out: RegExp[] = [];
  for (const line of code.split('\n')) {
    const m = /^\s*# ((?:\[|\{|-?\d+\.\d).*)$/.exec(line);
    if (!m) continue;
    const pattern = m[1]!.trim().split('...').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*?');
    out.push(new RegExp(pattern));
  }
  return out;
}

/**
 * Lines of the shell blocks of a markdown file that run `node bin/smkit.js` with no `<!-- doc-test ... -->`
 * marker (neither run nor skipped with a reason): a reader runs them as written, so they are run too.
 */
export function unmarkedSmkitBlocks(absFile: string): number[] {
  const lines = readFileSync(absFile, 'utf8').split('\n');
  const found: number[] = [];
  for (let j = 0; j < lines.length; j++) {
    if (!/^\s*```(sh|bash)\s*$/.test(lines[j]!)) continue;
    let k = j + 1;
    while (k < lines.length && !/^\s*```\s*$/.test(lines[k]!)) k++;
    let p = j - 1;
    while (p >= 0 && lines[p]!.trim() === '') p--;
    if (!MARKER.test(lines[p] ?? '') && lines.slice(j + 1, k).some((l) => l.includes('bin/smkit.js'))) found.push(j + 1);
    j = k;
  }
  return found;
}

import { readFileSync } from 'node:fs';

/** How the doc-block test runs a block: in bash, as a Node module, as a Python script, or written to a file. */
export type DocBlockKind = 'sh' | 'js' | 'python' | 'file';

/**
 * A block of the README or a page under docs/ marked `<!-- doc-test ... -->` to be run by the doc-block
 * test: a shell block (```sh), an SDK script (```js, ```python), or, with `file=<name>`, any block
 * written to that file for the blocks after it (an endpoint file).
 */
export interface DocBlock {
  /** The markdown file, relative to the repository. */
  readonly file: string;
  /** Line of the opening fence (1-based). */
  readonly line: number;
  /** Blocks of one group run, in document order, in one shell (a server started by one is used by the next); `group=a,b` puts a block in both. */
  readonly group: string;
  /** How it is run. */
  readonly kind: DocBlockKind;
  /** With kind `file`: the file (relative to the scratch folder) the block's text is written to. */
  readonly writes?: string;
  /** Tools the block needs beyond node, bash and curl (`aws`, `boto3`); the group is skipped without them. */
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
    const fence = /^(\s*)```(\w*)\s*$/.exec(lines[j] ?? '');
    const lang = fence?.[2] ?? '';
    const kind: DocBlockKind | undefined = attrs.file !== undefined ? 'file' : ['sh', 'bash'].includes(lang) ? 'sh' : lang === 'js' || lang === 'python' ? lang : undefined;
    if (!fence || (kind === undefined && attrs.skip === undefined)) {
      throw new Error(`${relFile}:${i + 1}: a doc-test marker must be followed by a \`\`\`sh, \`\`\`js or \`\`\`python block, or give file=<name>`);
    }
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
    for (const group of (attrs.group ?? `${relFile}:${j + 1}`).split(',')) {
      blocks.push({
        file: relFile,
        line: j + 1,
        group,
        kind: kind!,
        ...(attrs.file !== undefined ? { writes: attrs.file } : {}),
        needs: attrs.needs ? attrs.needs.split(',') : [],
        ...(attrs.before ? { before: attrs.before } : {}),
        code: code.join('\n'),
      });
    }
    i = k;
  }
  return blocks;
}

/**
 * The answers a block documents, as patterns where `...` stands for anything: in a shell block, comment
 * lines that show output (`# [[0.98, ...]]`, `# {"a": 1}`, `# 0.98,0.01`); in an SDK script, the
 * comment at the end of a line that prints (`print(d["EndpointConfigName"])   # iris-v1`).
 */
export function expectedOutputs(block: Pick<DocBlock, 'kind' | 'code'>): RegExp[] {
  const out: RegExp[] = [];
  if (block.kind === 'file') return out;
  const shown = block.kind === 'sh' ? /^\s*# ((?:\[|\{|-?\d+\.\d).*)$/ : block.kind === 'js' ? /^\s*console\.log\(.*\/\/ (.+)$/ : /^\s*print\(.*# (.+)$/;
  for (const line of block.code.split('\n')) {
    const m = shown.exec(line);
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

/**
 * Lines of the shell, JavaScript and Python blocks of a markdown file that have no
 * `<!-- doc-test ... -->` marker: on a walk-through page every such block is run, or says why not.
 */
export function unmarkedCodeBlocks(absFile: string): number[] {
  const lines = readFileSync(absFile, 'utf8').split('\n');
  const found: number[] = [];
  for (let j = 0; j < lines.length; j++) {
    const fence = /^\s*```(\w*)\s*$/.exec(lines[j]!);
    if (!fence) continue;
    let k = j + 1;
    while (k < lines.length && !/^\s*```\s*$/.test(lines[k]!)) k++;
    let p = j - 1;
    while (p >= 0 && lines[p]!.trim() === '') p--;
    if (['sh', 'bash', 'js', 'python'].includes(fence[1]!) && !MARKER.test(lines[p] ?? '')) found.push(j + 1);
    j = k;
  }
  return found;
}

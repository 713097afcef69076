import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ToolkitError } from '../../errors/catalogue.js';
import { MAX_JSON_DEPTH, jsonNestsDeeperThan } from '../../codecs/json-depth.js';

/** The input files a manifest names: a folder and paths relative to it, in manifest order. */
export interface ManifestInputs {
  dir: string;
  files: string[];
}

const EXAMPLE = '[{"prefix": "data/"}, "part-1.csv", "sub/part-2.csv"]';

/**
 * Largest manifest read (64 MiB), locally and from S3. AWS documents no limit; this is smkit's own:
 * a manifest is held whole and parsed at once, and 64 MiB lists over half a million keys of 100
 * characters. A bigger one is refused, no more than this read of it.
 */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/**
 * Reads a file as UTF-8 text unless it is longer than `maxBytes`: undefined then, having read no
 * more than `maxBytes + 1` bytes of it (its size is checked first, and again as it is read, in case
 * it grows).
 */
async function readCapped(file: string, maxBytes: number): Promise<string | undefined> {
  const handle = await fs.open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    if (size > maxBytes) return undefined;
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      // A small manifest in one read (and one more that finds its end).
      const want = Math.min(Math.max(size + 1, 1 << 16), 1 << 20, maxBytes + 1 - total);
      const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(want), 0, want, null);
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      total += bytesRead;
      if (total > maxBytes) return undefined;
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * Reads an `S3DataType=ManifestFile` manifest
 * (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformS3DataSource.html): a JSON
 * array whose first element is `{"prefix": ...}` and whose other elements are paths relative to
 * it. Locally the prefix is a folder (relative to the manifest's folder, or `file://`). Throws
 * `ERR_CLI_USAGE` for anything else, a manifest over `maxBytes`, a path that leaves the prefix, or
 * a file that is missing. A file listed more than once (`a.csv`, `./a.csv`) is taken once, where it
 * is first listed.
 */
export async function readManifest(manifestPath: string, maxBytes = MAX_MANIFEST_BYTES): Promise<ManifestInputs> {
  const bad = (why: string): ToolkitError => new ToolkitError('ERR_CLI_USAGE', `manifest ${manifestPath}: ${why}; a manifest looks like ${EXAMPLE}`);
  let text: string | undefined;
  try {
    text = await readCapped(manifestPath, maxBytes);
  } catch (err) {
    throw bad(`not readable as JSON (${(err as Error).message})`);
  }
  if (text === undefined) throw bad(`is larger than ${maxBytes} bytes, the most smkit reads of a manifest; split the files over several manifests (or jobs), or give their folder as --input`);
  // An element is quoted in a message (JSON.stringify, which recurses): a manifest is one array of strings deep.
  if (jsonNestsDeeperThan(text)) throw bad(`nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw bad(`not readable as JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw bad('not a JSON array');
  const [head, ...entries] = parsed as unknown[];
  const prefix = typeof head === 'object' && head !== null ? (head as { prefix?: unknown }).prefix : undefined;
  if (typeof prefix !== 'string' || prefix === '') throw bad('the first element must be {"prefix": "<folder>"}');
  if (/^s3:\/\//i.test(prefix)) throw bad(`the prefix ${prefix} is in S3; smkit local transform reads local files: give the folder the objects are copied to`);
  const dir = path.resolve(path.dirname(manifestPath), prefix.replace(/^file:\/\//i, ''));
  const files: string[] = [];
  // The manifest's paths are a set ("the complete set of S3Uris in this manifest"): a file listed
  // twice is transformed once, as two runs of it would write the same .out at once.
  const listed = new Set<string>();
  for (const [i, entry] of entries.entries()) {
    if (typeof entry !== 'string' || entry === '') throw bad(`element ${i + 1} must be a non-empty path relative to the prefix (got ${JSON.stringify(entry)})`);
    const full = path.resolve(dir, entry);
    // An S3 key is a plain string; locally .. or an absolute path would read files outside the prefix.
    if (!full.startsWith(dir + path.sep)) throw bad(`element ${i + 1} (${entry}) leads outside the prefix folder ${dir}`);
    const stat = await fs.stat(full).catch(() => undefined);
    if (!stat?.isFile()) throw bad(`element ${i + 1} (${entry}) is not a file under ${dir}`);
    const rel = path.relative(dir, full);
    if (listed.has(rel)) continue;
    listed.add(rel);
    files.push(rel);
  }
  return { dir, files };
}

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
 * Reads an `S3DataType=ManifestFile` manifest
 * (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformS3DataSource.html): a JSON
 * array whose first element is `{"prefix": ...}` and whose other elements are paths relative to
 * it. Locally the prefix is a folder (relative to the manifest's folder, or `file://`). Throws
 * `ERR_CLI_USAGE` for anything else, a path that leaves the prefix, or a file that is missing.
 */
export async function readManifest(manifestPath: string): Promise<ManifestInputs> {
  const bad = (why: string): ToolkitError => new ToolkitError('ERR_CLI_USAGE', `manifest ${manifestPath}: ${why}; a manifest looks like ${EXAMPLE}`);
  let text: string;
  try {
    text = await fs.readFile(manifestPath, 'utf8');
  } catch (err) {
    throw bad(`not readable as JSON (${(err as Error).message})`);
  }
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
  for (const [i, entry] of entries.entries()) {
    if (typeof entry !== 'string' || entry === '') throw bad(`element ${i + 1} must be a non-empty path relative to the prefix (got ${JSON.stringify(entry)})`);
    const full = path.resolve(dir, entry);
    // An S3 key is a plain string; locally .. or an absolute path would read files outside the prefix.
    if (!full.startsWith(dir + path.sep)) throw bad(`element ${i + 1} (${entry}) leads outside the prefix folder ${dir}`);
    const stat = await fs.stat(full).catch(() => undefined);
    if (!stat?.isFile()) throw bad(`element ${i + 1} (${entry}) is not a file under ${dir}`);
    files.push(path.relative(dir, full));
  }
  return { dir, files };
}

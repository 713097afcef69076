import { invalidPath, pathProblem } from '../config/flag-values.js';
import { promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ToolkitError } from '../errors/catalogue.js';
import { makeDir } from '../fs/make-dir.js';
import { HANDLER_MJS, LABELS_TXT, MODEL_TEST_MJS, PIPELINE_YAML, SAMPLE_CSV, SAMPLE_JSON, packageJson, readme } from './templates.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** npm's longest package name (validate-npm-package-name); a folder name may be up to 255 bytes. */
const NPM_NAME_MAX = 214;
/** Names npm refuses whatever their characters (validate-npm-package-name's blocklist). */
const NPM_BLOCKED_NAMES = new Set(['node_modules', 'favicon.ico']);

/**
 * The package.json name for a project in folder `folder`: lower case, runs of characters npm does not
 * take turned into `-`, no leading `.`, `_` or `-`, at most 214 characters, and `smkit-model` when
 * nothing is left or npm refuses the name outright, so `npm install` and `npm test` accept it.
 */
export function packageNameFor(folder: string): string {
  const name = folder
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+/, '')
    .slice(0, NPM_NAME_MAX);
  return name === '' || NPM_BLOCKED_NAMES.has(name) ? 'smkit-model' : name;
}

/** Options for {@link scaffoldProject}. */
export interface ScaffoldOptions {
  /** Write into a non-empty directory (existing files with the same names are overwritten). */
  force?: boolean;
  /** The `/opt/ml` skeleton to copy. @defaultValue smkit's `opt-ml-template/` */
  templateDir?: string;
  /** The example model. @defaultValue smkit's `models/iris-onnx/model.onnx` */
  exampleModel?: string;
}

/** What {@link scaffoldProject} wrote. */
export interface ScaffoldResult {
  dir: string;
  files: string[];
  /** Set when the example model was not found, so `model/` has no model.onnx. */
  missingModel?: string;
}

async function listFiles(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(root, r)));
    else out.push(r);
  }
  return out;
}

/** Why `target` (whose lookup failed with ENOTDIR) cannot be a folder: it is a file, or a file stands on its way. */
function fileInTheWay(target: string): string {
  for (let p = path.dirname(target); p !== path.dirname(p); p = path.dirname(p)) {
    try {
      if (!statSync(p).isDirectory()) return `is inside ${p}, which is a file`;
    } catch {
      // Not there, or itself under a file: keep walking up.
    }
  }
  return 'is a file';
}

/**
 * Creates a model project in `dir`: smkit's `opt-ml-template/` (an `/opt/ml` skeleton), the iris
 * ONNX example in `model/` with a `pipeline.yaml` and a documented `code/inference.mjs`, sample
 * requests, a `node --test` test that serves and invokes the model, a README and a package.json.
 * Refuses a non-empty `dir` with `ERR_INIT_TARGET` unless `force`, and an empty or blank `dir` with `ERR_CLI_USAGE`;
 * a run that fails part-way (`ERR_INIT_TARGET`) removes what it wrote, except inside a non-empty `dir` written with `force`.
 */
export async function scaffoldProject(dir: string, options: ScaffoldOptions = {}): Promise<ScaffoldResult> {
  // path.resolve('') is the current folder: an empty name (an unset shell variable) must not mean it.
  if (dir.trim() === '') {
    throw new ToolkitError('ERR_CLI_USAGE', `smkit init needs a folder name, got ${JSON.stringify(dir)}: give one (smkit init my-model), or . for the current folder`);
  }
  if (dir.includes('\0')) {
    throw new ToolkitError('ERR_CLI_USAGE', `smkit init got a folder name with a NUL character (${JSON.stringify(dir)}), which no file system accepts: give a name without it`);
  }
  const target = path.resolve(dir);
  const existing = await fs.readdir(target).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw invalidPath('<dir>', dir, 'a folder to create (empty or missing)', err.code === 'ENOTDIR' ? fileInTheWay(target) : pathProblem(err));
  });
  if (existing.length > 0 && !options.force) {
    throw new ToolkitError('ERR_INIT_TARGET', `${dir} is not empty (${existing.slice(0, 5).join(', ')}${existing.length > 5 ? ', ...' : ''}); choose a new folder or pass --force to write into it`);
  }
  // A failed run leaves nothing half-written: it removes the first folder it created (the target, or
  // its first missing parent), or empties a target that was empty; with --force, what was there stays.
  let created: string | undefined;
  try {
    created = await makeDir(target);
    return await writeProject(target, options);
  } catch (err) {
    if (created !== undefined) await fs.rm(created, { recursive: true, force: true }).catch(() => undefined);
    else if (existing.length === 0) {
      const written = await fs.readdir(target).catch(() => [] as string[]);
      await Promise.all(written.map((e) => fs.rm(path.join(target, e), { recursive: true, force: true }).catch(() => undefined)));
    }
    // With --force, a file may stand where the project puts a folder (or the reverse).
    if (err instanceof ToolkitError) throw err;
    throw new ToolkitError('ERR_INIT_TARGET', `${dir} cannot be used: ${inTheWay(err)}; choose a new folder, or remove what stands in the way`, { cause: err });
  }
}

/**
 * What stood in the way, from the error of a write into a `--force` target: fs.cp's own message was
 * `Cannot overwrite non-directory with directory: cp returned EISDIR (cannot overwrite non-directory
 * <dest> with directory <template>) <dest>`, mkdir's and writeFile's `EEXIST: file already exists, mkdir '<dest>'`.
 */
function inTheWay(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { info?: { path?: string }; dest?: string };
  // copyFile's path is the example model; what is in the way is its dest.
  const where = e.info?.path ?? (e.syscall === 'copyfile' ? e.dest : undefined) ?? e.path;
  if (where === undefined) return (err as Error).message;
  switch (e.code) {
    case 'ERR_FS_CP_DIR_TO_NON_DIR':
    case 'EEXIST':
      return `${where} is a file, where the project puts a folder`;
    case 'ENOTDIR':
      return `${where} ${fileInTheWay(where)}, where the project puts a folder`;
    case 'ERR_FS_CP_NON_DIR_TO_DIR':
    case 'EISDIR':
      return `${where} is a folder, where the project puts a file`;
    default:
      // ENOENT of a mkdir under /proc, a full disk: the error says it best.
      return (err as Error).message;
  }
}

async function writeProject(target: string, options: ScaffoldOptions): Promise<ScaffoldResult> {
  const templateDir = options.templateDir ?? path.join(REPO_ROOT, 'opt-ml-template');
  if (await fs.stat(templateDir).then((s) => s.isDirectory(), () => false)) {
    await fs.cp(templateDir, target, { recursive: true, force: true });
    // The template's README describes the /opt/ml tree; the project README takes its place.
    await fs.rename(path.join(target, 'README.md'), path.join(target, 'OPT-ML.md')).catch(() => undefined);
  }
  for (const d of ['model/code', 'samples', 'test']) await fs.mkdir(path.join(target, d), { recursive: true });
  const name = packageNameFor(path.basename(target));
  const files: Record<string, string> = {
    'model/pipeline.yaml': PIPELINE_YAML,
    'model/labels.txt': LABELS_TXT,
    'model/code/inference.mjs': HANDLER_MJS,
    'samples/request.csv': SAMPLE_CSV,
    'samples/request.json': SAMPLE_JSON,
    'test/model.test.mjs': MODEL_TEST_MJS,
    'README.md': readme(name),
    'package.json': packageJson(name, REPO_ROOT.replace(/\/$/, '')),
    '.gitignore': 'node_modules/\nmodel.tar.gz\ntransformed/\n',
  };
  for (const [rel, text] of Object.entries(files)) await fs.writeFile(path.join(target, rel), text);
  const exampleModel = options.exampleModel ?? path.join(REPO_ROOT, 'models', 'iris-onnx', 'model.onnx');
  let missingModel: string | undefined;
  // Only a missing example is a warning: a folder (with --force) where model.onnx goes is in the way.
  if (await fs.stat(exampleModel).then((s) => s.isFile(), () => false)) await fs.copyFile(exampleModel, path.join(target, 'model', 'model.onnx'));
  else missingModel = exampleModel;
  return { dir: target, files: (await listFiles(target)).sort(), ...(missingModel ? { missingModel } : {}) };
}

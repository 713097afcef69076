import { meantHint } from '../core/closest-name.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { lazyRequire } from '../core/lazy-require.js';
import { ToolkitError } from '../errors/catalogue.js';
import type { StepStage } from './step.js';
import { findJsonErrorPosition } from '../codecs/json-error-position.js';
import { firstCollectionKey, firstDuplicateKey, refuseDuplicateJsonKeys } from '../codecs/duplicate-keys.js';
import { MAX_YAML_DEPTH, yamlNestsDeeperThan } from '../codecs/yaml-depth.js';
import { yamlErrorForAuthor } from '../codecs/yaml-documents.js';
import { readBoundedFile } from '../fs/read-bounded-file.js';

/**
 * The YAML package, loaded only when a model has a YAML pipeline file (it adds to every cold start
 * otherwise); not while the process has no file descriptors to spare (a multi-model endpoint reads
 * pipeline files while it serves): 503 `ERR_SERVER_BUSY` then, see lazy-require.ts.
 */
const yamlPackage = lazyRequire<typeof import('yaml')>('yaml');

/**
 * Parses a YAML pipeline file; a key repeated in a mapping is an error, named with both places. As
 * an endpoint file is read: a file nested past {@link MAX_YAML_DEPTH} is refused before the package
 * parses it (its memory grows with each level: 2 MB of `[[[[` took more than 64 MB), and repeated
 * keys are found with a set per mapping (the package's `uniqueKeys` compares each key with every
 * one before it).
 */
function parseYaml(text: string): unknown {
  const yaml = yamlPackage();
  if (yamlNestsDeeperThan(yaml, text)) throw new Error(`it nests its mappings and lists more than ${MAX_YAML_DEPTH} levels deep, far more than a pipeline file has: remove the extra nesting`);
  const lines = new yaml.LineCounter();
  const doc = yaml.parseDocument(text, { uniqueKeys: false, lineCounter: lines });
  if (doc.errors.length > 0) throw yamlErrorForAuthor(doc.errors[0]!, 'a pipeline file is one document; list every step under its preprocess:, predict: and postprocess: keys');
  const duplicate = firstDuplicateKey(yaml, doc, lines);
  if (duplicate !== undefined) throw new Error(`${duplicate}; a key may appear once in a mapping`);
  const collectionKey = firstCollectionKey(yaml, doc, lines);
  if (collectionKey !== undefined) throw new Error(collectionKey);
  return doc.toJS();
}

/**
 * Parses a JSON pipeline file. V8's message does not always say where the text went wrong (Node 20:
 * `Unexpected token ']', ..."nnx" },` with no position), so a parse error gets its line and column.
 */
function parseJson(text: string): unknown {
  let content: unknown;
  try {
    content = JSON.parse(text);
  } catch (err) {
    let where = '';
    try {
      const at = findJsonErrorPosition(text);
      where = `line ${at.line}, column ${at.column}: `;
    } catch {
      // The locator recurses; a file nested too deeply for it gets V8's message alone.
    }
    throw new Error(`${where}${(err as Error).message}`, { cause: err });
  }
  refuseDuplicateJsonKeys(text, content);
  return content;
}

/** File names looked for in the model directory, first match wins. */
export const PIPELINE_FILE_NAMES = ['pipeline.yaml', 'pipeline.yml', 'pipeline.json'] as const;

/** One step as written in the pipeline file, after validation. */
export interface StepSpec {
  /** Step kind (`softmax`, `resize`, `predict`, `custom` ...). */
  readonly kind: string;
  readonly stage: StepStage;
  /** Display name for logs and errors (`preprocess[0]:scale`). */
  readonly name: string;
  readonly options: Readonly<Record<string, unknown>>;
}

/** A validated pipeline file. */
export interface PipelineSpec {
  readonly file: string;
  readonly steps: readonly StepSpec[];
}

const STAGES: readonly StepStage[] = ['preprocess', 'predict', 'postprocess'];

function fail(file: string, message: string): ToolkitError {
  return new ToolkitError('ERR_PIPELINE_INVALID', `${path.basename(file)}: ${message}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses one entry of a stage list. Pre/postprocess entries are `{ <kind>: <options> }`; predict
 * entries are `{ model: <path>, runtime?: onnx|tfjs, ... }` or `{ custom: {...} }`.
 */
function parseEntry(file: string, stage: StepStage, index: number, entry: unknown): StepSpec {
  const where = `${stage}[${index}]`;
  if (!isPlainObject(entry)) throw fail(file, `${where} must be a mapping such as ${file.endsWith('.json') ? '{ "softmax": {} }' : '{ softmax: {} }'}`);
  if (stage === 'predict' && 'model' in entry) {
    if (typeof entry['model'] !== 'string' || entry['model'] === '') throw fail(file, `${where}.model must be a path inside the model directory`);
    return { kind: 'predict', stage, name: `${where}:${entry['model']}`, options: entry };
  }
  const keys = Object.keys(entry);
  if (keys.length !== 1) {
    throw fail(file, `${where} must have exactly one key naming the step kind (found ${keys.length ? keys.join(', ') : 'none'})${stage === 'predict' ? ', or a "model" key' : ''}`);
  }
  const kind = keys[0]!;
  const raw = entry[kind];
  if (raw !== null && raw !== undefined && !isPlainObject(raw)) throw fail(file, `${where}.${kind} options must be a mapping (or empty)`);
  return { kind, stage, name: `${where}:${kind}`, options: (raw ?? {}) as Record<string, unknown> };
}

/** Validates parsed pipeline-file content. */
export function parsePipelineSpec(content: unknown, file = 'pipeline.yaml'): PipelineSpec {
  if (!isPlainObject(content)) throw fail(file, 'the file must be a mapping with preprocess, predict and postprocess lists');
  const unknown = Object.keys(content).filter((k) => !STAGES.includes(k as StepStage) && k !== 'version');
  if (unknown.length) throw fail(file, `unknown top-level key(s) ${unknown.map((k) => `${k}${meantHint(k, ['version', ...STAGES])}`).join(', ')}; allowed: version, ${STAGES.join(', ')}`);
  if (content['version'] !== undefined && content['version'] !== 1) throw fail(file, `version must be 1`);
  const steps: StepSpec[] = [];
  for (const stage of STAGES) {
    const list = content[stage];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw fail(file, `${stage} must be a list`);
    list.forEach((entry, i) => steps.push(parseEntry(file, stage, i, entry)));
  }
  if (!steps.some((s) => s.stage === 'predict')) {
    // The example in the file's own syntax: YAML's list item is no help in a JSON file.
    throw fail(file, `predict needs at least one step (for example ${file.endsWith('.json') ? '"predict": [{ "model": "model.onnx" }]' : '"- model: model.onnx"'})`);
  }
  return { file, steps };
}

/**
 * The files in code/ that the pipeline's custom steps import (`module: post.mjs` as `post.mjs`,
 * `./steps/x.mjs` as `steps/x.mjs`): scripts there that are no misnamed handler module.
 */
export function customStepModules(spec: PipelineSpec): string[] {
  return spec.steps
    .filter((s) => s.kind === 'custom' && typeof s.options['module'] === 'string' && s.options['module'] !== '')
    .map((s) => path.normalize(s.options['module'] as string));
}

/** The largest pipeline file read, as for endpoint files: far above any real one, far below what would hold the process. */
export const MAX_PIPELINE_FILE_BYTES = 16 * 1024 * 1024;

/** Finds and reads the pipeline file in `modelDir`; undefined when there is none. */
export function readPipelineFile(modelDir: string): PipelineSpec | undefined {
  const file = PIPELINE_FILE_NAMES.map((n) => path.join(modelDir, n)).find((p) => existsSync(p));
  if (!file) return undefined;
  // As an endpoint file is read: a FIFO in its place would hold the start for good, and a huge
  // file or a device would be read into memory without end.
  const bytes = readBoundedFile(file, MAX_PIPELINE_FILE_BYTES, (problem, cause) => new ToolkitError('ERR_PIPELINE_INVALID', `${path.basename(file)}: cannot be read: ${problem}`, cause === undefined ? undefined : { cause }));
  let content: unknown;
  try {
    // A byte order mark (Windows editors write one) is not part of the text; JSON.parse refuses it
    // (RFC 8259 lets a parser ignore it), the YAML package skips it. Endpoint files skip it too.
    const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
    content = file.endsWith('.json') ? parseJson(text) : parseYaml(text);
  } catch (err) {
    // The YAML package could not be loaded for want of file descriptors: nothing is wrong with the file.
    if (err instanceof ToolkitError && err.code === 'ERR_SERVER_BUSY') throw err;
    throw fail(file, `cannot be parsed: ${(err as Error).message}`);
  }
  return parsePipelineSpec(content, file);
}

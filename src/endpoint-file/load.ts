import { basename, dirname, extname, resolve } from 'node:path';
import { statSync, type Stats } from 'node:fs';
import { checkPath, invalidFlag, invalidPath, pathProblem } from '../config/flag-values.js';
import { ToolkitError } from '../errors/catalogue.js';
import { readBoundedFile } from '../fs/read-bounded-file.js';
import { isModelArchive } from '../archive/model-archive.js';
import { firstCollectionKey, firstDuplicateKey, refuseDuplicateJsonKeys } from '../codecs/duplicate-keys.js';
import { findJsonErrorPosition } from '../codecs/json-error-position.js';
import { MAX_YAML_DEPTH, yamlNestsDeeperThan } from '../codecs/yaml-depth.js';
import { yamlErrorForAuthor } from '../codecs/yaml-documents.js';
import { isSageMakerName, SAGEMAKER_NAME_MAX_LENGTH } from '../core/sagemaker-headers.js';
import { parseEndpointFile, type ContainerConfig, type EndpointFileConfig, type VariantConfig } from './schema.js';

/** Reads and validates an endpoint file (`.json`, `.yaml` or `.yml`); paths inside are relative to it. */
export async function readEndpointFile(file: string): Promise<EndpointFileConfig> {
  const abs = resolve(file);
  // A byte order mark (Windows editors write one) is not part of the text; JSON.parse refuses it
  // (RFC 8259 lets a parser ignore it), the YAML package skips it.
  const text = readBoundedFile(abs, MAX_ENDPOINT_FILE_BYTES, endpointFileError((problem) => `cannot read endpoint file ${abs}: ${problem}`)).toString('utf8').replace(/^\uFEFF/, '');
  const json = extname(abs).toLowerCase() === '.json';
  const yaml = json ? undefined : await import('yaml');
  if (yaml !== undefined && yamlNestsDeeperThan(yaml, text)) {
    throw new ToolkitError('ERR_ENDPOINT_FILE_INVALID', `${abs} nests its mappings and lists more than ${MAX_YAML_DEPTH} levels deep, far more than an endpoint file has (the YAML parser's memory grows with each level): remove the extra nesting`);
  }
  let doc: unknown;
  let duplicate: string | undefined;
  try {
    if (yaml === undefined) doc = JSON.parse(text);
    else {
      // Repeated keys are found here, a set per mapping: the package's own check (uniqueKeys)
      // compares each key with every one before it (40 000 keys took 12 s) and does not name the key.
      const lines = new yaml.LineCounter();
      const parsed = yaml.parseDocument(text, { uniqueKeys: false, lineCounter: lines });
      if (parsed.errors.length > 0) throw yamlErrorForAuthor(parsed.errors[0]!, 'an endpoint file is one document; list every endpoint under its one endpoints: key');
      // First: an env name read as a boolean (`%YAML 1.1`'s Y and TRUE) is its text, not a second "true".
      keepEnvValuesAsWritten(yaml, parsed);
      duplicate = firstDuplicateKey(yaml, parsed, lines);
      const collectionKey = duplicate === undefined ? firstCollectionKey(yaml, parsed, lines) : undefined;
      if (collectionKey !== undefined) throw new Error(collectionKey);
      if (duplicate === undefined) doc = parsed.toJS();
    }
  } catch (err) {
    throw new ToolkitError('ERR_ENDPOINT_FILE_INVALID', `${abs} is not valid ${json ? 'JSON' : 'YAML'}: ${json ? jsonErrorAt(text) : ''}${(err as Error).message}`, { cause: err });
  }
  if (duplicate !== undefined) throw new ToolkitError('ERR_ENDPOINT_FILE_INVALID', `${abs}, ${duplicate}; a key may appear once in a mapping`);
  if (json) {
    try {
      refuseDuplicateJsonKeys(text, doc);
    } catch (err) {
      throw new ToolkitError('ERR_ENDPOINT_FILE_INVALID', `${abs}, ${(err as Error).message}`, { cause: err });
    }
  }
  const base = dirname(abs);
  try {
    return parseEndpointFile(doc, (p) => resolve(base, p), readSample);
  } catch (err) {
    throw inEndpointFile(err, abs);
  }
}

/**
 * An environment value is text, and YAML reads an unquoted `1.10` as the number 1.1, `1.0` as 1,
 * `010` as 10, `1e3` as 1000, `True` as true and a 20-digit number past double precision: the
 * container got another value than the one written. In `env` maps (a variant's or a pipeline
 * container's, the shadow's), a number or boolean is given as its text in the file instead, and so
 * is a date, which a `%YAML 1.1` file's schema reads (and `yes`, `on`, `1_000` and `0b1` as
 * booleans and numbers).
 */
function keepEnvValuesAsWritten(yaml: typeof import('yaml'), doc: import('yaml').Document): void {
  const { isAlias, isMap, isScalar, isSeq, Scalar } = yaml;
  // An alias (variants: [*base], env: *shared) stands for its anchor's node.
  const node = (n: unknown): unknown => (isAlias(n) ? n.resolve(doc) : n);
  const get = (n: unknown, key: string): unknown => { const m = node(n); return isMap(m) ? node(m.get(key, true)) : undefined; };
  const items = (n: unknown): unknown[] => { const s = node(n); return isSeq(s) ? s.items : []; };
  // A number, a boolean, or under a `%YAML 1.1` directive a date (2024-01-01), which was refused.
  const readAsText = (v: unknown): v is import('yaml').Scalar<unknown> & { source: string } =>
    isScalar(v) && (typeof v.value === 'number' || typeof v.value === 'boolean' || v.value instanceof Date) && typeof v.source === 'string';
  const keepEnv = (owner: unknown): void => {
    const env = get(owner, 'env');
    if (!isMap(env)) return;
    for (const pair of env.items) {
      // A variable's name too: TRUE, and under `%YAML 1.1` Y, N, ON or NO, read as a boolean and named "true" or "false".
      if (readAsText(pair.key)) pair.key.value = pair.key.source;
      const v = pair.value;
      if (readAsText(v)) v.value = v.source;
      // An alias of a scalar anchored elsewhere (a number key's, say): the env gets its text, the anchor stays as it is.
      else if (isAlias(v) && readAsText(v.resolve(doc))) pair.value = new Scalar((v.resolve(doc) as { source: string }).source);
    }
  };
  for (const endpoint of items(get(doc.contents, 'endpoints'))) {
    const shadow = get(endpoint, 'shadow');
    for (const variant of [...items(get(endpoint, 'variants')), ...(shadow === undefined ? [] : [shadow])]) {
      keepEnv(variant);
      for (const container of items(get(variant, 'containers'))) keepEnv(container);
    }
  }
}

/** The largest endpoint file read: far above any real one, far below what would hold the process. */
export const MAX_ENDPOINT_FILE_BYTES = 16 * 1024 * 1024;

/** Reads a deep-ping `bodyFile` (`where` names its key). */
function readSample(file: string, where: string, maxBytes: number): Buffer {
  return readBoundedFile(file, maxBytes, endpointFileError((problem) => `${where}: cannot read ${file}: ${problem}`));
}

/** A refusal of {@link readBoundedFile} as ERR_ENDPOINT_FILE_INVALID, worded by `say`. */
function endpointFileError(say: (problem: string) => string): (problem: string, cause?: unknown) => ToolkitError {
  return (problem, cause) => new ToolkitError('ERR_ENDPOINT_FILE_INVALID', say(problem), cause === undefined ? undefined : { cause });
}

/** Where JSON.parse stopped (`line 3, column 49: `): V8's message does not always say (Node 20). */
function jsonErrorAt(text: string): string {
  try {
    const at = findJsonErrorPosition(text);
    return `line ${at.line}, column ${at.column}: `;
  } catch {
    // The locator recurses; a file nested too deeply for it gets V8's message alone.
    return '';
  }
}

/**
 * A mistake found in an endpoint file, with the file's path after the message (`… (in
 * /ci/endpoints.yaml)`), so a run over several files says which one to fix. Other errors pass as they are.
 */
export function inEndpointFile(err: unknown, file: string): unknown {
  if (!(err instanceof ToolkitError) || err.message.endsWith(`(in ${file})`)) return err;
  return new ToolkitError(err.code, `${err.message} (in ${file})`, { cause: err, status: err.status, ...(err.details ? { details: err.details } : {}) });
}

/** Derives a valid endpoint name from a model path (`models/iris-onnx` → `iris-onnx`). */
export function endpointNameFor(modelPath: string): string {
  let stem = basename(resolve(modelPath)).replace(/\.(tar\.gz|tgz)$/i, '');
  if (stem === 'model' || stem === '') stem = basename(dirname(resolve(modelPath)));
  const cleaned = stem.replace(/[^a-zA-Z0-9-]+/g, '-').replace(/-+$/, '').replace(/^-+/, '').slice(0, SAGEMAKER_NAME_MAX_LENGTH).replace(/-+$/, '');
  return isSageMakerName(cleaned) ? cleaned : 'local-endpoint';
}

/**
 * Turns the `smkit local` target into a configuration: an endpoint file is read and validated; a
 * model directory or `model.tar.gz` becomes one endpoint with one `AllTraffic` variant.
 */
export async function loadEndpointTarget(target: string, opts: { name?: string } = {}): Promise<EndpointFileConfig> {
  // Checked as the flag for a model too: it became the endpoint file's endpoints[0].name, which the user never wrote.
  if (opts.name !== undefined && !isSageMakerName(opts.name)) {
    throw invalidFlag('--name', opts.name, 'an endpoint name: 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit');
  }
  const abs = resolve(target);
  const expected = 'a model directory, a model.tar.gz, or an endpoint file (.json/.yaml)';
  const isDir = checkPath('<target>', target, 'any', expected).isDirectory();
  if (!isDir && /\.(json|ya?ml)$/i.test(abs)) {
    const config = await readEndpointFile(abs);
    try {
      checkModelPaths(config);
    } catch (err) {
      throw inEndpointFile(err, abs);
    }
    if (opts.name !== undefined) {
      if (config.endpoints.length !== 1) throw new ToolkitError('ERR_CLI_USAGE', '--name works only with a single model or an endpoint file with one endpoint');
      config.endpoints[0]!.name = opts.name;
    }
    return config;
  }
  if (!isDir && !isModelArchive(abs)) {
    throw invalidPath('<target>', target, expected, 'is a file of none of these kinds (by its name: .tar.gz or .tgz, .json, .yaml or .yml)');
  }
  const name = opts.name ?? endpointNameFor(abs);
  return parseEndpointFile({ endpoints: [{ name, variants: [{ name: 'AllTraffic', model: abs }] }] }, (p) => resolve(p), readSample);
}

/**
 * What is wrong with a container's model path, or undefined: it must be a directory or a file named
 * .tar.gz or .tgz (a multi-model container's, a directory of them), as packaging and `smkit local`
 * take it. `model <path> does not exist; expected a model directory or a model.tar.gz (a path
 * relative to the endpoint file)`.
 */
export function modelPathProblem(c: ContainerConfig): string | undefined {
  const multiModel = c.mode === 'MultiModel';
  const expected = multiModel ? 'a folder of model archives (mode MultiModel)' : 'a model directory or a model.tar.gz';
  let stats: Stats | undefined;
  let problem: string | undefined;
  try {
    stats = statSync(c.model);
  } catch (err) {
    // ENAMETOOLONG, ELOOP and the like as well as a missing path.
    problem = pathProblem(err);
  }
  if (stats !== undefined && !stats.isDirectory()) {
    if (!stats.isFile()) problem = 'is neither a file nor a directory';
    else if (multiModel || !/\.(tar\.gz|tgz)$/i.test(c.model)) problem = 'is a file';
  }
  return problem === undefined ? undefined : `model ${c.model} ${problem}; expected ${expected} (a path relative to the endpoint file)`;
}

/**
 * For `smkit local`: each model the endpoint file names is one it can start, named by its key
 * (`endpoints[0].variants[0]: model /work/models/iris-onnx does not exist; ...`), as `smkit deploy`
 * checks them. A missing one was found only once the instance's /opt/ml tree was made, as `model
 * <path> does not exist`, without its key or file.
 */
function checkModelPaths(config: EndpointFileConfig): void {
  config.endpoints.forEach((endpoint, i) => {
    const variants: [VariantConfig, string][] = endpoint.variants.map((v, j) => [v, `endpoints[${i}].variants[${j}]`]);
    if (endpoint.shadow) variants.push([endpoint.shadow, `endpoints[${i}].shadow`]);
    for (const [variant, at] of variants) {
      variant.containers.forEach((c, k) => {
        const problem = modelPathProblem(c);
        if (problem !== undefined) throw new ToolkitError('ERR_ENDPOINT_FILE_INVALID', `${variant.containers.length > 1 ? `${at}.containers[${k}]` : at}: ${problem}`);
      });
    }
  });
}

import { closeSync, openSync, readSync, readdirSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { io } from '@tensorflow/tfjs';
import { ToolkitError } from '../../errors/catalogue.js';
import { lazyRequire } from '../../core/lazy-require.js';
import { scanModelJsonHead } from './model-json-head.js';

/** Only loading a TF.js model reads files asynchronously; detecting one (at every start) does not. */
const fsp = lazyRequire<typeof import('node:fs/promises')>('node:fs/promises');

/** The kinds of TensorFlow model smkit loads. */
export type TfModelKind = 'layers' | 'graph' | 'saved-model';

/**
 * A model found on disk: a `model.json` the start of which shows a TF.js model (layers or graph:
 * only the load, which parses the whole file, tells), or a SavedModel directory.
 */
export interface TfModelLocation {
  readonly kind: 'model-json' | 'saved-model';
  /** The `model.json` file or the SavedModel directory. */
  readonly path: string;
}

/**
 * How detection reads a `model.json`: its first `bytes` bytes (fewer when the file is shorter), or
 * all of it parsed. Detection runs at every start and for every thread (the pipeline build, the
 * predict step, each HTTP worker's choice of inference mode), so it reads the start only, and the
 * whole file only when the start does not tell (see {@link scanModelJsonHead}).
 */
export interface ModelJsonReader {
  head(file: string, bytes: number): Uint8Array;
  whole(file: string): Promise<unknown>;
}

/**
 * How many bytes of a `model.json` detection reads: enough for the `format` key and the start of
 * `modelTopology` of what tensorflowjs_converter and model.save() write (a graph model's signature
 * comes before its topology), a few microseconds to read.
 */
export const MODEL_JSON_HEAD_BYTES = 64 * 1024;

// Detection runs while a server starts: synchronous stats of a local model directory take
// microseconds, each thread-pool round trip a millisecond or more on a busy machine.
function statOrUndefined(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

async function isFile(p: string): Promise<boolean> {
  return statOrUndefined(p)?.isFile() ?? false;
}

async function isDir(p: string): Promise<boolean> {
  return statOrUndefined(p)?.isDirectory() ?? false;
}

/**
 * Tells a layers model from a graph model by the file itself: the converter's `format` field when
 * present, else the shape of `modelTopology` (a Keras config vs a GraphDef node list).
 * Returns undefined for JSON that is not a TF.js model.
 */
export function tfjsJsonKind(json: unknown): 'layers' | 'graph' | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const j = json as { format?: unknown; modelTopology?: unknown; weightsManifest?: unknown };
  if (j.modelTopology === undefined || j.modelTopology === null) return undefined;
  if (j.format === 'layers-model') return 'layers';
  if (j.format === 'graph-model') return 'graph';
  // A topology that is a string or a number has no keys to look at (`in` would throw).
  if (typeof j.modelTopology !== 'object') return undefined;
  const topo = j.modelTopology as Record<string, unknown>;
  if (Array.isArray(topo['node'])) return 'graph';
  if ('class_name' in topo || 'model_config' in topo || 'config' in topo) return 'layers';
  return undefined;
}

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ToolkitError('ERR_MODEL_LOAD', `${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fsp().readFile(file, 'utf8');
  } catch (err) {
    throw new ToolkitError('ERR_MODEL_LOAD', `${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  return parseJson(file, text);
}

/** Reads and parses files from the disk. */
const systemReader: ModelJsonReader = {
  head(file, bytes) {
    const buf = Buffer.allocUnsafe(bytes);
    const fd = openSync(file, 'r');
    try {
      let got = 0;
      for (let read = -1; read !== 0 && got < bytes; got += read) read = readSync(fd, buf, got, bytes - got, got);
      return buf.subarray(0, got);
    } finally {
      closeSync(fd);
    }
  },
  whole: readJson,
};

/**
 * Whether `file` is a TF.js model.json, as {@link tfjsJsonKind} of its parse would say, reading
 * its start only when that tells. Throws `ERR_MODEL_LOAD` when the file cannot be read or, read
 * whole, is not JSON.
 */
async function isTfjsModelJson(file: string, reader: ModelJsonReader): Promise<boolean> {
  let head: Uint8Array;
  try {
    head = reader.head(file, MODEL_JSON_HEAD_BYTES);
  } catch (err) {
    throw new ToolkitError('ERR_MODEL_LOAD', `${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  // The whole file is in hand: parse it, as the load will.
  if (head.length < MODEL_JSON_HEAD_BYTES) return tfjsJsonKind(parseJson(file, Buffer.from(head.buffer, head.byteOffset, head.length).toString('utf8'))) !== undefined;
  const seen = scanModelJsonHead(head);
  if (seen !== 'unknown') return seen === 'tfjs';
  return tfjsJsonKind(await reader.whole(file)) !== undefined;
}

/**
 * Reads and parses a `model.json` for the load, and tells a layers model from a graph model.
 * Throws `ERR_MODEL_LOAD` when it cannot be read, is not JSON, or is not a TF.js model.
 */
export async function readTfjsModelJson(file: string): Promise<{ kind: 'layers' | 'graph'; json: unknown }> {
  const json = await readJson(file);
  const kind = tfjsJsonKind(json);
  if (kind === undefined) {
    throw new ToolkitError(
      'ERR_MODEL_LOAD',
      `${file} is not a TF.js model.json: it needs a "modelTopology" and a "format" of "layers-model" or "graph-model" (what model.save() and tensorflowjs_converter write)`,
    );
  }
  return { kind, json };
}

async function savedModelIn(dir: string): Promise<string | undefined> {
  if (await isFile(path.join(dir, 'saved_model.pb'))) return dir;
  // TensorFlow Serving's layout: numbered version folders; serve the highest version.
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    names = [];
  }
  const versions = names
    .filter((n) => /^\d+$/.test(n))
    .sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    if (await isFile(path.join(dir, v, 'saved_model.pb'))) return path.join(dir, v);
  }
  return undefined;
}

/**
 * Finds a TensorFlow model at `p`: a `model.json` file, a directory holding `model.json`, a
 * SavedModel directory (`saved_model.pb`, or numbered version folders holding one). JSON files that
 * are not TF.js models are ignored. Returns undefined when there is none. A `model.json` is read
 * through `reader` (the disk by default), mostly only its start: see {@link ModelJsonReader}.
 */
export async function findTfModel(p: string, reader: ModelJsonReader = systemReader): Promise<TfModelLocation | undefined> {
  if (await isFile(p)) {
    if (path.basename(p) === 'saved_model.pb') return { kind: 'saved-model', path: path.dirname(p) };
    if (!p.endsWith('.json')) return undefined;
    const found = await isTfjsModelJson(p, reader).catch(() => false);
    return found ? { kind: 'model-json', path: p } : undefined;
  }
  if (!(await isDir(p))) return undefined;
  const modelJson = path.join(p, 'model.json');
  if ((await isFile(modelJson)) && (await isTfjsModelJson(modelJson, reader))) return { kind: 'model-json', path: modelJson };
  const saved = await savedModelIn(p);
  return saved ? { kind: 'saved-model', path: saved } : undefined;
}

/** Bytes per value of the weight dtypes and quantization dtypes TF.js decodes (a string needs at least its 4-byte length). */
const WEIGHT_BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, complex64: 8, string: 4 };
const QUANTIZED_BYTES: Readonly<Record<string, number>> = { uint8: 1, uint16: 2, float16: 2 };

/** One group of `weightsManifest`: its shard paths and what it holds, checked by {@link checkWeightsManifest}. */
interface CheckedWeightGroup {
  readonly paths: readonly string[];
  readonly weights: io.WeightsManifestEntry[];
  /** Bytes the group's shards must hold together, or the least they may hold when a weight is a string tensor (whose length only its data says). */
  readonly bytes: number;
  /**
   * Whether the shards must hold exactly {@link CheckedWeightGroup.bytes}: false when the group has
   * an unquantized string weight, whose values' lengths are in the data, so `bytes` is only the least.
   */
  readonly exact: boolean;
}

/**
 * Checks `weightsManifest` before TF.js decodes it: TF.js trusts it, so a shape of [1e9, 1e9] or a
 * string weight of 1e18 values loops or allocates without bound, a missing or malformed entry ends
 * in a TypeError, and a missing manifest loads a layers model with freshly initialised (random)
 * weights. Returns each group's byte size for the shard check.
 */
function checkWeightsManifest(modelJsonPath: string, manifest: unknown): CheckedWeightGroup[] {
  const fail = (what: string): never => {
    throw new ToolkitError('ERR_MODEL_LOAD', `${modelJsonPath}: ${what}; re-export the model (model.save() or tensorflowjs_converter) so model.json matches its weight files`);
  };
  if (!Array.isArray(manifest)) fail(`"weightsManifest" ${manifest === undefined ? 'is missing' : 'is not a list'} (it lists the weight files and the weights in them)`);
  return (manifest as unknown[]).map((group, g) => {
    const where = `weightsManifest[${g}]`;
    const { paths, weights } = (typeof group === 'object' && group !== null ? group : {}) as { paths?: unknown; weights?: unknown };
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string' && p.length > 0)) fail(`${where}.paths must be a list of weight file names`);
    if (!Array.isArray(weights)) fail(`${where}.weights must be a list of weight specs`);
    let bytes = 0;
    let exact = true;
    (weights as unknown[]).forEach((w, i) => {
      const spec = (typeof w === 'object' && w !== null ? w : {}) as { name?: unknown; shape?: unknown; dtype?: unknown; quantization?: unknown };
      const at = `${where}.weights[${i}]${typeof spec.name === 'string' ? ` ("${spec.name}")` : ''}`;
      if (typeof spec.name !== 'string') fail(`${at} has no name`);
      const shape = spec.shape;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
        fail(`${at} has shape ${JSON.stringify(shape) ?? 'undefined'}; a shape is a list of whole numbers >= 0`);
      }
      const size = (shape as number[]).reduce((a, d) => a * d, 1);
      let per = WEIGHT_BYTES[spec.dtype as string];
      if (typeof spec.dtype !== 'string' || per === undefined) fail(`${at} has dtype ${JSON.stringify(spec.dtype) ?? 'undefined'}; TF.js weights are ${Object.keys(WEIGHT_BYTES).join(', ')}`);
      if (spec.quantization !== undefined) {
        const q = (typeof spec.quantization === 'object' && spec.quantization !== null ? spec.quantization : {}) as { dtype?: unknown; scale?: unknown; min?: unknown };
        per = QUANTIZED_BYTES[q.dtype as string];
        if (typeof q.dtype !== 'string' || per === undefined) fail(`${at} has quantization dtype ${JSON.stringify(q.dtype) ?? 'undefined'}; TF.js reads ${Object.keys(QUANTIZED_BYTES).join(', ')}`);
        if (q.dtype === 'float16' ? spec.dtype !== 'float32' : spec.dtype !== 'float32' && spec.dtype !== 'int32') {
          fail(`${at}: ${String(q.dtype)} quantization of a ${String(spec.dtype)} weight is not something TF.js decodes`);
        }
        if (q.dtype !== 'float16' && !(Number.isFinite(q.scale) && Number.isFinite(q.min))) {
          fail(`${at} is ${String(q.dtype)}-quantized but its quantization.scale and quantization.min are not both finite numbers`);
        }
      }
      if (spec.dtype === 'string' && spec.quantization === undefined) exact = false;
      bytes += size * per!;
    });
    return { paths: paths as string[], weights: weights as io.WeightsManifestEntry[], bytes, exact };
  });
}

/**
 * An `IOHandler` that reads `model.json` and its weight shards from the local disk, so models load
 * without `@tensorflow/tfjs-node` (whose `file://` handler is the only one TF.js ships for Node) and
 * without any network. Shard paths must stay inside the model's directory. `parsed` is `model.json`
 * already read and parsed (by {@link readTfjsModelJson}): a model.json of hundreds of MB then costs
 * one read and one parse, not two.
 */
export function fileModelHandler(tf: { io: typeof io }, modelJsonPath: string, parsed?: unknown): io.IOHandler {
  const dir = path.dirname(path.resolve(modelJsonPath));
  let given = parsed;
  return {
    async load() {
      const json = (given ?? (await readJson(modelJsonPath))) as io.ModelJSON;
      // A GraphModel keeps its handler for the model's life: the parse must not stay with it.
      given = undefined;
      const groups = checkWeightsManifest(modelJsonPath, (json as { weightsManifest?: unknown }).weightsManifest);
      return tf.io.getModelArtifactsForJSON(json, async () => {
        const specs: io.WeightsManifestEntry[] = [];
        const buffers: Buffer[] = [];
        for (const group of groups) {
          let read = 0;
          for (const rel of group.paths) {
            const file = path.resolve(dir, rel);
            if (file !== dir && !file.startsWith(dir + path.sep)) {
              throw new ToolkitError('ERR_MODEL_LOAD', `${modelJsonPath}: weight path "${rel}" points outside the model directory`);
            }
            try {
              const data = await fsp().readFile(file);
              read += data.length;
              buffers.push(data);
            } catch (err) {
              throw new ToolkitError('ERR_MODEL_LOAD', `${modelJsonPath}: weight file ${rel} cannot be read: ${(err as Error).message}`, {
                cause: err,
              });
            }
          }
          if (group.exact ? read !== group.bytes : read < group.bytes) {
            throw new ToolkitError(
              'ERR_MODEL_LOAD',
              `${modelJsonPath}: weight file${group.paths.length === 1 ? '' : 's'} ${group.paths.join(', ')} hold${group.paths.length === 1 ? 's' : ''} ${read} bytes ` +
                `but the weights model.json lists for ${group.paths.length === 1 ? 'it' : 'them'} need ${group.exact ? '' : 'at least '}${group.bytes}; ` +
                'a shard is truncated, or model.json and the weight files come from different exports',
            );
          }
          specs.push(...group.weights);
        }
        const all = Buffer.concat(buffers);
        const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
        return [specs, weightData];
      });
    },
  };
}

/**
 * An `IOHandler` that writes `model.json` and one `weights.bin` shard into `dir` (used by the example
 * generator; tfjs-node's `file://` saver is not available everywhere).
 */
export function fileModelSaver(tf: { io: typeof io }, dir: string): io.IOHandler {
  return tf.io.withSaveHandler(async (artifacts) => {
    await fsp().mkdir(dir, { recursive: true });
    const data = artifacts.weightData;
    const weights = data === undefined ? Buffer.alloc(0) : Buffer.concat((Array.isArray(data) ? data : [data]).map((b) => Buffer.from(b)));
    const json = {
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy ?? null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      ...(artifacts.signature ? { signature: artifacts.signature } : {}),
      ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
    };
    await fsp().writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
    await fsp().writeFile(path.join(dir, 'weights.bin'), weights);
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.length } };
  });
}

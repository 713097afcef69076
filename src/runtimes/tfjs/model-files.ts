import { readdirSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { io } from '@tensorflow/tfjs';
import { ToolkitError } from '../../errors/catalogue.js';
import { lazyRequire } from '../../core/lazy-require.js';

/** Only loading a TF.js model reads files asynchronously; detecting one (at every start) does not. */
const fsp = lazyRequire<typeof import('node:fs/promises')>('node:fs/promises');

/** The kinds of TensorFlow model smkit loads. */
export type TfModelKind = 'layers' | 'graph' | 'saved-model';

/** A model found on disk: `path` is the `model.json` file or the SavedModel directory. */
export interface TfModelLocation {
  readonly kind: TfModelKind;
  readonly path: string;
}

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
  const topo = j.modelTopology as Record<string, unknown>;
  if (Array.isArray(topo['node'])) return 'graph';
  if ('class_name' in topo || 'model_config' in topo || 'config' in topo) return 'layers';
  return undefined;
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await fsp().readFile(file, 'utf8'));
  } catch (err) {
    throw new ToolkitError('ERR_MODEL_LOAD', `${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
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
 * are not TF.js models are ignored. Returns undefined when there is none.
 */
export async function findTfModel(p: string): Promise<TfModelLocation | undefined> {
  if (await isFile(p)) {
    if (path.basename(p) === 'saved_model.pb') return { kind: 'saved-model', path: path.dirname(p) };
    if (!p.endsWith('.json')) return undefined;
    const kind = tfjsJsonKind(await readJson(p).catch(() => undefined));
    return kind ? { kind, path: p } : undefined;
  }
  if (!(await isDir(p))) return undefined;
  const modelJson = path.join(p, 'model.json');
  if (await isFile(modelJson)) {
    const kind = tfjsJsonKind(await readJson(modelJson));
    if (kind) return { kind, path: modelJson };
  }
  const saved = await savedModelIn(p);
  return saved ? { kind: 'saved-model', path: saved } : undefined;
}

/**
 * An `IOHandler` that reads `model.json` and its weight shards from the local disk, so models load
 * without `@tensorflow/tfjs-node` (whose `file://` handler is the only one TF.js ships for Node) and
 * without any network. Shard paths must stay inside the model's directory.
 */
export function fileModelHandler(tf: { io: typeof io }, modelJsonPath: string): io.IOHandler {
  const dir = path.dirname(path.resolve(modelJsonPath));
  return {
    async load() {
      const json = (await readJson(modelJsonPath)) as io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs: io.WeightsManifestEntry[] = [];
        const buffers: Buffer[] = [];
        for (const group of manifest) {
          for (const rel of group.paths) {
            const file = path.resolve(dir, rel);
            if (file !== dir && !file.startsWith(dir + path.sep)) {
              throw new ToolkitError('ERR_MODEL_LOAD', `${modelJsonPath}: weight path "${rel}" points outside the model directory`);
            }
            try {
              buffers.push(await fsp().readFile(file));
            } catch (err) {
              throw new ToolkitError('ERR_MODEL_LOAD', `${modelJsonPath}: weight file ${rel} cannot be read: ${(err as Error).message}`, {
                cause: err,
              });
            }
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

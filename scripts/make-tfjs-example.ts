/**
 * Generates the TF.js example model and the TF.js test fixtures, with TensorFlow.js itself (run:
 * `npm run build && node dist/scripts/make-tfjs-example.js`). Nothing opaque is committed: every
 * weight below is a hand-set or seeded value.
 *
 * - `models/tfjs-image/`: a tiny colour classifier (red / green / blue) on 64×64 RGB images, with
 *   `labels.txt` and a `pipeline.yaml` (resize → normalise → batch → predict → top-k).
 * - `test/fixtures/tfjs/layers-mlp/`: layers model, input `features` [N,4] → `probabilities` [N,3].
 * - `test/fixtures/tfjs/layers-two-inputs/`: layers model, inputs `a` [N,2] and `b` [N,3] → outputs `out` [N,2] and `score` [N,1].
 * - `test/fixtures/tfjs/graph-mlp/`: a graph model written as a GraphDef (MatMul + AddV2 + Softmax)
 *   with a signature: input `features` [N,4] → output `probabilities` [N,3].
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tf } from '../src/runtimes/tfjs/backend.js';
import { fileModelSaver } from '../src/runtimes/tfjs/model-files.js';

/** Deterministic pseudo-random numbers in [-1, 1) (mulberry32). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

/** Labels of the colour classifier, in output order. */
export const COLOUR_LABELS = ['red', 'green', 'blue'];

/** Side of the square images the colour classifier takes. */
export const COLOUR_IMAGE_SIZE = 64;

const PIPELINE_YAML = `# Colour classifier: a JPEG/PNG/WebP body (or multipart files) in, top-3 labels out.
version: 1
preprocess:
  - resize: { height: ${COLOUR_IMAGE_SIZE}, width: ${COLOUR_IMAGE_SIZE}, method: bilinear }
  - image-normalize: { preset: unit }      # x / 255
  - add-batch-dim: {}                      # H×W×C → 1×H×W×C (batches from multipart pass unchanged)
predict:
  - model: model.json
    runtime: tfjs
postprocess:
  - topk: { k: 3, labels: labels.txt }
`;

function weightsOf(rand: () => number, shape: number[], scale: number): number[] {
  return Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rand() * scale);
}

/** Builds the colour classifier: 8×8 average pooling, a 1×1 "colour contrast" convolution, global pooling, softmax. */
export function buildColourClassifier(tf: Tf) {
  const input = tf.input({ shape: [COLOUR_IMAGE_SIZE, COLOUR_IMAGE_SIZE, 3], name: 'image' });
  const pooled = tf.layers.averagePooling2d({ poolSize: 8, name: 'pool' }).apply(input);
  const contrast = tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'contrast' }).apply(pooled);
  const global = tf.layers.globalAveragePooling2d({ name: 'global' }).apply(contrast);
  const probs = tf.layers.dense({ units: 3, activation: 'softmax', name: 'probabilities' }).apply(global) as ReturnType<typeof tf.input>;
  const model = tf.model({ inputs: input, outputs: probs, name: 'colour_classifier' });
  // Channel k's score is 2·c_k − (sum of the other two): high for the dominant colour, 0 for grey.
  const kernel = [2, -1, -1, -1, 2, -1, -1, -1, 2];
  model.setWeights([
    tf.tensor4d(kernel, [1, 1, 3, 3]),
    tf.zeros([3]),
    tf.tensor2d([6, 0, 0, 0, 6, 0, 0, 0, 6], [3, 3]),
    tf.zeros([3]),
  ]);
  return model;
}

/** Builds the single-input layers fixture. */
export function buildLayersMlp(tf: Tf) {
  const rand = seeded(42);
  const input = tf.input({ shape: [4], name: 'features' });
  const hidden = tf.layers.dense({ units: 8, activation: 'relu', name: 'hidden' }).apply(input);
  const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'probabilities' }).apply(hidden) as ReturnType<typeof tf.input>;
  const model = tf.model({ inputs: input, outputs: out });
  model.setWeights([
    tf.tensor2d(weightsOf(rand, [4, 8], 1), [4, 8]),
    tf.tensor1d(weightsOf(rand, [8], 0.1)),
    tf.tensor2d(weightsOf(rand, [8, 3], 1), [8, 3]),
    tf.tensor1d(weightsOf(rand, [3], 0.1)),
  ]);
  return model;
}

/** Builds the two-input, two-output layers fixture. */
export function buildLayersTwoInputs(tf: Tf) {
  const rand = seeded(7);
  const a = tf.input({ shape: [2], name: 'a' });
  const b = tf.input({ shape: [3], name: 'b' });
  const joined = tf.layers.concatenate({ name: 'joined' }).apply([a, b]);
  const out = tf.layers.dense({ units: 2, name: 'out' }).apply(joined) as ReturnType<typeof tf.input>;
  const score = tf.layers.dense({ units: 1, activation: 'sigmoid', name: 'score' }).apply(joined) as ReturnType<typeof tf.input>;
  const model = tf.model({ inputs: [a, b], outputs: [out, score] });
  model.setWeights([
    tf.tensor2d(weightsOf(rand, [5, 2], 1), [5, 2]),
    tf.tensor1d(weightsOf(rand, [2], 0.1)),
    tf.tensor2d(weightsOf(rand, [5, 1], 1), [5, 1]),
    tf.tensor1d(weightsOf(rand, [1], 0.1)),
  ]);
  return model;
}

/** Writes the graph-model fixture: a GraphDef in TF.js's JSON form plus its weights, no Python needed. */
export function writeGraphMlp(dir: string): void {
  const rand = seeded(2024);
  const w = Float32Array.from(weightsOf(rand, [4, 3], 1));
  const b = Float32Array.from(weightsOf(rand, [3], 0.5));
  const dims = (...d: number[]) => ({ dim: d.map((size) => ({ size: String(size) })) });
  const float = { type: 'DT_FLOAT' };
  const json = {
    format: 'graph-model',
    generatedBy: 'smkit scripts/make-tfjs-example.ts',
    convertedBy: null,
    modelTopology: {
      node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: float, shape: { shape: dims(-1, 4) } } },
        { name: 'dense/kernel', op: 'Const', attr: { value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(4, 3) } }, dtype: float } },
        { name: 'dense/bias', op: 'Const', attr: { value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(3) } }, dtype: float } },
        { name: 'dense/MatMul', op: 'MatMul', input: ['x', 'dense/kernel'], attr: { T: float, transpose_a: { b: false }, transpose_b: { b: false } } },
        { name: 'dense/add', op: 'AddV2', input: ['dense/MatMul', 'dense/bias'], attr: { T: float } },
        { name: 'Softmax', op: 'Softmax', input: ['dense/add'], attr: { T: float } },
      ],
      library: {},
      versions: { producer: 1286 },
    },
    weightsManifest: [
      {
        paths: ['weights.bin'],
        weights: [
          { name: 'dense/kernel', shape: [4, 3], dtype: 'float32' },
          { name: 'dense/bias', shape: [3], dtype: 'float32' },
        ],
      },
    ],
    signature: {
      inputs: { features: { name: 'x:0', dtype: 'DT_FLOAT', tensorShape: dims(-1, 4) } },
      outputs: { probabilities: { name: 'Softmax:0', dtype: 'DT_FLOAT', tensorShape: dims(-1, 3) } },
    },
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json, null, 1) + '\n');
  writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat([Buffer.from(w.buffer), Buffer.from(b.buffer)]));
}

/** Writes the example model under `modelsRoot` and the fixtures under `fixturesRoot`. */
export async function makeTfjsExamples(modelsRoot: string, fixturesRoot: string): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  tf.enableProdMode();
  const image = path.join(modelsRoot, 'tfjs-image');
  await buildColourClassifier(tf).save(fileModelSaver(tf, image));
  writeFileSync(path.join(image, 'labels.txt'), COLOUR_LABELS.join('\n') + '\n');
  writeFileSync(path.join(image, 'pipeline.yaml'), PIPELINE_YAML);
  await buildLayersMlp(tf).save(fileModelSaver(tf, path.join(fixturesRoot, 'layers-mlp')));
  await buildLayersTwoInputs(tf).save(fileModelSaver(tf, path.join(fixturesRoot, 'layers-two-inputs')));
  writeGraphMlp(path.join(fixturesRoot, 'graph-mlp'));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // dist/scripts/make-tfjs-example.js → repository root two levels up.
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  await makeTfjsExamples(path.join(root, 'models'), path.join(root, 'test', 'fixtures', 'tfjs'));
  console.log('wrote models/tfjs-image and test/fixtures/tfjs/{layers-mlp,layers-two-inputs,graph-mlp}');
}

/**
 * Generates the bundled example models from their recipes (run: `npm run build && node
 * dist/scripts/make-example-models.js`). The weights are hand-set demo values for the iris flower
 * problem (petal length and width separate the three species well), not a trained model.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDenseOnnxModel, type DenseLayer } from '../src/runtimes/onnx/build-model.js';

/** Iris classifier on raw features [sepal length, sepal width, petal length, petal width] (cm). */
export const IRIS_CLASSIFIER: DenseLayer = {
  weights: [
    [0, 0, 0],
    [0, 0, 0],
    [-4, 0, 2.5],
    [0, 0, 3],
  ],
  bias: [10, 0, -16],
  activation: 'softmax',
};

/** Feature means and standard deviations of the iris data set, for the standardising scaler. */
export const IRIS_MEAN = [5.843, 3.057, 3.758, 1.199];
export const IRIS_STD = [0.825, 0.434, 1.759, 0.76];

/** The species, in output order. */
export const IRIS_LABELS = ['setosa', 'versicolor', 'virginica'];

/** Writes every example model under `root` (default: the repository's `models/`). */
export function makeExampleModels(root: string): void {
  const single = path.join(root, 'iris-onnx');
  mkdirSync(single, { recursive: true });
  writeFileSync(
    path.join(single, 'model.onnx'),
    buildDenseOnnxModel({ inputName: 'input', outputName: 'probabilities', layers: [IRIS_CLASSIFIER], docString: 'smkit iris demo classifier' }),
  );

  // Two-model pipeline: a scaler (z = (x - mean) / std) then a classifier on standardised features,
  // equivalent to the single model above, so both must give the same probabilities.
  const piped = path.join(root, 'iris-pipeline');
  mkdirSync(piped, { recursive: true });
  const n = IRIS_MEAN.length;
  const scaler: DenseLayer = {
    weights: Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 / IRIS_STD[i]! : 0))),
    bias: IRIS_MEAN.map((m, i) => -m / IRIS_STD[i]!),
  };
  const classifierOnStandardised: DenseLayer = {
    weights: IRIS_CLASSIFIER.weights.map((row, i) => row.map((w) => w * IRIS_STD[i]!)),
    bias: IRIS_CLASSIFIER.bias.map((b, j) => b + IRIS_MEAN.reduce((s, m, i) => s + m * IRIS_CLASSIFIER.weights[i]![j]!, 0)),
    activation: 'none',
  };
  writeFileSync(path.join(piped, 'scaler.onnx'), buildDenseOnnxModel({ inputName: 'features', outputName: 'standardised', layers: [scaler] }));
  writeFileSync(path.join(piped, 'classifier.onnx'), buildDenseOnnxModel({ inputName: 'standardised', outputName: 'logits', layers: [classifierOnStandardised] }));
  writeFileSync(path.join(piped, 'labels.txt'), IRIS_LABELS.join('\n') + '\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = process.argv[2] ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../models');
  makeExampleModels(root);
  console.log(`example models written under ${root}`);
}

/** The benchmark's ONNX models, generated at bench time (deterministic weights, nothing committed). */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildDenseOnnxModel, type DenseLayer } from '../src/runtimes/onnx/build-model.js';

/** Deterministic pseudo-random numbers so every run sends the same bytes. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** A dense ReLU network `widths[0] → … → widths[n]` with a softmax output. */
export function writeMlp(dir: string, widths: readonly number[], seed = 7): string {
  const r = rng(seed);
  const layers: DenseLayer[] = [];
  for (let i = 0; i + 1 < widths.length; i++) {
    const [inputs, outputs] = [widths[i]!, widths[i + 1]!];
    // Scaled so activations stay in range through deep layers.
    const scale = 2 / Math.sqrt(inputs);
    layers.push({
      weights: Array.from({ length: inputs }, () => Array.from({ length: outputs }, () => (r() - 0.5) * scale)),
      bias: new Array<number>(outputs).fill(0),
      activation: i + 2 === widths.length ? 'softmax' : 'relu',
    });
  }
  const file = path.join(dir, 'model.onnx');
  writeFileSync(file, buildDenseOnnxModel({ inputName: 'input', outputName: 'probabilities', layers }));
  return file;
}

/** CSV rows of `features` numbers each. */
export function csvRows(rows: number, features: number): string {
  const r = rng(rows * 31 + features);
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) lines.push(Array.from({ length: features }, () => (r() * 10 - 5).toFixed(6)).join(','));
  return lines.join('\n') + '\n';
}

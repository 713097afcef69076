// Example smkit training script: softmax regression on an iris-like CSV channel, trained by
// full-batch gradient descent in plain JavaScript, saved as an ONNX model that `smkit serve` runs.
//
// Run by `smkit train` (in a container: `docker run <image> train`) or `smkit local train`.
// Inputs (SageMaker conventions):
//   SM_CHANNEL_TRAINING   directory of CSV files; no header; column 0 is the class index (0, 1, 2),
//                         the other columns are the features
//   hyperparameters       --epochs (300), --learning-rate (0.5), --l2 (0.0001), --checkpoint-every (50)
// Outputs:
//   SM_MODEL_DIR          model.onnx (input "input" float32 [N, F], output "probabilities" [N, C]),
//                         labels.txt and pipeline.yaml, ready for `smkit serve --model-dir`
//   SM_OUTPUT_DATA_DIR    metrics.json
//   checkpoints dir       checkpoint.json, read back on start (spot-training resume)
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  strict: false,
  options: {
    epochs: { type: 'string', default: '300' },
    'learning-rate': { type: 'string', default: '0.5' },
    l2: { type: 'string', default: '0.0001' },
    'checkpoint-every': { type: 'string', default: '50' },
  },
});
const epochs = Number(args.epochs);
const learningRate = Number(args['learning-rate']);
const l2 = Number(args.l2);
const checkpointEvery = Number(args['checkpoint-every']);
const LABELS = ['setosa', 'versicolor', 'virginica'];

const env = process.env;
const trainDir = env.SM_CHANNEL_TRAINING ?? '/opt/ml/input/data/training';
const modelDir = env.SM_MODEL_DIR ?? '/opt/ml/model';
const outputDataDir = env.SM_OUTPUT_DATA_DIR ?? '/opt/ml/output/data';
// SageMaker restores checkpoints into /opt/ml/checkpoints; smkit also names it in SMKIT_CHECKPOINT_DIR.
const checkpointDir = env.SMKIT_CHECKPOINT_DIR ?? '/opt/ml/checkpoints';
const checkpointFile = path.join(checkpointDir, 'checkpoint.json');

// --- data -------------------------------------------------------------------------------------
const rows = readdirSync(trainDir)
  .filter((f) => f.endsWith('.csv'))
  .sort()
  .flatMap((f) => readFileSync(path.join(trainDir, f), 'utf8').split(/\r?\n/))
  .map((line) => line.trim())
  .filter((line) => line !== '' && /^\d/.test(line))
  .map((line) => line.split(',').map(Number));
if (rows.length === 0) throw new Error(`no CSV rows found in ${trainDir}`);
if (rows.some((r) => r.some((v) => !Number.isFinite(v)))) throw new Error(`${trainDir}: every CSV value must be a number`);
const y = rows.map((r) => r[0]);
const X = rows.map((r) => r.slice(1));
const n = X.length;
const features = X[0].length;
const classes = Math.max(LABELS.length, ...y.map((v) => v + 1));

const mean = Array.from({ length: features }, (_, j) => X.reduce((s, r) => s + r[j], 0) / n);
const std = Array.from({ length: features }, (_, j) => Math.sqrt(X.reduce((s, r) => s + (r[j] - mean[j]) ** 2, 0) / n) || 1);
const Z = X.map((r) => r.map((v, j) => (v - mean[j]) / std[j]));

// --- model: logits = z·W + b, probabilities = softmax(logits) -----------------------------------
let W = Array.from({ length: features }, () => new Array(classes).fill(0));
let b = new Array(classes).fill(0);
let startEpoch = 0;
if (existsSync(checkpointFile)) {
  const ckpt = JSON.parse(readFileSync(checkpointFile, 'utf8'));
  if (ckpt.W?.length === features && ckpt.b?.length === classes) {
    ({ W, b } = ckpt);
    startEpoch = ckpt.epoch;
    console.log(`resuming from checkpoint at epoch ${startEpoch}`);
  }
}

function softmax(logits) {
  const m = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - m));
  const s = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / s);
}
const predict = (z) => softmax(b.map((bk, k) => bk + z.reduce((s, v, j) => s + v * W[j][k], 0)));

function saveCheckpoint(epoch) {
  mkdirSync(checkpointDir, { recursive: true });
  const tmp = `${checkpointFile}.tmp`;
  writeFileSync(tmp, JSON.stringify({ epoch, W, b }));
  renameSync(tmp, checkpointFile); // atomic: an interrupted write never leaves a torn checkpoint
}

let currentEpoch = startEpoch;
process.on('SIGTERM', () => {
  // Spot interruption or StopTrainingJob: keep the progress, then stop. SageMaker gives 120 s.
  saveCheckpoint(currentEpoch);
  console.log(`SIGTERM: checkpoint saved at epoch ${currentEpoch}`);
  process.exit(143);
});

let loss = NaN;
for (let epoch = startEpoch; epoch < epochs; epoch++) {
  const gW = Array.from({ length: features }, () => new Array(classes).fill(0));
  const gb = new Array(classes).fill(0);
  loss = 0;
  for (let i = 0; i < n; i++) {
    const p = predict(Z[i]);
    loss -= Math.log(Math.max(p[y[i]], 1e-12));
    for (let k = 0; k < classes; k++) {
      const d = p[k] - (k === y[i] ? 1 : 0);
      gb[k] += d / n;
      for (let j = 0; j < features; j++) gW[j][k] += (d * Z[i][j]) / n;
    }
  }
  loss /= n;
  for (let k = 0; k < classes; k++) {
    b[k] -= learningRate * gb[k];
    for (let j = 0; j < features; j++) W[j][k] -= learningRate * (gW[j][k] + l2 * W[j][k]);
  }
  currentEpoch = epoch + 1;
  if (currentEpoch % checkpointEvery === 0) saveCheckpoint(currentEpoch);
  if (currentEpoch % 50 === 0 || currentEpoch === epochs) console.log(`epoch ${currentEpoch}/${epochs} loss=${loss.toFixed(4)}`);
  // Yield now and then so a SIGTERM handler can run between epochs.
  if (currentEpoch % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
}
const accuracy = Z.filter((z, i) => {
  const p = predict(z);
  return p.indexOf(Math.max(...p)) === y[i];
}).length / n;
console.log(`training accuracy ${(accuracy * 100).toFixed(1)}% on ${n} rows`);

// --- export: fold the standardisation into the weights so the model takes raw features ----------
const Wraw = W.map((row, j) => row.map((w) => w / std[j]));
const braw = b.map((bk, k) => bk - mean.reduce((s, m, j) => s + (m * W[j][k]) / std[j], 0));

// onnx-proto ships with smkit; smkit train puts its modules on NODE_PATH, which require() honours.
const { onnx } = createRequire(import.meta.url)('onnx-proto');
function buildOnnx(weights, bias) {
  const F = onnx.TensorProto.DataType.FLOAT;
  const io = (name, width) =>
    onnx.ValueInfoProto.create({
      name,
      type: onnx.TypeProto.create({
        tensorType: onnx.TypeProto.Tensor.create({
          elemType: F,
          shape: onnx.TensorShapeProto.create({
            dim: [onnx.TensorShapeProto.Dimension.create({ dimParam: 'batch' }), onnx.TensorShapeProto.Dimension.create({ dimValue: width })],
          }),
        }),
      }),
    });
  const graph = onnx.GraphProto.create({
    name: 'iris-softmax-regression',
    initializer: [
      onnx.TensorProto.create({ name: 'W', dataType: F, dims: [features, classes], floatData: weights.flat() }),
      onnx.TensorProto.create({ name: 'B', dataType: F, dims: [classes], floatData: bias }),
    ],
    node: [
      onnx.NodeProto.create({ opType: 'Gemm', input: ['input', 'W', 'B'], output: ['logits'], name: 'gemm' }),
      onnx.NodeProto.create({
        opType: 'Softmax',
        input: ['logits'],
        output: ['probabilities'],
        name: 'softmax',
        attribute: [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 })],
      }),
    ],
    input: [io('input', features)],
    output: [io('probabilities', classes)],
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'smkit-example-train',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 13 })],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

mkdirSync(modelDir, { recursive: true });
writeFileSync(path.join(modelDir, 'model.onnx'), buildOnnx(Wraw, braw));
writeFileSync(path.join(modelDir, 'labels.txt'), LABELS.slice(0, classes).join('\n') + '\n');
writeFileSync(
  path.join(modelDir, 'pipeline.yaml'),
  [
    '# Written by the example training script: CSV rows of 4 raw features in, the species ranked out.',
    'version: 1',
    'preprocess:',
    '  - cast: { dtype: float32 }',
    'predict:',
    '  - model: model.onnx',
    'postprocess:',
    `  - topk: { k: ${classes}, labels: labels.txt }`,
    '',
  ].join('\n'),
);
mkdirSync(outputDataDir, { recursive: true });
writeFileSync(path.join(outputDataDir, 'metrics.json'), JSON.stringify({ epochs, loss, accuracy, rows: n }, null, 2));
console.log(`model saved to ${modelDir}`);

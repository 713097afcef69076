/** File contents `smkit init` writes into a new model project (paths relative to the project). */

export const PIPELINE_YAML = `# The steps smkit serve runs for each request, in order (see the smkit README, "Pipeline file").
# Without this file smkit runs: decode the request -> model.onnx -> encode the answer.
# It has the same shape as the pipeline.yaml the training script (code/train.mjs) writes, so a
# retrained model answers in the same form.
version: 1
preprocess:
  - cast: { dtype: float32 } # CSV and JSON numbers arrive as float64 or int; the model wants float32
predict:
  - model: model.onnx # input "input" float32 [N,4] -> output "probabilities" float32 [N,3]
postprocess:
  - topk: { k: 3, labels: labels.txt } # per row: [{ label, score }], best first
`;

/** The class names of the iris example, one per line, in the model's output order. */
export const LABELS_TXT = `setosa
versicolor
virginica
`;

/** `model/code/inference.mjs` of a new project: every handler hook, documented, each falling back to smkit's default. */
export const HANDLER_MJS = `// code/inference.mjs: the handler module. smkit serve loads code/<SAGEMAKER_PROGRAM>.{mjs,js,cjs}
// (default "inference") from the model directory. Every hook is optional, may be async, and falls
// back to smkit's default when not exported. The Python toolkit's names (model_fn, input_fn, ...)
// work too. Export either transformFn alone, or any of inputFn / predictFn / outputFn: both at once
// is a start-up error.

/**
 * modelFn(modelDir, context): load the model once per worker, at start-up. /ping answers 200 only
 * after it returns.
 * - modelDir: the model directory (/opt/ml/model in a container).
 * - context.loadDefaultModel(): loads what smkit would load without this hook (pipeline.yaml, or
 *   the single ONNX / TF.js model), so you can wrap it.
 * - context.log: a pino logger (JSON lines on stdout).
 * Whatever it returns is the \`model\` the other hooks receive.
 */
export async function modelFn(modelDir, context) {
  context.log.info({ modelDir }, 'loading the iris example model');
  return context.loadDefaultModel();
}

/*
 * The hooks below are documented and ready to uncomment. Once you export inputFn (or outputFn, or
 * transformFn), every request content type (or accept) is yours to handle: smkit no longer
 * refuses unknown types for you.
 *
 * inputFn(body, contentType, context): body is a Buffer, contentType the request Content-Type
 * (parameters such as "; charset=utf-8" included). Return what predictFn expects.
 *
 * export function inputFn(body, contentType, context) {
 *   if (!contentType.startsWith('application/json')) throw new Error(\`unsupported \${contentType}\`);
 *   return JSON.parse(body.toString('utf8'));
 * }
 *
 * predictFn(input, model, context): run the model. input is what inputFn returned, or smkit's
 * decoded request ({ tensors: { name: { dtype, shape, data } } }); model is what modelFn returned.
 * The default model is the pipeline of model/pipeline.yaml: model.run({ tensors }, context) runs
 * its steps and returns { tensors }, which smkit encodes in the negotiated Accept type.
 *
 * export async function predictFn(input, model, context) {
 *   const output = await model.run({ tensors: input.tensors }, context);
 *   context.log.debug({ outputs: Object.keys(output.tensors) }, 'predicted');
 *   return output;
 * }
 *
 * outputFn(prediction, accept, context): return a Buffer, a string, or { body, contentType }.
 * accept is the negotiated Accept (SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT when the caller sent none).
 *
 * export function outputFn(prediction, accept, context) {
 *   return { body: JSON.stringify(prediction), contentType: 'application/json' };
 * }
 *
 * transformFn(model, body, contentType, accept, context): all three steps in one, instead of
 * inputFn / predictFn / outputFn.
 *
 * context (every request): the request's custom attributes, inference id, target model and
 * variant, and a logger; see the smkit README ("Handler hooks") for the full list, and for the
 * error class to throw when a request is bad (its HTTP status, e.g. 400, reaches the caller).
 */
`;

/** `samples/request.csv`: three iris rows. */
export const SAMPLE_CSV = `5.1,3.5,1.4,0.2
6.2,2.9,4.3,1.3
7.7,3.0,6.1,2.3
`;

/** `samples/request.json`: two iris rows as a nested array. */
export const SAMPLE_JSON = `[[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3]]
`;

/** `test/model.test.mjs`: starts `smkit serve` on the project's model and sends the CSV sample. */
export const MODEL_TEST_MJS = `// Starts \`smkit serve\` on this project's model/ and sends samples/request.csv. Run: npm test
// (or node --test). Set SMKIT_BIN to use a particular smkit checkout's bin/smkit.js.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function smkitBin() {
  if (process.env.SMKIT_BIN) return process.env.SMKIT_BIN;
  const pkg = createRequire(import.meta.url).resolve('smkit/package.json');
  return path.join(path.dirname(pkg), 'bin', 'smkit.js');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

test('the model answers /ping and classifies the sample rows', async (t) => {
  const port = await freePort();
  const child = spawn(process.execPath, [smkitBin(), 'serve', '--model-dir', path.join(root, 'model'), '--port', String(port), '--workers', '1'], {
    env: { ...process.env, SAGEMAKER_BASE_DIR: root, SMKIT_BIND_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  });

  const url = \`http://127.0.0.1:\${port}\`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    assert.equal(child.exitCode, null, \`smkit serve exited early:\\n\${log}\`);
    const ok = await fetch(\`\${url}/ping\`).then((r) => r.status === 200, () => false);
    if (ok) break;
    assert.ok(Date.now() < deadline, \`/ping did not answer 200 within 60 s:\\n\${log}\`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const res = await fetch(\`\${url}/invocations\`, {
    method: 'POST',
    headers: { 'content-type': 'text/csv', accept: 'application/json' },
    body: readFileSync(path.join(root, 'samples', 'request.csv')),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  // One answer per row: the three species ranked, best first, with scores that sum to 1.
  const labels = readFileSync(path.join(root, 'model', 'labels.txt'), 'utf8').trim().split('\\n');
  const rows = JSON.parse(text);
  assert.equal(rows.length, 3, text);
  for (const row of rows) {
    assert.deepEqual(row.map((r) => r.label).sort(), [...labels].sort(), text);
    assert.ok(row[0].score >= row[1].score && row[1].score >= row[2].score, \`ranked best first: \${JSON.stringify(row)}\`);
    assert.ok(Math.abs(row.reduce((a, r) => a + r.score, 0) - 1) < 1e-3, \`scores sum to 1: \${JSON.stringify(row)}\`);
  }
});
`;

/** The project's README. */
export function readme(name: string): string {
  return `# ${name}

A SageMaker-compatible model project made by \`smkit init\`. The folder is laid out like the
container's \`/opt/ml\`: the model and its handler live in \`model/\`.

\`\`\`
model/model.onnx          iris classifier: 4 numbers in, 3 class probabilities out
model/pipeline.yaml       the steps run per request
model/code/inference.mjs  the handler module (hooks documented inside)
samples/request.csv       a sample request (3 rows)
test/model.test.mjs       starts smkit serve and invokes it
\`\`\`

## Try it

\`\`\`sh
npm install                                # links smkit from the checkout that made this project
npx smkit serve --model-dir model --port 8080 &
npx smkit invoke http://127.0.0.1:8080 --file samples/request.csv --accept application/json
kill %1                                    # stop the server
npm test                                   # the project's own test
npx smkit package model -o model.tar.gz --verify --sample samples/request.csv
npx smkit local transform --model model --input samples --output transformed --split-type Line --assemble-with Line --accept application/json
\`\`\`

Each row gets the three species ranked best first: \`[{"label":"setosa","score":0.99},...]\`.
\`model.tar.gz\` is what SageMaker wants as \`ModelDataUrl\` (upload it to S3).

## Train it again

\`input/\`, \`code/train.mjs\` and \`output/\` come from smkit's \`/opt/ml\` template (see
\`OPT-ML.md\`): \`SAGEMAKER_BASE_DIR=. npx smkit train\` retrains the classifier on
\`input/data/training/iris.csv\` and writes a new \`model/model.onnx\` (and its own
\`model/pipeline.yaml\` and \`labels.txt\`, of the same form as the ones here), so
\`npm test\` and the commands above work on the retrained model unchanged.
`;
}

/**
 * The project's package.json. smkit is not on the npm registry, so the dev dependency points at
 * the smkit installation that scaffolded the project (`file:`), which works offline too.
 */
export function packageJson(name: string, smkitRoot: string): string {
  return (
    JSON.stringify(
      {
        name,
        version: '0.1.0',
        private: true,
        type: 'module',
        scripts: {
          // No path: Node 22 and later read `node --test test/` as a file name and fail; without
          // one, every Node from 20 on finds test/*.test.mjs (and skips node_modules) by itself.
          test: 'node --test',
          serve: 'smkit serve --model-dir model',
          package: 'smkit package model -o model.tar.gz --verify --sample samples/request.csv',
        },
        devDependencies: { smkit: `file:${smkitRoot}` },
      },
      null,
      2,
    ) + '\n'
  );
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isToolkitError } from '../../errors/catalogue.js';
import { MODEL_JSON_HEAD_BYTES, type ModelJsonReader, findTfModel, readTfjsModelJson, tfjsJsonKind } from './model-files.js';
import { scanModelJsonHead } from './model-json-head.js';

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}
const ROOT = repoRoot();
const REPO_MODELS = ['test/fixtures/tfjs/layers-mlp', 'test/fixtures/tfjs/layers-two-inputs', 'test/fixtures/tfjs/graph-mlp', 'models/tfjs-image'];

/** What detection answered before it read only the start of model.json: the whole file parsed. */
function parsedAnswer(text: string): boolean {
  try {
    return tfjsJsonKind(JSON.parse(text)) !== undefined;
  } catch {
    return false;
  }
}

/** The disk, counting what detection asks of it. */
function countingReader(): ModelJsonReader & { heads: number; wholes: number } {
  return {
    heads: 0,
    wholes: 0,
    head(file, bytes) {
      this.heads++;
      const buf = Buffer.alloc(bytes);
      const fd = openSync(file, 'r');
      try {
        return buf.subarray(0, readSync(fd, buf, 0, bytes, 0));
      } finally {
        closeSync(fd);
      }
    },
    async whole(file) {
      this.wholes++;
      return JSON.parse(readFileSync(file, 'utf8'));
    },
  };
}

/** A string value longer than what detection reads. */
const PAD = 'x'.repeat(2 * MODEL_JSON_HEAD_BYTES);

/** Crafted model.json files, each longer than what detection reads, and whether their start tells (else the whole file is parsed). */
const CRAFTED: { name: string; text: (pad: string) => string; startTells: boolean }[] = [
  { name: 'format first, large topology after', text: (p) => `{"format": "graph-model", "modelTopology": {"versions": {"pad": "${p}"}, "node": []}}`, startTells: true },
  { name: 'Keras topology first (model.save order), format last', text: (p) => `{"modelTopology": {"class_name": "Sequential", "config": {"pad": "${p}"}}, "format": "layers-model"}`, startTells: true },
  { name: 'GraphDef node list first, no format', text: (p) => `{"modelTopology": {"node": [{"name": "${p}"}]}}`, startTells: true },
  { name: 'format last, after a large topology whose first keys do not tell', text: (p) => `{"modelTopology": {"pad": "${p}", "node": []}, "format": "graph-model"}`, startTells: false },
  { name: 'format last, after a large key', text: (p) => `{"pad": "${p}", "modelTopology": {"x": 1}, "format": "graph-model"}`, startTells: false },
  { name: 'key written with an escape ("for\\u006dat")', text: (p) => `{"for\\u006dat": "graph-model", "modelTopology": {"pad": "${p}"}}`, startTells: true },
  { name: '"format" only in a nested object', text: (p) => `{"meta": {"format": "graph-model"}, "modelTopology": {"pad": "${p}"}}`, startTells: false },
  { name: '"format" only inside a string', text: (p) => `{"note": "{\\"format\\": \\"graph-model\\", \\"modelTopology\\": {\\"node\\": []}}", "modelTopology": {"pad": "${p}"}}`, startTells: false },
  { name: 'no format and a topology of neither kind', text: (p) => `{"modelTopology": {"pad": "${p}"}, "weightsManifest": []}`, startTells: false },
  { name: 'format repeated (JSON.parse keeps the last)', text: (p) => `{"format": "graph-model", "format": "other", "modelTopology": {"pad": "${p}"}}`, startTells: false },
  { name: 'modelTopology repeated', text: (p) => `{"modelTopology": {"pad": 1}, "modelTopology": null, "format": "graph-model", "pad": "${p}"}`, startTells: false },
  { name: 'format with a null topology', text: (p) => `{"format": "graph-model", "modelTopology": null, "pad": "${p}"}`, startTells: false },
  { name: 'a topology that is a string', text: (p) => `{"modelTopology": "${p}"}`, startTells: false },
  { name: '"node" that is not a list', text: (p) => `{"modelTopology": {"node": {}, "pad": "${p}"}}`, startTells: false },
  { name: 'malformed before the format (a trailing comma)', text: (p) => `{"x": [1,], "format": "graph-model", "modelTopology": {"pad": "${p}"}}`, startTells: false },
  { name: 'malformed number before the topology', text: (p) => `{"format": "graph-model", "x": 01, "modelTopology": {"pad": "${p}"}}`, startTells: false },
  { name: 'a control character in a string before the topology', text: (p) => `{"format": "graph-model", "x": "a\tb", "modelTopology": {"pad": "${p}"}}`, startTells: false },
  { name: 'a top-level list', text: (p) => `[{"format": "graph-model", "modelTopology": {"node": []}}, "${p}"]`, startTells: false },
  { name: 'a byte order mark (JSON.parse refuses it)', text: (p) => `\uFEFF{"format": "graph-model", "modelTopology": {"pad": "${p}"}}`, startTells: false },
];

test('detection of a large model.json reads its start only when that tells, and answers as parsing the whole file does', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-detect-'));
  try {
    const file = path.join(dir, 'model.json');
    for (const c of CRAFTED) {
      const text = c.text(PAD);
      await writeFile(file, text);
      const reader = countingReader();
      const found = await findTfModel(file, reader);
      assert.equal(found !== undefined, parsedAnswer(text), c.name);
      if (found) assert.deepEqual(found, { kind: 'model-json', path: file }, c.name);
      // Parsed whole before, every time detection ran (the pipeline build, the predict step, each worker's inference mode).
      assert.deepEqual({ heads: reader.heads, wholes: reader.wholes }, { heads: 1, wholes: c.startTells ? 0 : 1 }, c.name);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the repo\'s TF.js models are detected as before, and with a large tail not parsed whole', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-detect-'));
  try {
    for (const model of REPO_MODELS) {
      const text = await readFile(path.join(ROOT, model, 'model.json'), 'utf8');
      assert.ok(parsedAnswer(text), model);
      assert.deepEqual(await findTfModel(path.join(ROOT, model)), { kind: 'model-json', path: path.join(ROOT, model, 'model.json') }, model);
      // The same model grown past what detection reads (as weights or a topology of hundreds of MB grow it).
      await cp(path.join(ROOT, model), dir, { recursive: true });
      await writeFile(path.join(dir, 'model.json'), text.replace(/\}\s*$/, `, "zzPad": "${PAD}"}`));
      const reader = countingReader();
      assert.deepEqual(await findTfModel(dir, reader), { kind: 'model-json', path: path.join(dir, 'model.json') }, model);
      assert.deepEqual({ heads: reader.heads, wholes: reader.wholes }, { heads: 1, wholes: 0 }, model);
      assert.equal((await readTfjsModelJson(path.join(dir, 'model.json'))).kind, tfjsJsonKind(JSON.parse(text)), model);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('no start of a crafted model.json decides against what parsing the whole file says', () => {
  for (const c of CRAFTED) {
    const text = c.text('x'.repeat(40));
    const bytes = Buffer.from(text);
    const want = parsedAnswer(text);
    for (let end = 0; end <= bytes.length; end++) {
      const seen = scanModelJsonHead(bytes.subarray(0, end));
      if (seen !== 'unknown') assert.equal(seen === 'tfjs', want, `${c.name}, first ${end} bytes`);
    }
  }
});

test('a malformed model.json: in its start, detecting a directory fails as before (ERR_MODEL_LOAD); after a start that shows a model, the load fails so', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-detect-'));
  const isLoadError = (pattern: RegExp) => (err: unknown) => isToolkitError(err) && err.code === 'ERR_MODEL_LOAD' && pattern.test(err.message);
  try {
    const file = path.join(dir, 'model.json');
    await writeFile(file, `{"format": "graph-model", "x": [1,], "modelTopology": {"pad": "${PAD}"}}`);
    await assert.rejects(findTfModel(dir), isLoadError(/model\.json is not valid JSON/));
    assert.equal(await findTfModel(file), undefined);
    // A model saved with a byte order mark (which JSON.parse refuses), small or large: a large one was passed over as no model.
    for (const pad of ['', PAD]) {
      await writeFile(file, `\uFEFF{"format": "graph-model", "modelTopology": {"node": []}, "pad": "${pad}"}`);
      await assert.rejects(findTfModel(dir), isLoadError(/model\.json is not valid JSON/), `${pad.length} bytes of padding`);
      assert.equal(await findTfModel(file), undefined);
    }
    // A truncated file whose start is a model's: detection finds it; the load, which parses it whole, says what is wrong.
    await writeFile(file, `{"format": "graph-model", "modelTopology": {"pad": "${PAD}"`);
    assert.deepEqual(await findTfModel(dir), { kind: 'model-json', path: file });
    await assert.rejects(readTfjsModelJson(file), isLoadError(/model\.json is not valid JSON/));
    // Read whole, JSON that is not a model is refused by the load naming what a model.json needs.
    await writeFile(file, `{"format": "graph-model", "modelTopology": {"x": 1}, "format": "other", "pad": "${PAD}"}`);
    assert.deepEqual(await findTfModel(dir), { kind: 'model-json', path: file });
    await assert.rejects(readTfjsModelJson(file), isLoadError(/is not a TF\.js model\.json: it needs a "modelTopology"/));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

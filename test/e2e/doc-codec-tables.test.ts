// The media-type tables of the README and docs/codecs.md, the image types of docs/tfjs-and-vision.md,
// and the v2 datatype and NPY dtype lists of docs/codecs.md, against the codecs the server registers:
// a type or dtype added, renamed or dropped in the code cannot leave the pages behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/serve-process.js';
import { DEFAULT_CODECS } from '../../src/codecs/defaults.js';
import { V2_DATATYPES } from '../../src/codecs/json-v2.js';
import { decodeNpy, encodeNpy } from '../../src/codecs/npy.js';
import { allocate, type DType } from '../../src/core/tensor.js';

const read = (page: string) => readFileSync(path.join(REPO_ROOT, page), 'utf8');

/** The rows of the first table after `header` (a line starting so): first cell → the row. */
function tableRows(text: string, header: RegExp): Map<string, string> {
  const at = header.exec(text);
  assert.ok(at, `no table headed ${header}`);
  const end = text.indexOf('\n\n', at.index);
  const rows = text.slice(at.index, end < 0 ? undefined : end).split('\n').slice(2);
  return new Map(rows.map((r) => [r.split(' | ')[0]!.replace(/^\| /, ''), r]));
}

/** Media types written in backticks in a cell. */
const typesIn = (cell: string) => [...cell.matchAll(/`([a-z]+\/[a-z0-9.+-]+)/g)].map((m) => m[1]!);

const isImage = (t: string) => t.startsWith('image/');

test('docs/codecs.md: its table has a row for each non-image codec, naming its aliases, with decode and encode as the code has them, and no other type', () => {
  const rows = tableRows(read('docs/codecs.md'), /^\| Media type \| Decode \| Encode \| Notes \|$/m);
  const codecs = DEFAULT_CODECS.filter((c) => !isImage(c.mediaType));
  assert.deepEqual([...rows.keys()].map((k) => typesIn(k)[0]).sort(), codecs.map((c) => c.mediaType).sort());
  for (const [first, row] of rows) {
    const codec = codecs.find((c) => c.mediaType === typesIn(first)[0])!;
    assert.deepEqual(typesIn(first).slice(1).sort(), [...(codec.aliases ?? [])].sort(), `aliases of ${codec.mediaType}`);
    const [, decode, encode] = row.split(' | ');
    // A cell starts with yes or no; words may follow it (`yes (…)`).
    assert.equal(/^yes\b/.test(decode!), codec.decode !== undefined, `${codec.mediaType} decode: ${decode}`);
    // Triton's binary form is answered by its own hook (answersOwnRequests), not by encode.
    assert.equal(/^yes\b/.test(encode!), codec.encode !== undefined, `${codec.mediaType} encode: ${encode}`);
  }
  // The table leaves out the image codecs and multipart: the page must say where they are.
  assert.match(read('docs/codecs.md'), /`image\/\*`[^\n]*`multipart\/form-data`|`multipart\/form-data`[^\n]*`image\/\*`/);
});

test('README: its format table names every codec type and alias (the images and multipart in one row), and no type the code lacks', () => {
  const rows = tableRows(read('README.md'), /^\| Content-Type \/ Accept \| in \| out \|$/m);
  const named = [...rows.keys()].flatMap(typesIn);
  const code = DEFAULT_CODECS.flatMap((c) => [c.mediaType, ...(c.aliases ?? [])]);
  assert.deepEqual([...named].sort(), [...code, 'multipart/form-data'].sort());
  for (const c of DEFAULT_CODECS) {
    const row = [...rows].find(([k]) => typesIn(k).includes(c.mediaType))![1];
    const out = row.split(' | ').at(-1)!.replace(/ \|$/, '');
    if (!c.encode && c.mediaType !== 'application/vnd.sagemaker-triton.binary+json') assert.equal(out, '—', `${c.mediaType} has no encoder`);
  }
});

test('docs/tfjs-and-vision.md names every image type the image codecs answer to', () => {
  // Its "Image bodies" section, to the next heading; the README's table holds the other direction
  // (no image type named that the code lacks).
  const text = read('docs/tfjs-and-vision.md');
  const start = text.indexOf('## Image bodies');
  assert.ok(start >= 0, 'an "Image bodies" section');
  const end = text.indexOf('\n## ', start + 3);
  const named = typesIn(text.slice(start, end < 0 ? undefined : end));
  const images = DEFAULT_CODECS.filter((c) => isImage(c.mediaType)).flatMap((c) => [c.mediaType, ...(c.aliases ?? [])]);
  for (const type of images) assert.ok(named.includes(type), `${type} is not named`);
});

test('docs/codecs.md: the v2 datatypes listed are the ones decoded, each spelt out', () => {
  const line = /^- v2 datatypes: (.*)$/m.exec(read('docs/codecs.md'));
  assert.ok(line);
  const listed = [...line[1]!.matchAll(/`([A-Z0-9]+)`/g)].map((m) => m[1]!);
  assert.match(read('docs/codecs.md'), /`BF16`/, 'BF16 is described');
  assert.deepEqual([...listed, 'BF16'].sort(), Object.keys(V2_DATATYPES).sort());
});

test('docs/codecs.md: every NPY dtype listed decodes, and every dtype NPY answers are written in is listed', () => {
  const text = read('docs/codecs.md');
  const line = /^- dtypes: (.*)$/m.exec(text);
  assert.ok(line, 'the NPY dtypes line');
  // Every backticked group of type codes on the line, string kinds (`<U*`, `|S*`) aside.
  const listed = [...line[1]!.matchAll(/`([^`]*)`/g)].flatMap((m) => m[1]!.split(/\s+/)).filter((d) => d !== '' && !d.includes('*'));
  assert.ok(listed.length >= 12, `the NPY dtypes line lists ${listed.join(' ')}`);
  for (const descr of listed) {
    const header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (0,), }`;
    const body = Buffer.concat([Buffer.from([0x93, ...Buffer.from('NUMPY'), 1, 0, header.length, 0]), Buffer.from(header)]);
    assert.doesNotThrow(() => decodeNpy(body), `${descr} decodes`);
  }
  const numeric: DType[] = ['float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool'];
  for (const dtype of numeric) {
    const npy = encodeNpy({ dtype, shape: [0], data: allocate(dtype, 0) } as never);
    const descr = /'descr': '([^']*)'/.exec(npy.toString('latin1'))![1]!;
    assert.ok(listed.includes(descr), `${dtype} is answered as ${descr}, which the list lacks`);
  }
});

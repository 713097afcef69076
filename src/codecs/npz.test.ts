import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zipSync } from 'fflate';
import { UNNAMED, tensor, type Tensor } from '../core/tensor.js';
import { ToolkitError } from '../errors/catalogue.js';
import { crc32, deflateRawSync } from 'node:zlib';
import { encodeNpy, npyCodec, npyHeader } from './npy.js';
import { npzCodec } from './npz.js';

// Written by numpy 2.4.6 `np.savez` / `savez_compressed` and scipy 1.17.1 `scipy.sparse.save_npz` (base64):
// csc [[0,0,3],[4,0,0]], csr [[1,0],[0,7]], coo [[6,2],[5,9]], plain {x: arange(6) f32 (2,3), y: [1,2] i8},
// compressed {arr_0: ones((2,2)), arr_1: zeros(3)}.
const NPZ: Record<string, string> = {
  csc: 'UEsDBC0AAAAIAAAAIQCAMaOH//////////8LABQAaW5kaWNlcy5ucHkBABAAiAAAAAAAAABIAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TaaKuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6mjoKtQoUAC5GBggAAFBLAwQtAAAACAAAACEAeBQt4v//////////CgAUAGluZHB0ci5ucHkBABAAkAAAAAAAAABMAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TaaKuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GiY6mjoKtQoUAC4GIGCEYiYgBgBQSwMELQAAAAgAAAAhAFHjxP3//////////woAFABmb3JtYXQubnB5AQAQAIMAAAAAAAAARQAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBeE2ysrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RqaOgq1ChQBruTiZABQSwMELQAAAAgAAAAhAGBIfgz//////////wkAFABzaGFwZS5ucHkBABAAkAAAAAAAAABKAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TaaGuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6mjoKtQoUAC4mBghghtIAUEsDBC0AAAAIAAAAIQCEIe9f//////////8IABQAZGF0YS5ucHkBABAAkAAAAAAAAABKAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TaaGuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6mjoKtQoUAC4WBghghtIAUEsBAi0DLQAAAAgAAAAhAIAxo4dIAAAAiAAAAAsAAAAAAAAAAAAAAIABAAAAAGluZGljZXMubnB5UEsBAi0DLQAAAAgAAAAhAHgULeJMAAAAkAAAAAoAAAAAAAAAAAAAAIABhQAAAGluZHB0ci5ucHlQSwECLQMtAAAACAAAACEAUePE/UUAAACDAAAACgAAAAAAAAAAAAAAgAENAQAAZm9ybWF0Lm5weVBLAQItAy0AAAAIAAAAIQBgSH4MSgAAAJAAAAAJAAAAAAAAAAAAAACAAY4BAABzaGFwZS5ucHlQSwECLQMtAAAACAAAACEAhCHvX0oAAACQAAAACAAAAAAAAAAAAAAAgAETAgAAZGF0YS5ucHlQSwUGAAAAAAUABQAWAQAAlwIAAAAA',
  csr: 'UEsDBC0AAAAIAAAAIQB7VrXz//////////8LABQAaW5kaWNlcy5ucHkBABAAiAAAAAAAAABJAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TaaKuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6mjoKtQoUAC4GIGAEYgBQSwMELQAAAAgAAAAhAALsvan//////////woAFABpbmRwdHIubnB5AQAQAIwAAAAAAAAATAAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBuk2mirqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RrGOpo6CrUKFAAuBiBgBGImIAYAUEsDBC0AAAAIAAAAIQCjw3SX//////////8KABQAZm9ybWF0Lm5weQEAEACDAAAAAAAAAEUAAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgXhNsrK6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkamjoKtQoUAa7k4iIAUEsDBC0AAAAIAAAAIQD+SNTA//////////8JABQAc2hhcGUubnB5AQAQAJAAAAAAAAAASQAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBuk2mhrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RpGOpo6CrUKFAAuJgYIgNEAUEsDBC0AAAAIAAAAIQBo8vyh//////////8IABQAZGF0YS5ucHkBABAAkAAAAAAAAABKAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TaaGuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6mjoKtQoUAC5GBghgh9IAUEsBAi0DLQAAAAgAAAAhAHtWtfNJAAAAiAAAAAsAAAAAAAAAAAAAAIABAAAAAGluZGljZXMubnB5UEsBAi0DLQAAAAgAAAAhAALsvalMAAAAjAAAAAoAAAAAAAAAAAAAAIABhgAAAGluZHB0ci5ucHlQSwECLQMtAAAACAAAACEAo8N0l0UAAACDAAAACgAAAAAAAAAAAAAAgAEOAQAAZm9ybWF0Lm5weVBLAQItAy0AAAAIAAAAIQD+SNTASQAAAJAAAAAJAAAAAAAAAAAAAACAAY8BAABzaGFwZS5ucHlQSwECLQMtAAAACAAAACEAaPL8oUoAAACQAAAACAAAAAAAAAAAAAAAgAETAgAAZGF0YS5ucHlQSwUGAAAAAAUABQAWAQAAlwIAAAAA',
  coo: 'UEsDBC0AAAAIAAAAIQD59z1r//////////8HABQAcm93Lm5weQEAEACQAAAAAAAAAEkAAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpNpoq6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkaJjqaOgq1ChQALgYoYIRiAFBLAwQtAAAACAAAACEACLsyPP//////////BwAUAGNvbC5ucHkBABAAkAAAAAAAAABMAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TaaKuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GiY6mjoKtQoUAC4GIGBkgAAQDQBQSwMELQAAAAgAAAAhACfyBRL//////////woAFABmb3JtYXQubnB5AQAQAIMAAAAAAAAARQAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBeE2ysrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RqaOgq1ChQBruT8fABQSwMELQAAAAgAAAAhAP5I1MD//////////wkAFABzaGFwZS5ucHkBABAAkAAAAAAAAABJAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TaaGuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6mjoKtQoUAC4mBgiA0QBQSwMELQAAAAgAAAAhAGmZsqz//////////wgAFABkYXRhLm5weQEAEACgAAAAAAAAAFAAAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpNpoa6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkaJjqaOgq1ChQALjYGCGCC0qxQmhNKAwBQSwECLQMtAAAACAAAACEA+fc9a0kAAACQAAAABwAAAAAAAAAAAAAAgAEAAAAAcm93Lm5weVBLAQItAy0AAAAIAAAAIQAIuzI8TAAAAJAAAAAHAAAAAAAAAAAAAACAAYIAAABjb2wubnB5UEsBAi0DLQAAAAgAAAAhACfyBRJFAAAAgwAAAAoAAAAAAAAAAAAAAIABBwEAAGZvcm1hdC5ucHlQSwECLQMtAAAACAAAACEA/kjUwEkAAACQAAAACQAAAAAAAAAAAAAAgAGIAQAAc2hhcGUubnB5UEsBAi0DLQAAAAgAAAAhAGmZsqxQAAAAoAAAAAgAAAAAAAAAAAAAAIABDAIAAGRhdGEubnB5UEsFBgAAAAAFAAUADwEAAJYCAAAAAA==',
  plain: 'UEsDBC0AAAAAAAAAIQBP6QAq//////////8FABQAeC5ucHkBABAAmAAAAAAAAACYAAAAAAAAAJNOVU1QWQEAdgB7J2Rlc2NyJzogJzxmNCcsICdmb3J0cmFuX29yZGVyJzogRmFsc2UsICdzaGFwZSc6ICgyLCAzKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAKAAAAAAAAgD8AAABAAABAQAAAgEAAAKBAUEsDBC0AAAAAAAAAIQAM/Bzp//////////8FABQAeS5ucHkBABAAkAAAAAAAAACQAAAAAAAAAJNOVU1QWQEAdgB7J2Rlc2NyJzogJzxpOCcsICdmb3J0cmFuX29yZGVyJzogRmFsc2UsICdzaGFwZSc6ICgyLCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAKAQAAAAAAAAACAAAAAAAAAFBLAQItAy0AAAAAAAAAIQBP6QAqmAAAAJgAAAAFAAAAAAAAAAAAAACAAQAAAAB4Lm5weVBLAQItAy0AAAAAAAAAIQAM/BzpkAAAAJAAAAAFAAAAAAAAAAAAAACAAc8AAAB5Lm5weVBLBQYAAAAAAgACAGYAAACWAQAAAAA=',
  compressed: 'UEsDBC0AAAAIAAAAIQBm5fse//////////8JABQAYXJyXzAubnB5AQAQAKAAAAAAAAAATQAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBuk2ahrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RpGOgpGmjoKtQpkAy4GMPhgj4sGAFBLAwQtAAAACAAAACEALuP5vP//////////CQAUAGFycl8xLm5weQEAEACYAAAAAAAAAEcAAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpNmoa6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkaxjqaOgq1ChQALgYcAABQSwECLQMtAAAACAAAACEAZuX7Hk0AAACgAAAACQAAAAAAAAAAAAAAgAEAAAAAYXJyXzAubnB5UEsBAi0DLQAAAAgAAAAhAC7j+bxHAAAAmAAAAAkAAAAAAAAAAAAAAIABiAAAAGFycl8xLm5weVBLBQYAAAAAAgACAG4AAAAKAQAAAAA=',
};
const decode = (name: string) => npzCodec.decode!(Buffer.from(NPZ[name]!, 'base64'), {});
const plain = (t: Tensor) => ({ dtype: t.dtype, shape: [...t.shape], data: Array.from(t.data as ArrayLike<unknown>) });

test('NPZ members become named tensors (form npz), compressed or not', () => {
  const r = decode('plain');
  assert.equal(r.form, 'npz');
  assert.deepEqual(plain(r.tensors['x']!), { dtype: 'float32', shape: [2, 3], data: [0, 1, 2, 3, 4, 5] });
  assert.deepEqual(plain(r.tensors['y']!), { dtype: 'int64', shape: [2], data: [1n, 2n] });
  const c = decode('compressed');
  assert.deepEqual(Object.keys(c.tensors).sort(), ['arr_0', 'arr_1']);
  assert.deepEqual(plain(c.tensors['arr_0']!), { dtype: 'float64', shape: [2, 2], data: [1, 1, 1, 1] });
});

test('C-1.11: scipy.sparse save_npz archives (csc, csr, coo) decode to the dense matrix', () => {
  assert.deepEqual(plain(decode('csc').tensors[UNNAMED]!), { dtype: 'int64', shape: [2, 3], data: [0n, 0n, 3n, 4n, 0n, 0n] });
  assert.deepEqual(plain(decode('csr').tensors[UNNAMED]!), { dtype: 'int64', shape: [2, 2], data: [1n, 0n, 0n, 7n] });
  assert.deepEqual(plain(decode('coo').tensors[UNNAMED]!), { dtype: 'int64', shape: [2, 2], data: [6n, 2n, 5n, 9n] });
});

test('sparse archives: duplicates are summed, unknown formats refused', () => {
  const npy = (t: Tensor) => new Uint8Array(encodeNpy(t));
  const archive = (format: string) =>
    Buffer.from(
      zipSync({
        'format.npy': npy(tensor('string', [], [format])),
        'shape.npy': npy(tensor('int64', [2], BigInt64Array.from([2n, 2n]))),
        'data.npy': npy(tensor('float64', [3], Float64Array.from([1, 2, 5]))),
        'row.npy': npy(tensor('int32', [3], Int32Array.from([0, 0, 1]))),
        'col.npy': npy(tensor('int32', [3], Int32Array.from([1, 1, 0]))),
      }),
    );
  assert.deepEqual(plain(npzCodec.decode!(archive('coo'), {}).tensors[UNNAMED]!), { dtype: 'float64', shape: [2, 2], data: [0, 3, 5, 0] });
  assert.throws(() => npzCodec.decode!(archive('dia'), {}), (e: unknown) => e instanceof ToolkitError && e.status === 400 && /'dia' is not supported/.test(e.message));
});

test('broken archives are a 400', () => {
  assert.throws(() => npzCodec.decode!(Buffer.from('not a zip'), {}), { code: 'ERR_NPY_PARSE' });
  assert.throws(() => npzCodec.decode!(Buffer.from(zipSync({ 'a.txt': new Uint8Array(1) })), {}), /no \.npy members/);
  assert.equal(npzCodec.encode, undefined);
});

/** A zip archive written by hand, so a test can make its declared sizes lie. */
function handZip(members: { name: string; data: Buffer; deflate?: boolean; declaredSize?: number }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    const body = m.deflate ? deflateRawSync(m.data) : m.data;
    const name = Buffer.from(m.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(m.deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc32(m.data), 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(m.declaredSize ?? m.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(m.deflate ? 8 : 0, 10);
    central.writeUInt32LE(crc32(m.data), 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(m.declaredSize ?? m.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(members.length, 8);
  eocd.writeUInt16LE(members.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

const tooLarge = (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_DECODED_TOO_LARGE' && e.status === 413;
const badNpz = (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_NPY_PARSE' && e.status === 400 && e.message.length < 400;

test('an NPZ that inflates far past the budget stops inflating there (413), whatever sizes it declares', () => {
  const header = npyHeader('<f8', [4 * 1024 * 1024]);
  const bomb = Buffer.concat([header, Buffer.alloc(32 * 1024 * 1024)]); // 32 MB of zeros deflate to ~32 KB
  for (const declaredSize of [100, bomb.length, 0xfffffffe]) {
    const zip = handZip([{ name: 'x.npy', data: bomb, deflate: true, declaredSize }]);
    assert.ok(zip.length < 100_000);
    assert.throws(() => npzCodec.decode!(zip, {}, { maxDecodedBytes: 1024 * 1024 }), tooLarge);
  }
  // Several members share one budget.
  const small = Buffer.concat([npyHeader('<f8', [50_000]), Buffer.alloc(400_000)]);
  const three = handZip(['a', 'b', 'c'].map((n) => ({ name: `${n}.npy`, data: small, deflate: true })));
  assert.equal(Object.keys(npzCodec.decode!(three, {}, { maxDecodedBytes: 1_300_000 }).tensors).length, 3);
  assert.throws(() => npzCodec.decode!(three, {}, { maxDecodedBytes: 1_000_000 }), tooLarge);
  // Within the budget, a hand-written deflated archive decodes; a lone positional arr_0 is an unnamed array.
  assert.deepEqual(npzCodec.decode!(handZip([{ name: 'arr_0.npy', data: encodeNpy(tensor('int8', [2], Int8Array.of(3, -4))), deflate: true }]), {}).tensors[UNNAMED]!.data, Int8Array.of(3, -4));
});

test('NPZ members declaring huge or negative shapes, and lying zip headers, are a 400 before anything is allocated', () => {
  const member = (descr: string, shape: string) => {
    const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
    const h = Buffer.alloc(10 + dict.length + 1, ' ');
    Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(h);
    h.writeUInt16LE(dict.length + 1, 8);
    h.write(dict, 10, 'latin1');
    h[h.length - 1] = 10;
    return h;
  };
  for (const shape of ['(1000000000000,)', '(-5,)', '(4294967296, 4294967296)', '(1.5,)', `(${'1, '.repeat(100)})`]) {
    assert.throws(() => npzCodec.decode!(handZip([{ name: 'x.npy', data: member('<f8', shape) }]), {}, { maxDecodedBytes: 1e6 }), badNpz, shape);
  }
  assert.throws(() => npzCodec.decode!(handZip([{ name: 'x.npy', data: member('<U0', '(1000000000,)') }]), {}), badNpz);
  const zip = handZip([{ name: 'x.npy', data: encodeNpy(tensor('int8', [1], Int8Array.of(1))) }]);
  const lying = Buffer.from(zip);
  lying.writeUInt16LE(60000, lying.length - 12); // entries count
  assert.throws(() => npzCodec.decode!(lying, {}), badNpz);
  const offset = Buffer.from(zip);
  offset.writeUInt32LE(0x7ffffff0, offset.length - 6); // central directory offset
  assert.throws(() => npzCodec.decode!(offset, {}), badNpz);
});

test('sparse archives: a huge dense shape is a 413, malformed index arrays a 400, int64 duplicates sum exactly', () => {
  const npy = (t: Tensor) => new Uint8Array(encodeNpy(t));
  const archive = (shape: bigint[], members: Record<string, Tensor>, format = 'csr') =>
    Buffer.from(zipSync({ 'format.npy': npy(tensor('string', [], [format])), 'shape.npy': npy(tensor('int64', [2], BigInt64Array.from(shape))), ...Object.fromEntries(Object.entries(members).map(([k, v]) => [`${k}.npy`, npy(v)])) }));
  const i32 = (...v: number[]) => tensor('int32', [v.length], Int32Array.from(v));
  const csr = { data: tensor('float64', [1], Float64Array.of(1)), indices: i32(0), indptr: i32(0, 1, 1) };
  assert.throws(() => npzCodec.decode!(archive([1_000_000n, 1_000_000n], { ...csr, indptr: tensor('int32', [1_000_001], new Int32Array(1_000_001).fill(1).fill(0, 0, 1)) }), {}, { maxDecodedBytes: 64e6 }), tooLarge);
  assert.throws(() => npzCodec.decode!(archive([2n, 2n], { ...csr, indptr: i32(0, 1_000_000_000, 1_000_000_000) }), {}), badNpz);
  assert.throws(() => npzCodec.decode!(archive([2n, 2n], { ...csr, indptr: i32(0, 1, 0) }), {}), badNpz);
  assert.throws(() => npzCodec.decode!(archive([-2n, 2n], csr), {}), badNpz);
  const coo = archive([2n, 2n], { data: tensor('int64', [3], BigInt64Array.of(2n ** 60n, 2n ** 60n, 5n)), row: i32(0, 0, 1), col: i32(1, 1, 0) }, 'coo');
  assert.deepEqual(plain(npzCodec.decode!(coo, {}).tensors[UNNAMED]!), { dtype: 'int64', shape: [2, 2], data: [0n, 2n ** 61n, 5n, 0n] });
  assert.throws(() => npzCodec.decode!(archive([2n, 2n], { data: tensor('float64', [2], Float64Array.of(1, 2)), row: i32(0), col: i32(0) }, 'coo'), {}), badNpz);
});

test("'|S' members mark the request as bytes: a string answer in NPY is '|S' with each element's bytes as sent, as for an NPY body; '<U' members do not", () => {
  const elements = [Buffer.of(0xff, 0x01), Buffer.from('é'), Buffer.from('ab')];
  const bytes = Buffer.concat([npyHeader('|S2', [3]), ...elements]);
  for (const member of ['arr_0.npy', 'text.npy']) {
    const request = npzCodec.decode!(Buffer.from(zipSync({ [member]: new Uint8Array(bytes), 'n.npy': new Uint8Array(encodeNpy(tensor('float32', [1], Float32Array.of(1)))) })), {});
    assert.equal(request.npyBytes, true, member);
    const strings = request.tensors[member === 'arr_0.npy' ? 'arr_0' : 'text']!;
    assert.deepEqual(npyCodec.encode!(strings, { request }), bytes, member);
  }
  const text = npzCodec.decode!(Buffer.from(zipSync({ 'text.npy': new Uint8Array(encodeNpy(tensor('string', [1], ['é']))) })), {});
  assert.equal(text.npyBytes, undefined);
  assert.match(npyCodec.encode!(text.tensors['text']!, { request: text }).subarray(0, 64).toString('latin1'), /'descr': '<U1'/);
});

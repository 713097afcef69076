import { ToolkitError } from '../errors/catalogue.js';
import { UNNAMED, allocate, isBigIntDType, type Tensor, type TensorMap } from '../core/tensor.js';
import { fromFloat16Bits, toFloat16Bits } from '../core/float16.js';
import type { Codec, DecodeLimits, DecodedRequest } from './codec.js';
import { chargedElements, checkDecodedSize } from './decode-limits.js';
import { decodeNpy, type NpyBytes } from './npy.js';
import { listZipMembers, readZipMember } from './zip-read.js';
import { decodedBytes } from './decoded-size.js';
import { setTensor } from './tensor-map.js';

/** `application/x-npz` media type. */
export const NPZ_MEDIA_TYPE = 'application/x-npz';

/**
 * Reads an NPZ archive (`numpy.savez` or `savez_compressed`): each `name.npy` member becomes the
 * tensor `name` (a lone `arr_0`, what `np.savez(f, x)` writes, is an unnamed array). An archive
 * written by `scipy.sparse.save_npz` (members `format`, `shape`, `data` and `indices`/`indptr` for
 * CSR/CSC, or `row`/`col` for COO) becomes one dense tensor instead. Members are inflated within
 * the decoded-size budget (`limits`): an archive that expands past it stops inflating there.
 *
 * @throws ToolkitError 400 `ERR_NPY_PARSE` for a broken archive or an unsupported sparse format;
 *   413 `ERR_DECODED_TOO_LARGE` past the budget.
 */
export function decodeNpz(body: Buffer, _params: Readonly<Record<string, string>> = {}, limits?: DecodeLimits): DecodedRequest {
  const budget = limits?.maxDecodedBytes ?? Number.POSITIVE_INFINITY;
  let used = 0;
  const tensors: TensorMap = {};
  // '|S' (bytes) members: a string answer in NPY is '|S' again, their bytes as sent, as for an NPY body.
  const npyBytes: NpyBytes = { found: false, binary: new Set(), text: new Set() };
  for (const member of listZipMembers(body)) {
    if (!member.name.endsWith('.npy')) continue;
    const left = budget - used;
    const bytes = readZipMember(body, member, left);
    if (bytes === undefined) {
      throw new ToolkitError(
        'ERR_DECODED_TOO_LARGE',
        `NPZ member '${member.name}' inflates to more than the ${Math.round(left / 1024)} KiB this request may still decode (SMKIT_MAX_DECODED_MB); inflation stopped there. Send smaller arrays`,
        { details: { maxDecodedBytes: budget } },
      );
    }
    const t = decodeNpy(bytes, `NPZ member '${member.name}'`, { maxDecodedBytes: left }, npyBytes);
    used += Math.max(bytes.length, decodedBytes({ t }));
    setTensor(tensors, member.name.slice(0, -4), t);
  }
  const names = Object.keys(tensors);
  if (names.length === 0) throw new ToolkitError('ERR_NPY_PARSE', 'NPZ archive holds no .npy members');
  if (isSparse(tensors)) return { tensors: { [UNNAMED]: sparseToDense(tensors, { maxDecodedBytes: budget - used }) }, form: 'tensor' };
  // np.savez(f, x) names a lone positional array arr_0: that is an array sent without a name.
  const request: DecodedRequest = names.length === 1 && names[0] === 'arr_0' ? { tensors: { [UNNAMED]: tensors['arr_0']! }, form: 'tensor' } : { tensors, form: 'npz' };
  if (npyBytes.found) {
    request.npyBytes = true;
    for (const text of npyBytes.text) npyBytes.binary.delete(text);
    if (npyBytes.binary.size > 0) request.binaryStrings = npyBytes.binary;
  }
  return request;
}

function isSparse(t: TensorMap): boolean {
  return t['format']?.dtype === 'string' && t['shape'] !== undefined && t['data'] !== undefined;
}

function sparseToDense(t: TensorMap, limits: DecodeLimits): Tensor {
  const format = t['format']!.data.length === 1 ? (t['format']!.data as string[])[0] : undefined;
  const shape = Array.from(t['shape']!.data as ArrayLike<number | bigint>, Number);
  if (shape.length !== 2) fail(`sparse matrix shape must have 2 dimensions, found ${shape.length}`);
  const [rows, cols] = shape as [number, number];
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 0 || cols < 0) fail(`sparse matrix shape (${shape.join(', ')}) is not two non-negative integers`);
  const values = t['data']!;
  if (values.dtype === 'string') fail('sparse matrix data must be numeric');
  const itemBytes = (values.data as Exclude<Tensor['data'], string[]>).BYTES_PER_ELEMENT;
  checkDecodedSize(chargedElements([rows, cols]) * itemBytes, limits, `the dense ${rows}×${cols} matrix of this sparse NPZ`);
  const data = values.data as unknown as ArrayLike<number | bigint>;
  const nnz = data.length;
  const index = (name: string): number[] => {
    const member = t[name];
    if (member === undefined || member.dtype === 'string') return fail(`a '${format}' sparse archive needs a numeric '${name}' member`);
    const values = Array.from(member.data as ArrayLike<number | bigint>, Number);
    // A fractional index would address no element: its value would vanish from the dense matrix.
    const at = values.findIndex((v) => !Number.isInteger(v));
    if (at >= 0) fail(`'${name}' must hold integers, but element ${at} is ${values[at]}`);
    return values;
  };
  const entries: [number, number, number][] = [];
  const add = (r: number, c: number, k: number): void => {
    if (!(r >= 0 && r < rows && c >= 0 && c < cols)) fail(`sparse index (${r}, ${c}) is outside the shape (${rows}, ${cols})`);
    entries.push([r, c, k]);
  };
  if (format === 'csr' || format === 'csc') {
    const indptr = index('indptr');
    const indices = index('indices');
    const major = format === 'csr' ? rows : cols;
    if (indptr.length !== major + 1) fail(`'indptr' has ${indptr.length} entries but a ${format} matrix of this shape needs ${major + 1}`);
    // indptr must climb from 0 to at most the number of stored values; anything else would read past them (or loop for ever).
    if (indptr[0] !== 0 || indptr[major]! > Math.min(nnz, indices.length) || indptr.some((v, i) => i > 0 && !(v >= indptr[i - 1]!))) {
      fail(`'indptr' must rise from 0 to at most the ${Math.min(nnz, indices.length)} stored values`);
    }
    for (let i = 0; i < major; i++) {
      for (let k = indptr[i]!; k < indptr[i + 1]!; k++) {
        if (format === 'csr') add(i, indices[k]!, k);
        else add(indices[k]!, i, k);
      }
    }
  } else if (format === 'coo') {
    const row = index('row');
    const col = index('col');
    if (row.length !== nnz || col.length !== nnz) fail(`'row', 'col' and 'data' must have the same length (${row.length}, ${col.length}, ${nnz})`);
    for (let k = 0; k < nnz; k++) add(row[k]!, col[k]!, k);
  } else {
    fail(`sparse format '${format}' is not supported; convert it with .tocsr() before save_npz`);
  }
  const dense = allocate(values.dtype, rows * cols);
  // Duplicate entries are summed, as scipy's toarray() does (bool: any true value is true).
  if (isBigIntDType(values.dtype)) {
    const d = dense as BigInt64Array | BigUint64Array;
    for (const [r, c, k] of entries) d[r * cols + c] = BigInt.asIntN(64, d[r * cols + c]! + (data[k] as bigint)) as never;
  } else if (values.dtype === 'float16') {
    const d = dense as Uint16Array;
    for (const [r, c, k] of entries) d[r * cols + c] = toFloat16Bits(fromFloat16Bits(d[r * cols + c]!) + fromFloat16Bits(data[k] as number));
  } else if (values.dtype === 'bool') {
    const d = dense as Uint8Array;
    for (const [r, c, k] of entries) if (data[k]) d[r * cols + c] = 1;
  } else {
    const d = dense as Exclude<Tensor['data'], string[] | BigInt64Array | BigUint64Array>;
    for (const [r, c, k] of entries) d[r * cols + c]! += data[k] as number;
  }
  return { dtype: values.dtype, shape: [rows, cols], data: dense } as Tensor;
}

function fail(message: string): never {
  throw new ToolkitError('ERR_NPY_PARSE', `NPZ body: ${message}`);
}

/** The `application/x-npz` codec (decode only: answers use JSON or NPY). */
export const npzCodec: Codec = {
  mediaType: NPZ_MEDIA_TYPE,
  decode: decodeNpz,
};

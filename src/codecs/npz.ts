import { unzipSync } from 'fflate';
import { ToolkitError } from '../errors/catalogue.js';
import { UNNAMED, allocate, type Tensor, type TensorMap } from '../core/tensor.js';
import type { Codec, DecodedRequest } from './codec.js';
import { decodeNpy } from './npy.js';

/** `application/x-npz` media type. */
export const NPZ_MEDIA_TYPE = 'application/x-npz';

/**
 * Reads an NPZ archive (`numpy.savez` or `savez_compressed`): each `name.npy` member becomes the
 * tensor `name`. An archive written by `scipy.sparse.save_npz` (members `format`, `shape`, `data`
 * and `indices`/`indptr` for CSR/CSC, or `row`/`col` for COO) becomes one dense tensor instead.
 *
 * @throws ToolkitError 400 `ERR_NPY_PARSE` for a broken archive or an unsupported sparse format.
 */
export function decodeNpz(body: Buffer): DecodedRequest {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(body);
  } catch (err) {
    throw new ToolkitError('ERR_NPY_PARSE', `NPZ body is not a valid zip archive: ${(err as Error).message}`, { cause: err });
  }
  const tensors: TensorMap = {};
  for (const [file, bytes] of Object.entries(files)) {
    if (!file.endsWith('.npy')) continue;
    const name = file.slice(0, -4);
    tensors[name] = decodeNpy(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), `NPZ member '${file}'`);
  }
  if (Object.keys(tensors).length === 0) throw new ToolkitError('ERR_NPY_PARSE', 'NPZ archive holds no .npy members');
  if (isSparse(tensors)) return { tensors: { [UNNAMED]: sparseToDense(tensors) }, form: 'tensor' };
  return { tensors, form: 'npz' };
}

function isSparse(t: TensorMap): boolean {
  return t['format']?.dtype === 'string' && t['shape'] !== undefined && t['data'] !== undefined;
}

function sparseToDense(t: TensorMap): Tensor {
  const format = (t['format']!.data as string[])[0];
  const shape = Array.from(t['shape']!.data as ArrayLike<number | bigint>, Number);
  if (shape.length !== 2) fail(`sparse matrix shape must have 2 dimensions, found ${shape.length}`);
  const [rows, cols] = shape as [number, number];
  const values = t['data']!;
  if (values.dtype === 'string') fail('sparse matrix data must be numeric');
  const dense = allocate(values.dtype, rows * cols) as unknown as Record<number, number | bigint>;
  const data = values.data as unknown as ArrayLike<number | bigint>;
  const index = (name: string): number[] => {
    const member = t[name];
    if (member === undefined) fail(`a '${format}' sparse archive needs a '${name}' member`);
    return Array.from(member!.data as ArrayLike<number | bigint>, Number);
  };
  const add = (r: number, c: number, k: number): void => {
    if (r < 0 || r >= rows || c < 0 || c >= cols) fail(`sparse index (${r}, ${c}) is outside the shape (${rows}, ${cols})`);
    // Duplicate entries are summed, as scipy's toarray() does.
    (dense[r * cols + c] as number) += data[k] as number;
  };
  if (format === 'csr' || format === 'csc') {
    const indptr = index('indptr');
    const indices = index('indices');
    const major = format === 'csr' ? rows : cols;
    if (indptr.length !== major + 1) fail(`'indptr' has ${indptr.length} entries but a ${format} matrix of this shape needs ${major + 1}`);
    for (let i = 0; i < major; i++) {
      for (let k = indptr[i]!; k < indptr[i + 1]!; k++) {
        if (format === 'csr') add(i, indices[k]!, k);
        else add(indices[k]!, i, k);
      }
    }
  } else if (format === 'coo') {
    const row = index('row');
    const col = index('col');
    for (let k = 0; k < row.length; k++) add(row[k]!, col[k]!, k);
  } else {
    fail(`sparse format '${format}' is not supported; convert it with .tocsr() before save_npz`);
  }
  return { dtype: values.dtype, shape: [rows, cols], data: dense as unknown as Tensor['data'] } as Tensor;
}

function fail(message: string): never {
  throw new ToolkitError('ERR_NPY_PARSE', `NPZ body: ${message}`);
}

/** The `application/x-npz` codec (decode only: answers use JSON or NPY). */
export const npzCodec: Codec = {
  mediaType: NPZ_MEDIA_TYPE,
  decode: decodeNpz,
};

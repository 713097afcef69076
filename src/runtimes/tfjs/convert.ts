import type { Tensor as TfTensor, DataType as TfDType } from '@tensorflow/tfjs';
import { type DType, type Tensor, tensor } from '../../core/tensor.js';
import { convertExact } from '../../core/dtype-convert.js';
import { ToolkitError } from '../../errors/catalogue.js';
import type { Tf } from './backend.js';

/** The smkit dtype of a TF.js dtype. */
export function smkitDTypeOf(dtype: TfDType): DType {
  switch (dtype) {
    case 'int32':
      return 'int32';
    case 'bool':
      return 'bool';
    case 'string':
      return 'string';
    default:
      return 'float32';
  }
}

/**
 * Copies an smkit tensor into a new TF.js tensor of dtype `want` (the model's declared input type).
 * The caller owns, and must dispose, the result. Values the dtype cannot hold exactly (text into a
 * number, fractions or out-of-range numbers into int32, anything but 0/1 into bool) are a 400.
 */
export function toTfTensor(tf: Tf, t: Tensor, want: TfDType, name: string): TfTensor {
  const shape = [...t.shape];
  const what = `input "${name}"`;
  if (want === 'string') return tf.tensor(convertExact(t, 'string', what).data, shape, 'string');
  if (want === 'float32') return tf.tensor(convertExact(t, 'float32', what).data, shape, 'float32');
  if (want === 'int32') return tf.tensor(convertExact(t, 'int32', what).data, shape, 'int32');
  if (want === 'bool') return tf.tensor(convertExact(t, 'bool', what).data, shape, 'bool');
  throw new ToolkitError('ERR_INPUT_MISMATCH', `${what} has TF.js dtype ${want}, which smkit cannot feed`);
}

/** Reads a TF.js tensor into an smkit tensor (does not dispose it). */
export async function fromTfTensor(t: TfTensor): Promise<Tensor> {
  const dtype = smkitDTypeOf(t.dtype);
  if (t.dtype === 'complex64') throw new ToolkitError('ERR_PREDICT', 'complex64 model outputs are not supported');
  const data = await t.data();
  if (dtype === 'bool') return tensor('bool', t.shape, data instanceof Uint8Array ? data : Uint8Array.from(data as ArrayLike<number>));
  if (dtype === 'string') {
    const strings = (data as unknown as (string | Uint8Array)[]).map((s) => (typeof s === 'string' ? s : Buffer.from(s).toString('utf8')));
    return tensor('string', t.shape, strings);
  }
  if (dtype === 'int32') return tensor('int32', t.shape, data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>));
  return tensor('float32', t.shape, data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>));
}

import { ToolkitError } from '../errors/catalogue.js';
import { UNNAMED } from '../core/tensor.js';
import type { Codec, DecodedRequest, EncodeOptions } from './codec.js';
import { isTensor, isTensorMap } from './tensor-map.js';
import { toSingleTensor } from './single-output.js';

/** `application/octet-stream` media type. */
export const RAW_MEDIA_TYPE = 'application/octet-stream';

/**
 * The `application/octet-stream` codec. Decoding hands the bytes on untouched as a `uint8`
 * tensor (a view, no copy) named `UNNAMED`, form `raw`. Encoding writes a Buffer, Uint8Array,
 * DataView, ArrayBuffer or string as is, and a tensor as its raw little-endian element bytes.
 */
export const rawCodec: Codec = {
  mediaType: RAW_MEDIA_TYPE,
  decode(body: Buffer): DecodedRequest {
    return { tensors: { [UNNAMED]: { dtype: 'uint8', shape: [body.length], data: new Uint8Array(body.buffer, body.byteOffset, body.length) } }, form: 'raw' };
  },
  encode(prediction: unknown, _options: EncodeOptions): Buffer {
    if (Buffer.isBuffer(prediction)) return prediction;
    if (prediction instanceof Uint8Array) return Buffer.from(prediction.buffer, prediction.byteOffset, prediction.byteLength);
    if (prediction instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && prediction instanceof SharedArrayBuffer)) return Buffer.from(prediction);
    // A DataView is bytes, as a streamed chunk or a bidiFn reply of one is (no tensor has its shape).
    if (prediction instanceof DataView) return Buffer.from(prediction.buffer, prediction.byteOffset, prediction.byteLength);
    if (typeof prediction === 'string') return Buffer.from(prediction, 'utf8');
    if (isTensorMap(prediction) || isTensor(prediction) || ArrayBuffer.isView(prediction)) {
      const t = toSingleTensor(prediction, RAW_MEDIA_TYPE);
      if (t.dtype === 'string') throw new ToolkitError('ERR_ENCODE', `${RAW_MEDIA_TYPE} cannot carry a string tensor; ask for application/json`);
      const d = t.data as Exclude<typeof t.data, string[]>;
      return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
    }
    // A Blob's bytes are read asynchronously: JSON cannot hold it either, so the fix is to read them.
    const blob = typeof prediction === 'object' && prediction !== null ? /^\[object (Blob|File)\]$/.exec(Object.prototype.toString.call(prediction))?.[1] : undefined;
    if (blob) throw new ToolkitError('ERR_ENCODE', `${RAW_MEDIA_TYPE} answers need bytes, a string or a tensor, not a ${blob}: read its bytes first (Buffer.from(await ${blob.toLowerCase()}.arrayBuffer()))`);
    throw new ToolkitError('ERR_ENCODE', `${RAW_MEDIA_TYPE} answers need bytes, a string or a tensor, not ${prediction === null ? 'null' : typeof prediction}; ask for application/json`);
  },
};

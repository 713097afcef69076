/**
 * The bytes of a typed array other than Uint8Array (a Float32Array of logits), a DataView or an
 * ArrayBuffer, as a view of its memory; undefined for any other value. JSON.stringify wrote a
 * Float32Array as an object of indexes (`{"0":1}`) and a DataView or ArrayBuffer as `{}`, losing the data.
 */
export function bytesOf(value: unknown): Uint8Array | undefined {
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && value instanceof SharedArrayBuffer)) return new Uint8Array(value);
  return undefined;
}

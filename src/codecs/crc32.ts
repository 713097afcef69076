import { lazyRequire } from '../core/lazy-require.js';

const zlib = lazyRequire<typeof import('node:zlib')>('node:zlib');

/**
 * A table-driven 32-bit CRC of the reflected `polynomial` (0xedb88320 for CRC-32, 0x82f63b78 for
 * CRC-32C), initial value and final xor 0xffffffff; its table is built at the first call.
 */
export function reflectedCrc(polynomial: number): (bytes: Uint8Array) => number {
  let table: Uint32Array | undefined;
  return (bytes) => {
    if (!table) {
      table = new Uint32Array(256);
      for (let n = 0; n < 256; n++) {
        let c = n;
        for (let k = 0; k < 8; k++) c = c & 1 ? polynomial ^ (c >>> 1) : c >>> 1;
        table[n] = c >>> 0;
      }
    }
    let crc = 0xffffffff;
    for (let i = 0; i < bytes.length; i++) crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
    return (crc ^ 0xffffffff) >>> 0;
  };
}

/** {@link crc32} computed in JavaScript, for a Node without `zlib.crc32`. */
export const tableCrc32 = reflectedCrc(0xedb88320);

/** CRC-32 (ISO-HDLC, as zip and AWS event streams use): node:zlib's from Node 20.15 and 22.2, else {@link tableCrc32}. */
export function crc32(bytes: Uint8Array): number {
  const native = (zlib() as { crc32?: (data: Uint8Array) => number }).crc32;
  return native ? native(bytes) >>> 0 : tableCrc32(bytes);
}

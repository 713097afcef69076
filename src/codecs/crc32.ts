import { lazyRequire } from '../core/lazy-require.js';

const zlib = lazyRequire<typeof import('node:zlib')>('node:zlib');

let crcTable: Uint32Array | undefined;

/** CRC-32 (ISO-HDLC, as zip and AWS event streams use): node:zlib's from Node 20.15 and 22.2, else {@link tableCrc32}. */
export function crc32(bytes: Uint8Array): number {
  const native = (zlib() as { crc32?: (data: Uint8Array) => number }).crc32;
  return native ? native(bytes) >>> 0 : tableCrc32(bytes);
}

/** {@link crc32} computed in JavaScript, for a Node without `zlib.crc32`. */
export function tableCrc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

import zlib from 'node:zlib';
import fc from 'fast-check';

/** Only a PNG header claiming 10000×6000 pixels (180 MB as RGB), with a few bytes of data. */
export function pngBomb(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(10_000, 0);
  ihdr.writeUInt32BE(6_000, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.alloc(30_001))), chunk('IEND', Buffer.alloc(0))]);
}

/**
 * Bodies made from one of `seeds` with up to `maxEdits` random bytes overwritten, inserted or cut:
 * mostly-valid bodies that reach deep into the decoders.
 */
export function mutatedBodies(seeds: readonly Buffer[], maxEdits: number): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'cut')), { maxLength: maxEdits }))
    .map(([seed, edits]) => {
      let b = Buffer.from(seed);
      for (const [at, byte, op] of edits) {
        const i = b.length === 0 ? 0 : at % b.length;
        if (op === 'set' && b.length > 0) b[i] = byte;
        else if (op === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.of(byte), b.subarray(i)]);
        else b = b.subarray(0, i);
      }
      return b;
    });
}

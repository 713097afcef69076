import { constants as bufferConstants } from 'node:buffer';
import { lazyRequire } from '../core/lazy-require.js';
import { ToolkitError } from '../errors/catalogue.js';
import { crc32 } from './crc32.js';

/** `node:zlib`, loaded with the first deflated npz entry rather than with the codecs (every worker loads those soon after its model). */
const zlib = lazyRequire<typeof import('node:zlib')>('node:zlib');

/** One member of a zip archive, as its central directory describes it. */
export interface ZipMember {
  readonly name: string;
  /** 0 (stored) or 8 (deflate); anything else is refused when read. */
  readonly method: number;
  readonly compressedSize: number;
  /** The size the archive declares (not trusted: inflation is bounded separately). */
  readonly declaredSize: number;
  /** Offset of the member's data in the archive. */
  readonly dataStart: number;
  /** The CRC-32 of the member's bytes, from the central directory. */
  readonly crc32: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;

function fail(message: string): never {
  throw new ToolkitError('ERR_NPY_PARSE', `NPZ body is not a valid zip archive: ${message}`);
}

function u64(buf: Buffer, at: number): number {
  if (at + 8 > buf.length) fail('a zip64 field runs past the end');
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('a zip64 size or offset is out of range');
  return Number(v);
}

/**
 * Lists the members of a zip archive (zip64 included, as numpy writes it) from its central
 * directory, checking every offset against the buffer. Reads nothing but headers.
 */
export function listZipMembers(buf: Buffer): ZipMember[] {
  let eocd = -1;
  for (let p = buf.length - 22; p >= Math.max(0, buf.length - 22 - 65535); p--) {
    if (buf.readUInt32LE(p) === EOCD) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) fail('no end-of-central-directory record');
  let count = buf.readUInt16LE(eocd + 10);
  let offset = buf.readUInt32LE(eocd + 16);
  if (eocd >= 20 && buf.readUInt32LE(eocd - 20) === ZIP64_LOCATOR) {
    const at = u64(buf, eocd - 12);
    if (at + 56 > buf.length || buf.readUInt32LE(at) !== ZIP64_EOCD) fail('a broken zip64 end record');
    count = u64(buf, at + 32);
    offset = u64(buf, at + 48);
  }
  // Each central entry takes at least 46 bytes: a count the buffer cannot hold is a lie.
  if (count * 46 > buf.length) fail(`it claims ${count} members`);
  const members: ZipMember[] = [];
  let p = offset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== CENTRAL) fail(`central directory entry ${i} is missing`);
    const method = buf.readUInt16LE(p + 10);
    let compressedSize = buf.readUInt32LE(p + 20);
    let declaredSize = buf.readUInt32LE(p + 24);
    const nameLength = buf.readUInt16LE(p + 28);
    const extraLength = buf.readUInt16LE(p + 30);
    const commentLength = buf.readUInt16LE(p + 32);
    let localOffset = buf.readUInt32LE(p + 42);
    const end = p + 46 + nameLength + extraLength + commentLength;
    if (end > buf.length) fail(`central directory entry ${i} runs past the end`);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLength);
    // zip64 extra field: the 8-byte values of the fields that are 0xFFFFFFFF, in this order.
    for (let e = p + 46 + nameLength; e + 4 <= p + 46 + nameLength + extraLength; ) {
      const id = buf.readUInt16LE(e);
      const size = buf.readUInt16LE(e + 2);
      if (id === 1) {
        let f = e + 4;
        if (declaredSize === U32_MAX) (declaredSize = u64(buf, f)), (f += 8);
        if (compressedSize === U32_MAX) (compressedSize = u64(buf, f)), (f += 8);
        if (localOffset === U32_MAX) localOffset = u64(buf, f);
      }
      e += 4 + size;
    }
    if (localOffset + 30 > buf.length || buf.readUInt32LE(localOffset) !== LOCAL) fail(`member '${name}' has no local header`);
    const dataStart = localOffset + 30 + buf.readUInt16LE(localOffset + 26) + buf.readUInt16LE(localOffset + 28);
    if (dataStart + compressedSize > buf.length) fail(`member '${name}' runs past the end`);
    members.push({ name, method, compressedSize, declaredSize, dataStart, crc32: buf.readUInt32LE(p + 16) });
    p = end;
  }
  return members;
}

/**
 * The bytes of one member, inflating at most `maxBytes` (more is refused while inflating, so an
 * archive that expands a thousandfold costs no more than the budget).
 *
 * @returns the bytes, or `undefined` when the member holds more than `maxBytes`.
 */
export function readZipMember(buf: Buffer, member: ZipMember, maxBytes: number): Buffer | undefined {
  const data = buf.subarray(member.dataStart, member.dataStart + member.compressedSize);
  if (member.method === 0) return data.length > maxBytes ? undefined : checked(member, data);
  if (member.method !== 8) fail(`member '${member.name}' uses compression method ${member.method}; numpy writes stored or deflate members`);
  if (maxBytes < 1) return data.length === 0 ? Buffer.alloc(0) : undefined;
  let bytes: Buffer;
  try {
    bytes = zlib().inflateRawSync(data, { maxOutputLength: Math.min(maxBytes, bufferConstants.MAX_LENGTH) });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return undefined;
    return fail(`member '${member.name}' does not inflate: ${(err as Error).message}`);
  }
  return checked(member, bytes);
}

/**
 * The member's bytes when their CRC-32 is the one the archive records, as numpy's zipfile checks it
 * (`BadZipFile: Bad CRC-32`): a corrupted member would otherwise be read as other values.
 */
function checked(member: ZipMember, bytes: Buffer): Buffer {
  const crc = crc32(bytes);
  if (crc !== member.crc32) {
    fail(`member '${member.name}' is corrupt: its bytes have CRC-32 ${hex(crc)} but the archive records ${hex(member.crc32)}; send the archive again as numpy wrote it`);
  }
  return bytes;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

import type { BatchStrategy } from '../../config/settings.js';
import { reflectedCrc } from '../../codecs/crc32.js';

/** `SplitType` values (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformInput.html). */
export type SplitType = 'None' | 'Line' | 'RecordIO' | 'TFRecord';
/** `AssembleWith` values. */
export type AssembleWith = 'None' | 'Line';

/** One record of an input file and its 0-based index among the file's records. */
export interface InputRecord {
  readonly index: number;
  readonly data: Buffer;
  /** The record's length when `data` holds only its first bytes (a line too long to be sent, not kept whole). */
  readonly size?: number;
}

const NL = 0x0a;

function isBlank(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c !== 0x0d && c !== NL) return false;
  }
  return true;
}

/** A RecordIO or TFRecord file whose framing is broken; nothing of the file is sent. */
export class MalformedInputError extends Error {
  /**
   * @param record - index of the record whose frame is broken (the records before it were well formed)
   * @param offset - byte offset of that frame in the file
   */
  constructor(
    readonly record: number,
    readonly offset: number,
    message: string,
  ) {
    super(message);
    this.name = 'MalformedInputError';
  }
}

/**
 * Where a window of a file starts (the index of its first record, its byte offset) and how many
 * bytes the file has from there: errors name the file's record and byte, and count what remains
 * in the file, though the window may hold less.
 */
interface Origin {
  index: number;
  offset: number;
  length: number;
}

/** dmlc (MXNet) RecordIO: each frame is magic, lrecord (3-bit continuation flag, 29-bit length), data, zero padding to 4 bytes. */
const RECORDIO_MAGIC = 0xced7230a;

function* splitRecordIO(data: Buffer, unwrap: boolean, origin: Origin = { index: 0, offset: 0, length: data.length }): Generator<InputRecord> {
  let index = origin.index;
  const magic = Buffer.alloc(4);
  magic.writeUInt32LE(RECORDIO_MAGIC);
  let pos = 0;
  while (pos < origin.length) {
    const start = pos;
    const parts: Buffer[] = [];
    for (;;) {
      const bad = (why: string): MalformedInputError =>
        new MalformedInputError(index, origin.offset + pos, `malformed RecordIO: ${why} at byte ${origin.offset + pos}; the file must be MXNet RecordIO frames (magic 0xced7230a, length, data padded to 4 bytes)`);
      if (origin.length - pos < 8) throw bad(`${origin.length - pos} byte(s) left where an 8-byte frame header belongs (truncated file?)`);
      const found = data.readUInt32LE(pos);
      if (found !== RECORDIO_MAGIC) throw bad(`magic 0x${found.toString(16).padStart(8, '0')} instead of 0xced7230a`);
      const lrec = data.readUInt32LE(pos + 4);
      const flag = lrec >>> 29;
      const length = lrec & 0x1fffffff;
      // 0 = whole record, 1 = first part, 2 = middle part, 3 = last part (the writer splits a record where its data holds the magic).
      if (parts.length === 0 ? flag !== 0 && flag !== 1 : flag !== 2 && flag !== 3) {
        throw bad(`continuation flag ${flag} ${parts.length === 0 ? 'where a record starts' : 'inside a multi-part record'}`);
      }
      const padded = (length + 3) & ~3;
      if (origin.length - pos - 8 < padded) throw bad(`frame says ${length} bytes but ${origin.length - pos - 8} remain`);
      parts.push(data.subarray(pos + 8, pos + 8 + length));
      pos += 8 + padded;
      if (flag === 0 || flag === 3) break;
    }
    // The parts were cut at a magic number, which goes back in between them.
    const payload = parts.length === 1 ? parts[0]! : Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [magic, p])));
    yield { index: index++, data: unwrap ? payload : data.subarray(start, pos) };
  }
}

/** CRC-32C (Castagnoli), as TFRecord frames use. */
export const crc32c = reflectedCrc(0x82f63b78);

/** TFRecord's masked CRC: rotated right by 15 bits plus a constant. */
export function maskedCrc32c(buf: Uint8Array): number {
  const crc = crc32c(buf);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** TFRecord: each frame is uint64 length, masked CRC-32C of the length, data, masked CRC-32C of the data (little-endian). */
function* splitTFRecord(data: Buffer, unwrap: boolean, origin: Origin = { index: 0, offset: 0, length: data.length }): Generator<InputRecord> {
  let index = origin.index;
  let pos = 0;
  while (pos < origin.length) {
    const bad = (why: string): MalformedInputError =>
      new MalformedInputError(index, origin.offset + pos, `malformed TFRecord: ${why} at byte ${origin.offset + pos}; the file must be TFRecord frames (uint64 length, masked CRC-32C, data, masked CRC-32C)`);
    if (origin.length - pos < 12) throw bad(`${origin.length - pos} byte(s) left where a 12-byte frame header belongs (truncated file?)`);
    if (maskedCrc32c(data.subarray(pos, pos + 8)) !== data.readUInt32LE(pos + 8)) throw bad('length CRC mismatch (corrupt, or not TFRecord)');
    const claimed = data.readBigUInt64LE(pos);
    if (claimed > BigInt(origin.length - pos - 16)) throw bad(`frame says ${claimed} bytes but ${Math.max(0, origin.length - pos - 16)} remain`);
    const length = Number(claimed);
    const payload = data.subarray(pos + 12, pos + 12 + length);
    if (maskedCrc32c(payload) !== data.readUInt32LE(pos + 12 + length)) throw bad('data CRC mismatch (corrupt record)');
    yield { index: index++, data: unwrap ? payload : data.subarray(pos, pos + 16 + length) };
    pos += 16 + length;
  }
}

/**
 * Splits an input file into records. `None`: the whole file is one record. `Line`: one record per
 * line, each keeping its trailing `\n` as in SageMaker local mode (so a multi-record payload is the
 * lines concatenated); blank lines are skipped and do not get an index. `RecordIO` / `TFRecord`: one
 * record per frame; as the service does, `SINGLE_RECORD` sends each record's data without its
 * framing and padding, `MULTI_RECORD` the frames as they are (so a mini-batch is itself a valid file).
 * @throws {@link MalformedInputError} when a RecordIO or TFRecord frame is broken.
 */
export function splitRecords(data: Buffer, splitType: SplitType, strategy: BatchStrategy = 'MULTI_RECORD'): InputRecord[] {
  return Array.from(eachRecord(data, splitType, strategy));
}

/**
 * {@link splitRecords} one record at a time, so a file of millions of records is never held as
 * millions of objects. A broken RecordIO or TFRecord frame throws when iteration reaches it.
 */
export function* eachRecord(data: Buffer, splitType: SplitType, strategy: BatchStrategy = 'MULTI_RECORD'): Generator<InputRecord> {
  if (splitType === 'None') {
    if (data.length > 0) yield { index: 0, data };
    return;
  }
  if (splitType === 'RecordIO') return yield* splitRecordIO(data, strategy === 'SINGLE_RECORD');
  if (splitType === 'TFRecord') return yield* splitTFRecord(data, strategy === 'SINGLE_RECORD');
  let index = 0;
  let start = 0;
  while (start < data.length) {
    const nl = data.indexOf(NL, start);
    const end = nl === -1 ? data.length : nl + 1;
    if (!isBlank(data, start, end)) yield { index: index++, data: data.subarray(start, end) };
    start = end;
  }
}

/**
 * `SplitType=Line` over a stream (a file being read, or gunzipped): the records of
 * {@link eachRecord}, yielded as the ones each chunk completes, so only the line being read is
 * held, never the file. Of a line longer than `keep` bytes only the first `keep + 1` are kept,
 * with its whole length as `size` (it is over the payload limit and will not be sent).
 */
export async function* eachLineOf(chunks: AsyncIterable<Buffer>, keep: number): AsyncGenerator<InputRecord[]> {
  let index = 0;
  let parts: Buffer[] = [];
  let held = 0;
  let size = 0;
  let blank = true;
  const take = (piece: Buffer): void => {
    size += piece.length;
    if (blank && !isBlank(piece, 0, piece.length)) blank = false;
    if (held > keep) return;
    const kept = piece.length > keep + 1 - held ? piece.subarray(0, keep + 1 - held) : piece;
    parts.push(kept);
    held += kept.length;
  };
  const line = (): InputRecord | undefined => {
    const record = blank ? undefined : { index: index++, data: parts.length === 1 ? parts[0]! : Buffer.concat(parts), ...(size > held ? { size } : {}) };
    parts = [];
    held = 0;
    size = 0;
    blank = true;
    return record;
  };
  for await (const chunk of chunks) {
    const records: InputRecord[] = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NL, start);
      const end = nl === -1 ? chunk.length : nl + 1;
      take(chunk.subarray(start, end));
      start = end;
      if (nl === -1) break;
      const r = line();
      if (r) records.push(r);
    }
    if (records.length > 0) yield records;
  }
  const last = size > 0 ? line() : undefined;
  if (last) yield [last];
}

/**
 * A RecordIO or TFRecord record of a stream (a gzipped file) larger than the most that may be held
 * of it: reading stops there, before its bytes are, so a gzip bomb is never decompressed past it.
 */
export class RecordTooLargeError extends Error {
  /**
   * @param record - index of the record
   * @param size - its length as sent, from its frame headers (a multi-part RecordIO record: at least that)
   * @param atLeast - whether `size` counts only the parts read so far
   */
  constructor(
    readonly record: number,
    readonly size: number,
    readonly atLeast: boolean,
  ) {
    super(`record ${record} is ${atLeast ? 'over ' : ''}${size} bytes`);
    this.name = 'RecordTooLargeError';
  }
}

/** Bytes of a stream, held from where its next record starts; more are read only as they are asked for. */
class StreamWindow {
  readonly #chunks: AsyncIterator<Buffer>;
  #parts: Buffer[] = [];
  #held = 0;
  #ended = false;

  constructor(chunks: AsyncIterable<Buffer>) {
    this.#chunks = chunks[Symbol.asyncIterator]();
  }

  /** Bytes held. */
  get held(): number {
    return this.#held;
  }

  /** Reads until `n` bytes are held or the stream ends; returns how many are held. */
  async fill(n: number): Promise<number> {
    while (this.#held < n && !this.#ended) {
      const next = await this.#chunks.next();
      if (next.done) this.#ended = true;
      else if (next.value.length > 0) {
        this.#parts.push(next.value);
        this.#held += next.value.length;
      }
    }
    return this.#held;
  }

  /** Bytes `from` to `to` of those held, as one Buffer (the chunks are joined once, when they are asked for together). */
  bytes(from: number, to: number): Buffer {
    if (this.#parts.length > 1 && this.#parts[0]!.length < to) this.#parts = [Buffer.concat(this.#parts, this.#held)];
    return this.#parts[0]!.subarray(from, to);
  }

  /** Forgets the first `n` bytes held. */
  drop(n: number): void {
    const rest = this.bytes(n, this.#held);
    this.#parts = rest.length > 0 ? [rest] : [];
    this.#held -= n;
  }

  /** Stops reading the stream (its file is closed). */
  async close(): Promise<void> {
    await this.#chunks.return?.();
  }
}

/**
 * `SplitType=RecordIO` or `TFRecord` over a stream (a gzipped file being gunzipped): the records of
 * {@link eachRecord}, with the same errors, only the records being split held. A record whose
 * frame headers say it is longer than `keep` bytes (as it would be sent) stops the reading with a
 * {@link RecordTooLargeError} before its bytes are read: it would not be sent, and a gzip bomb's
 * bytes are never decompressed. A stream's length is known only at its end, so a frame that claims
 * more than the stream holds is found there, with the same message as in a file.
 */
export async function* eachFrameOfStream(chunks: AsyncIterable<Buffer>, splitType: 'RecordIO' | 'TFRecord', strategy: BatchStrategy, keep: number): AsyncGenerator<InputRecord[]> {
  const split = splitType === 'RecordIO' ? splitRecordIO : splitTFRecord;
  const unwrap = strategy === 'SINGLE_RECORD';
  const s = new StreamWindow(chunks);
  let index = 0;
  let offset = 0;
  /** Where the record starting at `at` (of the bytes held) ends, once all its bytes are held; or where its framing goes wrong. */
  const endOf = async (at: number, record: number): Promise<{ end: number } | { badAt: number }> => {
    if (splitType === 'TFRecord') {
      if ((await s.fill(at + 12)) < at + 12) return { badAt: at };
      const header = s.bytes(at, at + 12);
      if (maskedCrc32c(header.subarray(0, 8)) !== header.readUInt32LE(8)) return { badAt: at };
      const claimed = header.readBigUInt64LE(0);
      const size = unwrap ? claimed : claimed + 16n;
      if (size > BigInt(keep)) throw new RecordTooLargeError(record, Number(size), false);
      const end = at + 16 + Number(claimed);
      return (await s.fill(end)) < end ? { badAt: at } : { end };
    }
    let size = 0;
    for (let first = true; ; first = false) {
      if ((await s.fill(at + 8)) < at + 8) return { badAt: at };
      const header = s.bytes(at, at + 8);
      const lrec = header.readUInt32LE(4);
      const flag = lrec >>> 29;
      const length = lrec & 0x1fffffff;
      const padded = (length + 3) & ~3;
      if (header.readUInt32LE(0) !== RECORDIO_MAGIC || (first ? flag !== 0 && flag !== 1 : flag !== 2 && flag !== 3)) return { badAt: at };
      // Unwrapped, the parts are joined with the magic between them; as they are, each is a whole frame.
      size += unwrap ? length + (first ? 0 : 4) : 8 + padded;
      const whole = flag === 0 || flag === 3;
      if (size > keep) throw new RecordTooLargeError(record, size, !whole);
      if ((await s.fill(at + 8 + padded)) < at + 8 + padded) return { badAt: at };
      at += 8 + padded;
      if (whole) return { end: at };
    }
  };
  try {
    for (;;) {
      // Whole records are gathered up to FRAME_WINDOW_BYTES (or one larger record) and split in one go.
      let end = 0;
      let badAt: number | undefined;
      let count = 0;
      while ((end === 0 || end < FRAME_WINDOW_BYTES) && (await s.fill(end + 1)) > end) {
        let found: { end: number } | { badAt: number };
        try {
          found = await endOf(end, index + count);
        } catch (err) {
          // The records before the one too large go first.
          if (!(err instanceof RecordTooLargeError) || end === 0) throw err;
          break;
        }
        if ('badAt' in found) {
          badAt = found.badAt;
          break;
        }
        end = found.end;
        count++;
      }
      if (end === 0 && badAt === undefined) return;
      // A broken frame is handed over with what is held, counting it as what remains (all of the stream, when it ended early), for the split to say what is wrong.
      const stop = badAt === undefined ? end : Math.min(s.held, badAt + 12);
      const group: InputRecord[] = [];
      for (const r of split(s.bytes(0, stop), unwrap, { index, offset, length: badAt === undefined ? stop : s.held })) {
        group.push(r);
        index = r.index + 1;
      }
      s.drop(stop);
      offset += stop;
      if (group.length > 0) yield group;
    }
  } finally {
    await s.close();
  }
}

/** How many bytes of whole RecordIO/TFRecord records {@link eachFrameOf} splits at once. */
const FRAME_WINDOW_BYTES = 64 * 1024;

/** A file read at given offsets: `read` resolves to exactly `length` bytes, which lie within `size`. */
export interface PositionalReader {
  readonly size: number;
  read(offset: number, length: number): Promise<Buffer>;
  /** The bytes at once when they are read already (a frame header in the block just read), else undefined. */
  peek?(offset: number, length: number): Buffer | undefined;
}

/**
 * `SplitType=RecordIO` or `TFRecord` over a file read a record at a time: the records of
 * {@link eachRecord}, with the same errors (the same record index and byte offset), but only the
 * record being read is held, never the file. Each record's end is found from its frame headers;
 * its bytes are then split and checked as {@link eachRecord} does (a frame whose header is wrong
 * is handed over with what remains of the file counted, so its error says the same).
 */
export async function* eachFrameOf(file: PositionalReader, splitType: 'RecordIO' | 'TFRecord', strategy: BatchStrategy = 'MULTI_RECORD'): AsyncGenerator<InputRecord[]> {
  const split = splitType === 'RecordIO' ? splitRecordIO : splitTFRecord;
  const size = file.size;
  /** Where the record starting at `at` ends, or where its framing goes wrong (a frame header that does not fit). */
  const endOf = async (at: number): Promise<{ end: number } | { badAt: number }> => {
    if (splitType === 'TFRecord') {
      if (size - at < 12) return { badAt: at };
      const header = file.peek?.(at, 12) ?? (await file.read(at, 12));
      const claimed = header.readBigUInt64LE(0);
      if (maskedCrc32c(header.subarray(0, 8)) !== header.readUInt32LE(8) || claimed > BigInt(size - at - 16)) return { badAt: at };
      return { end: at + 16 + Number(claimed) };
    }
    for (let first = true; ; first = false) {
      if (size - at < 8) return { badAt: at };
      const header = file.peek?.(at, 8) ?? (await file.read(at, 8));
      const lrec = header.readUInt32LE(4);
      const flag = lrec >>> 29;
      const padded = ((lrec & 0x1fffffff) + 3) & ~3;
      if (header.readUInt32LE(0) !== RECORDIO_MAGIC || (first ? flag !== 0 && flag !== 1 : flag !== 2 && flag !== 3) || size - at - 8 < padded) return { badAt: at };
      at += 8 + padded;
      if (flag === 0 || flag === 3) return { end: at };
    }
  };
  let index = 0;
  let pos = 0;
  while (pos < size) {
    // Whole records are gathered up to FRAME_WINDOW_BYTES (or one larger record) and split in one go.
    let end = pos;
    let badAt: number | undefined;
    while (end < size && (end === pos || end - pos < FRAME_WINDOW_BYTES)) {
      const found = await endOf(end);
      if ('badAt' in found) {
        badAt = found.badAt;
        break;
      }
      end = found.end;
    }
    // A broken header is handed over with what comes before it, counting what remains of the file, for the split to say what is wrong.
    const stop = badAt === undefined ? end : Math.min(size, badAt + 12);
    const window = await file.read(pos, stop - pos);
    const group: InputRecord[] = [];
    for (const r of split(window, strategy === 'SINGLE_RECORD', { index, offset: pos, length: badAt === undefined ? stop - pos : size - pos })) {
      group.push(r);
      index = r.index + 1;
    }
    pos = stop;
    if (group.length > 0) yield group;
  }
}

/** One request's worth of records: consecutive, in file order. */
export interface MiniBatch {
  readonly records: readonly InputRecord[];
  /** The request body: the records' bytes concatenated. */
  readonly body: Buffer;
  /** Set when a single record alone is larger than the payload limit; the batch is not sent. */
  readonly tooLarge?: boolean;
}

function batchOf(records: InputRecord[], maxBytes: number): MiniBatch {
  const body = records.length === 1 ? records[0]!.data : Buffer.concat(records.map((r) => r.data));
  return (maxBytes > 0 && body.length > maxBytes) || records.some((r) => r.size !== undefined) ? { records, body, tooLarge: true } : { records, body };
}

/**
 * Groups records into requests. `SINGLE_RECORD`: one record each. `MULTI_RECORD`: as many
 * consecutive records as fit in `maxBytes` (0 means no limit). A record larger than `maxBytes` gets
 * a batch of its own marked `tooLarge`.
 */
export function groupMiniBatches(records: readonly InputRecord[], strategy: BatchStrategy, maxBytes: number): MiniBatch[] {
  return Array.from(eachMiniBatch(records, strategy, maxBytes));
}

/** Gathers records into the mini-batches of {@link groupMiniBatches}, one record at a time. */
class MiniBatchGatherer {
  #current: InputRecord[] = [];
  #size = 0;

  constructor(
    private readonly strategy: BatchStrategy,
    private readonly maxBytes: number,
  ) {}

  /** Takes `r`; returns the batch it completed, if any. */
  add(r: InputRecord): MiniBatch | undefined {
    if (this.strategy === 'SINGLE_RECORD') return batchOf([r], this.maxBytes);
    const full = this.#current.length > 0 && this.maxBytes > 0 && this.#size + r.data.length > this.maxBytes ? this.flush() : undefined;
    this.#current.push(r);
    this.#size += r.data.length;
    return full;
  }

  /** The batch of the records taken since the last one, if there are any. */
  flush(): MiniBatch | undefined {
    if (this.#current.length === 0) return undefined;
    const batch = batchOf(this.#current, this.maxBytes);
    this.#current = [];
    this.#size = 0;
    return batch;
  }
}

/** {@link groupMiniBatches} one batch at a time, taking records from `records` only as each batch is asked for. */
export function* eachMiniBatch(records: Iterable<InputRecord>, strategy: BatchStrategy, maxBytes: number): Generator<MiniBatch> {
  const gatherer = new MiniBatchGatherer(strategy, maxBytes);
  for (const r of records) {
    const batch = gatherer.add(r);
    if (batch) yield batch;
  }
  const last = gatherer.flush();
  if (last) yield last;
}

/**
 * {@link eachMiniBatch} over records that come in groups from a stream ({@link eachLineOf}, or one
 * group of a whole file's {@link eachRecord}): a batch is yielded once it is full, so no more than
 * a mini-batch of records is held ahead of the requests.
 */
export async function* eachMiniBatchOf(groups: AsyncIterable<Iterable<InputRecord>>, strategy: BatchStrategy, maxBytes: number): AsyncGenerator<MiniBatch> {
  const gatherer = new MiniBatchGatherer(strategy, maxBytes);
  for await (const group of groups) {
    for (const r of group) {
      const batch = gatherer.add(r);
      if (batch) yield batch;
    }
  }
  const last = gatherer.flush();
  if (last) yield last;
}

/**
 * Joins the responses of one file, in request order. `Line` puts `\n` after every response, as the
 * service does (`AssembleWith=Line`); `None` concatenates the bytes.
 */
export function assembleOutputs(parts: readonly Buffer[], assembleWith: AssembleWith): Buffer {
  if (assembleWith === 'None') return Buffer.concat(parts);
  const newline = Buffer.from('\n');
  return Buffer.concat(parts.flatMap((p) => [p, newline]));
}

import type { BatchStrategy } from '../../config/settings.js';

/** `SplitType` values smkit supports (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-batch-code.html). */
export type SplitType = 'None' | 'Line';
/** `AssembleWith` values. */
export type AssembleWith = 'None' | 'Line';

/** One record of an input file and its 0-based index among the file's records. */
export interface InputRecord {
  readonly index: number;
  readonly data: Buffer;
}

const NL = 0x0a;

function isBlank(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c !== 0x0d && c !== NL) return false;
  }
  return true;
}

/**
 * Splits an input file into records. `None`: the whole file is one record. `Line`: one record per
 * line, each keeping its trailing `\n` as in SageMaker local mode (so a multi-record payload is the
 * lines concatenated); blank lines are skipped and do not get an index.
 */
export function splitRecords(data: Buffer, splitType: SplitType): InputRecord[] {
  if (splitType === 'None') return data.length === 0 ? [] : [{ index: 0, data }];
  const out: InputRecord[] = [];
  let start = 0;
  while (start < data.length) {
    const nl = data.indexOf(NL, start);
    const end = nl === -1 ? data.length : nl + 1;
    if (!isBlank(data, start, end)) out.push({ index: out.length, data: data.subarray(start, end) });
    start = end;
  }
  return out;
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
  return maxBytes > 0 && body.length > maxBytes ? { records, body, tooLarge: true } : { records, body };
}

/**
 * Groups records into requests. `SINGLE_RECORD`: one record each. `MULTI_RECORD`: as many
 * consecutive records as fit in `maxBytes` (0 means no limit). A record larger than `maxBytes` gets
 * a batch of its own marked `tooLarge`.
 */
export function groupMiniBatches(records: readonly InputRecord[], strategy: BatchStrategy, maxBytes: number): MiniBatch[] {
  if (strategy === 'SINGLE_RECORD') return records.map((r) => batchOf([r], maxBytes));
  const out: MiniBatch[] = [];
  let current: InputRecord[] = [];
  let size = 0;
  for (const r of records) {
    if (current.length > 0 && maxBytes > 0 && size + r.data.length > maxBytes) {
      out.push(batchOf(current, maxBytes));
      current = [];
      size = 0;
    }
    current.push(r);
    size += r.data.length;
  }
  if (current.length > 0) out.push(batchOf(current, maxBytes));
  return out;
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

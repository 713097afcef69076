import type { InvokeEndpointResponse } from './chain.js';
import { jsonNestsDeeperThan } from '../../codecs/json-depth.js';
import { MAX_REALTIME_ANSWER_BYTES } from './read-answer.js';

/** How a shadow answer compares with the production answer. */
export interface AnswerComparison {
  /** True when the bodies are byte-identical, or hold the same numbers in the same shape. */
  same: boolean;
  /** Largest absolute difference between corresponding numbers, when both parse as numbers. */
  maxAbsDiff?: number;
}

/**
 * Appends every number of a JSON value to `out`, in order (object members by sorted key), and
 * returns its shape with each number as `#` (so `{"p":[[0.1,0.9]]}` is `{"p":[[#,#]]}`); undefined
 * when the value holds anything but numbers.
 */
function numbersFromJson(value: unknown, out: number[]): string | undefined {
  if (typeof value === 'number') {
    // 1e400 parses as Infinity, whose difference from itself is NaN: such an answer is compared by bytes, as a CSV one is.
    if (!Number.isFinite(value)) return undefined;
    out.push(value);
    return '#';
  }
  const parts: string[] = [];
  if (Array.isArray(value)) {
    for (const v of value) {
      const shape = numbersFromJson(v, out);
      if (shape === undefined) return undefined;
      parts.push(shape);
    }
    return `[${parts.join(',')}]`;
  }
  if (typeof value === 'object' && value !== null) {
    for (const k of Object.keys(value).sort()) {
      const shape = numbersFromJson((value as Record<string, unknown>)[k], out);
      if (shape === undefined) return undefined;
      parts.push(`${JSON.stringify(k)}:${shape}`);
    }
    return `{${parts.join(',')}}`;
  }
  return undefined;
}

/** The numbers of an all-numeric answer, in order, and its shape: the JSON structure, or the CSV cells per row. */
interface NumericAnswer {
  numbers: number[];
  shape: string;
}

function numericAnswer(body: Buffer, contentType: string): NumericAnswer | undefined {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  const text = body.toString('utf8');
  if (type.endsWith('json')) {
    try {
      // An answer may echo a client's body: JSON.parse takes seconds over millions of brackets (see json-depth.ts).
      if (jsonNestsDeeperThan(text)) return undefined;
      const numbers: number[] = [];
      const shape = numbersFromJson(JSON.parse(text), numbers);
      return shape === undefined ? undefined : { numbers, shape };
    } catch {
      return undefined;
    }
  }
  if (type === 'text/csv') {
    const numbers: number[] = [];
    const rows: number[] = [];
    for (const line of text.split(/[\r\n]+/)) {
      // Runs of commas split once: a 6 MB run is one empty cell, not six million.
      const cells = line.split(/,+/).map((c) => c.trim()).filter((c) => c !== '');
      if (cells.length === 0) continue;
      for (const cell of cells) {
        const n = Number(cell);
        if (!Number.isFinite(n)) return undefined;
        numbers.push(n);
      }
      rows.push(cells.length);
    }
    return { numbers, shape: rows.join(',') };
  }
  return undefined;
}

/** Every number in a JSON body or a CSV body, in order; undefined if it is neither all-numeric. */
export function extractNumbers(body: Buffer, contentType: string): number[] | undefined {
  return numericAnswer(body, contentType)?.numbers;
}

/** Compares a shadow variant's answer with the production answer (by bytes when either is over the real-time 6 MB). */
export function compareAnswers(production: InvokeEndpointResponse, shadow: InvokeEndpointResponse): AnswerComparison {
  // An asynchronous invocation's answer may reach 1 GB (the shadow's stops at 6 MB): decoding it would hold
  // the front door's thread for minutes, and past 512 MB toString throws in the shadow task, which nothing catches.
  if (production.body.length > MAX_REALTIME_ANSWER_BYTES || shadow.body.length > MAX_REALTIME_ANSWER_BYTES) return { same: production.body.equals(shadow.body) };
  const a = numericAnswer(production.body, production.contentType);
  const b = numericAnswer(shadow.body, shadow.contentType);
  // Numbers are compared one to one only in answers of one shape: [[1,2]] and [1,2], {"a":1} and
  // {"b":1}, or CSV rows 1,2 / 3 and 1 / 2,3 hold the same numbers but are different answers.
  if (a && b && a.shape === b.shape) {
    let max = 0;
    for (let i = 0; i < a.numbers.length; i++) max = Math.max(max, Math.abs(a.numbers[i]! - b.numbers[i]!));
    return { same: max === 0, maxAbsDiff: max };
  }
  return { same: production.body.equals(shadow.body) };
}

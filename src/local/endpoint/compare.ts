import type { InvokeEndpointResponse } from './chain.js';
import { jsonNestsDeeperThan } from '../../codecs/json-depth.js';

/** How a shadow answer compares with the production answer. */
export interface AnswerComparison {
  /** True when the bodies are byte-identical, or hold the same numbers in the same shape. */
  same: boolean;
  /** Largest absolute difference between corresponding numbers, when both parse as numbers. */
  maxAbsDiff?: number;
}

function numbersFromJson(value: unknown, out: number[]): boolean {
  if (typeof value === 'number') {
    out.push(value);
    return true;
  }
  if (Array.isArray(value)) return value.every((v) => numbersFromJson(v, out));
  if (typeof value === 'object' && value !== null) {
    return Object.keys(value).sort().every((k) => numbersFromJson((value as Record<string, unknown>)[k], out));
  }
  return false;
}

/** Every number in a JSON body or a CSV body, in order; undefined if it is neither all-numeric. */
export function extractNumbers(body: Buffer, contentType: string): number[] | undefined {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  const text = body.toString('utf8');
  if (type.endsWith('json')) {
    try {
      // An answer may echo a client's body: JSON.parse takes seconds over millions of brackets (see json-depth.ts).
      if (jsonNestsDeeperThan(text)) return undefined;
      const out: number[] = [];
      return numbersFromJson(JSON.parse(text), out) ? out : undefined;
    } catch {
      return undefined;
    }
  }
  if (type === 'text/csv') {
    const cells = text.split(/[,\r\n]+/).map((c) => c.trim()).filter((c) => c !== '');
    const nums = cells.map(Number);
    return nums.every((n) => Number.isFinite(n)) ? nums : undefined;
  }
  return undefined;
}

/** Compares a shadow variant's answer with the production answer. */
export function compareAnswers(production: InvokeEndpointResponse, shadow: InvokeEndpointResponse): AnswerComparison {
  const a = extractNumbers(production.body, production.contentType);
  const b = extractNumbers(shadow.body, shadow.contentType);
  if (a && b && a.length === b.length) {
    let max = 0;
    for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
    return { same: max === 0, maxAbsDiff: max };
  }
  return { same: production.body.equals(shadow.body) };
}

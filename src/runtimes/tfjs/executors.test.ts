import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failingNodes } from './executors.js';

type Graph = Parameters<typeof failingNodes>[0];
/** A node as TF.js's mapped graph has it; no category is an op TF.js does not implement. */
const node = (name: string, op: string, category?: string, attrParams?: Record<string, { value: string }>) => ({ name, op, ...(category ? { category } : {}), inputs: [] as object[], children: [], ...(attrParams ? { attrParams } : {}) });

test('failingNodes lists each failing node of a function once, however many If nodes call it (the main graph\'s list has no cap)', () => {
  // A function of 20 nodes of an unknown op: the most each function's list keeps.
  const fn = (name: string): Graph => ({ inputs: [], outputs: Array.from({ length: 20 }, (_, k) => node(`${name}/n${k}`, 'SmkitTestOp')) });
  const ifs = Array.from({ length: 1000 }, (_, k) => node(`if${k}`, 'StatelessIf', 'control', { thenBranch: { value: 'then_fn' }, elseBranch: { value: 'else_fn' } }));
  const sum = node('sum', 'AddN', 'arithmetic');
  sum.inputs.push(...ifs);
  const failing = failingNodes({ inputs: [], outputs: [sum], functions: { then_fn: fn('then_fn'), else_fn: fn('else_fn') } } as Graph, {});
  // Before: 40 000, the functions' 40 nodes once per If node.
  assert.equal(failing.length, 40);
  assert.equal(new Set(failing.map((f) => f.node)).size, 40);
  assert.deepEqual([...new Set(failing.map((f) => f.fn))].sort(), ['else_fn', 'then_fn']);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listPage } from './listing.js';

const items = ['beta', 'alpha', 'gamma', 'alpha-2'].map((name, i) => ({ name, createdAt: new Date(1_700_000_000_000 + i * 1000), status: i % 2 === 0 ? 'InService' : 'Creating' }));
const view = (x: (typeof items)[number]) => x;

test('List*: newest first by default; SortBy, SortOrder, NameContains and StatusEquals', () => {
  assert.deepEqual(listPage('ListThings', items, {}, view).items.map((x) => x.name), ['alpha-2', 'gamma', 'alpha', 'beta']);
  assert.deepEqual(listPage('ListThings', items, { SortBy: 'Name', SortOrder: 'Ascending' }, view).items.map((x) => x.name), ['alpha', 'alpha-2', 'beta', 'gamma']);
  assert.deepEqual(listPage('ListThings', items, { NameContains: 'ALPHA' }, view).items.map((x) => x.name), ['alpha-2', 'alpha']);
  assert.deepEqual(listPage('ListThings', items, { StatusEquals: 'Creating' }, view).items.map((x) => x.name), ['alpha-2', 'alpha']);
  assert.deepEqual(listPage('ListThings', items, { CreationTimeAfter: 1_700_000_001 }, view).items.map((x) => x.name), ['alpha-2', 'gamma', 'alpha'], 'CreationTimeAfter is inclusive');
  assert.deepEqual(listPage('ListThings', items, { CreationTimeBefore: 1_700_000_001 }, view).items.map((x) => x.name), ['beta'], 'CreationTimeBefore is exclusive');
});

test('List*: MaxResults pages with NextToken until the last page has none; a bad token is a ValidationException', () => {
  const first = listPage('ListThings', items, { MaxResults: 3 }, view);
  assert.equal(first.items.length, 3);
  assert.ok(first.nextToken);
  const second = listPage('ListThings', items, { MaxResults: 3, NextToken: first.nextToken! }, view);
  assert.deepEqual(second.items.map((x) => x.name), ['beta']);
  assert.equal(second.nextToken, undefined);
  assert.throws(() => listPage('ListThings', items, { NextToken: '!!' }, view), (err: Error & { type?: string }) => err.type === 'ValidationException');
  // A token nesting past 512 levels is refused before JSON.parse (which takes seconds over millions of brackets), as any other bad token.
  const deep = Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`).toString('base64url');
  assert.throws(() => listPage('ListThings', items, { NextToken: deep }, view), (err: Error & { type?: string }) => err.type === 'ValidationException');
  // Nor is a token that is not a string a 500 (Buffer.from throws a TypeError for it).
  assert.throws(() => listPage('ListThings', items, { NextToken: 5 as unknown as string }, view), (err: Error & { type?: string }) => err.type === 'ValidationException');
});

import { createRequire } from 'node:module';

/**
 * How many times the YAML package's scalars had their `value` read while `run` ran, and what `run`
 * gave (or threw). A check for repeated keys that compares each key with every one before it (the
 * package's own `uniqueKeys`) reads about n² values for a mapping of n keys, one that keeps a set per
 * mapping a few per key: a count that tells the two apart at a few thousand keys, where timing them
 * would take seconds and depend on the machine's load.
 *
 * It works by putting an accessor for `value` on `Scalar.prototype` while `run` runs: the package's
 * constructor assigns `this.value`, which the accessor then receives. Every scalar made meanwhile is
 * counted, whoever reads it.
 */
export async function countScalarValueReads<T>(run: () => Promise<T> | T): Promise<{ reads: number; outcome: PromiseSettledResult<T> }> {
  const { Scalar } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  const own = Symbol('value');
  let reads = 0;
  Object.defineProperty(Scalar.prototype, 'value', {
    configurable: true,
    get(this: { [own]: unknown }) {
      reads++;
      return this[own];
    },
    set(this: { [own]: unknown }, v: unknown) {
      this[own] = v;
    },
  });
  try {
    const outcome = await Promise.allSettled([Promise.resolve().then(run)]);
    return { reads, outcome: outcome[0]! };
  } finally {
    delete (Scalar.prototype as { value?: unknown }).value;
  }
}

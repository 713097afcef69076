/**
 * A seedable pseudo-random source in [0, 1) (mulberry32), so tests can pin variant routing and
 * capture sampling. Without a seed, `Math.random`.
 */
export function createRandom(seed?: number): () => number {
  if (seed === undefined) return Math.random;
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Picks an index by relative weight (finite, as the API's `VariantWeight`, a float of at least 0
 * with no maximum); `random` returns [0, 1). Items of weight 0 are never picked.
 */
export function pickWeighted(weights: readonly number[], random: () => number): number {
  // Weights are relative: taken over the largest, two of 1e308 do not sum to Infinity, which
  // would have every pick fall through to the last one.
  let largest = 0;
  for (const w of weights) if (w > largest) largest = w;
  const shares = weights.map((w) => (w > 0 ? w / largest : 0));
  const total = shares.reduce((a, b) => a + b, 0);
  let r = random() * total;
  for (const [i, w] of shares.entries()) {
    if (w <= 0) continue;
    if (r < w) return i;
    r -= w;
  }
  // Floating-point leftovers: the last variant with weight.
  for (let i = weights.length - 1; i >= 0; i--) if (weights[i]! > 0) return i;
  return 0;
}

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
 * with no maximum); `random` returns [0, 1) and is called once. Items of weight 0 are never
 * picked, nor one whose share of the largest is below the smallest double (5e-324 next to 4).
 * With no weight above 0, index 0.
 */
export function pickWeighted(weights: readonly number[], random: () => number): number {
  // Weights are relative: taken over the largest, two of 1e308 do not sum to Infinity, which
  // would have every pick fall through to the last one. Shares are computed again in each pass
  // rather than kept in an array: this runs once per invocation, and allocates nothing.
  let largest = 0;
  for (let i = 0; i < weights.length; i++) if (weights[i]! > largest) largest = weights[i]!;
  let total = 0;
  for (let i = 0; i < weights.length; i++) if (weights[i]! > 0) total += weights[i]! / largest;
  let r = random() * total;
  // Floating-point leftovers go to the last item that had a share in the draw, not to one whose
  // share is 0 because it is that much smaller than the largest.
  let last = 0;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]! > 0 ? weights[i]! / largest : 0;
    if (w <= 0) continue;
    if (r < w) return i;
    r -= w;
    last = i;
  }
  return last;
}

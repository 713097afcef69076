import fc from 'fast-check';

const f64 = new Float64Array(1);
const bits = new BigInt64Array(f64.buffer);

/** The double `steps` doubles away from positive `x` (negative: below it). */
export function stepDoubles(x: number, steps: number): number {
  f64[0] = x;
  bits[0]! += BigInt(steps);
  return f64[0]!;
}

/** The ways a writer spells a double: JavaScript's shortest form, and 16–19 significant digits (repr, pandas, printf). */
const SPELLINGS: ReadonlyArray<(x: number) => string> = [String, (x) => x.toPrecision(16), (x) => x.toPrecision(17), (x) => x.toPrecision(18), (x) => x.toPrecision(19)];

/**
 * Texts of the doubles within three steps of a power of two 2^k, `kMin ≤ k ≤ kMax`, in every
 * spelling. Below a power of two the doubles are twice as dense as above it, which a decimal parser
 * that assumes one spacing gets wrong; random digits almost never land there.
 */
export function nearPowerOfTwoTexts(kMin: number, kMax: number): string[] {
  const texts = new Set<string>();
  for (let k = kMin; k <= kMax; k++) {
    for (let steps = -3; steps <= 3; steps++) for (const spell of SPELLINGS) texts.add(spell(stepDoubles(2 ** k, steps)));
  }
  return [...texts];
}

/** One such text (signed), for properties. */
export function nearPowerOfTwo(kMin: number, kMax: number): fc.Arbitrary<string> {
  return fc
    .record({ k: fc.integer({ min: kMin, max: kMax }), steps: fc.integer({ min: -3, max: 3 }), spell: fc.integer({ min: 0, max: SPELLINGS.length - 1 }), negative: fc.boolean() })
    .map(({ k, steps, spell, negative }) => `${negative ? '-' : ''}${SPELLINGS[spell]!(stepDoubles(2 ** k, steps))}`);
}

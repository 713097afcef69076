import fc from 'fast-check';

/** One generated header line, before it is written out. */
export interface HeaderLine {
  name: string;
  /** Between the name and the value: `:` with optional whitespace, or a space before it (which Node refuses). */
  separator: string;
  value: string;
  /** Whitespace after the value, which Node strips. */
  trailing: string;
  /** Empty, or a line break and whitespace that go on with the value (an obs-fold, which Node refuses). */
  fold: string;
}

/**
 * Header lines for property tests of a server's request head: the names of `values` in any mix of
 * upper and lower case, drawn with replacement so they repeat (with the same value or another),
 * each with a value from its own list (or another name's: lists hold values that mean something
 * for that header) or any visible ASCII and obs-text (0x80-0xff, which Node takes in a value), odd
 * whitespace around the value and, now and then, an obs-fold.
 */
export function headerLines(values: Readonly<Record<string, readonly string[]>>, maxLines = 8): fc.Arbitrary<HeaderLine[]> {
  const all = [...new Set(Object.values(values).flat())];
  const anyText = fc.string({ unit: fc.integer({ min: 0x21, max: 0xff }).map((c) => String.fromCharCode(c === 0x7f ? 0x7e : c)), maxLength: 24 });
  const named = fc.constantFrom(...Object.keys(values)).chain((n) =>
    fc.tuple(
      fc.array(fc.boolean(), { minLength: n.length, maxLength: n.length }).map((up) => [...n].map((c, i) => (up[i] ? c.toUpperCase() : c.toLowerCase())).join('')),
      fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...values[n]!, '') }, { weight: 1, arbitrary: fc.constantFrom(...all) }, { weight: 1, arbitrary: anyText }),
    ),
  );
  const line = fc.record({
    named,
    separator: fc.constantFrom(':', ': ', ':\t', ':  \t ', ' :'),
    trailing: fc.constantFrom('', ' ', '\t', ' \t '),
    fold: fc.oneof({ weight: 12, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('\r\n more', '\r\n\tmore') }),
  });
  return fc.array(
    line.map(({ named: [name, value], ...rest }) => ({ name, value, ...rest })),
    { maxLength: maxLines },
  );
}

/** The lines as they go on the wire (each ends with CRLF); write them as latin1. */
export function renderHeaderLines(lines: readonly HeaderLine[]): string {
  return lines.map((l) => `${l.name}${l.separator}${l.value}${l.trailing}${l.fold}\r\n`).join('');
}

/** What comes after the interim answers (`100 Continue`) in a raw HTTP/1.1 response. */
export function finalAnswer(text: string): string {
  return text.replace(/^(?:HTTP\/1\.1 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, '');
}

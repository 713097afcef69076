import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pythonRegExp, pythonSearch, translatePythonRegex } from './python-regex.js';

/** Python's `re.search(pattern, text)`: the match's text and its first group's, as the translation gives them. */
function search(pattern: string, text: string): [string, string | undefined] | null {
  const t = translatePythonRegex(pattern);
  const m = pythonSearch(pythonRegExp(t), text);
  return m && [m[0], t.group === undefined ? undefined : m[t.group]];
}

// Each row: which of these characters the pattern matches in CPython 3.11 (1) or not (0).
const CHARS = ['a', 'é', 'Σ', '٣', '²', 'Ⅷ', '_', '\u0300', '·', '\x1c', '\x1f', '\x85', '\xa0', '\ufeff', '\u180e', '\u200b', '\u3000', '\r', '\u2028', '😀', '𝟙', '-'];
const PYTHON_311: Array<[string, string]> = [
  ['\\d', '0001000000000000000010'],
  ['\\w', '1111111000000000000010'],
  ['\\s', '0000000001111000111000'],
  ['(?a)\\d', '0000000000000000000000'],
  ['(?a)\\w', '1000001000000000000000'],
  ['(?a)\\s', '0000000000000000010000'],
  ['.', '1111111111111111111111'],
  ['[^\\W]', '1111111000000000000010'],
  ['[\\S\\d]', '1111111110000111000111'],
  ['[^\\W\\d]', '1110111000000000000000'],
];

test("\\d, \\w, \\s and . match what Python 3's re matches in a str pattern (Unicode unless (?a); . takes \\r), in and out of classes", () => {
  for (const [pattern, expected] of PYTHON_311) {
    const got = CHARS.map((c) => (search(pattern, c)?.[0] === c ? '1' : '0')).join('');
    assert.equal(got, expected, pattern);
  }
  // \b and \B between Unicode word characters, as Python has them.
  assert.deepEqual(search('\\bloss=(\\S+)', 'élossé=1 loss=2'), ['loss=2', '2']);
  assert.deepEqual(search('(?a)\\bloss=(\\S+)', 'élossé=1 éloss=2'), ['loss=2', '2']);
  assert.deepEqual(search('x\\B(\\w)', 'xé'), ['xé', 'é']);
  // A value in another script's digits is captured, as by Python.
  assert.deepEqual(search('acc=(\\d+)', 'acc=１２'), ['acc=１２', '１２']);
});

test("Python-only syntax is translated: (?P<>), (?P=), \\A, \\Z, comments, {,n}, Python's escapes, leading ] and flags", () => {
  const cases: Array<[string, string, [string, string | undefined] | null]> = [
    ['(?P<v>\\d+) again (?P=v)', '7 again 7', ['7 again 7', '7']],
    ['(?P<v>\\d)(?P=v)0', '110', ['110', '1']],
    ['(\\d)\\1', '33', ['33', '3']],
    ['\\Aloss=(\\d+)\\Z', 'loss=12', ['loss=12', '12']],
    ['\\Aloss=(\\d+)\\Z', 'x loss=12', null],
    ['(?#the loss)loss=(\\S+)', 'loss=1', ['loss=1', '1']],
    ['[]x](\\d)[^]y]', ']1z', [']1z', '1']],
    ['a{,2}(b)', 'aaab', ['aab', 'b']],
    ['a{}(b)', 'a{}b', ['a{}b', 'b']],
    ['x{1, 2}(y)', 'x{1, 2}y', ['x{1, 2}y', 'y']],
    ['\\:\\=\\;(\\d)\\%', ':=;5%', [':=;5%', '5']],
    ['\\x41\\u00e9\\U0001F600\\101\\0(.)', 'Aé😀A\0z', ['Aé😀A\0z', 'z']],
    ['[\\101-\\x43](\\a)', 'B\x07', ['B\x07', '\x07']],
    ['a}(])', 'a}]', ['a}]', ']']],
    ['(?i)LOSS=(.+)', 'loss=1', ['loss=1', '1']],
    ['(?s)a(.)b', 'a\nb', ['a\nb', '\n']],
    ['a(.)b', 'a\nb', null],
    ['a(?s:(.))b(.)?', 'a\nb\n', ['a\nb', '\n']],
    ['(?m)^x(\\d)$', 'x1', ['x1', '1']],
  ];
  for (const [pattern, text, expected] of cases) assert.deepEqual(search(pattern, text), expected, pattern);
});

test('verbose mode skips whitespace and # comments between items, as Python does, and nowhere else', () => {
  const cases: Array<[string, string, [string, string | undefined] | null]> = [
    ['(?x) loss \\ = \\s* ( \\d+ ) # the loss', 'loss = 12', ['loss = 12', '12']],
    ['(?x)a [ ]+ (\\#) #c\n b', 'a  #b', ['a  #b', '#']],
    ['(?x)(a) +', 'aaa', ['aaa', 'a']],
    // Inside {}, Python reads a quantifier only when nothing else is there.
    ['(?x)a{1, 2}(.)', 'a{1,2}z', ['a{1,2}z', 'z']],
    ['(?x:a b)(c d)', 'abc d', ['abc d', 'c d']],
  ];
  for (const [pattern, text, expected] of cases) assert.deepEqual(search(pattern, text), expected, pattern);
  // Python: a quantifier must follow ( and ? at once, and a ? after whitespace is a second quantifier.
  assert.throws(() => translatePythonRegex('(?x)( ?:a)'), /nothing to repeat/);
  assert.throws(() => translatePythonRegex('(?x)a+ ?'), /multiple repeat/);

  // Whitespace and comments between a compact pattern's items change nothing.
  const items = ['a', 'b', '\\d', '\\w+', '[ #]', '\\ ', '\\#', '(?:a|b)', '(\\d)', '(?P<n>x)', 'c{1,2}', 'd{,3}?', 'e*+', '(?>ab|a)', '(?=a)', '.', '\\b'];
  const gap = fc.constantFrom('', ' ', '\t', '\n', ' # note\n', '  ');
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom(...items), gap), { minLength: 1, maxLength: 8 }), (parts) => {
      const compact = parts.map(([item]) => item).join('');
      const spaced = `(?x)${parts.map(([item, g]) => item + g).join('')}`;
      const outcome = (pattern: string): unknown => {
        try {
          const t = translatePythonRegex(pattern);
          return { source: t.source, group: t.group };
        } catch {
          return 'refused';
        }
      };
      assert.deepEqual(outcome(spaced), outcome(compact));
    }),
    { numRuns: 200 },
  );
});

/** The first match of `source` (JavaScript) at exactly `at`, or undefined. */
function matchAt(source: string, text: string, at: number): string | undefined {
  const re = new RegExp(source, 'uy');
  re.lastIndex = at;
  return re.exec(text)?.[0];
}

test('atomic groups and possessive quantifiers match as Python 3.11 has them: each iteration and the count are never given back', () => {
  assert.deepEqual(search('(?>a+)(a)', 'aaa'), null);
  assert.deepEqual(search('a++(b)', 'aab'), ['aab', 'b']);
  assert.deepEqual(search('(?:ab|a)*+(c)', 'abac'), ['abac', 'c']);
  // CPython 3.11: each repetition is atomic, so (\w{1,2}){2}+ does not give 'ſ' back to match 'ſ٣'.
  assert.deepEqual(search('(\\w{1,2}){2}+', 'ſ٣  '), null);
  assert.deepEqual(search('(?>(\\d+)x|(\\d+))y', '12y'), ['12y', undefined]);
  // The group after an atomic group is still the metric's: JavaScript numbers it 2.
  assert.equal(translatePythonRegex('(?>a)(b)').group, 2);
  // In a lookbehind, which Python requires to have a fixed width, they match as plain ones.
  assert.deepEqual(search('(?<=x{2}+(?>ab|cd))(e)', 'xxcde'), ['e', 'e']);
  assert.throws(() => translatePythonRegex('(?<=a++)b'), /look-behind requires fixed-width pattern/);

  // Against an oracle: take X's first match at each start, never backtrack into it, then match Y.
  const piece = fc.constantFrom('a', 'b', 'a?', 'a*', 'b+', '(?:ab|a)', '(?:a|ab)', '[ab]', 'a{1,2}');
  const rest = fc.constantFrom('', 'a', 'b', 'ab', 'c', 'a*b', '(?:b|ab)');
  const text = fc.stringMatching(/^[abc]{0,8}$/);
  fc.assert(
    fc.property(fc.array(piece, { minLength: 1, maxLength: 3 }), rest, text, (xs, y, s) => {
      const x = xs.join('');
      let expected: string | null = null;
      for (let p = 0; p <= s.length && expected === null; p++) {
        const mx = matchAt(x, s, p);
        if (mx === undefined) continue;
        const my = matchAt(y, s, p + mx.length);
        if (my !== undefined) expected = s.slice(p, p + mx.length + my.length);
      }
      assert.equal(search(`(?>${x})${y}`, s)?.[0] ?? null, expected, `(?>${x})${y} on ${s}`);
    }),
    { numRuns: 300 },
  );
  // X{m,n}+: as many atomic X as there are, up to n, then Y; at least m.
  const one = fc.constantFrom('a', '[ab]', '(?:ab|a)', '(?:a|ab)', '(?:a{1,2})', 'b');
  fc.assert(
    fc.property(one, fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 3 }), rest, text, (x, min, extra, y, s) => {
      const max = min + extra;
      let expected: string | null = null;
      for (let p = 0; p <= s.length && expected === null; p++) {
        let at = p;
        let count = 0;
        for (let mx = matchAt(x, s, at); count < max && mx !== undefined; mx = matchAt(x, s, at)) {
          at += mx.length;
          count++;
        }
        if (count < min) continue;
        const my = matchAt(y, s, at);
        if (my !== undefined) expected = s.slice(p, at + my.length);
      }
      assert.equal(search(`${x}{${min},${max}}+${y}`, s)?.[0] ?? null, expected, `${x}{${min},${max}}+${y} on ${s}`);
    }),
    { numRuns: 300 },
  );
});

test('a match never starts between the halves of a surrogate pair, where Python has no position', () => {
  // V8 tries there, and an empty backreference fails there, so the negative lookahead succeeded.
  assert.equal(search('(?!a?+)', ':😀'), null);
  assert.equal(search('(?!a?+)', ':😀\n')?.[0], undefined);
});

test("what Python refuses, and what has no JavaScript equivalent, is refused with Python's reason or the construct's name", () => {
  const refused: Array<[string, RegExp]> = [
    ['(?(1)a|b)', /conditional groups/],
    ['(?i:a)b', /scoped \(\?i:\.\.\.\)/],
    ['(?a)(?i)x', /\(\?a\) with \(\?i\)/],
    // Scoped: JavaScript's i flag would take K (U+212A) for k and ſ for s inside it, which Python's (?a) does not.
    ['(?i)(?a:(k))', /\(\?a\) with \(\?i\)/],
    ['(?i)x(?a:\bs)', /\(\?a\) with \(\?i\)/],
    ['\\N{EM DASH}', /named characters/],
    ['a(?i)b', /global flags not at the start/],
    ['\\q', /bad escape \\q/],
    ['(a)\\2', /invalid group reference 2/],
    ['(a\\1)', /cannot refer to an open group/],
    ['(?P=x)(?P<x>a)', /unknown group name/],
    ['a**', /multiple repeat/],
    ['^*', /nothing to repeat/],
    ['\\b+', /nothing to repeat/],
    ['(?=a)*', /quantifier after a lookahead/],
    ['a{3,2}', /min repeat greater than max repeat/],
    ['[b-a]', /bad character range/],
    ['[\\d-z]', /bad character range/],
    ['[a', /unterminated character set/],
    ['(a', /missing \)/],
    ['a)', /unbalanced parenthesis/],
    ['(?L)a', /'L' flag/],
    ['(?<=a+)b', /look-behind requires fixed-width pattern/],
    ['(?<=ab|c)d', /look-behind requires fixed-width pattern/],
    ['(a+)(?<=\\1)b', /look-behind requires fixed-width pattern/],
    ['\\x4', /incomplete escape/],
  ];
  for (const [pattern, reason] of refused) assert.throws(() => translatePythonRegex(pattern), reason, pattern);
});

test('a lookbehind whose width is fixed once an unbounded item is repeated {0} times is run, as Python runs it', () => {
  // Python's getwidth counts X{0} as 0 however long X is; Infinity × 0 made the width NaN, so it was refused.
  assert.deepEqual(search('(?<=x(?:a*){0})(b)', 'xb'), ['b', 'b']);
  assert.deepEqual(search('(?<=x(?:a+){0,0})(b)', 'xab xb'), ['b', 'b']);
});

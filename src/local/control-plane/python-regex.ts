// Python's `re` syntax (3.11), as MetricDefinitions are written, translated to a JavaScript
// `RegExp` (flag `u`) that matches the same text, following CPython's Lib/re/_parser.py.

/** A capturing group of the output; JavaScript numbers groups by where they open, known only once the whole pattern is read. */
interface Group {
  name?: string;
  closed: boolean;
  /** What the group can match, once closed: a backreference to it matches as much. */
  width?: Width;
  number?: number;
}

type Piece = string | { open: Group } | { ref: Group; bare?: true };

/** How a part of the pattern is read: `(?x)`, `(?a)` and `(?s)`, globally or in a scoped `(?flags:...)` group. */
interface Mode {
  verbose: boolean;
  ascii: boolean;
  dotall: boolean;
}

/** The shortest and longest text a part of a pattern can match (Infinity: no bound). */
type Width = [lo: number, hi: number];

/** A JavaScript `RegExp` source and flags, and where Python's first group is in its match. */
export interface TranslatedRegex {
  source: string;
  flags: string;
  /** The JavaScript group number of Python's group 1; undefined when the pattern has no group. */
  group: number | undefined;
}

/** Python's `WHITESPACE`, skipped between items in verbose mode. */
const VERBOSE_SPACE = new Set([' ', '\t', '\n', '\r', '\v', '\f']);
const OCT = /^[0-7]$/;
const HEX = /^[0-9a-fA-F]$/;
const DIGIT = /^[0-9]$/;
const ASCII_LETTER = /^[a-zA-Z]$/;
const FLAG_LETTERS = 'aiLmsux';

/** What `\d`, `\w` and `\s` match in a class body: Unicode (str patterns' default, checked against every code point on CPython 3.11) or `(?a)` ASCII. */
const UNICODE_CLASSES = { d: '\\p{Nd}', w: '\\p{L}\\p{N}_', s: '\\t-\\r\\x1c- \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000' };
const ASCII_CLASSES = { d: '0-9', w: 'A-Za-z0-9_', s: '\\t-\\r ' };

/** Thrown with what cannot be translated; the caller words it for the user. */
export class PythonRegexError extends Error {}

/**
 * `pattern`, written for Python's `re`, as a JavaScript regular expression that matches the same
 * strings: `\d`, `\w`, `\s`, `\b` and `.` as Python reads them (Unicode unless `(?a)`; `.` matches
 * `\r`), `(?P<name>...)`, `(?P=name)`, `\A`, `\Z`, comments, verbose mode, `{,n}`, Python's escapes,
 * and atomic groups and possessive quantifiers as a lookahead and a backreference. Throws a
 * {@link PythonRegexError} for what Python refuses and for what has no exact JavaScript equivalent
 * (scoped `(?i:...)`, conditional groups, `\N{...}`).
 */
export function translatePythonRegex(pattern: string): TranslatedRegex {
  return new Translator(pattern).run();
}

class Translator {
  private i = 0;
  private readonly out: Piece[] = [];
  private readonly groups: Group[] = [];
  private readonly names = new Map<string, Group>();
  private lookbehind = 0;
  private ignoreCase = false;
  /** The width of the item just read, when it is not one character: a group or a backreference. */
  private itemWidth: Width | undefined;

  constructor(private readonly src: string) {}

  run(): TranslatedRegex {
    this.alternation({ verbose: false, ascii: false, dotall: false }, 0);
    if (this.i < this.src.length) throw new PythonRegexError(`unbalanced parenthesis at position ${this.i}`);
    let n = 0;
    for (const p of this.out) if (typeof p !== 'string' && 'open' in p) p.open.number = ++n;
    const source = this.out.map((p) => (typeof p === 'string' ? p : 'open' in p ? (p.open.name === undefined ? '(' : `(?<${p.open.name}>`) : reference(p))).join('');
    return { source, flags: this.ignoreCase ? 'iu' : 'u', group: this.groups[0]?.number };
  }

  private fail(message: string): never {
    throw new PythonRegexError(message);
  }

  /** `a|b|c` up to a `)` or the end; returns the shortest and longest text it can match, as Python's `getwidth`. */
  private alternation(mode: Mode, nested: number): Width {
    let first = nested === 0;
    let width: Width = [Infinity, 0];
    for (;;) {
      const [lo, hi] = this.sequence(mode, nested, first);
      width = [Math.min(width[0], lo), Math.max(width[1], hi)];
      if (this.src[this.i] !== '|') return width;
      this.out.push('|');
      this.i++;
      first = false;
    }
  }

  /** One branch: items and their quantifiers, as `_parse` reads them; returns its width. */
  private sequence(mode: Mode, nested: number, first: boolean): Width {
    /** The last item: where its output starts, and whether it is one character (a literal, a class, `.`). */
    let last: { start: number; kind: 'atom' | 'at' | 'assert' | 'repeat'; single?: boolean } | undefined;
    const widths: Width[] = [];
    const src = this.src;
    while (this.i < src.length) {
      const c = src[this.i]!;
      if (c === '|' || c === ')') break;
      this.i++;
      if (mode.verbose && VERBOSE_SPACE.has(c)) continue;
      if (mode.verbose && c === '#') {
        while (this.i < src.length && src[this.i++] !== '\n');
        continue;
      }
      const start = this.out.length;
      const before = last;
      this.itemWidth = undefined;
      let repeat: Width | undefined;
      if (c === '\\') {
        const kind = this.escape(mode);
        last = { start, kind, single: kind === 'atom' && typeof this.out[start] === 'string' };
      } else if (c === '[') {
        this.out.push(this.charClass(mode));
        last = { start, kind: 'atom', single: true };
      } else if (c === '*' || c === '+' || c === '?' || c === '{') {
        const q = this.quantifier(c);
        if (q === undefined) {
          this.out.push('\\{');
          last = { start, kind: 'atom', single: true };
        } else {
          if (!last || last.kind === 'at') this.fail(`nothing to repeat at position ${this.i - 1}`);
          if (last.kind === 'repeat') this.fail(`multiple repeat at position ${this.i - 1}`);
          // Python repeats a lookaround as it repeats a group; JavaScript refuses it.
          if (last.kind === 'assert') this.fail(`a quantifier after a lookahead or lookbehind (position ${this.i - 1}) has no JavaScript equivalent`);
          repeat = bounds(q);
          if (src[this.i] === '?') {
            this.i++;
            this.out.push(`${q}?`);
          } else if (src[this.i] === '+' && this.lookbehind > 0) {
            // A lookbehind has a fixed width (Python refuses any other), so every way X matches ends at the same place: not backtracking into it changes nothing.
            this.i++;
            this.out.push(q);
          } else if (src[this.i] === '+') {
            this.i++;
            // Python repeats X atomically and keeps the count: X{m,n}+ is (?>(?>X){m,n}) (not (?>X{m,n}), when X can match more than one way).
            // (?>X) is (?=(X))\n: a lookahead is never backtracked into, and the reference consumes what it matched.
            const w: Group = { closed: true };
            if (last.single) {
              this.out.splice(last.start, 0, '(?:(?=', { open: w });
            } else {
              const v: Group = { closed: true };
              this.out.splice(last.start, 0, '(?:(?=', { open: w }, '(?:(?=', { open: v });
              this.out.push('))', { ref: v, bare: true }, ')');
            }
            this.out.push(q, '))', { ref: w, bare: true }, ')');
          } else {
            this.out.push(q);
          }
          last = { start: last.start, kind: 'repeat' };
        }
      } else if (c === '.') {
        this.out.push(mode.dotall ? '[^]' : '[^\\n]');
        last = { start, kind: 'atom', single: true };
      } else if (c === '(') {
        const kind = this.group(mode, nested, first && this.out.length === 0);
        if (kind !== undefined) last = { start, kind };
      } else if (c === '^' || c === '$') {
        this.out.push(c);
        last = { start, kind: 'at' };
      } else {
        this.i--;
        this.out.push(literal(this.codePoint()));
        last = { start, kind: 'atom', single: true };
      }
      if (repeat) {
        const [lo, hi] = widths.pop()!;
        widths.push([lo * repeat[0], repeat[1] === Infinity ? (hi > 0 ? Infinity : 0) : repeat[1] === 0 ? 0 : hi * repeat[1]]);
      } else if (last !== before) {
        widths.push(last!.kind === 'atom' ? (this.itemWidth ?? [1, 1]) : [0, 0]);
      }
    }
    return widths.reduce<Width>(([lo, hi], [a, b]) => [lo + a, hi + b], [0, 0]);
  }

  /** The next code point of the pattern, consumed. */
  private codePoint(): number {
    const cp = this.src.codePointAt(this.i)!;
    this.i += cp > 0xffff ? 2 : 1;
    return cp;
  }

  /** `*`, `+`, `?` or `{m,n}` (the character `c` already read) as JavaScript writes it; undefined for a `{` that is a literal. */
  private quantifier(c: string): string | undefined {
    if (c !== '{') return c;
    const src = this.src;
    const here = this.i;
    if (src[here] === '}') return undefined;
    let lo = '';
    let hi = '';
    while (DIGIT.test(src[this.i] ?? '')) lo += src[this.i++];
    if (src[this.i] === ',') {
      this.i++;
      while (DIGIT.test(src[this.i] ?? '')) hi += src[this.i++];
    } else {
      hi = lo;
    }
    if (src[this.i] !== '}') {
      this.i = here;
      return undefined;
    }
    this.i++;
    const min = lo === '' ? 0 : Number(lo);
    const max = hi === '' ? Infinity : Number(hi);
    if (min >= 0xffffffff || (max !== Infinity && max >= 0xffffffff)) this.fail('the repetition number is too large');
    if (max < min) this.fail(`min repeat greater than max repeat at position ${here}`);
    return max === Infinity ? `{${min},}` : min === max ? `{${min}}` : `{${min},${max}}`;
  }

  /** What follows a `(`; returns the kind of item it is, or undefined when it adds none (a comment, global flags). */
  private group(mode: Mode, nested: number, atStart: boolean): 'atom' | 'assert' | undefined {
    const src = this.src;
    const start = this.i - 1;
    let sub = mode;
    let open: Piece[] = ['(?:'];
    let close: Piece[] = [')'];
    let capture: Group | undefined;
    let behind = false;
    let kind: 'atom' | 'assert' = 'atom';
    if (src[this.i] === '?') {
      this.i++;
      const ch = src[this.i++];
      if (ch === undefined) this.fail('unexpected end of pattern');
      if (ch === 'P') {
        const kind = src[this.i++];
        if (kind === '<') {
          capture = { name: this.until('>'), closed: false };
          if (this.names.has(capture.name!)) this.fail(`redefinition of group name ${JSON.stringify(capture.name)}`);
          this.names.set(capture.name!, capture);
        } else if (kind === '=') {
          const name = this.until(')');
          const g = this.names.get(name);
          if (!g) this.fail(`unknown group name ${JSON.stringify(name)}`);
          if (!g.closed) this.fail('cannot refer to an open group');
          this.out.push({ ref: g });
          this.itemWidth = g.width;
          return 'atom';
        } else {
          this.fail(`unknown extension ?P${kind ?? ''}`);
        }
      } else if (ch === ':') {
        // a non-capturing group, as set above
      } else if (ch === '#') {
        const end = src.indexOf(')', this.i);
        if (end === -1) this.fail('missing ), unterminated comment');
        this.i = end + 1;
        return undefined;
      } else if (ch === '=' || ch === '!') {
        open = [`(?${ch}`];
        kind = 'assert';
      } else if (ch === '<') {
        const d = src[this.i++];
        if (d !== '=' && d !== '!') this.fail(`unknown extension ?<${d ?? ''}`);
        open = [`(?<${d}`];
        behind = true;
        kind = 'assert';
      } else if (ch === '(') {
        this.fail('conditional groups (?(id)yes|no) have no JavaScript equivalent');
      } else if (ch === '>' && this.lookbehind > 0) {
        // In a lookbehind, of fixed width, an atomic group matches as a plain one (see the possessive quantifier).
      } else if (ch === '>') {
        // (?>X) is (?=(X))\n: a lookahead is never backtracked into, and the reference consumes what it matched.
        const w: Group = { closed: true };
        open = ['(?:(?=', { open: w }];
        close = ['))', { ref: w, bare: true }, ')'];
      } else if (FLAG_LETTERS.includes(ch) || ch === '-') {
        const flags = this.flags(ch);
        if (flags.global) {
          if (!atStart || nested > 0) this.fail(`global flags not at the start of the expression at position ${start}`);
          // Leading flags apply to the whole pattern: `mode` is the top level's.
          Object.assign(mode, applyFlags(mode, flags.add, ''));
          if (flags.add.includes('i')) this.ignoreCase = true;
          // JavaScript's i flag folds case beyond ASCII (é and É, ſ and s), which Python's (?ai) does not.
          if (this.ignoreCase && mode.ascii) this.fail('(?a) with (?i) has no JavaScript equivalent (JavaScript would match é with É, and ſ with s); leave out (?a)');
          return undefined;
        }
        if (flags.add.includes('i') || flags.remove.includes('i')) {
          this.fail('scoped (?i:...) and (?-i:...) have no JavaScript equivalent here; put (?i) at the start to apply it to the whole regex');
        }
        sub = applyFlags(mode, flags.add, flags.remove);
        if (this.ignoreCase && sub.ascii) this.fail(`(?a) with (?i) has no JavaScript equivalent (JavaScript would match é with É, and ſ with s); leave out (?a) at position ${start}`);
      } else {
        this.fail(`unknown extension ?${ch}`);
      }
    } else {
      capture = { closed: false };
    }
    if (capture) {
      this.groups.push(capture);
      open = [{ open: capture }];
    }
    this.out.push(...open);
    if (behind) this.lookbehind++;
    const width = this.alternation(sub, nested + 1);
    if (behind) this.lookbehind--;
    if (src[this.i] !== ')') this.fail(`missing ), unterminated subpattern at position ${start}`);
    this.i++;
    // Python's compiler refuses this; JavaScript would run it.
    if (behind && width[0] !== width[1]) this.fail(`look-behind requires fixed-width pattern (position ${start})`);
    if (capture) {
      capture.closed = true;
      capture.width = width;
    }
    this.out.push(...close);
    this.itemWidth = kind === 'atom' ? width : undefined;
    return kind;
  }

  /** The text up to `end`, consumed with it: a group name, which Python requires to be an identifier. */
  private until(end: string): string {
    const stop = this.src.indexOf(end, this.i);
    if (stop === -1) this.fail(`missing ${end}, unterminated name`);
    const name = this.src.slice(this.i, stop);
    if (!/^[\p{ID_Start}_][\p{ID_Continue}]*$/u.test(name)) this.fail(`bad character in group name ${JSON.stringify(name)}`);
    this.i = stop + 1;
    return name;
  }

  /** Inline flags after `(?`, the first letter `ch` already read, as `_parse_flags` reads them. */
  private flags(ch: string): { global: boolean; add: string; remove: string } {
    let add = '';
    let remove = '';
    let c: string | undefined = ch;
    if (c !== '-') {
      for (;;) {
        if (c === 'L') this.fail("bad inline flags: cannot use 'L' flag with a str pattern");
        add += c;
        if (add.includes('a') && add.includes('u')) this.fail("bad inline flags: flags 'a', 'u' and 'L' are incompatible");
        c = this.src[this.i++];
        if (c === undefined) this.fail('missing -, : or )');
        if (c === ')' || c === '-' || c === ':') break;
        if (!FLAG_LETTERS.includes(c)) this.fail(`unknown flag ${c}`);
      }
    }
    if (c === ')') return { global: true, add, remove };
    if (c === '-') {
      for (;;) {
        c = this.src[this.i++];
        if (c === undefined) this.fail('missing :');
        if (c === ':' && remove !== '') break;
        if (!'imsx'.includes(c)) this.fail(c === 'a' || c === 'u' || c === 'L' ? "bad inline flags: cannot turn off flags 'a', 'u' and 'L'" : `missing flag or unknown flag ${c}`);
        remove += c;
      }
    }
    for (const f of remove) if (add.includes(f)) this.fail('bad inline flags: flag turned on and off');
    return { global: false, add, remove };
  }

  /** An escape outside a class, the `\` already read. */
  private escape(mode: Mode): 'atom' | 'at' {
    const src = this.src;
    const c = src[this.i];
    if (c === undefined) this.fail('bad escape (end of pattern)');
    const classes = mode.ascii ? ASCII_CLASSES : UNICODE_CLASSES;
    const word = `[${classes.w}]`;
    switch (c) {
      case 'A':
      case 'Z':
        this.i++;
        this.out.push(c === 'A' ? '^' : '$');
        return 'at';
      case 'b':
      case 'B':
        this.i++;
        // JavaScript's \b is ASCII (and, with the i and u flags, counts ſ and K as word characters).
        this.out.push(c === 'b' ? `(?:(?<=${word})(?!${word})|(?<!${word})(?=${word}))` : `(?:(?<=${word})(?=${word})|(?<!${word})(?!${word}))`);
        return 'at';
      case 'd':
      case 'D':
      case 's':
      case 'S':
      case 'w':
      case 'W': {
        this.i++;
        const body = classes[c.toLowerCase() as 'd' | 's' | 'w'];
        this.out.push(c === c.toLowerCase() ? `[${body}]` : `[^${body}]`);
        return 'atom';
      }
    }
    if (c >= '1' && c <= '9') {
      this.i++;
      let digits = c;
      if (DIGIT.test(src[this.i] ?? '')) {
        digits += src[this.i++];
        if (OCT.test(digits[0]!) && OCT.test(digits[1]!) && OCT.test(src[this.i] ?? '')) {
          const value = parseInt(digits + src[this.i++], 8);
          if (value > 0o377) this.fail(`octal escape value \\${digits}${src[this.i - 1]} outside of range 0-0o377`);
          this.out.push(literal(value));
          return 'atom';
        }
      }
      const g = this.groups[Number(digits) - 1];
      if (!g) this.fail(`invalid group reference ${digits}`);
      if (!g.closed) this.fail('cannot refer to an open group');
      this.out.push({ ref: g });
      this.itemWidth = g.width;
      return 'atom';
    }
    this.out.push(literal(this.escapedCodePoint(false)));
    return 'atom';
  }

  /** The code point of a one-character escape (`\n`, `\x41`, `\0`, `\.`), the `\` already read; `inClass` reads octal as `_class_escape` does. */
  private escapedCodePoint(inClass: boolean): number {
    const src = this.src;
    const c = src[this.i]!;
    const simple: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92 };
    if (inClass) simple.b = 8;
    if (simple[c] !== undefined) {
      this.i++;
      return simple[c];
    }
    const hex = (n: number): number => {
      const digits = src.slice(this.i + 1, this.i + 1 + n);
      if (digits.length !== n || ![...digits].every((d) => HEX.test(d))) this.fail(`incomplete escape \\${c}${digits.replace(/[^0-9a-fA-F].*$/, '')}`);
      this.i += 1 + n;
      return parseInt(digits, 16);
    };
    if (c === 'x') return hex(2);
    if (c === 'u') return hex(4);
    if (c === 'U') {
      const value = hex(8);
      if (value > 0x10ffff) this.fail(`bad escape \\U${value.toString(16).padStart(8, '0')}`);
      return value;
    }
    if (c === 'N') this.fail('named characters \\N{...} have no JavaScript equivalent; write the character, or \\uXXXX');
    if (OCT.test(c) && (inClass || c === '0')) {
      let digits = src[this.i++]!;
      while (digits.length < 3 && OCT.test(src[this.i] ?? '')) digits += src[this.i++];
      const value = parseInt(digits, 8);
      if (value > 0o377) this.fail(`octal escape value \\${digits} outside of range 0-0o377`);
      return value;
    }
    if (ASCII_LETTER.test(c) || DIGIT.test(c)) this.fail(`bad escape \\${c}`);
    return this.codePoint();
  }

  /** A character class, the `[` already read, as JavaScript: a class, or a group when it holds `\W` or `\S`, which a class cannot hold with other items. */
  private charClass(mode: Mode): string {
    const src = this.src;
    const classes = mode.ascii ? ASCII_CLASSES : UNICODE_CLASSES;
    const negate = src[this.i] === '^';
    if (negate) this.i++;
    let pos = '';
    const neg: string[] = [];
    let items = 0;
    const item = (): number | string => {
      if (src[this.i] !== '\\') return this.codePoint();
      this.i++;
      const c = src[this.i];
      if (c === undefined) this.fail('unterminated character set');
      if ('dswDSW'.includes(c)) {
        this.i++;
        return c;
      }
      if (c === '8' || c === '9') this.fail(`bad escape \\${c}`);
      return this.escapedCodePoint(true);
    };
    for (;;) {
      if (this.i >= src.length) this.fail('unterminated character set');
      if (src[this.i] === ']' && items > 0) {
        this.i++;
        break;
      }
      const a = item();
      items++;
      if (src[this.i] === '-' && src[this.i + 1] !== undefined && src[this.i + 1] !== ']') {
        this.i++;
        const b = item();
        if (typeof a === 'string' || typeof b === 'string' || b < a) this.fail('bad character range');
        pos += `${classLiteral(a)}-${classLiteral(b)}`;
      } else if (typeof a === 'string') {
        const body = classes[a.toLowerCase() as 'd' | 's' | 'w'];
        if (a === a.toLowerCase()) pos += body;
        else neg.push(body);
      } else {
        pos += classLiteral(a);
      }
    }
    if (neg.length === 0) return `[${negate ? '^' : ''}${pos}]`;
    if (!negate) return `(?:${[...(pos ? [`[${pos}]`] : []), ...neg.map((n) => `[^${n}]`)].join('|')})`;
    // Outside the items and outside every complement: inside each body.
    return `(?:${pos ? `(?![${pos}])` : ''}${neg
      .slice(0, -1)
      .map((n) => `(?=[${n}])`)
      .join('')}[${neg[neg.length - 1]}])`;
  }
}

/** The least and most repetitions a JavaScript quantifier such as `*` or `{2,5}` takes. */
function bounds(q: string): Width {
  if (q === '*') return [0, Infinity];
  if (q === '+') return [1, Infinity];
  if (q === '?') return [0, 1];
  const [lo, hi] = q.slice(1, -1).split(',');
  return [Number(lo), hi === undefined ? Number(lo) : hi === '' ? Infinity : Number(hi)];
}

/** A backreference; a digit after `\\1` would make it `\\10`, so one a user wrote is closed off. */
function reference(p: { ref: Group; bare?: true }): string {
  if (p.bare) return `\\${p.ref.number}`;
  return p.ref.name === undefined ? `(?:\\${p.ref.number})` : `\\k<${p.ref.name}>`;
}

/** `mode` with inline flags `add` set and `remove` cleared. */
function applyFlags(mode: Mode, add: string, remove: string): Mode {
  return {
    verbose: (mode.verbose || add.includes('x')) && !remove.includes('x'),
    dotall: (mode.dotall || add.includes('s')) && !remove.includes('s'),
    ascii: add.includes('a') ? true : add.includes('u') ? false : mode.ascii,
  };
}

/** One code point as a JavaScript pattern atom outside a class. */
function literal(cp: number): string {
  const ch = String.fromCodePoint(cp);
  if ('^$\\.*+?()[]{}|/'.includes(ch)) return `\\${ch}`;
  return cp < 0x20 || cp === 0x7f || (cp >= 0xd800 && cp <= 0xdfff) ? `\\u{${cp.toString(16)}}` : ch;
}

/** One code point as a JavaScript pattern atom inside a class. */
function classLiteral(cp: number): string {
  const ch = String.fromCodePoint(cp);
  if ('\\]^-['.includes(ch)) return `\\${ch}`;
  return cp < 0x20 || cp === 0x7f || (cp >= 0xd800 && cp <= 0xdfff) ? `\\u{${cp.toString(16)}}` : ch;
}

/** `translated` as a `RegExp` for {@link pythonSearch} (global, so that a search can start past a position). */
export function pythonRegExp(translated: Pick<TranslatedRegex, 'source' | 'flags'>): RegExp {
  return new RegExp(translated.source, `${translated.flags}g`);
}

/**
 * `re.search`: the first match in `text` that starts where Python would try one. V8 also tries
 * between the halves of a surrogate pair, where a backreference (as an atomic group's) fails, so a
 * negative lookaround around one could succeed at a place Python never looks.
 */
export function pythonSearch(re: RegExp, text: string): RegExpExecArray | null {
  re.lastIndex = 0;
  for (;;) {
    const m = re.exec(text);
    if (!m || !isLowHalf(text, m.index)) return m;
    re.lastIndex = m.index + 1;
  }
}

/** Whether `i` is between the two halves of a surrogate pair. */
function isLowHalf(text: string, i: number): boolean {
  const lo = text.charCodeAt(i);
  const hi = text.charCodeAt(i - 1);
  return lo >= 0xdc00 && lo <= 0xdfff && hi >= 0xd800 && hi <= 0xdbff;
}

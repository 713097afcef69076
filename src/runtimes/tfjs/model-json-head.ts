/**
 * What the first bytes of a `model.json` say about it: `tfjs` when they show a TF.js model (see
 * {@link scanModelJsonHead}), `unknown` when only the whole file can tell.
 */
export type ModelJsonHead = 'tfjs' | 'unknown';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** Where a container sits: the top-level object, `modelTopology`'s object, or anywhere else. */
const OTHER = 0;
const TOP = 1;
const TOPOLOGY = 2;
type Role = typeof OTHER | typeof TOP | typeof TOPOLOGY;

/** Thrown when the bytes end, or stop being JSON, before they decide: the whole file must. */
class Undecided extends Error {}

const isSpace = (c: number | undefined): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;
const isHex = (c: number | undefined): boolean => c !== undefined && (isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
/** Bytes that may follow a number (or a literal) in JSON; anything else continues or breaks it. */
const endsValue = (c: number | undefined): boolean => isSpace(c) || c === COMMA || c === CLOSE_OBJECT || c === CLOSE_ARRAY;

const ESCAPES = new Set([QUOTE, BACKSLASH, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);
const LAYERS_KEYS = new Set(['class_name', 'model_config', 'config']);

/**
 * Reads the start of a `model.json` (its first bytes, as UTF-8) as a JSON tokenizer would, without
 * building its values, and says whether they show what {@link tfjsJsonKind} looks for in the whole
 * file: a top-level `modelTopology` that is not null, with a top-level `format` of `layers-model`
 * or `graph-model`, or a topology shaped like one (a Keras `class_name`, `model_config` or `config`
 * key, or a GraphDef `node` list). Only top-level keys count, as `JSON.parse` sees them (escapes
 * decoded): `"format"` inside a nested object or a string is just data. The bytes up to the decision
 * must be valid JSON; bytes that stop being JSON, a key repeated (JSON.parse keeps the last), or an
 * end before a decision give `unknown`, as does a start other than an object: the whole file then
 * tells a list (no model) from bytes JSON.parse refuses, such as a byte order mark, which make a
 * directory's model.json fail detection with `ERR_MODEL_LOAD` whatever the file's size. A key
 * repeated after these bytes cannot be seen here: the load parses the whole file and reports a
 * file that is not a model after all.
 */
export function scanModelJsonHead(bytes: Uint8Array): ModelJsonHead {
  let i = 0;
  const n = bytes.length;
  const skipSpace = (): void => {
    while (i < n && isSpace(bytes[i])) i++;
  };
  const next = (): number => {
    if (i >= n) throw new Undecided();
    return bytes[i]!;
  };
  const expect = (c: number): void => {
    if (next() !== c) throw new Undecided();
    i++;
  };
  /** Reads a string at `i`; returns it decoded when `decode`, as JSON.parse would. */
  const readString = (decode: boolean): string | undefined => {
    const start = i;
    expect(QUOTE);
    for (;;) {
      const c = next();
      i++;
      if (c === QUOTE) break;
      if (c < 0x20) throw new Undecided();
      if (c !== BACKSLASH) continue;
      const e = next();
      i++;
      if (e === 0x75) {
        for (let k = 0; k < 4; k++, i++) if (!isHex(next())) throw new Undecided();
      } else if (!ESCAPES.has(e)) {
        throw new Undecided();
      }
    }
    return decode ? (JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + start, i - start).toString('utf8')) as string) : undefined;
  };
  const readLiteral = (word: string): void => {
    for (let k = 0; k < word.length; k++) expect(word.charCodeAt(k));
    if (!endsValue(next())) throw new Undecided();
  };
  const readNumber = (): void => {
    if (next() === 0x2d) i++;
    if (next() === 0x30) i++;
    else if (isDigit(next())) while (isDigit(next())) i++;
    else throw new Undecided();
    if (next() === 0x2e) {
      i++;
      if (!isDigit(next())) throw new Undecided();
      while (isDigit(next())) i++;
    }
    if (next() === 0x65 || next() === 0x45) {
      i++;
      if (next() === 0x2b || next() === 0x2d) i++;
      if (!isDigit(next())) throw new Undecided();
      while (isDigit(next())) i++;
    }
    if (!endsValue(next())) throw new Undecided();
  };

  try {
    skipSpace();
    if (next() !== OPEN_OBJECT) return 'unknown';
    let formats = 0;
    let format: string | undefined;
    let topologies = 0;
    let topologyNull = false;
    /** The open containers, innermost last: whether each is an array, and its role. */
    const stack: { array: boolean; role: Role }[] = [];
    const open = (role: Role): boolean => {
      const array = next() === OPEN_ARRAY;
      i++;
      stack.push({ array, role });
      skipSpace();
      if (next() !== (array ? CLOSE_ARRAY : CLOSE_OBJECT)) return true;
      i++;
      stack.pop();
      return false;
    };
    /** Reads one value; `role` is the role it has if it is a container. Returns whether it opened one that has entries. */
    const readValue = (role: Role): boolean => {
      skipSpace();
      const c = next();
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) return open(c === OPEN_OBJECT ? role : OTHER);
      if (c === QUOTE) readString(false);
      else if (c === 0x74) readLiteral('true');
      else if (c === 0x66) readLiteral('false');
      else if (c === 0x6e) readLiteral('null');
      else readNumber();
      return false;
    };
    let entered = open(TOP);
    for (;;) {
      if (!entered) {
        // After a value: a comma for the next entry, or the end of its container.
        if (stack.length === 0) return 'unknown';
        skipSpace();
        const c = next();
        const frame = stack[stack.length - 1]!;
        i++;
        if (c === (frame.array ? CLOSE_ARRAY : CLOSE_OBJECT)) {
          stack.pop();
          continue;
        }
        if (c !== COMMA) throw new Undecided();
      }
      entered = false;
      const frame = stack[stack.length - 1]!;
      if (frame.array) {
        entered = readValue(OTHER);
        continue;
      }
      skipSpace();
      const key = readString(frame.role !== OTHER);
      skipSpace();
      expect(COLON);
      skipSpace();
      if (frame.role === TOP && key === 'format') {
        formats++;
        if (next() === QUOTE) {
          const start = i;
          readString(false);
          // Decoded only when short enough to be one of the two values (their escapes included).
          format = i - start <= 80 ? (JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + start, i - start).toString('utf8')) as string) : undefined;
        } else {
          format = undefined;
          entered = readValue(OTHER);
        }
      } else if (frame.role === TOP && key === 'modelTopology') {
        topologies++;
        topologyNull = next() === 0x6e;
        entered = readValue(TOPOLOGY);
      } else if (frame.role === TOPOLOGY) {
        if (LAYERS_KEYS.has(key!)) return 'tfjs';
        if (key === 'node' && next() === OPEN_ARRAY) return 'tfjs';
        entered = readValue(OTHER);
      } else {
        entered = readValue(OTHER);
      }
      if (formats > 1 || topologies > 1) return 'unknown';
      if (formats === 1 && topologies === 1 && !topologyNull && (format === 'layers-model' || format === 'graph-model')) return 'tfjs';
    }
  } catch (err) {
    if (err instanceof Undecided || err instanceof SyntaxError) return 'unknown';
    throw err;
  }
}

/**
 * Finds where a JSON text stops being valid. V8's `JSON.parse` messages do not always carry a
 * position ("Unexpected token '}', ... is not valid JSON"), so on a parse error this small
 * recursive-descent checker locates the first bad character. It only runs on invalid bodies.
 *
 * @returns The 0-based offset of the first invalid character (the text length for a truncated body),
 *   with its 1-based line and column.
 */
export function findJsonErrorPosition(text: string): { position: number; line: number; column: number } {
  let p = 0;
  const ws = (): void => {
    while (p < text.length && ' \t\n\r'.includes(text[p]!)) p++;
  };
  const fail = (): never => {
    throw new StopAt(p);
  };
  const literal = (word: string): void => {
    for (const ch of word) {
      if (text[p] !== ch) fail();
      p++;
    }
  };
  const string = (): void => {
    p++;
    while (p < text.length) {
      const ch = text[p]!;
      if (ch === '"') {
        p++;
        return;
      }
      if (ch.charCodeAt(0) < 0x20) fail();
      if (ch === '\\') {
        p++;
        const esc = text[p];
        if (esc === 'u') {
          for (let i = 1; i <= 4; i++) if (!/[0-9a-fA-F]/.test(text[p + i] ?? '')) (p += i), fail();
          p += 5;
        } else if (esc !== undefined && '"\\/bfnrt'.includes(esc)) p++;
        else fail();
      } else p++;
    }
    fail();
  };
  const number = (): void => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(p, p + 400));
    if (m === null || m[0] === '' || m[0] === '-') fail();
    p += m![0].length;
  };
  const value = (): void => {
    ws();
    const ch = text[p];
    if (ch === '{') {
      p++;
      ws();
      if (text[p] === '}') return void p++;
      for (;;) {
        ws();
        if (text[p] !== '"') fail();
        string();
        ws();
        if (text[p] !== ':') fail();
        p++;
        value();
        ws();
        if (text[p] === ',') p++;
        else if (text[p] === '}') return void p++;
        else fail();
      }
    }
    if (ch === '[') {
      p++;
      ws();
      if (text[p] === ']') return void p++;
      for (;;) {
        value();
        ws();
        if (text[p] === ',') p++;
        else if (text[p] === ']') return void p++;
        else fail();
      }
    }
    if (ch === '"') return string();
    if (ch === 't') return literal('true');
    if (ch === 'f') return literal('false');
    if (ch === 'n') return literal('null');
    return number();
  };
  try {
    value();
    ws();
    if (p < text.length) fail();
  } catch (err) {
    if (!(err instanceof StopAt)) throw err;
    p = err.position;
  }
  const before = text.slice(0, p);
  const line = before.split('\n').length;
  const column = p - before.lastIndexOf('\n');
  return { position: p, line, column };
}

class StopAt {
  constructor(readonly position: number) {}
}

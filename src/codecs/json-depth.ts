/**
 * Deepest nesting of arrays and objects a JSON body may have before it is parsed: 512. A tensor
 * has at most 64 dimensions (`MAX_RANK`) and its request form adds a few levels (`{"instances":
 * [{"name": ...}]}`), so no body that decodes comes near it. Deeper bodies are refused before
 * `JSON.parse`, which has no limit of its own and takes seconds over millions of brackets (a 6 MB
 * `[[[[...]]]]` held a thread for 10-30 s), and before any walk that recurses. Peers refuse sooner
 * or about here: Python's `json` at its recursion limit (1000), serde_json past 128; orjson has had a
 * limit since 3.9.15 (CVE-2024-27454).
 */
export const MAX_JSON_DEPTH = 512;

/** The characters that open, close or quote; the regular expression engine skips the rest (digits, commas) at native speed. */
const STRUCTURAL = /[[\]{}"]/g;

/**
 * True when the JSON text nests arrays and objects more than `max` deep. One pass over the text;
 * brackets inside strings do not count. Valid JSON never closes more than it opened; in invalid
 * text a stray closing bracket does not lower the count below zero, so depth built after it still
 * counts (a parse that resumes there, as per-line JSON lines parsing does, would meet it).
 */
export function jsonNestsDeeperThan(text: string, max = MAX_JSON_DEPTH): boolean {
  // No text shorter than the limit can nest past it: short bodies (the one-row hot path) cost nothing.
  if (text.length <= max) return false;
  let depth = 0;
  STRUCTURAL.lastIndex = 0;
  // test() and lastIndex, not exec(): no match object per bracket. A 6 MB v2 body of numbers took
  // about a twentieth of its JSON.parse, a character-by-character loop a third.
  while (STRUCTURAL.test(text)) {
    const at = STRUCTURAL.lastIndex - 1;
    const c = text.charCodeAt(at);
    if (c === 0x22 /* " */) {
      const end = closingQuote(text, at);
      // An unclosed string: JSON.parse stops there, having built nothing deeper than what came before.
      if (end < 0) return false;
      STRUCTURAL.lastIndex = end + 1;
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) return true;
    } else if (depth > 0) {
      depth--;
    }
  }
  return false;
}

/** Where the string opened at `open` closes: the next quote after an even run of backslashes, or -1. */
export function closingQuote(text: string, open: number): number {
  let end = open;
  for (;;) {
    end = text.indexOf('"', end + 1);
    if (end < 0) return -1;
    let b = end - 1;
    while (text.charCodeAt(b) === 0x5c /* \ */) b--;
    if ((end - 1 - b) % 2 === 0) return end;
  }
}

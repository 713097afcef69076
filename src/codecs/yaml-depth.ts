/**
 * Deepest a YAML text may nest its collections (mappings and lists, block or flow) before it is
 * parsed: far above any configuration file, and below the depth (about 800 on Node 20) at which
 * the package's composer runs out of call stack. The package's memory grows with the depth, and it
 * keeps every level until the document ends: a 16 MB `[[[[...]]]]` (8 million levels) took over
 * 4 GB of heap and ended the process (out of memory); `- - - - x` on one line nests as deep,
 * without indentation.
 */
export const MAX_YAML_DEPTH = 512;

/** The parser's tokens for an open mapping or list. */
const COLLECTIONS: ReadonlySet<string> = new Set(['block-map', 'block-seq', 'flow-collection']);

/**
 * True when `text` nests its collections deeper than `max` (see {@link MAX_YAML_DEPTH}). Reads the
 * text through the package's lexer and concrete-syntax parser one token at a time, and stops at the
 * first token past the limit, so a hostile text costs no more than `max` levels.
 */
export function yamlNestsDeeperThan(yaml: typeof import('yaml'), text: string, max = MAX_YAML_DEPTH): boolean {
  // Each level takes a character at least: no text shorter than the limit can nest past it.
  if (text.length <= max) return false;
  const parser = new yaml.Parser();
  for (const lexeme of new yaml.Lexer().lex(text)) {
    // The documents it yields are dropped: only the depth is wanted.
    for (const _ of parser.next(lexeme));
    const { stack } = parser;
    // The parser's stack is the document, the collections open around the token, and on top the
    // node being read when that is a scalar: the collections alone are the depth, as a reader counts it.
    if (stack.length > max + 1 && stack.length - 1 - (COLLECTIONS.has(stack[stack.length - 1]!.type) ? 0 : 1) > max) return true;
  }
  return false;
}

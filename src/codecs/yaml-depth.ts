/**
 * Deepest a YAML text may nest its collections (block or flow) before it is parsed, counted as the
 * YAML package's parser counts its open nodes (a document's top-level mapping is already 2 or 3):
 * far above any configuration file. The package's memory grows with the depth, and it keeps every
 * level until the document ends: a 16 MB `[[[[...]]]]` (8 million levels) took over 4 GB of heap and
 * ended the process (out of memory); `- - - - x` on one line nests as deep, without indentation.
 */
export const MAX_YAML_DEPTH = 512;

/**
 * True when `text` nests deeper than `max` (see {@link MAX_YAML_DEPTH}). Reads the text through the
 * package's lexer and concrete-syntax parser one token at a time, and stops at the first token past
 * the limit, so a hostile text costs no more than `max` levels.
 */
export function yamlNestsDeeperThan(yaml: typeof import('yaml'), text: string, max = MAX_YAML_DEPTH): boolean {
  // Each level takes a character at least: no text shorter than the limit can nest past it.
  if (text.length <= max) return false;
  const parser = new yaml.Parser();
  for (const lexeme of new yaml.Lexer().lex(text)) {
    // The documents it yields are dropped: only the depth is wanted.
    for (const _ of parser.next(lexeme));
    if (parser.stack.length > max) return true;
  }
  return false;
}

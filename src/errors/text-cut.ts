/**
 * The first `max` UTF-16 units of `text`, less a high surrogate the cut parted from its pair. The
 * service models' string lengths count characters (code points, by Smithy's length trait), and
 * `max` units never hold more than `max` of them: the cut keeps within such a limit, and falls
 * short of it for text of emoji. A message cut in a pair carries a lone surrogate: JSON writes it
 * as `\ud83d`, which Python's json (boto3, the AWS CLI) reads into a string that cannot be printed
 * or encoded as UTF-8 (`UnicodeEncodeError: surrogates not allowed`).
 */
export function firstChars(text: string, max: number): string {
  const cut = text.slice(0, Math.max(0, max));
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/** The last `max` characters of `text`, less a low surrogate the cut parted from its pair (see {@link firstChars}). */
export function lastChars(text: string, max: number): string {
  if (max <= 0) return '';
  const cut = text.slice(-max);
  return /^[\udc00-\udfff]/.test(cut) ? cut.slice(1) : cut;
}

/**
 * `text` in at most `max` characters: whole when it fits, else its start and its end with `...`
 * between them (whole characters, see {@link firstChars}). A message's end says what went wrong
 * (`: Access Denied`, `: ENOSPC …`) and its start what was being done: a long S3 key or path in the
 * middle is what gives way, where a cut at the end would drop the cause.
 */
export function startAndEnd(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max < 5) return firstChars(text, max);
  const room = max - 3;
  const head = Math.ceil(room / 2);
  return `${firstChars(text, head)}...${lastChars(text, room - head)}`;
}

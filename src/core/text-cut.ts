/**
 * The first `max` characters of `text` (UTF-16 units, as the AWS API models count lengths), less a
 * high surrogate the cut parted from its pair. A message cut in a pair carries a lone surrogate:
 * JSON writes it as `\ud83d`, which Python's json (boto3, the AWS CLI) reads into a string that
 * cannot be printed or encoded as UTF-8 (`UnicodeEncodeError: surrogates not allowed`).
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

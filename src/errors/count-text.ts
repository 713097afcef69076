/**
 * A whole number as messages and the docs write a limit: digits grouped by three with spaces from
 * 10 000 up (`100 000`), as written otherwise below (`1000`, `3`). Other numbers are left as
 * `String` writes them.
 */
export function countText(n: number): string {
  if (!Number.isSafeInteger(n) || Math.abs(n) < 10_000) return String(n);
  return String(n).replace(/\B(?=(\d{3})+$)/g, ' ');
}

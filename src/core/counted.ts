/** `1 file`, `2 files`, `0 bytes`: a count with its noun in the number it takes (`1 files` was printed). */
export function counted(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

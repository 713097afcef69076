/**
 * A duration in milliseconds as a number of seconds for a message: whole seconds from 10 s, two
 * significant digits below (`0.25`, `1.5`), so a sub-second limit never reads "0 s".
 */
export function secondsText(ms: number): string {
  const s = ms / 1000;
  return String(s >= 10 ? Math.round(s) : Number(s.toPrecision(2)));
}

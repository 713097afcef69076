/** An ISO 8601 date, or date and time, with an optional fraction of a second and UTC offset. */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/i;

/**
 * The instant (epoch milliseconds) an awsJson timestamp member names: epoch seconds, as the SDKs
 * send it, or an ISO 8601 date as text (UTC unless it names an offset); undefined for anything else.
 * Text is read as ISO 8601 only: `Date.parse` also takes "0" (the year 2000), "12" (December 2001)
 * and "March 7, 2020" (in the local time zone), which would filter by a date the caller never meant.
 */
export function timestampMillis(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value * 1000 : undefined;
  if (typeof value !== 'string') return undefined;
  const m = ISO_8601.exec(value);
  if (!m) return undefined;
  // A date and time without an offset is local time to Date.parse; the services know no local time.
  const millis = Date.parse(m[1] === undefined && /t/i.test(value) ? `${value}Z` : value);
  return Number.isNaN(millis) ? undefined : millis;
}

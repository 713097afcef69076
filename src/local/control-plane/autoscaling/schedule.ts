import { validationException } from './errors.js';

/**
 * A parsed `Schedule` of a scheduled action: `at(yyyy-mm-ddThh:mm:ss)`, `rate(value unit)` or
 * `cron(Minutes Hours Day-of-month Month Day-of-week Year)`, at and cron read in `Timezone`
 * (UTC by default), as the PutScheduledAction reference describes them. A cron expression may
 * also have seven fields, Seconds first, as the Application Auto Scaling User Guide allows
 * (https://docs.aws.amazon.com/autoscaling/application/userguide/scheduled-scaling-using-cron-expressions.html).
 */
export type Schedule =
  | { readonly kind: 'at'; readonly at: number }
  | { readonly kind: 'rate'; readonly seconds: number }
  | { readonly kind: 'cron'; readonly fields: CronFields; readonly timezone: string };

/** The allowed values of each cron field (day of week 1–7 is SUN–SAT). */
export interface CronFields {
  /** The seconds of a seven-field expression; `{0}` for a six-field one. */
  readonly seconds: ReadonlySet<number>;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  /** Undefined for `?`: the day is chosen by the day of week. */
  readonly daysOfMonth: ReadonlySet<number> | undefined;
  readonly months: ReadonlySet<number>;
  /** Undefined for `?`: the day is chosen by the day of month. */
  readonly daysOfWeek: ReadonlySet<number> | undefined;
  /** Undefined for `*`. */
  readonly years: ReadonlySet<number> | undefined;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const RATE_UNITS: Record<string, number> = { minute: 60, minutes: 60, hour: 3600, hours: 3600, day: 86_400, days: 86_400 };
/** Years a cron schedule is searched ahead for its next run. */
const CRON_HORIZON_YEARS = 5;

const invalid = (schedule: string, why: string) =>
  validationException(`Invalid schedule ${JSON.stringify(schedule.slice(0, 200))}: ${why}. Use at(yyyy-mm-ddThh:mm:ss), rate(value unit) or cron(Minutes Hours Day-of-month Month Day-of-week Year).`);

/** Checks `timezone` is an IANA time zone name; throws `ValidationException` naming it otherwise. */
export function checkTimezone(timezone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw validationException(`Invalid Timezone ${JSON.stringify(timezone.slice(0, 200))}: use the canonical name of an IANA time zone, such as Etc/GMT+9 or Pacific/Tahiti.`);
  }
}

/** Parses a `Schedule`; throws `ValidationException` saying what is wrong and which forms are taken. */
export function parseSchedule(schedule: string, timezone = 'UTC'): Schedule {
  const m = /^(at|rate|cron)\((.*)\)$/s.exec(schedule.trim());
  if (!m) throw invalid(schedule, 'it is none of the three forms');
  const body = m[2]!.trim();
  if (m[1] === 'at') {
    const at = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/.exec(body);
    if (!at) throw invalid(schedule, 'an at expression is at(yyyy-mm-ddThh:mm:ss)');
    const [y, mo, d, h, mi, s] = at.slice(1).map(Number) as [number, number, number, number, number, number];
    const utc = Date.UTC(y, mo - 1, d, h, mi, s);
    const back = new Date(utc);
    if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) throw invalid(schedule, 'that date and time do not exist');
    return { kind: 'at', at: wallTimeToUtc(utc, timezone) };
  }
  if (m[1] === 'rate') {
    const rate = /^(\d+)\s+([a-z]+)$/.exec(body);
    const unit = rate ? RATE_UNITS[rate[2]!] : undefined;
    if (!rate || unit === undefined || Number(rate[1]) < 1 || !Number.isSafeInteger(Number(rate[1]))) throw invalid(schedule, 'a rate expression is rate(value unit), value a positive integer and unit minute(s), hour(s) or day(s)');
    return { kind: 'rate', seconds: Number(rate[1]) * unit };
  }
  const parts = body.split(/\s+/);
  if (parts.length !== 6 && parts.length !== 7) throw invalid(schedule, `a cron expression has six fields (or seven, Seconds first), this one has ${parts.length}`);
  // Seven fields: the first is the seconds (the service does not promise to run on that second; this runs on it).
  const sec = parts.length === 7 ? parts.shift()! : undefined;
  const [min, hour, dom, month, dow, year] = parts as [string, string, string, string, string, string];
  const fields: CronFields = {
    seconds: sec === undefined ? new Set([0]) : cronField(schedule, sec, 'Seconds', 0, 59),
    minutes: cronField(schedule, min, 'Minutes', 0, 59),
    hours: cronField(schedule, hour, 'Hours', 0, 23),
    daysOfMonth: dom === '?' ? undefined : cronField(schedule, dom, 'Day-of-month', 1, 31),
    months: cronField(schedule, month, 'Month', 1, 12, MONTHS),
    daysOfWeek: dow === '?' ? undefined : cronField(schedule, dow, 'Day-of-week', 1, 7, DAYS),
    years: year === '*' ? undefined : cronField(schedule, year, 'Year', 1970, 2199),
  };
  // As in EventBridge's cron, which Application Auto Scaling's follows: one of the two day fields is
  // ?, the other a value or *. The service refuses cron(0 16 * * MON-FRI *) (terraform-provider-aws#13995).
  if ((dom === '?') === (dow === '?')) {
    throw invalid(schedule, `give ? as exactly one of the day of month and the day of week (${dom} and ${dow} here): the other one, a value or *, chooses the days, as in cron(0 9 ? * MON-FRI *) or cron(0 9 * * ? *)`);
  }
  return { kind: 'cron', fields, timezone };
}

function cronField(schedule: string, text: string, name: string, lo: number, hi: number, names?: readonly string[]): Set<number> {
  if (/[LW#]/.test(text)) throw invalid(schedule, `the ${name} field ${JSON.stringify(text)} uses L, W or #, which the local Application Auto Scaling does not run; list the values instead`);
  const value = (s: string): number => {
    const named = names?.indexOf(s.toUpperCase()) ?? -1;
    const n = named >= 0 ? named + 1 : /^\d+$/.test(s) ? Number(s) : NaN;
    if (!(n >= lo && n <= hi)) throw invalid(schedule, `the ${name} field takes ${lo} to ${hi}${names ? ` or ${names[0]}-${names[names.length - 1]}` : ''}, not ${JSON.stringify(s)}`);
    return n;
  };
  const out = new Set<number>();
  for (const item of text.split(',')) {
    const [range, stepText] = item.split('/') as [string, string | undefined];
    const step = stepText === undefined ? 1 : /^\d+$/.test(stepText) && Number(stepText) >= 1 ? Number(stepText) : NaN;
    if (Number.isNaN(step)) throw invalid(schedule, `the ${name} field has the step ${JSON.stringify(stepText)}: a step is a positive integer`);
    let from: number;
    let to: number;
    if (range === '*') [from, to] = [lo, hi];
    else if (range.includes('-')) {
      const [a, b] = range.split('-') as [string, string];
      [from, to] = [value(a), value(b)];
      if (from > to) throw invalid(schedule, `the ${name} range ${JSON.stringify(range)} runs backwards`);
    } else [from, to] = [value(range), stepText === undefined ? value(range) : hi];
    for (let n = from; n <= to; n += step) out.add(n);
  }
  return out;
}

/** One formatter per time zone: making one costs far more than using it. */
const formatters = new Map<string, Intl.DateTimeFormat>();

/** Offset of `timezone` from UTC at the instant `utc`, in milliseconds (positive east of Greenwich). */
function zoneOffset(utc: number, timezone: string): number {
  let format = formatters.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: timezone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(timezone, format);
  }
  const parts = format.formatToParts(new Date(utc));
  const get = (type: string): number => Number(parts.find((p) => p.type === type)!.value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return wall - Math.floor(utc / 1000) * 1000;
}

/** The UTC instant of a wall-clock time in `timezone` (the wall time given as if it were UTC). */
export function wallTimeToUtc(wall: number, timezone: string): number {
  if (timezone === 'UTC') return wall;
  // Twice: the offset at the first guess may differ from the offset at the answer across a DST change.
  const first = wall - zoneOffset(wall, timezone);
  return wall - zoneOffset(first, timezone);
}

/**
 * The first run of `schedule` strictly after `after` (epoch ms), or undefined when there is none
 * (an `at` time already past, a cron schedule with no match within {@link CRON_HORIZON_YEARS}
 * years). `rateMs` is the real length of a rate's interval (the local clock may scale it), counted
 * from `origin`.
 */
export function nextRun(schedule: Schedule, after: number, origin: number, rateMs: number): number | undefined {
  if (schedule.kind === 'at') return schedule.at > after ? schedule.at : undefined;
  if (schedule.kind === 'rate') return origin + (Math.floor(Math.max(0, after - origin) / rateMs) + 1) * rateMs;
  const f = schedule.fields;
  // Walk the wall-clock days of the zone from the day `after` falls on; within a day, hours and minutes in order.
  const start = new Date(after + zoneOffset(after, schedule.timezone));
  let day = Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate());
  const hours = [...f.hours].sort((a, b) => a - b);
  const minutes = [...f.minutes].sort((a, b) => a - b);
  const seconds = [...f.seconds].sort((a, b) => a - b);
  for (let i = 0; i < CRON_HORIZON_YEARS * 366; i++, day += 86_400_000) {
    const d = new Date(day);
    if (f.years && !f.years.has(d.getUTCFullYear())) continue;
    if (!f.months.has(d.getUTCMonth() + 1)) continue;
    if (f.daysOfMonth && !f.daysOfMonth.has(d.getUTCDate())) continue;
    if (f.daysOfWeek && !f.daysOfWeek.has(d.getUTCDay() + 1)) continue;
    for (const h of hours) {
      for (const m of minutes) {
        // A minute whose last second to run is not after `after` is passed over whole: a seven-field
        // schedule would otherwise convert up to 86 400 times of the day to find the next one.
        if (seconds.length > 1 && wallTimeToUtc(day + h * 3_600_000 + m * 60_000 + seconds[seconds.length - 1]! * 1000, schedule.timezone) <= after) continue;
        for (const sec of seconds) {
          const at = wallTimeToUtc(day + h * 3_600_000 + m * 60_000 + sec * 1000, schedule.timezone);
          if (at > after) return at;
        }
      }
    }
  }
  return undefined;
}

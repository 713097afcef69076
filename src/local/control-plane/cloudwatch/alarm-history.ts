import { firstChars } from '../../../errors/text-cut.js';
import { epochSeconds } from './metric-clock.js';
import { readTimestamp } from './metric-queries.js';
import { Violations } from './errors.js';
import { decodeToken, encodeToken, tokenNotGivenBy } from './page-token.js';

const HISTORY_ITEM_TYPES = ['ConfigurationUpdate', 'StateUpdate', 'Action', 'AlarmContributorStateUpdate', 'AlarmContributorAction'];
/** History items kept over all alarms. */
export const MAX_HISTORY_ITEMS = 10_000;

/** One alarm history item (DescribeAlarmHistory). */
interface HistoryItem {
  /** Position in the whole history, increasing: page tokens name it, so new items do not shift pages. */
  readonly seq: number;
  readonly alarmName: string;
  readonly type: 'ConfigurationUpdate' | 'StateUpdate' | 'Action';
  readonly summary: string;
  readonly at: number;
  readonly data: string;
}

/** `text` parsed when it is JSON, else `text` itself (for embedding StateReasonData in history data). */
export function parseIfJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The history of every alarm, oldest first and bounded to {@link MAX_HISTORY_ITEMS}: creations,
 * updates, state changes and the scaling actions run, as DescribeAlarmHistory reports them.
 */
export class AlarmHistory {
  private readonly items: HistoryItem[] = [];
  private nextSeq = 0;

  /** Records one item at real time `at`; `data` becomes the item's `HistoryData` JSON. */
  record(alarmName: string, type: HistoryItem['type'], summary: string, at: number, data: Record<string, unknown>): void {
    this.items.push({ seq: this.nextSeq++, alarmName, type, summary, at, data: firstChars(JSON.stringify(data), 4095) });
    if (this.items.length > MAX_HISTORY_ITEMS) this.items.splice(0, this.items.length - MAX_HISTORY_ITEMS);
  }

  /** DescribeAlarmHistory: filters by name, item type, dates and alarm types; newest first unless `ScanBy` says otherwise. */
  describe(input: Record<string, unknown>): Record<string, unknown> {
    const v = new Violations();
    const name = input.AlarmName;
    if (name !== undefined) v.length(name, 'alarmName', 1, 255);
    const type = input.HistoryItemType;
    if (type !== undefined && !HISTORY_ITEM_TYPES.includes(type as string)) v.add(type, 'historyItemType', `satisfy enum value set: [${HISTORY_ITEM_TYPES.join(', ')}]`);
    const scanBy = input.ScanBy ?? 'TimestampDescending';
    if (scanBy !== 'TimestampDescending' && scanBy !== 'TimestampAscending') v.add(scanBy, 'scanBy', 'satisfy enum value set: [TimestampDescending, TimestampAscending]');
    const maxRecords = input.MaxRecords ?? 100;
    v.range(maxRecords, 'maxRecords', 1, 100);
    const start = input.StartDate === undefined ? -Infinity : readTimestamp(input.StartDate);
    const end = input.EndDate === undefined ? Infinity : readTimestamp(input.EndDate);
    if (start === undefined) v.add(input.StartDate, 'startDate', 'be a timestamp');
    if (end === undefined) v.add(input.EndDate, 'endDate', 'be a timestamp');
    const types = input.AlarmTypes;
    if (types !== undefined && (!Array.isArray(types) || types.some((t) => !['CompositeAlarm', 'MetricAlarm', 'LogAlarm'].includes(t as string)))) {
      v.add(types, 'alarmTypes', 'satisfy enum value set: [CompositeAlarm, MetricAlarm, LogAlarm]');
    }
    v.throwIfAny();
    const wantMetric = types === undefined || (types as string[]).includes('MetricAlarm');
    const items = this.items.filter(
      (h) => wantMetric && (name === undefined || h.alarmName === name) && (type === undefined || h.type === type) && h.at >= start! && h.at <= end!,
    );
    const descending = scanBy === 'TimestampDescending';
    if (descending) items.reverse();
    // A token names the last item given (by its seq): the next page starts after it, whatever was recorded since.
    let rest = items;
    if (input.NextToken !== undefined) {
      const after = Number(decodeToken('DescribeAlarmHistory', input.NextToken));
      if (!Number.isInteger(after) || after < 0 || after >= this.nextSeq) throw tokenNotGivenBy('DescribeAlarmHistory');
      rest = items.filter((h) => (descending ? h.seq < after : h.seq > after));
    }
    const page = rest.slice(0, maxRecords as number);
    return {
      AlarmHistoryItems: page.map((h) => ({ AlarmName: h.alarmName, AlarmType: 'MetricAlarm', Timestamp: epochSeconds(h.at), HistoryItemType: h.type, HistorySummary: h.summary, HistoryData: h.data })),
      ...(page.length < rest.length ? { NextToken: encodeToken('DescribeAlarmHistory', String(page[page.length - 1]!.seq)) } : {}),
    };
  }
}

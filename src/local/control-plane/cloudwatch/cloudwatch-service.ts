import { partitionOf } from '../../../aws/partition.js';
import { withoutNulls } from '../../../aws/shapes/validate.js';
import type { AwsService } from '../../../aws/service.js';
import { readAlarmDefinition, readDimensions, STANDARD_UNITS, type AlarmDefinition } from './alarm-definition.js';
import { evaluateAlarm, evaluationIntervalSeconds, evaluationRangeLength, selectEvaluatedPeriods, type AlarmState, type EvaluatedPeriod } from './alarm-evaluation.js';
import { AlarmHistory, parseIfJson } from './alarm-history.js';
import { ScalingActionDispatcher } from './alarm-action-dispatch.js';
import { checkAlarmActions, forcedDatapoints, type ScalingActionHandler } from './alarm-actions.js';
import { getMetricData } from './get-metric-data.js';
import { getMetricStatistics, listMetrics } from './metric-queries.js';
import { putMetricData } from './put-metric-data.js';
import { decodeToken, encodeToken } from './page-token.js';
import { epochSeconds, type MetricClock } from './metric-clock.js';
import { BUCKET_SECONDS, bucketsPerPeriod, seriesKey, type MetricStore } from './metric-store.js';
import { parsePercentile, percentileValue, STATISTICS, statisticValue } from './statistics.js';
import {
  CLOUDWATCH_OPERATIONS,
  invalidFormat,
  invalidParameterCombination,
  limitExceeded,
  resourceNotFound,
  unknownOperation,
  validationError,
  Violations,
} from './errors.js';

/** A stored metric alarm and its evaluation state. */
interface StoredAlarm {
  def: AlarmDefinition;
  configUpdatedAt: number;
  state: AlarmState;
  reason: string;
  reasonData?: string;
  stateUpdatedAt: number;
  /** Real time of the next evaluation (a `SetAlarmState` holds until then). */
  nextEvaluationAt: number;
  /** The datapoints of the last evaluation (or of SetAlarmState's StateReasonData), for scaling actions. */
  datapoints: number[];
  /** Whether the current state was set by SetAlarmState. */
  forced: boolean;
  /** Real time the Auto Scaling actions of the current state run again (once per CloudWatch minute). */
  nextActionAt: number;
}

/** A change of an alarm's state, for in-process listeners such as the autoscaler. */
export interface AlarmStateChange {
  readonly alarmName: string;
  readonly previous: AlarmState;
  readonly state: AlarmState;
  readonly reason: string;
}

/** Options of {@link CloudWatchService}. */
export interface CloudWatchServiceOptions {
  readonly metrics: MetricStore;
  readonly clock: MetricClock;
  /** @defaultValue `us-east-1` */
  readonly region?: string;
  /** @defaultValue `000000000000` */
  readonly accountId?: string;
  /** Alarms kept at most (LimitExceeded past it). @defaultValue 5000 */
  readonly maxAlarms?: number;
}

const STATE_VALUES = ['OK', 'ALARM', 'INSUFFICIENT_DATA'] as const;

/** Shortest real time a state set by SetAlarmState holds before the alarm is evaluated again. */
export const MIN_FORCED_STATE_MS = 5000;

/**
 * `AlarmNames` (at most 100 names of 1 to 255 characters), each broken bound named as CloudWatch
 * names it: the list's length at `alarmNames`, a name's at `alarmNames.N.member`.
 */
function checkAlarmNames(v: Violations, names: unknown, required: boolean): void {
  if (names === undefined) {
    if (required) v.add(names, 'alarmNames', 'not be null');
    return;
  }
  if (!Array.isArray(names)) return v.add(names, 'alarmNames', 'be a list of alarm names');
  if (names.length > 100) return v.add(names, 'alarmNames', 'have length less than or equal to 100');
  names.forEach((n, i) => v.length(n, `alarmNames.${i + 1}.member`, 1, 255));
}

/**
 * The local CloudWatch (`GraniteServiceVersion20100801`): metric alarms evaluated on what the
 * local endpoints measure and what clients publish with `PutMetricData` ({@link MetricStore}),
 * plus `GetMetricStatistics`, `GetMetricData` and `ListMetrics`.
 * Each alarm is evaluated every minute (every 10 seconds for periods under a minute) on the
 * `EvaluationPeriods` periods that end then, a sliding window;
 * `SetAlarmState` sets a state that holds until the next evaluation, as on AWS. Actions that name
 * scaling policies are run by the service {@link CloudWatchService.setScalingActionHandler} sets.
 */
export class CloudWatchService implements AwsService {
  readonly targetPrefix = 'GraniteServiceVersion20100801';
  readonly signingName = 'monitoring';
  readonly awsQueryCompatible = true;
  private readonly alarms = new Map<string, StoredAlarm>();
  private readonly listeners: Array<(change: AlarmStateChange) => void> = [];
  /** Alarm history (it outlives deleted alarms, as on AWS). */
  private readonly history = new AlarmHistory();
  private readonly actions = new ScalingActionDispatcher(this.history, (name) => this.alarmArn(name));
  private readonly metrics: MetricStore;
  private readonly clock: MetricClock;
  private readonly region: string;
  private readonly accountId: string;
  private readonly maxAlarms: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: CloudWatchServiceOptions) {
    this.metrics = opts.metrics;
    this.clock = opts.clock;
    this.region = opts.region ?? 'us-east-1';
    this.accountId = opts.accountId ?? '000000000000';
    this.maxAlarms = opts.maxAlarms ?? 5000;
  }

  /** Starts evaluating alarms on a timer (unref'd: it never keeps the process alive). */
  start(): void {
    if (this.timer) return;
    const tick = Math.min(1000, Math.max(25, this.metrics.bucketMs / 2));
    this.timer = setInterval(() => this.evaluateDue(), tick);
    this.timer.unref();
  }

  /** Stops the evaluation timer. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Calls `listener` whenever an alarm changes state (evaluation or SetAlarmState). */
  onStateChange(listener: (change: AlarmStateChange) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Sets what runs the scaling policies alarms name in their actions (the local Application Auto
   * Scaling). Without it, such actions are recorded in the alarm history as failed.
   */
  setScalingActionHandler(handler: ScalingActionHandler): void {
    this.actions.setHandler(handler);
  }

  /** The alarms whose OK, ALARM or INSUFFICIENT_DATA actions name `actionArn` (DescribeScalingPolicies' `Alarms`). */
  alarmsWithAction(actionArn: string): Array<{ AlarmName: string; AlarmARN: string }> {
    return [...this.alarms.values()]
      .filter((a) => [...a.def.AlarmActions, ...a.def.OKActions, ...a.def.InsufficientDataActions].includes(actionArn))
      .map((a) => ({ AlarmName: a.def.AlarmName, AlarmARN: this.alarmArn(a.def.AlarmName) }))
      .sort((a, b) => (a.AlarmName < b.AlarmName ? -1 : 1));
  }

  /** Removes `actionArn` from every alarm's actions (a deleted step scaling policy), keeping the alarms. */
  removeAction(actionArn: string): void {
    for (const alarm of this.alarms.values()) {
      const d = alarm.def;
      if (![...d.AlarmActions, ...d.OKActions, ...d.InsufficientDataActions].includes(actionArn)) continue;
      alarm.def = {
        ...d,
        AlarmActions: d.AlarmActions.filter((x) => x !== actionArn),
        OKActions: d.OKActions.filter((x) => x !== actionArn),
        InsufficientDataActions: d.InsufficientDataActions.filter((x) => x !== actionArn),
      };
    }
  }

  private alarmArn(name: string): string {
    return `arn:${partitionOf(this.region)}:cloudwatch:${this.region}:${this.accountId}:alarm:${name}`;
  }

  /** The current state of an alarm, or undefined when there is none of that name. */
  alarmState(name: string): AlarmState | undefined {
    return this.alarms.get(name)?.state;
  }

  /** Runs one CloudWatch operation (JSON shapes, timestamps as epoch seconds); throws `CloudWatchError`. */
  async call(operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    // In the AWS JSON protocols a null member means "not set" (as the SageMaker and Logs services read it):
    // a required member sent as null is then missing ('Member must not be null'), an optional one absent.
    input = withoutNulls(input);
    switch (operation as (typeof CLOUDWATCH_OPERATIONS)[number]) {
      case 'PutMetricAlarm':
        return this.putMetricAlarm(input);
      case 'DescribeAlarms':
        return this.describeAlarms(input);
      case 'SetAlarmState':
        return this.setAlarmState(input);
      case 'DeleteAlarms':
        return this.deleteAlarms(input);
      case 'GetMetricStatistics':
        return getMetricStatistics(this.metrics, input, this.clock.now());
      case 'ListMetrics':
        return listMetrics(this.metrics, input, this.clock);
      case 'DescribeAlarmHistory':
        return this.history.describe(input);
      case 'DescribeAlarmsForMetric':
        return this.describeAlarmsForMetric(input);
      case 'EnableAlarmActions':
        return this.setActionsEnabled(input, true);
      case 'DisableAlarmActions':
        return this.setActionsEnabled(input, false);
      case 'PutMetricData':
        return putMetricData(this.metrics, input, this.clock.now());
      case 'GetMetricData':
        return getMetricData(this.metrics, input, this.clock.now());
      default:
        throw unknownOperation(operation);
    }
  }

  /**
   * Evaluates every alarm whose next evaluation time has come, then runs the Auto Scaling actions
   * that are due: an alarm invokes them on each state change and again once per minute while it
   * stays in that state (CloudWatch user guide, "Using Amazon CloudWatch alarms").
   */
  evaluateDue(now = this.clock.now()): void {
    for (const alarm of this.alarms.values()) {
      if (now < alarm.nextEvaluationAt) continue;
      this.evaluate(alarm, now);
    }
    for (const alarm of [...this.alarms.values()]) {
      if (now >= alarm.nextActionAt) this.runActions(alarm, now);
    }
  }

  private runActions(alarm: StoredAlarm, now: number): void {
    alarm.nextActionAt = now + this.clock.durationMs(60);
    this.actions.run(alarm, now);
  }

  private evaluate(alarm: StoredAlarm, now: number): void {
    const def = alarm.def;
    // The window slides: it ends at the last evaluation time (each minute, or each 10 seconds for
    // periods under a minute), not at a multiple of the period, so a breach shows within a minute.
    const step = evaluationIntervalSeconds(def.Period) / BUCKET_SECONDS;
    const end = Math.floor(this.metrics.bucketIndex(now) / step) * step;
    const perPeriod = bucketsPerPeriod(def.Period);
    const offset = ((end % perPeriod) + perPeriod) % perPeriod;
    const current = (end - offset) / perPeriod;
    const first = current - evaluationRangeLength(def.EvaluationPeriods);
    const aggregates = new Map(
      this.metrics.periods({ namespace: def.Namespace, metricName: def.MetricName, dimensions: def.Dimensions }, first, current, def.Period, def.Unit, offset).map((p) => [p.index, p]),
    );
    const percentile = def.ExtendedStatistic === undefined ? undefined : parsePercentile(def.ExtendedStatistic);
    const range: EvaluatedPeriod[] = [];
    for (let i = first; i < current; i++) {
      const p = aggregates.get(i);
      const start = this.metrics.periodStart(i, def.Period, offset);
      if (!p) range.push({ start });
      else {
        const value = percentile === undefined ? statisticValue(p.aggregate, def.Statistic!) : percentileValue(p.aggregate, percentile);
        range.push({ start, value, sampleCount: p.aggregate.count });
      }
    }
    // Evaluate a little after the boundary: an invocation is recorded at its arrival time once it
    // finishes, so the latest period keeps filling for a moment after it ends.
    alarm.nextEvaluationAt = (end + step) * this.metrics.bucketMs + this.evaluationDelayMs();
    const evaluated = selectEvaluatedPeriods(range, def.EvaluationPeriods);
    const verdict = evaluateAlarm(def, evaluated, now);
    if (!verdict) return;
    alarm.datapoints = evaluated.filter((p) => p.value !== undefined).map((p) => p.value!);
    alarm.forced = false;
    if (verdict.state !== alarm.state) this.transition(alarm, verdict.state, verdict.reason, verdict.reasonData, now);
  }

  /** How long after a period ends it is evaluated: one bucket, at most a second. */
  private evaluationDelayMs(): number {
    return Math.min(this.metrics.bucketMs, 1000);
  }

  private transition(alarm: StoredAlarm, state: AlarmState, reason: string, reasonData: string | undefined, now: number): void {
    const previous = alarm.state;
    alarm.state = state;
    alarm.reason = reason;
    alarm.reasonData = reasonData;
    alarm.stateUpdatedAt = now;
    if (previous === state) return;
    this.history.record(alarm.def.AlarmName, 'StateUpdate', `Alarm updated from ${previous} to ${state}`, now, {
      version: '1.0',
      oldState: { stateValue: previous },
      newState: { stateValue: state, stateReason: reason, ...(reasonData !== undefined ? { stateReasonData: parseIfJson(reasonData) } : {}) },
    });
    for (const listener of this.listeners) listener({ alarmName: alarm.def.AlarmName, previous, state, reason });
    this.runActions(alarm, now);
  }

  private putMetricAlarm(input: Record<string, unknown>): Record<string, unknown> {
    const def = readAlarmDefinition(input);
    checkAlarmActions(def, this.region);
    const now = this.clock.now();
    const existing = this.alarms.get(def.AlarmName);
    if (existing) {
      // An update keeps the state and overwrites the configuration (PutMetricAlarm reference).
      existing.def = def;
      existing.configUpdatedAt = now;
      existing.nextEvaluationAt = now;
      this.history.record(def.AlarmName, 'ConfigurationUpdate', `Alarm "${def.AlarmName}" updated`, now, { version: '1.0', type: 'Update' });
      return {};
    }
    if (this.alarms.size >= this.maxAlarms) throw limitExceeded(`The local CloudWatch holds at most ${this.maxAlarms} alarms; delete some first.`);
    this.alarms.set(def.AlarmName, {
      def,
      configUpdatedAt: now,
      state: 'INSUFFICIENT_DATA',
      reason: 'Unchecked: Initial alarm creation',
      stateUpdatedAt: now,
      nextEvaluationAt: now,
      datapoints: [],
      forced: false,
      nextActionAt: now + this.clock.durationMs(60),
    });
    this.history.record(def.AlarmName, 'ConfigurationUpdate', `Alarm "${def.AlarmName}" created`, now, { version: '1.0', type: 'Create' });
    return {};
  }

  private describeAlarmsForMetric(input: Record<string, unknown>): Record<string, unknown> {
    const v = new Violations();
    for (const [key, member] of [['Namespace', 'namespace'], ['MetricName', 'metricName']] as const) {
      const value = input[key];
      if (value === undefined) v.add(value, member, 'not be null');
      else v.length(value, member, 1, 255);
    }
    // A metric is its namespace, name and whole dimension set: no Dimensions names the metric without any.
    const dimensions = readDimensions(v, input.Dimensions);
    if (input.Statistic !== undefined && !(STATISTICS as readonly unknown[]).includes(input.Statistic)) v.add(input.Statistic, 'statistic', `satisfy enum value set: [${STATISTICS.join(', ')}]`);
    if (input.ExtendedStatistic !== undefined && typeof input.ExtendedStatistic !== 'string') v.add(input.ExtendedStatistic, 'extendedStatistic', 'be a string');
    const period = input.Period;
    if (period !== undefined && (typeof period !== 'number' || !Number.isInteger(period) || period < 1)) v.add(period, 'period', 'be an integer greater than or equal to 1');
    if (input.Unit !== undefined && !(STANDARD_UNITS as readonly unknown[]).includes(input.Unit)) v.add(input.Unit, 'unit', `satisfy enum value set: [${STANDARD_UNITS.join(', ')}]`);
    v.throwIfAny();
    const key = seriesKey({ namespace: '', metricName: '', dimensions });
    const matches = [...this.alarms.values()]
      .filter((a) => a.def.Namespace === input.Namespace && a.def.MetricName === input.MetricName)
      .filter((a) => seriesKey({ namespace: '', metricName: '', dimensions: a.def.Dimensions }) === key)
      .filter((a) => input.Statistic === undefined || a.def.Statistic === input.Statistic)
      .filter((a) => input.ExtendedStatistic === undefined || a.def.ExtendedStatistic === input.ExtendedStatistic)
      .filter((a) => input.Period === undefined || a.def.Period === input.Period)
      .filter((a) => input.Unit === undefined || a.def.Unit === input.Unit)
      .sort((a, b) => (a.def.AlarmName < b.def.AlarmName ? -1 : 1));
    return { MetricAlarms: matches.map((a) => this.describe(a)) };
  }

  private setActionsEnabled(input: Record<string, unknown>, enabled: boolean): Record<string, unknown> {
    const names = input.AlarmNames;
    const v = new Violations();
    checkAlarmNames(v, names, true);
    v.throwIfAny();
    for (const n of names as string[]) {
      const alarm = this.alarms.get(n);
      if (alarm) alarm.def = { ...alarm.def, ActionsEnabled: enabled };
    }
    return {};
  }

  private describeAlarms(input: Record<string, unknown>): Record<string, unknown> {
    const v = new Violations();
    const names = input.AlarmNames;
    checkAlarmNames(v, names, false);
    const prefix = input.AlarmNamePrefix;
    if (prefix !== undefined) v.length(prefix, 'alarmNamePrefix', 1, 255);
    const stateValue = input.StateValue;
    if (stateValue !== undefined && !STATE_VALUES.includes(stateValue as AlarmState)) v.add(stateValue, 'stateValue', `satisfy enum value set: [${STATE_VALUES.join(', ')}]`);
    const actionPrefix = input.ActionPrefix;
    if (actionPrefix !== undefined) v.length(actionPrefix, 'actionPrefix', 1, 1024);
    const maxRecords = input.MaxRecords ?? 50;
    v.range(maxRecords, 'maxRecords', 1, 100);
    const types = input.AlarmTypes;
    if (types !== undefined && (!Array.isArray(types) || types.some((t) => !['CompositeAlarm', 'MetricAlarm', 'LogAlarm'].includes(t as string)))) {
      v.add(types, 'alarmTypes', 'satisfy enum value set: [CompositeAlarm, MetricAlarm, LogAlarm]');
    }
    const family = (['ChildrenOfAlarmName', 'ParentsOfAlarmName'] as const).filter((k) => input[k] !== undefined);
    for (const k of family) {
      const value = input[k];
      v.length(value, k.charAt(0).toLowerCase() + k.slice(1), 1, 255);
    }
    v.throwIfAny();
    if (names !== undefined && prefix !== undefined) throw invalidParameterCombination('AlarmNames and AlarmNamePrefix cannot be used together.');
    if (family.length > 0) {
      // Only MaxRecords and NextToken may go with them (DescribeAlarms reference).
      const others = ['AlarmNames', 'AlarmNamePrefix', 'AlarmTypes', 'StateValue', 'ActionPrefix', 'ChildrenOfAlarmName', 'ParentsOfAlarmName'].filter((k) => input[k] !== undefined && !(k === family[0]));
      if (others.length > 0) throw validationError(`${family[0]} cannot be used with ${others.join(', ')}: only MaxRecords and NextToken may go with it.`);
      // The relatives of an alarm are composite alarms (its parents) or a composite's children: there are no composite alarms locally.
      if (input.NextToken !== undefined) decodeToken('DescribeAlarms', input.NextToken);
      return { MetricAlarms: [], CompositeAlarms: [] };
    }

    let after: string | undefined;
    if (input.NextToken !== undefined) after = decodeToken('DescribeAlarms', input.NextToken);
    const wantMetric = types === undefined || (types as string[]).includes('MetricAlarm');
    const selected = wantMetric
      ? [...this.alarms.values()]
          .filter((a) => names === undefined || (names as string[]).includes(a.def.AlarmName))
          .filter((a) => prefix === undefined || a.def.AlarmName.startsWith(prefix as string))
          .filter((a) => stateValue === undefined || a.state === stateValue)
          .filter((a) => actionPrefix === undefined || [...a.def.AlarmActions, ...a.def.OKActions, ...a.def.InsufficientDataActions].some((x) => x.startsWith(actionPrefix as string)))
          .sort((a, b) => (a.def.AlarmName < b.def.AlarmName ? -1 : 1))
          .filter((a) => after === undefined || a.def.AlarmName > after)
      : [];
    const page = selected.slice(0, maxRecords as number);
    const out: Record<string, unknown> = { MetricAlarms: page.map((a) => this.describe(a)), CompositeAlarms: [] };
    if (selected.length > page.length) out.NextToken = encodeToken('DescribeAlarms', page[page.length - 1]!.def.AlarmName);
    return out;
  }

  private describe(a: StoredAlarm): Record<string, unknown> {
    const d = a.def;
    return {
      AlarmName: d.AlarmName,
      AlarmArn: this.alarmArn(d.AlarmName),
      ...(d.AlarmDescription !== undefined ? { AlarmDescription: d.AlarmDescription } : {}),
      AlarmConfigurationUpdatedTimestamp: epochSeconds(a.configUpdatedAt),
      ActionsEnabled: d.ActionsEnabled,
      OKActions: [...d.OKActions],
      AlarmActions: [...d.AlarmActions],
      InsufficientDataActions: [...d.InsufficientDataActions],
      StateValue: a.state,
      StateReason: a.reason,
      ...(a.reasonData !== undefined ? { StateReasonData: a.reasonData } : {}),
      StateUpdatedTimestamp: epochSeconds(a.stateUpdatedAt),
      MetricName: d.MetricName,
      Namespace: d.Namespace,
      ...(d.Statistic !== undefined ? { Statistic: d.Statistic } : {}),
      ...(d.ExtendedStatistic !== undefined ? { ExtendedStatistic: d.ExtendedStatistic } : {}),
      Dimensions: d.Dimensions.map((x) => ({ Name: x.Name, Value: x.Value })),
      Period: d.Period,
      ...(d.Unit !== undefined ? { Unit: d.Unit } : {}),
      EvaluationPeriods: d.EvaluationPeriods,
      ...(d.DatapointsToAlarm !== undefined ? { DatapointsToAlarm: d.DatapointsToAlarm } : {}),
      Threshold: d.Threshold,
      ComparisonOperator: d.ComparisonOperator,
      ...(d.TreatMissingData !== undefined ? { TreatMissingData: d.TreatMissingData } : {}),
      ...(d.EvaluateLowSampleCountPercentile !== undefined ? { EvaluateLowSampleCountPercentile: d.EvaluateLowSampleCountPercentile } : {}),
      StateTransitionedTimestamp: epochSeconds(a.stateUpdatedAt),
    };
  }

  private setAlarmState(input: Record<string, unknown>): Record<string, unknown> {
    const v = new Violations();
    const name = input.AlarmName;
    if (name === undefined) v.add(name, 'alarmName', 'not be null');
    else v.length(name, 'alarmName', 1, 255);
    const state = input.StateValue;
    if (!STATE_VALUES.includes(state as AlarmState)) v.add(state, 'stateValue', state === undefined ? 'not be null' : `satisfy enum value set: [${STATE_VALUES.join(', ')}]`);
    const reason = input.StateReason;
    if (typeof reason !== 'string' || reason.length > 1023) v.add(reason, 'stateReason', reason === undefined ? 'not be null' : 'have length less than or equal to 1023');
    const data = input.StateReasonData;
    if (data !== undefined && (typeof data !== 'string' || data.length > 4000)) v.add(data, 'stateReasonData', 'have length less than or equal to 4000');
    v.throwIfAny();
    if (data !== undefined) {
      try {
        JSON.parse(data as string);
      } catch {
        throw invalidFormat('StateReasonData must be valid JSON.');
      }
    }
    const alarm = this.alarms.get(name as string);
    if (!alarm) throw resourceNotFound(`Alarm ${name as string} does not exist.`);
    const now = this.clock.now();
    // The forced state holds until the next evaluation: CloudWatch evaluates an alarm every minute,
    // every 10 seconds when its period is under a minute (user guide, "Using Amazon CloudWatch
    // alarms"), whatever the period; and at least MIN_FORCED_STATE_MS of real time, so that pollers
    // such as a deployment's alarm watch see it.
    alarm.nextEvaluationAt = now + Math.max(MIN_FORCED_STATE_MS, this.clock.durationMs(alarm.def.Period < 60 ? 10 : 60));
    // Scaling policies take the breach from the datapoints StateReasonData carries (SetAlarmState reference).
    alarm.datapoints = forcedDatapoints(data as string | undefined);
    alarm.forced = true;
    this.transition(alarm, state as AlarmState, reason as string, data as string | undefined, now);
    return {};
  }

  private deleteAlarms(input: Record<string, unknown>): Record<string, unknown> {
    const names = input.AlarmNames;
    const v = new Violations();
    checkAlarmNames(v, names, true);
    v.throwIfAny();
    // "If you specify any incorrect alarm names, the alarms you specify with correct names are still
    // deleted" (DeleteAlarms reference): unknown names are passed over, and the answer is a success.
    for (const n of names as string[]) this.alarms.delete(n);
    return {};
  }
}

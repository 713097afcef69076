import { Worker } from 'node:worker_threads';
import { validationException as validation } from '../../aws/service.js';
import type { EndpointLog } from '../endpoint/local-endpoint.js';
import type { MetricStore } from './cloudwatch/metric-store.js';
import { translatePythonRegex } from './python-regex.js';

/** The CloudWatch namespace of training jobs' metrics (SageMaker developer guide, "Monitor and analyze training jobs using Amazon CloudWatch metrics"). */
export const TRAINING_JOBS_NAMESPACE = '/aws/sagemaker/TrainingJobs';

/** How much of a line the metric definitions are matched against: its first 4096 characters. */
export const MAX_METRIC_LINE_CHARS = 4096;

/** How long one regular expression may run on one line before its definition is disabled for the job. */
export const METRIC_REGEX_BUDGET_MS = 1000;

/** Characters of lines waiting to be matched, at most; lines past it are not matched (a job printing faster than its regexes run). */
const MAX_PENDING_CHARS = 4 * 1024 * 1024;

/** Lines sent to the worker at once. */
const MAX_BATCH_LINES = 256;

/** A decimal number as Python's `float()` reads one, once its digits are ASCII: `_` may separate digits. */
const DECIMAL = /^[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/;

/** What `float()` strips around a number: ASCII whitespace, and Unicode whitespace past ASCII (it reads U+001C to U+001F as no space). */
const FLOAT_SPACE = /^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

/** A decimal digit of any script (Unicode category Nd, which Unicode assigns in runs of ten from 0 to 9). */
const UNICODE_DIGIT = /\p{Nd}/u;

/** `AlgorithmSpecification.MetricDefinitions[n]` as the request gives it. */
export interface MetricDefinitionInput {
  Name: string;
  Regex: string;
}

/** A metric definition whose `Regex` is ready for JavaScript's `RegExp`. */
export interface CompiledMetricDefinition {
  /** Its place in `MetricDefinitions`. */
  index: number;
  name: string;
  source: string;
  flags: string;
  /** The JavaScript group number of the regex's first group, whose text is the value. */
  group: number;
}

/** What the worker is started with. */
export interface MetricWorkerData {
  definitions: CompiledMetricDefinition[];
  /** Three Int32 slots the worker writes: the line and the definition being matched, and a count of matches begun. */
  progress: SharedArrayBuffer;
}

/** Lines for the worker to match. */
export interface MetricBatch {
  id: number;
  lines: string[];
}

/** What the worker found in a batch: `[line, definition index, first group]` per match. */
export interface MetricBatchResult {
  id: number;
  found: Array<[line: number, index: number, captured: string]>;
}

/** `MetricDefinitions` for the compile worker. */
export interface CompileRequest {
  id: number;
  definitions: readonly MetricDefinitionInput[];
}

/** The compile worker's answer: the definitions compiled, or the `ValidationException` message that refuses them. */
export type CompileResult = { id: number; compiled: CompiledMetricDefinition[] } | { id: number; invalid: string };

/** A metric's latest value, as `DescribeTrainingJob`'s `FinalMetricDataList` gives it. */
export interface FinalMetric {
  name: string;
  value: number;
  /** When the line was read, epoch ms. */
  at: number;
}

/**
 * The metric definitions of a `CreateTrainingJob` request, compiled; throws a
 * `ValidationException` naming the definition whose `Regex` JavaScript cannot run, or that has no
 * capturing group (a metric's value is what its first group captures).
 */
export function compileMetricDefinitions(definitions: readonly MetricDefinitionInput[] | undefined): CompiledMetricDefinition[] {
  return (definitions ?? []).map((d, index) => {
    const what = `AlgorithmSpecification.MetricDefinitions[${index}] (${d.Name}): Regex ${JSON.stringify(d.Regex)}`;
    let compiled: ReturnType<typeof translatePythonRegex>;
    try {
      compiled = translatePythonRegex(d.Regex);
      new RegExp(compiled.source, compiled.flags);
    } catch (err) {
      throw validation(
        `${what} cannot be run by the local SageMaker, which reads it as Python's re module does and matches it with a JavaScript regular expression: ${(err as Error).message}. Write it in the syntax both share.`,
      );
    }
    if (compiled.group === undefined) throw validation(`${what} has no capturing group: the metric's value is what the first group captures, as in "loss=(\\S+)". Put parentheses around the number.`);
    return { index, name: d.Name, source: compiled.source, flags: compiled.flags, group: compiled.group };
  });
}

/** A compile the worker has not answered yet. */
interface PendingCompile {
  worker: Worker;
  definitions: readonly MetricDefinitionInput[];
  resolve(compiled: CompiledMetricDefinition[]): void;
  reject(err: unknown): void;
}

/**
 * {@link compileMetricDefinitions} in a worker thread, with the same answers. V8 builds each
 * Unicode property class of a regex as it parses it, and a Python `\b` translates to four of them,
 * so forty 500-character regexes take seconds to compile: on the control plane's thread that would
 * hold every other request. One worker, started on first use, answers in turn and does not keep
 * the process alive; should it fail, what it had not answered is compiled on this thread, and
 * once {@link stop} has ended it, what it had not answered is rejected.
 */
export class MetricDefinitionsCompiler {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, PendingCompile>();

  /** The definitions compiled; rejects with the `ValidationException` {@link compileMetricDefinitions} throws. */
  compile(definitions: readonly MetricDefinitionInput[] | undefined): Promise<CompiledMetricDefinition[]> {
    if (definitions === undefined || definitions.length === 0) return Promise.resolve([]);
    const worker = (this.worker ??= this.start());
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { worker, definitions, resolve, reject });
      worker.postMessage({ id, definitions } satisfies CompileRequest);
    });
  }

  /**
   * Ends the worker; compiles it had not answered are rejected, not finished on this thread, where
   * they would hold the stop for seconds for answers nobody uses.
   */
  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker === undefined) return;
    for (const [id, p] of this.pending) {
      if (p.worker !== worker) continue;
      this.pending.delete(id);
      p.reject(new Error('The MetricDefinitions compiler was stopped before it answered.'));
    }
    await worker.terminate();
  }

  private start(): Worker {
    const worker = new Worker(new URL('./training-metrics-compile-worker.js', import.meta.url));
    worker.unref();
    worker.on('message', (result: CompileResult) => {
      const p = this.pending.get(result.id);
      if (!p) return;
      this.pending.delete(result.id);
      if ('invalid' in result) p.reject(validation(result.invalid));
      else p.resolve(result.compiled);
    });
    const ended = (): void => {
      if (this.worker === worker) this.worker = undefined;
      for (const [id, p] of this.pending) {
        if (p.worker !== worker) continue;
        this.pending.delete(id);
        try {
          p.resolve(compileMetricDefinitions(p.definitions));
        } catch (err) {
          p.reject(err);
        }
      }
    };
    worker.on('error', ended);
    worker.on('exit', ended);
    return worker;
  }
}

/**
 * The number a first group captured, as Python's `float()` reads it (digits of any script, `_`
 * between digits, Unicode whitespace around it), or undefined when it is none or not finite: `nan`
 * and `inf` are skipped too.
 */
export function metricValue(captured: string): number | undefined {
  let text = '';
  for (const ch of captured.replace(FLOAT_SPACE, '')) text += UNICODE_DIGIT.test(ch) ? String(digitValue(ch.codePointAt(0)!)) : ch;
  if (!DECIMAL.test(text)) return undefined;
  const value = Number(text.replaceAll('_', ''));
  return Number.isFinite(value) ? value : undefined;
}

/** The value of the decimal digit at `cp`: its place in its run of ten (runs may follow one another, as the mathematical digits do). */
function digitValue(cp: number): number {
  let start = cp;
  while (UNICODE_DIGIT.test(String.fromCodePoint(start - 1))) start--;
  return (cp - start) % 10;
}

/** Options of {@link TrainingMetrics}. */
export interface TrainingMetricsOptions {
  jobName: string;
  definitions: readonly CompiledMetricDefinition[];
  /** The local CloudWatch's store, when it runs: each value goes to it. */
  metrics?: Pick<MetricStore, 'put' | 'notifyRecorded'>;
  log?: EndpointLog;
  /** @defaultValue {@link METRIC_REGEX_BUDGET_MS} */
  budgetMs?: number;
}

/**
 * A training job's `MetricDefinitions`, applied to each line of its output as SageMaker applies
 * them: the first group each definition's regex captures in a line, when it is a number, is a
 * value of that metric in CloudWatch (namespace `/aws/sagemaker/TrainingJobs`, dimension
 * `TrainingJobName`) and its latest value is in `FinalMetricDataList`. The regexes run in a worker
 * thread: one that runs longer than the budget on a line is disabled for the job, with a warning,
 * and the worker replaced, so no regex can stall the control plane.
 */
export class TrainingMetrics {
  /** Each definition's latest value, by its index. */
  readonly final = new Map<number, FinalMetric>();
  private readonly disabled = new Set<number>();
  private readonly budgetMs: number;
  private pending: Array<{ text: string; at: number }> = [];
  private pendingChars = 0;
  private dropped = 0;
  private inFlight: { id: number; lines: Array<{ text: string; at: number }> } | undefined;
  private nextId = 0;
  private worker: Worker | undefined;
  private progress = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  private sentCount = 0;
  private lastCount: number | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private idle: Array<() => void> = [];
  private closed = false;

  constructor(private readonly opts: TrainingMetricsOptions) {
    this.budgetMs = opts.budgetMs ?? METRIC_REGEX_BUDGET_MS;
  }

  /** Matches one line of the job's output (its first {@link MAX_METRIC_LINE_CHARS} characters), read at `at`. */
  line(text: string, at = Date.now()): void {
    // A line after close() (a process the entry point left behind still printing) would start a worker nothing ends.
    if (this.closed || this.active().length === 0) return;
    const cut = text.length > MAX_METRIC_LINE_CHARS ? text.slice(0, MAX_METRIC_LINE_CHARS) : text;
    if (this.pendingChars + cut.length > MAX_PENDING_CHARS) {
      if (this.dropped++ === 0) this.opts.log?.('warn', 'training job prints faster than its metric definitions are matched; lines are skipped for metrics until they catch up', { trainingJob: this.opts.jobName });
      return;
    }
    this.pending.push({ text: cut, at });
    this.pendingChars += cut.length;
    this.pump();
  }

  /** Resolves once every line given so far has been matched; the worker is then ended, and later lines are not matched. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.inFlight || this.pending.length > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    this.stopWorker();
  }

  private active(): CompiledMetricDefinition[] {
    return this.opts.definitions.filter((d) => !this.disabled.has(d.index));
  }

  private pump(): void {
    if (this.inFlight) return;
    if (this.pending.length === 0 || this.active().length === 0) {
      this.pending = [];
      this.pendingChars = 0;
      clearInterval(this.watchdog);
      this.watchdog = undefined;
      for (const resolve of this.idle.splice(0)) resolve();
      return;
    }
    const lines = this.pending.splice(0, MAX_BATCH_LINES);
    for (const l of lines) this.pendingChars -= l.text.length;
    this.send({ id: ++this.nextId, lines });
  }

  private send(batch: { id: number; lines: Array<{ text: string; at: number }> }): void {
    this.inFlight = batch;
    const worker = (this.worker ??= this.startWorker());
    this.sentCount = Atomics.load(this.progress, 2);
    this.lastCount = undefined;
    worker.postMessage({ id: batch.id, lines: batch.lines.map((l) => l.text) } satisfies MetricBatch);
    if (!this.watchdog) {
      this.watchdog = setInterval(() => this.check(), this.budgetMs);
      this.watchdog.unref();
    }
  }

  private startWorker(): Worker {
    const progress = new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT);
    this.progress = new Int32Array(progress);
    const worker = new Worker(new URL('./training-metrics-worker.js', import.meta.url), {
      workerData: { definitions: this.active(), progress } satisfies MetricWorkerData,
      // A line is at most 4096 characters: matching never needs much.
      resourceLimits: { maxOldGenerationSizeMb: 64 },
    });
    worker.unref();
    worker.on('message', (result: MetricBatchResult) => this.received(worker, result));
    worker.on('error', (err) => {
      if (worker !== this.worker) return;
      this.opts.log?.('warn', 'training job metrics stopped: their worker failed', { trainingJob: this.opts.jobName, error: err.message });
      for (const d of this.opts.definitions) this.disabled.add(d.index);
      this.stopWorker();
      this.inFlight = undefined;
      this.pump();
    });
    return worker;
  }

  private received(worker: Worker, result: MetricBatchResult): void {
    const batch = this.inFlight;
    if (worker !== this.worker || !batch || batch.id !== result.id) return;
    let recorded = false;
    for (const [line, index, captured] of result.found) {
      const value = metricValue(captured);
      const definition = this.opts.definitions[index];
      if (value === undefined || !definition || this.disabled.has(index)) continue;
      const at = batch.lines[line]!.at;
      this.final.set(index, { name: definition.name, value, at });
      this.opts.metrics?.put({ namespace: TRAINING_JOBS_NAMESPACE, metricName: definition.name, dimensions: [{ Name: 'TrainingJobName', Value: this.opts.jobName }] }, value, 'None', at);
      recorded = true;
    }
    if (recorded) this.opts.metrics?.notifyRecorded();
    this.inFlight = undefined;
    this.pump();
  }

  /**
   * Called every budget: a match begun in this batch that has not moved on since the last call has
   * run at least the budget, so its definition is disabled and the batch sent again to a new worker
   * (the lines already matched give the same values again).
   */
  private check(): void {
    const batch = this.inFlight;
    if (!batch) return;
    const count = Atomics.load(this.progress, 2);
    // Not stuck: still starting (nothing begun since the batch was sent), or moving.
    if (count === this.sentCount || count !== this.lastCount) {
      this.lastCount = count;
      return;
    }
    const index = Atomics.load(this.progress, 1);
    const definition = this.opts.definitions[index]!;
    this.disabled.add(index);
    this.opts.log?.('warn', `training job metric disabled: its regular expression ran longer than ${this.budgetMs} ms on one line`, {
      trainingJob: this.opts.jobName,
      metric: definition.name,
      regex: definition.source,
    });
    this.stopWorker();
    this.inFlight = undefined;
    if (this.active().length === 0) return this.pump();
    this.send(batch);
  }

  private stopWorker(): void {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) void worker.terminate();
    if (!this.inFlight) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
    }
  }
}

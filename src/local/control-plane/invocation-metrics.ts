/** What the runtime measured for one invocation, for CloudWatch's AWS/SageMaker metrics. */
export interface InvocationRecord {
  endpoint: string;
  variant: string;
  /** When the invocation arrived, epoch ms. */
  at: number;
  /**
   * `4xx`: counted as `Invocation4XXErrors` (the model answered 4xx, or the request named a
   * model or variant that cannot serve it); `5xx`: `Invocation5XXErrors` (the model answered 5xx,
   * timed out or could not be reached).
   */
  outcome: 'ok' | '4xx' | '5xx';
  /** Time the container(s) took, in microseconds (`ModelLatency`). */
  modelLatencyMicros?: number;
  /** Time the front door added around the containers, in microseconds (`OverheadLatency`). */
  overheadLatencyMicros?: number;
  /** Instances of the variant serving at that moment (for `InvocationsPerInstance`). */
  instanceCount: number;
}

/** Receives one {@link InvocationRecord} per production-variant invocation. */
export interface InvocationMetricsSink {
  record(r: InvocationRecord): void;
  /** A serverless variant's cold start took `micros` (CloudWatch's `ModelSetupTime`). */
  recordModelSetup?(endpoint: string, variant: string, micros: number, at: number): void;
}

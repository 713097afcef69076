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
  /**
   * The model container's answer was not a 2xx: its 4xx or 5xx, no answer (a refused or reset
   * connection, a timeout) or one that was not HTTP, as `InvocationModelErrors` counts them. A
   * request the front door refused before any container answered (a `TargetModel` or
   * `TargetContainerHostname` it cannot serve, a model still loading) is an error for
   * `outcome`, not the model's.
   */
  modelError?: boolean;
  /** Time the container(s) took, in microseconds (`ModelLatency`). */
  modelLatencyMicros?: number;
  /** Time the front door added around the containers, in microseconds (`OverheadLatency`). */
  overheadLatencyMicros?: number;
  /** Instances of the variant serving at that moment (for `InvocationsPerInstance`), an endpoint's own for an inference component's invocation. */
  instanceCount: number;
  /**
   * The inference component the invocation named, and its copies serving at that moment: its
   * metrics are also published under the `InferenceComponentName` dimension, with
   * `InvocationsPerCopy` (1 ÷ `copies`).
   */
  inferenceComponent?: { name: string; copies: number };
  /**
   * An `InvokeEndpointAsync` invocation: SageMaker publishes no `Invocations`,
   * `InvocationsPerInstance` or `OverheadLatency` for an asynchronous endpoint, only the errors and
   * `ModelLatency` (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-monitor.html).
   */
  asynchronous?: boolean;
  /**
   * An invocation of a serverless variant: AWS's list of a serverless endpoint's metrics, which it
   * calls exhaustive, has no `InvocationsPerInstance`
   * (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-monitoring.html).
   */
  serverless?: boolean;
}

/** Receives one {@link InvocationRecord} per production-variant or inference-component invocation. */
export interface InvocationMetricsSink {
  record(r: InvocationRecord): void;
  /** A serverless variant's cold start took `micros` (CloudWatch's `ModelSetupTime`). */
  recordModelSetup?(endpoint: string, variant: string, micros: number, at: number): void;
  /** Inference component `component` had no copy to take an invocation (CloudWatch's `NoCapacityInvocationFailures`). */
  recordNoCapacity?(component: string, at: number): void;
  /**
   * A request reached an instance of `variant` of `endpoint` (a copy of `inferenceComponent`, when
   * given), with `perInstance` requests in flight per instance (per copy), that one included
   * (`ConcurrentRequestsPerModel` of a variant, `ConcurrentRequestsPerCopy` of an inference component).
   */
  recordConcurrency?(r: { endpoint: string; variant: string; inferenceComponent?: string }, perInstance: number, at: number): void;
  /**
   * The minute before the one `now` falls in has ended: each variant and inference component in
   * service that received no invocation in it gets `Invocations` 0 and `InvocationsPerInstance`
   * (`InvocationsPerCopy`) 0 there, as SageMaker emits zeros when traffic stops, and one without
   * `ConcurrentRequestsPerModel` (`…PerCopy`) in it gets `inFlight`, its requests in flight per instance (copy) now.
   * `since` is the real time (epoch ms) the variant (first served by its endpoint, or added by an update), or the component, went InService: a
   * minute that ended by then gets nothing.
   */
  recordIdleMinute?(
    variants: Iterable<{ endpoint: string; variant: string; inFlight?: number; serverless?: boolean; since?: number }>,
    components: Iterable<{ name: string; inFlight: number; since?: number }>,
    now: number,
  ): void;
}

/**
 * A sink that records the invocations of inference component `name` into `sink`, marked as the
 * component's: the instance count its copies' endpoint measures is the component's copies, while
 * the variant's `InvocationsPerInstance` divides by `hostInstances()`, the instances of the variant
 * the component is deployed on.
 */
export function componentMetricsSink(sink: InvocationMetricsSink, name: string, hostInstances: () => number): InvocationMetricsSink {
  return {
    record: (r) => sink.record({ ...r, instanceCount: hostInstances(), inferenceComponent: { name, copies: r.instanceCount } }),
    recordConcurrency: (r, perCopy, at) => sink.recordConcurrency?.({ ...r, inferenceComponent: name }, perCopy, at),
  };
}

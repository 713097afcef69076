/**
 * The clock of the local CloudWatch: real wall time, with API durations (periods, cooldowns, given
 * in seconds) stretched or shrunk by one factor so minute-based windows can take seconds locally.
 */
export interface MetricClock {
  /** Real time now, epoch milliseconds. */
  now(): number;
  /** Real milliseconds that `apiSeconds` of API time last. */
  durationMs(apiSeconds: number): number;
}

/**
 * A {@link MetricClock} where one API minute lasts `secondsPerMinute` real seconds.
 * @param now - injectable time source (tests pass a fake one)
 */
export function createMetricClock(secondsPerMinute = 60, now: () => number = Date.now): MetricClock {
  const factor = secondsPerMinute / 60;
  return { now, durationMs: (apiSeconds) => apiSeconds * 1000 * factor };
}

/** A timestamp as the JSON protocols send it: epoch seconds (milliseconds as a fraction). */
export function epochSeconds(ms: number): number {
  return ms / 1000;
}

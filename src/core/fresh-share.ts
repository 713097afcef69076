/**
 * One run at a time of an expensive asynchronous collection (the cluster's metrics), shared by the
 * callers that arrive while it runs, but never handing a caller a result that began before it
 * arrived: callers that arrive during run N share run N+1, which starts once run N ends. So at most
 * two runs exist at any time, however many callers pile up, and every caller gets a result
 * collected wholly after it asked (a counter changed just before a scrape is in that scrape).
 */
export function freshShare<T>(run: () => Promise<T>): () => Promise<T> {
  let current: Promise<T> | undefined;
  let next: Promise<T> | undefined;
  const start = (): Promise<T> => {
    const started = (async () => run())();
    current = started;
    const clear = () => {
      if (current === started) current = undefined;
    };
    started.then(clear, clear);
    return started;
  };
  return () => {
    // Between the end of the run under way and the start of the next one `current` is already
    // cleared, but the next run has not begun: a caller then joins it too (it starts after it came).
    if (next) return next;
    if (!current) return start();
    const queued = current.then(
      () => undefined,
      () => undefined,
    ).then(() => {
      if (next === queued) next = undefined;
      return start();
    });
    next = queued;
    return queued;
  };
}

/**
 * V8 heap flags for the HTTP workers.
 *
 * Under load V8 grows a worker's young generation to its 16 MB-per-semi-space maximum while the
 * old generation stays small (a model server keeps about 10 MB alive). V8 starts a full
 * collection whenever the old generation's headroom is less than the young generation could
 * promote, so a worker serving one-row requests ran a 5–7 ms mark-compact every ~130 ms where
 * ~1 ms scavenges would do. A young generation that starts at its working size keeps V8 on
 * scavenges: on the benchmark, 2 mark-compacts instead of 44 in ten seconds of batched
 * requests, a batching p99 of 16.5 instead of 21–24 ms, and 8% less CPU per one-row request. The
 * price is about 13 MB more resident memory per idle worker and 10–20 ms more to a worker's start:
 * on Node 20 and 22 any V8 flag off its default changes V8's flag hash (`v8.cachedDataVersionTag()`),
 * and V8 then refuses the code cache Node ships for its own modules (`node -e` loading three core
 * modules: 64 → 76–80 ms on Node 20, 30 → 43 ms on Node 22, the same with `--stack-trace-limit=20`;
 * Node 24 leaves the semi-space flags out of the hash). Set at run time the flag would not resize
 * the young generation V8 has already laid out. That is why `SMKIT_WORKER_SEMI_SPACE_MB=auto` sets
 * it only with dynamic batching on, except on Node 24 and
 * later: there the flag added nothing measurable to cold start (1.07–1.10× the bare server both
 * ways; Node 22 went from 1.09× to 1.21–1.24×), and without it a worker fell into a mark-compact
 * every 60–70 ms on 256-row requests even without batching, with one-row requests at 0.85–0.88× the
 * bare server against 0.97–1.02× with it. (On the Intel VM of the thirteenth session, 256-row
 * requests on Node 22 and 24 fell into them with any semi-space size, set off by ArrayBuffer
 * allocation: see docs/benchmarks-history.md.)
 *
 * On Node 24 `auto` is 32 MB, twice V8's default maximum. With 16, two batching workers serving 64
 * connections still ran 13–24 mark-compacts in 3–8 s (likely because a worker holds a batch of
 * requests for a whole model run, long enough for part of it to be promoted); with 32 they ran none, and
 * the p99 fell from 14–16 to 8.3–8.8 ms. Node 20 and 22 showed no such difference, so they keep 16.
 *
 * Large bodies meet another limit: V8 keeps the old generation's allocation limit just above what is
 * alive (about 12 MB), so the buffers of requests in flight that scavenges promote set off a
 * mark-compact every 60–150 ms (256-row and 5 MB CSV requests, Node 20 and 22: 55–103 in 6 s).
 * Starting the old generation at 128 MB (`--initial-old-space-size`) brought that to 1–11, with
 * 10–23% more 256-row requests/s and 5–10% more 5 MB ones, at the same resident memory (fourteenth
 * session, docs/benchmarks-history.md). On Node 24 the mark-compacts come mostly from ArrayBuffer
 * allocation; the flag halved them, for 3–13% more 256-row and 8% more 5 MB requests/s. The flag
 * costs cold start on every line (a worker's start 11–13 ms; the first `/ping` 200 went from 1.14×
 * to 1.26× the bare server on Node 20, 1.08× to 1.26× on Node 24), so `auto` sets it only for batch
 * transform, where payloads are large and nobody waits on start-up.
 *
 * Without that flag, V8's growing factor for the old generation (which it picks from its own
 * measure of collection speed) leaves a worker's old generation no more headroom than its young
 * generation, and V8 then starts marking early, again and again: two workers serving 256-row CSV
 * requests ran 53-175 mark-compacts in 6 s on Node 20 and 22 (each 2-8 ms). The factor is also a V8 flag, `--heap-growing-percent`, but one that V8 reads at every
 * collection, so the worker sets it itself once its model is loaded (`v8.setFlagsFromString`):
 * the process starts without it, and start-up keeps its speed. At 300 (a factor of 4, the largest
 * V8 picks itself) the same load ran 3-15 mark-compacts, for 13-30% more requests/s on Node 20 and
 * 22 and 9% on Node 24 (sixteenth session, docs/benchmarks-history.md). The cost is memory: the old
 * generation may grow to four times what is alive before it is collected (about 45 MB for smkit's
 * own 11 MB; more for handler code that keeps large JavaScript objects), within the heap's limit.
 */

import v8 from 'node:v8';

/** How big each worker's V8 heap starts. */
export interface WorkerHeapSizes {
  /** Young generation, per semi-space, in MB (`--min-semi-space-size`); 0 adds nothing. */
  readonly semiSpaceMb: number;
  /** Old generation, in MB (`--initial-old-space-size`); 0 adds nothing. */
  readonly oldSpaceMb: number;
}

/** V8's largest semi-space by default on 64-bit builds (Node 20–24), in MB. */
const V8_DEFAULT_MAX_SEMI_SPACE_MB = 16;

/** True when `args` already set `flag` (as `--flag=N`, `--flag N`, or with underscores). */
function hasFlag(args: readonly string[], flag: string): boolean {
  const dashed = flag.replace(/_/g, '-');
  return args.some((a) => {
    const name = a.split('=')[0]!.replace(/_/g, '-');
    return name === dashed;
  });
}

/**
 * The `execArgv` for forked HTTP workers: the primary's own, plus a young generation that starts at
 * `semiSpaceMb` per semi-space and an old generation that starts at `oldSpaceMb` (0: that flag is
 * not added). Heap flags given to Node already, on its command line or in `NODE_OPTIONS`, are the
 * operator's choice: the matching flag is not added then.
 */
export function workerExecArgv(heap: WorkerHeapSizes, execArgv: readonly string[], nodeOptions = ''): string[] {
  const args = [...execArgv];
  const given = [...args, ...nodeOptions.split(/\s+/)];
  const { semiSpaceMb, oldSpaceMb } = heap;
  if (semiSpaceMb > 0 && !hasFlag(given, '--min-semi-space-size') && !hasFlag(given, '--max-semi-space-size')) {
    args.push(`--min-semi-space-size=${semiSpaceMb}`);
    if (semiSpaceMb > V8_DEFAULT_MAX_SEMI_SPACE_MB) args.push(`--max-semi-space-size=${semiSpaceMb}`);
  }
  if (oldSpaceMb > 0 && !hasFlag(given, '--initial-old-space-size') && !hasFlag(given, '--initial-heap-size')) {
    args.push(`--initial-old-space-size=${oldSpaceMb}`);
  }
  return args;
}

/**
 * The growing factor the workers set (see {@link tuneHeapGrowing}): `percent`, or 0 when the
 * operator gave `--heap-growing-percent` to Node already, on its command line or in `NODE_OPTIONS`.
 */
export function workerHeapGrowingPercent(percent: number, execArgv: readonly string[], nodeOptions = ''): number {
  return hasFlag([...execArgv, ...nodeOptions.split(/\s+/)], '--heap-growing-percent') ? 0 : percent;
}

/**
 * Sets V8's old-generation growing factor (`--heap-growing-percent`) in this running process;
 * `percent` 0 leaves V8's own. Answers whether it was set.
 */
export function tuneHeapGrowing(percent: number, setFlags: (flags: string) => void = v8.setFlagsFromString): boolean {
  if (percent <= 0) return false;
  setFlags(`--heap-growing-percent=${percent}`);
  return true;
}

import { rename, rm } from 'node:fs/promises';

/**
 * Removes `path` all at once as readers see it: renamed aside first, then deleted, so a removal that
 * fails part-way (a file it may not delete) never leaves a version folder that is there but lacks
 * files, which the next deployment of that version would take as complete and use.
 */
async function removeWhole(path: string): Promise<void> {
  const aside = `${path}.removing-${process.pid}-${Math.random().toString(16).slice(2)}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await rm(aside, { recursive: true, force: true });
}

/** Says that a model data version could not be removed from disk (it stays until `smkit local` stops). */
export type ModelDataRemovalWarning = (message: string, fields: Record<string, unknown>) => void;

/**
 * Counts what uses each model data version in the local SageMaker's cache (a downloaded object's
 * folder, an `S3Prefix` folder and its objects, a multi-model folder) and removes a version from
 * disk once nothing does: endpoints, inference components and transform jobs hold what they
 * deployed until their containers have stopped (a blue/green update's old fleet until its bake
 * or rollback is over), so a long-running local SageMaker does not keep every version it ever
 * deployed. A version held again while it is being removed is fetched again once the removal is
 * over; one held again before it was released is reused, as the cache always did.
 */
export class ModelDataHolds {
  readonly #counts = new Map<string, number>();
  readonly #removals = new Map<string, Promise<void>>();

  /** @param remove removes a path from disk (tests give one that fails). */
  constructor(
    private readonly warn?: ModelDataRemovalWarning,
    private readonly remove: (path: string) => Promise<void> = removeWhole,
  ) {}

  /** A lease: the versions one deployment (or job) holds, released together. */
  lease(): ModelDataLease {
    return new ModelDataLease(this);
  }

  /** Paths held now (for tests and diagnostics). */
  get held(): string[] {
    return [...this.#counts.keys()];
  }

  /**
   * Counts one more user of `path`; resolves once a removal of it under way is over, so the
   * caller then finds it absent (and fetches it again) or present, never half removed.
   */
  async hold(path: string): Promise<void> {
    this.#counts.set(path, (this.#counts.get(path) ?? 0) + 1);
    await this.#removals.get(path);
  }

  /** One user of `path` fewer; the last one removes it from disk (a failure is a warning). */
  release(path: string): void {
    const n = (this.#counts.get(path) ?? 0) - 1;
    if (n > 0) {
      this.#counts.set(path, n);
      return;
    }
    this.#counts.delete(path);
    const before = this.#removals.get(path) ?? Promise.resolve();
    const removal: Promise<void> = before
      .then(() => {
        // Held again meanwhile: whoever holds it now uses it.
        if (this.#counts.has(path)) return;
        return this.remove(path);
      })
      .catch((err: unknown) => this.warn?.('could not remove model data no endpoint or job uses any more; it stays on disk until smkit local stops', { path, error: (err as Error).message }))
      .finally(() => {
        if (this.#removals.get(path) === removal) this.#removals.delete(path);
      });
    this.#removals.set(path, removal);
  }

  /** Resolves once every removal started so far is over. */
  async settled(): Promise<void> {
    while (this.#removals.size > 0) await Promise.all([...this.#removals.values()]);
  }
}

/** The model data versions one deployment, inference component or transform job holds. */
export class ModelDataLease {
  readonly #paths: string[] = [];
  #released = false;

  constructor(private readonly holds: ModelDataHolds) {}

  /** Holds `path` until {@link ModelDataLease.release}; see {@link ModelDataHolds.hold}. */
  async hold(path: string): Promise<void> {
    if (this.#released) throw new Error('model data lease already released');
    this.#paths.push(path);
    await this.holds.hold(path);
  }

  /** Releases everything held (once; later calls do nothing). Call it after the containers using them have stopped. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    for (const path of this.#paths.splice(0)) this.holds.release(path);
  }
}

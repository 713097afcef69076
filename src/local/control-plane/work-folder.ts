import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ToolkitError } from '../../errors/catalogue.js';
import { trackUntilReleased } from '../backends/orphan-reaper.js';

/**
 * A local SageMaker's work folder (`smkit-sagemaker-*` in the temporary folder: instances' `/opt/ml`
 * trees, logs, model data, jobs), made when something first needs it rather than at start-up. A
 * local SageMaker that runs nothing then has neither a folder nor a reaper: killed, it leaves
 * nothing behind, and it starts no process to clean up what it never made.
 */
export class WorkFolder {
  private readonly where: string;
  private state: 'unmade' | 'made' | 'removed' = 'unmade';
  /** The folder itself was made (its `logs/` may not have been, if that failed). */
  private created = false;
  private release: () => void = () => {};

  /**
   * @param keep Kept when the local SageMaker ends, however it ends (`smkit local --keep`).
   * @throws ToolkitError `ERR_CONFIG_INVALID` when the temporary folder cannot be written: the
   * local SageMaker then stops at start-up, not at its first deployment.
   */
  constructor(private readonly keep: boolean) {
    try {
      accessSync(tmpdir(), constants.W_OK | constants.X_OK);
    } catch (err) {
      throw unusable(tmpdir(), err);
    }
    // Named now, so the path can be read before the folder exists; made exclusively (as mkdtemp
    // does) on first use, so a folder someone else made under that name is never taken over.
    this.where = join(tmpdir(), `smkit-sagemaker-${randomBytes(6).toString('hex')}`);
  }

  /**
   * Its path. The first read before {@link remove} makes the folder (with `logs/` in it) and,
   * unless kept, tracks it with the reaper, which it starts: from then on, were this process
   * killed, the reaper removes the folder and what is in it, downloads cut short included.
   */
  get path(): string {
    if (this.state === 'unmade') this.make();
    return this.where;
  }

  /** Removes the folder when it was made and is not kept; reading {@link path} afterwards makes nothing. */
  async remove(): Promise<void> {
    this.state = 'removed';
    if (this.created && !this.keep) await rm(this.where, { recursive: true, force: true });
    this.release();
  }

  private make(): void {
    try {
      if (!this.created) {
        mkdirSync(this.where, { mode: 0o700 });
        this.created = true;
        // With the folder, not with the first process: a download (model data, a training job's input)
        // may fill it for long before any process starts, and a deployment may fail before one does.
        if (!this.keep) this.release = trackUntilReleased({ kind: 'folder', path: this.where }, { startsReaper: true });
      }
      mkdirSync(join(this.where, 'logs'), { recursive: true });
    } catch (err) {
      throw unusable(dirname(this.where), err);
    }
    this.state = 'made';
  }
}

/** The error for a temporary folder the work folder cannot be made in (TMPDIR unset to a writable folder, a full disk). */
function unusable(parent: string, err: unknown): ToolkitError {
  return new ToolkitError('ERR_CONFIG_INVALID', `the local SageMaker's work folder cannot be made in the temporary folder ${parent} (${(err as Error).message}); set TMPDIR to a writable folder with free space`, { cause: err });
}

import { mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * The folders of the `/opt/ml` tree a SageMaker container sees, relative to its base
 * (`SAGEMAKER_BASE_DIR`): the one list every local tree is made from (local endpoints, batch
 * transform, `package --verify`, local training) and that `opt-ml-template/` holds. Serving uses
 * `model/` (and `code/` inside it); training uses all of them.
 * See https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html
 * and https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html.
 */
export const OPT_ML_DIRECTORIES = ['code', 'model', 'input/config', 'input/data', 'output/data', 'checkpoints'] as const;

/** One folder of {@link OPT_ML_DIRECTORIES}. */
export type OptMlDirectory = (typeof OPT_ML_DIRECTORIES)[number];

/** Creates the `/opt/ml` folders under `base` (existing ones are kept); `except` leaves some out (for example `code`, when it is a link). */
export async function createOptMlTree(base: string, except: readonly OptMlDirectory[] = []): Promise<string> {
  for (const dir of OPT_ML_DIRECTORIES) if (!except.includes(dir)) await mkdir(path.join(base, dir), { recursive: true });
  return base;
}

/** {@link createOptMlTree}, synchronously (for the training tree builder, which is synchronous). */
export function createOptMlTreeSync(base: string, except: readonly OptMlDirectory[] = []): string {
  for (const dir of OPT_ML_DIRECTORIES) if (!except.includes(dir)) mkdirSync(path.join(base, dir), { recursive: true });
  return base;
}

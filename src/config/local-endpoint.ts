/**
 * Environment handling for `smkit local` endpoints. The `process` backend runs `smkit serve`
 * children that inherit this process's environment minus anything that would change how a
 * container is configured: SageMaker gives a container only the variables of its
 * `ContainerDefinition`, so stray `SAGEMAKER_*`, `SM_*` and `SMKIT_*` values from the user's shell
 * must not leak in.
 */
const CONTAINER_PREFIXES = ['SAGEMAKER_', 'SM_', 'SMKIT_'];

/** The environment a `process`-backend child starts from, before the container's own variables. */
export function inheritedChildEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (CONTAINER_PREFIXES.some((p) => key.toUpperCase().startsWith(p))) continue;
    out[key] = value;
  }
  return Object.freeze(out) as Record<string, string>;
}

/**
 * The environment `smkit local train` runs a job with: this process's minus the `SAGEMAKER_*` and
 * `SM_*` values of the user's shell, which a SageMaker training job does not get (it sets its own,
 * from the job): a stray `SAGEMAKER_PROGRAM` won over `--entry-point`, and stray `SM_*` values
 * reached the entry point. smkit's own `SMKIT_*` settings (log level and format, grace) are kept.
 */
export function localTrainingEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined || /^(SAGEMAKER_|SM_)/i.test(key)) continue;
    out[key] = value;
  }
  return out;
}

/**
 * The `SAGEMAKER_*` and `SM_*` variables set in the shell of `smkit local`, sorted: it reads none of
 * them itself, and its containers and training jobs do not inherit them ({@link inheritedChildEnv}),
 * so `SAGEMAKER_MODEL_SERVER_WORKERS=4 smkit local ./model` would otherwise serve with one worker
 * without a word. An empty value is none, as for every setting.
 */
export function ignoredShellContainerVariables(env: NodeJS.ProcessEnv = process.env): string[] {
  return Object.keys(env)
    .filter((key) => /^(SAGEMAKER_|SM_)/i.test(key) && (env[key] ?? '').trim() !== '')
    .sort();
}

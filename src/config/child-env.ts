/**
 * The environment for `smkit serve` child processes that smkit's local tools start
 * (`smkit local transform`, `smkit package --verify`): the caller's environment plus the given
 * overrides. Kept here because only `src/config/` reads `process.env`.
 */
export function childEnv(overrides: Readonly<Record<string, string>>, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  // Settings a batch or verify run sets itself must not leak in from the caller's shell.
  for (const name of ['SM_MODEL_DIR', 'SAGEMAKER_BASE_DIR', 'SAGEMAKER_BIND_TO_PORT']) delete env[name];
  return { ...env, ...overrides };
}

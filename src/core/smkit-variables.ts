import { closestNames, orList } from './closest-name.js';

/**
 * Every `SMKIT_` variable smkit reads (serve, local, train, deploy, its images and its test
 * tools), for {@link misspeltSmkitVariables}. The one list: the settings readers of src/config take
 * only a {@link VariableName}, so a setting read under a name missing here fails the build, and
 * its test finds here each name the rest of the source, the scripts, the tests, the images and the
 * docs use.
 */
export const SMKIT_VARIABLES = [
  'SMKIT_ALLOWED_HOSTS', 'SMKIT_BAKED_MODEL_DIR', 'SMKIT_BASE_IMAGE', 'SMKIT_BATCH_MAX_DELAY_MS', 'SMKIT_BATCH_MAX_SIZE', 'SMKIT_BIDI_STREAMS_MAX', 'SMKIT_BIN',
  'SMKIT_BIND_HOST', 'SMKIT_BODY_MEMORY_MB', 'SMKIT_BODY_TIMEOUT_SECONDS', 'SMKIT_CHECKPOINT_DIR', 'SMKIT_CONNECTION_BALANCING',
  'SMKIT_CONNECTION_REBALANCING', 'SMKIT_CORS_ALLOW_ORIGINS', 'SMKIT_DEBUG', 'SMKIT_DEVICE', 'SMKIT_IMAGE_CACHE', 'SMKIT_IMAGE_TEST_KEEP',
  'SMKIT_IMAGE_VARIANT', 'SMKIT_INFERENCE_MODE', 'SMKIT_INFERENCE_THREAD_HEAP_MB', 'SMKIT_INSTALL_CODE_DEPS', 'SMKIT_INSTANCE_ID',
  'SMKIT_INTRA_OP_THREADS', 'SMKIT_LOCAL_ACCOUNT_ID', 'SMKIT_LOCAL_BODY_MEMORY_MB', 'SMKIT_LOCAL_HEALTH_CHECK_SECONDS',
  'SMKIT_LOCAL_LOGS_MB', 'SMKIT_LOCAL_LOG_STREAM_MB', 'SMKIT_LOCAL_MAX_INSTANCES', 'SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE',
  'SMKIT_LOCAL_S3_TIMEOUT_SECONDS', 'SMKIT_LOCAL_SECONDS_PER_MINUTE', 'SMKIT_LOCAL_SERVERLESS_IDLE_SECONDS', 'SMKIT_LOG_FORMAT',
  'SMKIT_LOG_LEVEL', 'SMKIT_MAX_DECODED_MB', 'SMKIT_METRICS', 'SMKIT_MME_MIN_FREE_MB', 'SMKIT_NODE_CACHE', 'SMKIT_NODE_MAJOR',
  'SMKIT_NPM_MAJOR', 'SMKIT_PIPE_CHANNELS', 'SMKIT_SESSIONS_MAX', 'SMKIT_SHUTDOWN_GRACE_SECONDS', 'SMKIT_TEST_AWS_CLI',
  'SMKIT_TEST_CONCURRENCY', 'SMKIT_TEST_GROUPING', 'SMKIT_TFJS_BACKEND', 'SMKIT_TRAIN_GRACE_SECONDS', 'SMKIT_TRAINING_RUN_ID',
  'SMKIT_WORKER_BLOCKED_TIMEOUT_SECONDS', 'SMKIT_WORKER_CONCURRENCY', 'SMKIT_WORKER_HEAP_GROWING_PERCENT', 'SMKIT_WORKER_OLD_SPACE_MB',
  'SMKIT_WORKER_SEMI_SPACE_MB',
] as const;

/** A name of {@link SMKIT_VARIABLES}. */
export type SmkitVariable = (typeof SMKIT_VARIABLES)[number];

/**
 * A variable the settings readers (src/config) take: an `SMKIT_` one of {@link SMKIT_VARIABLES}, or
 * one of the platform's (`SAGEMAKER_*`, `SM_*`, `AWS_*`, `TRAINING_JOB_NAME`), so that an `SMKIT_`
 * setting cannot be read under a name the list lacks (the misspelling warning would take it for a typo).
 */
export type VariableName = SmkitVariable | `SAGEMAKER_${string}` | `SM_${string}` | `AWS_${string}` | 'TRAINING_JOB_NAME';

/**
 * The `SMKIT_` variables set in `env` that smkit does not read but whose name is one letter or two
 * from one it does (the batching size's name a letter short): a typo that would otherwise leave the setting at its
 * default without a word. Other unknown names are left alone (another tool's own).
 */
export function misspeltSmkitVariables(env: Readonly<Record<string, string | undefined>>): Array<{ variable: string; meant: string[] }> {
  const known = new Set<string>(SMKIT_VARIABLES);
  const found: Array<{ variable: string; meant: string[] }> = [];
  for (const variable of Object.keys(env)) {
    if (!/^smkit_/i.test(variable) || known.has(variable)) continue;
    const meant = closestNames(variable, SMKIT_VARIABLES);
    if (meant.length > 0) found.push({ variable, meant });
  }
  return found;
}

/**
 * The warning for each of {@link misspeltSmkitVariables}' finds in `env`: what every command that
 * reads `SMKIT_` settings says (smkit serve and smkit local through their loggers, the others on stderr).
 */
export function misspeltSmkitVariableWarnings(env: Readonly<Record<string, string | undefined>>): Array<{ variable: string; meant: string[]; message: string }> {
  return misspeltSmkitVariables(env).map(({ variable, meant }) => ({ variable, meant, message: `${variable} is not a setting smkit reads, so it is ignored: did you mean ${orList(meant)}?` }));
}

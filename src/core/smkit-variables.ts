import { closestNames } from './closest-name.js';

/**
 * Every `SMKIT_` variable smkit reads (serve, local, train, deploy, its images and its test
 * tools), for {@link misspeltSmkitVariables}: its test finds each one named in the source and
 * README here.
 */
export const SMKIT_VARIABLES: readonly string[] = [
  'SMKIT_BAKED_MODEL_DIR', 'SMKIT_BATCH_MAX_DELAY_MS', 'SMKIT_BATCH_MAX_SIZE', 'SMKIT_BIDI_STREAMS_MAX', 'SMKIT_BIN', 'SMKIT_BIND_HOST',
  'SMKIT_BODY_MEMORY_MB', 'SMKIT_BODY_TIMEOUT_SECONDS', 'SMKIT_CHECKPOINT_DIR', 'SMKIT_CONNECTION_BALANCING', 'SMKIT_CONNECTION_REBALANCING',
  'SMKIT_CORS_ALLOW_ORIGINS', 'SMKIT_DEBUG', 'SMKIT_DEVICE', 'SMKIT_IMAGE_TEST_KEEP', 'SMKIT_IMAGE_VARIANT', 'SMKIT_INFERENCE_MODE',
  'SMKIT_INFERENCE_THREAD_HEAP_MB', 'SMKIT_INSTALL_CODE_DEPS', 'SMKIT_INSTANCE_ID', 'SMKIT_INTRA_OP_THREADS', 'SMKIT_LOCAL_ACCOUNT_ID',
  'SMKIT_LOCAL_BODY_MEMORY_MB', 'SMKIT_LOCAL_HEALTH_CHECK_SECONDS', 'SMKIT_LOCAL_LOG_STREAM_MB', 'SMKIT_LOCAL_LOGS_MB', 'SMKIT_LOCAL_MAX_INSTANCES',
  'SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE', 'SMKIT_LOCAL_S3_TIMEOUT_SECONDS', 'SMKIT_LOCAL_SECONDS_PER_MINUTE', 'SMKIT_LOCAL_SERVERLESS_IDLE_SECONDS',
  'SMKIT_LOG_FORMAT', 'SMKIT_LOG_LEVEL', 'SMKIT_MAX_DECODED_MB', 'SMKIT_METRICS', 'SMKIT_MME_MIN_FREE_MB', 'SMKIT_PIPE_CHANNELS',
  'SMKIT_SESSIONS_MAX', 'SMKIT_SHUTDOWN_GRACE_SECONDS', 'SMKIT_TEST_CONCURRENCY', 'SMKIT_TEST_GROUPING', 'SMKIT_TFJS_BACKEND',
  'SMKIT_TRAIN_GRACE_SECONDS', 'SMKIT_WORKER_BLOCKED_TIMEOUT_SECONDS', 'SMKIT_WORKER_CONCURRENCY', 'SMKIT_WORKER_HEAP_GROWING_PERCENT',
  'SMKIT_WORKER_OLD_SPACE_MB', 'SMKIT_WORKER_SEMI_SPACE_MB',
];

/**
 * The `SMKIT_` variables set in `env` that smkit does not read but whose name is one letter or two
 * from one it does (the batching size's name a letter short): a typo that would otherwise leave the setting at its
 * default without a word. Other unknown names are left alone (another tool's own).
 */
export function misspeltSmkitVariables(env: Readonly<Record<string, string | undefined>>): Array<{ variable: string; meant: string[] }> {
  const known = new Set(SMKIT_VARIABLES);
  const found: Array<{ variable: string; meant: string[] }> = [];
  for (const variable of Object.keys(env)) {
    if (!/^smkit_/i.test(variable) || known.has(variable)) continue;
    const meant = closestNames(variable, SMKIT_VARIABLES);
    if (meant.length > 0) found.push({ variable, meant });
  }
  return found;
}

import { spawnSync } from 'node:child_process';

/**
 * Neuron cores on this machine as STT's `num_neurons` counts them
 * (https://github.com/aws/sagemaker-training-toolkit, `environment.py`): the `nc_count` of every
 * device `neuron-ls -j` lists, summed; 0 when `neuron-ls` is missing, fails, or prints something
 * else. STT's shortcut for `trn2.48xlarge` is applied by the environment, which knows the
 * instance type. Killed with SIGKILL after `timeoutMs`: `spawnSync` waits for its child to exit, so
 * one that ignores the default SIGTERM (stuck on a wedged driver) would hold the job's start.
 */
export function detectNeuronCores(env: Readonly<Record<string, string | undefined>>, timeoutMs = 30_000): number {
  const run = spawnSync('neuron-ls', ['-j'], { env, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 16 * 1024 * 1024 });
  if (run.error !== undefined || run.status !== 0) return 0;
  try {
    const devices: unknown = JSON.parse(run.stdout);
    if (!Array.isArray(devices)) return 0;
    return devices.reduce((sum: number, d: unknown) => {
      const n = typeof d === 'object' && d !== null ? (d as { nc_count?: unknown }).nc_count : undefined;
      return sum + (typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : 0);
    }, 0);
  } catch {
    return 0;
  }
}

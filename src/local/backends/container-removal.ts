import { spawn } from 'node:child_process';

/** How long `<engine> rm -f` may take: an engine that hangs must not hold a stop (or the reaper) for ever. */
const ENGINE_RM_TIMEOUT_MS = 60_000;

/**
 * Runs `<engine> rm -f <names...>` and waits for it, at most a minute; errors (no such container,
 * no such engine) are ignored. False when it timed out: the containers may still be there.
 */
export function removeContainers(engine: string, names: readonly string[]): Promise<boolean> {
  return new Promise((done) => {
    const rm = spawn(engine, ['rm', '-f', ...names], { stdio: 'ignore', timeout: ENGINE_RM_TIMEOUT_MS });
    rm.once('error', () => done(true));
    rm.once('exit', (_code, signal) => done(signal === null));
  });
}

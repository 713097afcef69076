import { choiceValue, pairValue } from '../config/flag-values.js';
import { buildImage, type ImageVariant } from './build-image.js';
import type { BuildEngine } from '../containers/engine.js';
import { runInterruptibly } from '../core/interruptible.js';

/** Raw `smkit build` flags as commander gives them. */
export interface BuildCommandOptions {
  variant?: string;
  model?: string;
  tag?: string;
  platform?: string;
  engine?: string;
  buildArg?: string[];
}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  return value === undefined ? undefined : choiceValue(flag, value, allowed);
}

/** `smkit build`: builds the image and prints its name and size on stdout. */
export async function buildCommand(opts: BuildCommandOptions): Promise<void> {
  const variant = oneOf<ImageVariant>('--variant', opts.variant, ['cpu', 'gpu']);
  const engine = oneOf<BuildEngine>('--engine', opts.engine, ['docker', 'podman']);
  for (const arg of opts.buildArg ?? []) pairValue('--build-arg', arg, 'KEY=VALUE, a KEY of letters, digits and _ not starting with a digit', /^[A-Za-z_][A-Za-z0-9_]*$/);
  // Ctrl-C or SIGTERM: the engine's build is stopped and the staged model (a copy of it, however
  // large) and build context are removed before the signal ends the process; left to the default,
  // both stayed in the temporary folder, and a SIGTERM left the engine building.
  const built = await runInterruptibly((signal) =>
    buildImage({
      ...(variant ? { variant } : {}),
      ...(opts.model ? { model: opts.model } : {}),
      ...(opts.tag ? { tag: opts.tag } : {}),
      ...(opts.platform ? { platform: opts.platform } : {}),
      ...(engine ? { engine } : {}),
      ...(opts.buildArg ? { buildArgs: opts.buildArg } : {}),
      signal,
    }),
  );
  const mb = (built.sizeBytes / 1e6).toFixed(1);
  process.stdout.write(`image: ${built.image}\nsize: ${mb} MB (${built.sizeBytes} bytes)\n`);
}

import { ToolkitError } from '../errors/catalogue.js';
import { buildImage, type ImageVariant } from './build-image.js';
import type { BuildEngine } from '../containers/engine.js';

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
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ToolkitError('ERR_CLI_USAGE', `${flag} ${value}: expected one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/** `smkit build`: builds the image and prints its name and size on stdout. */
export async function buildCommand(opts: BuildCommandOptions): Promise<void> {
  const variant = oneOf<ImageVariant>('--variant', opts.variant, ['cpu', 'gpu']);
  const engine = oneOf<BuildEngine>('--engine', opts.engine, ['docker', 'podman']);
  for (const arg of opts.buildArg ?? []) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(arg)) throw new ToolkitError('ERR_CLI_USAGE', `--build-arg ${arg}: expected KEY=VALUE`);
  }
  const built = await buildImage({
    ...(variant ? { variant } : {}),
    ...(opts.model ? { model: opts.model } : {}),
    ...(opts.tag ? { tag: opts.tag } : {}),
    ...(opts.platform ? { platform: opts.platform } : {}),
    ...(engine ? { engine } : {}),
    ...(opts.buildArg ? { buildArgs: opts.buildArg } : {}),
  });
  const mb = (built.sizeBytes / 1e6).toFixed(1);
  process.stdout.write(`image: ${built.image}\nsize: ${mb} MB (${built.sizeBytes} bytes)\n`);
}

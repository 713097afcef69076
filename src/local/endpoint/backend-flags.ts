import type { EndpointFileConfig } from '../../endpoint-file/schema.js';
import { ToolkitError } from '../../errors/catalogue.js';
import type { StartOptions } from './start.js';

/** The flags that choose an endpoint file's backend. */
export type BackendFlags = Pick<StartOptions, 'backend' | 'engine' | 'gpus' | 'image'>;

/** Whether the endpoint file (or `--image`) names an image for any container, shadows included. */
export function hasImageToRun(config: EndpointFileConfig, opts: BackendFlags): boolean {
  return (opts.image ?? config.image) !== undefined || config.endpoints.some((e) => [...e.variants, ...(e.shadow ? [e.shadow] : [])].some((v) => v.containers.some((c) => c.image)));
}

/**
 * The docker backend's own flags among `opts` (`--engine`, `--gpus`, `--image`), as typed: given
 * where the process backend runs, each would be ignored.
 */
export function dockerOnlyFlags(opts: BackendFlags): string[] {
  return [opts.engine !== undefined && '--engine', opts.gpus !== undefined && '--gpus', opts.image !== undefined && '--image'].filter((f): f is string => f !== false);
}

/** `--engine` and `--gpus` alone: the flags that do not make the docker backend run (an image does). */
export function engineFlags(opts: BackendFlags): string[] {
  return dockerOnlyFlags(opts).filter((f) => f !== '--image');
}

/** "it" for one flag, "them" for more: what a message asks to leave out. */
export function them(flags: readonly string[]): string {
  return flags.length > 1 ? 'them' : 'it';
}

/** "--engine only applies", "--engine and --gpus only apply". */
export function onlyApply(flags: readonly string[]): string {
  return `${flags.length > 2 ? `${flags.slice(0, -1).join(', ')} and ${flags.at(-1)}` : flags.join(' and ')} only ${flags.length > 1 ? 'apply' : 'applies'}`;
}

/**
 * Refuses, with `ERR_CLI_USAGE`, `--engine`, `--gpus` and `--image` where the process backend would run
 * them (they would be ignored). Needs no engine, so `smkit local` checks it before its port.
 */
export function checkBackendFlags(config: EndpointFileConfig, opts: BackendFlags): void {
  const wanted = opts.backend ?? config.backend;
  // --engine and --image would be ignored on the process backend: the file's choice of it, or no image to run.
  const dockerOnly = dockerOnlyFlags(opts);
  if (wanted === 'process' && dockerOnly.length > 0) throw new ToolkitError('ERR_CLI_USAGE', `${onlyApply(dockerOnly)} with the docker backend, and the endpoint file sets backend: process: add --backend docker, or leave ${them(dockerOnly)} out`);
  const engine = engineFlags(opts);
  if (wanted === undefined && !hasImageToRun(config, opts) && engine.length > 0) {
    throw new ToolkitError('ERR_CLI_USAGE', `${onlyApply(engine)} with the docker backend, which runs when an image is set: add --image (or "image" in the endpoint file), or leave ${them(engine)} out`);
  }
}

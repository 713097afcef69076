import type { EndpointFileConfig } from '../../endpoint-file/schema.js';
import { ToolkitError } from '../../errors/catalogue.js';
import type { StartOptions } from './start.js';

/** The flags that choose an endpoint file's backend. */
export type BackendFlags = Pick<StartOptions, 'backend' | 'engine' | 'image'>;

/** Whether the endpoint file (or `--image`) names an image for any container, shadows included. */
export function hasImageToRun(config: EndpointFileConfig, opts: BackendFlags): boolean {
  return (opts.image ?? config.image) !== undefined || config.endpoints.some((e) => [...e.variants, ...(e.shadow ? [e.shadow] : [])].some((v) => v.containers.some((c) => c.image)));
}

/**
 * Refuses, with `ERR_CLI_USAGE`, `--engine` and `--image` where the process backend would run
 * them (they would be ignored). Needs no engine, so `smkit local` checks it before its port.
 */
export function checkBackendFlags(config: EndpointFileConfig, opts: BackendFlags): void {
  const wanted = opts.backend ?? config.backend;
  // --engine and --image would be ignored on the process backend: the file's choice of it, or no image to run.
  const dockerOnly = [opts.engine !== undefined && '--engine', opts.image !== undefined && '--image'].filter((f): f is string => f !== false);
  const flags = `${dockerOnly.join(' and ')} only ${dockerOnly.length > 1 ? 'apply' : 'applies'} with the docker backend`;
  const them = dockerOnly.length > 1 ? 'them' : 'it';
  if (wanted === 'process' && dockerOnly.length > 0) throw new ToolkitError('ERR_CLI_USAGE', `${flags}, and the endpoint file sets backend: process: add --backend docker, or leave ${them} out`);
  if (wanted === undefined && !hasImageToRun(config, opts) && opts.engine !== undefined) {
    throw new ToolkitError('ERR_CLI_USAGE', `--engine only applies with the docker backend, which runs when an image is set: add --image (or "image" in the endpoint file), or leave it out`);
  }
}

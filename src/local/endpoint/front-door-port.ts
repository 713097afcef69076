import type { EndpointFileConfig } from '../../endpoint-file/schema.js';

/** The port `smkit local` serves on when neither `--port` nor the endpoint file names one. */
export const DEFAULT_FRONT_DOOR_PORT = 8080;

/**
 * The front-door port of `smkit local`: `port` (the `--port` flag), else the endpoint file's
 * `port`, else {@link DEFAULT_FRONT_DOOR_PORT}; 0 means any free port.
 */
export function frontDoorPort(config: Pick<EndpointFileConfig, 'port'> | undefined, port: number | undefined): number {
  return port ?? config?.port ?? DEFAULT_FRONT_DOOR_PORT;
}

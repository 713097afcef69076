import { findFreePortRange } from '../../net/ports.js';
import type { ContainerBackend } from './backend.js';

/**
 * How many ports each container of a multi-container model gets in `SAGEMAKER_SAFE_PORT_RANGE`.
 * AWS documents the variable (a container that needs a second port picks it there,
 * https://docs.aws.amazon.com/sagemaker/latest/dg/inference-pipeline-real-time.html) but not how
 * wide the range is. Ten is room for a second port or a few, while a pipeline of 15 containers
 * (the most SageMaker allows) on the process backend still takes only 150 free host ports.
 */
export const SAFE_PORT_RANGE_SIZE = 10;

/** `[low, high]` as `SAGEMAKER_SAFE_PORT_RANGE` writes it: `"low-high"`, inclusive. */
export function formatPortRange([low, high]: readonly [number, number]): string {
  return `${low}-${high}`;
}

/**
 * The `size` ports right after `port`, or right before it when those would pass 65535: never
 * `port` itself, always within 1–65535 for a `port` above `size`.
 */
export function adjacentPortRange(port: number, size = SAFE_PORT_RANGE_SIZE): readonly [number, number] {
  return port + size <= 65535 ? [port + 1, port + size] : [port - size, port - 1];
}

/**
 * The `SAGEMAKER_SAFE_PORT_RANGE` of one container of a multi-container model that listens on
 * `port` (its `SAGEMAKER_BIND_TO_PORT`).
 *
 * - Process backend: every container is a process on this machine's network, as the containers
 *   of one SageMaker instance share theirs, so each gets free host ports of its own, disjoint from
 *   every other container's range and bound port ({@link findFreePortRange} reserves them).
 * - Docker/podman backend: each container has its own network namespace, and only
 *   `SAGEMAKER_BIND_TO_PORT` is published; a second port is reachable only inside the container,
 *   where nothing else listens. So no host port is taken: the range is the ports next to its own
 *   bound port ({@link adjacentPortRange}), which cannot collide with anything in that namespace.
 */
export async function safePortRangeFor(backend: ContainerBackend, port: number): Promise<readonly [number, number]> {
  return backend.name === 'docker' ? adjacentPortRange(port) : findFreePortRange(SAFE_PORT_RANGE_SIZE);
}

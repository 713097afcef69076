import type { ProductionVariantRoutingConfig } from './shapes/sagemaker.js';

/*
 * A variant's `RoutingConfig` as the service model and API reference state it
 * (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantRoutingConfig.html,
 * https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_PrefixAwareRoutingConfig.html):
 * shared by the local SageMaker's `CreateEndpointConfig` and the endpoint file, so both hold the
 * same values to the same rules and only word their messages differently.
 */

/** `RoutingStrategy`'s values. */
export const ROUTING_STRATEGIES = ['LEAST_OUTSTANDING_REQUESTS', 'RANDOM', 'PREFIX_AWARE'] as const;

/** `PrefixAwareRoutingConfig.PrefixLength`: bytes from the start of the request body that choose the instance. */
export const PREFIX_LENGTH_RANGE = { min: 1024, max: 65536 } as const;

/** `PrefixAwareRoutingConfig.ConcurrencyThreshold`: requests in flight on the chosen instance at which another takes the request. */
export const CONCURRENCY_THRESHOLD_RANGE = { min: 1, max: 1024 } as const;

/** A `PrefixAwareRoutingConfig` member that `PREFIX_AWARE` needs. */
export type PrefixAwareMember = 'PrefixLength' | 'ConcurrencyThreshold';

/** Each member's range and what it means, for a message that asks for it. */
export const PREFIX_AWARE_MEMBERS: Readonly<Record<PrefixAwareMember, string>> = {
  PrefixLength: `${PREFIX_LENGTH_RANGE.min} to ${PREFIX_LENGTH_RANGE.max}: the bytes from the start of the request body that choose the instance`,
  ConcurrencyThreshold: `${CONCURRENCY_THRESHOLD_RANGE.min} to ${CONCURRENCY_THRESHOLD_RANGE.max}: the requests in flight on that instance at which another takes the request`,
};

/**
 * How a `RoutingConfig` breaks the rules beyond its members' constraints, or undefined when it
 * keeps them: `PrefixAwareRoutingConfig` is given only with `RoutingStrategy` `PREFIX_AWARE`
 * (`misplaced`), and `PREFIX_AWARE` needs it with both of its members (`missing` lists those absent,
 * in the order of the API reference).
 */
export function routingConfigProblem(routing: ProductionVariantRoutingConfig): { misplaced: true } | { missing: PrefixAwareMember[] } | undefined {
  const prefix = routing.PrefixAwareRoutingConfig;
  if (routing.RoutingStrategy !== 'PREFIX_AWARE') return prefix === undefined ? undefined : { misplaced: true };
  const missing: PrefixAwareMember[] = [
    ...(prefix?.PrefixLength === undefined ? (['PrefixLength'] as const) : []),
    ...(prefix?.ConcurrencyThreshold === undefined ? (['ConcurrencyThreshold'] as const) : []),
  ];
  return missing.length === 0 ? undefined : { missing };
}

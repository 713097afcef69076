import type { ProductionVariant } from '../../aws/shapes/sagemaker.js';
import { validationException as validation } from '../../aws/service.js';
import type { PrefixAwareRouting } from '../endpoint/prefix-routing.js';
import { PREFIX_AWARE_MEMBERS, routingConfigProblem } from '../../aws/routing-config.js';

/**
 * The rules of a variant's `RoutingConfig` beyond its members' constraints
 * (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantRoutingConfig.html,
 * https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_PrefixAwareRoutingConfig.html):
 * `PrefixAwareRoutingConfig` is given only with `RoutingStrategy` `PREFIX_AWARE`, and `PREFIX_AWARE`
 * needs it with both `PrefixLength` and `ConcurrencyThreshold`. Throws a `ValidationException`
 * naming the first variant that breaks one, and what to change.
 */
export function checkRoutingConfig(variants: readonly ProductionVariant[]): void {
  for (const v of variants) {
    const routing = v.RoutingConfig;
    if (!routing) continue;
    const problem = routingConfigProblem(routing);
    if (!problem) continue;
    const at = `Variant "${v.VariantName}"`;
    if ('misplaced' in problem) {
      throw validation(`${at}: RoutingConfig.PrefixAwareRoutingConfig applies only to RoutingStrategy PREFIX_AWARE, and the RoutingStrategy is ${routing.RoutingStrategy}. Remove PrefixAwareRoutingConfig, or set RoutingStrategy to PREFIX_AWARE.`);
    }
    const missing = problem.missing.map((m) => `${m} (${PREFIX_AWARE_MEMBERS[m]})`);
    throw validation(`${at}: RoutingStrategy PREFIX_AWARE needs RoutingConfig.PrefixAwareRoutingConfig with ${missing.join(' and ')}${routing.PrefixAwareRoutingConfig === undefined ? '' : '; add what is missing'}.`);
  }
}

/**
 * The runtime routing of a variant whose `RoutingStrategy` is `PREFIX_AWARE` (`{ prefixAware }`),
 * else nothing: the other strategies leave the local fleet's least-busy choice as it is.
 */
export function prefixAwareRouting(v: ProductionVariant): { prefixAware?: PrefixAwareRouting } {
  const p = v.RoutingConfig?.RoutingStrategy === 'PREFIX_AWARE' ? v.RoutingConfig.PrefixAwareRoutingConfig : undefined;
  // CreateEndpointConfig refuses PREFIX_AWARE without both members (checkRoutingConfig).
  if (p?.PrefixLength === undefined || p.ConcurrencyThreshold === undefined) return {};
  return { prefixAware: { prefixLength: p.PrefixLength, concurrencyThreshold: p.ConcurrencyThreshold } };
}

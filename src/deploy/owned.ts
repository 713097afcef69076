import { DescribeEndpointCommand, DescribeEndpointConfigCommand, ListEndpointConfigsCommand, ListModelsCommand } from '@aws-sdk/client-sagemaker';
import { isSageMakerName } from '../core/sagemaker-headers.js';
import type { DeployClients } from './clients.js';
import { hashedName } from './desired.js';
import { call, describeOrUndefined } from './service-error.js';

/** Endpoint configs and models that carry smkit's content-hash names for one endpoint. */
export interface OwnedNames {
  readonly configs: readonly string[];
  readonly models: readonly string[];
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** What every content-hash name smkit gives a base starts with (`hashedName(base, <10 hex>)` without the hash). */
function hashedNamePrefix(base: string): string {
  return hashedName(base, '0000000000').slice(0, -10);
}

/** Matches the content-hash names smkit gives a base (`hashedName(base, <10 hex>)`). */
export function hashedNamePattern(base: string): RegExp {
  return new RegExp(`^${escapeRegExp(hashedNamePrefix(base))}[0-9a-f]{10}$`);
}

/** The model names smkit gives an endpoint's variants (`<endpoint>-<variant>-<hash>`). */
export function modelPatterns(endpoint: string, variants: Iterable<string>): RegExp[] {
  return [...variants].map((v) => hashedNamePattern(`${endpoint}-${v}`));
}

/**
 * What every one of these prefixes starts with, for `NameContains`: a name cut to 63 characters
 * keeps only the start of a long endpoint name, so the whole name is not always in it.
 */
function commonStart(prefixes: readonly string[]): string {
  let out = prefixes[0] ?? '';
  for (const p of prefixes) while (!p.startsWith(out)) out = out.slice(0, -1);
  return out;
}

async function listNames(clients: DeployClients, kind: 'models' | 'configs', contains: string): Promise<string[]> {
  const names: string[] = [];
  let token: string | undefined;
  do {
    if (kind === 'models') {
      const res = await call('SageMaker ListModels', () => clients.sagemaker.send(new ListModelsCommand({ NameContains: contains, MaxResults: 100, ...(token ? { NextToken: token } : {}) })));
      names.push(...(res.Models ?? []).map((m) => m.ModelName ?? ''));
      token = res.NextToken;
    } else {
      const res = await call('SageMaker ListEndpointConfigs', () => clients.sagemaker.send(new ListEndpointConfigsCommand({ NameContains: contains, MaxResults: 100, ...(token ? { NextToken: token } : {}) })));
      names.push(...(res.EndpointConfigs ?? []).map((c) => c.EndpointConfigName ?? ''));
      token = res.NextToken;
    }
  } while (token);
  return names;
}

/**
 * Lists the endpoint configs and models that exist under smkit's content-hash names for endpoint
 * `name` and these variants (current, superseded, or left by an update that was rolled back or
 * that deploy stopped following). Writes nothing.
 */
export async function listOwned(clients: DeployClients, name: string, variants: Iterable<string>): Promise<OwnedNames> {
  const configPattern = hashedNamePattern(name);
  const configs = (await listNames(clients, 'configs', hashedNamePrefix(name).replace(/-+$/, ''))).filter((c) => configPattern.test(c));
  const names = [...variants];
  if (names.length === 0) return { configs, models: [] };
  const patterns = modelPatterns(name, names);
  const contains = commonStart(names.map((v) => hashedNamePrefix(`${name}-${v}`))).replace(/-+$/, '');
  const models = (await listNames(clients, 'models', contains)).filter((m) => patterns.some((p) => p.test(m)));
  return { configs, models };
}

/**
 * Other endpoints whose `<endpoint>-<variant>` can read as one of this endpoint's (endpoint
 * `fraud-v2`, variant `canary` beside endpoint `fraud`, variant `v2-canary`): their model names
 * match the same pattern.
 */
function neighbourEndpoints(name: string, variants: Iterable<string>): string[] {
  const out = new Set<string>();
  const prefixes = (text: string): string[] => text.split('-').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('-'));
  for (const p of prefixes(name)) out.add(p);
  for (const v of variants) for (const p of prefixes(v)) out.add(`${name}-${p}`);
  out.delete(name);
  return [...out].filter(isSageMakerName);
}

/** Removes from `models` the ones a neighbour endpoint (see {@link neighbourEndpoints}) runs now. */
export async function keepNeighbourModels(clients: DeployClients, name: string, variants: Iterable<string>, models: Set<string>): Promise<void> {
  for (const other of neighbourEndpoints(name, variants)) {
    if (models.size === 0) return;
    const e = await describeOrUndefined(`SageMaker DescribeEndpoint ${other}`, () => clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: other })));
    if (!e?.EndpointConfigName) continue;
    const c = await describeOrUndefined(`SageMaker DescribeEndpointConfig ${e.EndpointConfigName}`, () => clients.sagemaker.send(new DescribeEndpointConfigCommand({ EndpointConfigName: e.EndpointConfigName })));
    for (const v of [...(c?.ProductionVariants ?? []), ...(c?.ShadowProductionVariants ?? [])]) if (v.ModelName) models.delete(v.ModelName);
  }
}

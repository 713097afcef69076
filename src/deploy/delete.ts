import { DeleteAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import {
  DeleteEndpointCommand,
  DeleteEndpointConfigCommand,
  DeleteModelCommand,
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
} from '@aws-sdk/client-sagemaker';
import type { EndpointConfig } from '../endpoint-file/schema.js';
import { deregisterTarget } from './apply.js';
import type { DeployClients } from './clients.js';
import { alarmWatches, legacyScaleFromZeroAlarmName, scaleFromZeroAlarmNames, scalingPolicyName, variantResourceId } from './desired.js';
import { ALARMS_PER_CALL, configVariants, describeAlarms, describeScaling } from './inspect.js';
import { keepNeighbourModels, listOwned } from './owned.js';
import { alarmNotOf, type PlanItem } from './plan.js';
import { followDeletion } from './progress.js';
import { call, describeOrUndefined, isSageMakerNotFound, serviceError } from './service-error.js';

/** What `--delete` removes for one endpoint of the file. */
export interface DeletePlan {
  readonly endpoint: string;
  readonly endpointExists: boolean;
  readonly scalableTargets: readonly string[];
  readonly configs: readonly string[];
  readonly models: readonly string[];
  readonly alarms: readonly string[];
  readonly items: readonly PlanItem[];
}

/**
 * Finds what smkit deployed for an endpoint of the file: its scalable targets, the endpoint, every
 * endpoint config and model with smkit's content-hash names for it (current, superseded or left
 * by a rolled-back update), and the file's alarms. Configs and models under other names (the
 * endpoint's current ones, when it was made by hand) and archives in S3 are left alone. Writes nothing.
 */
export async function planDelete(clients: DeployClients, endpoint: EndpointConfig): Promise<DeletePlan> {
  const name = endpoint.name;
  const ep = await describeOrUndefined(`SageMaker DescribeEndpoint ${name}`, () => clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: name })));
  const variants = new Set([...endpoint.variants, ...(endpoint.shadow ? [endpoint.shadow] : [])].map((v) => v.name));
  const configs = new Set<string>();
  const models = new Set<string>();
  // The current config's variants may be ones the file no longer names (their models, scaling and
  // alarms go too); its config and models themselves only when smkit named them, which listOwned
  // finds: an endpoint first made by hand or by other tools keeps its own (perhaps shared) ones.
  if (ep?.EndpointConfigName) {
    const cur = await describeOrUndefined(`SageMaker DescribeEndpointConfig ${ep.EndpointConfigName}`, () =>
      clients.sagemaker.send(new DescribeEndpointConfigCommand({ EndpointConfigName: ep.EndpointConfigName })),
    );
    for (const v of cur ? configVariants(cur) : []) variants.add(v.name);
  }
  const owned = await listOwned(clients, name, variants);
  for (const c of owned.configs) configs.add(c);
  for (const m of owned.models) models.add(m);
  await keepNeighbourModels(clients, name, variants, models);

  const legacy = new Set([...variants].map((v) => legacyScaleFromZeroAlarmName(name, v)));
  const fileAlarms = new Set((endpoint.alarms ?? []).map((a) => a.name));
  const alarmNames = [...fileAlarms, ...[...variants].flatMap((v) => scaleFromZeroAlarmNames(name, v))];
  // An alarm under a hyphenated variant's old name may be a look-alike endpoint's (see legacyScaleFromZeroAlarmName).
  // A file's alarm that watches another endpoint is that endpoint's (alarm names are one per
  // account and Region: a copied file, a renamed endpoint), and so is one under a hyphenated
  // variant's old name (see legacyScaleFromZeroAlarmName): they are kept, the first said so.
  const found = [...(await describeAlarms(clients, alarmNames)).values()];
  const alarms = found.filter((a) => (!fileAlarms.has(a.AlarmName!) && !legacy.has(a.AlarmName)) || alarmWatches(a, name)).map((a) => a.AlarmName!);
  const kept = found.filter((a) => fileAlarms.has(a.AlarmName!) && !alarmWatches(a, name)).map((a) => ({ kind: 'alarm' as const, name: a.AlarmName!, action: 'unchanged' as const, detail: `it ${alarmNotOf(a, name, name)}` }));
  const { targets } = await describeScaling(clients, [...variants].map((v) => variantResourceId(name, v)));
  const scalableTargets = [...targets.keys()];
  const items: PlanItem[] = [
    ...scalableTargets.map((id) => ({ kind: 'scalable-target' as const, name: id, action: 'delete' as const })),
    ...(ep ? [{ kind: 'endpoint' as const, name, action: 'delete' as const, detail: `${ep.EndpointStatus}, config ${ep.EndpointConfigName}` }] : []),
    ...[...configs].map((c) => ({ kind: 'endpoint-config' as const, name: c, action: 'delete' as const })),
    ...[...models].map((m) => ({ kind: 'model' as const, name: m, action: 'delete' as const })),
    ...alarms.map((a) => ({ kind: 'alarm' as const, name: a, action: 'delete' as const })),
    ...kept,
  ];
  return { endpoint: name, endpointExists: ep !== undefined, scalableTargets, configs: [...configs], models: [...models], alarms, items };
}

/** Deletes what {@link planDelete} found: scaling first, then the endpoint (waiting until it is gone), configs, models, alarms. */
export async function applyDelete(clients: DeployClients, plan: DeletePlan, opts: { log: (line: string) => void; pollSeconds: number; timeoutSeconds: number }): Promise<void> {
  const { log } = opts;
  for (const id of plan.scalableTargets) await deregisterTarget(clients, id, scalingPolicyName(plan.endpoint, id.split('/').pop()!), log);
  if (plan.endpointExists) {
    try {
      await clients.sagemaker.send(new DeleteEndpointCommand({ EndpointName: plan.endpoint }));
      log(`deleting endpoint ${plan.endpoint}`);
    } catch (err) {
      if (!isSageMakerNotFound(err)) throw serviceError(`SageMaker DeleteEndpoint ${plan.endpoint}`, err);
    }
    await followDeletion(clients, plan.endpoint, opts, `Run smkit deploy --delete again to remove its endpoint configs, models${plan.alarms.length > 0 ? ' and alarms' : ''} once it is gone (it waits for that).`, 'smkit deploy --delete');
    log(`deleted endpoint ${plan.endpoint}`);
  }
  for (const c of plan.configs) {
    try {
      await clients.sagemaker.send(new DeleteEndpointConfigCommand({ EndpointConfigName: c }));
      log(`deleted endpoint config ${c}`);
    } catch (err) {
      if (!isSageMakerNotFound(err)) throw serviceError(`SageMaker DeleteEndpointConfig ${c}`, err);
    }
  }
  for (const m of plan.models) {
    try {
      await clients.sagemaker.send(new DeleteModelCommand({ ModelName: m }));
      log(`deleted model ${m}`);
    } catch (err) {
      if (!isSageMakerNotFound(err)) throw serviceError(`SageMaker DeleteModel ${m}`, err);
    }
  }
  // DeleteAlarms takes at most 100 names: more in one call were refused, and none deleted.
  for (let i = 0; i < plan.alarms.length; i += ALARMS_PER_CALL) {
    const names = plan.alarms.slice(i, i + ALARMS_PER_CALL);
    await call('CloudWatch DeleteAlarms', () => clients.cloudwatch.send(new DeleteAlarmsCommand({ AlarmNames: names })));
    log(`deleted alarms ${names.join(', ')}`);
  }
}

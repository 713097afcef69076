import {
  DeleteScalingPolicyCommand,
  DeregisterScalableTargetCommand,
  DescribeScalingPoliciesCommand,
  PutScalingPolicyCommand,
  RegisterScalableTargetCommand,
} from '@aws-sdk/client-application-auto-scaling';
import { DeleteAlarmsCommand, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import {
  AddTagsCommand,
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DeleteEndpointCommand,
  DeleteEndpointConfigCommand,
  DeleteModelCommand,
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  DescribeModelCommand,
  ListEndpointConfigsCommand,
  UpdateEndpointCommand,
} from '@aws-sdk/client-sagemaker';
import { ToolkitError } from '../errors/catalogue.js';
import { uploadFile } from './artifacts.js';
import { whileInterruptible } from './interrupt.js';
import type { DeployClients } from './clients.js';
import { SCALABLE_DIMENSION, scalingPolicyName } from './desired.js';
import { rolledBackReason } from './rollback-reason.js';
import type { EndpointPlan } from './plan.js';
import { followDeletion, waitForEndpoint, waitForEndpointSettled, type WaitOptions, type WaitOutcome } from './progress.js';
import { configVariants } from './inspect.js';
import { allPages, call, describeOrUndefined, isInProgress, isSageMakerNotFound, serviceError } from './service-error.js';

/** Options of {@link applyPlan}. */
export interface ApplyOptions {
  readonly log: (line: string) => void;
  /** Seconds between `DescribeEndpoint` polls. */
  readonly pollSeconds: number;
  /** Longest wait for the endpoint to be in service, in seconds. */
  readonly timeoutSeconds: number;
  /** Files at least this large are uploaded in parts. */
  readonly multipartThresholdBytes?: number;
  /** Options for the `aws` commands printed for what deploy leaves to the user (` --endpoint-url … --region …`). */
  readonly awsCliOptions?: string;
}

/**
 * What an update that deploy stopped following (Ctrl-C, `--timeout`) leaves to delete: the
 * superseded config and models are deleted only after the update completes (a rollback needs
 * them). A later run finds them (or, after a rollback, the new ones) only when smkit named them.
 */
function supersededLeftBehind(plan: EndpointPlan, cli: string): string {
  const { configs, models } = plan.cleanup;
  if (configs.length === 0 && models.length === 0) return '';
  const d = plan.desired;
  const commands = [
    ...configs.map((c) => `aws sagemaker delete-endpoint-config${cli} --endpoint-config-name ${c}`),
    ...models.map((m) => `aws sagemaker delete-model${cli} --model-name ${m}`),
  ];
  const rest = plan.registerTargets.length + plan.putPolicies.length + plan.deletePolicies.length + plan.putScalingAlarms.length + plan.deleteAlarms.length > 0;
  return ` Once it is InService on ${d.config.name} (aws sagemaker describe-endpoint${cli} --endpoint-name ${d.name}), ${rest ? 'run smkit deploy again for the autoscaling and alarms that come after the update, and ' : ''}delete what the update superseded: ${commands.join('; ')}. If it rolls back to ${plan.previousConfig} instead, keep them. A later smkit deploy, once the endpoint has settled, deletes whichever side is left over when smkit named it (<endpoint>-<hash>, <endpoint>-<variant>-<hash>).`;
}

/**
 * What an update that did not complete leaves of the autoscaling deploy deregistered before it
 * (SageMaker refuses to update an autoscaled variant's instance type, or to remove it): the
 * variants that scaled before now run without it, and say so, or a rollback went unnoticed as an
 * endpoint that no longer scales.
 */
function unscaled(plan: EndpointPlan): string {
  if (plan.deregister.length === 0) return '';
  const variants = plan.deregister.map((id) => id.split('/').pop()!);
  const which = variants.length > 1 ? `variants ${variants.slice(0, -1).join(', ')} and ${variants.at(-1)}` : `variant ${variants[0]}`;
  return ` Deploy deregistered the autoscaling of ${which} before the update (SageMaker refuses to update an autoscaled variant's instance type, or to remove it): ${variants.length > 1 ? 'they run' : 'it runs'} at a fixed instance count until a deploy registers it again; fix the cause and run smkit deploy again, or deploy the file of the config it serves.`;
}

/**
 * `err`, a failure before the update started (SageMaker refused UpdateEndpoint, the endpoint did
 * not settle for it), saying what it leaves of the autoscaling deploy deregistered for the update:
 * the endpoint still serves its config, but those variants no longer scale.
 */
function withUnscaled(plan: EndpointPlan, err: unknown): unknown {
  const left = unscaled(plan);
  if (!(err instanceof ToolkitError) || !left) return err;
  return new ToolkitError(err.code, `${err.message.replace(/\.?$/, '.')}${left}`, { cause: err, ...(err.details ? { details: err.details } : {}) });
}

/**
 * What deploy leaves of the autoscaling it deregistered before an update it stopped following
 * (interrupted, `--timeout`): whether the update completes or rolls back, those variants run at a
 * fixed instance count until a deploy registers them again, which nothing else would say.
 */
function unscaledWhileUpdating(plan: EndpointPlan): string {
  if (plan.deregister.length === 0) return '';
  const variants = plan.deregister.map((id) => id.split('/').pop()!);
  const which = variants.length > 1 ? `variants ${variants.slice(0, -1).join(', ')} and ${variants.at(-1)}` : `variant ${variants[0]}`;
  return ` Deploy deregistered the autoscaling of ${which} before the update (SageMaker refuses to update an autoscaled variant's instance type, or to remove it): ${variants.length > 1 ? 'they run' : 'it runs'} at a fixed instance count until a deploy registers it again. Once the endpoint has settled, run smkit deploy again if the update completed; if it rolled back, fix the cause and run smkit deploy again, or deploy the file of the config it serves.`;
}

/** Deregisters a variant's scalable target (which also deletes its policies), first deleting smkit's policy. */
export async function deregisterTarget(clients: DeployClients, resourceId: string, policyName: string | undefined, log: (line: string) => void): Promise<void> {
  if (policyName) {
    try {
      await clients.autoscaling.send(new DeleteScalingPolicyCommand({ PolicyName: policyName, ServiceNamespace: 'sagemaker', ResourceId: resourceId, ScalableDimension: SCALABLE_DIMENSION }));
    } catch (err) {
      if ((err as { name?: string }).name !== 'ObjectNotFoundException') throw serviceError(`Application Auto Scaling DeleteScalingPolicy ${policyName}`, err);
    }
  }
  try {
    await clients.autoscaling.send(new DeregisterScalableTargetCommand({ ServiceNamespace: 'sagemaker', ResourceId: resourceId, ScalableDimension: SCALABLE_DIMENSION }));
    log(`deregistered scalable target ${resourceId}`);
  } catch (err) {
    if ((err as { name?: string }).name !== 'ObjectNotFoundException') throw serviceError(`Application Auto Scaling DeregisterScalableTarget ${resourceId}`, err);
  }
}

/** The ARN of a policy this deploy did not put (it was unchanged). */
async function policyArn(clients: DeployClients, resourceId: string, policyName: string): Promise<string> {
  const out = await call(`Application Auto Scaling DescribeScalingPolicies ${policyName}`, () =>
    clients.autoscaling.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: 'sagemaker', ResourceId: resourceId, ScalableDimension: SCALABLE_DIMENSION, PolicyNames: [policyName] })),
  );
  const arn = out.ScalingPolicies?.[0]?.PolicyARN;
  if (!arn) throw new ToolkitError('ERR_DEPLOY_FAILED', `scaling policy ${policyName} of ${resourceId} has no ARN; run smkit deploy again`);
  return arn;
}

/**
 * Waits for an update to end. Ctrl-C (or SIGTERM) stops the wait with `ERR_DEPLOY_FAILED`; that
 * and any other stop before the update ended (`--timeout`) say what to delete once it completes.
 */
async function followUpdate(clients: DeployClients, plan: EndpointPlan, waitOpts: WaitOptions, cli: string): Promise<WaitOutcome> {
  const d = plan.desired;
  try {
    return await whileInterruptible(async (signal) => {
      try {
        return await waitForEndpoint(clients, d.name, d.config.name, { ...waitOpts, signal });
      } catch (err) {
        if (!signal.aborted) throw err;
        const why = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
        throw new ToolkitError('ERR_DEPLOY_FAILED', `${why} while endpoint ${d.name} was updating to ${d.config.name}; the update goes on in SageMaker.`, { cause: err });
      }
    });
  } catch (err) {
    // Deploy stopped following the update (interrupted, timed out, DescribeEndpoint failing).
    const left = supersededLeftBehind(plan, cli) + unscaledWhileUpdating(plan);
    if (!(err instanceof ToolkitError) || !left) throw err;
    throw new ToolkitError(err.code, `${err.message.replace(/\.?$/, '.')}${left}`, { cause: err });
  }
}

/**
 * Waits for a create to end. Ctrl-C (or SIGTERM) stops the wait with `ERR_DEPLOY_FAILED` saying
 * that the endpoint is still being created in SageMaker and how to follow it or pick up from there.
 */
async function followCreate(clients: DeployClients, plan: EndpointPlan, waitOpts: WaitOptions, cli: string): Promise<WaitOutcome> {
  const d = plan.desired;
  return whileInterruptible(async (signal) => {
    try {
      return await waitForEndpoint(clients, d.name, d.config.name, { ...waitOpts, signal });
    } catch (err) {
      if (!signal.aborted) {
        // --timeout, or DescribeEndpoint failing: the creation goes on as after Ctrl-C, and so does what is left to do.
        if (!(err instanceof ToolkitError)) throw err;
        throw new ToolkitError(
          err.code,
          `${err.message.replace(/\.?$/, '.')} Run smkit deploy again to wait for endpoint ${d.name} and do what comes after its creation (autoscaling, deleting what an earlier run left), or smkit deploy --delete to remove it.`,
          { cause: err, ...(err.details ? { details: err.details } : {}) },
        );
      }
      const why = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
      throw new ToolkitError(
        'ERR_DEPLOY_FAILED',
        `${why} while endpoint ${d.name} was being created with ${d.config.name}; the creation goes on in SageMaker. Follow it with aws sagemaker describe-endpoint${cli} --endpoint-name ${d.name}; run smkit deploy again to wait for it and do what comes after (autoscaling, deleting what an earlier run left), or smkit deploy --delete to remove it.`,
        { cause: err },
      );
    }
  });
}

/**
 * Creates a model or endpoint config; false when SageMaker says it exists already ("Cannot create
 * already existing model ..."). Their names are a hash of their definition, so one that exists is
 * this definition: the SDK retried a create that went through (a 5xx or a dropped answer after the
 * service had acted), or another deploy of the same file created it since the plan.
 */
async function createUnlessExisting(step: string, fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    const e = err as { name?: string; message?: string };
    if (e.name === 'ValidationException' && /^Cannot create already existing (model|endpoint configuration)\b/.test(e.message ?? '')) return false;
    throw serviceError(step, err);
  }
}

/**
 * Calls CreateEndpoint. An endpoint that exists already on the desired config, Creating or
 * InService, is this create: the SDK retried a call that went through (a 5xx or a dropped answer
 * after the service had acted), or another deploy of the same file came first; it is followed as
 * created. One on another config was made since the plan, and a new run updates it.
 */
async function createEndpoint(clients: DeployClients, plan: EndpointPlan, log: (line: string) => void): Promise<void> {
  const d = plan.desired;
  const step = `SageMaker CreateEndpoint ${d.name}`;
  try {
    await clients.sagemaker.send(new CreateEndpointCommand({ EndpointName: d.name, EndpointConfigName: d.config.name, ...(d.tags ? { Tags: [...d.tags] } : {}) }));
    log(`creating endpoint ${d.name} with ${d.config.name}`);
    return;
  } catch (err) {
    const e = err as { name?: string; message?: string };
    if (e.name !== 'ValidationException' || !/^Cannot create already existing endpoint\b/.test(e.message ?? '')) throw serviceError(step, err);
    const ep = await describeOrUndefined(`SageMaker DescribeEndpoint ${d.name}`, () => clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: d.name })));
    if (ep?.EndpointConfigName === d.config.name && (ep.EndpointStatus === 'Creating' || ep.EndpointStatus === 'InService')) {
      log(`endpoint ${d.name} exists already on ${d.config.name} (a retried create that went through, or another deploy of the same file); following it`);
      return;
    }
    const failure = serviceError(step, err);
    const why =
      ep?.EndpointStatus === 'Deleting'
        ? 'It is still being deleted: run smkit deploy again, which waits until it is gone.'
        : `It was created after the plan${ep?.EndpointConfigName ? ` (on ${ep.EndpointConfigName})` : ''}, by another deploy or someone else: run smkit deploy again, which plans from it.`;
    throw new ToolkitError('ERR_DEPLOY_FAILED', `${failure.message.replace(/\.?$/, '.')} ${why}`, {
      cause: err,
      ...(failure.details ? { details: failure.details } : {}),
    });
  }
}

async function deleteIgnoringMissing(step: string, fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    if (isSageMakerNotFound(err)) return false;
    throw serviceError(step, err);
  }
}

/**
 * The plan as it applies to an endpoint that another change (another deploy, someone's
 * UpdateEndpoint) moved from `plan.previousConfig` to `serving` after it was planned: the update
 * replaces `serving`, so that config and the models only it uses are the superseded ones too.
 */
async function replanFrom(clients: DeployClients, plan: EndpointPlan, serving: string, log: (line: string) => void): Promise<EndpointPlan> {
  const d = plan.desired;
  log(`${d.name} changed after it was planned: it serves ${serving}, not ${plan.previousConfig}, so the update replaces ${serving}`);
  const config = await describeOrUndefined(`SageMaker DescribeEndpointConfig ${serving}`, () => clients.sagemaker.send(new DescribeEndpointConfigCommand({ EndpointConfigName: serving })));
  const keep = new Set([...d.models.map((m) => m.name), ...[...(d.config.input.ProductionVariants ?? []), ...(d.config.input.ShadowProductionVariants ?? [])].map((v) => v.ModelName)]);
  const models = new Set(plan.cleanup.models);
  for (const v of config ? configVariants(config) : []) if (!keep.has(v.modelName)) models.add(v.modelName);
  return { ...plan, previousConfig: serving, cleanup: { configs: [...new Set([...plan.cleanup.configs, serving])], models: [...models] } };
}

/**
 * Calls UpdateEndpoint once the endpoint is not changing (autoscaling can start changing it after
 * it was planned, as the uploads and models take a while; another deploy can update it), and says
 * which config it replaces: the one served when the call is made, not the one planned from. An
 * endpoint that another change already moved to the desired config is left as it is. Returns the
 * plan as applied.
 */
async function updateEndpoint(clients: DeployClients, plan: EndpointPlan, waitOpts: WaitOptions): Promise<EndpointPlan> {
  const d = plan.desired;
  const log = waitOpts.log;
  const deadline = Date.now() + waitOpts.timeoutSeconds * 1000;
  for (;;) {
    const ep = await describeOrUndefined(`SageMaker DescribeEndpoint ${d.name}`, () => clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: d.name })));
    if (!ep) throw new ToolkitError('ERR_DEPLOY_FAILED', `endpoint ${d.name} was deleted after it was planned; run smkit deploy again`);
    const serving = ep.EndpointConfigName ?? plan.previousConfig;
    const settled = ep.EndpointStatus === 'InService' || ep.EndpointStatus === 'OutOfService';
    if (settled && serving === d.config.name) {
      log(`${d.name} changed after it was planned: it already serves ${d.config.name}, so it is not updated`);
      return { ...plan, endpoint: 'unchanged', previousConfig: serving, cleanup: { configs: plan.cleanup.configs.filter((c) => c !== serving), models: plan.cleanup.models } };
    }
    try {
      await clients.sagemaker.send(new UpdateEndpointCommand({ EndpointName: d.name, EndpointConfigName: d.config.name, ...(d.deploymentConfig ? { DeploymentConfig: d.deploymentConfig } : {}) }));
      const applied = settled && serving !== undefined && serving !== plan.previousConfig ? await replanFrom(clients, plan, serving, log) : plan;
      log(`updating endpoint ${d.name}: ${applied.previousConfig} → ${d.config.name}`);
      return applied;
    } catch (err) {
      if (!isInProgress(err) || Date.now() > deadline) throw withUnscaled(plan, serviceError(`SageMaker UpdateEndpoint ${d.name}`, err));
      log(`${d.name} started changing after it was planned (autoscaling or another deploy?); updating once it settles`);
      await waitForEndpointSettled(clients, d.name, { ...waitOpts, timeoutSeconds: Math.max(1, (deadline - Date.now()) / 1000) }).catch((e: unknown) => {
        throw withUnscaled(plan, e);
      });
    }
  }
}

/**
 * Leaves out the leftovers that an update started since they were found uses (another deploy
 * may have created that config and be updating the endpoint to it): a config must not be deleted
 * while an update uses it (UpdateEndpoint, API reference).
 */
async function notInUse(clients: DeployClients, name: string, leftovers: EndpointPlan['leftovers'], deleting: readonly string[], log: (line: string) => void): Promise<EndpointPlan['leftovers']> {
  if (leftovers.configs.length === 0 && leftovers.models.length === 0) return leftovers;
  const ep = await describeOrUndefined(`SageMaker DescribeEndpoint ${name}`, () => clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: name })));
  const used = [ep?.EndpointConfigName, ep?.PendingDeploymentSummary?.EndpointConfigName].filter((c): c is string => c !== undefined);
  const usedModels = new Set<string>();
  for (const c of used) {
    const config = await describeOrUndefined(`SageMaker DescribeEndpointConfig ${c}`, () => clients.sagemaker.send(new DescribeEndpointConfigCommand({ EndpointConfigName: c })));
    for (const v of config ? configVariants(config) : []) usedModels.add(v.modelName);
  }
  const kept = [...leftovers.configs.filter((c) => used.includes(c)), ...leftovers.models.filter((m) => usedModels.has(m))];
  if (kept.length > 0) log(`kept ${kept.join(', ')}: ${name} started using them after it was planned (another deploy?)`);
  const configs = leftovers.configs.filter((c) => !used.includes(c));
  const models = leftovers.models.filter((m) => !usedModels.has(m));
  return { configs, models: await notInOtherConfigs(clients, models, new Set([...configs, ...deleting]), log) };
}

/** `models` but those an endpoint config other than `deleting` names ({@link usedByOtherConfigs}), each kept saying which. */
async function notInOtherConfigs(clients: DeployClients, models: readonly string[], deleting: ReadonlySet<string>, log: (line: string) => void): Promise<string[]> {
  const elsewhere = await usedByOtherConfigs(clients, models, deleting);
  if (elsewhere.size > 0) log(`kept ${[...elsewhere.entries()].map(([m, c]) => `model ${m} (endpoint config ${c} uses it)`).join(', ')}`);
  return models.filter((m) => !elsewhere.has(m));
}

/**
 * The models of `models` an endpoint config other than `deleting` names, with the first such config.
 * A leftover model carries smkit's name, but a config made by hand (or another tool) may use it;
 * deleting it broke that config (its endpoints could not be updated or created from it). A config
 * naming a model was made after it, so only the configs made since the earliest of them are read.
 */
async function usedByOtherConfigs(clients: DeployClients, models: readonly string[], deleting: ReadonlySet<string>): Promise<Map<string, string>> {
  const used = new Map<string, string>();
  if (models.length === 0) return used;
  let earliest: Date | undefined;
  for (const m of models) {
    const d = await describeOrUndefined(`SageMaker DescribeModel ${m}`, () => clients.sagemaker.send(new DescribeModelCommand({ ModelName: m })));
    if (d?.CreationTime && (earliest === undefined || d.CreationTime < earliest)) earliest = d.CreationTime;
  }
  const wanted = new Set(models);
  const since = earliest ? new Date(earliest.getTime() - 1000) : undefined;
  const pages = await allPages('SageMaker ListEndpointConfigs', (token) =>
    clients.sagemaker.send(new ListEndpointConfigsCommand({ MaxResults: 100, ...(since ? { CreationTimeAfter: since } : {}), ...(token !== undefined ? { NextToken: token } : {}) })),
  );
  for (const c of pages.flatMap((p) => p.EndpointConfigs ?? []).map((e) => e.EndpointConfigName ?? '')) {
    if (c === '' || deleting.has(c)) continue;
    const config = await describeOrUndefined(`SageMaker DescribeEndpointConfig ${c}`, () => clients.sagemaker.send(new DescribeEndpointConfigCommand({ EndpointConfigName: c })));
    for (const v of config ? configVariants(config) : []) if (wanted.has(v.modelName) && !used.has(v.modelName)) used.set(v.modelName, c);
  }
  return used;
}

/**
 * Carries out a plan: uploads, models, endpoint config, alarms (before the endpoint, so the
 * update can watch them), the endpoint create or update (waiting with a progress line per step),
 * deletes the superseded config and models, then autoscaling (after: it needs the variant in
 * service). Throws `ERR_DEPLOY_FAILED` with the service's error when a step fails, and
 * `ERR_DEPLOY_ROLLED_BACK` when the update was rolled back.
 */
export async function applyPlan(clients: DeployClients, planned: EndpointPlan, opts: ApplyOptions): Promise<void> {
  let plan = planned;
  const { log } = opts;
  const d = plan.desired;
  for (const u of plan.uploads) await whileInterruptible((signal) => uploadFile(clients.s3, u.bucket, u.file, log, opts.multipartThresholdBytes, signal));
  for (const m of plan.createModels) {
    if (await createUnlessExisting(`SageMaker CreateModel ${m.name}`, () => clients.sagemaker.send(new CreateModelCommand(m.input)))) log(`created model ${m.name}`);
    else log(`model ${m.name} exists already (a retried create that went through, or another deploy of the same definition); using it`);
  }
  if (plan.createConfig) {
    const name = d.config.name;
    if (await createUnlessExisting(`SageMaker CreateEndpointConfig ${name}`, () => clients.sagemaker.send(new CreateEndpointConfigCommand(d.config.input)))) log(`created endpoint config ${name}`);
    else log(`endpoint config ${name} exists already (a retried create that went through, or another deploy of the same definition); using it`);
  }
  for (const a of plan.putAlarms) {
    await call(`CloudWatch PutMetricAlarm ${a.AlarmName}`, () => clients.cloudwatch.send(new PutMetricAlarmCommand(a)));
    log(`put alarm ${a.AlarmName}`);
  }
  if (plan.tagEndpoint) {
    const { arn, tags } = plan.tagEndpoint;
    await call(`SageMaker AddTags ${d.name}`, () => clients.sagemaker.send(new AddTagsCommand({ ResourceArn: arn, Tags: [...tags] })));
    log(`tagged endpoint ${d.name}: ${tags.map((t) => `${t.Key}=${t.Value}`).join(', ')}`);
  }
  for (const id of plan.deregister) await deregisterTarget(clients, id, scalingPolicyName(d.name, id.split('/').pop()!), log);

  const bg = d.deploymentConfig?.BlueGreenUpdatePolicy?.TrafficRoutingConfiguration?.WaitIntervalInSeconds ?? d.deploymentConfig?.RollingUpdatePolicy?.WaitIntervalInSeconds;
  const waitOpts = { pollSeconds: opts.pollSeconds, timeoutSeconds: opts.timeoutSeconds, log, ...(bg !== undefined ? { bakeSeconds: bg } : {}) };
  if (plan.endpoint === 'recreate') {
    await call(`SageMaker DeleteEndpoint ${d.name}`, () => clients.sagemaker.send(new DeleteEndpointCommand({ EndpointName: d.name })));
    log(`deleting failed endpoint ${d.name}`);
    await followDeletion(clients, d.name, waitOpts, 'Run smkit deploy again: it waits until the endpoint is gone and creates it anew.', 'smkit deploy');
  }
  if (plan.endpoint === 'create' || plan.endpoint === 'recreate') {
    await createEndpoint(clients, plan, log);
  } else if (plan.endpoint === 'update') {
    plan = await updateEndpoint(clients, plan, waitOpts);
  }
  if (plan.endpoint !== 'unchanged') {
    const outcome = plan.endpoint === 'update' ? await followUpdate(clients, plan, waitOpts, opts.awsCliOptions ?? '') : await followCreate(clients, plan, waitOpts, opts.awsCliOptions ?? '');
    if (outcome.kind === 'failed') {
      // The plan deletes and creates again an endpoint that is Failed; its models and config stay.
      const next = plan.endpoint === 'update' ? (plan.deregister.length > 0 ? `.${unscaled(plan)}` : '') : `. Fix the cause and run smkit deploy again: it deletes the Failed endpoint and creates it anew (or smkit deploy --delete removes it)`;
      throw new ToolkitError('ERR_DEPLOY_FAILED', `endpoint ${d.name} failed: ${outcome.reason.replace(/\.+$/, '')}${next}`);
    }
    if (outcome.kind === 'rolled-back') {
      // What it serves, not what was planned: another update may have come first (see above).
      const serving = outcome.serving ?? plan.previousConfig;
      log(`${d.name}: rolled back to ${serving}`);
      const reason = await rolledBackReason(clients, d, outcome);
      throw new ToolkitError('ERR_DEPLOY_ROLLED_BACK', `the update of ${d.name} to ${d.config.name} was rolled back: ${reason.replace(/\.+$/, '')}. The endpoint serves ${serving} again.${unscaled(plan)}`);
    }
    log(`endpoint ${d.name} is InService on ${d.config.name}`);
  }
  // Right after the update, before autoscaling: a later step that fails would leave them behind
  // (a later run finds them again only when smkit named them).
  const leftovers = await notInUse(clients, d.name, plan.leftovers, plan.cleanup.configs, log);
  // A superseded model, as a leftover one, may be named by a config made by hand (or another tool).
  const superseded = { configs: plan.cleanup.configs, models: await notInOtherConfigs(clients, plan.cleanup.models, new Set([...plan.cleanup.configs, ...leftovers.configs]), log) };
  for (const [what, names] of [['superseded', superseded], ['leftover', leftovers]] as const) {
    for (const c of names.configs) {
      if (await deleteIgnoringMissing(`SageMaker DeleteEndpointConfig ${c}`, () => clients.sagemaker.send(new DeleteEndpointConfigCommand({ EndpointConfigName: c })))) log(`deleted ${what} endpoint config ${c}`);
    }
    for (const m of names.models) {
      if (await deleteIgnoringMissing(`SageMaker DeleteModel ${m}`, () => clients.sagemaker.send(new DeleteModelCommand({ ModelName: m })))) log(`deleted ${what} model ${m}`);
    }
  }

  for (const s of plan.registerTargets) {
    await call(`Application Auto Scaling RegisterScalableTarget ${s.resourceId}`, () => clients.autoscaling.send(new RegisterScalableTargetCommand(s.target)));
    log(`registered scalable target ${s.resourceId} (${s.target.MinCapacity} to ${s.target.MaxCapacity})`);
  }
  const policyArns = new Map<string, string>();
  for (const p of plan.putPolicies) {
    const out = await call(`Application Auto Scaling PutScalingPolicy ${p.PolicyName}`, () => clients.autoscaling.send(new PutScalingPolicyCommand(p)));
    if (out.PolicyARN) policyArns.set(`${p.ResourceId}|${p.PolicyName}`, out.PolicyARN);
    log(`put scaling policy ${p.PolicyName}`);
  }
  for (const p of plan.deletePolicies) {
    await call(`Application Auto Scaling DeleteScalingPolicy ${p.policyName}`, () =>
      clients.autoscaling.send(new DeleteScalingPolicyCommand({ PolicyName: p.policyName, ServiceNamespace: 'sagemaker', ResourceId: p.resourceId, ScalableDimension: SCALABLE_DIMENSION })),
    );
    log(`deleted scaling policy ${p.policyName}`);
  }
  for (const a of plan.putScalingAlarms) {
    const arn = policyArns.get(`${a.resourceId}|${a.policyName}`) ?? (await policyArn(clients, a.resourceId, a.policyName));
    await call(`CloudWatch PutMetricAlarm ${a.alarm.AlarmName}`, () => clients.cloudwatch.send(new PutMetricAlarmCommand({ ...a.alarm, AlarmActions: [arn] })));
    log(`put alarm ${a.alarm.AlarmName} (invokes ${a.policyName})`);
  }
  if (plan.deleteAlarms.length > 0) {
    await call('CloudWatch DeleteAlarms', () => clients.cloudwatch.send(new DeleteAlarmsCommand({ AlarmNames: [...plan.deleteAlarms] })));
    log(`deleted alarm(s) ${plan.deleteAlarms.join(', ')}`);
  }

}

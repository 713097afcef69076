import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadDeployEnvironment } from '../config/deploy.js';
import { ToolkitError } from '../errors/catalogue.js';
import type { BuildEngine } from '../containers/engine.js';
import { readEndpointFile } from '../endpoint-file/load.js';
import { objectExists, parseS3Prefix, prepareArtifacts, uploadFile, type ContainerArtifact } from './artifacts.js';
import { applyPlan } from './apply.js';
import { createDeployClients, type DeployClients } from './clients.js';
import { applyDelete, planDelete } from './delete.js';
import { desiredEndpoint, type DesiredEndpoint } from './desired.js';
import { buildAndPushImage } from './image.js';
import { inspectEndpoint, type CurrentState } from './inspect.js';
import { formatPlan, planEndpoint, planIsEmpty } from './plan.js';
import { isChanging, waitForEndpointSettled, type WaitOptions } from './progress.js';
import { ROLE_PLACEHOLDER, renderTemplate, writeTemplate } from './template.js';

/** The artifacts one endpoint's models use. */
function artifactsOf(d: DesiredEndpoint, artifacts: ReadonlyMap<string, ContainerArtifact>): ContainerArtifact[] {
  const uris = new Set(d.models.flatMap((m) => [m.input.PrimaryContainer, ...(m.input.Containers ?? [])]).map((c) => c?.ModelDataUrl));
  return [...artifacts.values()].filter((a) => uris.has(a.uri));
}

/** Flags of `smkit deploy` as commander gives them. */
export interface DeployCommandOptions {
  endpointUrl?: string;
  region?: string;
  dryRun?: boolean;
  delete?: boolean;
  template?: string;
  build?: boolean;
  engine?: string;
  pollInterval?: string;
  timeout?: string;
}

function positive(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new ToolkitError('ERR_CLI_USAGE', `${flag} must be a positive number of seconds (got ${value})`);
  return n;
}

/**
 * Inspects an endpoint once it is not changing. If it starts changing while it is inspected
 * (autoscaling adds an instance), waits again, until `timeoutSeconds`; past that the plan reports
 * the endpoint as busy.
 */
async function inspectWhenSettled(clients: DeployClients, desired: DesiredEndpoint, artifacts: ReturnType<typeof artifactsOf>, opts: WaitOptions): Promise<CurrentState> {
  const deadline = Date.now() + opts.timeoutSeconds * 1000;
  for (;;) {
    await waitForEndpointSettled(clients, desired.name, { ...opts, timeoutSeconds: Math.max(1, (deadline - Date.now()) / 1000) });
    const current = await inspectEndpoint(clients, desired, artifacts);
    if (!isChanging(current.endpoint?.status) || Date.now() > deadline) return current;
  }
}

/**
 * `smkit deploy`: reads the endpoint file, packages and uploads the models under content-hash keys,
 * plans every resource (create / update / unchanged) from `Describe*` answers, prints the plan on
 * stdout and applies it, with progress on stderr. `--dry-run` stops after the plan; `--delete`
 * plans and removes what the file deployed; `--template` writes the same deployment as
 * CloudFormation instead of calling SageMaker.
 */
export async function deployCommand(file: string, opts: DeployCommandOptions): Promise<void> {
  if (opts.delete && (opts.template !== undefined || opts.build)) throw new ToolkitError('ERR_CLI_USAGE', '--delete cannot be combined with --template or --build');
  if (opts.engine !== undefined && opts.engine !== 'docker' && opts.engine !== 'podman') throw new ToolkitError('ERR_CLI_USAGE', `--engine ${opts.engine}: expected docker or podman`);
  if (opts.endpointUrl !== undefined) {
    try {
      new URL(opts.endpointUrl);
    } catch {
      throw new ToolkitError('ERR_CLI_USAGE', `--endpoint-url ${opts.endpointUrl} is not a URL (for the local SageMaker: http://127.0.0.1:PORT)`);
    }
  }
  const pollSeconds = positive('--poll-interval', opts.pollInterval, 5);
  const timeoutSeconds = positive('--timeout', opts.timeout, 3600);
  const config = await readEndpointFile(file);
  const settings = config.deploy ?? {};
  const env = loadDeployEnvironment();
  const region = opts.region ?? settings.region;
  const clients = createDeployClients({ ...(opts.endpointUrl !== undefined ? { endpointUrl: opts.endpointUrl } : {}), ...(region !== undefined ? { region } : {}) }, env);
  const log = (line: string): void => void process.stderr.write(`smkit deploy: ${line}\n`);
  const out = (text: string): void => void process.stdout.write(`${text}\n`);
  const target = opts.endpointUrl ?? `AWS${region ? ` ${region}` : ''}`;
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-deploy-'));
  try {
    if (opts.delete) {
      for (const endpoint of config.endpoints) {
        await waitForEndpointSettled(clients, endpoint.name, { pollSeconds, timeoutSeconds, log });
        const plan = await planDelete(clients, endpoint);
        out(`endpoint ${endpoint.name} (${target}), --delete:`);
        for (const i of plan.items) out(`  delete    ${i.kind.padEnd(15)} ${i.name}${i.detail ? `  (${i.detail})` : ''}`);
        if (plan.items.length === 0) out('  nothing to delete');
        if (!opts.dryRun) await applyDelete(clients, plan, { log, pollSeconds, timeoutSeconds });
      }
      if (opts.dryRun) out('dry run: nothing was deleted');
      return;
    }
    if (settings.artifacts === undefined) throw new ToolkitError('ERR_DEPLOY_CONFIG', 'deploy.artifacts is missing from the endpoint file: give the s3://bucket/prefix/ the model archives go to');
    if (settings.role === undefined && opts.template === undefined) {
      throw new ToolkitError('ERR_DEPLOY_CONFIG', 'deploy.role is missing from the endpoint file: give the execution role ARN SageMaker assumes (arn:aws:iam::<account>:role/<name>)');
    }
    const artifacts = await prepareArtifacts(config.endpoints, settings.artifacts, workDir, log);
    let image = settings.image ?? config.image;
    if (opts.build) {
      if (settings.image === undefined) throw new ToolkitError('ERR_DEPLOY_CONFIG', '--build needs deploy.image: the repository and tag to push the built image to');
      if (opts.dryRun) out(`would build smkit's image and push it as ${settings.image}`);
      else image = await buildAndPushImage(settings.image, { ...(opts.engine ? { engine: opts.engine as BuildEngine } : {}), log, ecr: (r) => clients.ecr(r) });
    }
    const role = settings.role ?? ROLE_PLACEHOLDER;
    const desired = config.endpoints.map((e) => desiredEndpoint(e, { artifacts, role, ...(image !== undefined ? { image } : {}) }));

    if (opts.template !== undefined) {
      const { bucket } = parseS3Prefix(settings.artifacts);
      await writeTemplate(opts.template, renderTemplate(desired, artifacts, { bucket, ...(settings.role ? { role: settings.role } : {}), ...(settings.image ? { image: settings.image } : {}) }));
      out(`wrote ${opts.template}: ${desired.map((d) => d.name).join(', ')}`);
      for (const a of artifacts.values()) {
        for (const f of a.files) {
          if (opts.dryRun) out(`  archive s3://${a.bucket}/${f.key} (from ${f.file}) must be in the bucket; run without --dry-run to upload it`);
          else if (await objectExists(clients.s3, a.bucket, f.key)) out(`  archive s3://${a.bucket}/${f.key}: already there`);
          else await uploadFile(clients.s3, a.bucket, f, log);
        }
      }
      return;
    }

    let changed = false;
    for (const d of desired) {
      const own = artifactsOf(d, artifacts);
      const current = await inspectWhenSettled(clients, d, own, { pollSeconds, timeoutSeconds, log });
      const plan = planEndpoint(d, own, current);
      out(`${formatPlan(plan)}`.replace(/^endpoint (\S+):/, `endpoint $1 (${target}):`));
      if (planIsEmpty(plan)) continue;
      changed = true;
      if (opts.dryRun) continue;
      await applyPlan(clients, plan, { log, pollSeconds, timeoutSeconds });
    }
    if (opts.dryRun) out('dry run: nothing was changed');
    else out(changed ? 'deployed' : 'no changes');
  } finally {
    clients.destroy();
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

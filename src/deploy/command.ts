import { promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { objectExists, parseS3Prefix, prepareArtifacts, uploadFile, type ContainerArtifact } from './artifacts.js';
import { applyPlan } from './apply.js';
import { createDeployClients, type DeployClients } from './clients.js';
import { applyDelete, planDelete } from './delete.js';
import { desiredEndpoint, type DesiredEndpoint } from './desired.js';
import { buildAndPushImage, imageFor } from './image.js';
import { inspectEndpoint, type CurrentState } from './inspect.js';
import { cleanUpOnSignal, whileInterruptible } from './interrupt.js';
import { formatPlan, planEndpoint, planIsEmpty } from './plan.js';
import { isChanging, waitForEndpointSettled, type WaitOptions } from './progress.js';
import type { DeployRequest } from './request.js';
import { ToolkitError } from '../errors/catalogue.js';
import { isRegionName, REGION_NAME_EXPECTED } from '../aws/partition.js';
import { ROLE_PLACEHOLDER, renderTemplate, writeTemplate } from './template.js';

/** The artifacts one endpoint's models use. */
function artifactsOf(d: DesiredEndpoint, artifacts: ReadonlyMap<string, ContainerArtifact>): ContainerArtifact[] {
  const uris = new Set(d.models.flatMap((m) => [m.input.PrimaryContainer, ...(m.input.Containers ?? [])]).map((c) => c?.ModelDataUrl));
  return [...artifacts.values()].filter((a) => uris.has(a.uri));
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
 * `smkit deploy`, once `readDeployRequest` has checked it: packages and uploads the models under
 * content-hash keys, plans every resource (create / update / unchanged) from `Describe*` answers,
 * prints the plan on stdout and applies it, with progress on stderr. `--dry-run` stops after the
 * plan; `--delete` plans and removes what the file deployed; `--template` writes the same
 * deployment as CloudFormation instead of calling SageMaker.
 */
export async function deployCommand(request: DeployRequest): Promise<void> {
  const { region } = request;
  const clients = createDeployClients({ ...(request.endpointUrl !== undefined ? { endpointUrl: request.endpointUrl } : {}), ...(region !== undefined ? { region } : {}) }, request.env);
  const log = (line: string): void => void process.stderr.write(`smkit deploy: ${line}\n`);
  const out = (text: string): void => void process.stdout.write(`${text}\n`);
  // Without a Region every call fails with the SDK's bare "Region is missing", after the models are
  // packaged. --template calls only S3 (whose local server needs none): its Region is the one checked.
  // --region, deploy.region and AWS_REGION are checked as they are read; a profile's region is read
  // by the SDK alone, which took `US-East-1` (AWS then refused every call's signature) and said of
  // `us east 1` "Region not accepted", which deploy reported as no Region at all.
  const profileRegionProblem = (value: string): ToolkitError => {
    clients.destroy();
    const profile = request.env.profile;
    return new ToolkitError(
      'ERR_DEPLOY_CONFIG',
      `the region ${JSON.stringify(value)} of the AWS profile ${JSON.stringify(profile?.name ?? 'default')} (in ${profile?.configFile ?? 'the AWS config file: AWS_CONFIG_FILE, else ~/.aws/config'}) is not ${REGION_NAME_EXPECTED}: correct it there, or pass --region, add region: under deploy: in the endpoint file, or set AWS_REGION`,
    );
  };
  const resolvedRegion = await (request.template !== undefined ? clients.s3 : clients.sagemaker).config.region().catch((err: Error) => {
    const refused = /^Region not accepted: region="(.*)" is not a valid hostname component\.$/s.exec(err.message);
    // (AWS_REGION set to nothing is the SDK's region "": not the profile's.)
    if (refused && refused[1] !== '' && region === undefined && request.env.region === undefined) throw profileRegionProblem(refused[1]!);
    clients.destroy();
    throw new ToolkitError(
      'ERR_DEPLOY_CONFIG',
      `no AWS Region to deploy to (${err.message}): pass --region, add region: under deploy: in the endpoint file, set AWS_REGION, or give your AWS profile a region`,
      { cause: err },
    );
  });
  if (resolvedRegion !== '' && !isRegionName(resolvedRegion)) throw profileRegionProblem(resolvedRegion);
  // The Region the SDK found (--region, deploy.region, AWS_REGION or the profile's): the plan says where it deploys.
  const target = request.endpointUrl ?? `AWS ${resolvedRegion}`;
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-deploy-'));
  // A signal between the interruptible steps (waiting for an endpoint to settle before planning, a
  // create call) ends the process without the finally below: the packaged archives go first.
  const removeWorkDir = (): void => rmSync(workDir, { recursive: true, force: true });
  try {
    await cleanUpOnSignal(removeWorkDir, () => deployIn(request, clients, workDir, { log, out, target }));
  } finally {
    clients.destroy();
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

/** The part of {@link deployCommand} that runs with its clients and work folder. */
async function deployIn(request: DeployRequest, clients: DeployClients, workDir: string, io: { log: (line: string) => void; out: (text: string) => void; target: string }): Promise<void> {
  const { config, pollSeconds, timeoutSeconds, region } = request;
  const settings = config.deploy ?? {};
  const { log, out, target } = io;
  if (request.delete) {
    for (const endpoint of config.endpoints) {
      await waitForEndpointSettled(clients, endpoint.name, { pollSeconds, timeoutSeconds, log, rerun: 'smkit deploy --delete' });
      const plan = await planDelete(clients, endpoint);
      out(`endpoint ${endpoint.name} (${target}), --delete:`);
      for (const i of plan.items) out(`  ${(i.action === 'delete' ? 'delete' : 'keep').padEnd(9)} ${i.kind.padEnd(15)} ${i.name}${i.detail ? `  (${i.detail})` : ''}`);
      if (!plan.items.some((i) => i.action === 'delete')) out('  nothing to delete');
      if (!request.dryRun) await applyDelete(clients, plan, { log, pollSeconds, timeoutSeconds });
    }
    if (request.dryRun) out('dry run: nothing was deleted');
    return;
  }
  // What --build would build, decided before anything is packed: a file whose variants cannot share
  // one image says so before its models are packed.
  const choice = request.build && settings.image !== undefined
    ? imageFor(
        // The instance types of the variants that run the built image (a container's own image wins).
        config.endpoints.flatMap((e) => [...e.variants, ...(e.shadow ? [e.shadow] : [])]).filter((v) => v.containers.some((c) => c.image === undefined)).map((v) => v.instanceType),
        request.variant,
      )
    : undefined;
  // readDeployRequest has checked that a deployment has its artifacts prefix (and, without --template, its role).
  const artifactsPrefix = settings.artifacts!;
  // Ctrl-C while a large model packs: the finally below removes the work folder with its partial archive.
  const artifacts = await whileInterruptible((signal) => prepareArtifacts(config.endpoints, artifactsPrefix, workDir, log, signal));
  let image = settings.image ?? config.image;
  if (choice && settings.image !== undefined) {
    const { variant, gpuTypes, armTypes, platform, idleGpuTypes } = choice;
    const are = (types: readonly string[]): string => `${types.join(', ')} ${types.length === 1 ? 'has' : 'have'}`;
    const reasons = [
      request.variant === 'cpu' && gpuTypes.length > 0
        ? `--variant cpu: ${are(gpuTypes)} NVIDIA GPUs, which it leaves unused`
        : request.variant === 'gpu' && gpuTypes.length === 0
          ? '--variant gpu: without a GPU it serves on the CPU, with a warning'
          : variant === 'gpu'
            ? `${are(gpuTypes)} NVIDIA GPUs, which the cpu image would leave unused`
            : idleGpuTypes.length > 0
              ? `${are(idleGpuTypes)} NVIDIA GPUs that the gpu image cannot use (it is linux/amd64 and CUDA 12 only), which this one leaves unused`
              : undefined,
      armTypes.length > 0 ? `${are(armTypes)} arm64 CPUs` : undefined,
    ].filter((r): r is string => r !== undefined);
    const what = `smkit's ${variant} image for ${platform}${reasons.length > 0 ? ` (${reasons.join('; ')})` : ''}`;
    if (request.dryRun) {
      // The run pins the pushed digest, which changes the model names: the plan below, named after
      // the tag, can say "unchanged" (a file deployed with the tag before) where the run updates.
      out(
        `would build ${what}, and push it as ${settings.image}; the models would run the digest the push gives (${settings.image.replace(/:[^/:]+$/, '')}@sha256:…), ` +
          'known only once pushed: this dry run uses the tag instead, so the run\'s model and endpoint-config names differ from these, and where that digest is not what runs now it creates them and updates the endpoint',
      );
    }
    else {
      log(`building ${what}`);
      image = await buildAndPushImage(settings.image, { ...(request.engine ? { engine: request.engine } : {}), log, ecr: (r) => clients.ecr(r), variant, platform });
    }
  }
  const role = settings.role ?? ROLE_PLACEHOLDER;
  const desired = config.endpoints.map((e) => desiredEndpoint(e, { artifacts, role, ...(image !== undefined ? { image } : {}), ...(settings.tags !== undefined ? { tags: settings.tags } : {}) }));

  if (request.template !== undefined) {
    const { bucket } = parseS3Prefix(artifactsPrefix);
    // The ImageUri parameter's default is what the containers run: with --build, the pushed digest
    // (deploy.image's tag left the containers on a literal digest and the parameter unused); without
    // deploy.image, the file's top-level image (the parameter had no default and ran nothing).
    const template = renderTemplate(desired, artifacts, { bucket, ...(settings.role ? { role: settings.role } : {}), ...(image !== undefined ? { image } : {}) });
    const wrote = `wrote ${request.template}: ${desired.map((d) => d.name).join(', ')}`;
    if (request.dryRun) {
      await writeTemplate(request.template, template);
      out(wrote);
      for (const a of artifacts.values()) {
        for (const f of a.files) out(`  archive s3://${a.bucket}/${f.key} (from ${f.file}) must be in the bucket; run without --dry-run to upload it`);
      }
      return;
    }
    // The archives first: a failed or interrupted upload leaves no template (nor overwrites the one
    // there) whose models name archives that are not in the bucket.
    for (const a of artifacts.values()) {
      for (const f of a.files) {
        if (await objectExists(clients.s3, a.bucket, f.key)) out(`  archive s3://${a.bucket}/${f.key}: already there`);
        else await whileInterruptible((signal) => uploadFile(clients.s3, a.bucket, f, log, undefined, signal));
      }
    }
    await writeTemplate(request.template, template);
    out(wrote);
    return;
  }

  const awsCliOptions = `${request.endpointUrl !== undefined ? ` --endpoint-url ${request.endpointUrl}` : ''}${region !== undefined ? ` --region ${region}` : ''}`;
  let changed = false;
  for (const d of desired) {
    const own = artifactsOf(d, artifacts);
    const current = await inspectWhenSettled(clients, d, own, { pollSeconds, timeoutSeconds, log });
    const plan = planEndpoint(d, own, current, { awsCliOptions });
    out(`${formatPlan(plan)}`.replace(/^endpoint (\S+):/, `endpoint $1 (${target}):`));
    if (planIsEmpty(plan)) continue;
    changed = true;
    if (request.dryRun) continue;
    await applyPlan(clients, plan, { log, pollSeconds, timeoutSeconds, awsCliOptions });
  }
  if (request.dryRun) out('dry run: nothing was changed');
  else out(changed ? 'deployed' : 'no changes');
}

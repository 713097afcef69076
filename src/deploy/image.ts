import { spawn } from 'node:child_process';
import { GetAuthorizationTokenCommand, type ECRClient } from '@aws-sdk/client-ecr';
import { ToolkitError } from '../errors/catalogue.js';
import { buildImage, type BuildDeps, type ImageVariant } from '../build/build-image.js';
import { detectBuildEngine, runCommand, type BuildEngine, type CommandRunner } from '../containers/engine.js';
import { call } from './service-error.js';

/**
 * An ECR registry host: `<account>.dkr.ecr.<region>.amazonaws.com`, `.com.cn` in China and `.eu`
 * in the European Sovereign Cloud (eusc-de-east-1; its partition's DNS suffix, as docker/login-action reads it).
 */
const ECR_HOST = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.(?:com(?:\.cn)?|eu)$/;

/** The registry host of an image reference, when it names one (`host[:port]/repo:tag`). */
export function registryHost(image: string): string | undefined {
  const first = image.split('/')[0]!;
  return image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : undefined;
}

/** The region of an ECR registry host, or undefined for any other registry. */
export function ecrRegion(host: string | undefined): string | undefined {
  return host === undefined ? undefined : ECR_HOST.exec(host)?.[2];
}

/** Decodes an ECR authorization token (`base64("AWS:<password>")`). */
export function decodeEcrToken(token: string): { username: string; password: string } {
  const text = Buffer.from(token, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0) throw new ToolkitError('ERR_DEPLOY_FAILED', 'ECR GetAuthorizationToken returned a token without "user:password"');
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

/** Runs a command with `input` on stdin, its output on stderr; resolves with the exit code. */
export type LoginRunner = (cmd: string, args: readonly string[], input: string) => Promise<number>;

/** The default {@link LoginRunner} (exported for tests). */
export const defaultLogin: LoginRunner = (cmd, args, input) =>
  new Promise((resolve) => {
    const child = spawn(cmd, [...args], { stdio: ['pipe', 2, 2] });
    child.once('error', () => resolve(127));
    child.once('close', (code) => resolve(code ?? 1));
    // A login that ends without reading its stdin (or an engine that could not start) fails the
    // write with EPIPE: unheard, that error would end smkit deploy; the exit code says what failed.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
  });

/** Injected in tests; defaults run the real engine. */
export interface ImageDeps {
  readonly run: CommandRunner;
  readonly login: LoginRunner;
  readonly push: (engine: BuildEngine, image: string) => Promise<number>;
  readonly build?: BuildDeps;
}

const defaultDeps: ImageDeps = {
  run: runCommand,
  login: defaultLogin,
  push: (engine, image) =>
    new Promise((resolve) => {
      const child = spawn(engine, ['push', image], { stdio: ['ignore', 2, 2] });
      child.once('error', () => resolve(127));
      child.once('close', (code) => resolve(code ?? 1));
    }),
};

/**
 * `--build`: builds smkit's image as `target` (`smkit build`), logs in to ECR when `target` is in
 * an ECR registry (`GetAuthorizationToken`, then `<engine> login --password-stdin`; any other
 * registry must already be logged in), pushes it, and returns the pushed reference pinned by digest
 * (`repo@sha256:…`) when the engine reports one, so a new build changes the model names.
 */
export async function buildAndPushImage(
  target: string,
  opts: { engine?: BuildEngine; log: (line: string) => void; ecr: (region: string) => ECRClient; variant?: ImageVariant; platform?: string },
  deps: ImageDeps = defaultDeps,
): Promise<string> {
  const host = registryHost(target);
  if (host === undefined) throw new ToolkitError('ERR_DEPLOY_CONFIG', `--build: deploy.image ${target} names no registry to push to (expected host/repository:tag, for example 123456789012.dkr.ecr.us-east-1.amazonaws.com/smkit:1)`);
  const engine = await detectBuildEngine(opts.engine, deps.run);
  const buildOpts = { tag: target, engine, log: opts.log, ...(opts.variant ? { variant: opts.variant } : {}), ...(opts.platform ? { platform: opts.platform } : {}) };
  const built = deps.build ? await buildImage(buildOpts, deps.build) : await buildImage(buildOpts);
  const region = ecrRegion(host);
  if (region !== undefined) {
    const res = await call('ECR GetAuthorizationToken', () => opts.ecr(region).send(new GetAuthorizationTokenCommand({})));
    const data = res.authorizationData?.[0];
    if (!data?.authorizationToken) throw new ToolkitError('ERR_DEPLOY_FAILED', 'ECR GetAuthorizationToken returned no token');
    const { username, password } = decodeEcrToken(data.authorizationToken);
    const code = await deps.login(engine, ['login', '--username', username, '--password-stdin', host], password);
    if (code !== 0) throw new ToolkitError('ERR_DEPLOY_FAILED', `${engine} login ${host} failed (exit ${code}); its output is above`);
    opts.log(`logged in to ${host}`);
  }
  opts.log(`pushing ${built.image}`);
  const pushed = await deps.push(engine, built.image);
  if (pushed !== 0) throw new ToolkitError('ERR_DEPLOY_FAILED', `${engine} push ${built.image} failed (exit ${pushed}); its output is above`);
  const inspect = await deps.run(engine, ['image', 'inspect', '--format', '{{range .RepoDigests}}{{println .}}{{end}}', built.image]);
  const repo = target.replace(/:[^/:]+$/, '');
  const digest = inspect.code === 0 ? inspect.stdout.split('\n').map((l) => l.trim()).find((l) => l.startsWith(`${repo}@sha256:`)) : undefined;
  return digest ?? target;
}

/** What `--build` builds for the instance types that run the image ({@link imageFor}). */
export interface ImageChoice {
  readonly variant: ImageVariant;
  /** The platform to build for: what SageMaker's instances of those types run. */
  readonly platform: 'linux/amd64' | 'linux/arm64';
  /** The NVIDIA GPU types the gpu image can use among them (the reason for the gpu variant). */
  readonly gpuTypes: string[];
  /** The arm64 types among them (the reason for linux/arm64). */
  readonly armTypes: string[];
  /** The NVIDIA GPU types among them whose GPUs the image built leaves unused (all of them with the cpu variant). */
  readonly idleGpuTypes: string[];
}

/**
 * The image `--build` makes for the variants of `instanceTypes` (those that run the built image):
 * `gpu` when one of them is an NVIDIA GPU type (the G and P families) the GPU image can use, else
 * `cpu`; `variant` (`--variant`) overrides that choice. The CPU image on a GPU instance serves on its
 * CPU (its onnxruntime-node has no CUDA provider); the GPU image on a CPU instance serves on the CPU
 * with a warning. Built for `linux/arm64` when the types are arm64 ({@link isArm64InstanceType}), else
 * `linux/amd64` whatever this machine is: an image built on an arm64 laptop for its own platform
 * does not start on an x86_64 instance, nor the reverse. One image has one platform, so arm64 and
 * x86_64 types together, or the gpu image (linux/amd64 only) for an arm64 type, are `ERR_DEPLOY_CONFIG`.
 */
export function imageFor(instanceTypes: readonly (string | undefined)[], variant?: ImageVariant): ImageChoice {
  const types = [...new Set(instanceTypes.filter((t): t is string => t !== undefined))];
  const gpuTypes = types.filter(gpuImageCanUse);
  const armTypes = types.filter(isArm64InstanceType);
  const x86Types = types.filter((t) => !isArm64InstanceType(t));
  if (armTypes.length > 0 && x86Types.length > 0) {
    throw new ToolkitError(
      'ERR_DEPLOY_CONFIG',
      `--build makes one image for one platform, but the variants that run it are arm64 (${armTypes.join(', ')}) and x86_64 (${x86Types.join(', ')}): ` +
        'give the variants of one architecture an image of their own (image on their containers), or use instance types of one architecture',
    );
  }
  const chosen = variant ?? (gpuTypes.length > 0 ? 'gpu' : 'cpu');
  if (chosen === 'gpu' && armTypes.length > 0) {
    throw new ToolkitError('ERR_DEPLOY_CONFIG', `--variant gpu: the gpu image is linux/amd64 only (onnxruntime-node ships its CUDA execution provider for linux/x64 alone), and ${armTypes.join(', ')} ${armTypes.length === 1 ? 'is' : 'are'} arm64: use --variant cpu (the default for them)`);
  }
  const idleGpuTypes = chosen === 'cpu' ? types.filter((t) => /^ml\.[gp]\d/.test(t)) : [];
  return { variant: chosen, platform: armTypes.length > 0 ? 'linux/arm64' : 'linux/amd64', gpuTypes, armTypes, idleGpuTypes };
}

/**
 * The image variant `--build` makes for variants of `instanceTypes` ({@link imageFor} without
 * `--variant`), with the GPU types that chose `gpu`.
 */
export function imageVariantFor(instanceTypes: readonly (string | undefined)[]): { variant: ImageVariant; gpuTypes: string[] } {
  const { variant, gpuTypes } = imageFor(instanceTypes);
  return { variant, gpuTypes };
}

/**
 * Whether SageMaker's instances of `instanceType` have arm64 CPUs: AWS Graviton, the families with a
 * `g` after the generation (ml.c6g, ml.m7g, ml.r7gd, ml.c7gn, and ml.g5g with its NVIDIA T4G GPUs),
 * and NVIDIA Grace (ml.p6e-gb200: GB200 superchips, a Grace CPU with two Blackwell GPUs).
 */
export function isArm64InstanceType(instanceType: string): boolean {
  const family = /^ml\.([a-z0-9-]+)\./.exec(instanceType)?.[1] ?? '';
  return /^[a-z]+\d+g[a-z]*$/.test(family) || /-gb\d/.test(family);
}

/**
 * Whether the GPU image (linux/amd64, CUDA 12) can use an instance type's GPUs. Not an arm64 one,
 * which the linux/amd64 image cannot run on: a Graviton G type (ml.g5g) or a Grace Blackwell P type
 * (ml.p6e-gb200); nor ml.p2, whose K80s (Kepler) CUDA 12 no longer supports.
 */
function gpuImageCanUse(instanceType: string): boolean {
  const family = /^ml\.([a-z0-9-]+)\./.exec(instanceType)?.[1] ?? '';
  if (!/^[gp]\d/.test(family)) return false;
  return !isArm64InstanceType(instanceType) && family !== 'p2';
}

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { invalidFlag, invalidPath } from '../config/flag-values.js';
import { ToolkitError } from '../errors/catalogue.js';
import { findSmkitSource, imageNameForModel, imageNameProblem, type SmkitSource } from './context.js';
import { layOutPackageContext, packedRevision } from './package-context.js';
import { detectBuildEngine, imageSize, runCommand, type BuildEngine, type CommandRunner } from '../containers/engine.js';

/** Image variants the Dockerfile has (its build targets). */
export type ImageVariant = 'cpu' | 'gpu';

/** Where a baked model lives in the image: outside `/opt/ml`, which SageMaker may mount over (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html). */
export const BAKED_MODEL_DIR = '/opt/smkit/model';

/** Options of {@link buildImage} (the `smkit build` flags). */
export interface BuildImageOptions {
  /** Dockerfile target. @defaultValue `cpu` */
  readonly variant?: ImageVariant;
  /** A model directory or `model.tar.gz` to bake in at {@link BAKED_MODEL_DIR}; checked first. */
  readonly model?: string;
  /** Image name. @defaultValue `smkit:<version>-<variant>`, or `smkit-<model name>:<version>-<variant>` with a model */
  readonly tag?: string;
  /** Target platform, passed to the engine (for example `linux/amd64`). */
  readonly platform?: string;
  /** Engine to use. @defaultValue docker when its daemon answers, else podman */
  readonly engine?: BuildEngine;
  /** Extra `--build-arg KEY=VALUE`s (for example `TFJS_NODE=require`). */
  readonly buildArgs?: readonly string[];
  /** Progress lines (the engine's own output goes to stderr). @defaultValue writes to stderr */
  readonly log?: (line: string) => void;
  /**
   * Stops the build when aborted (Ctrl-C in `smkit build`): the engine's build is sent SIGTERM, the
   * staged model and build context are removed, and the call rejects with the signal's reason.
   */
  readonly signal?: AbortSignal;
}

/** What {@link buildImage} built. */
export interface BuiltImage {
  /** The image name to run (podman's `localhost/` prefix included when podman built it). */
  readonly image: string;
  /** The smkit image a baked model was layered on (equal to `image` without a model). */
  readonly baseImage: string;
  readonly engine: BuildEngine;
  readonly variant: ImageVariant;
  /** Image size in bytes as the engine reports it (uncompressed). */
  readonly sizeBytes: number;
  /** The runtime model found in the baked model, when one was baked. */
  readonly model?: { readonly source: string; readonly file?: string };
}

/** Injected in tests: how builds run. */
export interface BuildDeps {
  readonly run: CommandRunner;
  /** Runs `<engine> build ...` with its output on stderr; resolves with the exit code (once it has ended, when `signal` stops it). */
  readonly build: (engine: BuildEngine, args: readonly string[], signal?: AbortSignal) => Promise<number>;
  readonly source: () => SmkitSource;
}

const defaultDeps: BuildDeps = {
  run: runCommand,
  build: (engine, args, signal) =>
    new Promise((resolve) => {
      const child = spawn(engine, [...args], { stdio: ['ignore', 2, 2], ...(signal ? { signal } : {}) });
      // An abort kills the child (SIGTERM) and is reported as an error: the call settles once it has ended.
      child.once('error', () => {
        if (!signal?.aborted) resolve(127);
      });
      child.once('close', (code) => resolve(code ?? 1));
    }),
  source: () => findSmkitSource(),
};

/** `name:tag` as the engine stores it: podman puts unqualified names under `localhost/`. */
export function qualifyImageName(engine: BuildEngine, name: string): string {
  const first = name.split('/')[0]!;
  const hasRegistry = name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return engine === 'podman' && !hasRegistry ? `localhost/${name}` : name;
}

/** Where an engine builds smkit from: a context folder and the Dockerfile in it. */
export interface BuildContext {
  readonly root: string;
  readonly dockerfile: string;
}

/** The `build` arguments for smkit's own Dockerfile; `extraTags` name the image too. */
export function baseBuildArgs(src: SmkitSource, context: BuildContext, variant: ImageVariant, tag: string, opts: BuildImageOptions, revision: string, extraTags: readonly string[] = []): string[] {
  return [
    'build',
    '-f', context.dockerfile,
    '--target', variant,
    '-t', tag,
    ...extraTags.flatMap((t) => ['-t', t]),
    ...(opts.platform ? ['--platform', opts.platform] : []),
    '--build-arg', `VERSION=${src.version}`,
    '--build-arg', `REVISION=${revision}`,
    // The same two labels on the command line: podman 4.3 reuses a cached LABEL step built with other
    // build arguments (an image built as REVISION=unknown kept that label), while --label always applies.
    '--label', `org.opencontainers.image.version=${src.version}`,
    '--label', `org.opencontainers.image.revision=${revision}`,
    ...(opts.buildArgs ?? []).flatMap((a) => ['--build-arg', a]),
    context.root,
  ];
}

/** The Dockerfile that layers a staged `model/` folder onto a built smkit image. */
export function bakedDockerfile(baseImage: string, modelName: string): string {
  return [
    `FROM ${baseImage}`,
    `COPY model/ ${BAKED_MODEL_DIR}/`,
    // A Dockerfile expands $VAR inside double quotes: a folder named "m$HOME" was labelled "m/root".
    `LABEL dev.smkit.model=${JSON.stringify(modelName).replace(/\$/g, '\\$')}`,
    '',
  ].join('\n');
}

async function stageModel(model: string, stageDir: string, signal?: AbortSignal): Promise<{ dir: string; file?: string }> {
  const dest = path.join(stageDir, 'model');
  const st = await fs.stat(model).catch(() => undefined);
  if (!st) throw invalidPath('--model', model, 'a model directory or a model.tar.gz', 'does not exist');
  if (st.isFile()) {
    if (!/\.(tar\.gz|tgz)$/i.test(model)) throw invalidFlag('--model', model, 'a model directory or a model.tar.gz');
    const { extractModelArchive } = await import('../archive/model-archive.js');
    await extractModelArchive(model, dest, signal ? { signal } : {});
  } else if (st.isDirectory()) {
    const { copyModelDirectory } = await import('../archive/model-archive.js');
    await copyModelDirectory(model, dest, signal);
  } else {
    throw invalidPath('--model', model, 'a model directory or a model.tar.gz', 'is neither a file nor a directory (a FIFO, socket or device)');
  }
  const { validateModelDir } = await import('../package/validate.js');
  const report = await validateModelDir(dest);
  if (!report.ok) {
    // Said of --model: the staging folder the problems were found in is removed before the user reads them.
    const errors = report.errors.map((e) => e.split(dest).join(model));
    throw new ToolkitError('ERR_PACKAGE_INVALID', `${model} is not ready to bake into an image:\n  - ${errors.join('\n  - ')}`, { details: { errors } });
  }
  return { dir: dest, ...(report.model ? { file: report.model.file } : {}) };
}

/** Node's `process.arch` for the architecture of an engine platform (`linux/arm64/v8` → `arm64`). */
const PLATFORM_ARCH: Record<string, string> = { amd64: 'x64', x86_64: 'x64', arm64: 'arm64', aarch64: 'arm64' };

/**
 * What to say about a failed build for another architecture than this machine's (an arm64 image
 * built on x86_64 for a Graviton instance, an amd64 one on Apple silicon): its RUN steps run under
 * the engine's emulation, and without it the build fails with `exec format error`. Empty otherwise.
 */
export function foreignPlatformHint(platform: string | undefined, hostArch: string = process.arch): string {
  const arch = platform?.trim().toLowerCase().split('/')[1];
  const wanted = arch === undefined ? undefined : PLATFORM_ARCH[arch];
  if (wanted === undefined || wanted === hostArch) return '';
  return ` (it builds for ${platform!.trim()} on this ${hostArch} machine: its RUN steps need the engine's emulation of ${arch}, QEMU registered with binfmt_misc, which Docker Desktop has; on Linux install qemu-user-static, or build on a ${arch} machine. "exec format error" above says it is missing)`;
}

async function gitRevision(root: string, run: CommandRunner): Promise<string> {
  const res = await run('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD'], 5000);
  return res.code === 0 ? res.stdout.trim() : 'unknown';
}

/**
 * Builds smkit's image (`docker build` or `podman build` of smkit's Dockerfile, target = variant),
 * and with `model`, checks the model the way `smkit package` does and layers it on top at
 * {@link BAKED_MODEL_DIR}. Throws `ERR_BUILD_ENGINE` without a working engine, `ERR_PACKAGE_INVALID`
 * for a model that would not serve, `ERR_BUILD_FAILED` when the engine fails.
 *
 * @example
 * const built = await buildImage({ model: 'models/iris-onnx' });
 * console.log(built.image, built.sizeBytes);
 */
export async function buildImage(opts: BuildImageOptions = {}, deps: BuildDeps = defaultDeps): Promise<BuiltImage> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`smkit build: ${line}\n`));
  // Before anything is built: with --model the engine met the name only at the bake, after the base image's build.
  const tagProblem = opts.tag !== undefined ? imageNameProblem(opts.tag) : undefined;
  if (tagProblem !== undefined) throw invalidFlag('--tag', opts.tag!, tagProblem);
  const variant = opts.variant ?? 'cpu';
  // onnxruntime-node has its CUDA provider for linux/x64 only (most of SageMaker's NVIDIA GPU
  // instances are x86_64; the arm64 ones, ml.g5g and ml.p6e-gb200, get the cpu image from deploy
  // --build: see gpuImageCanUse in src/deploy/image.ts): the gpu variant is built for linux/amd64 whatever the machine (an arm64 laptop built
  // for arm64 and failed in the Dockerfile's deps-gpu stage, after pulling the CUDA base).
  if (variant === 'gpu') {
    if (opts.platform !== undefined && !/^linux\/(amd64|x86_64)(\/v[1-4])?$/i.test(opts.platform.trim())) {
      throw invalidFlag('--platform', opts.platform, 'linux/amd64 with --variant gpu (onnxruntime-node ships its CUDA execution provider for linux/x64 only); leave --platform out, or build --variant cpu for another platform');
    }
    opts = { ...opts, platform: opts.platform ?? 'linux/amd64' };
  }
  const src = deps.source();
  const stageDir = opts.model ? await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-build-')) : undefined;
  const packageDir = src.kind === 'package' ? await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-build-context-')) : undefined;
  let engine: BuildEngine | undefined;
  let pinnedBase: string | undefined;
  try {
    const { signal } = opts;
    const staged = opts.model && stageDir ? await stageModel(opts.model, stageDir, signal) : undefined;
    signal?.throwIfAborted();
    if (staged) log(`model ${opts.model} checked${staged.file ? ` (${staged.file})` : ''}`);
    engine = await detectBuildEngine(opts.engine, deps.run);
    const defaultTag = `${src.version}-${variant}`;
    const baseTag = qualifyImageName(engine, opts.model || !opts.tag ? `smkit:${defaultTag}` : opts.tag);
    if (variant === 'gpu') log('the gpu variant needs network access (CUDA base image, onnxruntime CUDA libraries from nuget.org); see docs/images.md');
    log(`building ${baseTag} with ${engine} from ${src.root}${packageDir ? ' (an installed package: its compiled code)' : ''}`);
    const context = packageDir ? { root: packageDir, dockerfile: await layOutPackageContext(src.root, packageDir) } : src;
    const revision = packageDir ? ((await packedRevision(src.root)) ?? 'unknown') : await gitRevision(src.root, deps.run);
    // The bake names its base by a tag of this build's own: another build (another checkout, or a
    // concurrent image test) may move smkit:<version>-<variant> to its image meanwhile, and
    // `FROM <image ID>` is not portable (BuildKit looks `sha256:…` up as a registry name).
    if (staged) pinnedBase = qualifyImageName(engine, `smkit-build-base:${process.pid}-${randomBytes(4).toString('hex')}`);
    const args = baseBuildArgs(src, context, variant, baseTag, opts, revision, pinnedBase ? [pinnedBase] : []);
    const code = await deps.build(engine, args, signal);
    signal?.throwIfAborted();
    if (code !== 0) throw new ToolkitError('ERR_BUILD_FAILED', `${engine} build of ${baseTag} failed (exit ${code}); its output is above${foreignPlatformHint(opts.platform)}`);
    let image = baseTag;
    if (staged && stageDir && opts.model && pinnedBase) {
      image = qualifyImageName(engine, opts.tag ?? `${imageNameForModel(opts.model)}:${defaultTag}`);
      await fs.writeFile(path.join(stageDir, 'Dockerfile'), bakedDockerfile(pinnedBase, path.basename(path.resolve(opts.model))));
      log(`baking the model into ${image} at ${BAKED_MODEL_DIR}`);
      const bakeArgs = ['build', '-t', image, ...(opts.platform ? ['--platform', opts.platform] : []), stageDir];
      const bakeCode = await deps.build(engine, bakeArgs, signal);
      signal?.throwIfAborted();
      if (bakeCode !== 0) throw new ToolkitError('ERR_BUILD_FAILED', `${engine} build of ${image} failed (exit ${bakeCode}); its output is above${foreignPlatformHint(opts.platform)}`);
    }
    const sizeBytes = await imageSize(engine, image, deps.run);
    return {
      image,
      baseImage: baseTag,
      engine,
      variant,
      sizeBytes,
      ...(staged && opts.model ? { model: { source: opts.model, ...(staged.file ? { file: staged.file } : {}) } } : {}),
    };
  } finally {
    for (const dir of [stageDir, packageDir]) if (dir) await fs.rm(dir, { recursive: true, force: true });
    // Only the name goes: the image keeps smkit:<version>-<variant> (or, moved meanwhile, its baked child).
    if (engine && pinnedBase) await deps.run(engine, engine === 'podman' ? ['untag', pinnedBase, pinnedBase] : ['rmi', pinnedBase], 60_000).catch(() => undefined);
  }
}

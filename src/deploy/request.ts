/**
 * What `smkit deploy` was asked to do, checked before anything is packaged or any AWS SDK client
 * is loaded: a mistake in the flags or the endpoint file is answered at once, not after seconds of
 * packaging and loading clients. Nothing here imports an `@aws-sdk` package (a test keeps it so).
 */
import { accessSync, constants, existsSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadDeployEnvironment, type DeployEnvironment } from '../config/deploy.js';
import type { BuildEngine } from '../containers/engine.js';
import type { ImageVariant } from '../build/build-image.js';
import { inEndpointFile, modelPathProblem, readEndpointFile } from '../endpoint-file/load.js';
import type { EndpointFileConfig, VariantConfig } from '../endpoint-file/schema.js';
import { ToolkitError } from '../errors/catalogue.js';
import { checkPath, choiceValue, invalidFlag, invalidPath, pathProblem, positiveSecondsOption, urlWithoutPassword } from '../config/flag-values.js';
import { checkDeployableDestinations, checkDeploymentStepSizes } from './desired.js';
import { isRegionName, REGION_NAME_EXPECTED } from '../aws/partition.js';
import { checkProfile } from './profile.js';

/** Flags of `smkit deploy` as commander gives them. */
export interface DeployCommandOptions {
  endpointUrl?: string;
  region?: string;
  dryRun?: boolean;
  delete?: boolean;
  template?: string;
  build?: boolean;
  engine?: string;
  variant?: string;
  pollInterval?: string;
  timeout?: string;
}

/** A `smkit deploy` whose flags, endpoint file and environment have been checked. */
export interface DeployRequest {
  readonly config: EndpointFileConfig;
  readonly env: Readonly<DeployEnvironment>;
  /** `--endpoint-url`: where SageMaker, CloudWatch and Application Auto Scaling calls go. */
  readonly endpointUrl?: string;
  /** `--region`, else the file's `deploy.region`. */
  readonly region?: string;
  readonly dryRun: boolean;
  readonly delete: boolean;
  /** `--template`: the CloudFormation file to write instead of calling SageMaker. */
  readonly template?: string;
  readonly build: boolean;
  readonly engine?: BuildEngine;
  /** `--variant`: the image `--build` makes, instead of the one the instance types choose. */
  readonly variant?: ImageVariant;
  readonly pollSeconds: number;
  readonly timeoutSeconds: number;
}

/** The longest `--poll-interval`: a timer past Node's limit (about 24.8 days) fires at once, a busy loop of DescribeEndpoint calls. */
export const MAX_POLL_SECONDS = 3600;

function positive(flag: string, value: string | undefined, fallback: number, max = Infinity): number {
  return value === undefined ? fallback : positiveSecondsOption(flag, value, max);
}

function checkFlags(opts: DeployCommandOptions): void {
  if (opts.delete && (opts.template !== undefined || opts.build)) throw new ToolkitError('ERR_CLI_USAGE', '--delete does not apply with --template or --build: it removes what the file deployed; run it on its own');
  if (opts.template !== undefined) {
    // --template calls no SageMaker and waits for no endpoint: these were taken and did nothing.
    const unused = ([['--endpoint-url', opts.endpointUrl], ['--poll-interval', opts.pollInterval], ['--timeout', opts.timeout]] as const).filter(([, v]) => v !== undefined).map(([flag]) => flag);
    if (unused.length > 0) {
      const named = unused.length > 1 ? `${unused.slice(0, -1).join(', ')} and ${unused.at(-1)}` : unused[0];
      throw new ToolkitError(
        'ERR_CLI_USAGE',
        `${named} ${unused.length > 1 ? 'do' : 'does'} not apply with --template: it writes the template and uploads the archives to S3 (AWS_ENDPOINT_URL_S3 when set, --region), calling no SageMaker and waiting for no endpoint; leave ${unused.length > 1 ? 'them' : 'it'} out`,
      );
    }
  }
  if (opts.engine !== undefined) {
    choiceValue('--engine', opts.engine, ['docker', 'podman']);
    if (!opts.build) throw new ToolkitError('ERR_CLI_USAGE', '--engine only applies with --build: add --build, or leave it out');
  }
  if (opts.variant !== undefined) {
    choiceValue('--variant', opts.variant, ['cpu', 'gpu']);
    if (!opts.build) throw new ToolkitError('ERR_CLI_USAGE', '--variant only applies with --build: add --build, or leave it out');
  }
  // The SDK answers another only at the first call, as 'no AWS Region'.
  if (opts.region !== undefined && !isRegionName(opts.region)) {
    throw invalidFlag('--region', opts.region, REGION_NAME_EXPECTED);
  }
  if (opts.endpointUrl !== undefined) {
    let protocol: string | undefined;
    try {
      protocol = new URL(opts.endpointUrl).protocol;
    } catch {
      // named below
    }
    // `localhost:8080` parses as a URL of scheme `localhost:`, which the SDK could only fail to call (as AWS, asking for credentials).
    if (protocol !== 'http:' && protocol !== 'https:') throw invalidFlag('--endpoint-url', urlWithoutPassword(opts.endpointUrl), 'an http:// or https:// URL (for the local SageMaker: http://127.0.0.1:PORT)');
  }
}

/**
 * A rehearsal on the local SageMaker without credentials signs with placeholder keys, which only a
 * local S3 takes: with no S3 endpoint set, every archive would go to AWS S3 and fail there, after
 * the packaging, with a bare connection or InvalidAccessKeyId error.
 */
function checkArchiveStore(opts: DeployCommandOptions, env: DeployEnvironment): void {
  if (opts.endpointUrl === undefined || env.hasCredentials || env.s3EndpointUrl !== undefined) return;
  const host = new URL(opts.endpointUrl).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') return;
  throw new ToolkitError(
    'ERR_DEPLOY_CONFIG',
    `--endpoint-url ${opts.endpointUrl} is the local SageMaker, but no AWS_ENDPOINT_URL_S3 (nor AWS_ENDPOINT_URL) names the S3 the model archives go to, and no AWS credentials are set: ` +
      'set AWS_ENDPOINT_URL_S3 to a local S3 (s3rver: http://127.0.0.1:4569) that smkit local reads too, or set AWS credentials to use AWS S3',
  );
}

/**
 * `--template` must name a file that can be written (it and its missing folders are created): a
 * directory or a FIFO there failed, or hung, only once the models were packaged, with Node's bare error.
 */
function checkTemplatePath(file: string): void {
  const expected = 'a file to write the CloudFormation template to';
  // `-` reads as stdout (smkit invoke -o -): a template named "-" in the current folder was not meant.
  if (file === '-') throw invalidFlag('--template', file, `${expected}, such as stack.yaml (it is written as a file, not to stdout, which has the command's progress)`);
  let stats: Stats | undefined;
  try {
    stats = statSync(file, { throwIfNoEntry: false });
  } catch (err) {
    // ENOTDIR (a folder on its way is a file) is answered below, as Node 22 and later answer it
    // here: with no entry rather than an error.
    if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') {
      throw invalidPath('--template', file, expected, `cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  if (stats !== undefined && !stats.isFile()) throw invalidPath('--template', file, expected, stats.isDirectory() ? 'is a directory' : 'is neither a file nor a directory');
  let folder = dirname(resolve(file));
  while (!existsSync(folder)) folder = dirname(folder);
  if (!statSync(folder).isDirectory()) throw invalidPath('--template', file, expected, `cannot be written: ${folder} is a file`);
  try {
    accessSync(stats !== undefined ? file : folder, constants.W_OK);
  } catch (err) {
    throw invalidPath('--template', file, expected, `cannot be written: ${stats !== undefined ? file : folder} ${pathProblem(err, 'written')}`);
  }
}

/** What a deployment (not a `--delete`) needs from the file's `deploy:` section and its endpoints. */
function checkDeployable(config: EndpointFileConfig, opts: DeployCommandOptions): void {
  const settings = config.deploy ?? {};
  if (settings.artifacts === undefined) throw new ToolkitError('ERR_DEPLOY_CONFIG', 'deploy.artifacts is missing from the endpoint file: give the s3://bucket/prefix/ the model archives go to');
  if (settings.role === undefined && opts.template === undefined) {
    throw new ToolkitError('ERR_DEPLOY_CONFIG', 'deploy.role is missing from the endpoint file: give the execution role ARN SageMaker assumes (arn:aws:iam::<account>:role/<name>)');
  }
  if (opts.build && settings.image === undefined) throw new ToolkitError('ERR_DEPLOY_CONFIG', '--build needs deploy.image: the repository and tag to push the built image to');
  for (const endpoint of config.endpoints) {
    checkDeployableDestinations(endpoint);
    checkDeploymentStepSizes(endpoint);
  }
  checkContainers(config);
}

/**
 * Every container has an image (its own, else `deploy.image`, else the file's `image`; `--build`
 * needs `deploy.image`, checked before), and its model is what packaging takes (a directory, or a
 * file named .tar.gz or .tgz; a multi-model container's, a directory of them), each named by where
 * it is in the file: both were found only once the models had been packaged, without their key.
 */
function checkContainers(config: EndpointFileConfig): void {
  const image = config.deploy?.image ?? config.image;
  config.endpoints.forEach((endpoint, i) => {
    const variants: [VariantConfig, string][] = endpoint.variants.map((v, j) => [v, `endpoints[${i}].variants[${j}]`]);
    if (endpoint.shadow) variants.push([endpoint.shadow, `endpoints[${i}].shadow`]);
    for (const [variant, at] of variants) {
      variant.containers.forEach((c, k) => {
        const where = variant.containers.length > 1 ? `${at}.containers[${k}]` : at;
        if ((c.image ?? image) === undefined) {
          throw new ToolkitError('ERR_DEPLOY_CONFIG', `${where}: no image to run the model in: set deploy.image in the endpoint file (or image on the container), or pass --build with deploy.image`);
        }
        const problem = modelPathProblem(c);
        if (problem !== undefined) throw new ToolkitError('ERR_DEPLOY_CONFIG', `${where}: ${problem}`);
      });
    }
  });
}

/**
 * Checks the flags, reads the endpoint file and the deploy environment, and (unless `--delete`)
 * checks that the file holds what a deployment needs. Throws the first mistake as a catalogued
 * error (`ERR_CLI_USAGE`, `ERR_ENDPOINT_FILE_*`, `ERR_DEPLOY_CONFIG`, or the environment's).
 */
export async function readDeployRequest(file: string, opts: DeployCommandOptions): Promise<DeployRequest> {
  checkFlags(opts);
  const pollSeconds = positive('--poll-interval', opts.pollInterval, 5, MAX_POLL_SECONDS);
  const timeoutSeconds = positive('--timeout', opts.timeout, 3600);
  if (opts.template !== undefined) checkTemplatePath(opts.template);
  checkPath('<endpoint-file>', file, 'file', 'the endpoint file (.yaml, .yml or .json) with a deploy: section');
  const config = await readEndpointFile(file);
  const env = loadDeployEnvironment(process.env, opts.endpointUrl !== undefined, (opts.region ?? config.deploy?.region) !== undefined);
  checkProfile(env);
  if (!opts.delete) {
    try {
      checkDeployable(config, opts);
    } catch (err) {
      throw inEndpointFile(err, resolve(file));
    }
    checkArchiveStore(opts, env);
  }
  const region = opts.region ?? config.deploy?.region;
  return {
    config,
    env,
    ...(opts.endpointUrl !== undefined ? { endpointUrl: opts.endpointUrl } : {}),
    ...(region !== undefined ? { region } : {}),
    dryRun: opts.dryRun === true,
    delete: opts.delete === true,
    ...(opts.template !== undefined ? { template: opts.template } : {}),
    build: opts.build === true,
    ...(opts.engine !== undefined ? { engine: opts.engine as BuildEngine } : {}),
    ...(opts.variant !== undefined ? { variant: opts.variant as ImageVariant } : {}),
    pollSeconds,
    timeoutSeconds,
  };
}

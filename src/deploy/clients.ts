import { ApplicationAutoScalingClient } from '@aws-sdk/client-application-auto-scaling';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { ECRClient } from '@aws-sdk/client-ecr';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import type { DeployEnvironment } from '../config/deploy.js';
import { EnvProxyAgent } from './proxy.js';

/** The AWS SDK clients a deployment talks through; nothing else reaches the services. */
export interface DeployClients {
  readonly sagemaker: SageMakerClient;
  readonly cloudwatch: CloudWatchClient;
  readonly autoscaling: ApplicationAutoScalingClient;
  readonly s3: S3Client;
  /** Created on first use (only `--build` pushes to ECR). */
  ecr(region?: string): ECRClient;
  destroy(): void;
}

/** Where the clients point. */
export interface ClientTarget {
  /** `--endpoint-url`: SageMaker, CloudWatch and Application Auto Scaling all go to this URL. */
  readonly endpointUrl?: string;
  /** Region; else the environment's, else the SDK's own resolution (profile). */
  readonly region?: string;
  /** Overrides {@link SERVICE_TIMEOUT_MS} (tests). */
  readonly timeoutMs?: number;
}

/**
 * How long a connection may take to open, and a request's socket may stay silent, before the call
 * fails (and the SDK retries it): 60 s, the AWS CLI's `connect_timeout` and `read_timeout`. The
 * SDK's own default is no limit, so a service, a local SageMaker or a local S3 that accepted the
 * connection and never answered hung deploy for good, before `--timeout` could apply. An upload that
 * keeps moving is not cut: Node counts a socket busy while a write of it is in progress (a large
 * Buffer body is one write), so only a wait with nothing moving counts, as the kernel's buffers drain
 * after the last write or S3 works on its answer.
 */
export const SERVICE_TIMEOUT_MS = 60_000;

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]' || host === '::1';
}

/**
 * Creates the clients. With a loopback `--endpoint-url` (the local SageMaker) and no credentials in
 * the environment, placeholder credentials are used (the local SageMaker does not check
 * signatures) and the region defaults to `us-east-1`. S3 follows `AWS_ENDPOINT_URL_S3` with
 * path-style addressing, as local S3 servers need; a loopback one also defaults to `us-east-1`.
 */
export function createDeployClients(target: ClientTarget, env: DeployEnvironment): DeployClients {
  // On Node 20 the SDK prints 8 lines (NodeVersionSupportWarning: its releases after January 2027
  // need Node 22) as the first client is made, before every deploy; smkit pins its SDK and supports
  // Node 20. AWS's documented switch (aws/aws-sdk-js-v3#7983), unless the user set it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const local = target.endpointUrl !== undefined && isLoopback(target.endpointUrl);
  const region = target.region ?? env.region ?? (local ? 'us-east-1' : undefined);
  const timeout = target.timeoutMs ?? SERVICE_TIMEOUT_MS;
  const common = {
    ...(region !== undefined ? { region } : {}),
    ...(local && !env.hasCredentials ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  };
  // The SDK reads no proxy variable: with one set, every client's requests go through an agent that
  // follows HTTPS_PROXY, HTTP_PROXY and NO_PROXY (./proxy.ts).
  const proxy = env.proxy;
  const httpAgent = proxy ? new EnvProxyAgent(false, proxy) : undefined;
  const httpsAgent = proxy ? new EnvProxyAgent(true, proxy) : undefined;
  const timeouts = {
    requestHandler: { connectionTimeout: timeout, socketTimeout: timeout, ...(httpAgent && httpsAgent ? { httpAgent, httpsAgent } : {}) },
  };
  const api = { ...common, ...timeouts, ...(target.endpointUrl !== undefined ? { endpoint: target.endpointUrl } : {}) };
  const s3Local = env.s3EndpointUrl !== undefined && isLoopback(env.s3EndpointUrl);
  const s3 = new S3Client({
    ...common,
    // A local S3 takes any Region, as the local SageMaker does: `--template`, which has no
    // --endpoint-url, rehearses against a local S3 with no Region configured.
    ...(region === undefined && s3Local ? { region: 'us-east-1' } : {}),
    ...timeouts,
    // s3rver, the usual local S3, checks signatures against these default keys.
    ...(s3Local && !env.hasCredentials ? { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } } : {}),
    ...(env.s3EndpointUrl !== undefined ? { endpoint: env.s3EndpointUrl, forcePathStyle: true } : {}),
  });
  const ecrClients = new Map<string, ECRClient>();
  const clients: DeployClients = {
    sagemaker: new SageMakerClient(api),
    cloudwatch: new CloudWatchClient(api),
    autoscaling: new ApplicationAutoScalingClient(api),
    s3,
    ecr(ecrRegion?: string): ECRClient {
      const key = ecrRegion ?? '';
      let client = ecrClients.get(key);
      if (!client) {
        client = new ECRClient({ ...common, ...timeouts, ...(ecrRegion !== undefined ? { region: ecrRegion } : {}) });
        ecrClients.set(key, client);
      }
      return client;
    },
    destroy(): void {
      clients.sagemaker.destroy();
      clients.cloudwatch.destroy();
      clients.autoscaling.destroy();
      s3.destroy();
      for (const c of ecrClients.values()) c.destroy();
      httpAgent?.destroy();
      httpsAgent?.destroy();
    },
  };
  return clients;
}

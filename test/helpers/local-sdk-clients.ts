import { ApplicationAutoScalingClient } from '@aws-sdk/client-application-auto-scaling';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';

/** Credentials for SDK clients of the local servers (requests are signed; no account is behind them). */
const LOCAL_CREDENTIALS = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local' };

/** How the SDK clients of a local server are set up. */
export interface LocalClientOptions {
  /** Region the clients sign for (default `us-east-1`). */
  region?: string;
  /** Each request gives up after this long, so a bug fails the test instead of hanging it (default 60 s). */
  requestTimeoutMs?: number;
}

/** The configuration of an AWS SDK v3 client pointed at a local server at `url`. */
export function localClientConfig(url: string, options: LocalClientOptions = {}) {
  return {
    endpoint: url,
    region: options.region ?? 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    requestHandler: { requestTimeout: options.requestTimeoutMs ?? 60_000 },
  };
}

/** Real AWS SDK v3 clients for everything a local SageMaker serves. */
export interface LocalSdkClients {
  sagemaker: SageMakerClient;
  runtime: SageMakerRuntimeClient;
  cloudwatch: CloudWatchClient;
  autoscaling: ApplicationAutoScalingClient;
  /** Closes every client's connections. */
  destroy(): void;
}

/**
 * Makes the SageMaker, SageMaker Runtime, CloudWatch and Application Auto Scaling clients for the
 * local SageMaker at `url`. `runtimeMaxAttempts: 1` turns off the SDK's retries of InvokeEndpoint,
 * for tests that count every failed invocation.
 */
export function localSdkClients(url: string, options: LocalClientOptions & { runtimeMaxAttempts?: number } = {}): LocalSdkClients {
  const config = localClientConfig(url, options);
  const clients = {
    sagemaker: new SageMakerClient(config),
    runtime: new SageMakerRuntimeClient(options.runtimeMaxAttempts === undefined ? config : { ...config, maxAttempts: options.runtimeMaxAttempts }),
    cloudwatch: new CloudWatchClient(config),
    autoscaling: new ApplicationAutoScalingClient(config),
  };
  return {
    ...clients,
    destroy() {
      for (const client of Object.values(clients)) client.destroy();
    },
  };
}

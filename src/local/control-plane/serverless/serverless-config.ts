import type { ProductionVariant } from '../../../aws/shapes/sagemaker.js';
import { validationException as validation } from '../../../aws/service.js';
import type { ModelRecord } from '../store.js';

/**
 * The most a serverless invocation's request and response payloads may hold: "The maximum request
 * and response payload size for serverless invocations is 4 MB"
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-invoke.html), in the
 * binary megabytes of the real-time 6 MB (6291456 bytes).
 */
export const MAX_SERVERLESS_PAYLOAD_BYTES = 4 * 1024 * 1024;

/**
 * How long a serverless cold start has for its container to answer `/ping`: "The model must
 * download and the server must respond successfully to `/ping` within 3 minutes"
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-invoke.html). AWS documents
 * no way to change it, so neither `--startup-timeout` nor `ContainerStartupHealthCheckTimeoutInSeconds` does.
 */
export const SERVERLESS_STARTUP_TIMEOUT_MS = 180_000;

/** What `CreateEndpointConfig` asks for, as far as serverless variants are concerned. */
export interface ServerlessConfigInput {
  production: readonly ProductionVariant[];
  shadow?: readonly ProductionVariant[];
  dataCapture: boolean;
  asynchronous: boolean;
  enableNetworkIsolation: boolean;
  /** Whether the config has a `VpcConfig`. */
  vpc: boolean;
  model(name: string): ModelRecord;
}


/**
 * The rules a serverless variant (`ServerlessConfig`) follows beyond the member constraints:
 * memory in 1 GB steps, `ProvisionedConcurrency` ≤ `MaxConcurrency`, no instance type or count,
 * and none of the features Serverless Inference excludes (serverless-endpoints.html, "Feature
 * exclusions": multiple production variants, data capture, inference pipelines, multi-model
 * endpoints, VPC configuration, network isolation, private Docker registries; ModelDataSource, in
 * the ContainerDefinition reference; asynchronous inference runs on instances). Throws the first
 * broken rule as a `ValidationException`.
 */
export function checkServerlessVariants(input: ServerlessConfigInput): void {
  const all = [...input.production, ...(input.shadow ?? [])];
  const serverless = all.filter((v) => v.ServerlessConfig !== undefined);
  if (serverless.length === 0) return;
  for (const v of serverless) {
    const sc = v.ServerlessConfig!;
    if (v.InstanceType !== undefined || v.InitialInstanceCount !== undefined) {
      throw validation(`Variant "${v.VariantName}" has a ServerlessConfig, so it must not specify InstanceType or InitialInstanceCount: a serverless variant has no instances of its own.`);
    }
    if (sc.MemorySizeInMB % 1024 !== 0) {
      throw validation(`MemorySizeInMB ${sc.MemorySizeInMB} of variant "${v.VariantName}" is not supported: choose 1024, 2048, 3072, 4096, 5120 or 6144.`);
    }
    if (sc.ProvisionedConcurrency !== undefined && sc.ProvisionedConcurrency > sc.MaxConcurrency) {
      throw validation(`ProvisionedConcurrency (${sc.ProvisionedConcurrency}) of variant "${v.VariantName}" must be less than or equal to MaxConcurrency (${sc.MaxConcurrency}).`);
    }
  }
  const name = serverless[0]!.VariantName;
  if (all.length > 1) throw validation(`Variant "${name}" is serverless: an endpoint configuration with a serverless variant must have exactly one production variant and no shadow variant.`);
  if (input.dataCapture) throw validation(`Variant "${name}" is serverless: data capture (DataCaptureConfig) is not supported for serverless endpoints.`);
  if (input.asynchronous) throw validation(`Variant "${name}" is serverless: asynchronous inference (AsyncInferenceConfig) runs on instances; remove ServerlessConfig or AsyncInferenceConfig.`);
  if (input.enableNetworkIsolation) throw validation(`Variant "${name}" is serverless: network isolation is not supported for serverless endpoints.`);
  if (input.vpc) throw validation(`Variant "${name}" is serverless: VPC configuration (VpcConfig) is not supported for serverless endpoints.`);
  const model = input.model(serverless[0]!.ModelName ?? '');
  if (model.containers.length > 1) throw validation(`Variant "${name}" is serverless: model "${model.name}" is an inference pipeline of ${model.containers.length} containers, which serverless endpoints do not support.`);
  if (model.containers[0]?.Mode === 'MultiModel') throw validation(`Variant "${name}" is serverless: model "${model.name}" is a multi-model container, which serverless endpoints do not support.`);
  if (model.enableNetworkIsolation) throw validation(`Variant "${name}" is serverless: model "${model.name}" enables network isolation, which serverless endpoints do not support.`);
  if (model.containers.some((c) => c.ModelDataSource !== undefined)) throw validation(`Variant "${name}" is serverless: model "${model.name}" gives its model data as ModelDataSource, which serverless endpoints do not support; use ModelDataUrl (a model.tar.gz).`);
  if (model.containers.some((c) => c.ImageConfig?.RepositoryAccessMode === 'Vpc')) throw validation(`Variant "${name}" is serverless: model "${model.name}" pulls its image from a private Docker registry (ImageConfig RepositoryAccessMode Vpc), which serverless endpoints do not support; push the image to Amazon ECR.`);
  if (model.vpcConfig) throw validation(`Variant "${name}" is serverless: model "${model.name}" has a VpcConfig, which serverless endpoints do not support.`);
}

/** True when the config's production variants are serverless (such a config has exactly one variant). */
export function isServerless(variants: readonly ProductionVariant[]): boolean {
  return variants.some((v) => v.ServerlessConfig !== undefined);
}

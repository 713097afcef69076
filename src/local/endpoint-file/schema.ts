import { ToolkitError } from '../../errors/catalogue.js';
import { isSageMakerName } from '../../core/sagemaker-headers.js';

/** One container: a model directory or `model.tar.gz`, plus its environment. */
export interface ContainerConfig {
  /** Absolute path to a model directory or a `model.tar.gz`. */
  model: string;
  /** Environment variables for the container (SageMaker `ContainerDefinition.Environment`). */
  env: Record<string, string>;
  /** Name used in logs and error messages (SageMaker `ContainerHostname`). */
  hostname: string;
  /** Image for the `docker` backend (overrides the endpoint file's top-level `image`). */
  image?: string;
  /**
   * `MultiModel` (`ContainerDefinition.Mode`): `model` is a folder of model archives (standing in
   * for the S3 prefix), loaded on demand by the caller's `TargetModel`. @defaultValue `SingleModel`
   */
  mode?: 'SingleModel' | 'MultiModel';
}

/** A production or shadow variant: one container, or a serial pipeline of 2 to 15. */
export interface VariantConfig {
  name: string;
  /** Relative routing weight (`InitialVariantWeight`); 0 means "only by TargetVariant". */
  weight: number;
  /** Accepted for parity with `ProductionVariant.InitialInstanceCount`; locally one instance runs. */
  instanceCount: number;
  containers: ContainerConfig[];
}

/** Data capture, as `DataCaptureConfig` (sagemaker-contract.md §9), written to a local folder. */
export interface DataCaptureConfig {
  /** Absolute path of the destination folder (stands in for `DestinationS3Uri`). */
  destination: string;
  /** 0 to 100 (`InitialSamplingPercentage`). */
  samplingPercentage: number;
  captureInput: boolean;
  captureOutput: boolean;
  csvContentTypes: string[];
  jsonContentTypes: string[];
}

/** A sample payload sent through every variant after `/ping` passes (a "deep ping"). */
export interface DeepPingConfig {
  body: Buffer;
  contentType: string;
  accept?: string;
}

/** One local endpoint. */
export interface EndpointConfig {
  name: string;
  variants: VariantConfig[];
  shadow?: VariantConfig;
  dataCapture?: DataCaptureConfig;
  deepPing?: DeepPingConfig;
}

/** The whole endpoint file after validation, with paths resolved and defaults filled. */
export interface EndpointFileConfig {
  endpoints: EndpointConfig[];
  /** Front-door port from the file (the `--port` flag wins). */
  port?: number;
  /** Backend from the file (the `--backend` flag wins). */
  backend?: 'process' | 'docker';
  /** Default image for the `docker` backend. */
  image?: string;
  /** Seconds to wait for each container's `/ping` (the `--startup-timeout` flag wins). */
  startupTimeoutSeconds?: number;
}

const ENV_KEY_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Most containers in one serial inference pipeline (sagemaker-contract.md §4). */
export const MAX_PIPELINE_CONTAINERS = 15;

type Json = unknown;
type Resolve = (p: string) => string;
type ReadSample = (p: string) => Buffer;

function fail(where: string, what: string): never {
  throw new ToolkitError('ERR_ENDPOINT_FILE_INVALID', `${where}: ${what}`);
}

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(obj: Record<string, Json>, where: string, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) fail(where, `unknown key "${key}" (allowed: ${allowed.join(', ')})`);
  }
}

function checkName(v: Json, where: string): string {
  if (typeof v !== 'string' || !isSageMakerName(v)) {
    fail(where, `must be 1-63 letters, digits or hyphens, not starting or ending with a hyphen (got ${JSON.stringify(v)})`);
  }
  return v;
}

function checkNumber(v: Json, where: string, min: number, max: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    fail(where, `must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max} (got ${JSON.stringify(v)})`);
  }
  return v;
}

function checkString(v: Json, where: string): string {
  if (typeof v !== 'string' || v.length === 0) fail(where, `must be a non-empty string (got ${JSON.stringify(v)})`);
  return v;
}

function checkStringList(v: Json, where: string, max: number): string[] {
  if (!Array.isArray(v) || v.length < 1 || v.length > max) fail(where, `must be a list of 1 to ${max} strings`);
  return v.map((item, i) => checkString(item, `${where}[${i}]`));
}

/** Validates `ContainerDefinition.Environment` limits (sagemaker-contract.md §1.1). */
function checkEnv(v: Json, where: string): Record<string, string> {
  if (v === undefined) return {};
  if (!isObject(v)) fail(where, 'must be a map of NAME: value');
  const out: Record<string, string> = {};
  const entries = Object.entries(v);
  if (entries.length > 100) fail(where, `has ${entries.length} entries; SageMaker allows at most 100`);
  for (const [key, value] of entries) {
    if (!ENV_KEY_PATTERN.test(key) || key.length > 1024) fail(`${where}.${key}`, 'is not a valid variable name');
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      fail(`${where}.${key}`, 'must be a string, number or boolean');
    }
    const text = String(value);
    if (Buffer.byteLength(text) > 1024) fail(`${where}.${key}`, 'is longer than 1024 bytes');
    out[key] = text;
  }
  return out;
}

function parseContainer(v: Json, where: string, resolve: Resolve, defaultHostname: string): ContainerConfig {
  if (!isObject(v)) fail(where, 'must be a map with at least "model"');
  onlyKeys(v, where, ['model', 'env', 'hostname', 'image', 'mode']);
  const container: ContainerConfig = {
    model: resolve(checkString(v.model, `${where}.model`)),
    env: checkEnv(v.env, `${where}.env`),
    hostname: v.hostname === undefined ? defaultHostname : checkName(v.hostname, `${where}.hostname`),
  };
  if (v.image !== undefined) container.image = checkString(v.image, `${where}.image`);
  if (v.mode !== undefined) {
    if (v.mode !== 'SingleModel' && v.mode !== 'MultiModel') fail(`${where}.mode`, 'must be "SingleModel" or "MultiModel"');
    container.mode = v.mode;
  }
  return container;
}

function parseVariant(v: Json, where: string, resolve: Resolve, defaultName: string): VariantConfig {
  if (!isObject(v)) fail(where, 'must be a map');
  onlyKeys(v, where, ['name', 'weight', 'instanceCount', 'model', 'env', 'hostname', 'image', 'mode', 'containers']);
  const name = v.name === undefined ? defaultName : checkName(v.name, `${where}.name`);
  const weight = v.weight === undefined ? 1 : checkNumber(v.weight, `${where}.weight`, 0, 1e6);
  const instanceCount = v.instanceCount === undefined ? 1 : checkNumber(v.instanceCount, `${where}.instanceCount`, 1, 1000, true);
  let containers: ContainerConfig[];
  if (v.containers !== undefined) {
    if (v.model !== undefined || v.env !== undefined || v.hostname !== undefined || v.image !== undefined || v.mode !== undefined) {
      fail(where, 'give either "model" (one container) or "containers" (a serial pipeline), not both');
    }
    if (!Array.isArray(v.containers) || v.containers.length < 1 || v.containers.length > MAX_PIPELINE_CONTAINERS) {
      fail(`${where}.containers`, `must list 1 to ${MAX_PIPELINE_CONTAINERS} containers`);
    }
    containers = v.containers.map((c, i) => parseContainer(c, `${where}.containers[${i}]`, resolve, `container-${i + 1}`));
    const named = v.containers.filter((c) => isObject(c) && c.hostname !== undefined).length;
    if (named !== 0 && named !== containers.length) {
      fail(`${where}.containers`, 'give "hostname" for every container or for none (as ContainerHostname requires)');
    }
    if (containers.length > 1 && containers.some((c) => c.mode === 'MultiModel')) {
      fail(`${where}.containers`, 'a serial inference pipeline cannot hold a MultiModel container (SageMaker allows multi-model only for a single container)');
    }
    const seen = new Set<string>();
    for (const c of containers) {
      if (seen.has(c.hostname)) fail(`${where}.containers`, `hostname "${c.hostname}" is used twice`);
      seen.add(c.hostname);
    }
  } else if (v.model !== undefined) {
    containers = [parseContainer({ model: v.model, env: v.env, hostname: v.hostname, image: v.image, mode: v.mode }, where, resolve, 'primary')];
  } else {
    fail(where, 'needs "model" (a model directory or model.tar.gz) or "containers" (a serial pipeline)');
  }
  return { name, weight, instanceCount, containers };
}

function parseCapture(v: Json, where: string, resolve: Resolve): DataCaptureConfig {
  if (!isObject(v)) fail(where, 'must be a map with at least "destination"');
  onlyKeys(v, where, ['destination', 'samplingPercentage', 'captureOptions', 'csvContentTypes', 'jsonContentTypes', 'enabled']);
  let captureInput = true;
  let captureOutput = true;
  if (v.captureOptions !== undefined) {
    const modes = checkStringList(v.captureOptions, `${where}.captureOptions`, 32);
    for (const [i, m] of modes.entries()) {
      if (m !== 'Input' && m !== 'Output') fail(`${where}.captureOptions[${i}]`, `must be "Input" or "Output" (got "${m}")`);
    }
    captureInput = modes.includes('Input');
    captureOutput = modes.includes('Output');
  }
  return {
    destination: resolve(checkString(v.destination, `${where}.destination`)),
    // The Python SDK's default InitialSamplingPercentage is 20; a local run usually wants everything.
    samplingPercentage: v.samplingPercentage === undefined ? 100 : checkNumber(v.samplingPercentage, `${where}.samplingPercentage`, 0, 100, true),
    captureInput,
    captureOutput,
    csvContentTypes: v.csvContentTypes === undefined ? [] : checkStringList(v.csvContentTypes, `${where}.csvContentTypes`, 10),
    jsonContentTypes: v.jsonContentTypes === undefined ? [] : checkStringList(v.jsonContentTypes, `${where}.jsonContentTypes`, 10),
  };
}

function parseDeepPing(v: Json, where: string, resolve: Resolve, readSample: ReadSample): DeepPingConfig {
  if (!isObject(v)) fail(where, 'must be a map with "body" or "bodyFile", and "contentType"');
  onlyKeys(v, where, ['body', 'bodyFile', 'contentType', 'accept']);
  let body: Buffer;
  if (v.body !== undefined && v.bodyFile !== undefined) fail(where, 'give "body" or "bodyFile", not both');
  if (v.bodyFile !== undefined) body = readSample(resolve(checkString(v.bodyFile, `${where}.bodyFile`)));
  else if (typeof v.body === 'string') body = Buffer.from(v.body, 'utf8');
  else if (v.body !== undefined) body = Buffer.from(JSON.stringify(v.body), 'utf8');
  else fail(where, 'needs "body" (text, or any JSON value) or "bodyFile"');
  const ping: DeepPingConfig = {
    body,
    contentType: v.contentType === undefined ? (typeof v.body === 'string' || v.bodyFile !== undefined ? 'application/octet-stream' : 'application/json') : checkString(v.contentType, `${where}.contentType`),
  };
  if (v.accept !== undefined) ping.accept = checkString(v.accept, `${where}.accept`);
  return ping;
}

function parseEndpoint(v: Json, where: string, resolve: Resolve, readSample: ReadSample): EndpointConfig {
  if (!isObject(v)) fail(where, 'must be a map with "name" and "variants"');
  onlyKeys(v, where, ['name', 'variants', 'shadow', 'dataCapture', 'deepPing']);
  const name = checkName(v.name, `${where}.name`);
  if (!Array.isArray(v.variants) || v.variants.length < 1 || v.variants.length > 10) {
    fail(`${where}.variants`, 'must list 1 to 10 production variants');
  }
  const variants = v.variants.map((pv, i) => parseVariant(pv, `${where}.variants[${i}]`, resolve, i === 0 ? 'AllTraffic' : `Variant${i + 1}`));
  const names = new Set<string>();
  for (const pv of variants) {
    if (names.has(pv.name)) fail(`${where}.variants`, `variant name "${pv.name}" is used twice`);
    names.add(pv.name);
  }
  if (!variants.some((pv) => pv.weight > 0)) fail(`${where}.variants`, 'at least one variant needs a weight above 0');
  const endpoint: EndpointConfig = { name, variants };
  if (v.shadow !== undefined) {
    endpoint.shadow = parseVariant(v.shadow, `${where}.shadow`, resolve, 'Shadow');
    if (names.has(endpoint.shadow.name)) fail(`${where}.shadow.name`, `"${endpoint.shadow.name}" is already a production variant`);
  }
  if (v.dataCapture !== undefined) {
    const enabled = isObject(v.dataCapture) ? v.dataCapture.enabled : undefined;
    if (enabled !== undefined && typeof enabled !== 'boolean') fail(`${where}.dataCapture.enabled`, 'must be true or false');
    if (enabled !== false) endpoint.dataCapture = parseCapture(v.dataCapture, `${where}.dataCapture`, resolve);
  }
  if (v.deepPing !== undefined) endpoint.deepPing = parseDeepPing(v.deepPing, `${where}.deepPing`, resolve, readSample);
  return endpoint;
}

/**
 * Validates a parsed endpoint file and fills defaults. Paths are resolved with `resolve` (relative
 * to the file's folder); `readSample` reads a deep-ping `bodyFile`.
 * Throws `ERR_ENDPOINT_FILE_INVALID` naming the offending key, for example `endpoints[0].variants[1].weight`.
 */
export function parseEndpointFile(doc: Json, resolve: Resolve, readSample: ReadSample): EndpointFileConfig {
  if (!isObject(doc)) fail('endpoint file', 'must be a map with an "endpoints" list');
  onlyKeys(doc, 'endpoint file', ['endpoints', 'port', 'backend', 'image', 'startupTimeoutSeconds']);
  if (!Array.isArray(doc.endpoints) || doc.endpoints.length === 0) fail('endpoints', 'must be a non-empty list');
  const endpoints = doc.endpoints.map((e, i) => parseEndpoint(e, `endpoints[${i}]`, resolve, readSample));
  const seen = new Set<string>();
  for (const e of endpoints) {
    if (seen.has(e.name)) fail('endpoints', `endpoint name "${e.name}" is used twice`);
    seen.add(e.name);
  }
  const config: EndpointFileConfig = { endpoints };
  if (doc.port !== undefined) config.port = checkNumber(doc.port, 'port', 0, 65535, true);
  if (doc.backend !== undefined) {
    if (doc.backend !== 'process' && doc.backend !== 'docker') fail('backend', `must be "process" or "docker" (got ${JSON.stringify(doc.backend)})`);
    config.backend = doc.backend;
  }
  if (doc.image !== undefined) config.image = checkString(doc.image, 'image');
  if (doc.startupTimeoutSeconds !== undefined) config.startupTimeoutSeconds = checkNumber(doc.startupTimeoutSeconds, 'startupTimeoutSeconds', 1, 3600);
  return config;
}

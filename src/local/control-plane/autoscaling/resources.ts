import { validationException, Violations } from './errors.js';

/** The one service namespace scaled locally. */
export const SAGEMAKER_NAMESPACE = 'sagemaker';
/** The scalable dimension of a production variant: its instance count. */
export const VARIANT_INSTANCE_COUNT = 'sagemaker:variant:DesiredInstanceCount';
/** The scalable dimension of an inference component: its copy count. */
export const COMPONENT_COPY_COUNT = 'sagemaker:inference-component:DesiredCopyCount';
/** The predefined metric tracked locally on a production variant. */
export const INVOCATIONS_PER_INSTANCE = 'SageMakerVariantInvocationsPerInstance';
/** The predefined metric tracked locally on an inference component (CloudWatch's `InvocationsPerCopy`). */
export const INVOCATIONS_PER_COPY = 'SageMakerInferenceComponentInvocationsPerCopy';
/** The high-resolution predefined metric of an inference component (CloudWatch's `ConcurrentRequestsPerCopy`). */
export const CONCURRENT_REQUESTS_PER_COPY = 'SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution';
/** The high-resolution predefined metric of a variant (CloudWatch's `ConcurrentRequestsPerModel`). */
export const CONCURRENT_REQUESTS_PER_MODEL = 'SageMakerVariantConcurrentRequestsPerModelHighResolution';
/** The predefined metrics that track a variant's instances. */
export const VARIANT_METRICS: readonly string[] = [INVOCATIONS_PER_INSTANCE, CONCURRENT_REQUESTS_PER_MODEL];
/** The predefined metrics that track an inference component's copies. */
export const COMPONENT_METRICS: readonly string[] = [INVOCATIONS_PER_COPY, CONCURRENT_REQUESTS_PER_COPY];

/** The model's pattern of its free-text strings (`ResourceIdMaxLen1600`, `XmlString`): no control character but tab, CR and LF. */
export const XML_STRING = /^[\u0020-\uD7FF\uE000-\uFFFD\r\n\t\u{10000}-\u{10FFFF}]*$/u;
/** {@link XML_STRING} as the model writes it, for the violation message. */
export const XML_STRING_PATTERN = '[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\r\\n\\t]*';

/** The largest value of the model's `integer` shapes (capacities, cooldowns, adjustments): a signed 32-bit integer. */
export const INT32_MAX = 2_147_483_647;

/** True when `x` is a value of the model's `integer` shapes: whole and within 32 bits, signed. */
export function isInt32(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= -INT32_MAX - 1 && x <= INT32_MAX;
}

const RESOURCE_ID = /^endpoint\/([a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})\/variant\/([a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})$/;
const COMPONENT_RESOURCE_ID = /^inference-component\/([a-zA-Z0-9](?:[-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)$/;

/** The endpoint and variant a SageMaker `ResourceId` (`endpoint/<name>/variant/<variant>`) names. */
export interface VariantRef {
  readonly endpointName: string;
  readonly variantName: string;
}

/** The inference component a SageMaker `ResourceId` (`inference-component/<name>`) names. */
export interface ComponentRef {
  readonly componentName: string;
}

/** What a SageMaker scalable target is: a production variant, or an inference component. */
export type ScalableRef = VariantRef | ComponentRef;

/** True when `ref` names an inference component. */
export function isComponent(ref: ScalableRef): ref is ComponentRef {
  return 'componentName' in ref;
}

/** Parses `endpoint/<name>/variant/<variant>` or `inference-component/<name>`; throws `ValidationException` for any other form. */
export function parseResourceId(resourceId: string): ScalableRef {
  const component = COMPONENT_RESOURCE_ID.exec(resourceId);
  if (component) return { componentName: component[1]! };
  const m = RESOURCE_ID.exec(resourceId);
  if (!m) {
    throw validationException(
      `Unsupported resource ID ${JSON.stringify(resourceId.slice(0, 200))}: a SageMaker variant is named endpoint/<endpoint-name>/variant/<variant-name>, an inference component inference-component/<inference-component-name>.`,
    );
  }
  return { endpointName: m[1]!, variantName: m[2]! };
}

/** The scalable dimension of a SageMaker resource ID: a variant's instance count, an inference component's copy count. */
export function scalableDimension(resourceId: string): string {
  return resourceId.startsWith('inference-component/') ? COMPONENT_COPY_COUNT : VARIANT_INSTANCE_COUNT;
}

/** Checks the (ServiceNamespace, ResourceId, ScalableDimension) triple every operation names. */
export function readTargetKey(input: Record<string, unknown>, opts: { resourceRequired: boolean }): { resourceId?: string; dimension?: string } {
  const v = new Violations();
  const ns = input.ServiceNamespace;
  if (ns === undefined) v.add(undefined, 'serviceNamespace', 'not be null');
  else if (typeof ns !== 'string') v.add(ns, 'serviceNamespace', 'be a string');
  const rid = input.ResourceId;
  if (rid === undefined && opts.resourceRequired) v.add(undefined, 'resourceId', 'not be null');
  else if (rid !== undefined) v.length(rid, 'resourceId', 1, 1600);
  const dim = input.ScalableDimension;
  if (dim === undefined && opts.resourceRequired) v.add(undefined, 'scalableDimension', 'not be null');
  else if (dim !== undefined && typeof dim !== 'string') v.add(dim, 'scalableDimension', 'be a string');
  v.throwIfAny();
  if (ns !== SAGEMAKER_NAMESPACE) {
    throw validationException(`Unsupported service namespace ${JSON.stringify(ns)}: the local Application Auto Scaling scales SageMaker variants (ServiceNamespace ${SAGEMAKER_NAMESPACE}).`);
  }
  if (dim !== undefined && dim !== VARIANT_INSTANCE_COUNT && dim !== COMPONENT_COPY_COUNT) {
    throw validationException(`Unsupported scalable dimension ${JSON.stringify(dim)}: the local Application Auto Scaling scales ${VARIANT_INSTANCE_COUNT} and ${COMPONENT_COPY_COUNT}.`);
  }
  if (rid !== undefined) parseResourceId(rid as string);
  if (rid !== undefined && dim !== undefined && dim !== scalableDimension(rid as string)) {
    throw validationException(`Scalable dimension ${dim} does not apply to resource ID ${rid as string}: a SageMaker variant scales ${VARIANT_INSTANCE_COUNT}, an inference component ${COMPONENT_COPY_COUNT}.`);
  }
  return { ...(rid !== undefined ? { resourceId: rid as string } : {}), ...(dim !== undefined ? { dimension: dim as string } : {}) };
}

/**
 * Checks a filter list of the model's `ResourceIdsMaxLen1600` shape (`ResourceIds`, `PolicyNames`):
 * at most 50 strings, each of 1 to 1600 characters; records violations under `member`.
 */
export function checkIdList(v: Violations, value: unknown, member: string): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || value.some((x) => typeof x !== 'string')) {
    v.add(value, member, 'be a list of strings');
    return;
  }
  if (value.length > 50) {
    v.add(value, member, 'have length less than or equal to 50');
    return;
  }
  (value as string[]).forEach((x, i) => {
    if (x.length < 1) v.add(x, `${member}.${i + 1}.member`, 'have length greater than or equal to 1');
    else if (x.length > 1600) v.add(x, `${member}.${i + 1}.member`, 'have length less than or equal to 1600');
  });
}

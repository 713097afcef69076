import { promises as fs } from 'node:fs';
import path from 'node:path';
import { makeDir } from '../fs/make-dir.js';
import type { PutMetricAlarmCommandInput } from '@aws-sdk/client-cloudwatch';
import type { ContainerDefinition, ProductionVariant } from '@aws-sdk/client-sagemaker';
import { ToolkitError } from '../errors/catalogue.js';
import type { ContainerArtifact } from './artifacts.js';
import type { DesiredEndpoint } from './desired.js';

/** A CloudFormation template as a plain object. */
export interface CloudFormationTemplate {
  AWSTemplateFormatVersion: '2010-09-09';
  Description: string;
  Parameters: Record<string, { Type: string; Description: string; Default?: string }>;
  Resources: Record<string, { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] }>;
  Outputs: Record<string, { Description: string; Value: unknown }>;
}

/** What differs per account: the template's parameters and their defaults from the file. */
export interface TemplateParameters {
  /** `deploy.role` (the parameter has no default without it). */
  readonly role?: string;
  /** The bucket of `deploy.artifacts`. */
  readonly bucket: string;
  /** `deploy.image`. */
  readonly image?: string;
}

/** Role ARN used while building the resources when the file gives none; replaced by the parameter. */
export const ROLE_PLACEHOLDER = 'arn:aws:iam::000000000000:role/smkit-template-role-parameter';

/** A CloudFormation logical id (letters and digits) from name parts. */
export function logicalId(...parts: string[]): string {
  return parts
    .flatMap((p) => p.split(/[^A-Za-z0-9]+/))
    .filter((p) => p !== '')
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('')
    .slice(0, 255);
}

function container(c: ContainerDefinition, params: TemplateParameters, artifacts: ReadonlyMap<string, ContainerArtifact>): Record<string, unknown> {
  const artifact = [...artifacts.values()].find((a) => a.uri === c.ModelDataUrl);
  return {
    ...(c.ContainerHostname !== undefined ? { ContainerHostname: c.ContainerHostname } : {}),
    Image: params.image !== undefined && c.Image === params.image ? { Ref: 'ImageUri' } : c.Image,
    ModelDataUrl: artifact && artifact.bucket === params.bucket ? { 'Fn::Sub': `s3://\${ArtifactsBucket}/${artifact.key}` } : c.ModelDataUrl,
    ...(c.Environment !== undefined ? { Environment: c.Environment } : {}),
    ...(c.Mode !== undefined ? { Mode: c.Mode } : {}),
  };
}

/** `Tags` of a SageMaker resource of the endpoint (`deploy.tags`), or nothing. */
function tagsOf(e: DesiredEndpoint): { Tags?: { Key: string; Value: string }[] } {
  return e.tags ? { Tags: e.tags.map((t) => ({ Key: t.Key!, Value: t.Value! })) } : {};
}

/** An `AWS::CloudWatch::Alarm`'s properties for a `PutMetricAlarm` input, with `dimensions` as the template gives them. */
function alarmProperties(a: PutMetricAlarmCommandInput, dimensions: unknown): Record<string, unknown> {
  return {
    AlarmName: a.AlarmName,
    AlarmDescription: a.AlarmDescription,
    Namespace: a.Namespace,
    MetricName: a.MetricName,
    Dimensions: dimensions,
    Statistic: a.Statistic,
    Period: a.Period,
    EvaluationPeriods: a.EvaluationPeriods,
    Threshold: a.Threshold,
    ComparisonOperator: a.ComparisonOperator,
    TreatMissingData: a.TreatMissingData,
    ...(a.Tags ? { Tags: a.Tags.map((t) => ({ Key: t.Key, Value: t.Value })) } : {}),
  };
}

/**
 * Writes the same deployment as {@link DesiredEndpoint}s as a CloudFormation template: per
 * endpoint, `AWS::SageMaker::Model`s, an `AWS::SageMaker::EndpointConfig`, `AWS::CloudWatch::Alarm`s,
 * the `AWS::SageMaker::Endpoint` (with its `DeploymentConfig`, after the alarms it watches), and
 * `AWS::ApplicationAutoScaling::ScalableTarget` + `ScalingPolicy` per autoscaled variant (and, for a
 * minimum of zero, the step `ScalingPolicy` and the alarm that bring it back up). The role,
 * the artifacts bucket and the image are parameters. Models and configs get CloudFormation's
 * generated names: a changed definition is then a replacement under a new name, as the content-hash
 * names do through the API.
 */
export function renderTemplate(endpoints: readonly DesiredEndpoint[], artifacts: ReadonlyMap<string, ContainerArtifact>, params: TemplateParameters): CloudFormationTemplate {
  const t: CloudFormationTemplate = {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `SageMaker endpoints ${endpoints.map((e) => e.name).join(', ')}, written by smkit deploy --template`,
    Parameters: {
      ExecutionRoleArn: { Type: 'String', Description: 'IAM role SageMaker assumes to pull the image and the model archives', ...(params.role !== undefined && params.role !== ROLE_PLACEHOLDER ? { Default: params.role } : {}) },
      ArtifactsBucket: { Type: 'String', Description: 'S3 bucket holding the model archives (smkit deploy uploads them under content-hash keys)', Default: params.bucket },
      ImageUri: { Type: 'String', Description: 'Inference image URI', ...(params.image !== undefined ? { Default: params.image } : {}) },
    },
    Resources: {},
    Outputs: {},
  };
  // Logical ids keep only letters and digits, so two names can give one (irisA and iris-a, variants
  // a-b and aB, alarms iris-5xx and iris 5xx); a second resource under an id would replace the first.
  const owners = new Map<string, string>(Object.keys(t.Parameters).map((id) => [id, `the parameter ${id}`]));
  const claim = (id: string, owner: string): string => {
    const first = owners.get(id);
    if (first !== undefined) throw new ToolkitError('ERR_DEPLOY_CONFIG', `${first} and ${owner} both become the CloudFormation logical id ${id} (it keeps only letters and digits); rename one to write a template`);
    owners.set(id, owner);
    return id;
  };
  for (const e of endpoints) {
    const modelIds = new Map<string, string>();
    for (const m of e.models) {
      const id = claim(logicalId(e.name, 'Model', m.variant), `the model of ${e.name}/${m.variant}`);
      modelIds.set(m.name, id);
      const i = m.input;
      t.Resources[id] = {
        Type: 'AWS::SageMaker::Model',
        Properties: {
          ExecutionRoleArn: { Ref: 'ExecutionRoleArn' },
          ...(i.PrimaryContainer ? { PrimaryContainer: container(i.PrimaryContainer, params, artifacts) } : {}),
          ...(i.Containers ? { Containers: i.Containers.map((c) => container(c, params, artifacts)) } : {}),
          ...(i.InferenceExecutionConfig ? { InferenceExecutionConfig: { Mode: i.InferenceExecutionConfig.Mode } } : {}),
          ...tagsOf(e),
        },
      };
    }
    const variant = (v: ProductionVariant): Record<string, unknown> => ({
      VariantName: v.VariantName,
      ModelName: { 'Fn::GetAtt': [modelIds.get(v.ModelName!)!, 'ModelName'] },
      ...(v.ServerlessConfig
        ? { ServerlessConfig: { ...v.ServerlessConfig } }
        : { InitialInstanceCount: v.InitialInstanceCount, InstanceType: v.InstanceType }),
      InitialVariantWeight: v.InitialVariantWeight,
      ...(v.RoutingConfig ? { RoutingConfig: JSON.parse(JSON.stringify(v.RoutingConfig)) as unknown } : {}),
    });
    const c = e.config.input;
    const configId = claim(logicalId(e.name, 'EndpointConfig'), `the endpoint config of ${e.name}`);
    t.Resources[configId] = {
      Type: 'AWS::SageMaker::EndpointConfig',
      Properties: {
        ProductionVariants: (c.ProductionVariants ?? []).map(variant),
        ...(c.ShadowProductionVariants ? { ShadowProductionVariants: c.ShadowProductionVariants.map(variant) } : {}),
        ...(c.DataCaptureConfig ? { DataCaptureConfig: JSON.parse(JSON.stringify(c.DataCaptureConfig)) as unknown } : {}),
        ...(c.AsyncInferenceConfig ? { AsyncInferenceConfig: JSON.parse(JSON.stringify(c.AsyncInferenceConfig)) as unknown } : {}),
        ...tagsOf(e),
      },
    };
    const alarmIds: string[] = [];
    for (const a of e.alarms) {
      const id = claim(logicalId(e.name, 'Alarm', a.AlarmName!), `alarm ${a.AlarmName} of ${e.name}`);
      alarmIds.push(id);
      t.Resources[id] = { Type: 'AWS::CloudWatch::Alarm', Properties: alarmProperties(a, a.Dimensions) };
    }
    const endpointId = claim(logicalId(e.name, 'Endpoint'), `endpoint ${e.name}`);
    t.Resources[endpointId] = {
      Type: 'AWS::SageMaker::Endpoint',
      Properties: {
        EndpointName: e.name,
        EndpointConfigName: { 'Fn::GetAtt': [configId, 'EndpointConfigName'] },
        ...(e.deploymentConfig ? { DeploymentConfig: JSON.parse(JSON.stringify(e.deploymentConfig)) as unknown } : {}),
        ...tagsOf(e),
      },
      ...(alarmIds.length > 0 ? { DependsOn: alarmIds } : {}),
    };
    for (const s of e.scaling) {
      const targetId = claim(logicalId(e.name, 'ScalableTarget', s.variant), `the scalable target of ${e.name}/${s.variant}`);
      t.Resources[targetId] = {
        Type: 'AWS::ApplicationAutoScaling::ScalableTarget',
        Properties: {
          ServiceNamespace: s.target.ServiceNamespace,
          ScalableDimension: s.target.ScalableDimension,
          ResourceId: { 'Fn::Sub': `endpoint/\${${endpointId}.EndpointName}/variant/${s.variant}` },
          MinCapacity: s.target.MinCapacity,
          MaxCapacity: s.target.MaxCapacity,
        },
      };
      const p = s.policy.TargetTrackingScalingPolicyConfiguration!;
      const m = p.CustomizedMetricSpecification;
      t.Resources[claim(logicalId(e.name, 'ScalingPolicy', s.variant), `the scaling policy of ${e.name}/${s.variant}`)] = {
        Type: 'AWS::ApplicationAutoScaling::ScalingPolicy',
        Properties: {
          PolicyName: s.policy.PolicyName,
          PolicyType: s.policy.PolicyType,
          ScalingTargetId: { Ref: targetId },
          TargetTrackingScalingPolicyConfiguration: {
            TargetValue: p.TargetValue,
            ...(m
              ? {
                  CustomizedMetricSpecification: {
                    MetricName: m.MetricName,
                    Namespace: m.Namespace,
                    Statistic: m.Statistic,
                    Dimensions: [{ Name: 'EndpointName', Value: { 'Fn::GetAtt': [endpointId, 'EndpointName'] } }],
                  },
                }
              : { PredefinedMetricSpecification: { PredefinedMetricType: p.PredefinedMetricSpecification!.PredefinedMetricType } }),
            ...(p.ScaleInCooldown !== undefined ? { ScaleInCooldown: p.ScaleInCooldown } : {}),
            ...(p.ScaleOutCooldown !== undefined ? { ScaleOutCooldown: p.ScaleOutCooldown } : {}),
          },
        },
      };
      if (s.fromZero) {
        const stepId = claim(logicalId(e.name, 'ScaleFromZeroPolicy', s.variant), `the scale-from-zero policy of ${e.name}/${s.variant}`);
        const step = s.fromZero.policy.StepScalingPolicyConfiguration!;
        t.Resources[stepId] = {
          Type: 'AWS::ApplicationAutoScaling::ScalingPolicy',
          Properties: {
            PolicyName: s.fromZero.policy.PolicyName,
            PolicyType: 'StepScaling',
            ScalingTargetId: { Ref: targetId },
            StepScalingPolicyConfiguration: {
              AdjustmentType: step.AdjustmentType,
              MetricAggregationType: step.MetricAggregationType,
              Cooldown: step.Cooldown,
              StepAdjustments: (step.StepAdjustments ?? []).map((a) => ({ MetricIntervalLowerBound: a.MetricIntervalLowerBound, ScalingAdjustment: a.ScalingAdjustment })),
            },
          },
        };
        const a = s.fromZero.alarm;
        t.Resources[claim(logicalId(e.name, 'ScaleFromZeroAlarm', s.variant), `the scale-from-zero alarm of ${e.name}/${s.variant}`)] = {
          Type: 'AWS::CloudWatch::Alarm',
          Properties: {
            ...alarmProperties(a, [{ Name: 'EndpointName', Value: { 'Fn::GetAtt': [endpointId, 'EndpointName'] } }]),
            DatapointsToAlarm: a.DatapointsToAlarm,
            // The policy's ARN (its Ref is a composite identifier, not the ARN).
            AlarmActions: [{ 'Fn::GetAtt': [stepId, 'Arn'] }],
          },
        };
      }
    }
    t.Outputs[logicalId(e.name, 'EndpointName')] = { Description: `Endpoint ${e.name}`, Value: { 'Fn::GetAtt': [endpointId, 'EndpointName'] } };
  }
  return t;
}

/** Writes the template as YAML (`.yaml`, `.yml`) or JSON (anything else). */
export async function writeTemplate(file: string, template: CloudFormationTemplate): Promise<void> {
  const ext = path.extname(file).toLowerCase();
  let text: string;
  if (ext === '.yaml' || ext === '.yml') {
    const { stringify } = await import('yaml');
    text = stringify(template, { aliasDuplicateObjects: false });
  } else {
    text = `${JSON.stringify(template, null, 2)}\n`;
  }
  await makeDir(path.dirname(path.resolve(file)));
  await fs.writeFile(file, text);
}

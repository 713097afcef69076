/** What {@link invocation5xxAlarm} gives: a `PutMetricAlarm` input, for the SDK's command or a service's `call`. */
export type Invocation5xxAlarm = {
  AlarmName: string;
  Namespace: 'AWS/SageMaker';
  MetricName: 'Invocation5XXErrors';
  Dimensions: Array<{ Name: string; Value: string }>;
  Statistic: 'Sum';
  Period: number;
  EvaluationPeriods: number;
  Threshold: number;
  ComparisonOperator: 'GreaterThanOrEqualToThreshold';
  TreatMissingData?: 'notBreaching';
};

/**
 * The `PutMetricAlarm` input of alarm `alarmName` on variant `variantName` of endpoint
 * `endpointName`: in ALARM once a one-minute period has one `Invocation5XXErrors` or more (Sum ≥ 1,
 * one period of 60 s); `treatMissingData` `notBreaching` keeps it OK while no request is sent.
 */
export function invocation5xxAlarm(alarmName: string, endpointName: string, variantName: string, treatMissingData?: 'notBreaching'): Invocation5xxAlarm {
  return {
    AlarmName: alarmName,
    Namespace: 'AWS/SageMaker',
    MetricName: 'Invocation5XXErrors',
    Dimensions: [
      { Name: 'EndpointName', Value: endpointName },
      { Name: 'VariantName', Value: variantName },
    ],
    Statistic: 'Sum',
    Period: 60,
    EvaluationPeriods: 1,
    Threshold: 1,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    ...(treatMissingData === undefined ? {} : { TreatMissingData: treatMissingData }),
  };
}

/**
 * The AWS partition a region belongs to, as ARNs name it (`arn:<partition>:...`): `aws-cn` for
 * `cn-north-1`, `aws-us-gov` for `us-gov-west-1`, `aws` for the commercial regions (botocore's
 * `partitions.json` region patterns). A region of no known partition is taken as `aws`.
 */
export function partitionOf(region: string): string {
  const partitions: ReadonlyArray<readonly [RegExp, string]> = [
    [/^cn-\w+-\d+$/, 'aws-cn'],
    [/^us-gov-\w+-\d+$/, 'aws-us-gov'],
    [/^us-iso-\w+-\d+$/, 'aws-iso'],
    [/^us-isob-\w+-\d+$/, 'aws-iso-b'],
    [/^eu-isoe-\w+-\d+$/, 'aws-iso-e'],
    [/^us-isof-\w+-\d+$/, 'aws-iso-f'],
    [/^eusc-de-\w+-\d+$/, 'aws-eusc'],
  ];
  return partitions.find(([pattern]) => pattern.test(region))?.[1] ?? 'aws';
}

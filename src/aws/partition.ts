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

/**
 * Whether `text` can name a Region: a host label of 1 to 63 lower-case letters, digits and hyphens,
 * neither first nor last a hyphen. Every Region's name is one (us-east-1, us-gov-west-1,
 * cn-north-1, us-isob-east-1, eusc-de-east-1); the SDK refuses anything but a host label only at the
 * first call (@smithy/config-resolver's checkRegion). It takes upper case (US-EAST-1), which then
 * signs every request for a Region of that spelling, and AWS refuses the signature of each call
 * after the models are packaged and uploaded: refused here as well.
 */
export function isRegionName(text: string): boolean {
  return /^(?!-)[a-z0-9-]{1,63}(?<!-)$/.test(text);
}

/** What {@link isRegionName} takes, as an error message's "expected …". */
export const REGION_NAME_EXPECTED = 'an AWS Region such as us-east-1: lower-case letters, digits and hyphens';

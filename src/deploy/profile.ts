import type { DeployEnvironment } from '../config/deploy.js';
import { unknownProfile } from '../aws/shared-profiles.js';
import { ToolkitError } from '../errors/catalogue.js';

/**
 * Throws `ERR_DEPLOY_CONFIG` when `AWS_PROFILE` names a profile that neither shared file holds (a
 * typo, or a file not where it is looked for). The AWS CLI stops at once on it ("The config profile
 * (…) could not be found"); the AWS SDK for JavaScript does not: it skips the credentials in the
 * environment, finds no Region for the profile, and ends in "Region is missing" or "Could not load
 * credentials from any providers" (deploy then said to set AWS_PROFILE, or to give the profile a
 * Region), or, on an EC2 instance or in a container, goes on with the instance's or task's role,
 * which may be another account than the profile's.
 */
export function checkProfile(env: DeployEnvironment): void {
  const problem = env.profile === undefined ? undefined : unknownProfile(env.profile);
  if (problem === undefined) return;
  throw new ToolkitError('ERR_DEPLOY_CONFIG', `${problem} Set AWS_PROFILE to a profile there (AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE say where the files are), or unset it to use the credentials in the environment`);
}

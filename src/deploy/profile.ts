import { readFileSync } from 'node:fs';
import type { DeployEnvironment } from '../config/deploy.js';
import { closestNames, orList } from '../core/closest-name.js';
import { ToolkitError } from '../errors/catalogue.js';

/**
 * The profile names a shared AWS file holds, read as the AWS SDK for JavaScript reads them
 * (`@smithy/core` `parseIni`, `getConfigData`): in the config file `[default]` and `[profile NAME]`
 * (a bare `[NAME]` there is no profile to the SDK), in the credentials file every `[NAME]`. A file
 * that cannot be read holds none, as the SDK takes it.
 */
export function sharedFileProfiles(file: string, kind: 'config' | 'credentials'): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const names: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.split(/(^|\s)[;#]/)[0]!.trim();
    if (!trimmed.startsWith('[') || !trimmed.endsWith(']')) continue;
    const section = trimmed.slice(1, -1);
    const prefixed = /^([\w-]+)\s(["'])?([\w\-@+.%:/]+)\2$/.exec(section);
    if (kind === 'credentials') {
      if (!prefixed) names.push(section);
    } else if (prefixed) {
      if (prefixed[1] === 'profile') names.push(prefixed[3]!);
    } else if (section === 'default') names.push(section);
  }
  return names;
}

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
  const profile = env.profile;
  if (profile === undefined) return;
  const config = sharedFileProfiles(profile.configFile, 'config');
  const credentials = sharedFileProfiles(profile.credentialsFile, 'credentials');
  if (config.includes(profile.name) || credentials.includes(profile.name)) return;
  const known = [...new Set([...config, ...credentials])];
  const meant = closestNames(profile.name, known);
  const shownKnown = known.length > 10 ? `${known.slice(0, 10).join(', ')} and ${known.length - 10} more` : known.join(', ');
  const hint = meant.length > 0 ? `: did you mean ${orList(meant)}?` : known.length > 0 ? ` (they have ${shownKnown}).` : ' (no profile is there).';
  throw new ToolkitError(
    'ERR_DEPLOY_CONFIG',
    `AWS_PROFILE is ${JSON.stringify(profile.name)}, which is not a profile of ${profile.configFile} ([profile ${profile.name}]) or ${profile.credentialsFile} ([${profile.name}])${hint} ` +
      'Set AWS_PROFILE to a profile there (AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE say where the files are), or unset it to use the credentials in the environment',
  );
}

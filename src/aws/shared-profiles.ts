import { readFileSync } from 'node:fs';
import { closestNames, orList } from '../core/closest-name.js';

// AWS_PROFILE against the shared files the AWS SDK reads it from: smkit deploy refuses a profile
// that is not there before it starts, and smkit local names it when Amazon S3 found no credentials.

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
 * What is wrong with `profile` when neither shared file holds it (`AWS_PROFILE is "deev", which is
 * not a profile of …: did you mean dev?`), else undefined: said by `smkit deploy` before it starts,
 * and by `smkit local` when Amazon S3 found no credentials for an `s3://` URL.
 */
export function unknownProfile(profile: { readonly name: string; readonly configFile: string; readonly credentialsFile: string }): string | undefined {
  const config = sharedFileProfiles(profile.configFile, 'config');
  const credentials = sharedFileProfiles(profile.credentialsFile, 'credentials');
  if (config.includes(profile.name) || credentials.includes(profile.name)) return undefined;
  const known = [...new Set([...config, ...credentials])];
  const meant = closestNames(profile.name, known);
  const shownKnown = known.length > 10 ? `${known.slice(0, 10).join(', ')} and ${known.length - 10} more` : known.join(', ');
  const hint = meant.length > 0 ? `: did you mean ${orList(meant)}?` : known.length > 0 ? ` (they have ${shownKnown}).` : ' (no profile is there).';
  return `AWS_PROFILE is ${JSON.stringify(profile.name)}, which is not a profile of ${profile.configFile} ([profile ${profile.name}]) or ${profile.credentialsFile} ([${profile.name}])${hint}`;
}

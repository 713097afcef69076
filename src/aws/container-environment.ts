/**
 * The most bytes the keys and values of a model's `Environment` maps may take together, across all
 * its containers: "The maximum length of all keys and values in the map, combined, is 32 KB. If you
 * pass multiple containers to a CreateModel request, then the maximum length of all of their maps,
 * combined, is also 32 KB." (`Environment` in
 * https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ContainerDefinition.html).
 */
export const MAX_MODEL_ENVIRONMENT_BYTES = 32 * 1024;

/** The UTF-8 bytes of the keys and values of `maps` (an absent map counts nothing). */
export function environmentBytes(maps: readonly (Readonly<Record<string, string>> | undefined)[]): number {
  let bytes = 0;
  for (const map of maps) {
    for (const [key, value] of Object.entries(map ?? {})) bytes += Buffer.byteLength(key) + Buffer.byteLength(String(value));
  }
  return bytes;
}

/**
 * The refusal for the first variable of `map` whose value holds a NUL character, or `undefined` when
 * none does. The API's value pattern (`[\S\s]*`) takes one, but no process environment can carry it
 * (the container could not be started), so it is refused where the request names it.
 */
export function nulEnvironmentValue(map: Readonly<Record<string, string>> | undefined, member: string): string | undefined {
  for (const [key, value] of Object.entries(map ?? {})) {
    if (String(value).includes('\0')) return `${member} value of ${key} holds a NUL character (\\u0000), which no process environment can carry: remove it.`;
  }
  return undefined;
}

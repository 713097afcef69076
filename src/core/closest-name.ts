/** Lower case without `_`, `-` or spaces: `InstanceType`, `instance_type` and `instanceType` are one name. */
function folded(name: string): string {
  return name.toLowerCase().replace(/[-_ ]/g, '');
}

/** Optimal string alignment distance (an adjacent swap counts as one edit), or `max + 1` once it is past `max`. */
function distance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let before = Array.from({ length: b.length + 1 }, (_, j) => j);
  let previous = before;
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      row.push(d);
      best = Math.min(best, d);
    }
    if (best > max) return max + 1;
    before = previous;
    previous = row;
  }
  return previous[b.length]!;
}

/**
 * The names of `names` that `typed` most likely meant, for a "did you mean" hint: the same name in
 * another case or with `_`/`-` (`InstanceType` for `instanceType`, as the SageMaker API spells
 * it), else the nearest within two edits (a third of its length for short names), all of them
 * when several are as near; none when nothing is that close.
 *
 * @example closestNames('modle', ['name', 'model', 'mode']) // ['model', 'mode']: a swap, or one letter more
 */
export function closestNames(typed: string, names: readonly string[]): string[] {
  const key = folded(typed);
  const same = names.filter((n) => folded(n) === key);
  if (same.length > 0) return same;
  const max = Math.min(2, Math.floor(key.length / 3));
  let found: string[] = [];
  let best = max + 1;
  for (const name of names) {
    const d = distance(key, folded(name), max);
    if (d < best) [found, best] = [[name], d];
    else if (d === best) found.push(name);
  }
  return best <= max ? found : [];
}

/** `"a"`, `"a" or "b"`, `"a", "b" or "c"`: names for a "did you mean" hint. */
export function orList(names: readonly string[]): string {
  const quoted = names.map((n) => JSON.stringify(n));
  return quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}` : (quoted[0] ?? '');
}

/**
 * ` (did you mean "axis"?)` after a name `typed` that is none of `names` (a pipeline step, a step's
 * option, a top-level key) when {@link closestNames} finds one it likely meant; `""` otherwise.
 */
export function meantHint(typed: string, names: readonly string[]): string {
  const meant = closestNames(typed, names);
  return meant.length > 0 ? ` (did you mean ${orList(meant)}?)` : '';
}

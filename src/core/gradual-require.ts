import { readFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import path from 'node:path';
import { hasFreeDescriptors } from './free-descriptors.js';
import { descriptorsBusy } from './retrying-load.js';

/** One package to require. */
export interface PackageStep {
  readonly name: string;
  /** Where the name is resolved from: its dependent's `package.json`, or the caller's file. */
  readonly from: string | URL;
  /** The package's own `package.json` (two versions of one name are two steps). */
  readonly manifest: string;
}

/**
 * The packages `names` need: their `dependencies`, transitively, and `names` themselves, each once,
 * every package after those it depends on (a cycle is broken where it is met). A package that is
 * not installed is left out: requiring its dependent reports it as usual. A Node built-in
 * (`node:https`) is a step of its own, for packages that load one at start.
 *
 * @param from - the file or `file:` URL the names are resolved from (`import.meta.url`).
 */
export function packageLoadOrder(names: readonly string[], from: string | URL, skip: ReadonlySet<string> = NONE): PackageStep[] {
  return [...walk(names, from, skip)].filter((event): event is PackageStep => event !== undefined);
}

const NONE: ReadonlySet<string> = new Set();

/**
 * {@link packageLoadOrder} one piece of work at a time: each `next()` resolves one package name
 * (file-system lookups, and reading its `package.json`), then yields the packages that are ready,
 * or `undefined` where a caller may pause. A dependency named in `skip` is neither looked up nor
 * walked into.
 */
function* walk(names: readonly string[], from: string | URL, skip: ReadonlySet<string>): Generator<PackageStep | undefined> {
  const seen = new Set<string>();
  const requires = new Map<string | URL, NodeJS.Require>();
  const requireFrom = (file: string | URL) => requires.get(file) ?? requires.set(file, createRequire(file)).get(file)!;
  function* visit(name: string, fromFile: string | URL): Generator<PackageStep | undefined> {
    if (isBuiltin(name)) {
      yield { name, from: fromFile, manifest: name };
      return;
    }
    const manifest = manifestOf(name, requireFrom(fromFile));
    yield undefined;
    if (manifest === undefined) return;
    if (seen.has(manifest)) return;
    seen.add(manifest);
    for (const dependency of dependenciesOf(manifest)) if (!skip.has(dependency)) yield* visit(dependency, manifest);
    yield { name, from: fromFile, manifest };
  }
  for (const name of names) yield* visit(name, from);
}

/**
 * The `package.json` of the package `name` resolves to: found directly, or, when the package's
 * `exports` map hides it (`@opentelemetry/api`), in the nearest folder above its main file that
 * holds the manifest of a package of that name. Undefined when the package is not found.
 */
function manifestOf(name: string, require: NodeJS.Require): string | undefined {
  try {
    return require.resolve(`${name}/package.json`);
  } catch {
    // Hidden, or not installed: look above its main file.
  }
  let dir: string;
  try {
    dir = path.dirname(require.resolve(name));
  } catch {
    return undefined;
  }
  for (; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'package.json');
    try {
      if ((JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown }).name === name) return candidate;
    } catch {
      // No manifest here (or an unreadable one): look further up.
    }
  }
  return undefined;
}

function dependenciesOf(manifest: string): string[] {
  try {
    const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as { dependencies?: unknown };
    return parsed.dependencies && typeof parsed.dependencies === 'object' ? Object.keys(parsed.dependencies) : [];
  } catch {
    return [];
  }
}

/** Resolves on the event loop's next check phase: after the I/O callbacks that are ready now. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Requires the CommonJS packages `names`, and what they depend on, one package per turn of the
 * event loop, dependencies first. Requiring a package loads its whole dependency tree in one
 * synchronous call (express: some 130 files, 100–150 ms on a 2-vCPU VM), which holds every request
 * of a busy server for that long; one package at a time holds it for a few milliseconds at most,
 * and the requests queued meanwhile are answered between the steps (finding the packages is
 * spread over turns the same way). A later `import()` or
 * `require()` of the same packages then finds them loaded.
 *
 * Every package in a `dependencies` list is required, so a dependency that its package loads only
 * later, or never (pino's transport helpers), is loaded too, unless the caller names it in `skip`:
 * such a package is then neither looked up nor required here (its dependent still requires it
 * itself, at once, if it does need it).
 *
 * A package that fails to load is skipped: the caller's own import reports the failure. While the
 * process has no file descriptors to spare (`canLoad` says no) it stops, rejecting with 503
 * `ERR_SERVER_BUSY`: the packages it required stay loaded, and a later call goes on from there.
 *
 * @param turn - waits between two packages (tests pass their own).
 * @param canLoad - whether a package may be looked up or required now (tests pass their own).
 * @param skip - dependencies not to load (names in `names` itself are always loaded).
 * @returns the packages that were required, in the order they were.
 */
export async function requireGradually(names: readonly string[], from: string | URL, turn: () => Promise<void> = nextTurn, canLoad: () => boolean = hasFreeDescriptors, skip: ReadonlySet<string> = NONE): Promise<string[]> {
  const required: string[] = [];
  // A package.json read without a descriptor to spare would leave its package missing for good (see
  // free-descriptors.ts): the load stops there, for its caller to try again later.
  const check = () => {
    if (!canLoad()) throw descriptorsBusy(`the packages ${names.join(', ')}`);
  };
  // Finding the packages is work too (express and multer: 71 package.json files, some 30 ms in one go).
  const steps = walk(names, from, skip);
  for (check(); ; check()) {
    const next = steps.next();
    if (next.done) break;
    const step = next.value;
    await turn();
    if (!step) continue;
    check();
    try {
      createRequire(step.from)(step.name);
      required.push(step.name);
    } catch {
      // An ES-module-only package on Node 20, or one with no main entry: left to the caller's import.
    }
  }
  return required;
}

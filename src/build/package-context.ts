/**
 * `smkit build` from an installed npm package. The package carries smkit's compiled code, not its
 * sources, and npm never publishes a root `package-lock.json` or `.npmrc`; `npm pack` copies those
 * two into `docker/` (scripts/pack-build-context.mjs). This module lays out a build context the
 * Dockerfile can use from that: the lockfile and npm settings back at the root, and a Dockerfile
 * whose compile stage copies the compiled `dist/src` instead of compiling `src/`.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ToolkitError } from '../errors/catalogue.js';

/** Where `npm pack` puts the copies of the root files npm will not publish, by their name at the root. */
export const SHIPPED_ROOT_FILES: Readonly<Record<string, string>> = Object.freeze({ 'package-lock.json': 'docker/package-lock.json', '.npmrc': 'docker/npmrc' });

/**
 * Where `npm pack` records the git commit it packed from, for the image's revision label: an
 * installed package has no git history to ask.
 */
export const PACKED_REVISION_FILE = 'docker/REVISION';

/** The commit an installed package at `root` was packed from, or `undefined` when it does not say. */
export async function packedRevision(root: string): Promise<string | undefined> {
  const text = await fs.readFile(path.join(root, PACKED_REVISION_FILE), 'utf8').catch(() => undefined);
  const revision = text?.trim();
  // It becomes a build argument and a label: only an abbreviated or full commit hash is taken.
  return revision && /^[0-9a-f]{7,40}$/.test(revision) ? revision : undefined;
}

/** What the laid-out context takes from the package as it is. */
const COPIED_ENTRIES = ['package.json', 'bin', 'docker', 'dist/src', 'models/iris-onnx'] as const;

/** What an installed package must carry for `smkit build` (see the module comment). */
export const PACKAGE_CONTEXT_ENTRIES: readonly string[] = ['Dockerfile', ...COPIED_ENTRIES, ...Object.values(SHIPPED_ROOT_FILES)];

/** The stage of smkit's Dockerfile that compiles `src/` and `assembly/` into `dist/src`. */
const COMPILE_STAGE = /^FROM\s+\S+\s+AS\s+build\s*$/i;

/**
 * smkit's Dockerfile with its compile stage (`FROM … AS build`) reduced to copying an already
 * compiled `dist/src` from the context: the other stages, and so the images, stay as they are.
 * Throws `ERR_BUILD_FAILED` when the Dockerfile has no such stage (it was changed without this).
 */
export function prebuiltDockerfile(dockerfile: string): string {
  const lines = dockerfile.split('\n');
  const start = lines.findIndex((line) => COMPILE_STAGE.test(line));
  if (start < 0) throw new ToolkitError('ERR_BUILD_FAILED', 'smkit\'s Dockerfile has no "FROM … AS build" stage to take compiled code from');
  let end = start + 1;
  // The stage runs to the next stage, or to the comment that heads it.
  while (end < lines.length && !/^FROM\s/i.test(lines[end]!)) end++;
  while (end > start + 1 && /^#/.test(lines[end - 1]!)) end--;
  while (end > start + 1 && lines[end - 1]!.trim() === '') end--;
  return [...lines.slice(0, start + 1), 'WORKDIR /app', 'COPY dist/src ./dist/src', ...lines.slice(end)].join('\n');
}

/**
 * Lays out a build context for an installed package's `root` in the empty folder `dir`: what the
 * Dockerfile copies, the lockfile and `.npmrc` at the root, and the {@link prebuiltDockerfile}.
 * Returns the Dockerfile's path.
 */
export async function layOutPackageContext(root: string, dir: string): Promise<string> {
  for (const entry of COPIED_ENTRIES) {
    await fs.cp(path.join(root, entry), path.join(dir, entry), { recursive: true, dereference: true });
  }
  for (const [name, shipped] of Object.entries(SHIPPED_ROOT_FILES)) await fs.copyFile(path.join(root, shipped), path.join(dir, name));
  const dockerfile = path.join(dir, 'Dockerfile');
  await fs.writeFile(dockerfile, prebuiltDockerfile(await fs.readFile(path.join(root, 'Dockerfile'), 'utf8')));
  return dockerfile;
}

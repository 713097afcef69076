import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ToolkitError } from '../errors/catalogue.js';
import { PACKAGE_CONTEXT_ENTRIES } from './package-context.js';

/** The directory holding smkit's `Dockerfile` (the build context) and its package version. */
export interface SmkitSource {
  readonly root: string;
  readonly dockerfile: string;
  readonly version: string;
  /**
   * `checkout`: a git clone, built from its sources as it is. `package`: an installed npm package,
   * whose compiled code goes into a context laid out for it (see `package-context.ts`).
   */
  readonly kind: 'checkout' | 'package';
}

/**
 * What the Dockerfile copies from a git clone (see it and `.dockerignore`). An installed npm package
 * has the Dockerfile but not all of these: npm never publishes `package-lock.json` or `.npmrc`, and
 * the package ships compiled code, not `src/` and `assembly/` (it has `PACKAGE_CONTEXT_ENTRIES`).
 */
export const BUILD_CONTEXT_ENTRIES = ['package.json', 'package-lock.json', '.npmrc', 'tsconfig.json', 'src', 'assembly', 'bin', 'docker', 'models/iris-onnx'] as const;

/**
 * Finds smkit's own source tree (walking up from this module: `dist/src/build/` in a checkout or an
 * installed package). `smkit build` builds images of smkit itself, so the context is this tree, not
 * the caller's directory: a git clone ({@link BUILD_CONTEXT_ENTRIES}) or an installed package
 * (`PACKAGE_CONTEXT_ENTRIES`). Throws `ERR_BUILD_FAILED` when it is neither, naming what is missing,
 * before an engine is started.
 */
export function findSmkitSource(from: string = path.dirname(fileURLToPath(import.meta.url))): SmkitSource {
  let dir = from;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      const json = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string; version?: string };
      if (json.name === 'smkit') {
        const dockerfile = path.join(dir, 'Dockerfile');
        const lacking = (entries: readonly string[]) => entries.filter((entry) => !existsSync(path.join(dir, entry)));
        const missing = lacking(['Dockerfile', ...BUILD_CONTEXT_ENTRIES]);
        const version = json.version ?? 'dev';
        if (missing.length === 0) return { root: dir, dockerfile, version, kind: 'checkout' };
        if (lacking(PACKAGE_CONTEXT_ENTRIES).length === 0) return { root: dir, dockerfile, version, kind: 'package' };
        throw new ToolkitError(
          'ERR_BUILD_FAILED',
          `${dir} lacks ${missing.join(', ')}: smkit build needs smkit's source tree (a git clone, after npm ci) or an installed smkit package made by npm pack (which carries dist/src and docker/package-lock.json)`,
        );
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new ToolkitError('ERR_BUILD_FAILED', `cannot find smkit's package.json above ${from}`);
    dir = parent;
  }
}

/** Longest image name the engines take (distribution/reference's NameTotalLengthMax). */
const IMAGE_NAME_MAX = 255;

/**
 * Longest default name: distribution/reference before v0.6 (docker's older clients, and the fork
 * containers/image keeps for podman) counts the 255 on the name as normalized, so a short name
 * takes `docker.io/library/` (or podman's `localhost/`) into the count.
 */
const DEFAULT_NAME_MAX = IMAGE_NAME_MAX - 'docker.io/library/'.length;

/**
 * An image repository name from a model path: `models/iris-onnx` → `smkit-iris-onnx`,
 * `out/model.tar.gz` → `smkit-model`. What docker and podman take (distribution/reference's
 * grammar): lowercase letters and digits, separated by one `.`, one or two `_`, or dashes (any
 * other run, `..` or `_-_`, becomes one `-`), at most 237 characters (255 with `docker.io/library/`): `my..model` or
 * `resnet50_-_v2` gave a name the engine refused ("invalid reference format"), after the base
 * image had been built.
 */
export function imageNameForModel(modelPath: string): string {
  const base = path.basename(path.resolve(modelPath)).replace(/\.(tar\.gz|tgz)$/i, '');
  const clean = base
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/[._-]{2,}/g, (run) => (run === '__' || /^-+$/.test(run) ? run : '-'))
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return `smkit-${clean || 'model'}`.slice(0, DEFAULT_NAME_MAX).replace(/[^a-z0-9]+$/, '');
}

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
/** distribution/reference's grammar for a name and an optional tag: what `docker build -t` and `podman build -t` take. */
const IMAGE_REFERENCE = new RegExp(
  `^(?:(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::[\\w][\\w.-]{0,127})?$`,
);

/**
 * Why `name` is not an image name the engines take (`[registry/]repo[:tag]`, the repository in
 * lower case, at most 255 characters before the tag), or undefined when it is one.
 */
export function imageNameProblem(name: string): string | undefined {
  if (!IMAGE_REFERENCE.test(name)) {
    return 'an image name: [registry/]repository[:tag], the repository of lowercase letters and digits separated by ., _, __ or dashes, the tag of at most 128 letters, digits, _, . and -';
  }
  const repository = name.replace(/:[\w][\w.-]*$/, '');
  if (repository.length > IMAGE_NAME_MAX) return `an image name of at most ${IMAGE_NAME_MAX} characters before its tag`;
  return undefined;
}

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ToolkitError } from '../errors/catalogue.js';

/** The directory holding smkit's `Dockerfile` (the build context) and its package version. */
export interface SmkitSource {
  readonly root: string;
  readonly dockerfile: string;
  readonly version: string;
}

/**
 * What the Dockerfile copies from the build context (see it and `.dockerignore`). An installed npm
 * package has the Dockerfile but not all of these: npm never publishes `package-lock.json`, and the
 * package ships compiled code, not `src/` and `assembly/`.
 */
export const BUILD_CONTEXT_ENTRIES = ['package.json', 'package-lock.json', '.npmrc', 'tsconfig.json', 'src', 'assembly', 'bin', 'docker', 'models/iris-onnx'] as const;

/**
 * Finds smkit's own source tree (walking up from this module: `dist/src/build/` in a checkout or an
 * installed package). `smkit build` builds images of smkit itself, so the context is this tree, not
 * the caller's directory. Throws `ERR_BUILD_FAILED` when the tree lacks the Dockerfile or anything
 * it copies ({@link BUILD_CONTEXT_ENTRIES}), naming what is missing, before an engine is started.
 */
export function findSmkitSource(from: string = path.dirname(fileURLToPath(import.meta.url))): SmkitSource {
  let dir = from;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      const json = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string; version?: string };
      if (json.name === 'smkit') {
        const dockerfile = path.join(dir, 'Dockerfile');
        const missing = [path.basename(dockerfile), ...BUILD_CONTEXT_ENTRIES].filter((entry) => !existsSync(path.join(dir, entry)));
        if (missing.length > 0) {
          throw new ToolkitError(
            'ERR_BUILD_FAILED',
            `${dir} lacks ${missing.join(', ')}: smkit build compiles smkit from its source tree, which an installed npm package does not carry in full; run smkit build from a git clone of smkit (npm ci there first), or docker build in that clone`,
          );
        }
        return { root: dir, dockerfile, version: json.version ?? 'dev' };
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new ToolkitError('ERR_BUILD_FAILED', `cannot find smkit's package.json above ${from}`);
    dir = parent;
  }
}

/**
 * An image repository name from a model path: `models/iris-onnx` → `smkit-iris-onnx`,
 * `out/model.tar.gz` → `smkit-model`. Lowercase letters, digits, `.`, `_`, `-` only.
 */
export function imageNameForModel(modelPath: string): string {
  const base = path.basename(path.resolve(modelPath)).replace(/\.(tar\.gz|tgz)$/i, '');
  const clean = base.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return `smkit-${clean || 'model'}`;
}

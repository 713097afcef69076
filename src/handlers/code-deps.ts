import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ToolkitError } from '../errors/catalogue.js';
import type { Logger } from '../core/context.js';

/**
 * npm's environment for the install: its cache (and the logs it keeps there) in the temp dir unless
 * the user chose one, since its default, `~/.npm`, is not writable under a read-only root filesystem
 * (`docker run --read-only --tmpfs /tmp`) nor for a user whose home is not theirs; and no check of
 * the registry for a newer npm.
 */
export function npmEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const chosen = Object.keys(env).some((k) => k.toLowerCase() === 'npm_config_cache');
  return {
    ...env,
    ...(!chosen && { npm_config_cache: path.join(os.tmpdir(), 'smkit-npm-cache') }),
    npm_config_update_notifier: 'false',
  };
}

/**
 * Makes `code/package.json` dependencies usable and returns the code directory to load from.
 *
 * `/opt/ml/model` is read-only on SageMaker, so when `code/package.json` declares dependencies and
 * `code/node_modules` is absent, the code is copied to a writable directory under the OS temp dir
 * and `npm install --omit=dev` runs there, once, before workers start. Network-isolated endpoints
 * cannot reach a registry: ship `code/node_modules` in model.tar.gz (or bake the deps into the
 * image) and set `SMKIT_INSTALL_CODE_DEPS=never`.
 */
export function prepareCodeDir(modelDir: string, mode: 'auto' | 'never', log: Logger): string {
  const codeDir = path.join(modelDir, 'code');
  const pkgFile = path.join(codeDir, 'package.json');
  if (!existsSync(pkgFile) || existsSync(path.join(codeDir, 'node_modules'))) return codeDir;
  let pkg: { dependencies?: Record<string, string> };
  try {
    pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as typeof pkg;
  } catch (err) {
    throw new ToolkitError('ERR_CODE_DEPENDENCIES', `${pkgFile} is not valid JSON: ${(err as Error).message}`);
  }
  if (!pkg.dependencies || Object.keys(pkg.dependencies).length === 0) return codeDir;
  if (mode === 'never') {
    log.warn({ codeDir }, 'code/package.json declares dependencies but code/node_modules is absent and SMKIT_INSTALL_CODE_DEPS=never: imports of them will fail');
    return codeDir;
  }
  const digest = createHash('sha256').update(readFileSync(pkgFile)).update(codeDir).digest('hex').slice(0, 16);
  const target = path.join(os.tmpdir(), `smkit-code-${digest}`);
  if (!existsSync(path.join(target, 'node_modules'))) {
    cpSync(codeDir, target, { recursive: true });
    const lock = existsSync(path.join(target, 'package-lock.json'));
    log.info({ codeDir, target, dependencies: Object.keys(pkg.dependencies) }, 'installing code/package.json dependencies');
    const result = spawnSync('npm', [lock ? 'ci' : 'install', '--omit=dev', '--no-audit', '--no-fund'], { cwd: target, env: npmEnv(process.env), encoding: 'utf8', timeout: 300_000 });
    if (result.status !== 0) {
      throw new ToolkitError(
        'ERR_CODE_DEPENDENCIES',
        `npm ${lock ? 'ci' : 'install'} for ${pkgFile} failed (${result.error?.message ?? `exit ${result.status}`}): ${(result.stderr ?? '').trim().split('\n').slice(-5).join(' | ')}. ` +
          'Ship code/node_modules inside model.tar.gz or install the dependencies in the image, and set SMKIT_INSTALL_CODE_DEPS=never.',
      );
    }
  }
  return target;
}

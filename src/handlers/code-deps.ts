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

/** npm's error codes for a registry it could not talk to at all (no answer, as opposed to an HTTP error). */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'ETIMEDOUT',
  'ENETUNREACH', 'ENETDOWN', 'EHOSTUNREACH', 'EHOSTDOWN', 'ERR_SOCKET_TIMEOUT', 'FETCH_ERROR',
]);

/**
 * Asks the registry npm would install from (`npm ping`, with the code's own `.npmrc`, proxies and
 * all) whether it answers, and returns why not when it cannot be reached at all; undefined when it
 * answers, even with an HTTP error (a registry without `/-/ping`), or when npm failed otherwise, so
 * that the install itself says what is wrong. One retry a second later and 10 s per attempt: npm's
 * own defaults (two retries 10 s and 60 s apart, 5 min per request) made an install with no network
 * take more than a minute to fail, and one in a VPC that drops packets several minutes.
 */
function unreachableRegistry(cwd: string, env: NodeJS.ProcessEnv): { registry: string; reason: string } | undefined {
  const ping = spawnSync('npm', ['ping', '--fetch-retries=1', '--fetch-retry-mintimeout=1000', '--fetch-retry-maxtimeout=1000', '--fetch-timeout=10000'], {
    cwd,
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (ping.status === 0 || ping.error) return undefined;
  const code = /^npm (?:error|ERR!) code (\S+)/m.exec(ping.stderr ?? '')?.[1];
  if (!code || !NETWORK_ERROR_CODES.has(code)) return undefined;
  const registry = /\bPING (\S+)/.exec(ping.stderr ?? '')?.[1] ?? 'the npm registry';
  return { registry, reason: code === 'FETCH_ERROR' ? 'no answer within 10 s' : code };
}

/**
 * Makes `code/package.json` dependencies usable and returns the code directory to load from.
 *
 * `/opt/ml/model` is read-only on SageMaker, so when `code/package.json` declares dependencies and
 * `code/node_modules` is absent, the code is copied to a writable directory under the OS temp dir
 * and `npm install --omit=dev` runs there, once, before workers start: offline first (dependencies
 * vendored in `code/` as `file:` ones, or in npm's cache), then, if the registry can be reached, with
 * the network; if it cannot, `ERR_CODE_DEPENDENCIES` at once.
 * Network-isolated endpoints cannot reach a registry: ship `code/node_modules` in model.tar.gz (or
 * bake the deps into the image) and set `SMKIT_INSTALL_CODE_DEPS=never`.
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
    const env = npmEnv(process.env);
    const verb = lock ? 'ci' : 'install';
    const npm = (offline: boolean) =>
      spawnSync('npm', [verb, '--omit=dev', '--no-audit', '--no-fund', ...(offline ? ['--offline'] : [])], { cwd: target, env, encoding: 'utf8', timeout: 300_000 });
    // Offline first: dependencies vendored in code/ (file:) or in npm's cache need no network, and
    // only when something must be downloaded is the registry asked whether it can be reached.
    const offline = npm(true);
    if (offline.status === 0) return target;
    const unreachable = unreachableRegistry(target, env);
    if (unreachable) {
      throw new ToolkitError(
        'ERR_CODE_DEPENDENCIES',
        `${pkgFile} declares dependencies that npm must download, and ${unreachable.registry} cannot be reached (${unreachable.reason}: no network, as on a network-isolated endpoint, or a VPC without a route to it). ` +
          `npm ${verb} --offline: ${(offline.stderr ?? '').trim().split('\n').slice(0, 2).join(' | ').replace(/\.$/, '')}. ` +
          'Ship code/node_modules inside model.tar.gz (run npm install --omit=dev in code/ before packaging) or install the dependencies in the image, and set SMKIT_INSTALL_CODE_DEPS=never.',
      );
    }
    const result = npm(false);
    if (result.status !== 0) {
      throw new ToolkitError(
        'ERR_CODE_DEPENDENCIES',
        `npm ${verb} for ${pkgFile} failed (${result.error?.message ?? `exit ${result.status}`}): ${(result.stderr ?? '').trim().split('\n').slice(-5).join(' | ')}. ` +
          'Ship code/node_modules inside model.tar.gz or install the dependencies in the image, and set SMKIT_INSTALL_CODE_DEPS=never.',
      );
    }
  }
  return target;
}

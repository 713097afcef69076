import { createRequire, isBuiltin } from 'node:module';
import { hasFreeDescriptors } from './free-descriptors.js';
import { descriptorsBusy, isOutOfDescriptors } from './retrying-load.js';

const require = createRequire(import.meta.url);

/**
 * A getter that loads a CommonJS package or Node built-in the first time it is called, and returns
 * the same module after. A server worker's modules are loaded before its first healthy `/ping`, so
 * what only some requests need (`node:zlib` for compressed bodies, `node:crypto`, a header parser)
 * is loaded this way: each saves a few milliseconds of a cold start. A package is not required
 * while the process has no file descriptors to spare: the call throws 503 `ERR_SERVER_BUSY`
 * instead, and a later one loads it (Node would keep a package whose `package.json` it could not
 * read missing for good).
 *
 * @example
 * const zlib = lazyRequire<typeof import('node:zlib')>('node:zlib');
 * zlib().createGunzip();
 */
export function lazyRequire<T>(id: string): () => T {
  let loaded: T | undefined;
  // A built-in opens no file; a package is required only with descriptors to spare (see retrying-load.ts).
  if (isBuiltin(id)) return () => (loaded ??= require(id) as T);
  return () => (loaded ??= requireWithDescriptors<T>(id));
}

function requireWithDescriptors<T>(id: string): T {
  const what = `the package ${id}`;
  if (!hasFreeDescriptors()) throw descriptorsBusy(what);
  try {
    return require(id) as T;
  } catch (err) {
    throw isOutOfDescriptors(err) ? descriptorsBusy(what, err) : err;
  }
}

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A getter that loads a CommonJS package or Node built-in the first time it is called, and returns
 * the same module after. A server worker's modules are loaded before its first healthy `/ping`, so
 * what only some requests need (`node:zlib` for compressed bodies, `node:crypto`, a header parser)
 * is loaded this way: each saves a few milliseconds of a cold start.
 *
 * @example
 * const zlib = lazyRequire<typeof import('node:zlib')>('node:zlib');
 * zlib().createGunzip();
 */
export function lazyRequire<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(id) as T);
}

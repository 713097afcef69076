import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** One entry of onnxruntime-node's `listSupportedBackends()`. */
export interface ListedBackend {
  readonly name: string;
  readonly bundled: boolean;
}

/**
 * The execution providers this onnxruntime-node install can use, by `listSupportedBackends()` name.
 * The binding lists `cuda` and `tensorrt` whenever it was compiled with them (the Linux x64 build
 * always is) and always as `bundled: false`: their libraries are not in the npm package, its install
 * script downloads them (the GPU image's deps-gpu stage runs it). So a provider that is not bundled
 * counts only when its library is there (`hasLibrary`), and a bundled one always.
 */
export function usableOnnxProviders(listed: readonly ListedBackend[], hasLibrary: (name: string) => boolean): string[] {
  return listed.filter((b) => b.name === 'cpu' || b.bundled || hasLibrary(b.name)).map((b) => b.name);
}

/** The folder onnxruntime-node loads its binding from (`bin/napi-v6/<platform>/<arch>/`), where its install script puts the provider libraries. */
export function onnxBindingDir(): string {
  const pkg = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

/** Whether the provider library of `name` (`libonnxruntime_providers_cuda.so`) is beside the binding. */
export function onnxProviderLibraryPresent(name: string): boolean {
  const file = process.platform === 'win32' ? `onnxruntime_providers_${name}.dll` : `libonnxruntime_providers_${name}.so`;
  return existsSync(path.join(onnxBindingDir(), file));
}

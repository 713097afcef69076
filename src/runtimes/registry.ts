import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { shellWord } from '../core/shell-word.js';
import { ToolkitError } from '../errors/catalogue.js';
import type { RuntimeFactory } from './runtime.js';

/** Runtimes by name. Registering a name twice is an error, never a silent replacement. */
export class RuntimeRegistry {
  readonly #factories = new Map<string, RuntimeFactory>();

  /** Adds a runtime. Throws `ERR_RUNTIME_ALREADY_REGISTERED` when the name is taken. */
  register(factory: RuntimeFactory): this {
    if (this.#factories.has(factory.name)) {
      throw new ToolkitError('ERR_RUNTIME_ALREADY_REGISTERED', `runtime "${factory.name}" is already registered`);
    }
    this.#factories.set(factory.name, factory);
    return this;
  }

  /** The runtime called `name`; throws `ERR_PIPELINE_INVALID` listing the known names when absent. */
  get(name: string): RuntimeFactory {
    const f = this.#factories.get(name);
    if (!f) {
      throw new ToolkitError('ERR_PIPELINE_INVALID', `unknown runtime "${name}"; known runtimes: ${this.names().join(', ')}`);
    }
    return f;
  }

  /** Registered names, in registration order (also the detection order). */
  names(): string[] {
    return [...this.#factories.keys()];
  }

  /**
   * Finds the one runtime whose model is in `dir`. Throws `ERR_MODEL_NOT_FOUND` when none is found, and `ERR_MODEL_DIR`
   * when models of several runtimes are present (a pipeline file must then say which to use).
   */
  async detect(dir: string): Promise<{ factory: RuntimeFactory; modelPath: string }> {
    const found: { factory: RuntimeFactory; modelPath: string }[] = [];
    for (const factory of this.#factories.values()) {
      const modelPath = await factory.detect(dir);
      if (modelPath !== undefined) found.push({ factory, modelPath });
    }
    if (found.length === 1) return found[0]!;
    if (found.length === 0) {
      throw new ToolkitError(
        'ERR_MODEL_NOT_FOUND',
        `no model found in ${dir}: expected model.onnx (or one *.onnx), a TF.js model.json, or a TensorFlow saved_model.pb; or add a pipeline file (pipeline.yaml) that names the model${await this.nestedModelHint(dir)}`,
      );
    }
    throw new ToolkitError(
      'ERR_MODEL_DIR',
      `${dir} holds models for several runtimes (${found.map((f) => `${f.factory.name}: ${f.modelPath}`).join('; ')}); add a pipeline file (pipeline.yaml) naming which to run`,
    );
  }

  /**
   * When `dir` holds nothing but one folder (dot entries aside) in which one of the registered
   * runtimes finds a model, a hint that says so: how an archive packed with its folder (`tar -czf
   * model.tar.gz mymodel`, not `-C mymodel .`) extracts, the model then one level below where
   * SageMaker and smkit look. Never throws: an unreadable folder gives no hint.
   *
   * @returns the sentences to append to a "no model found in …" message, starting with `". "`;
   *   `""` when there is nothing to add.
   */
  async nestedModelHint(dir: string): Promise<string> {
    try {
      const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'));
      if (entries.length !== 1 || !entries[0]!.isDirectory()) return '';
      const folder = entries[0]!.name;
      const inner = path.join(dir, folder);
      for (const factory of this.#factories.values()) {
        const modelPath = await factory.detect(inner);
        if (modelPath === undefined) continue;
        const arg = shellWord(folder);
        return `. Its only entry is the folder ${JSON.stringify(folder).slice(1, -1)}/, which holds a model (${JSON.stringify(path.relative(dir, modelPath) || folder).slice(1, -1)}): the model must be at the top: move the folder's contents up, or point at the folder itself (an archive packed with its folder, tar -czf model.tar.gz ${arg}, extracts so; pack its contents instead: tar -czf model.tar.gz -C ${arg} .)`;
      }
    } catch {
      // An unreadable folder: the message above stands alone.
    }
    return '';
  }
}

import { meantHint } from '../core/closest-name.js';
import { ToolkitError } from '../errors/catalogue.js';
import type { StepBuildEnv, StepBuilder } from './step.js';

/** What the server needs to know about a step kind besides how to build it. */
export interface StepTraits {
  /**
   * The step runs code from the model's `code/` directory (custom steps), which may hold the JS
   * thread for any time: such pipelines always run in an inference thread.
   */
  readonly runsUserCode?: boolean;
  /**
   * The option keys the kind takes: a step that gives another is refused when the pipeline is
   * built (`ERR_PIPELINE_INVALID` naming it), so a misspelt option is not silently left at its
   * default. Absent: the options are not checked.
   */
  readonly options?: readonly string[];
  /**
   * Checks a step's options without building it (no model loaded), throwing what the builder would
   * refuse them with: `buildPipeline` runs it for every step before it builds the first, so a bad
   * option on a later step fails the start-up at once, before an earlier step's model loads.
   */
  readonly check?: (options: Readonly<Record<string, unknown>>, env: StepBuildEnv) => Promise<void>;
  /**
   * True when a step of this kind with these options always answers a value (`data.value`), not
   * tensors (`topk`; `threshold` with labels): `buildPipeline` refuses a step after it that does not
   * take a value ({@link takesValue}), which would run on the tensors from before it and be dropped.
   */
  readonly answersValue?: (options: Readonly<Record<string, unknown>>) => boolean;
  /** Steps of this kind read an earlier step's value (custom steps may); see {@link answersValue}. */
  readonly takesValue?: boolean;
}

/** Step builders by kind (`softmax`, `resize`, `predict`, ...). Duplicate kinds are refused. */
export class StepRegistry {
  readonly #builders = new Map<string, StepBuilder>();
  readonly #traits = new Map<string, StepTraits>();

  /** Adds a step kind. Throws when `kind` is already registered. */
  register(kind: string, builder: StepBuilder, traits: StepTraits = {}): this {
    if (this.#builders.has(kind)) {
      throw new ToolkitError('ERR_PIPELINE_INVALID', `pipeline step kind "${kind}" is already registered`);
    }
    this.#builders.set(kind, builder);
    this.#traits.set(kind, traits);
    return this;
  }

  /** The traits `kind` was registered with (unknown kinds: none). */
  traits(kind: string): StepTraits {
    return this.#traits.get(kind) ?? {};
  }

  /** Adds every builder of a table (`{ kind: builder }`), each with its traits from `traits`, if any. */
  registerAll(table: Readonly<Record<string, StepBuilder>>, traits: Readonly<Record<string, StepTraits>> = {}): this {
    for (const [kind, builder] of Object.entries(table)) this.register(kind, builder, traits[kind]);
    return this;
  }

  /** The builder for `kind`; throws `ERR_PIPELINE_INVALID` listing known kinds when absent. */
  get(kind: string): StepBuilder {
    const b = this.#builders.get(kind);
    if (!b) throw new ToolkitError('ERR_PIPELINE_INVALID', `unknown step "${kind}"${meantHint(kind, this.kinds())}; known steps: ${this.kinds().join(', ')}`);
    return b;
  }

  /**
   * Throws `ERR_PIPELINE_INVALID` when `kind` is unknown, or when `options` holds a key outside the
   * kind's {@link StepTraits.options}; `where` names the step (`preprocess[0]:softmax`).
   */
  checkOptions(kind: string, options: Readonly<Record<string, unknown>>, where: string): void {
    this.get(kind);
    const allowed = this.traits(kind).options;
    if (allowed === undefined) return;
    const unknown = Object.keys(options).filter((k) => !allowed.includes(k));
    if (unknown.length === 0) return;
    const what = unknown.map((k) => `"${k}"${meantHint(k, allowed)}`).join(', ');
    throw new ToolkitError('ERR_PIPELINE_INVALID', `${where}: ${what} ${unknown.length === 1 ? 'is not an option' : 'are not options'} of ${kind}; it takes ${allowed.join(', ')}`);
  }

  /** Registered kinds, sorted. */
  kinds(): string[] {
    return [...this.#builders.keys()].sort();
  }
}

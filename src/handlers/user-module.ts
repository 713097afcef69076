import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ToolkitError, isToolkitError } from '../errors/catalogue.js';
import { moduleLoadError } from '../errors/module-load-error.js';
import { closestNames, orList } from '../core/closest-name.js';
import type { InvocationContext } from '../core/context.js';
import type { BidiFn } from './bidi-stream.js';

/** `modelFn(modelDir, context)`: loads and returns the model object. */
export type ModelFn = (modelDir: string, context: LoadContext) => unknown;
/** `preModelFn(modelDir, context)`: runs once before the model loads (set-up such as environment checks). */
export type PreModelFn = (modelDir: string, context: LoadContext) => unknown;
/** `modelWarmupFn(modelDir, model, context)`: runs once after the model loads, before `/ping` turns 200. */
export type ModelWarmupFn = (modelDir: string, model: unknown, context: LoadContext) => unknown;
/** `inputFn(body, contentType, context)`: turns the request body into predict input. */
export type InputFn = (body: Buffer, contentType: string, context: InvocationContext) => unknown;
/** `predictFn(input, model, context)`: runs the model. */
export type PredictFn = (input: unknown, model: unknown, context: InvocationContext) => unknown;
/**
 * `predictBatchFn(inputs, model, contexts)`: runs the model on several requests at once (dynamic
 * batching, `SMKIT_BATCH_MAX_SIZE`). `inputs[i]` is what `inputFn` (or the default decoder) made of
 * request `i`, `contexts[i]` its context; it returns one prediction per input, in order. An `Error`
 * in place of a prediction fails only that request. Used instead of `predictFn` when exported.
 */
export type PredictBatchFn = (inputs: unknown[], model: unknown, contexts: InvocationContext[]) => unknown[] | Promise<unknown[]>;
/** `outputFn(prediction, accept, context)`: returns a Buffer, a string, or `{ body, contentType }`. */
export type OutputFn = (prediction: unknown, accept: string, context: InvocationContext) => unknown;
/** `transformFn(model, body, contentType, accept, context)`: does all of input → predict → output. */
export type TransformFn = (model: unknown, body: Buffer, contentType: string, accept: string, context: InvocationContext) => unknown;

/** What `modelFn` receives as its context. */
export interface LoadContext {
  readonly modelDir: string;
  readonly log: InvocationContext['log'];
  /** Loads the model directory the default way (pipeline file, or the single ONNX/TF.js model). */
  loadDefaultModel(): Promise<unknown>;
}

/** The hooks a handler module exports (each optional). */
export interface HandlerHooks {
  preModelFn?: PreModelFn;
  modelFn?: ModelFn;
  modelWarmupFn?: ModelWarmupFn;
  inputFn?: InputFn;
  predictFn?: PredictFn;
  predictBatchFn?: PredictBatchFn;
  outputFn?: OutputFn;
  transformFn?: TransformFn;
  /** Serves bidirectional streams (the WebSocket at `/invocations-bidirectional-stream`). */
  bidiFn?: BidiFn;
  /** Where the module was loaded from, when there was one. */
  file?: string;
  /** The name each hook is exported under (`input_fn` or `inputFn`), by its camelCase key: errors name what the module says. */
  names?: Readonly<Partial<Record<HookKey, string>>>;
  /**
   * What the load should log about the module's exports: one named like a hook it does not export
   * (`predict` for `predictFn`), which is never called, or no hook exported at all.
   */
  warnings?: readonly string[];
}

/** A hook's camelCase name, the key it has in {@link HandlerHooks}. */
export type HookKey = keyof typeof HOOK_NAMES;

/** The name `key` is exported under in the module `hooks` came from (`input_fn`), else `key` itself. */
export function hookName(hooks: HandlerHooks, key: HookKey): string {
  return hooks.names?.[key] ?? key;
}

const HOOK_NAMES = {
  preModelFn: ['preModelFn', 'pre_model_fn'],
  modelFn: ['modelFn', 'model_fn'],
  modelWarmupFn: ['modelWarmupFn', 'model_warmup_fn'],
  inputFn: ['inputFn', 'input_fn'],
  predictFn: ['predictFn', 'predict_fn'],
  predictBatchFn: ['predictBatchFn', 'predict_batch_fn'],
  outputFn: ['outputFn', 'output_fn'],
  transformFn: ['transformFn', 'transform_fn'],
  bidiFn: ['bidiFn', 'bidi_fn'],
} as const;

/**
 * Finds `<codeDir>/<program>.{js,mjs,cjs}`, whatever it is (a folder or a FIFO under that name is
 * reported by {@link handlerFileProblem}, as a pipeline file is: not passed over for the next name);
 * undefined when the model has no handler module.
 */
export function findHandlerModule(codeDir: string, program: string): string | undefined {
  for (const ext of ['.mjs', '.js', '.cjs']) {
    const file = path.join(codeDir, program + ext);
    if (existsSync(file)) return file;
  }
  return undefined;
}

/**
 * `<codeDir>/<program>.{ts,mts,cts}`, a handler written in TypeScript, when there is one: Node 20
 * cannot import it (and 22 only from 22.18), so without this the model was served with the default
 * hooks, not a word said, as if the handler were not there.
 */
export function findTypeScriptHandler(codeDir: string, program: string): string | undefined {
  for (const ext of ['.ts', '.mts', '.cts']) {
    const file = path.join(codeDir, program + ext);
    if (existsSync(file)) return file;
  }
  return undefined;
}

/**
 * What to do about scripts in code/ of which none is the handler module: `setProgram` (name the
 * module in SAGEMAKER_PROGRAM), unless they are Python (`code/inference.py`, made for the Python
 * toolkit's containers), which smkit never runs whatever the setting.
 */
export function unnamedHandlerAdvice(scripts: readonly string[], program: string, setProgram: string): string {
  const python = ` (a .py handler, made for the Python inference toolkit, is never called: smkit runs handlers written in JavaScript only)`;
  if (scripts.every((n) => n.endsWith('.py'))) return `write the hooks in JavaScript, in code/${program}.mjs${python}`;
  return scripts.some((n) => n.endsWith('.py')) ? `${setProgram}${python}` : setProgram;
}

/** The load error for a handler module written in TypeScript ({@link findTypeScriptHandler}). */
export function typeScriptHandlerError(file: string, program: string): ToolkitError {
  return new ToolkitError(
    'ERR_HANDLER_LOAD',
    `handler ${file} is TypeScript, which smkit does not load: compile it to JavaScript as code/${program}.mjs (or .js, .cjs), with tsc for example, and ship that`,
  );
}

/**
 * Why `file` cannot be the handler module, or undefined for a regular file (or a link to one):
 * import() of a FIFO would wait for a writer for good, and one of a folder fails with Node's
 * "Directory import is not supported".
 */
export function handlerFileProblem(file: string): string | undefined {
  const st = statSync(file, { throwIfNoEntry: false });
  if (st === undefined || st.isFile()) return undefined;
  return st.isDirectory() ? 'is a directory' : 'is neither a file nor a directory (a FIFO, socket or device)';
}

/** How {@link pickHooks} reads a module. */
export interface PickOptions {
  /**
   * The module is also a custom step's module in the pipeline file (`custom: { module: inference.mjs }`):
   * its default export is that step's function, so neither it nor the absence of hooks is a mistake.
   */
  readonly stepModule?: boolean;
}

/** Picks hooks from a module namespace (camelCase or the Python toolkit's snake_case names). */
export function pickHooks(mod: Record<string, unknown>, file?: string, options: PickOptions = {}): HandlerHooks {
  const sources = [mod, (mod['default'] ?? {}) as Record<string, unknown>];
  const hooks: HandlerHooks = { file };
  // The name each hook is exported under (input_fn or inputFn): errors name what the module says.
  const exportedAs: Partial<Record<HookKey, string>> = {};
  for (const [key, names] of Object.entries(HOOK_NAMES) as [HookKey, (typeof HOOK_NAMES)[HookKey]][]) {
    for (const source of sources) {
      const name = names.find((n: string) => source[n] !== undefined);
      if (name === undefined) continue;
      const fn = source[name];
      const other = names.find((n: string) => n !== name && source[n] !== undefined);
      // Both spellings as one function (an alias) are fine; two functions would leave one unused, silently.
      if (other !== undefined && source[other] !== fn) {
        throw new ToolkitError('ERR_HANDLER_CONFLICT', `${file ?? 'handler'} exports both ${name} and ${other}, as different functions: only one would run; export one of them`);
      }
      if (typeof fn !== 'function') throw new ToolkitError('ERR_HANDLER_LOAD', `${file ?? 'handler'}: ${name} is exported but is not a function`);
      (hooks as Record<string, unknown>)[key] = fn;
      exportedAs[key] = name;
      break;
    }
  }
  hooks.names = exportedAs;
  hooks.warnings = options.stepModule ? [] : checkExportNames(sources, exportedAs, file);
  if (hooks.transformFn) {
    const clash = (['inputFn', 'predictFn', 'predictBatchFn', 'outputFn'] as const).filter((k) => hooks[k]).map((k) => exportedAs[k]!);
    if (clash.length) {
      throw new ToolkitError(
        'ERR_HANDLER_CONFLICT',
        `${file ?? 'handler'} exports ${exportedAs['transformFn']} together with ${clash.join(', ')}: export either ${exportedAs['transformFn']} alone, or any of inputFn/predictFn/predictBatchFn/outputFn`,
      );
    }
  }
  return hooks;
}

/** Every name a hook may be exported under, camelCase and snake_case. */
const ALL_HOOK_NAMES: readonly string[] = Object.values(HOOK_NAMES).flat();

/** The names of a module's exports (or of its default export's own properties); none when they cannot be read (a Proxy). */
function ownNames(source: unknown): string[] {
  if ((typeof source !== 'object' && typeof source !== 'function') || source === null) return [];
  try {
    return Object.keys(source);
  } catch {
    return [];
  }
}

/**
 * Exports that look meant as hooks but are not one, which smkit would never call while it served the
 * model with its default hooks, answers and all, not a word said: a hook's name in another case or
 * with `_` (`predictfn`, `Predict_Fn`, `outputFN`) is a load error; a function as the default export
 * (`module.exports = async function predictFn`, `export default function`) of a module that exports
 * no hook is one too. A name a couple of letters from a hook's that is not exported (`predict`,
 * `inputFnc`) is only a warning, which the load logs: it may be a helper of that name. Returns the warnings.
 */
function checkExportNames(sources: readonly Record<string, unknown>[], exportedAs: Partial<Record<HookKey, string>>, file: string | undefined): string[] {
  const where = file ?? 'handler';
  const exported = new Set(Object.values(exportedAs));
  const warnings: string[] = [];
  for (const source of sources) {
    for (const name of ownNames(source)) {
      if (name === 'default' || ALL_HOOK_NAMES.includes(name)) continue;
      // Suggest the spelling the module writes in: predict_fn for predict_fm, predictFn for predictFm.
      const spellings = Object.values(HOOK_NAMES).map((names) => (name.includes('_') ? names[1] : names[0]));
      const meant = closestNames(name, spellings);
      if (meant.length === 0) continue;
      const hook = (Object.keys(HOOK_NAMES) as HookKey[]).find((k) => (HOOK_NAMES[k] as readonly string[]).includes(meant[0]!))!;
      const folded = (n: string) => n.toLowerCase().replace(/_/g, '');
      if (meant.some((m) => folded(m) === folded(name))) {
        throw new ToolkitError(
          'ERR_HANDLER_LOAD',
          `${where} exports ${name}, which is not a hook's name (did you mean ${orList(meant)}?): hook names are case-sensitive, and smkit would never call it; rename it`,
        );
      }
      if (exportedAs[hook] === undefined && !exported.has(name) && !warnings.some((w) => w.startsWith(`${where} exports ${name},`))) {
        warnings.push(`${where} exports ${name}, which is not a hook's name (did you mean ${orList(meant)}?): smkit does not call it; rename it if it is meant as that hook`);
      }
    }
  }
  const defaultExport = sources[1] as unknown;
  if (typeof defaultExport === 'function' && Object.keys(exportedAs).length === 0) {
    const named = typeof defaultExport.name === 'string' && defaultExport.name !== '' && defaultExport.name !== 'default' ? ` (${defaultExport.name})` : '';
    throw new ToolkitError(
      'ERR_HANDLER_LOAD',
      `${where} exports a function${named} as its default export (export default, or module.exports =) and no hook: smkit never calls a default export; export each hook by its name (export async function predictFn(input, model, context), or module.exports = { predictFn })`,
    );
  }
  if (Object.keys(exportedAs).length === 0 && warnings.length === 0) {
    warnings.push(`${where} exports no hook (${Object.keys(HOOK_NAMES).join(', ')}, or their snake_case names): the default hooks serve the model`);
  }
  return warnings;
}

/** Loads the handler module's hooks; `{}` (all defaults) when there is none. */
export async function loadHandlerHooks(codeDir: string, program: string, stepModules: readonly string[] = []): Promise<HandlerHooks> {
  const file = findHandlerModule(codeDir, program);
  if (!file) {
    const typeScript = findTypeScriptHandler(codeDir, program);
    if (typeScript !== undefined) throw typeScriptHandlerError(typeScript, program);
    return {};
  }
  const problem = handlerFileProblem(file);
  if (problem !== undefined) throw new ToolkitError('ERR_HANDLER_LOAD', `handler ${file} ${problem}: make it the handler module's file`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw moduleLoadError(file, `cannot load handler ${file}`, err);
  }
  try {
    return pickHooks(mod, file, { stepModule: stepModules.includes(path.basename(file)) });
  } catch (err) {
    // An export that throws when read (a getter, a Proxy as the default export) is the module's own
    // code failing: its error is for the log, as what its top-level code throws is.
    if (isToolkitError(err)) throw err;
    throw moduleLoadError(file, `cannot load handler ${file}`, err);
  }
}

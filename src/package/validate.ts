import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ToolkitError, isToolkitError } from '../errors/catalogue.js';
import { findHandlerModule, findTypeScriptHandler, handlerFileProblem, pickHooks, typeScriptHandlerError, unnamedHandlerAdvice } from '../handlers/user-module.js';
import { customStepModules, PIPELINE_FILE_NAMES, readPipelineFile } from '../pipeline/pipeline-file.js';
import { createDefaultSteps } from '../pipeline/default-steps.js';
import { checkPredictOptions, checkPredictStep } from '../pipeline/steps/predict.js';
import { checkCustomModuleFile } from '../pipeline/steps/custom.js';
import { createDefaultRuntimes } from '../runtimes/defaults.js';
import type { RuntimeFactory, RuntimeOptions } from '../runtimes/runtime.js';
import type { StepBuildEnv } from '../pipeline/step.js';

/** Options for {@link validateModelDir}. */
export interface ValidateOptions {
  /** Handler module name in `code/` (`SAGEMAKER_PROGRAM`). @defaultValue `inference` */
  program?: string;
  /** A code folder that replaces `<dir>/code` (as `smkit package --code` does). */
  codeDir?: string;
  /** Import the handler module to check that it loads (runs its top-level code). @defaultValue true */
  importHandler?: boolean;
  /** How long the handler's top-level code may take to finish before the check fails. @defaultValue 30 000 */
  handlerImportTimeoutMs?: number;
}

/** How long a handler module's top-level code may run in the check by default (see {@link ValidateOptions}). */
export const HANDLER_IMPORT_TIMEOUT_MS = 30_000;

/**
 * Imports `href`, or fails once `timeoutMs` has passed: a top-level await that never settles held
 * smkit package for good (or, with nothing else pending, let the process end mid-command).
 */
async function importWithin(href: string, timeoutMs: number): Promise<Record<string, unknown>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`its top-level code did not finish within ${timeoutMs / 1000} s (a top-level await still waits): move slow start-up work into modelFn, which runs when the model loads`)), timeoutMs);
  });
  try {
    return (await Promise.race([import(href), late])) as Record<string, unknown>;
  } finally {
    clearTimeout(timer);
  }
}

/** What {@link validateModelDir} found. `ok` is true when `errors` is empty. */
export interface ModelDirReport {
  ok: boolean;
  /** Problems that stop packaging, each saying what to fix. */
  errors: string[];
  /** Things worth knowing that do not stop packaging. */
  warnings: string[];
  /** The runtime model found, when there is one. */
  model?: { runtime: 'onnx' | 'tfjs' | 'tensorflow'; file: string };
  /** The pipeline file, when there is one (it parsed and validated). */
  pipelineFile?: string;
  /** The handler module, as its path in the archive (`code/<name>`), when there is one. */
  handlerFile?: string;
  /** Hook names the handler exports (camelCase), when it loaded. */
  hooks: string[];
}

async function isFile(p: string): Promise<boolean> {
  return fs.stat(p).then((s) => s.isFile(), () => false);
}

async function findRuntimeModel(dir: string, report: ModelDirReport): Promise<string[]> {
  if (await isFile(path.join(dir, 'model.onnx'))) {
    report.model = { runtime: 'onnx', file: 'model.onnx' };
    return [];
  }
  const names = (await fs.readdir(dir)).sort();
  const onnx = names.filter((n) => n.toLowerCase().endsWith('.onnx'));
  if (onnx.length === 1) {
    report.model = { runtime: 'onnx', file: onnx[0]! };
    return onnx;
  }
  // As smkit serve finds one: a model.json that is no TF.js model (a config file) is not taken for one.
  const tfjs = await isFile(path.join(dir, 'model.json')) ? await createDefaultRuntimes().get('tfjs').detect(dir).catch((err: unknown) => {
    report.errors.push((err as Error).message);
    return undefined;
  }) : undefined;
  if (tfjs !== undefined && path.basename(tfjs) === 'model.json') {
    report.model = { runtime: 'tfjs', file: 'model.json' };
    return onnx;
  }
  if (await isFile(path.join(dir, 'saved_model.pb'))) {
    report.model = { runtime: 'tensorflow', file: 'saved_model.pb' };
    return onnx;
  }
  return onnx;
}

/** A logger for the steps built only to check their options: they log nothing while built. */
const SILENT = { debug() {}, info() {}, warn() {}, error() {} } as unknown as RuntimeOptions['log'];

/** Checks the pipeline file; resolves to the code/ files its custom steps import ({@link customStepModules}). */
function checkPipeline(dir: string, codeDir: string, report: ModelDirReport): Promise<string[]> {
  return (async () => {
    const present = [];
    // Present as readPipelineFile (and so smkit serve) finds it, whatever it is: a folder or a FIFO
    // under that name is refused by the read below, as serve's load refuses it, not passed over.
    for (const n of PIPELINE_FILE_NAMES) if (await fs.stat(path.join(dir, n)).then(() => true, () => false)) present.push(n);
    if (present.length === 0) return [];
    let stepModules: string[] = [];
    if (present.length > 1) report.warnings.push(`several pipeline files (${present.join(', ')}): ${present[0]} is used`);
    try {
      const spec = readPipelineFile(dir);
      if (!spec) return [];
      stepModules = customStepModules(spec);
      report.pipelineFile = path.basename(spec.file);
      const kinds = createDefaultSteps();
      for (const step of spec.steps) {
        if (step.kind !== 'predict') {
          try {
            kinds.checkOptions(step.kind, step.options, step.name);
            // Their values too, as smkit serve's load does (axis: 0.5, k: -1, a custom step's export: 5):
            // a custom step by its check (its module is user code, imported only by serve); any
            // other kind by building it, which reads no more than a labels file.
            const env = { modelDir: dir, codeDir, stage: step.stage, name: step.name, runtimes: createDefaultRuntimes(), runtimeOptions: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log: SILENT } } satisfies StepBuildEnv;
            const check = kinds.traits(step.kind).check;
            if (kinds.traits(step.kind).runsUserCode) {
              await check?.(step.options, env);
              // Its module is there to import, and a file (a FIFO would hold serve's import for good).
              if (step.kind === 'custom') checkCustomModuleFile(step.options, env);
            }
            else await kinds.get(step.kind)(step.options, env);
          } catch (err) {
            const message = (err as Error).message;
            report.errors.push(`${report.pipelineFile}: ${message.startsWith(step.name) ? message : `${step.name}: ${message}`}`);
          }
        }
        const model = step.kind === 'predict' ? step.options['model'] : undefined;
        if (typeof model !== 'string') continue;
        const target = path.resolve(dir, model);
        if (target !== dir && !target.startsWith(dir + path.sep)) report.errors.push(`${report.pipelineFile}: ${step.name} names ${model}, outside the model directory`);
        else if (!(await fs.stat(target).then(() => true, () => false))) report.errors.push(`${report.pipelineFile}: ${step.name} names ${model}, which does not exist in ${dir}`);
        else await checkStep(target, step.options, step.name, report);
      }
    } catch (err) {
      report.errors.push(err instanceof ToolkitError ? err.message : `${present[0]}: ${(err as Error).message}`);
    }
    return stepModules;
  })();
}

/**
 * A predict step's options, with the check `smkit serve` runs before loading its model
 * ({@link checkPredictStep}): its runtime (the step's `runtime`, else the one whose model the file
 * is) takes `model`, `runtime`, `batching` and its own options (`backend`, `signature` for TF.js),
 * so a misspelt one fails here too, as does one the model cannot take (`signature` for a TF.js
 * model.json).
 */
async function checkStep(target: string, options: Readonly<Record<string, unknown>>, stepName: string, report: ModelDirReport): Promise<void> {
  const runtimes = createDefaultRuntimes();
  // Once checking, a ToolkitError names the step already (checkPredictOptions, checkPredictStep), as `smkit serve` shows it.
  let checking = false;
  try {
    let factory: RuntimeFactory;
    let modelPath: string | undefined;
    if (options['runtime'] !== undefined) {
      factory = runtimes.get(String(options['runtime']));
      modelPath = await factory.detect(target);
    } else {
      ({ factory, modelPath } = await runtimes.detect(target));
    }
    checking = true;
    // No model of the runtime named there: the options alone are checked (serving fails with ERR_MODEL_DIR).
    if (modelPath === undefined) checkPredictOptions(options, factory, stepName);
    else await checkPredictStep(options, factory, modelPath, stepName);
  } catch (err) {
    const message = (err as Error).message;
    report.errors.push(`${report.pipelineFile}: ${checking && isToolkitError(err) ? message : `${stepName}: ${message}`}`);
  }
}

async function checkHandler(codeDir: string, program: string, importIt: boolean, timeoutMs: number, stepModules: readonly string[], report: ModelDirReport): Promise<void> {
  const file = findHandlerModule(codeDir, program);
  if (!file) {
    const typeScript = findTypeScriptHandler(codeDir, program);
    if (typeScript !== undefined) {
      report.errors.push(typeScriptHandlerError(path.join('code', path.basename(typeScript)), program).message);
      return;
    }
    const others = await fs.readdir(codeDir).catch(() => [] as string[]);
    // A custom step's module is no handler: only other scripts may be one misnamed.
    const scripts = others.filter((n) => /\.((m|c)?js|py)$/.test(n) && !stepModules.includes(n));
    if (scripts.length > 0) report.warnings.push(`code/ has ${scripts.join(', ')} but no ${program}.{js,mjs,cjs}: ${unnamedHandlerAdvice(scripts, program, "set SAGEMAKER_PROGRAM (or --program) to the handler's name")}`);
    return;
  }
  // Named as it will sit in the archive, wherever --code points.
  report.handlerFile = path.join('code', path.basename(file));
  // Imported only when a regular file: a FIFO there would hold import() (and the command) forever.
  const kind = handlerFileProblem(file);
  if (kind !== undefined) {
    report.errors.push(`handler ${report.handlerFile} ${kind}: make it the handler module's file`);
    return;
  }
  if (!importIt) return;
  let mod: Record<string, unknown>;
  try {
    // The query string defeats the ESM cache so a re-check sees edits.
    mod = await importWithin(`${pathToFileURL(file).href}?smkit-validate=${Date.now()}`, timeoutMs);
  } catch (err) {
    report.errors.push(`handler ${report.handlerFile} does not load: ${(err as Error).message}`);
    return;
  }
  try {
    const hooks = pickHooks(mod, report.handlerFile, { stepModule: stepModules.includes(path.basename(file)) });
    report.hooks = Object.entries(hooks).flatMap(([k, v]) => (typeof v === 'function' ? [k] : []));
    report.warnings.push(...(hooks.warnings ?? []));
  } catch (err) {
    report.errors.push((err as Error).message);
  }
}

/**
 * Checks a model directory before it is packaged or served (used by `smkit package`): a runtime model
 * (`model.onnx` or a single `*.onnx`, a TF.js `model.json`, a TensorFlow `saved_model.pb`) or a
 * valid pipeline file whose model paths exist; and a handler module `code/<program>.{js,mjs,cjs}`
 * that imports and does not export `transformFn` together with `inputFn`/`predictFn`/`outputFn`.
 * A handler exporting `modelFn`, `predictFn` or `transformFn` may stand in for the model (as in `smkit serve`). Never throws for a bad directory: the
 * problems come back in `errors` (see {@link assertValidModelDir}).
 *
 * @example
 * const report = await validateModelDir('models/iris-onnx');
 * if (!report.ok) console.error(report.errors.join('\n'));
 */
export async function validateModelDir(dir: string, options: ValidateOptions = {}): Promise<ModelDirReport> {
  const root = path.resolve(dir);
  const report: ModelDirReport = { ok: false, errors: [], warnings: [], hooks: [] };
  const st = await fs.stat(root).catch(() => undefined);
  if (!st?.isDirectory()) {
    report.errors.push(`${dir} is not a directory`);
    return report;
  }
  const codeDir = options.codeDir !== undefined ? path.resolve(options.codeDir) : path.join(root, 'code');
  if (options.codeDir !== undefined && !(await fs.stat(codeDir).then((s) => s.isDirectory(), () => false))) {
    report.errors.push(`--code ${options.codeDir} is not a directory`);
  }
  const onnxFiles = await findRuntimeModel(root, report);
  const stepModules = await checkPipeline(root, codeDir, report);
  await checkHandler(codeDir, options.program ?? 'inference', options.importHandler ?? true, options.handlerImportTimeoutMs ?? HANDLER_IMPORT_TIMEOUT_MS, stepModules, report);
  if (!report.model && !report.pipelineFile && !report.errors.some((e) => /pipeline|\.ya?ml|\.json/.test(e))) {
    if (onnxFiles.length > 1) {
      report.errors.push(`several .onnx files (${onnxFiles.join(', ')}) and no model.onnx: add a pipeline file naming which to run, or rename one to model.onnx`);
    } else if (report.hooks.some((h) => ['modelFn', 'transformFn', 'predictFn'].includes(h))) {
      report.warnings.push('no model file or pipeline file: the handler (modelFn, predictFn or transformFn) must provide the model itself');
    } else {
      report.errors.push(
        `no model found in ${dir}: add model.onnx (or one *.onnx), a TF.js model.json, a TensorFlow saved_model.pb, or a pipeline file (${PIPELINE_FILE_NAMES.join(', ')}); or export modelFn/transformFn from the handler${await isFile(path.join(root, 'model.json')) ? ' (the model.json here is not a TF.js model: it has no modelTopology of a layers or a graph model)' : ''}${await createDefaultRuntimes().nestedModelHint(root)}`,
      );
    }
  }
  // What smkit serve loads without a pipeline file or a modelFn: the one model the runtimes find
  // (ERR_MODEL_DIR for an ONNX model beside a TF.js one, or several .onnx beside a model.json;
  // ERR_MODEL_LOAD for a model.json beside model.onnx that cannot be read or is not JSON, which
  // serve's TF.js runtime reads to tell whether it is a model: the ONNX model found first did not
  // spare it that).
  if (report.model && !report.pipelineFile && !report.hooks.includes('modelFn') && (report.handlerFile === undefined || (options.importHandler ?? true)) && !report.errors.some((e) => /pipeline|\.ya?ml|\.json/.test(e))) {
    const problem = await createDefaultRuntimes().detect(root).then(
      () => undefined,
      (err: unknown) => (isToolkitError(err) && (err.code === 'ERR_MODEL_DIR' || err.code === 'ERR_MODEL_LOAD') ? err.message : undefined),
    );
    if (problem !== undefined) report.errors.push(problem);
  }
  report.ok = report.errors.length === 0;
  return report;
}

/** {@link validateModelDir}, throwing `ERR_PACKAGE_INVALID` listing every problem when there is one. */
export async function assertValidModelDir(dir: string, options: ValidateOptions = {}): Promise<ModelDirReport> {
  const report = await validateModelDir(dir, options);
  if (!report.ok) {
    throw new ToolkitError('ERR_PACKAGE_INVALID', `${dir} is not ready to package:\n  - ${report.errors.join('\n  - ')}`, { details: { errors: report.errors } });
  }
  return report;
}

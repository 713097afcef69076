import type { GraphModel, LayersModel, Tensor as TfTensor, NamedTensorMap, DataType as TfDType } from '@tensorflow/tfjs';
import path from 'node:path';
import type { TensorSpec } from '../runtime.js';
import { ToolkitError } from '../../errors/catalogue.js';
import type { Tf } from './backend.js';
import { smkitDTypeOf } from './convert.js';
import { fileModelHandler } from './model-files.js';
import { type TfExecutor, type TfInputSpec, orderOutputs, specShape } from './model-runtime.js';

/**
 * Loads a Keras-style layers model (`model.json` with `format: layers-model`). Inputs are named after
 * input layers, outputs after output layers. `parsed` is the parsed model.json when the caller has
 * read it already.
 *
 * The layer's name, not its symbolic tensor's: TF.js makes tensor names unique in the process, so
 * the second load of a model (a pipeline with two layers models whose inputs share a name, a model
 * loaded again) had its input "features" named "features_1", and requests naming "features" were refused.
 */
export async function loadLayersExecutor(tf: Tf, modelJson: string, parsed?: unknown): Promise<TfExecutor> {
  const model: LayersModel = await tf.loadLayersModel(fileModelHandler(tf, modelJson, parsed));
  const inputs: TfInputSpec[] = model.inputs.map((t) => ({ name: t.sourceLayer.name, dtype: t.dtype, shape: specShape(t.shape) }));
  const outputs: TensorSpec[] = model.outputs.map((t) => ({
    name: t.sourceLayer.name,
    dtype: smkitDTypeOf(t.dtype),
    shape: specShape(t.shape) ?? [],
  }));
  return {
    inputs,
    outputs,
    async run(xs) {
      // predict() splits into batches of 32 by default; one call per request is faster.
      const batchSize = Math.max(1, xs[0]?.shape[0] ?? 1);
      if (xs.length > 0 && xs.every((x) => x.shape[0] === 0)) {
        // Zero rows: predict() concatenates zero batches and throws, and TF.js kernels trap on empty
        // tensors (wasm: divide by zero). A layers model's outputs are per row, so one row of zeros
        // gives their shapes and dtypes, and its first zero rows are the answer.
        const y = tf.tidy(() => {
          const one = xs.map((x) => tf.zeros([1, ...x.shape.slice(1)], x.dtype));
          const out = model.predict(one.length === 1 ? one[0]! : one, { batchSize: 1 });
          return (Array.isArray(out) ? out : [out]).map((t) => t.slice(0, [0, ...t.shape.slice(1)]));
        });
        return y;
      }
      const y = tf.tidy(() => model.predict(xs.length === 1 ? xs[0]! : xs, { batchSize }));
      return Array.isArray(y) ? y : [y];
    },
    dispose: () => model.dispose(),
  };
}

interface SignatureEntry {
  name?: unknown;
}

/** The graph node a signature tensor name ("x:0") reads, as TF.js's operation mapper takes it. */
const nodeOf = (e: SignatureEntry | undefined): string | undefined => (typeof e?.name === 'string' ? e.name.split(':')[0] : undefined);

/**
 * TF.js drops a signature entry whose tensor names no node of the graph: a signature input that
 * does not exist leaves a model with fewer (or no) inputs, a missing output fails every request.
 * It also keeps one entry per node, so an entry reading the node of one it kept (the same tensor
 * twice, or two outputs of one op) is dropped too: that node exists, and the message says so.
 */
function checkSignatureNodes(modelJson: string, model: GraphModel, inputNames: readonly string[], outputNames: readonly string[]): void {
  const signature = model.modelSignature as { inputs?: Record<string, SignatureEntry>; outputs?: Record<string, SignatureEntry> } | undefined;
  const problems: string[] = [];
  const check = (side: string, entries: Record<string, SignatureEntry> | undefined, found: readonly string[]): void => {
    const kept = new Map(found.map((key) => [nodeOf(entries?.[key]), key]));
    for (const [key, e] of Object.entries(entries ?? {})) {
      if (found.includes(key)) continue;
      const tensor = typeof e?.name === 'string' ? e.name : 'no tensor name';
      const node = nodeOf(e);
      const twin = node === undefined ? undefined : kept.get(node);
      problems.push(twin === undefined ? `${side} "${key}" (${tensor}) names no node of the graph` : `${side} "${key}" (${tensor}) reads the same graph node as "${twin}", and TF.js serves one signature entry per node`);
    }
  };
  check('input', signature?.inputs, inputNames);
  check('output', signature?.outputs, outputNames);
  if (problems.length === 0) return;
  model.dispose();
  throw new ToolkitError(
    'ERR_MODEL_LOAD',
    `${modelJson}: the signature's ${problems.join('; ')}; ` +
      'fix the tensor names in model.json\'s "signature" or re-convert the model with tensorflowjs_converter',
  );
}

/** The part of TF.js's mapped graph (the graph model's executor's, not public API) the op check reads. */
interface MappedNode {
  readonly name: string;
  readonly op: string;
  /** The op's kind from TF.js's op mapper or `tf.registerOp` (`custom`); undefined for an op TF.js does not implement. */
  readonly category?: string;
  readonly inputs: readonly MappedNode[];
  readonly children: readonly MappedNode[];
  /** Mapped attributes: a TF2 control-flow op's functions (`thenBranch`, `cond`...) are names here. */
  readonly attrParams?: Readonly<Record<string, { readonly value?: unknown } | undefined>>;
}

/** A mapped graph: the model's, or one of its functions (`modelTopology.library.function`, TF2 control flow's bodies). */
interface MappedGraph {
  readonly outputs?: unknown;
  readonly inputs?: unknown;
  /** The model's functions by name (the main graph only). */
  readonly functions?: unknown;
}

/**
 * The nodes a request may skip: TF.js runs a node only once all its inputs have values, and a
 * Switch (TF1 control flow) gives a value on only one of its two outputs, so everything after a
 * Switch may not run, up to the Merge that joins the branches or the Exit a while loop leaves by
 * (those do run). `used` bounds the walk to the nodes the outputs need.
 */
function skippableNodes(used: ReadonlySet<MappedNode>): Set<MappedNode> {
  const skippable = new Set<MappedNode>();
  const pending: MappedNode[] = [];
  for (const node of used) if (node.op === 'Switch') pending.push(node);
  while (pending.length > 0) {
    const node = pending.pop()!;
    for (const child of Array.isArray(node.children) ? node.children : []) {
      if (!used.has(child) || skippable.has(child) || child.op === 'Merge' || child.op === 'Exit') continue;
      skippable.add(child);
      pending.push(child);
    }
  }
  return skippable;
}

/** Where TF.js lists the ops it supports in graph models. */
const SUPPORTED_OPS_URL = 'https://github.com/tensorflow/tfjs/blob/master/tfjs-converter/docs/supported_ops.md';

/**
 * The functions a TF2 control-flow node runs, and whether one of them runs on every request: an If
 * runs one of its two branches (so it fails every time only when both would), a While its
 * condition always but its body perhaps never (a loop of no turns).
 */
function calledFunctions(node: MappedNode): { readonly names: string[]; readonly failsWhen: 'all' | 'any' } | undefined {
  const name = (param: string): string | undefined => {
    const value = node.attrParams?.[param]?.value;
    return typeof value === 'string' ? value : undefined;
  };
  if (node.op === 'If' || node.op === 'StatelessIf') {
    const branches = [name('thenBranch'), name('elseBranch')];
    return branches.every((b) => b !== undefined) ? { names: branches as string[], failsWhen: 'all' } : undefined;
  }
  if (node.op === 'While' || node.op === 'StatelessWhile') {
    const cond = name('cond');
    return cond === undefined ? undefined : { names: [cond], failsWhen: 'any' };
  }
  return undefined;
}

/**
 * What every run of `graph` computes for its outputs: the nodes of ops TF.js does not implement,
 * and the TF2 control-flow nodes, leaving out those a request may skip ({@link skippableNodes}).
 * The walk stops where TF.js's own (getExecutionSubgraph) does: at the graph's inputs, which
 * requests (or, in a function, its caller) feed, and at weights, whose values it has.
 */
function mustRun(graph: MappedGraph, weights: object): { unknown: MappedNode[]; control: MappedNode[] } {
  const fed = new Set(Array.isArray(graph.inputs) ? (graph.inputs as MappedNode[]) : []);
  const missing: MappedNode[] = [];
  const control: MappedNode[] = [];
  const seen = new Set<MappedNode>();
  const pending = Array.isArray(graph.outputs) ? [...(graph.outputs as MappedNode[])] : [];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (seen.has(node)) continue;
    seen.add(node);
    // A fed input's or a weight's value is given, not computed: neither it nor what feeds it runs.
    if (fed.has(node) || Object.hasOwn(weights, node.name)) continue;
    if (node.category === undefined) missing.push(node);
    else if (calledFunctions(node) !== undefined) control.push(node);
    if (!Array.isArray(node.inputs)) continue;
    for (const input of node.inputs) if (!seen.has(input)) pending.push(input);
  }
  const skippable = missing.length + control.length > 0 ? skippableNodes(seen) : new Set<MappedNode>();
  return { unknown: missing.filter((n) => !skippable.has(n)), control: control.filter((n) => !skippable.has(n)) };
}

/** An unknown-op node that fails every request, and the function it is in (none: the main graph). */
interface FailingNode {
  readonly node: MappedNode;
  readonly fn?: string;
}

/** How many failing nodes each function keeps to report, so that functions called from many places stay linear to check. */
const MAX_REPORTED = 20;

/**
 * The unknown-op nodes that make every run of the main graph fail (none when a run may succeed):
 * those its outputs need, and those in the functions of TF2 control flow (If, While) it must call,
 * followed into functions that call functions. Each function is walked once, whichever calls it, an
 * iterative depth-first walk over the calls: a call that loops back (TF forbids recursion; a crafted
 * file may not) counts as a run that may succeed, as does a function the library lacks. Each node
 * is listed once, however many If or While nodes call its function. Exported for its tests.
 */
export function failingNodes(main: MappedGraph, weights: object): FailingNode[] {
  const functions = (typeof main.functions === 'object' && main.functions !== null ? main.functions : {}) as Record<string, MappedGraph | undefined>;
  const walks = new Map<string | undefined, ReturnType<typeof mustRun>>();
  const results = new Map<string | undefined, FailingNode[]>();
  const resultOf = (name: string): FailingNode[] => results.get(name) ?? [];
  // undefined stands for the main graph.
  const stack: (string | undefined)[] = [undefined];
  while (stack.length > 0) {
    const name = stack[stack.length - 1];
    if (results.has(name)) {
      stack.pop();
      continue;
    }
    let walk = walks.get(name);
    if (walk === undefined) {
      const graph = name === undefined ? main : Object.hasOwn(functions, name) ? functions[name] : undefined;
      walk = mustRun(graph ?? {}, weights);
      walks.set(name, walk);
      // Callees not walked yet go first; one walked but without a result is being walked below (a loop).
      // Each pushed once per caller, one by one: a graph of many If or While nodes calling the same
      // functions would otherwise overflow push(...)'s arguments (a RangeError, past ~120k).
      const callees = new Set(walk.control.flatMap((node) => calledFunctions(node)!.names).filter((f) => !walks.has(f) && Object.hasOwn(functions, f)));
      for (const callee of callees) stack.push(callee);
      if (callees.size > 0) continue;
    }
    // By node, as collected: 100 000 If nodes calling the same functions would otherwise bring their
    // nodes 100 000 times over (millions of entries) to the main graph's list, which has no cap.
    const failing = new Map<MappedNode, FailingNode>(walk.unknown.map((node) => [node, { node, ...(name === undefined ? {} : { fn: name }) }]));
    for (const node of walk.control) {
      const { names, failsWhen } = calledFunctions(node)!;
      const found = names.map(resultOf);
      if (failsWhen === 'all' ? found.every((f) => f.length > 0) : found.some((f) => f.length > 0)) {
        for (const entry of found.flat()) if (!failing.has(entry.node)) failing.set(entry.node, entry);
      }
    }
    const listed = [...failing.values()];
    results.set(name, name === undefined ? listed : listed.slice(0, MAX_REPORTED));
    stack.pop();
  }
  return results.get(undefined) ?? [];
}

/**
 * TF.js maps each node's op through its op list and the ops registered with `tf.registerOp` when
 * it loads a graph model, but leaves an op it finds in neither to fail at run time, "since they may
 * not be used": a node the outputs read would fail every request. So the load fails here for such
 * nodes the outputs depend on; unknown ops off that path stay accepted, as TF.js accepts them. The
 * walk stops where TF.js's own (getExecutionSubgraph) does: at the graph's inputs, which requests
 * feed, and at weights, whose values it has, so nodes feeding only those (a control input of a
 * Const, the ops before a signature input) never run and are not checked. Nor are nodes in a TF1
 * cond's or while loop's branch ({@link skippableNodes}): a request may not take it. TF2 control
 * flow runs functions of the model's library: a While's condition on every request, one of an If's
 * branches, a While's body perhaps never; their bodies are checked so (see {@link failingNodes}).
 * If a TF.js release no longer has the mapped graph where this looks, the check is skipped.
 */
function checkGraphOps(modelJson: string, model: GraphModel): void {
  const executor = (model as unknown as { executor?: { graph?: MappedGraph; weightMap?: unknown } }).executor;
  const graph = executor?.graph;
  if (!Array.isArray(graph?.outputs)) return;
  const weights = typeof executor?.weightMap === 'object' && executor.weightMap !== null ? executor.weightMap : {};
  const failing = failingNodes(graph, weights);
  if (failing.length === 0) return;
  const unknown = new Map<string, string[]>();
  for (const { node, fn } of failing) {
    const label = fn === undefined ? JSON.stringify(node.name) : `${JSON.stringify(node.name)} in function ${JSON.stringify(fn)}`;
    const nodes = unknown.get(node.op);
    if (nodes) nodes.push(label);
    else unknown.set(node.op, [label]);
  }
  const MAX_NODES = 5;
  const listed = [...unknown].map(([op, nodes]) => {
    const shown = nodes.slice(0, MAX_NODES).join(', ');
    return `${JSON.stringify(op)} (node${nodes.length === 1 ? '' : 's'} ${shown}${nodes.length > MAX_NODES ? ` and ${nodes.length - MAX_NODES} more` : ''})`;
  });
  model.dispose();
  throw new ToolkitError(
    'ERR_MODEL_LOAD',
    `${modelJson}: the graph's outputs depend on op${unknown.size === 1 ? '' : 's'} TF.js does not implement: ${listed.join('; ')}, so every request would fail; ` +
      `re-export the model using only ops TF.js supports (${SUPPORTED_OPS_URL}) and convert it with tensorflowjs_converter, ` +
      'or register the op with tf.registerOp() before the model loads',
  );
}

/**
 * A GraphModel keeps the artifacts it loaded from for `save()`, which smkit never calls: every
 * weight's bytes a second time beside its tensors, and model.json's parsed topology, for the
 * model's life. The graph and weights TF.js built from them are all it runs.
 */
function releaseLoadArtifacts(model: GraphModel): void {
  const artifacts = (model as unknown as { artifacts?: { weightData?: unknown; modelTopology?: unknown } }).artifacts;
  if (!artifacts) return;
  delete artifacts.weightData;
  delete artifacts.modelTopology;
}

/**
 * Loads a converted graph model (`format: graph-model`). Inputs and outputs are addressed by their
 * signature keys when the model has a signature, else by node name. Models with control flow need
 * `executeAsync`; that is detected on the first call and remembered. `parsed` is the parsed
 * model.json when the caller has read it already.
 */
export async function loadGraphExecutor(tf: Tf, modelJson: string, parsed?: unknown): Promise<TfExecutor> {
  const model: GraphModel = await tf.loadGraphModel(fileModelHandler(tf, modelJson, parsed));
  const inputNames = model.inputNodes;
  const outputNames = model.outputNodes;
  checkSignatureNodes(modelJson, model, inputNames, outputNames);
  checkGraphOps(modelJson, model);
  releaseLoadArtifacts(model);
  const inputs: TfInputSpec[] = model.inputs.map((info, i) => ({
    name: inputNames[i] ?? info.name,
    dtype: info.dtype as TfDType,
    ...(info.shape ? { shape: specShape(info.shape) } : {}),
  }));
  const outputs: TensorSpec[] = model.outputs.map((info, i) => ({
    name: outputNames[i] ?? info.name,
    dtype: smkitDTypeOf(info.dtype as TfDType),
    shape: specShape(info.shape) ?? [],
  }));
  let needsAsync = false;
  const feed = (xs: TfTensor[]): NamedTensorMap => Object.fromEntries(inputs.map((s, i) => [s.name, xs[i]!]));
  return {
    inputs,
    outputs,
    async run(xs) {
      if (!needsAsync) {
        try {
          return orderOutputs(tf.tidy(() => model.execute(feed(xs), outputNames)), outputNames);
        } catch (err) {
          if (!/executeAsync/.test((err as Error).message)) throw err;
          needsAsync = true;
        }
      }
      return orderOutputs(await model.executeAsync(feed(xs), outputNames), outputNames);
    },
    dispose: () => model.dispose(),
  };
}

interface SavedModelSignatureInfo {
  dtype: string;
  name: string;
  shape: number[];
}

interface NodeSavedModelApi {
  getMetaGraphsFromSavedModel(dir: string): Promise<
    { tags: string[]; signatureDefs: Record<string, { inputs: Record<string, SavedModelSignatureInfo>; outputs: Record<string, SavedModelSignatureInfo> }> }[]
  >;
  loadSavedModel(dir: string, tags?: string[], signature?: string): Promise<{
    predict(inputs: NamedTensorMap): TfTensor | TfTensor[] | NamedTensorMap;
    dispose(): void;
  }>;
}

/**
 * Loads a TensorFlow SavedModel through `@tensorflow/tfjs-node`'s binding (the `serve` tag set, the
 * `serving_default` signature when present). Without the binding this is a clear start-up error.
 */
export async function loadSavedModelExecutor(tf: Tf, dir: string, signatureName?: string): Promise<TfExecutor> {
  const node = (tf as unknown as { node?: NodeSavedModelApi }).node;
  if (!node?.loadSavedModel) {
    throw new ToolkitError(
      'ERR_RUNTIME_UNAVAILABLE',
      `${path.join(dir, 'saved_model.pb')} is a TensorFlow SavedModel, which needs the native binding @tensorflow/tfjs-node ` +
        `(npm install @tensorflow/tfjs-node, or use an image that has it); it is not installed here. ` +
        `Alternatively convert the model to TF.js format with tensorflowjs_converter and ship model.json instead.`,
    );
  }
  const metas = await node.getMetaGraphsFromSavedModel(dir);
  const meta = metas.find((m) => m.tags.includes('serve')) ?? metas[0];
  if (!meta) throw new ToolkitError('ERR_MODEL_LOAD', `${dir}: the SavedModel has no meta graphs`);
  const sigNames = Object.keys(meta.signatureDefs);
  const sigName = signatureName ?? (sigNames.includes('serving_default') ? 'serving_default' : sigNames[0]);
  const sig = sigName === undefined ? undefined : meta.signatureDefs[sigName];
  if (!sig || sigName === undefined) {
    throw new ToolkitError('ERR_MODEL_LOAD', `${dir}: signature "${signatureName ?? ''}" not found; the SavedModel has ${sigNames.join(', ') || 'none'}`);
  }
  const model = await node.loadSavedModel(dir, meta.tags, sigName);
  const toDType = (d: string): TfDType => (d === 'int32' || d === 'bool' || d === 'string' ? d : 'float32');
  const inputs: TfInputSpec[] = Object.entries(sig.inputs).map(([name, info]) => ({
    name,
    dtype: toDType(info.dtype),
    ...(info.shape ? { shape: specShape(info.shape) } : {}),
  }));
  const outputNames = Object.keys(sig.outputs);
  const outputs: TensorSpec[] = Object.entries(sig.outputs).map(([name, info]) => ({
    name,
    dtype: smkitDTypeOf(toDType(info.dtype)),
    shape: specShape(info.shape) ?? [],
  }));
  return {
    inputs,
    outputs,
    signature: sigName,
    async run(xs) {
      const feed: NamedTensorMap = Object.fromEntries(inputs.map((s, i) => [s.name, xs[i]!]));
      return orderOutputs(model.predict(feed), outputNames);
    },
    dispose: () => model.dispose(),
  };
}

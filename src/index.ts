export * from './errors/index.js';
export * from './core/index.js';
export type { Codec, DecodedRequest, RequestForm, EncodeOptions } from './codecs/codec.js';
export type { ModelRuntime, RuntimeFactory, RuntimeOptions, TensorSpec } from './runtimes/runtime.js';
export type { Step, StepData, StepStage, StepBuilder, StepBuildEnv } from './pipeline/step.js';
export { loadSettings } from './config/settings.js';
export type { Settings } from './config/settings.js';

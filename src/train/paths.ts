import path from 'node:path';

/** The `/opt/ml` layout a training container sees (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html), under one base dir. */
export interface TrainingPaths {
  readonly base: string;
  readonly code: string;
  readonly model: string;
  readonly input: string;
  readonly inputConfig: string;
  readonly inputData: string;
  readonly output: string;
  readonly outputData: string;
  readonly outputIntermediate: string;
  readonly checkpoints: string;
  readonly hyperparametersFile: string;
  readonly inputDataConfigFile: string;
  readonly resourceConfigFile: string;
  readonly successFile: string;
  readonly failureFile: string;
}

/** Derives every training path from the base directory (`SAGEMAKER_BASE_DIR`, default `/opt/ml`). */
export function trainingPaths(base: string): TrainingPaths {
  const input = path.join(base, 'input');
  const inputConfig = path.join(input, 'config');
  const output = path.join(base, 'output');
  return {
    base,
    code: path.join(base, 'code'),
    model: path.join(base, 'model'),
    input,
    inputConfig,
    inputData: path.join(input, 'data'),
    output,
    outputData: path.join(output, 'data'),
    outputIntermediate: path.join(output, 'intermediate'),
    checkpoints: path.join(base, 'checkpoints'),
    hyperparametersFile: path.join(inputConfig, 'hyperparameters.json'),
    inputDataConfigFile: path.join(inputConfig, 'inputdataconfig.json'),
    resourceConfigFile: path.join(inputConfig, 'resourceconfig.json'),
    successFile: path.join(output, 'success'),
    failureFile: path.join(output, 'failure'),
  };
}

/** Where a channel's files are (File/FastFile mode) or the prefix of its `<name>_<epoch>` FIFOs (Pipe mode). */
export function channelPath(paths: TrainingPaths, channel: string): string {
  return path.join(paths.inputData, channel);
}

import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ToolkitError } from '../../errors/catalogue.js';
import { createOptMlTree } from '../../opt-ml/layout.js';
import { copyModelDirectory, extractModelArchive, isModelArchive } from '../../archive/model-archive.js';

/**
 * Makes a fresh `/opt/ml` tree under `root` and fills `model/` from `modelSource`: a directory is
 * copied as `smkit package` packs it ({@link copyModelDirectory}), a `model.tar.gz` is extracted (safely, by `extractModelArchive`), as SageMaker extracts
 * `ModelDataUrl` into `/opt/ml/model` before the container starts (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html#your-algorithms-inference-code-load-artifacts).
 */
export async function prepareOptMl(root: string, modelSource: string, mode: 'SingleModel' | 'MultiModel' = 'SingleModel'): Promise<string> {
  await createOptMlTree(root);
  const modelDir = join(root, 'model');
  let info;
  try {
    info = await stat(modelSource);
  } catch {
    throw new ToolkitError('ERR_ENDPOINT_FILE_INVALID', `model ${modelSource} does not exist`);
  }
  if (mode === 'MultiModel') {
    // Models arrive later, on demand, under models/<name>/model (https://docs.aws.amazon.com/sagemaker/latest/dg/mms-container-apis.html).
    if (!info.isDirectory()) throw new ToolkitError('ERR_ENDPOINT_FILE_INVALID', `a MultiModel container's model ${modelSource} must be a folder of model archives`);
    await mkdir(join(root, 'models'), { recursive: true });
    return root;
  }
  if (info.isDirectory()) {
    // As `smkit package` would pack it, so a local endpoint serves what the archive would hold.
    await copyModelDirectory(modelSource, modelDir);
  } else if (isModelArchive(modelSource)) {
    await extractModelArchive(modelSource, modelDir);
  } else {
    throw new ToolkitError('ERR_ENDPOINT_FILE_INVALID', `model ${modelSource} must be a directory or a .tar.gz/.tgz archive`);
  }
  return root;
}

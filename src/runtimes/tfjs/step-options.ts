import { ToolkitError } from '../../errors/catalogue.js';
import { jsonExcerpt } from '../../errors/excerpt.js';
import { type TfModelKind, findTfModel, readTfjsModelJson } from './model-files.js';

/**
 * The predict step's `signature` option, which only a SavedModel has a choice of: a TF.js graph
 * model holds the one signature tensorflowjs_converter wrote into model.json (its
 * `--signature_name`), a layers model none, so a `signature` given for either would be ignored
 * while the user believes another signature is served. Refused then, and when it is not a string
 * (null counts as left out), with `ERR_PIPELINE_INVALID` naming the option. Returns the signature
 * to load, if any.
 */
export function checkSignatureOption(signature: unknown, kind: TfModelKind, file: string): string | undefined {
  if (!signatureGiven(signature)) return undefined;
  if (kind === 'saved-model') return signature;
  const holds =
    kind === 'graph'
      ? 'a TF.js graph model serves the one signature model.json holds (tensorflowjs_converter --signature_name picks it when converting)'
      : 'a TF.js layers model has no signatures';
  throw new ToolkitError(
    'ERR_PIPELINE_INVALID',
    `the predict step's "signature" option (${jsonExcerpt(signature, 60)}) picks a TensorFlow SavedModel's signature, but ${file} is a TF.js ${kind} model: ${holds}; remove "signature" from the step`,
  );
}

/** Whether a `signature` is given; throws `ERR_PIPELINE_INVALID` when it is given but not a string. */
function signatureGiven(signature: unknown): signature is string {
  // Left out, as YAML's empty `signature:` leaves it (and as a null backend or batching is).
  if (signature === undefined || signature === null) return false;
  if (typeof signature !== 'string') {
    throw new ToolkitError('ERR_PIPELINE_INVALID', `the predict step's "signature" option must be a string naming a SavedModel signature (for example serving_default), found ${jsonExcerpt(signature, 40)}`);
  }
  return true;
}

/**
 * Checks a TF.js predict step's options against the model at `modelPath` without loading it (the
 * runtime's `checkStepOptions`): {@link checkSignatureOption}. Only a `signature` on a
 * `model.json` costs a read of the whole file, the one case that is refused. A path holding no
 * TensorFlow model passes: the load reports it.
 */
export async function checkTfjsStepOptions(modelPath: string, options: Readonly<Record<string, unknown>>): Promise<void> {
  const signature = options['signature'];
  if (!signatureGiven(signature)) return;
  const location = await findTfModel(modelPath);
  if (location === undefined || location.kind === 'saved-model') return;
  checkSignatureOption(signature, (await readTfjsModelJson(location.path)).kind, location.path);
}

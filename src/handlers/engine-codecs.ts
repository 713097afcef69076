/**
 * The codec code an engine needs to answer invocations, loaded as one module after the model is
 * ready (see `InferenceEngine.whenCodecsReady`): the built-in codecs and their image, NPZ and JSON
 * variants are not on the path to the first healthy `/ping`.
 */
export { createDefaultCodecs } from '../codecs/defaults.js';
export { negotiateAccept } from '../codecs/negotiate.js';
export { decodeJsonValue } from '../codecs/json.js';
export { decodeFormParts } from '../codecs/multipart.js';

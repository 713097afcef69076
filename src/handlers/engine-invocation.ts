/**
 * The code an engine needs only to answer invocations, loaded as one module after the model is
 * ready (see `InferenceEngine.whenCodecsReady`): the built-in codecs (with their image, NPZ and
 * JSON variants) and the error helpers of `invoke` are not on the path to the first healthy `/ping`.
 */
export { createDefaultCodecs } from '../codecs/defaults.js';
export { answerTypeFor, negotiateAccept } from '../codecs/negotiate.js';
export { decodeJsonValue } from '../codecs/json.js';
export { decodeFormParts } from '../codecs/multipart.js';
export { withProtocolError } from '../codecs/protocol-error.js';
export { toUserError } from './user-error.js';
export { checkSignatureName } from './signature.js';
export { withContentTypeHint } from './content-type-hint.js';

import { ToolkitError } from '../errors/catalogue.js';
import { excerpt } from '../errors/excerpt.js';
import type { Codec, DecodeHints, DecodeLimits, DecodedRequest, EncodeOptions, TypedBody } from './codec.js';
import { withinBudget } from './decoded-size.js';
import { decodeJsonText, encodeJsonText, refuseOverflowingLiterals } from './json.js';
import { refuseExtraInputs } from './json-tensor.js';
import { TRITON_BINARY_TYPE, decodeV2, decodeV2Raw, encodeV2Answer, isV2Request } from './json-v2.js';
import { withErrorMember } from './protocol-error.js';
import { isTensorMap } from './tensor-map.js';
import { refuseNonUtf8, refuseUtf16 } from './text-encoding.js';

export { TRITON_BINARY_TYPE } from './json-v2.js';

/** A codec that always names its answer's Content-Type. */
export interface AnsweringCodec extends Codec {
  encodeAnswer(prediction: unknown, options: EncodeOptions): TypedBody;
}

/**
 * The binary tensor data form of the Open Inference Protocol v2 as NVIDIA Triton serves it on
 * SageMaker (tritonclient's `generate_request_body` / `parse_response_body`):
 * `Content-Type: application/vnd.sagemaker-triton.binary+json;json-header-size=N`, the first N
 * bytes a v2 JSON request, then the bytes of the inputs that carry
 * `"parameters": {"binary_data_size": K}`, in input order. With `json-header-size=0` the body is the
 * data of the model's only input (Triton's raw request, see `decodeV2Raw`).
 *
 * Answers follow the request, not `Accept` (Triton ignores Accept): outputs asked for as binary
 * (`"binary_data": true` on an output, or the request's `"binary_data_output": true`) come after the
 * JSON answer under the same type with the JSON's `json-header-size`; with none, a plain v2 JSON
 * answer as `application/json`.
 *
 * Every malformed body is a 400 `ERR_JSON_PARSE` (`{"error"}` included, as v2 clients read it),
 * checked before allocating, and each binary input is held to the decoded-size budget (413) before
 * it is allocated: numbers take their own bytes, BYTES elements what the budget charges a string.
 */
export const tritonBinaryCodec: AnsweringCodec = {
  mediaType: TRITON_BINARY_TYPE,
  answersRequest: true,
  decode(body: Buffer, params: Readonly<Record<string, string>>, limits?: DecodeLimits, hints?: DecodeHints): DecodedRequest {
    try {
      const headerSize = jsonHeaderSize(params['json-header-size'], body.length);
      if (headerSize === 0) return decodeV2Raw(body, hints?.soleInput, limits);
      const header = body.subarray(0, headerSize);
      refuseUtf16(header, 'the JSON header', 'ERR_JSON_PARSE');
      refuseNonUtf8(header, 'the JSON header', 'ERR_JSON_PARSE', 'as binary BYTES data after the JSON header');
      const text = header.toString('utf8');
      return decodeJsonText(text, `the JSON header (the first ${headerSize} bytes, json-header-size)`, (value) => {
        if (typeof value !== 'object' || value === null || Array.isArray(value) || !isV2Request(value as Record<string, unknown>)) {
          fail('the JSON header is not a v2 inference request {"inputs": [{"name", "shape", "datatype", "parameters": {"binary_data_size": K}}]}');
        }
        const request = value as Record<string, unknown>;
        refuseExtraInputs((request['inputs'] as unknown[]).length, hints?.maxInputs, 'the v2 request');
        const decoded = refuseOverflowingLiterals(decodeV2(request, body.subarray(headerSize), limits), () => text, 'v2 request: the JSON header');
        return withinBudget(decoded, limits, `the ${TRITON_BINARY_TYPE} body`);
      });
    } catch (err) {
      throw withErrorMember(err);
    }
  },
  encodeAnswer(prediction: unknown, options: EncodeOptions): TypedBody {
    if (!isTensorMap(prediction) || options.request?.form !== 'v2') {
      return { body: Buffer.from(encodeJsonText(prediction, options), 'utf8'), contentType: 'application/json' };
    }
    return encodeV2Answer(prediction, options);
  },
};

/**
 * The `json-header-size` parameter as a byte count within the body. Triton reads it with `stoi` and
 * takes 0 as "no JSON header": a raw request, the body the data of the model's only input.
 */
function jsonHeaderSize(raw: string | undefined, bodyLength: number): number {
  const form = `${TRITON_BINARY_TYPE};json-header-size=N`;
  if (raw === undefined) fail(`Content-Type ${TRITON_BINARY_TYPE} needs the json-header-size parameter: ${form}, N the length in bytes of the JSON request that starts the body`);
  const text = raw.trim();
  if (!/^\+?\d+$/.test(text)) fail(`json-header-size=${excerpt(raw, 40)} is not a byte count; send ${form}, N the length in bytes of the JSON request that starts the body`);
  const size = Number(text);
  if (size > bodyLength) fail(`json-header-size=${excerpt(text, 40)} is more than the body's ${bodyLength} bytes`);
  return size;
}

function fail(message: string): never {
  throw new ToolkitError('ERR_JSON_PARSE', `v2 request: ${message}`);
}

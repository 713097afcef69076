import { ToolkitError } from '../errors/catalogue.js';
import { excerpt } from '../errors/excerpt.js';
import type { Codec, DecodeHints, DecodeLimits, DecodedRequest, EncodeOptions, TypedBody } from './codec.js';
import { parseMediaType, parseMediaTypeList } from './media-type.js';
import { V2_UNNAMED_OUTPUT, withRequestedOutputs } from './requested-outputs.js';
import { isTensorMap } from './tensor-map.js';
import { withClassifications } from './json-v2.js';

/**
 * The media type assumed when a request has no `Content-Type` (as the SageMaker Scikit-learn
 * container does; SageMaker itself always sends one).
 */
export const DEFAULT_CONTENT_TYPE = 'application/json';

/**
 * Codecs keyed by media type (and aliases). Registering a type twice is an error rather than a
 * silent replacement, so two plugins cannot fight over `application/json` unnoticed.
 *
 * @example
 * const registry = new CodecRegistry().register(jsonCodec).register(csvCodec);
 * const request = registry.decode('text/csv; charset=utf-8', body);
 */
export class CodecRegistry {
  readonly #codecs: Codec[] = [];
  readonly #byType = new Map<string, Codec>();

  /**
   * Adds a codec under its media type and aliases.
   * @throws ToolkitError `ERR_CODEC_ALREADY_REGISTERED` when any of its types is taken.
   */
  register(codec: Codec): this {
    const types = [codec.mediaType, ...(codec.aliases ?? [])].map((t) => t.toLowerCase());
    for (const type of types) {
      if (this.#byType.has(type)) {
        throw new ToolkitError('ERR_CODEC_ALREADY_REGISTERED', `A codec for '${type}' is already registered; unregister it first or use another media type.`);
      }
    }
    for (const type of types) this.#byType.set(type, codec);
    this.#codecs.push(codec);
    return this;
  }

  /** The codec for a media type (parameters and case ignored), or `undefined`. */
  find(mediaType: string): Codec | undefined {
    return this.#byType.get(parseMediaType(mediaType).mediaType);
  }

  /** Media types (then aliases) that can be decoded, in registration order. */
  decodableTypes(): string[] {
    return this.#types((c) => c.decode !== undefined);
  }

  /** Media types (then aliases) that can be encoded, in registration order: the `available` list for {@link negotiateAccept}. */
  encodableTypes(): string[] {
    return this.#types((c) => c.encode !== undefined);
  }

  /**
   * Decodes a request body by its `Content-Type` header. A missing header means {@link DEFAULT_CONTENT_TYPE}.
   * @throws ToolkitError 415 `ERR_UNSUPPORTED_MEDIA_TYPE` listing the supported types, or the codec's 400.
   */
  decode(contentTypeHeader: string | undefined, body: Buffer, limits?: DecodeLimits, hints?: DecodeHints): DecodedRequest {
    const { mediaType, params } = parseMediaType(contentTypeHeader);
    const type = mediaType === '' ? DEFAULT_CONTENT_TYPE : mediaType;
    const codec = this.#byType.get(type);
    if (codec?.decode === undefined) {
      // `curl -d` sends this type unless told otherwise; say so, it is the usual cause.
      const curlHint = type === 'application/x-www-form-urlencoded' ? " (curl -d sends this type: add -H 'Content-Type: application/json')" : '';
      throw new ToolkitError(
        'ERR_UNSUPPORTED_MEDIA_TYPE',
        `Content-Type '${excerpt(type)}' is not supported${curlHint}. Send one of: ${this.decodableTypes().join(', ')}; ` +
          'or export an inputFn from your handler module to decode it yourself.',
        { details: { supported: this.decodableTypes() } },
      );
    }
    return codec.decode(body, params, limits, hints);
  }

  /**
   * Encodes a prediction as `mediaType` (normally the result of {@link negotiateAccept}).
   * @throws ToolkitError 406 `ERR_NOT_ACCEPTABLE` when no codec encodes that type, or the codec's error.
   */
  encode(prediction: unknown, mediaType: string, options: EncodeOptions): Buffer {
    return this.#encodeWith(this.find(mediaType), prediction, mediaType, options);
  }

  /**
   * The codec that answers a request of this `Content-Type` itself, whatever `Accept` says (one with
   * `answersRequest`, such as Triton's binary tensor data form), or `undefined`.
   */
  answeringCodec(contentTypeHeader: string | undefined): Codec | undefined {
    if (contentTypeHeader === undefined) return undefined;
    const codec = this.#byType.get(parseMediaType(contentTypeHeader).mediaType);
    return codec?.answersRequest === true && codec.encodeAnswer !== undefined ? codec : undefined;
  }

  /**
   * The media type of an answering codec (see {@link answeringCodec}) that an `Accept` header names
   * with a q above 0, or `undefined`: no codec encodes Triton's binary form for any request, but a
   * v2 request whose Accept asks for it only is answered as Triton answers it.
   */
  answeringAccept(acceptHeader: string | undefined): string | undefined {
    if (acceptHeader === undefined) return undefined;
    for (const range of parseMediaTypeList(acceptHeader)) {
      const q = range.params['q']?.trim();
      if (q !== undefined && /^0(?:\.0*)?$/.test(q)) continue;
      if (this.answeringCodec(range.mediaType) !== undefined) return range.mediaType;
    }
    return undefined;
  }

  /**
   * {@link encode}, except that a codec's `encodeAnswer` may name the answer's Content-Type itself
   * (its parameters included).
   */
  encodeResponse(prediction: unknown, mediaType: string, options: EncodeOptions): Buffer | TypedBody {
    const codec = this.find(mediaType);
    // A v2 request that names its outputs gets those alone in any type, not only in v2 JSON: CSV or NPY
    // of one output asked for from a model of several would otherwise be a 406 naming them all.
    // So do the outputs it asks for as classifications: as the top-k strings, not the scores.
    try {
      const classified = withClassifications(withRequestedOutputs(prediction, options, isTensorMap), options, isTensorMap);
      const typed = codec?.encodeAnswer?.(classified.prediction, classified.options);
      return typed ?? this.#encodeWith(codec, classified.prediction, mediaType, classified.options);
    } catch (err) {
      throw options.request?.form === 'v2' ? withOutputsHint(err) : err;
    }
  }

  #encodeWith(codec: Codec | undefined, prediction: unknown, mediaType: string, options: EncodeOptions): Buffer {
    if (codec?.encode === undefined) {
      throw new ToolkitError(
        'ERR_NOT_ACCEPTABLE',
        `Cannot answer in '${mediaType}'. Accept one of: ${this.encodableTypes().join(', ')}; ` +
          'or export an outputFn from your handler module to encode it yourself.',
        { details: { supported: this.encodableTypes() } },
      );
    }
    return codec.encode(prediction, options);
  }

  #types(filter: (c: Codec) => boolean): string[] {
    const codecs = this.#codecs.filter(filter);
    return [...codecs.map((c) => c.mediaType), ...codecs.flatMap((c) => c.aliases ?? [])];
  }
}

/**
 * The 406 for several outputs in a type that holds one array (CSV, NPY, raw bytes), answering a v2
 * request: the client can also name one output in the request's `"outputs"`, which then comes back alone.
 */
function withOutputsHint(err: unknown): unknown {
  if (!(err instanceof ToolkitError) || err.code !== 'ERR_NOT_ACCEPTABLE') return err;
  const outputs = err.details?.['outputs'];
  if (!Array.isArray(outputs) || outputs.length === 0) return err;
  const one = JSON.stringify({ name: String(outputs[0]) === '' ? V2_UNNAMED_OUTPUT : String(outputs[0]) });
  return new ToolkitError('ERR_NOT_ACCEPTABLE', `${err.message}, or name one in the v2 request's "outputs" (such as [${excerpt(one, 200)}])`, { details: err.details, cause: err });
}

import type { Tensor } from '../core/tensor.js';
import { ToolkitError } from '../errors/catalogue.js';
import { retryingLoad } from '../core/retrying-load.js';

/** Channels an image is decoded to: 1 (grey), 3 (RGB) or 4 (RGBA). */
export type ImageChannels = 1 | 3 | 4;

/** Raw pixels as sharp returns them. */
export interface RawImage {
  readonly data: Uint8Array;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}

/** Media types of the images smkit decodes. */
export const IMAGE_MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;

/** Guesses an image's media type from its first bytes (for multipart files sent as `application/octet-stream`). */
export function sniffImageType(body: Uint8Array): (typeof IMAGE_MEDIA_TYPES)[number] | undefined {
  if (body.length >= 3 && body[0] === 0xff && body[1] === 0xd8 && body[2] === 0xff) return 'image/jpeg';
  if (body.length >= 8 && body[0] === 0x89 && body[1] === 0x50 && body[2] === 0x4e && body[3] === 0x47) return 'image/png';
  if (body.length >= 12 && Buffer.from(body.subarray(0, 4)).toString('latin1') === 'RIFF' && Buffer.from(body.subarray(8, 12)).toString('latin1') === 'WEBP') {
    return 'image/webp';
  }
  return undefined;
}

/**
 * sharp, loaded with the first image (in the decoder thread, which lives as long as its process):
 * not while the process has no file descriptors to spare, nor kept failed (see retrying-load.ts).
 */
const loadSharp = retryingLoad('the image decoder (sharp)', () => import('sharp'));

/** sharp's names for the formats behind {@link IMAGE_MEDIA_TYPES}: the only ones decoded. */
const DECODED_FORMATS: ReadonlySet<string> = new Set(['jpeg', 'png', 'webp']);

/**
 * Largest image decoded, in pixels (50 megapixels, about 150 MB as RGB). A small compressed body
 * can expand to gigabytes; anything larger is refused before its pixels are allocated.
 */
export const MAX_IMAGE_PIXELS = 50_000_000;

/** Thrown by {@link decodeRaw} when the header promises more pixels than the budget allows. */
export class ImageTooLarge extends Error {
  constructor(readonly decodedBytes: number) {
    super(`the image would decode to ${decodedBytes} bytes`);
  }
}

/**
 * Decodes an encoded image with sharp (EXIF orientation applied) to raw 8-bit pixels with the
 * requested channel count. Throws a plain Error on undecodable input or on a format other than
 * JPEG, PNG and WebP (whatever the Content-Type claimed), and {@link ImageTooLarge},
 * from the header alone, when the pixels would take more than `maxBytes`.
 */
export async function decodeRaw(body: Uint8Array, channels: ImageChannels, maxBytes = Number.POSITIVE_INFINITY): Promise<RawImage> {
  const { default: sharp } = loadSharp.loaded ?? (await loadSharp());
  // The header alone says the format and how large the pixels will be; nothing is decoded yet.
  const { format, width = 0, height = 0 } = await sharp(body, { failOn: 'error', limitInputPixels: false }).metadata();
  // sharp reads whatever libvips can (SVG, GIF, TIFF, HEIF) whatever the Content-Type says; an SVG
  // of a few KB can keep librsvg rendering for minutes, long after its request has timed out.
  if (!DECODED_FORMATS.has(format ?? '')) {
    throw new Error(`the bytes are ${format ? `a ${format.toUpperCase()} image` : 'no image sharp recognises'}; send JPEG, PNG or WebP`);
  }
  const bytes = width * height * channels;
  if (bytes > maxBytes) throw new ImageTooLarge(bytes);
  let img = sharp(body, { failOn: 'error', limitInputPixels: MAX_IMAGE_PIXELS }).rotate();
  if (channels === 1) img = img.removeAlpha().toColourspace('b-w');
  else if (channels === 3) img = img.removeAlpha().toColourspace('srgb');
  else img = img.ensureAlpha().toColourspace('srgb');
  const { data, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), height: info.height, width: info.width, channels: info.channels };
}

/** Wraps raw pixels as a uint8 height × width × channels tensor. */
export function rawToTensor(raw: RawImage): Tensor<'uint8'> {
  return { dtype: 'uint8', shape: [raw.height, raw.width, raw.channels], data: raw.data };
}

/** The 400 a client gets for a body that is not a decodable image. */
export function imageDecodeError(mediaType: string, message: string, cause?: unknown): ToolkitError {
  // sharp not loaded (for want of file descriptors): the server's fault, answered as retrying-load.ts says.
  if (cause instanceof ToolkitError && (cause.code === 'ERR_SERVER_BUSY' || cause.code === 'ERR_INTERNAL')) return cause;
  return new ToolkitError('ERR_IMAGE_DECODE', `the ${mediaType} body could not be decoded as an image: ${message}`, cause === undefined ? {} : { cause });
}

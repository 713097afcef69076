import { type DType, type Tensor, castTensor } from '../../core/tensor.js';
import { ToolkitError } from '../../errors/catalogue.js';

/** The numeric typed arrays an image tensor may hold (not strings or 64-bit integers). */
export type NumericData = Exclude<Tensor['data'], string[] | BigInt64Array | BigUint64Array>;

/** Where the channels are in an image tensor: last (`hwc`, `nhwc`) or before height (`chw`, `nchw`). */
export type ImageLayout = 'hwc' | 'chw';

/** An image tensor's geometry: batch (1 when unbatched), height, width, channels. */
export interface ImageGeometry {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly c: number;
  readonly batched: boolean;
  readonly layout: ImageLayout;
}

/** Reads an image tensor's geometry; rank 3 is one image, rank 4 a batch. */
export function imageGeometry(t: Tensor, layout: ImageLayout, what: string): ImageGeometry {
  const r = t.shape.length;
  if (r !== 3 && r !== 4) {
    throw new ToolkitError(
      'ERR_INPUT_MISMATCH',
      `${what} needs an image tensor of rank 3 (${layout === 'hwc' ? 'height, width, channels' : 'channels, height, width'}) or 4 (a batch), got shape [${t.shape.join(', ')}]`,
    );
  }
  const s = r === 3 ? [1, ...t.shape] : t.shape;
  const [n, a, b, c] = s as [number, number, number, number];
  return layout === 'hwc' ? { n, h: a, w: b, c, batched: r === 4, layout } : { n, c: a, h: b, w: c, batched: r === 4, layout };
}

/** The shape of an image of geometry `g` resized to `h` × `w` (and `c` channels in `layout`). */
export function imageShape(g: ImageGeometry, h: number, w: number, c = g.c, layout = g.layout): number[] {
  const inner = layout === 'hwc' ? [h, w, c] : [c, h, w];
  return g.batched ? [g.n, ...inner] : inner;
}

/** Index of pixel (i, y, x, channel k) in a flat image of the given geometry. */
export function indexer(g: { n: number; h: number; w: number; c: number; layout: ImageLayout }): (i: number, y: number, x: number, k: number) => number {
  const { h, w, c } = g;
  return g.layout === 'hwc' ? (i, y, x, k) => ((i * h + y) * w + x) * c + k : (i, y, x, k) => ((i * c + k) * h + y) * w + x;
}

/** The tensor's values as numbers (64-bit and float16 data converted to float32); strings are a 400. */
export function numericData(t: Tensor, what: string): NumericData {
  if (t.dtype === 'string') throw new ToolkitError('ERR_INPUT_MISMATCH', `${what} needs numbers, got strings`);
  if (t.dtype === 'int64' || t.dtype === 'uint64' || t.dtype === 'float16') return castTensor(t, 'float32').data as Float32Array;
  return t.data as NumericData;
}

/** How a computed value is stored in `dtype`: integers rounded and clamped to their range. */
export function writerFor(dtype: DType): (v: number) => number {
  switch (dtype) {
    case 'uint8':
      return (v) => Math.min(255, Math.max(0, Math.round(v)));
    case 'int8':
      return (v) => Math.min(127, Math.max(-128, Math.round(v)));
    case 'uint16':
      return (v) => Math.min(65535, Math.max(0, Math.round(v)));
    case 'int16':
    case 'int32':
    case 'uint32':
      return (v) => Math.round(v);
    default:
      return (v) => v;
  }
}

/** The dtype an image operation answers in: the input's, or float32 for 64-bit, float16 and bool input. */
export function outputDType(t: Tensor): DType {
  return t.dtype === 'int64' || t.dtype === 'uint64' || t.dtype === 'float16' || t.dtype === 'bool' ? 'float32' : t.dtype;
}

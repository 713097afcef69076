import { type Tensor, allocate } from '../../core/tensor.js';
import { ToolkitError } from '../../errors/catalogue.js';
import { type ImageLayout, type NumericData, imageGeometry, imageShape, indexer, numericData, outputDType, writerFor } from './image-tensor.js';

/** Resizes images (bilinear with half-pixel centres, or nearest neighbour), keeping dtype (integers are rounded). */
export function resizeImage(t: Tensor, layout: ImageLayout, outH: number, outW: number, method: 'bilinear' | 'nearest', what = 'resize'): Tensor {
  const g = imageGeometry(t, layout, what);
  if (g.h === outH && g.w === outW) return t;
  // Nothing to sample from: resizing would make up pixels (zeros, NaN, or another image's last row).
  if ((g.h === 0 || g.w === 0) && g.n * g.c > 0) {
    throw new ToolkitError('ERR_INPUT_MISMATCH', `${what}: the image is ${g.h}×${g.w} pixels (height×width); there is nothing to resize`);
  }
  const src = numericData(t, what);
  const dtype = outputDType(t);
  const out = allocate(dtype, g.n * outH * outW * g.c) as NumericData;
  const put = writerFor(dtype);
  const at = indexer(g);
  const to = indexer({ ...g, h: outH, w: outW });
  const sy = g.h / outH;
  const sx = g.w / outW;
  if (method === 'nearest') {
    const xs = Array.from({ length: outW }, (_, x) => Math.min(g.w - 1, Math.floor((x + 0.5) * sx)));
    for (let i = 0; i < g.n; i++)
      for (let y = 0; y < outH; y++) {
        const yy = Math.min(g.h - 1, Math.floor((y + 0.5) * sy));
        for (let x = 0; x < outW; x++) for (let k = 0; k < g.c; k++) out[to(i, y, x, k)] = src[at(i, yy, xs[x]!, k)]!;
      }
  } else {
    const axis = (len: number, scale: number, limit: number) =>
      Array.from({ length: len }, (_, d) => {
        const p = Math.min(limit - 1, Math.max(0, (d + 0.5) * scale - 0.5));
        const lo = Math.floor(p);
        return { lo, hi: Math.min(limit - 1, lo + 1), f: p - lo };
      });
    const ys = axis(outH, sy, g.h);
    const xs = axis(outW, sx, g.w);
    for (let i = 0; i < g.n; i++)
      for (let y = 0; y < outH; y++) {
        const { lo: y0, hi: y1, f: fy } = ys[y]!;
        for (let x = 0; x < outW; x++) {
          const { lo: x0, hi: x1, f: fx } = xs[x]!;
          for (let k = 0; k < g.c; k++) {
            const top = src[at(i, y0, x0, k)]! * (1 - fx) + src[at(i, y0, x1, k)]! * fx;
            const bottom = src[at(i, y1, x0, k)]! * (1 - fx) + src[at(i, y1, x1, k)]! * fx;
            out[to(i, y, x, k)] = put(top * (1 - fy) + bottom * fy);
          }
        }
      }
  }
  return { dtype, shape: imageShape(g, outH, outW), data: out } as Tensor;
}

/** Crops the centre `outH` × `outW` of each image. */
export function centerCrop(t: Tensor, layout: ImageLayout, outH: number, outW: number, what = 'center-crop'): Tensor {
  const g = imageGeometry(t, layout, what);
  if (outH > g.h || outW > g.w) {
    throw new ToolkitError('ERR_INPUT_MISMATCH', `${what}: the image is ${g.h}×${g.w}, smaller than the ${outH}×${outW} crop; resize it first`);
  }
  if (outH === g.h && outW === g.w) return t;
  const top = Math.floor((g.h - outH) / 2);
  const left = Math.floor((g.w - outW) / 2);
  const src = t.data as ArrayLike<unknown>;
  const out = allocate(t.dtype, g.n * outH * outW * g.c) as unknown as { [i: number]: unknown };
  const at = indexer(g);
  const to = indexer({ ...g, h: outH, w: outW });
  for (let i = 0; i < g.n; i++)
    for (let y = 0; y < outH; y++)
      for (let x = 0; x < outW; x++) for (let k = 0; k < g.c; k++) out[to(i, y, x, k)] = src[at(i, y + top, x + left, k)];
  return { dtype: t.dtype, shape: imageShape(g, outH, outW), data: out as Tensor['data'] };
}

/** Normalisation presets (`preset: imagenet`). */
export const NORMALIZE_PRESETS: Readonly<Record<string, { scale: number; mean: number[]; std: number[] }>> = {
  imagenet: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  unit: { scale: 1 / 255, mean: [0], std: [1] },
  symmetric: { scale: 1 / 255, mean: [0.5], std: [0.5] },
};

/** `(x * scale - mean[c]) / std[c]` per channel, as float32. */
export function normalizeImage(t: Tensor, layout: ImageLayout, scale: number, mean: readonly number[], std: readonly number[], what = 'image-normalize'): Tensor<'float32'> {
  const g = imageGeometry(t, layout, what);
  for (const [key, list] of [['mean', mean], ['std', std]] as const) {
    if (list.length !== 1 && list.length !== g.c) {
      throw new ToolkitError('ERR_INPUT_MISMATCH', `${what}: "${key}" has ${list.length} values but the image has ${g.c} channels`);
    }
  }
  const src = numericData(t, what);
  const out = new Float32Array(src.length);
  const at = indexer(g);
  for (let k = 0; k < g.c; k++) {
    const m = mean[mean.length === 1 ? 0 : k]!;
    const s = std[std.length === 1 ? 0 : k]!;
    for (let i = 0; i < g.n; i++)
      for (let y = 0; y < g.h; y++)
        for (let x = 0; x < g.w; x++) {
          const j = at(i, y, x, k);
          out[j] = (src[j]! * scale - m) / s;
        }
  }
  return { dtype: 'float32', shape: [...t.shape], data: out };
}

/** Reverses the channel order (RGB ↔ BGR; RGBA → BGRA keeps alpha last). */
export function swapRedBlue(t: Tensor, layout: ImageLayout, what = 'channel-order'): Tensor {
  const g = imageGeometry(t, layout, what);
  if (g.c < 3) throw new ToolkitError('ERR_INPUT_MISMATCH', `${what}: swapping red and blue needs 3 or 4 channels, the image has ${g.c}`);
  const src = t.data as ArrayLike<unknown>;
  const out = allocate(t.dtype, src.length) as unknown as { [i: number]: unknown };
  const at = indexer(g);
  for (let i = 0; i < g.n; i++)
    for (let y = 0; y < g.h; y++)
      for (let x = 0; x < g.w; x++)
        for (let k = 0; k < g.c; k++) out[at(i, y, x, k)] = src[at(i, y, x, k < 3 ? 2 - k : k)];
  return { dtype: t.dtype, shape: [...t.shape], data: out as Tensor['data'] };
}

/** Moves channels between last (HWC) and first (CHW), batch or not. */
export function transposeLayout(t: Tensor, from: ImageLayout, to: ImageLayout, what = 'channel-order'): Tensor {
  if (from === to) return t;
  const g = imageGeometry(t, from, what);
  const src = t.data as ArrayLike<unknown>;
  const out = allocate(t.dtype, src.length) as unknown as { [i: number]: unknown };
  const at = indexer(g);
  const dst = indexer({ ...g, layout: to });
  for (let i = 0; i < g.n; i++)
    for (let y = 0; y < g.h; y++) for (let x = 0; x < g.w; x++) for (let k = 0; k < g.c; k++) out[dst(i, y, x, k)] = src[at(i, y, x, k)];
  return { dtype: t.dtype, shape: imageShape(g, g.h, g.w, g.c, to), data: out as Tensor['data'] };
}

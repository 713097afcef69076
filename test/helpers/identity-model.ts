import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { DType } from '../../src/core/tensor.js';

const { onnx } = onnxProto;

const ELEM_TYPE: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
};

/** One input of an identity model: its name, dtype and rank (every dimension dynamic). */
export interface IdentityInput {
  readonly name: string;
  readonly dtype: DType;
  readonly rank?: number;
}

/**
 * ONNX bytes of a model whose outputs `<name>_out` are its inputs unchanged (Identity nodes), so a
 * test can see exactly what value reached the model for each dtype.
 */
export function buildIdentityModel(inputs: readonly IdentityInput[]): Uint8Array {
  const info = (name: string, dtype: DType, rank: number) =>
    onnx.ValueInfoProto.create({
      name,
      type: onnx.TypeProto.create({
        tensorType: onnx.TypeProto.Tensor.create({
          elemType: ELEM_TYPE[dtype],
          shape: onnx.TensorShapeProto.create({
            dim: Array.from({ length: rank }, (_, i) => onnx.TensorShapeProto.Dimension.create({ dimParam: `d${i}` })),
          }),
        }),
      }),
    });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'smkit-test',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 16 })],
    graph: onnx.GraphProto.create({
      name: 'identity',
      node: inputs.map((i) => onnx.NodeProto.create({ opType: 'Identity', input: [i.name], output: [`${i.name}_out`], name: `id_${i.name}` })),
      input: inputs.map((i) => info(i.name, i.dtype, i.rank ?? 1)),
      output: inputs.map((i) => info(`${i.name}_out`, i.dtype, i.rank ?? 1)),
    }),
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Writes an identity model as `<tmp>/model.onnx` and returns the model directory. */
export function identityModelDir(inputs: readonly IdentityInput[]): string {
  // Built first: inputs it refuses leave no folder behind.
  const model = buildIdentityModel(inputs);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-identity-'));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(path.join(dir, 'model.onnx'), model);
  return dir;
}

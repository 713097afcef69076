import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** ONNX element types by name, for the graphs tests build. */
export const ELEM = { float32: 1, int64: 7, string: 8, float64: 11 } as const;

/** A graph input or output: its name, element type and dimensions (a string is a symbolic dimension; `null` leaves the shape to ONNX Runtime's inference). */
export function valueInfo(name: string, elemType: number, dims: readonly (number | string)[] | null) {
  const shape =
    dims === null
      ? undefined
      : onnx.TensorShapeProto.create({
          dim: dims.map((d) => (typeof d === 'number' ? onnx.TensorShapeProto.Dimension.create({ dimValue: d }) : onnx.TensorShapeProto.Dimension.create({ dimParam: d }))),
        });
  return onnx.ValueInfoProto.create({ name, type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType, shape }) }) });
}

/** A node of `opType` with integer-list (`number[]`) or integer (`number`) attributes. */
export function graphNode(opType: string, input: readonly string[], output: readonly string[], attributes: Record<string, number | readonly number[]> = {}) {
  const attribute = Object.entries(attributes).map(([name, v]) =>
    typeof v === 'number'
      ? onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: v })
      : onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: [...v] }),
  );
  return onnx.NodeProto.create({ opType, input: [...input], output: [...output], name: `${opType}_${output[0]}`, attribute });
}

/** ONNX bytes (opset 13) of a graph of `nodes` from `inputs` to `outputs`. */
export function buildGraphModel(nodes: ReturnType<typeof graphNode>[], inputs: ReturnType<typeof valueInfo>[], outputs: ReturnType<typeof valueInfo>[]): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'smkit-test',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 13 })],
    graph: onnx.GraphProto.create({ name: 'test', node: nodes, input: inputs, output: outputs }),
  });
  return onnx.ModelProto.encode(model).finish();
}

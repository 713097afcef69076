import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** One fully connected layer: `y = act(x · weights + bias)`. `weights` is inputs × outputs. */
export interface DenseLayer {
  readonly weights: readonly (readonly number[])[];
  readonly bias: readonly number[];
  readonly activation?: 'none' | 'relu' | 'softmax' | 'sigmoid';
}

/** Describes a small feed-forward ONNX model. */
export interface DenseModelSpec {
  readonly inputName?: string;
  readonly outputName?: string;
  readonly layers: readonly DenseLayer[];
  readonly docString?: string;
}

/**
 * Builds a float32 feed-forward ONNX model (Gemm layers with activations) with a dynamic batch
 * dimension, and returns its protobuf bytes. Used to generate the bundled example models and by
 * the training example, so no opaque model file is ever committed without its recipe.
 *
 * @example
 * ```ts
 * writeFileSync('model.onnx', buildDenseOnnxModel({ layers: [{ weights: [[1], [2]], bias: [0] }] }));
 * ```
 */
export function buildDenseOnnxModel(spec: DenseModelSpec): Uint8Array {
  const inputName = spec.inputName ?? 'input';
  const outputName = spec.outputName ?? 'output';
  if (spec.layers.length === 0) throw new RangeError('a model needs at least one layer');
  const nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  const initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  let current = inputName;
  const inputWidth = spec.layers[0]!.weights.length;
  let width = inputWidth;
  spec.layers.forEach((layer, i) => {
    const rows = layer.weights.length;
    const cols = layer.bias.length;
    if (rows !== width) throw new RangeError(`layer ${i} expects ${rows} inputs but the previous layer gives ${width}`);
    if (layer.weights.some((r) => r.length !== cols)) throw new RangeError(`layer ${i}: every weight row needs ${cols} values`);
    const w = `W${i}`;
    const b = `B${i}`;
    initializers.push(
      onnx.TensorProto.create({ name: w, dataType: onnx.TensorProto.DataType.FLOAT, dims: [rows, cols], floatData: layer.weights.flat() }),
      onnx.TensorProto.create({ name: b, dataType: onnx.TensorProto.DataType.FLOAT, dims: [cols], floatData: [...layer.bias] }),
    );
    const last = i === spec.layers.length - 1;
    const act = layer.activation ?? 'none';
    const gemmOut = last && act === 'none' ? outputName : `gemm${i}`;
    nodes.push(onnx.NodeProto.create({ opType: 'Gemm', input: [current, w, b], output: [gemmOut], name: `gemm${i}` }));
    current = gemmOut;
    if (act !== 'none') {
      const actOut = last ? outputName : `act${i}`;
      const opType = act === 'relu' ? 'Relu' : act === 'sigmoid' ? 'Sigmoid' : 'Softmax';
      const attribute = act === 'softmax' ? [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 })] : [];
      nodes.push(onnx.NodeProto.create({ opType, input: [current], output: [actOut], name: `${opType.toLowerCase()}${i}`, attribute }));
      current = actOut;
    }
    width = cols;
  });
  const valueInfo = (name: string, dim: number) =>
    onnx.ValueInfoProto.create({
      name,
      type: onnx.TypeProto.create({
        tensorType: onnx.TypeProto.Tensor.create({
          elemType: onnx.TensorProto.DataType.FLOAT,
          shape: onnx.TensorShapeProto.create({
            dim: [onnx.TensorShapeProto.Dimension.create({ dimParam: 'batch' }), onnx.TensorShapeProto.Dimension.create({ dimValue: dim })],
          }),
        }),
      }),
    });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'smkit',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 13 })],
    docString: spec.docString ?? '',
    graph: onnx.GraphProto.create({
      name: 'smkit-dense',
      node: nodes,
      initializer: initializers,
      input: [valueInfo(inputName, inputWidth)],
      output: [valueInfo(outputName, width)],
    }),
  });
  return onnx.ModelProto.encode(model).finish();
}

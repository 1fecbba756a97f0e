// ml.*: batch inference with ONNX models (onnxruntime-web in the tab, on WebGPU or WASM;
// onnxruntime-node as the reference). The model is a content-addressed upload named by
// `params.model`; inputs are tensors named after the model's inputs.
import type { MethodDefinition } from '../method.ts';
import type { ParamSpec, ParamsSchema } from '../params.ts';

/** `flock:sha256:<hex>`: a model uploaded with `POST /v1/modules` (application/onnx). */
export const MODEL_URI_PATTERN = '^flock:sha256:[0-9a-f]{64}$';

/**
 * Tolerances of ml outputs against the reference (onnxruntime-node) and between execution
 * providers: float32 outputs agree when |a − b| ≤ atol + rtol·max(|a|, |b|). Measured on the repo's
 * CNN and MLP across onnxruntime-node, WASM and WebGPU on SwiftShader (docs/ml.md).
 */
export const ML_TOLERANCE = { atol: 1e-4, rtol: 1e-3 } as const;

const model: ParamSpec = {
  type: 'string',
  doc: 'the model: flock:sha256:<hex> of an ONNX file uploaded with POST /v1/modules',
  pattern: MODEL_URI_PATTERN,
};

const execution: ParamSpec = {
  type: 'enum',
  doc: 'where it runs: webgpu, wasm, or auto (WebGPU on a hardware GPU, or where the task requires WebGPU; else WASM)',
  values: ['auto', 'webgpu', 'wasm'],
  default: 'auto',
};

const outputName: ParamSpec = {
  type: 'string',
  doc: "the model output to use (default: the model's first)",
  maxLength: 256,
};

function schema(fields: Record<string, ParamSpec>): ParamsSchema {
  return { fields: { model, execution, ...fields }, required: ['model'] };
}

const TENSOR_INPUTS = {
  min: 1,
  max: 16,
  doc: "tensors named after the model's inputs (DataRef.tensor gives dtype and shape; or .npy files); a model with one input takes one of any name",
};

export const ML_METHODS: readonly MethodDefinition[] = [
  {
    library: 'ml',
    method: 'infer',
    doc: 'Runs an ONNX model on a batch of input tensors and returns its output tensors',
    params: schema({
      outputs: {
        type: 'array',
        doc: 'which outputs to return (default: all)',
        items: { type: 'string', doc: 'an output name', maxLength: 256 },
        minItems: 1,
        maxItems: 16,
      },
    }),
    inputs: TENSOR_INPUTS,
    outputs: 'one raw little-endian tensor per model output, named after it, with its TensorSpec (`tensor`)',
    compare: { kind: 'tensors', ...ML_TOLERANCE },
  },
  {
    library: 'ml',
    method: 'embed',
    doc: 'Embeddings: one output of the model, mean-pooled to [N, D], L2-normalized by default',
    params: schema({
      output: outputName,
      normalize: { type: 'boolean', doc: 'scale each embedding to unit length', default: true },
    }),
    inputs: TENSOR_INPUTS,
    outputs: '`embeddings`: float32 [N, D] with its TensorSpec',
    compare: { kind: 'tensors', ...ML_TOLERANCE },
  },
  {
    library: 'ml',
    method: 'classify',
    doc: "Top-k classes per row of one output: labels from the model's metadata (`labels`) or params",
    params: schema({
      output: outputName,
      top_k: { type: 'integer', doc: 'classes per row', min: 1, max: 100, default: 5 },
      softmax: { type: 'boolean', doc: 'turn logits into probabilities first', default: true },
      labels: {
        type: 'array',
        doc: "class names by index (default: the model's `labels` metadata, a JSON array)",
        items: { type: 'string', doc: 'a class name', maxLength: 256 },
        minItems: 1,
        maxItems: 100_000,
      },
    }),
    inputs: TENSOR_INPUTS,
    outputs: '`classes.json`: per row, `[{ "index", "label", "score" }]` best first',
    compare: { kind: 'classes', atol: ML_TOLERANCE.atol },
  },
];

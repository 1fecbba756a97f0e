// One ml call on an ONNX Runtime session, the same in the tab (onnxruntime-web) and the Node
// reference (onnxruntime-node): both speak onnxruntime-common's API. Inputs are bound to the
// model's inputs by name and checked against its dtypes and shapes before anything runs; the
// runtime's errors become typed LibraryErrors naming what is at fault.
import type { InferenceSession, Tensor, TypedTensor } from 'onnxruntime-common';
import { LibraryError } from '../library-error.ts';
import { readOnnxInfo } from '../models/onnx-reader.ts';
import {
  DTYPE_BYTES,
  elementCount,
  isNpy,
  isTensorDtype,
  readNpy,
  type TensorDtype,
  type TensorShape,
  typedView,
} from '../models/tensors.ts';
import type { CheckedCall } from '../registry.ts';
import type { LibraryInput, LibraryOutput, LibraryResult } from './runtime.ts';

/** What an ml job needs of an ONNX Runtime build: its Tensor constructor. */
export interface OrtTensors {
  Tensor: new (type: TensorDtype, data: ArrayBufferView, dims: readonly number[]) => Tensor;
}

/** A loaded model: its session, and the labels its metadata carries (for classify). */
export interface LoadedModel {
  session: InferenceSession;
  labels: string[] | undefined;
}

/** Labels from a model's `labels` metadata (a JSON array of strings), if it has them. */
export function modelLabels(bytes: Uint8Array): string[] | undefined {
  let info: ReturnType<typeof readOnnxInfo>;
  try {
    info = readOnnxInfo(bytes);
  } catch (error) {
    throw new LibraryError('INVALID_MODEL', (error as Error).message, 'params.model');
  }
  const raw = info.metadata['labels'];
  if (raw === undefined) return undefined;
  try {
    const labels = JSON.parse(raw) as unknown;
    if (Array.isArray(labels) && labels.every((l) => typeof l === 'string')) return labels;
  } catch {
    // Not JSON: treated as no labels (classify then names classes by index).
  }
  return undefined;
}

/** An ONNX Runtime error as a typed LibraryError: the operator, input or model at fault. */
export function ortError(error: unknown, phase: 'load' | 'run'): LibraryError {
  if (error instanceof LibraryError) return error;
  const message = (error as Error)?.message ?? String(error);
  const op =
    /No Op registered for (\S+)/.exec(message)?.[1] ??
    /Could not find an implementation for (\S+)/.exec(message)?.[1];
  if (op)
    return new LibraryError(
      'UNSUPPORTED_OP',
      `the model uses operator ${op}, which this runtime does not have`,
      'params.model',
    );
  if (/invalid dimensions|Invalid rank|Unexpected input data type|input '.*' is missing/i.test(message))
    return new LibraryError('TENSOR_MISMATCH', message.split('\n').join(' ').trim(), 'inputs');
  if (phase === 'load')
    return new LibraryError('INVALID_MODEL', `the model cannot be loaded: ${message}`, 'params.model');
  return new LibraryError('LIBRARY_ERROR', message);
}

const stem = (name: string): string => name.replace(/\.npy$/i, '');

function tensorOf(input: LibraryInput, field: string): TensorShape & { data: Uint8Array } {
  if (input.tensor) {
    const { dtype, shape } = input.tensor;
    if (!isTensorDtype(dtype))
      throw new LibraryError('TENSOR_MISMATCH', `dtype ${dtype} is not supported`, field);
    const want = elementCount(shape) * DTYPE_BYTES[dtype];
    if (input.bytes.byteLength !== want) {
      throw new LibraryError(
        'INVALID_INPUT',
        `${input.name}: ${dtype} ${JSON.stringify(shape)} needs ${want} bytes, got ${input.bytes.byteLength}`,
        field,
      );
    }
    return { dtype, shape, data: input.bytes };
  }
  if (isNpy(input.bytes)) return readNpy(input.bytes, field);
  throw new LibraryError(
    'INVALID_INPUT',
    `${input.name} has no TensorSpec (DataRef.tensor) and is not an .npy file`,
    field,
  );
}

function checkShape(
  name: string,
  got: TensorShape,
  want: InferenceSession.ValueMetadata,
  field: string,
): void {
  if (!want.isTensor) return;
  if (got.dtype !== want.type) {
    throw new LibraryError(
      'TENSOR_MISMATCH',
      `input ${name} is ${got.dtype}; the model takes ${want.type}`,
      field,
    );
  }
  const dims = want.shape;
  const fits =
    dims.length === got.shape.length && dims.every((d, i) => typeof d !== 'number' || d === got.shape[i]);
  if (!fits) {
    throw new LibraryError(
      'TENSOR_MISMATCH',
      `input ${name} has shape ${JSON.stringify(got.shape)}; the model takes ${JSON.stringify(dims)}`,
      field,
    );
  }
}

/**
 * The feeds of a session: each input bound to the model input it names (a model with one input
 * takes one input of any name), checked against its dtype and shape. Throws TENSOR_MISMATCH
 * naming the input.
 */
export function bindInputs(
  session: InferenceSession,
  inputs: LibraryInput[],
  ort: OrtTensors,
): Record<string, Tensor> {
  const names = session.inputNames;
  const feeds: Record<string, Tensor> = {};
  for (const [i, input] of inputs.entries()) {
    const field = `inputs[${i}]`;
    const name = names.length === 1 && inputs.length === 1 ? names[0]! : stem(input.name);
    const index = names.indexOf(name);
    if (index < 0) {
      throw new LibraryError(
        'TENSOR_MISMATCH',
        `the model has no input "${name}" (its inputs: ${names.join(', ')})`,
        field,
      );
    }
    if (feeds[name]) throw new LibraryError('TENSOR_MISMATCH', `input "${name}" is given twice`, field);
    const tensor = tensorOf(input, field);
    checkShape(name, tensor, session.inputMetadata[index]!, field);
    feeds[name] = new ort.Tensor(tensor.dtype, typedView(tensor.dtype, tensor.data), tensor.shape);
  }
  const missing = names.filter((n) => !feeds[n]);
  if (missing.length > 0)
    throw new LibraryError(
      'TENSOR_MISMATCH',
      `inputs ${missing.join(', ')} of the model are missing`,
      'inputs',
    );
  return feeds;
}

function rawOutput(name: string, tensor: Tensor): LibraryOutput {
  const data = tensor.data as ArrayBufferView;
  const dtype = tensor.type;
  if (!isTensorDtype(dtype))
    throw new LibraryError('LIBRARY_ERROR', `output ${name} has dtype ${dtype}, which Flock cannot return`);
  return {
    name,
    contentType: 'application/octet-stream',
    bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(),
    tensor: { dtype, shape: [...tensor.dims] },
  };
}

/** The float32 rows [N, D] of an output: rank 2 as is; higher ranks mean-pooled over the middle axes. */
function rows(name: string, tensor: Tensor): { data: Float32Array; n: number; d: number } {
  if (tensor.type !== 'float32')
    throw new LibraryError(
      'TENSOR_MISMATCH',
      `output ${name} is ${tensor.type}; embed and classify take float32`,
      'params.output',
    );
  const dims = tensor.dims;
  if (dims.length < 2)
    throw new LibraryError(
      'TENSOR_MISMATCH',
      `output ${name} has rank ${dims.length}; it needs [N, …, D]`,
      'params.output',
    );
  const n = dims[0]!;
  const d = dims[dims.length - 1]!;
  const middle = elementCount(dims.slice(1, -1));
  const src = (tensor as TypedTensor<'float32'>).data;
  if (middle === 1) return { data: src, n, d };
  const data = new Float32Array(n * d);
  for (let r = 0; r < n; r++)
    for (let m = 0; m < middle; m++)
      for (let k = 0; k < d; k++) data[r * d + k]! += src[(r * middle + m) * d + k]! / middle;
  return { data, n, d };
}

function embeddings(name: string, tensor: Tensor, normalize: boolean): LibraryOutput {
  const { data, n, d } = rows(name, tensor);
  const out = new Float32Array(data);
  if (normalize) {
    for (let r = 0; r < n; r++) {
      let sum = 0;
      for (let k = 0; k < d; k++) sum += out[r * d + k]! ** 2;
      const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
      for (let k = 0; k < d; k++) out[r * d + k]! *= scale;
    }
  }
  return {
    name: 'embeddings',
    contentType: 'application/octet-stream',
    bytes: new Uint8Array(out.buffer),
    tensor: { dtype: 'float32', shape: [n, d] },
  };
}

export interface ClassScore {
  index: number;
  label: string;
  score: number;
}

function classes(
  name: string,
  tensor: Tensor,
  params: Record<string, unknown>,
  labels: string[] | undefined,
): LibraryOutput {
  const { data, n, d } = rows(name, tensor);
  const names = (params['labels'] as string[] | undefined) ?? labels;
  const k = Math.min(params['top_k'] as number, d);
  const result: ClassScore[][] = [];
  for (let r = 0; r < n; r++) {
    let scores = Array.from(data.subarray(r * d, (r + 1) * d));
    if (params['softmax'] === true) {
      // Not Math.max(...scores): an output of ~150,000 classes or more overflows V8's stack.
      const max = scores.reduce((m, v) => Math.max(m, v), Number.NEGATIVE_INFINITY);
      const exp = scores.map((s) => Math.exp(s - max));
      const total = exp.reduce((a, b) => a + b, 0);
      scores = exp.map((e) => e / total);
    }
    const order = scores
      .map((score, index) => ({ index, score }))
      .sort((a, b) => b.score - a.score || a.index - b.index);
    result.push(
      order.slice(0, k).map(({ index, score }) => ({ index, label: names?.[index] ?? String(index), score })),
    );
  }
  return {
    name: 'classes.json',
    contentType: 'application/json',
    bytes: new TextEncoder().encode(JSON.stringify(result)),
  };
}

/** Runs the call on a loaded model; `summary` records what ran. */
export async function runMlCall(
  call: CheckedCall,
  model: LoadedModel,
  inputs: LibraryInput[],
  ort: OrtTensors,
): Promise<LibraryResult> {
  const { session } = model;
  const feeds = bindInputs(session, inputs, ort);
  const params = call.params;
  const wanted =
    call.method.method === 'infer'
      ? ((params['outputs'] as string[] | undefined) ?? session.outputNames)
      : [(params['output'] as string | undefined) ?? session.outputNames[0]!];
  for (const name of wanted) {
    if (!session.outputNames.includes(name)) {
      const field = call.method.method === 'infer' ? 'params.outputs' : 'params.output';
      throw new LibraryError(
        'TENSOR_MISMATCH',
        `the model has no output "${name}" (its outputs: ${session.outputNames.join(', ')})`,
        field,
      );
    }
  }
  let results: InferenceSession.ReturnType;
  try {
    results = await session.run(feeds, wanted);
  } catch (error) {
    throw ortError(error, 'run');
  }
  const first = wanted[0]!;
  const outputs =
    call.method.method === 'infer'
      ? wanted.map((name) => rawOutput(name, results[name]!))
      : call.method.method === 'embed'
        ? [embeddings(first, results[first]!, params['normalize'] === true)]
        : [classes(first, results[first]!, params, model.labels)];
  const batch = Object.values(feeds)[0]?.dims[0] ?? 0;
  return { outputs, summary: { batch: String(batch) } };
}

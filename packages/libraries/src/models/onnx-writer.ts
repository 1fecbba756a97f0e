// Writes ONNX models (ModelProto, onnx.proto3) from a small description, with @bufbuild/protobuf's
// wire writer: the test and example models are built from source in this repository, never
// downloaded. Field numbers are onnx.proto's.
import { BinaryWriter } from '@bufbuild/protobuf/wire';

/** ONNX TensorProto.DataType of the element types these models use. */
export const ONNX_DTYPE = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, float16: 10 } as const;
export type OnnxDtype = keyof typeof ONNX_DTYPE;

/** A graph input or output: a name, an element type, and dims (a string is a symbolic dim). */
export interface ValueInfo {
  name: string;
  dtype: OnnxDtype;
  shape: Array<number | string>;
}

/** A constant tensor (weights): float32 or int64 values. */
export interface Initializer {
  name: string;
  dims: number[];
  float32?: Float32Array;
  int64?: bigint[];
}

export type AttributeValue = number | number[] | string | { float: number };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, AttributeValue>;
  /** Operator domain ('' = the default ONNX domain). */
  domain?: string;
}

export interface OnnxModel {
  name: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  nodes: OnnxNode[];
  initializers: Initializer[];
  /** Free-form key/value metadata (ModelProto.metadata_props), e.g. `labels`. */
  metadata?: Record<string, string>;
  /** Opset of the default domain (13 unless set). */
  opset?: number;
}

const ATTR = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

function writeAttribute(w: BinaryWriter, name: string, value: AttributeValue): void {
  w.tag(1, 2).string(name);
  if (typeof value === 'string') {
    w.tag(4, 2).bytes(new TextEncoder().encode(value));
    w.tag(20, 0).int32(ATTR.STRING);
  } else if (Array.isArray(value)) {
    for (const v of value) w.tag(8, 0).int64(v);
    w.tag(20, 0).int32(ATTR.INTS);
  } else if (typeof value === 'object') {
    w.tag(2, 5).float(value.float);
    w.tag(20, 0).int32(ATTR.FLOAT);
  } else {
    w.tag(3, 0).int64(value);
    w.tag(20, 0).int32(ATTR.INT);
  }
}

function writeNode(w: BinaryWriter, node: OnnxNode, index: number): void {
  for (const input of node.inputs) w.tag(1, 2).string(input);
  for (const output of node.outputs) w.tag(2, 2).string(output);
  w.tag(3, 2).string(`${node.op.toLowerCase()}_${index}`);
  w.tag(4, 2).string(node.op);
  for (const [name, value] of Object.entries(node.attributes ?? {})) {
    w.tag(5, 2).fork();
    writeAttribute(w, name, value);
    w.join();
  }
  if (node.domain) w.tag(7, 2).string(node.domain);
}

function writeInitializer(w: BinaryWriter, t: Initializer): void {
  for (const d of t.dims) w.tag(1, 0).int64(d);
  if (t.float32) {
    w.tag(2, 0).int32(ONNX_DTYPE.float32);
    w.tag(8, 2).string(t.name);
    const raw = new Uint8Array(t.float32.buffer, t.float32.byteOffset, t.float32.byteLength);
    w.tag(9, 2).bytes(raw);
  } else {
    w.tag(2, 0).int32(ONNX_DTYPE.int64);
    for (const v of t.int64 ?? []) w.tag(7, 0).int64(v);
    w.tag(8, 2).string(t.name);
  }
}

function writeValueInfo(w: BinaryWriter, v: ValueInfo): void {
  w.tag(1, 2).string(v.name);
  w.tag(2, 2).fork(); // TypeProto
  w.tag(1, 2).fork(); // TypeProto.Tensor
  w.tag(1, 0).int32(ONNX_DTYPE[v.dtype]);
  w.tag(2, 2).fork(); // TensorShapeProto
  for (const dim of v.shape) {
    w.tag(1, 2).fork();
    if (typeof dim === 'string') w.tag(2, 2).string(dim);
    else w.tag(1, 0).int64(dim);
    w.join();
  }
  w.join().join().join();
}

/** The model's bytes: a ModelProto of IR version 8. */
export function writeOnnx(model: OnnxModel): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, 0).int64(8); // ir_version
  w.tag(2, 2).string('flock-models');
  w.tag(3, 2).string('1');
  w.tag(7, 2).fork(); // graph
  model.nodes.forEach((node, i) => {
    w.tag(1, 2).fork();
    writeNode(w, node, i);
    w.join();
  });
  w.tag(2, 2).string(model.name);
  for (const t of model.initializers) {
    w.tag(5, 2).fork();
    writeInitializer(w, t);
    w.join();
  }
  for (const v of model.inputs) {
    w.tag(11, 2).fork();
    writeValueInfo(w, v);
    w.join();
  }
  for (const v of model.outputs) {
    w.tag(12, 2).fork();
    writeValueInfo(w, v);
    w.join();
  }
  w.join();
  w.tag(8, 2).fork(); // opset_import
  w.tag(2, 0).int64(model.opset ?? 13);
  w.join();
  for (const [key, value] of Object.entries(model.metadata ?? {})) {
    w.tag(14, 2).fork();
    w.tag(1, 2).string(key);
    w.tag(2, 2).string(value);
    w.join();
  }
  return w.finish();
}

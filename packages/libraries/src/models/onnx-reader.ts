// Reads what Flock needs of an ONNX file without a runtime: that it is a ModelProto with a graph
// (the coordinator checks uploads with it), and its metadata (ml.classify's `labels`).
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

export interface OnnxInfo {
  irVersion: number;
  /** Opset of the default domain (0 when not imported). */
  opset: number;
  /** ModelProto.metadata_props. */
  metadata: Record<string, string>;
  /**
   * Bytes of the largest weight tensor (graph initializer): a WebGPU tab needs a storage buffer at
   * least this big (`maxStorageBufferBindingSize`).
   */
  largestTensorBytes: number;
}

/** Bytes per element of ONNX TensorProto.DataType (strings count 0: not held in a GPU buffer). */
const ELEMENT_BYTES: Readonly<Record<number, number>> = {
  1: 4,
  2: 1,
  3: 1,
  4: 2,
  5: 2,
  6: 4,
  7: 8,
  9: 1,
  10: 2,
  11: 8,
  12: 4,
  13: 8,
  16: 2,
};

/** A TensorProto's size in bytes from its dims and data type. */
function tensorBytes(bytes: Uint8Array): number {
  const r = new BinaryReader(bytes);
  let count = 1;
  let type = 0;
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.Varint) count *= Number(r.int64());
    else if (field === 1 && wire === WireType.LengthDelimited) {
      const packed = new BinaryReader(r.bytes());
      while (packed.pos < packed.len) count *= Number(packed.int64());
    } else if (field === 2 && wire === WireType.Varint) type = r.int32();
    else r.skip(wire, field);
  }
  return count * (ELEMENT_BYTES[type] ?? 0);
}

/** The largest initializer of a GraphProto, in bytes. */
function largestInitializer(graph: Uint8Array): number {
  const r = new BinaryReader(graph);
  let largest = 0;
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 5 && wire === WireType.LengthDelimited) largest = Math.max(largest, tensorBytes(r.bytes()));
    else r.skip(wire, field);
  }
  return largest;
}

/** Why bytes are not an ONNX model. */
export class OnnxFormatError extends Error {
  override name = 'OnnxFormatError';
}

function readEntry(bytes: Uint8Array): [string, string] {
  const r = new BinaryReader(bytes);
  let key = '';
  let value = '';
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.LengthDelimited) key = r.string();
    else if (field === 2 && wire === WireType.LengthDelimited) value = r.string();
    else r.skip(wire, field);
  }
  return [key, value];
}

function readOpset(bytes: Uint8Array): { domain: string; version: number } {
  const r = new BinaryReader(bytes);
  let domain = '';
  let version = 0;
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.LengthDelimited) domain = r.string();
    else if (field === 2 && wire === WireType.Varint) version = Number(r.int64());
    else r.skip(wire, field);
  }
  return { domain, version };
}

/**
 * The model's IR version, opset and metadata. Throws OnnxFormatError when the bytes are not a
 * ModelProto: malformed protobuf, no ir_version, or no graph.
 */
export function readOnnxInfo(bytes: Uint8Array): OnnxInfo {
  const r = new BinaryReader(bytes);
  let irVersion = 0;
  let graph = false;
  let opset = 0;
  let largestTensorBytes = 0;
  const metadata: Record<string, string> = {};
  try {
    while (r.pos < r.len) {
      const [field, wire] = r.tag();
      if (field === 1 && wire === WireType.Varint) irVersion = Number(r.int64());
      else if (field === 7 && wire === WireType.LengthDelimited) {
        largestTensorBytes = largestInitializer(r.bytes());
        graph = true;
      } else if (field === 8 && wire === WireType.LengthDelimited) {
        const set = readOpset(r.bytes());
        if (set.domain === '' || set.domain === 'ai.onnx') opset = set.version;
      } else if (field === 14 && wire === WireType.LengthDelimited) {
        const [key, value] = readEntry(r.bytes());
        metadata[key] = value;
      } else r.skip(wire, field);
    }
  } catch (error) {
    throw new OnnxFormatError(`not an ONNX model: ${(error as Error).message}`);
  }
  if (irVersion <= 0) throw new OnnxFormatError('not an ONNX model: no ir_version');
  if (!graph) throw new OnnxFormatError('not an ONNX model: no graph');
  return { irVersion, opset, metadata, largestTensorBytes };
}

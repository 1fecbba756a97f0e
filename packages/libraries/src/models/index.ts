// ONNX models and tensors without a runtime: writing the repo's models from source, reading an
// upload's metadata, and tensors as bytes (.npy).
export { OnnxFormatError, type OnnxInfo, readOnnxInfo } from './onnx-reader.ts';
export { type OnnxModel, writeOnnx } from './onnx-writer.ts';
export {
  DTYPE_BYTES,
  elementCount,
  isNpy,
  isTensorDtype,
  readNpy,
  TENSOR_DTYPES,
  type TensorDtype,
  type TensorShape,
  writeNpy,
} from './tensors.ts';
export {
  CNN_LABELS,
  cnnModel,
  exampleValues,
  mlpModel,
  pairModel,
  unsupportedOpModel,
  zooFiles,
} from './zoo.ts';

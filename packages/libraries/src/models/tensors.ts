// Tensors as bytes: the dtypes ml methods take, their typed arrays, and NumPy's .npy format (so a
// requester can hand over `np.save` files, and gets them back from `flock result`).
import { LibraryError } from '../library-error.ts';

/** A tensor's element type and dims (the protocol's TensorSpec, with both fields present). */
export interface TensorShape {
  dtype: TensorDtype;
  shape: number[];
}

export const TENSOR_DTYPES = ['float32', 'float16', 'int32', 'int64', 'int8', 'uint8', 'bool'] as const;
export type TensorDtype = (typeof TENSOR_DTYPES)[number];

export const DTYPE_BYTES: Readonly<Record<TensorDtype, number>> = {
  float32: 4,
  float16: 2,
  int32: 4,
  int64: 8,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** NumPy's descr of each dtype (little-endian). */
const NPY_DESCR: Readonly<Record<TensorDtype, string>> = {
  float32: '<f4',
  float16: '<f2',
  int32: '<i4',
  int64: '<i8',
  int8: '|i1',
  uint8: '|u1',
  bool: '|b1',
};

export function isTensorDtype(value: string): value is TensorDtype {
  return (TENSOR_DTYPES as readonly string[]).includes(value);
}

export const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The typed array over `bytes` (copied when unaligned), for a runtime's tensor constructor. */
export function typedView(
  dtype: TensorDtype,
  bytes: Uint8Array,
): Float32Array | Uint16Array | Int32Array | BigInt64Array | Int8Array | Uint8Array {
  const size = DTYPE_BYTES[dtype];
  const aligned = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  const { buffer, byteOffset, byteLength } = aligned;
  const n = byteLength / size;
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer, byteOffset, n);
    case 'float16':
      return new Uint16Array(buffer, byteOffset, n);
    case 'int32':
      return new Int32Array(buffer, byteOffset, n);
    case 'int64':
      return new BigInt64Array(buffer, byteOffset, n);
    case 'int8':
      return new Int8Array(buffer, byteOffset, n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buffer, byteOffset, n);
  }
}

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export function isNpy(bytes: Uint8Array): boolean {
  return NPY_MAGIC.every((b, i) => bytes[i] === b);
}

/** Reads an .npy file (version 1–3, C order): its dtype, shape and the bytes of its data. */
export function readNpy(bytes: Uint8Array, field: string): TensorShape & { data: Uint8Array } {
  const bad = (why: string): never => {
    throw new LibraryError('INVALID_INPUT', `not a readable .npy file: ${why}`, field);
  };
  if (!isNpy(bytes) || bytes.byteLength < 10) bad('no \\x93NUMPY magic');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6]!;
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLength > bytes.byteLength) bad('truncated header');
  // A copy: in a tab the input is a view of the executor's shared arena, and browsers'
  // TextDecoder refuses views of shared memory.
  const header = new TextDecoder().decode(bytes.slice(start, start + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const order = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const dims = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || order === undefined || dims === undefined)
    bad('header lacks descr, fortran_order or shape');
  if (order === 'True') bad('Fortran order is not supported (save with C order)');
  const dtype = (Object.keys(NPY_DESCR) as TensorDtype[]).find(
    (d) => NPY_DESCR[d] === descr!.replace('=', '<'),
  );
  if (!dtype) bad(`dtype ${descr} is not one of ${TENSOR_DTYPES.join(', ')} (little-endian)`);
  const shape = dims!
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d !== '')
    .map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) bad(`bad shape (${dims})`);
  const data = bytes.subarray(start + headerLength);
  const want = elementCount(shape) * DTYPE_BYTES[dtype!];
  if (data.byteLength !== want)
    bad(`shape ${JSON.stringify(shape)} needs ${want} bytes of data, has ${data.byteLength}`);
  return { dtype: dtype!, shape, data };
}

/** Writes an .npy file (version 1.0) of `data` with `dtype` and `shape`. */
export function writeNpy(tensor: TensorShape, data: Uint8Array): Uint8Array {
  const dims = tensor.shape.length === 1 ? `${tensor.shape[0]},` : tensor.shape.join(', ');
  let header = `{'descr': '${NPY_DESCR[tensor.dtype]}', 'fortran_order': False, 'shape': (${dims}), }`;
  // Data starts at a multiple of 64 bytes; the header ends with a newline.
  const pad = 64 - ((10 + header.length + 1) % 64);
  header = `${header}${' '.repeat(pad % 64)}\n`;
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(NPY_MAGIC);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(data, 10 + header.length);
  return out;
}

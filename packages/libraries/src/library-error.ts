/**
 * Why a library call is refused or failed, with a stable code. The coordinator answers the first
 * four at submit (400, with `field`); the tab fails a job with the code (retryable only for
 * LIBRARY_LOAD_FAILED and DEVICE_LOST, which another tab, or another try, may not meet).
 */
export type LibraryErrorCode =
  | 'UNKNOWN_LIBRARY'
  | 'UNKNOWN_METHOD'
  | 'INVALID_PARAMS'
  | 'INPUT_COUNT'
  | 'INPUT_TOO_LARGE'
  | 'OUTPUT_TOO_LARGE'
  /** An image declaring more pixels than the limit (a decompression bomb), refused before decoding. */
  | 'PIXEL_LIMIT'
  /** Bytes the library cannot read: a truncated JPEG, malformed Parquet, not audio. */
  | 'INVALID_INPUT'
  /** The call reaches for something outside its inputs: a file, the network, an extension. */
  | 'FORBIDDEN'
  | 'LIBRARY_LOAD_FAILED'
  /** The library itself failed on valid input (its message says how). */
  | 'LIBRARY_ERROR'
  /** ml: the model is not an ONNX model the runtime can read. */
  | 'INVALID_MODEL'
  /** ml: the model uses an operator this runtime does not have (the message names it). */
  | 'UNSUPPORTED_OP'
  /** ml: an input tensor does not fit the model: an unknown name, a wrong dtype or shape. */
  | 'TENSOR_MISMATCH'
  /** ml: the GPU device was lost mid-run (a driver reset): another try may run elsewhere. */
  | 'DEVICE_LOST';

export class LibraryError extends Error {
  constructor(
    readonly code: LibraryErrorCode,
    message: string,
    /** The params path at fault (`params.width`, `inputs[1]`), when there is one. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'LibraryError';
  }

  get retryable(): boolean {
    return this.code === 'LIBRARY_LOAD_FAILED' || this.code === 'DEVICE_LOST';
  }
}

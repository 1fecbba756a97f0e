/**
 * Why a library call is refused or failed, with a stable code. The coordinator answers the first
 * four at submit (400, with `field`); the tab fails a job with the code (retryable only for
 * LIBRARY_LOAD_FAILED, which another tab may not meet).
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
  | 'LIBRARY_ERROR';

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
    return this.code === 'LIBRARY_LOAD_FAILED';
  }
}

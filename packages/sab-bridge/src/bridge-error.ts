/** Stable codes of every error the bridge throws. Expected conditions (full ring, empty ring, full arena) are values, not errors. */
export type BridgeErrorCode =
  | 'NOT_SHARED' // attach()/create() got something that is not a SharedArrayBuffer
  | 'BAD_MAGIC' // the buffer does not start with a bridge header: foreign or never created
  | 'BAD_VERSION' // a bridge of another layout version
  | 'CORRUPT_HEADER' // header checksum or sizes do not match
  | 'BUFFER_TOO_SMALL' // the buffer cannot hold the layout at that offset
  | 'BAD_OFFSET' // byteOffset not a multiple of 64
  | 'INVALID_CONFIG' // sizes not powers of two, out of range
  | 'INVALID_ARGUMENT' // a negative, fractional or out-of-range length, owner or timeout
  | 'RECORD_TOO_LARGE' // a record that can never fit the ring
  | 'CORRUPT_RING' // a record length that cannot be: the ring memory was overwritten
  | 'STALE_HANDLE' // an arena handle that was freed, reallocated or never existed
  | 'GUARD_CORRUPT' // a canary between regions was overwritten
  | 'CANNOT_BLOCK' // Atomics.wait is not allowed on this thread (a browser main thread)
  | 'REGION_OVERLAP'; // a WebAssembly module's own data reaches into the bridge

/** The one error class of @flock/sab-bridge; `code` is stable, `message` is for people. */
export class BridgeError extends Error {
  override readonly name = 'BridgeError';
  readonly code: BridgeErrorCode;

  constructor(code: BridgeErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

/** Stable codes of every protocol failure: decoding, the JSON view, and envelope validation. */
export type ProtocolErrorCode =
  // framing and decoding
  | 'FRAME_TOO_LARGE'
  | 'FRAME_TOO_SHORT'
  | 'MALFORMED_FRAME'
  | 'TOO_MANY_SEGMENTS'
  | 'TOO_MANY_FRAMES'
  | 'TRAVERSAL_LIMIT'
  | 'NESTING_TOO_DEEP'
  | 'LIST_TOO_LONG'
  | 'VALUE_OUT_OF_RANGE'
  | 'UNKNOWN_ENUM'
  | 'PAYLOAD_MISSING'
  // JSON view
  | 'INVALID_JSON'
  | 'WRONG_TYPE'
  | 'UNKNOWN_FIELD'
  | 'INVALID_BASE64'
  | 'NOT_EXCLUSIVE'
  | 'PARAMS_TOO_LARGE'
  | 'PARAMS_TOO_DEEP'
  | 'FORBIDDEN_KEY'
  | 'INVALID_TEXT'
  // validation (compute-events.md rules 1-6 and Flock's own)
  | 'MISSING_FIELD'
  | 'INVALID_FIELD'
  | 'BODY_NOT_EXCLUSIVE'
  | 'BODY_MISSING'
  | 'GPU_REQUIREMENT_MISSING'
  | 'HASH_REQUIRED'
  | 'INVALID_HASH'
  | 'MODULE_SOURCE_MISSING'
  | 'QOS_OUT_OF_RANGE'
  | 'TOKEN_REQUIRED'
  | 'INVALID_TOKEN'
  // params the protocol itself defines (a WASI task's mounts and collect)
  | 'INVALID_PARAMS';

/**
 * The one error type of @flock/protocol. `code` is stable and safe to show to clients; `field` is
 * the offending field's path in JSON-view names (`inputs[0].inline_bytes`) when there is one.
 */
export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  readonly field: string | undefined;

  constructor(code: ProtocolErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
    this.field = field;
  }
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${String(value)}`);
}

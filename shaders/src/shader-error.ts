/** Stable codes of every error the built-in ops raise (STYLE.md 5). */
export type ShaderErrorCode =
  | 'UNKNOWN_OP'
  | 'MISSING_INPUT'
  | 'UNKNOWN_INPUT'
  | 'BAD_INPUT_SIZE'
  | 'BAD_INPUT'
  | 'BAD_PARAM'
  | 'LIMIT_EXCEEDED'
  | 'WASM_UNAVAILABLE'
  | 'GPU_ERROR';

/** Bad input, bad params, limits that do not fit, or a GPU/WASM failure of a built-in op. */
export class ShaderError extends Error {
  readonly code: ShaderErrorCode;
  /** The input or param name at fault, when there is one. */
  readonly field: string | undefined;

  constructor(code: ShaderErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'ShaderError';
    this.code = code;
    this.field = field;
  }
}

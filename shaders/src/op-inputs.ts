// Validation of an op call's inputs and JSON params against its contract, and typed views of
// tensor bytes. Everything here throws ShaderError with a stable code.
import type { ParamContract, TensorContract, Tensors } from './op-definition.ts';
import { ShaderError } from './shader-error.ts';

const DTYPE_BYTES = { f32: 4, u32: 4, u8: 1, c64: 8 } as const;

/** Checks that exactly the contract's inputs are present and each has whole elements. */
export function checkInputs(contract: readonly TensorContract[], inputs: Tensors): void {
  for (const spec of contract) {
    const bytes = inputs[spec.name];
    if (bytes === undefined)
      throw new ShaderError('MISSING_INPUT', `input "${spec.name}" is required`, spec.name);
    const width = DTYPE_BYTES[spec.dtype];
    if (bytes.byteLength % width !== 0) {
      throw new ShaderError(
        'BAD_INPUT_SIZE',
        `input "${spec.name}" (${spec.dtype}) has ${bytes.byteLength} bytes, not a multiple of ${width}`,
        spec.name,
      );
    }
  }
  for (const name of Object.keys(inputs)) {
    if (!contract.some((spec) => spec.name === name)) {
      throw new ShaderError('UNKNOWN_INPUT', `input "${name}" is not an input of this op`, name);
    }
  }
}

/**
 * Reads JSON params against the contract: defaults filled, bools as 0/1, u32 integral, ranges
 * checked, unknown names rejected.
 */
export function readParams(
  contract: readonly ParamContract[],
  params: Readonly<Record<string, unknown>>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of Object.keys(params)) {
    if (!contract.some((spec) => spec.name === name)) {
      throw new ShaderError('BAD_PARAM', `param "${name}" is not a param of this op`, name);
    }
  }
  for (const spec of contract) {
    const raw = Object.hasOwn(params, spec.name) ? params[spec.name] : spec.default;
    if (raw === undefined) throw new ShaderError('BAD_PARAM', `param "${spec.name}" is required`, spec.name);
    if (spec.type === 'bool') {
      if (typeof raw !== 'boolean')
        throw new ShaderError('BAD_PARAM', `param "${spec.name}" must be a boolean`, spec.name);
      out[spec.name] = raw ? 1 : 0;
      continue;
    }
    if (typeof raw !== 'number' || !Number.isFinite(raw)) {
      throw new ShaderError('BAD_PARAM', `param "${spec.name}" must be a finite number`, spec.name);
    }
    if (spec.type === 'u32' && (!Number.isInteger(raw) || raw < 0 || raw > 0xffff_ffff)) {
      throw new ShaderError(
        'BAD_PARAM',
        `param "${spec.name}" must be an unsigned 32-bit integer`,
        spec.name,
      );
    }
    if ((spec.min !== undefined && raw < spec.min) || (spec.max !== undefined && raw > spec.max)) {
      throw new ShaderError(
        'BAD_PARAM',
        `param "${spec.name}" = ${raw} is outside [${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}]`,
        spec.name,
      );
    }
    out[spec.name] = raw;
  }
  return out;
}

/** Throws BAD_INPUT_SIZE for `field` unless `ok`. */
export function requireSize(ok: boolean, field: string, message: string): void {
  if (!ok) throw new ShaderError('BAD_INPUT_SIZE', message, field);
}

function aligned(bytes: Uint8Array): Uint8Array {
  // Typed views need 4-byte alignment; DataRef bytes may sit anywhere in a frame.
  return bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
}

/** The bytes as f32 elements (copied only when misaligned). */
export function f32View(bytes: Uint8Array): Float32Array {
  const a = aligned(bytes);
  return new Float32Array(a.buffer, a.byteOffset, a.byteLength >>> 2);
}

/** The bytes as u32 elements (copied only when misaligned). */
export function u32View(bytes: Uint8Array): Uint32Array {
  const a = aligned(bytes);
  return new Uint32Array(a.buffer, a.byteOffset, a.byteLength >>> 2);
}

/** The bytes of a typed array, without copying. */
export function bytesOf(view: Float32Array | Uint32Array | Uint8Array): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** Byte length rounded up to a multiple of 4 (GPU buffer sizes and copies need it). */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

/** Workgroup count for `n` items at `size` per workgroup. */
export function groups(n: number, size: number): number {
  return Math.ceil(n / size);
}

/** The most workgroups per dimension every WebGPU device allows (the default limit). */
export const MAX_GROUPS_PER_DIM = 65_535;

/**
 * A 2D grid of at least `count` workgroups, for kernels that number their workgroups
 * `wid.y * nwg.x + wid.x`: one row when it fits, else rows of `perDim` (the device's
 * maxComputeWorkgroupsPerDimension).
 */
export function grid(count: number, perDim = MAX_GROUPS_PER_DIM): [number, number, number] {
  if (count <= perDim) return [count, 1, 1];
  return [perDim, Math.ceil(count / perDim), 1];
}

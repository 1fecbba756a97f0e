// Measures an op output against its CPU reference with the op's metric (see ErrorBound).

import { getOp } from './manifest.ts';
import type { BuiltinOp, ErrorBound, Tensors } from './op-definition.ts';
import { f32View, u32View } from './op-inputs.ts';

/** The error of `actual` against `expected` for one op call, and whether it is within bound. */
export interface ErrorMeasure {
  readonly metric: ErrorBound['metric'];
  readonly value: number;
  readonly bound: number;
  readonly ok: boolean;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** ||a - b||_2 / ||b||_2 in f64 (0 when both are zero; Infinity on a length mismatch or NaN). */
export function relativeL2(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    diff += d * d;
    norm += b[i]! * b[i]!;
  }
  if (Number.isNaN(diff)) return Number.POSITIVE_INFINITY;
  if (norm === 0) return diff === 0 ? 0 : Number.POSITIVE_INFINITY;
  return Math.sqrt(diff / norm);
}

/**
 * Compares every output of an op call with the reference. `inputs` are needed by the
 * `abs_over_l1` metric (reduce_sum), which scales by sum(|x|).
 */
export function measureError(
  op: BuiltinOp,
  inputs: Tensors,
  actual: Tensors,
  expected: Tensors,
): ErrorMeasure {
  const bound = getOp(op).errorBound;
  let worst = 0;
  for (const [name, ref] of Object.entries(expected)) {
    const out = actual[name];
    let value: number;
    if (out === undefined) value = Number.POSITIVE_INFINITY;
    else if (bound.metric === 'exact') value = sameBytes(out, ref) ? 0 : 1;
    else if (bound.metric === 'rel_l2') value = relativeL2(f32View(out), f32View(ref));
    else if (bound.metric === 'mismatch_fraction') {
      const a = u32View(out);
      const b = u32View(ref);
      let differ = a.length === b.length ? 0 : b.length;
      for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) differ++;
      value = b.length === 0 ? 0 : differ / b.length;
    } else {
      let l1 = 0;
      for (const x of Object.values(inputs)) for (const v of f32View(x)) l1 += Math.abs(v);
      const d = Math.abs(f32View(out)[0]! - f32View(ref)[0]!);
      value = Number.isNaN(d)
        ? Number.POSITIVE_INFINITY
        : l1 === 0
          ? d === 0
            ? 0
            : Number.POSITIVE_INFINITY
          : d / l1;
    }
    worst = Math.max(worst, value);
  }
  const limit = bound.metric === 'exact' ? 0 : bound.bound;
  return { metric: bound.metric, value: worst, bound: limit, ok: worst <= limit };
}

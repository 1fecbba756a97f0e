import type { DataRef, JsonObject, TensorSpec } from '@flock/protocol';
import { BUILTIN_OPS } from './builtin-catalog.ts';

const PREFIX = 'flock.params.';
const KEEP = 500;

/**
 * Remembers the params of a built-in op task submitted from this tab (sessionStorage), so that
 * its outputs can be shaped for preview when the worker reports bytes without a TensorSpec.
 */
export function rememberParams(taskId: string, params: JsonObject): void {
  try {
    sessionStorage.setItem(`${PREFIX}${taskId}`, JSON.stringify(params));
    const keys = Object.keys(sessionStorage).filter((k) => k.startsWith(PREFIX));
    for (const key of keys.slice(0, Math.max(0, keys.length - KEEP))) sessionStorage.removeItem(key);
  } catch {
    // Storage full or denied: previews fall back to values.
  }
}

function recalledParams(taskId: string): Record<string, unknown> {
  try {
    return JSON.parse(sessionStorage.getItem(`${PREFIX}${taskId}`) ?? '{}') as Record<string, unknown>;
  } catch {
    return {};
  }
}

/**
 * The output's TensorSpec: its own when the worker sent one; else, for a built-in op, the dtype
 * of the op's contract and the shape resolved from the task's params (remembered, or the params'
 * defaults), when every dimension resolves.
 */
export function outputTensor(op: string, taskId: string, ref: DataRef): TensorSpec | undefined {
  if (ref.tensor?.dtype !== undefined) return ref.tensor;
  const entry = BUILTIN_OPS.find((o) => o.op === op);
  const contract = entry?.outputs.find((t) => t.name === ref.name);
  if (entry === undefined || contract === undefined) return undefined;
  const params = recalledParams(taskId);
  const shape = contract.shape.map((dim) => {
    if (/^\d+$/.test(dim)) return Number(dim);
    const value = params[dim] ?? entry.params.find((p) => p.name === dim)?.default;
    return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : Number.NaN;
  });
  return shape.some(Number.isNaN) ? { dtype: contract.dtype } : { dtype: contract.dtype, shape };
}

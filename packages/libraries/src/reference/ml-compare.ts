// ml outputs against the reference: raw tensors element by element within a tolerance (execution
// providers sum in other orders), and top-k classes by their scores.
import type { ClassScore } from '../runtime/ml-job.ts';

/** |a − b| ≤ atol + rtol·max(|a|, |b|); NaN agrees only with NaN. */
export function close(a: number, b: number, atol: number, rtol: number): boolean {
  if (a === b) return true;
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  return Math.abs(a - b) <= atol + rtol * Math.max(Math.abs(a), Math.abs(b));
}

/** The largest |a − b| of two float32 tensors' elements (Infinity when their lengths differ). */
export function maxAbsDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.byteLength !== b.byteLength || a.byteLength % 4 !== 0) return Number.POSITIVE_INFINITY;
  const x = new Float32Array(a.slice().buffer);
  const y = new Float32Array(b.slice().buffer);
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]! - y[i]!));
  return max;
}

function tensorsAgree(a: Uint8Array, b: Uint8Array, atol: number, rtol: number): boolean {
  if (a.byteLength !== b.byteLength || a.byteLength % 4 !== 0) return false;
  const x = new Float32Array(a.slice().buffer);
  const y = new Float32Array(b.slice().buffer);
  for (let i = 0; i < x.length; i++) if (!close(x[i]!, y[i]!, atol, rtol)) return false;
  return true;
}

/**
 * Top-k lists agree row by row: classes both name score within `atol`, and a class only one of
 * them names scores within `atol` of the other's last (a near tie at the cut may swap).
 */
function classesAgree(a: Uint8Array, b: Uint8Array, atol: number): boolean {
  const x = JSON.parse(new TextDecoder().decode(a)) as ClassScore[][];
  const y = JSON.parse(new TextDecoder().decode(b)) as ClassScore[][];
  if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length) return false;
  return x.every((row, r) => {
    const other = y[r]!;
    if (row.length !== other.length) return false;
    const last = (list: ClassScore[]) => list[list.length - 1]?.score ?? 0;
    const oneWay = (p: ClassScore[], q: ClassScore[]) =>
      p.every((c) => {
        const match = q.find((d) => d.index === c.index);
        if (match) return match.label === c.label && close(c.score, match.score, atol, 0);
        return close(c.score, last(q), atol, 0);
      });
    return oneWay(row, other) && oneWay(other, row);
  });
}

export function mlAgrees(
  rule: { kind: 'tensors'; atol: number; rtol: number } | { kind: 'classes'; atol: number },
  a: Uint8Array,
  b: Uint8Array,
): boolean {
  return rule.kind === 'tensors' ? tensorsAgree(a, b, rule.atol, rule.rtol) : classesAgree(a, b, rule.atol);
}

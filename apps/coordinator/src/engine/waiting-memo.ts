// Waiting reasons shared within one request: queued tasks with the same requirements get the same
// answer, worked out once.
import type { Constraint } from '@flock/protocol';

/**
 * The waiting reasons one request has worked out, by requirements (`requirements.min`, GPU or
 * not). A campaign's 201 views each of its tasks, which nearly always share their requirements:
 * a task's are compared with the previous task's first, and the key (their JSON text) is made only
 * when they differ.
 */
export class WaitingMemo {
  private readonly byKey = new Map<string, string>();
  private last: { min: Constraint | undefined; gpu: boolean; reason: string } | undefined;

  get(min: Constraint | undefined, gpu: boolean): string | undefined {
    const last = this.last;
    if (last && last.gpu === gpu && sameJson(last.min, min)) return last.reason;
    const reason = this.byKey.get(keyOf(min, gpu));
    if (reason !== undefined) this.last = { min, gpu, reason };
    return reason;
  }

  set(min: Constraint | undefined, gpu: boolean, reason: string): void {
    this.byKey.set(keyOf(min, gpu), reason);
    this.last = { min, gpu, reason };
  }
}

function keyOf(min: Constraint | undefined, gpu: boolean): string {
  return JSON.stringify([min ?? null, gpu]);
}

/**
 * Whether two JSON-like values are equal member by member (key order aside). It may say false for
 * values that are alike (a NaN, an undefined member): the memo then just looks up by key.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  let members = 0;
  for (const key in a) {
    if (!Object.hasOwn(a, key)) continue;
    members++;
    if (!Object.hasOwn(b, key)) return false;
    if (!sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false;
  }
  for (const key in b) if (Object.hasOwn(b, key)) members--;
  return members === 0;
}

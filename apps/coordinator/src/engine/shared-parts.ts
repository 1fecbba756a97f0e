// A campaign's tasks mostly name the same module and requirements. Parsed per task they were three
// objects a task held for as long as it was open (module, requirements, requirements.min: 165 of
// the 1.1 KB a queued task took); equal ones are now one shared, frozen object.
import type { ComputeEnvelope } from '@flock/protocol';

/** Byte arrays up to this size are compared by content; larger ones must be the same array. */
const SMALL_BYTES = 1024;

/**
 * Remembers the last distinct `module` and `requirements` it was given and puts them in the place
 * of equal ones. What it hands out is frozen (its byte arrays excepted: they cannot be), so code
 * that would change one task's module or requirements in place throws instead of changing them
 * for every task that shares them.
 */
export class SharedParts {
  private module: ComputeEnvelope['module'];
  private requirements: ComputeEnvelope['requirements'];

  /** Replaces `envelope.module` and `envelope.requirements` by equal ones seen before. */
  share(envelope: ComputeEnvelope): void {
    const { module, requirements } = envelope;
    if (module !== undefined) {
      if (this.module !== undefined && sameJson(this.module, module)) envelope.module = this.module;
      else this.module = deepFreeze(module);
    }
    if (requirements !== undefined) {
      if (this.requirements !== undefined && sameJson(this.requirements, requirements))
        envelope.requirements = this.requirements;
      else this.requirements = deepFreeze(requirements);
    }
  }
}

/** Equality of JSON-like values: plain objects by own keys, arrays, primitives, small byte arrays. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.length !== b.length) return false;
    if (a.length > SMALL_BYTES) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  let keys = 0;
  for (const key in a) {
    if (!sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false;
    keys += 1;
  }
  for (const _ in b) keys -= 1;
  return keys === 0;
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || Object.isFrozen(value))
    return value;
  for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
  return Object.freeze(value);
}

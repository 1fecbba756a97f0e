// Counts the reads a decoder makes from its input: every DataView getter call while `fn` runs.
// capnp-es reads every word of a message through DataView, so this count is a machine-independent
// measure of decoding work, used to show that work stays proportional to the input size.
const GETTERS = [
  'getInt8',
  'getUint8',
  'getInt16',
  'getUint16',
  'getInt32',
  'getUint32',
  'getFloat32',
  'getFloat64',
  'getBigInt64',
  'getBigUint64',
] as const;

export interface Work<T> {
  /** DataView reads made while running. */
  reads: number;
  /** What `fn` returned, when it returned. */
  value?: T;
  /** What `fn` threw, when it threw. */
  error?: unknown;
}

export function measureWork<T>(fn: () => T): Work<T> {
  const proto = DataView.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const originals = GETTERS.map((name) => proto[name]!);
  let reads = 0;
  GETTERS.forEach((name, i) => {
    const original = originals[i]!;
    proto[name] = function (this: DataView, ...args: unknown[]) {
      reads++;
      return original.apply(this, args);
    };
  });
  try {
    const value = fn();
    return { reads, value };
  } catch (error) {
    return { reads, error };
  } finally {
    GETTERS.forEach((name, i) => {
      proto[name] = originals[i]!;
    });
  }
}

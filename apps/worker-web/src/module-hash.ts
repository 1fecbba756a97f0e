// Module integrity: the declared hash is checked with hash-wasm before any byte is compiled.
import { blake3, sha256 } from 'hash-wasm';
import { ExecutorError } from './executor-error.ts';

const HASH = /^(sha256|blake3):([0-9a-f]{64})$/;

/** Computes "sha256:<hex>" of `bytes`. */
export async function sha256Ref(bytes: Uint8Array): Promise<string> {
  return `sha256:${await sha256(bytes)}`;
}

/**
 * Verifies `bytes` against `expected` ("sha256:<hex>" or "blake3:<hex>"). Throws HASH_MISMATCH
 * when the digest differs or the reference is malformed; returns the verified reference.
 */
export async function verifyModuleHash(
  bytes: Uint8Array,
  expected: string,
  what = 'module',
): Promise<string> {
  const match = HASH.exec(expected.toLowerCase());
  if (!match) {
    throw new ExecutorError(
      'HASH_MISMATCH',
      `${what} hash "${expected}" is not sha256:<hex> or blake3:<hex>`,
    );
  }
  const algorithm = match[1] as 'sha256' | 'blake3';
  const actual = algorithm === 'sha256' ? await sha256(bytes) : await blake3(bytes);
  if (actual !== match[2]) {
    throw new ExecutorError('HASH_MISMATCH', `${what} ${algorithm} is ${actual}, expected ${match[2]}`);
  }
  return `${algorithm}:${actual}`;
}

/** sha256 of an output, for its DataRef (streamed outputs declare it). */
export const outputHash = sha256Ref;

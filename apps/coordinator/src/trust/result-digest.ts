import { createHash } from 'node:crypto';
import type { ComputeResult } from '@flock/protocol';
import { sha256Hex } from '../sha256.ts';
import { TrustError } from './trust-error.ts';
import type { ResolvedPolicy } from './verification-policy.ts';

/**
 * One output of a replica as the trust engine sees it: its bytes when the coordinator has them
 * (inline, or loaded from the blob store), else the `sha256:` hash the worker declared.
 */
export interface ReplicaOutput {
  readonly name: string;
  readonly bytes?: Uint8Array;
  readonly hash?: string;
}

/** A replica's outputs reduced to what comparison needs; stored with the task. */
export interface ResultDigest {
  /** sha256 over the outputs' names and hashes, sorted by name: equal digests, equal results. */
  readonly hash: string;
  /** Output name → `sha256:<hex>` of its bytes. */
  readonly outputs: Readonly<Record<string, string>>;
  /** Tolerance comparator only: output name → its bytes, read as little-endian f32. */
  readonly bytes?: Readonly<Record<string, Uint8Array>>;
}

/** `sha256:<hex>` of bytes, the form of DataRef.hash and ModuleSpec.hash. */
export function sha256Of(bytes: Uint8Array): string {
  return `sha256:${sha256Hex(bytes)}`;
}

/**
 * The outputs of a ComputeResult: inline bytes, inline JSON (as UTF-8), or a uri with its hash.
 * `load` supplies the bytes of uri outputs when the coordinator has them (blob store).
 */
export function outputsOf(
  result: ComputeResult,
  load?: (uri: string) => Uint8Array | undefined,
): ReplicaOutput[] {
  const outs = result.outputs ?? [];
  return outs.map((ref, i) => {
    const name = ref.name ?? `#${i}`;
    if (ref.inline_bytes !== undefined) return { name, bytes: ref.inline_bytes };
    if (ref.inline_json !== undefined) return { name, bytes: new TextEncoder().encode(ref.inline_json) };
    const loaded = ref.uri === undefined ? undefined : load?.(ref.uri);
    if (loaded !== undefined) return { name, bytes: loaded };
    if (ref.hash) return { name, hash: ref.hash };
    throw new TrustError('OUTPUT_MISSING', `output "${name}" has no bytes and no hash`, `outputs[${i}]`);
  });
}

/** Digests a replica's outputs for `policy`'s comparator; throws OUTPUT_MISSING / NOT_F32. */
export function digestOutputs(
  outputs: readonly ReplicaOutput[],
  policy: Pick<ResolvedPolicy, 'comparator'>,
): ResultDigest {
  const sorted = [...outputs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const hashes: Record<string, string> = {};
  const bytes: Record<string, Uint8Array> = {};
  const whole = createHash('sha256');
  for (const out of sorted) {
    let hash: string;
    if (out.bytes !== undefined) hash = sha256Of(out.bytes);
    else if (out.hash) hash = out.hash;
    else throw new TrustError('OUTPUT_MISSING', `output "${out.name}" has no bytes and no hash`, out.name);
    if (policy.comparator === 'tolerance') {
      if (out.bytes === undefined) {
        throw new TrustError(
          'OUTPUT_MISSING',
          `the tolerance comparator needs the bytes of "${out.name}"`,
          out.name,
        );
      }
      if (out.bytes.byteLength % 4 !== 0) {
        throw new TrustError(
          'NOT_F32',
          `output "${out.name}" is ${out.bytes.byteLength} bytes, not f32 elements`,
          out.name,
        );
      }
      bytes[out.name] = out.bytes;
    }
    hashes[out.name] = hash;
    whole.update(`${out.name.length}:${out.name}=${hash}\n`);
  }
  const hash = `sha256:${whole.digest('hex')}`;
  return policy.comparator === 'tolerance' ? { hash, outputs: hashes, bytes } : { hash, outputs: hashes };
}

function f32Close(a: Uint8Array, b: Uint8Array, abs: number, rel: number): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const va = new DataView(a.buffer, a.byteOffset, a.byteLength);
  const vb = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < a.byteLength; i += 4) {
    const x = va.getFloat32(i, true);
    const y = vb.getFloat32(i, true);
    if (x === y) continue; // also equal infinities
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (Number.isNaN(x) && Number.isNaN(y)) continue;
      return false;
    }
    if (!(Math.abs(x - y) <= abs + rel * Math.max(Math.abs(x), Math.abs(y)))) return false;
  }
  return true;
}

/**
 * Whether two replicas agree: the same digest, or (tolerance comparator) the same output names
 * and lengths with every f32 element within absTolerance + relTolerance · max(|a|, |b|).
 * NaN agrees only with NaN.
 */
export function sameResult(
  a: ResultDigest,
  b: ResultDigest,
  policy: Pick<ResolvedPolicy, 'comparator' | 'absTolerance' | 'relTolerance'>,
): boolean {
  if (a.hash === b.hash) return true;
  if (policy.comparator === 'exact' || a.bytes === undefined || b.bytes === undefined) return false;
  const names = Object.keys(a.bytes);
  if (names.length !== Object.keys(b.bytes).length) return false;
  for (const name of names) {
    const y = b.bytes[name];
    if (y === undefined || !f32Close(a.bytes[name]!, y, policy.absTolerance, policy.relTolerance))
      return false;
  }
  return true;
}

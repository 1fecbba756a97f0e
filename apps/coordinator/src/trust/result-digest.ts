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
  /** Its DataRef's content type; `application/json` outputs compare as JSON under tolerance. */
  readonly contentType?: string;
}

/** A replica's outputs reduced to what comparison needs; stored with the task. */
export interface ResultDigest {
  /** sha256 over the outputs' names and hashes, sorted by name: equal digests, equal results. */
  readonly hash: string;
  /** Output name → `sha256:<hex>` of its bytes. */
  readonly outputs: Readonly<Record<string, string>>;
  /** Tolerance comparator only: output name → its bytes, read as little-endian f32 or as JSON. */
  readonly bytes?: Readonly<Record<string, Uint8Array>>;
  /** Tolerance comparator only: the outputs (names) that are JSON, compared structurally. */
  readonly json?: readonly string[];
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
    const type = ref.content_type ? { contentType: ref.content_type } : {};
    if (ref.inline_bytes !== undefined) return { name, bytes: ref.inline_bytes, ...type };
    if (ref.inline_json !== undefined) {
      return { name, bytes: new TextEncoder().encode(ref.inline_json), contentType: JSON_TYPE };
    }
    const loaded = ref.uri === undefined ? undefined : load?.(ref.uri);
    if (loaded !== undefined) return { name, bytes: loaded, ...type };
    if (ref.hash) return { name, hash: ref.hash, ...type };
    throw new TrustError('OUTPUT_MISSING', `output "${name}" has no bytes and no hash`, `outputs[${i}]`);
  });
}

const JSON_TYPE = 'application/json';

const isJson = (out: ReplicaOutput): boolean =>
  (out.contentType ?? '').split(';')[0]!.trim().toLowerCase() === JSON_TYPE;

/**
 * Digests a replica's outputs for `policy`'s comparator; throws OUTPUT_MISSING / NOT_F32 (a binary
 * output under the tolerance comparator must be f32 elements; a JSON one may be any JSON).
 */
export function digestOutputs(
  outputs: readonly ReplicaOutput[],
  policy: Pick<ResolvedPolicy, 'comparator'>,
): ResultDigest {
  const sorted = [...outputs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const hashes: Record<string, string> = {};
  const bytes: Record<string, Uint8Array> = {};
  const json: string[] = [];
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
      if (isJson(out)) json.push(out.name);
      else if (out.bytes.byteLength % 4 !== 0) {
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
  if (policy.comparator !== 'tolerance') return { hash, outputs: hashes };
  return json.length > 0 ? { hash, outputs: hashes, bytes, json } : { hash, outputs: hashes, bytes };
}

/** |x − y| ≤ abs + rel · max(|x|, |y|); NaN agrees only with NaN, equal infinities agree. */
function numberClose(x: number, y: number, abs: number, rel: number): boolean {
  if (x === y) return true;
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) && Number.isNaN(y);
  return Math.abs(x - y) <= abs + rel * Math.max(Math.abs(x), Math.abs(y));
}

function f32Close(a: Uint8Array, b: Uint8Array, abs: number, rel: number): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const va = new DataView(a.buffer, a.byteOffset, a.byteLength);
  const vb = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < a.byteLength; i += 4) {
    if (!numberClose(va.getFloat32(i, true), vb.getFloat32(i, true), abs, rel)) return false;
  }
  return true;
}

/**
 * Two JSON values of the same shape: arrays of the same length and objects of the same keys,
 * element by element; strings, booleans and null equal; numbers within abs + rel tolerance.
 */
export function jsonClose(x: unknown, y: unknown, abs: number, rel: number): boolean {
  if (typeof x === 'number' && typeof y === 'number') return numberClose(x, y, abs, rel);
  if (Array.isArray(x) || Array.isArray(y)) {
    if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length) return false;
    return x.every((v, i) => jsonClose(v, y[i], abs, rel));
  }
  if (x !== null && y !== null && typeof x === 'object' && typeof y === 'object') {
    const a = x as Record<string, unknown>;
    const b = y as Record<string, unknown>;
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((k) => Object.hasOwn(b, k) && jsonClose(a[k], b[k], abs, rel));
  }
  return x === y;
}

function jsonBytesClose(a: Uint8Array, b: Uint8Array, abs: number, rel: number): boolean {
  try {
    const decode = (bytes: Uint8Array) => JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    return jsonClose(decode(a), decode(b), abs, rel);
  } catch {
    return false; // not JSON: only equal bytes (equal digests) agree
  }
}

/**
 * Whether two replicas agree: the same digest, or (tolerance comparator) the same output names
 * with every binary output's f32 elements within absTolerance + relTolerance · max(|a|, |b|) and
 * every JSON output (application/json, e.g. ml.classify's classes.json) of the same shape, its
 * strings equal and its numbers within the same tolerance. NaN agrees only with NaN.
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
  const { absTolerance: abs, relTolerance: rel } = policy;
  for (const name of names) {
    const x = a.bytes[name]!;
    const y = b.bytes[name];
    if (y === undefined) return false;
    const json = (a.json ?? []).includes(name);
    if (json !== (b.json ?? []).includes(name)) return false;
    if (!(json ? jsonBytesClose(x, y, abs, rel) : f32Close(x, y, abs, rel))) return false;
  }
  return true;
}

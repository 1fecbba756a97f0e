// What a library and each of its methods declare: one declaration per method, used by the
// coordinator at submit, the tab, the SDK and the dashboard.
import type { Params, ParamsSchema } from './params.ts';

export type LibraryName = 'image' | 'data' | 'crypto' | 'audio' | 'video' | 'ml';

/** Per-library defaults (the compute-module seed's), overridable by `module.permissions`. */
export interface LibraryLimits {
  maxInputBytes: number;
  maxOutputBytes: number;
  timeoutMs: number;
  /** WASM memory the library may use, in 64 KiB pages. */
  memoryPages: number;
}

export interface LibraryDefinition {
  readonly name: LibraryName;
  /** The npm package whose WASM build the tab runs. */
  readonly package: string;
  readonly doc: string;
  readonly limits: LibraryLimits;
  /** The build needs SharedArrayBuffer (pthreads): only cross-origin-isolated tabs run it. */
  readonly needsSharedMemory: boolean;
}

/**
 * How a volunteer's outputs are judged against the method's Node reference (known-answer spot
 * checks, tests): the native twin may round differently. Replicas of a verified task all run the
 * same WASM build and compare by the task's verification policy (exact by default).
 */
export type Comparison =
  /** Byte for byte (deterministic methods). */
  | { readonly kind: 'exact' }
  /** Decoded images whose pixels differ by at most `maxDiff` (0..255) per channel. */
  | { readonly kind: 'pixels'; readonly maxDiff: number }
  /** Decoded PCM samples whose difference is at most `maxDiff` (of full scale 1.0). */
  | { readonly kind: 'samples'; readonly maxDiff: number }
  /**
   * Decoded PCM of the same rate, channels and length whose signal-to-noise ratio against the
   * reference is at least `minDb`: lossy codecs' float code rounds otherwise in WASM, so single
   * samples of noise may differ by as much as the signal while the whole stays close.
   */
  | { readonly kind: 'snr'; readonly minDb: number }
  /**
   * Tables: text outputs (CSV, JSON lines) byte for byte; Arrow IPC and Parquet outputs decoded, with
   * the same column names, column types and values row by row (two writers encode them differently).
   */
  | { readonly kind: 'values' }
  /**
   * Tensors (ml): the same names, dtypes and shapes, float elements within
   * `atol + rtol·max(|a|, |b|)` (execution providers order their sums differently), others equal.
   */
  | { readonly kind: 'tensors'; readonly atol: number; readonly rtol: number }
  /**
   * Top-k classes (ml.classify): per row, the scores of classes both name within `atol`, and a class
   * only one names scored within `atol` of the other's last (a near tie at the cut may swap).
   */
  | { readonly kind: 'classes'; readonly atol: number };

export interface MethodDefinition {
  readonly library: LibraryName;
  readonly method: string;
  readonly doc: string;
  readonly params: ParamsSchema;
  /** How many inputs it takes. */
  readonly inputs: { readonly min: number; readonly max: number; readonly doc: string };
  /** How its outputs are named (for the README and the dashboard). */
  readonly outputs: string;
  readonly compare: Comparison;
  /** Checks that the schema cannot state (e.g. a pipeline's steps); throws LibraryError INVALID_PARAMS. */
  readonly check?: (params: Params) => void;
  /**
   * Uses WebCrypto (`crypto.subtle`), which a page on an insecure origin lacks: the coordinator
   * asks for a tab in a secure context (`min.secure_context`). Default false.
   */
  readonly needsWebCrypto?: boolean;
}

/** The op of a method: `<library>.<method>`. */
export const opOf = (m: Pick<MethodDefinition, 'library' | 'method'>): string => `${m.library}.${m.method}`;

// The job shapes that cross from the tab's main thread to an executor Worker and back (one place
// for both sides, STYLE.md 4). They are plain structured-cloneable objects; byte arrays are
// transferred, not copied.
import { type BufferSpec, DEFAULT_TIMEOUT_MS, type JsonObject } from '@flock/protocol';
import type { JobFailure } from './executor-error.ts';
import type { KernelArenaView } from './kernel-arena.ts';

/** Resource limits of one job (ModuleSpec.permissions with the tab's defaults filled in). */
export interface JobLimits {
  /** WASM linear memory ceiling in 64 KiB pages. */
  memoryPages: number;
  /** Wall-clock limit in milliseconds; the executor Worker is terminated past it. */
  timeoutMs: number;
  /** Sum of all input bytes. */
  maxInputBytes: number;
  /** Sum of all output bytes (stdout and /out files included). */
  maxOutputBytes: number;
}

/** Defaults used when a permission is 0 (unset). Documented in the README. */
export const DEFAULT_LIMITS: Readonly<JobLimits> = {
  memoryPages: 1024,
  timeoutMs: DEFAULT_TIMEOUT_MS,
  maxInputBytes: 64 * 1024 * 1024,
  maxOutputBytes: 4 * 1024 * 1024,
};

/** One named input, already resolved to bytes. */
export interface JobInput {
  name: string;
  contentType: string;
  bytes: Uint8Array;
}

/** One named output. */
export interface JobOutput {
  name: string;
  contentType: string;
  bytes: Uint8Array;
}

interface JobBase {
  /** The task this job belongs to (for messages and progress). */
  taskId: string;
  inputs: JobInput[];
  params: JsonObject;
  limits: JobLimits;
}

/** `module.kind = "wasm"`: a WASI command or a kernel-ABI module. */
export interface WasmJob extends JobBase {
  kind: 'wasm';
  abi: 'wasi' | 'kernel';
  /** Export to call: `_start` for WASI, `flock_kernel` by default for the kernel ABI. */
  entry: string;
  module: Uint8Array;
  /** "sha256:<hex>" or "blake3:<hex>"; verified before the module is compiled. */
  moduleHash: string;
  /** WASI: mount /in (read-only) and /out. */
  wasiFs: boolean;
  /** Kernel ABI with shared memory: run in place on this sab-bridge arena (inputs are already in it). */
  arena?: KernelArenaView;
}

/** `module.kind = "wgsl"`: one compute shader dispatch with storage/uniform bindings. */
export interface WgslJob extends JobBase {
  kind: 'wgsl';
  source: string;
  entry: string;
  workgroups: [number, number, number];
  buffers: BufferSpec[];
}

/** `module.kind = "builtin"`: a kernel of @flock/shaders chosen by `op`. */
export interface BuiltinJob extends JobBase {
  kind: 'builtin';
  op: string;
}

export type Job = WasmJob | WgslJob | BuiltinJob;

/** A finished job: outputs plus what actually ran. */
export interface JobSuccess {
  ok: true;
  outputs: JobOutput[];
  /** "wasm", "wasm-kernel", "wgsl", "builtin:<op>"... */
  executor: string;
  summary: Record<string, string>;
  metrics: Record<string, string>;
}

export type JobOutcome = JobSuccess | JobFailure;

/** Progress an executor reports while a job runs. */
export interface JobProgress {
  pct: number;
  metrics: Record<string, string>;
}

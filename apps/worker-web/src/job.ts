// The job shapes shared by the tab's main thread and its executor Workers (one place for both
// sides, STYLE.md 4). A job crosses to an executor as a record on its bridge: a `JobSpec` (JSON,
// small) plus named byte regions (inputs, the module) that lie in the executor's arena, or travel
// as transferred buffers where the page has no SharedArrayBuffer.

import type { TensorShape } from '@flock/libraries/models';
import {
  type BufferSpec,
  DEFAULT_FUEL,
  DEFAULT_TIMEOUT_MS,
  type JsonObject,
  type ModuleSpec,
} from '@flock/protocol';
import type { JobFailure } from './executor-error.ts';

/** Resource limits of one job (ModuleSpec.permissions with the tab's defaults filled in). */
export interface JobLimits {
  /** WASM linear memory ceiling in 64 KiB pages. */
  memoryPages: number;
  /** Wall-clock limit in milliseconds; the job is stopped past it (the Worker terminated at the last resort). */
  timeoutMs: number;
  /** Sum of all input bytes. */
  maxInputBytes: number;
  /** Sum of all output bytes (stdout and /out files included). */
  maxOutputBytes: number;
  /** Instruction budget of a WASM module (fuel units, about one per WASM instruction). */
  fuel: number;
}

/** Defaults used when a permission is 0 (unset). Documented in the README. */
/**
 * How long a library job may take to load its library the first time, apart from its own time
 * limit (image jobs may run 5 s, while DuckDB's 33 MiB of WASM may take longer to arrive).
 */
export const LIBRARY_LOAD_TIMEOUT_MS = 120_000;

export const DEFAULT_LIMITS: Readonly<JobLimits> = {
  memoryPages: 1024,
  timeoutMs: DEFAULT_TIMEOUT_MS,
  maxInputBytes: 64 * 1024 * 1024,
  maxOutputBytes: 4 * 1024 * 1024,
  fuel: DEFAULT_FUEL,
};

/** The limits of a job: each permission, or the default when it is 0/unset. */
export function limitsOf(module: ModuleSpec | undefined): JobLimits {
  const p = module?.permissions ?? {};
  return {
    memoryPages: p.memory_pages || DEFAULT_LIMITS.memoryPages,
    timeoutMs: p.timeout_ms || DEFAULT_LIMITS.timeoutMs,
    maxInputBytes: p.max_input_bytes || DEFAULT_LIMITS.maxInputBytes,
    maxOutputBytes: p.max_output_bytes || DEFAULT_LIMITS.maxOutputBytes,
    fuel: p.fuel || DEFAULT_LIMITS.fuel,
  };
}

/** Which executor runs a job: a WASI command, a kernel-ABI module, a WGSL shader, a built-in op, a library method. */
export type JobKind = 'wasi' | 'kernel' | 'wgsl' | 'builtin' | 'library';

/**
 * What an executor is told about a job, as the JSON `params` of its job record. Bulk bytes are
 * never in it: inputs and the module are the record's named regions.
 */
export interface JobSpec {
  kind: JobKind;
  /** The task (for messages and argv[0]). */
  taskId: string;
  limits: JobLimits;
  /** The envelope's params. */
  params: JsonObject;
  /** Name, content type and (a tensor: its DataRef's TensorSpec) dtype and shape of each input, in the order of the record's input regions. */
  inputs: Array<{ name: string; contentType: string; tensor?: TensorShape }>;
  /** The module's verified hash (WASM, WGSL; an ml job's model): executors keep compiled modules and model sessions by it. */
  moduleHash?: string;
  /** Export to call (kernel ABI; `_start` for WASI) or WGSL entry point. */
  entry?: string;
  /** WASI: mount /in (read-only) and /out. */
  wasiFs?: boolean;
  workgroups?: [number, number, number];
  buffers?: BufferSpec[];
  /** Built-in op name, or a library's `<library>.<method>`. */
  op?: string;
  /** Library jobs: the origin the library files are fetched from (the coordinator's). */
  libraryOrigin?: string;
  /**
   * Library jobs: the task asks for WebGPU (`requirements.min.webgpu` or `min.gpu`), so ml.*'s
   * `auto` runs on WebGPU even on a fallback adapter.
   */
  requiresWebgpu?: boolean;
  /**
   * How the inputs were handed over: ms spent copying them into their regions, and when the record
   * was pushed (epoch ms, `performance.timeOrigin + performance.now()`, comparable across threads).
   */
  handoff?: { copyMs: number };
}

/** One named input, its bytes where they lie (an arena view, or a transferred buffer). */
export interface JobInput {
  name: string;
  contentType: string;
  bytes: Uint8Array;
  /** Its dtype and shape when it is a tensor (ml jobs). */
  tensor?: TensorShape;
}

/** One named output, its bytes where the executor wrote them. */
export interface JobOutput {
  name: string;
  contentType: string;
  bytes: Uint8Array;
  /** Its dtype and shape when it is a tensor (ml jobs): the result DataRef's TensorSpec. */
  tensor?: TensorShape;
}

/** A job as an executor runs it. */
export interface Job {
  /** Positive int32, unique per executor: names the job's records and owns its arena blocks. */
  jobId: number;
  spec: JobSpec;
  inputs: JobInput[];
  /** The module's bytes, when the executor may not have them compiled yet. */
  module: Uint8Array | undefined;
  /** Kernel jobs on the ring: an i32 in shared memory the main thread sets when the job should stop. */
  stopWord?: Uint8Array | undefined;
}

/** A finished job: outputs plus what actually ran. */
export interface JobSuccess {
  ok: true;
  outputs: JobOutput[];
  /** "wasm-wasi", "wasm-kernel", "wgsl", "builtin:<executor>"... */
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

/** Why a running job is asked to stop: a cancel from the coordinator, or its own time limit. */
export type StopReason = 'CANCELLED' | 'TIMEOUT';

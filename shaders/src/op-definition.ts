// The contract every built-in op states: its tensors, params, WGSL, dispatch plan, CPU reference
// and (for some) a WASM kernel. One definition per op lives in src/ops/<op>.ts.
import type { WasmKernels } from './wasm-kernels.ts';

/** Element types of op tensors; `c64` is interleaved complex f32 (re, im). */
export type Dtype = 'f32' | 'u32' | 'u8' | 'c64';

/** Names of the built-in ops (`ModuleSpec.kind = "builtin"`, `ComputeEnvelope.op`). */
export type BuiltinOp =
  | 'saxpy'
  | 'reduce_sum'
  | 'prefix_sum'
  | 'histogram'
  | 'matmul'
  | 'fft'
  | 'conv2d'
  | 'mandelbrot'
  | 'nbody_step'
  | 'sha256_batch';

/** A named input or output: dtype and symbolic shape (row-major, outermost first). */
export interface TensorContract {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly string[];
  readonly doc: string;
}

/** One binding of group 0 of an op's WGSL: its variable name and address space / access. */
export interface BindingContract {
  readonly binding: number;
  readonly name: string;
  readonly access: 'uniform' | 'read' | 'read_write';
}

/** A JSON param of an op. */
export interface ParamContract {
  readonly name: string;
  readonly type: 'u32' | 'f32' | 'bool';
  /** Absent means required. */
  readonly default?: number | boolean;
  readonly min?: number;
  readonly max?: number;
  readonly doc: string;
}

/** How an op's output is compared with its CPU reference, and the bound the tests hold it to. */
export type ErrorBound =
  | { readonly metric: 'exact' }
  /** ||out - ref||_2 / ||ref||_2 over all output elements, reference in f64. */
  | { readonly metric: 'rel_l2'; readonly bound: number }
  /** |out - ref| / sum(|x|): the bound of a floating-point sum. */
  | { readonly metric: 'abs_over_l1'; readonly bound: number }
  /** Fraction of output elements that differ (chaotic iterations near the set boundary). */
  | { readonly metric: 'mismatch_fraction'; readonly bound: number };

/** Bytes of each tensor by name (inputs from DataRef inline_bytes, outputs read back). */
export type Tensors = Record<string, Uint8Array>;

/** One GPU storage buffer of a plan: an input upload, an output, or scratch. */
export interface GpuBufferPlan {
  readonly size: number;
  readonly data?: Uint8Array;
}

/** One dispatch: values of the WGSL `Params` struct, buffers for bindings 1.., workgroup counts. */
export interface GpuPass {
  readonly params: Readonly<Record<string, number>>;
  readonly bindings: readonly string[];
  readonly workgroups: readonly [number, number, number];
}

/** The whole GPU run of one op call: buffers, passes in order, and which buffers are outputs. */
export interface GpuPlan {
  readonly buffers: Readonly<Record<string, GpuBufferPlan>>;
  readonly passes: readonly GpuPass[];
  /** Output name → buffer name and byte length to read back. */
  readonly outputs: Readonly<Record<string, { readonly buffer: string; readonly size: number }>>;
}

/** An op call whose inputs and params were validated: ready to run on any executor. */
export interface PreparedOp {
  readonly op: BuiltinOp;
  /** The GPU run; grids of more workgroups than `maxGroupsPerDim` (default 65535) wrap into rows. */
  gpuPlan(maxGroupsPerDim?: number): GpuPlan;
  reference(): Promise<Tensors>;
  /** Present on ops with a WASM kernel. */
  readonly wasm?: (kernels: WasmKernels) => Tensors;
}

/** Everything known about one built-in op, independent of a call. */
export interface OpDefinition {
  readonly op: BuiltinOp;
  readonly summary: string;
  readonly inputs: readonly TensorContract[];
  readonly outputs: readonly TensorContract[];
  readonly params: readonly ParamContract[];
  /** WGSL source; its entry point is named after the op, its `Params` struct is binding 0. */
  readonly wgsl: string;
  readonly workgroupSize: readonly [number, number, number];
  /** Bytes of `var<workgroup>` memory the entry point declares. */
  readonly workgroupStorageBytes: number;
  /** Group 0: binding 0 the `Params` uniform, then one storage buffer per GpuPass binding slot. */
  readonly bindings: readonly BindingContract[];
  /** How the dispatch size follows from the inputs, in words. */
  readonly dispatch: string;
  /** The size limits of a call on WGSL (beyond them the call runs on WASM or JS), in words. */
  readonly sizeLimits: string;
  readonly errorBound: ErrorBound;
  readonly hasWasm: boolean;
  prepare(inputs: Tensors, params: Readonly<Record<string, unknown>>): PreparedOp;
}

// The instantiated kernel module of wasm/kernels.c (one per variant) and the copy-in/copy-out
// helpers the ops use. Kernel ABI: `reset()` frees everything, `alloc(bytes)` returns a 16-byte
// aligned offset in the exported memory (0 when memory cannot grow), kernels take offsets.
import { ShaderError } from './shader-error.ts';

/** The exports of wasm/kernels.c. Offsets and counts are u32, results f32. */
export interface WasmKernelExports {
  readonly memory: WebAssembly.Memory;
  reset(): void;
  alloc(bytes: number): number;
  matmul(a: number, b: number, c: number, m: number, n: number, k: number): void;
  reduce_sum(x: number, n: number): number;
  /** `stage`: room for n f32. Returns the offset holding the result (`x` or `scratch`). */
  fft(
    x: number,
    scratch: number,
    twiddles: number,
    stage: number,
    n: number,
    batch: number,
    inverse: number,
  ): number;
  sha256_batch(data: number, offsets: number, count: number, out: number): void;
  conv2d(
    image: number,
    kernel: number,
    out: number,
    width: number,
    height: number,
    kw: number,
    kh: number,
  ): void;
  mandelbrot(
    out: number,
    width: number,
    height: number,
    maxIter: number,
    x0: number,
    y0: number,
    dx: number,
    dy: number,
  ): void;
  /** `soa`: room for 4n f32. */
  nbody_step(bodies: number, next: number, soa: number, n: number, dt: number, eps2: number): void;
}

/** `simd`: built with -msimd128; `scalar`: the same source with -mno-simd128. */
export type WasmVariant = 'simd' | 'scalar';

/** One instance of the kernel module with helpers to move tensors in and out of its memory. */
export class WasmKernels {
  readonly variant: WasmVariant;
  readonly exports: WasmKernelExports;

  constructor(variant: WasmVariant, exports: WasmKernelExports) {
    this.variant = variant;
    this.exports = exports;
  }

  /** Frees every earlier allocation; call before each op. */
  reset(): void {
    this.exports.reset();
  }

  /** Allocates `bytes` (zero-filled) and returns the offset; LIMIT_EXCEEDED past 2 GiB. */
  alloc(bytes: number): number {
    const ptr = bytes > 0xffff_ffff ? 0 : this.exports.alloc(bytes);
    if (ptr === 0)
      throw new ShaderError(
        'LIMIT_EXCEEDED',
        `WASM kernel memory (2 GiB at most) cannot hold ${bytes} more bytes`,
      );
    new Uint8Array(this.exports.memory.buffer, ptr, bytes).fill(0);
    return ptr;
  }

  /** Allocates and copies `bytes` in; returns the offset. */
  put(bytes: Uint8Array): number {
    const ptr = this.alloc(Math.max(bytes.byteLength, 4));
    new Uint8Array(this.exports.memory.buffer, ptr, bytes.byteLength).set(bytes);
    return ptr;
  }

  /** Copies `length` bytes out of memory at `ptr`. */
  take(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.exports.memory.buffer, ptr, length).slice();
  }
}

// The WASM kernels (SIMD and scalar builds of wasm/kernels.c) against the CPU references, in
// Node's V8 (the same engine as the tab); the browser test repeats a subset in Chromium.
import { describe, expect, it } from 'vitest';
import { getOp, measureError, runWasm, ShaderError, wasmKernels, wasmSimdSupported } from '../src/index.ts';
import { allCases, hex, SHA256_VECTORS, sha256VectorInputs } from './support/cases.ts';

const wasmCases = allCases().filter((c) => getOp(c.op).hasWasm);

describe.each(['simd', 'scalar'] as const)('WASM %s kernels', (variant) => {
  it.each(wasmCases.map((c) => [`${c.op} ${c.label}`, c] as const))(
    '%s is within its error bound',
    async (_name, c) => {
      const expected = await getOp(c.op).prepare(c.inputs, c.params).reference();
      const actual = runWasm(c.op, c.inputs, c.params, variant);
      const error = measureError(c.op, c.inputs, actual, expected);
      expect(error.value).toBeLessThanOrEqual(error.bound);
    },
  );

  it('sha256_batch matches the FIPS 180-2 vectors', () => {
    const out = runWasm('sha256_batch', sha256VectorInputs(), {}, variant)['digests']!;
    expect(SHA256_VECTORS.map((_, i) => hex(out.subarray(i * 32, i * 32 + 32)))).toEqual(
      SHA256_VECTORS.map((v) => v.hex),
    );
  });
});

describe('WASM runner', () => {
  it('detects SIMD in this engine', () => {
    expect(wasmSimdSupported()).toBe(true);
  });

  it('refuses an op without a WASM kernel with WASM_UNAVAILABLE', () => {
    const x = new Uint8Array(4);
    let code = '';
    try {
      runWasm('saxpy', { x, y: x });
    } catch (error) {
      if (error instanceof ShaderError) code = error.code;
    }
    expect(code).toBe('WASM_UNAVAILABLE');
  });

  it('a call past the 2 GiB memory gets LIMIT_EXCEEDED, and the kernels keep working', () => {
    const kernels = wasmKernels('simd');
    kernels.reset();
    let code = '';
    try {
      kernels.alloc(2 ** 31);
    } catch (error) {
      if (error instanceof ShaderError) code = error.code;
    }
    expect(code).toBe('LIMIT_EXCEEDED');
    const x = new Uint8Array(Float32Array.of(1, 2, 3).buffer);
    expect(Array.from(new Float32Array(runWasm('reduce_sum', { x })['sum']!.buffer))).toEqual([6]);
  });

  it('drops an instance whose memory grew past 64 MiB, so the next call gets a fresh one', () => {
    const before = wasmKernels('simd');
    const n = 20_000_000;
    runWasm('reduce_sum', { x: new Uint8Array(n * 4) });
    const after = wasmKernels('simd');
    expect(after).not.toBe(before);
    expect(after.exports.memory.buffer.byteLength).toBeLessThan(64 * 1024 * 1024);
  });
});

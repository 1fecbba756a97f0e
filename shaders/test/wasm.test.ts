// The WASM kernels (SIMD and scalar builds of wasm/kernels.c) against the CPU references, in
// Node's V8 (the same engine as the tab); the browser test repeats a subset in Chromium.
import { describe, expect, it } from 'vitest';
import { getOp, measureError, runWasm, ShaderError, wasmSimdSupported } from '../src/index.ts';
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
});

import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { ExecutorError } from '../src/executor-error.ts';
import { DEFAULT_LIMITS, type WasmJob } from '../src/job.ts';
import { prepareKernelArena } from '../src/kernel-arena.ts';
import { parseProgressLine, runWasmJob } from '../src/wasm-executor.ts';
import { fixture } from './fixtures.ts';

const text = (s: string) => new TextEncoder().encode(s);
const sha = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

function wasiJob(name: string, overrides: Partial<WasmJob> = {}): WasmJob {
  const module = fixture(name);
  return {
    kind: 'wasm',
    taskId: `t-${name}`,
    abi: 'wasi',
    entry: '_start',
    module,
    moduleHash: sha(module),
    wasiFs: true,
    inputs: [],
    params: {},
    limits: { ...DEFAULT_LIMITS },
    ...overrides,
  };
}

async function failureOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ExecutorError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected the job to fail');
}

describe('WASI command ABI', () => {
  it('runs a C program with stdin, args, env and /in files; returns stdout and /out files', async () => {
    const result = await runWasmJob(
      wasiJob('wasi-echo', {
        inputs: [
          { name: 'greeting.txt', contentType: 'text/plain', bytes: text('hello flock') },
          { name: 'data.bin', contentType: 'application/octet-stream', bytes: new Uint8Array([1, 2, 250]) },
        ],
        params: { args: ['alpha', 'beta'], env: { GREETING: 'hi' } },
      }),
    );
    expect(result.executor).toBe('wasm-wasi');
    expect(result.outputs.map((o) => o.name)).toEqual(['stdout', 'out/upper.txt']);
    expect(new TextDecoder().decode(result.outputs[0]!.bytes)).toBe(
      'argc=3 arg1=alpha arg2=beta\nGREETING=hi\nstdin=11 bytes\n' +
        `in:data.bin sum=253\nin:greeting.txt sum=${text('hello flock').reduce((a, b) => a + b, 0)}\n` +
        'write-in=refused\n',
    );
    expect(new TextDecoder().decode(result.outputs[1]!.bytes)).toBe('HELLO FLOCK');
  });

  it('without wasi_fs there is no /out: the program reports it by its exit status', async () => {
    const failure = await failureOf(runWasmJob(wasiJob('wasi-echo', { wasiFs: false })));
    expect(failure).toEqual({ code: 'EXECUTION_ERROR', message: 'exit status 3' });
  });

  it('a non-zero exit is EXECUTION_ERROR with the stderr tail', async () => {
    const failure = await failureOf(runWasmJob(wasiJob('exit-code')));
    expect(failure).toEqual({ code: 'EXECUTION_ERROR', message: 'exit status 7: something went wrong' });
  });

  it('refuses a wrong hash, and a forbidden import, without compiling or instantiating anything', async () => {
    const compile = vi.spyOn(WebAssembly, 'compile');
    const instantiate = vi.spyOn(WebAssembly, 'instantiate');
    try {
      const job = wasiJob('wasi-echo', { moduleHash: `sha256:${'0'.repeat(64)}` });
      const failure = await failureOf(runWasmJob(job));
      expect(failure.code).toBe('HASH_MISMATCH');
      expect(failure.message).toContain(`expected ${'0'.repeat(64)}`);
      expect((await failureOf(runWasmJob(wasiJob('forbidden-import')))).code).toBe('FORBIDDEN_IMPORT');
      expect(compile).not.toHaveBeenCalled();
      expect(instantiate).not.toHaveBeenCalled();
      // The same spies see a good module through: the assertion above is not vacuous.
      await runWasmJob(wasiJob('empty'));
      expect(compile).toHaveBeenCalledTimes(1);
      expect(instantiate).toHaveBeenCalledTimes(1);
    } finally {
      compile.mockRestore();
      instantiate.mockRestore();
    }
  });

  it('accepts a blake3 hash', async () => {
    const { blake3 } = await import('hash-wasm');
    const module = fixture('empty');
    const result = await runWasmJob(wasiJob('empty', { moduleHash: `blake3:${await blake3(module)}` }));
    expect(result.summary['module_hash']).toBe(`blake3:${await blake3(module)}`);
  });

  it('refuses a forbidden import by name', async () => {
    const failure = await failureOf(runWasmJob(wasiJob('forbidden-import')));
    expect(failure).toEqual({
      code: 'FORBIDDEN_IMPORT',
      message: 'import env.steal_cookies (function) is not part of the wasi ABI',
    });
  });

  it('stops a memory.grow bomb at the page limit', async () => {
    const limits = { ...DEFAULT_LIMITS, memoryPages: 256 };
    const failure = await failureOf(runWasmJob(wasiJob('memory-bomb', { limits })));
    expect(failure.code).toBe('MEMORY_LIMIT');
    expect(failure.message).toMatch(/of 256 pages$/);
  });

  it('fails OUTPUT_TOO_LARGE as soon as stdout passes the limit', async () => {
    const limits = { ...DEFAULT_LIMITS, maxOutputBytes: 1_000_000 };
    const failure = await failureOf(runWasmJob(wasiJob('huge-output', { limits })));
    expect(failure).toEqual({ code: 'OUTPUT_TOO_LARGE', message: 'stdout passed the output limit' });
  });

  it('fails OUTPUT_TOO_LARGE as soon as an /out file passes the limit, and shares the budget with stdout', async () => {
    const limits = { ...DEFAULT_LIMITS, maxOutputBytes: 1_000_000 };
    const failure = await failureOf(runWasmJob(wasiJob('huge-file', { limits })));
    expect(failure).toEqual({ code: 'OUTPUT_TOO_LARGE', message: '/out/big.bin passed the output limit' });
    // Within the limit the same program succeeds, its file whole.
    const ok = await runWasmJob(
      wasiJob('huge-file', { limits: { ...DEFAULT_LIMITS, maxOutputBytes: 9 << 20 } }),
    );
    expect(ok.outputs.map((o) => [o.name, o.bytes.byteLength])).toEqual([
      ['stdout', 0],
      ['out/big.bin', 8 << 20],
    ]);
    expect(ok.outputs[1]!.bytes.every((b) => b === 'y'.charCodeAt(0))).toBe(true);
  });

  it('fails INPUT_TOO_LARGE before hashing', async () => {
    const limits = { ...DEFAULT_LIMITS, maxInputBytes: 10 };
    const job = wasiJob('empty', {
      limits,
      moduleHash: `sha256:${'0'.repeat(64)}`,
      inputs: [{ name: 'x', contentType: '', bytes: new Uint8Array(11) }],
    });
    expect(await failureOf(runWasmJob(job))).toEqual({
      code: 'INPUT_TOO_LARGE',
      message: 'inputs are 11 bytes, the limit is 10',
    });
  });
});

describe('WASI progress lines', () => {
  it('parses `flock:progress <pct> [key=value ...]` and nothing else', () => {
    expect(parseProgressLine('flock:progress 42.5 spins=10 phase=b')).toEqual({
      pct: 42.5,
      metrics: { spins: '10', phase: 'b' },
    });
    expect(parseProgressLine('flock:progress 250')).toEqual({ pct: 100, metrics: {} });
    expect(parseProgressLine('progress 42')).toBeUndefined();
    expect(parseProgressLine('flock:progress x')).toBeUndefined();
  });

  it('a running program reports progress through stderr while it runs', async () => {
    const seen: number[] = [];
    const result = await runWasmJob(wasiJob('spin', { params: { args: ['300'] } }), new Map(), (p) =>
      seen.push(p.pct),
    );
    expect(new TextDecoder().decode(result.outputs[0]!.bytes)).toBe('spun 300 ms\n');
    expect(seen).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90]);
  });
});

describe('kernel ABI', () => {
  const poly = (x: number) => {
    let acc = 1;
    for (let k = 0; k < 16; k++) acc = Math.fround(Math.fround(acc * x) + 0.5);
    return acc;
  };

  for (const variant of ['kernel-poly-simd', 'kernel-poly-scalar']) {
    it(`${variant} computes in place and returns the output region`, async () => {
      const xs = new Float32Array([0, 0.5, -1, 0.25, 0.75, -0.5, 1, 0.125, 0.9]);
      const module = fixture(variant);
      const result = await runWasmJob({
        ...wasiJob(variant),
        abi: 'kernel',
        entry: 'flock_kernel',
        module,
        moduleHash: sha(module),
        inputs: [{ name: 'x', contentType: 'application/octet-stream', bytes: new Uint8Array(xs.buffer) }],
      });
      expect(result.executor).toBe('wasm-kernel');
      const out = new Float32Array(result.outputs[0]!.bytes.slice().buffer);
      expect([...out]).toEqual([...xs].map(poly));
    });
  }

  it('a kernel error code becomes EXECUTION_ERROR', async () => {
    const module = fixture('kernel-poly-scalar');
    const job: WasmJob = {
      ...wasiJob('kernel-poly-scalar'),
      abi: 'kernel',
      entry: 'flock_kernel',
      inputs: [{ name: 'x', contentType: '', bytes: new Uint8Array(6) }],
      moduleHash: sha(module),
    };
    expect(await failureOf(runWasmJob(job))).toEqual({
      code: 'EXECUTION_ERROR',
      message: 'kernel returned error -1',
    });
  });

  it('a WASI command is not a kernel: its imports are refused', async () => {
    const job: WasmJob = { ...wasiJob('empty'), abi: 'kernel', entry: 'flock_kernel' };
    const failure = await failureOf(runWasmJob(job));
    expect(failure.code).toBe('FORBIDDEN_IMPORT');
  });
});

describe('kernel ABI in place on a sab-bridge arena', () => {
  const poly = (x: number) => {
    let acc = 1;
    for (let k = 0; k < 16; k++) acc = Math.fround(Math.fround(acc * x) + 0.5);
    return acc;
  };

  it('the kernel reads and writes the arena blocks; the output is read where it lies', async () => {
    const module = fixture('kernel-poly-simd');
    const xs = new Float32Array([0.5, -0.25, 1, 0]);
    const job: WasmJob = {
      ...wasiJob('kernel-poly-simd'),
      abi: 'kernel',
      entry: 'flock_kernel',
      module,
      moduleHash: sha(module),
      inputs: [{ name: 'x', contentType: '', bytes: new Uint8Array(xs.buffer) }],
    };
    const arena = prepareKernelArena(job)!;
    expect(arena).toBeDefined();
    // The input lies in shared memory after the module's two pages, inside the bridge's arena.
    expect(arena.view.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(arena.view.inAddress).toBeGreaterThanOrEqual(2 * 65_536);
    expect(new Float32Array(arena.view.memory.buffer, arena.view.inAddress, 4)).toEqual(xs);
    const result = await runWasmJob({
      ...job,
      arena: arena.view,
      inputs: [{ ...job.inputs[0]!, bytes: new Uint8Array(0) }],
    });
    expect(result.executor).toBe('wasm-kernel-arena');
    expect(result.outputs[0]!.bytes.byteLength).toBe(0);
    // The kernel wrote into the arena's output block: read it in place.
    const inPlace = new Float32Array(arena.view.memory.buffer, arena.view.outAddress, 4);
    expect([...inPlace]).toEqual([...xs].map(poly));
    const out = arena.finish(Number(result.summary['output_bytes']));
    expect([...new Float32Array(out.buffer)]).toEqual([...xs].map(poly));
  });

  it('a kernel with private memory takes the copy path', () => {
    const module = fixture('kernel-poly-private');
    const job: WasmJob = {
      ...wasiJob('kernel-poly-private'),
      abi: 'kernel',
      module,
      moduleHash: sha(module),
    };
    expect(prepareKernelArena(job)).toBeUndefined();
  });

  it('module pages plus the arena over the page limit is MEMORY_LIMIT', () => {
    const module = fixture('kernel-poly-simd');
    const job: WasmJob = {
      ...wasiJob('kernel-poly-simd'),
      abi: 'kernel',
      module,
      moduleHash: sha(module),
      limits: { ...DEFAULT_LIMITS, memoryPages: 3 },
      inputs: [{ name: 'x', contentType: '', bytes: new Uint8Array(200_000) }],
    };
    expect(() => prepareKernelArena(job)).toThrow(/module and arena need \d+ pages, the limit is 3/);
  });
});

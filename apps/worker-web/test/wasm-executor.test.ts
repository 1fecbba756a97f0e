import { createHash } from 'node:crypto';
import { create, layoutFor } from '@flock/sab-bridge';
import { describe, expect, it, vi } from 'vitest';
import { ExecutorControl } from '../src/executor-control.ts';
import { ExecutorError, type JobFailure } from '../src/executor-error.ts';
import { RingExecutorTransport } from '../src/executor-transport.ts';
import { DEFAULT_LIMITS, type Job, type JobSpec, type JobSuccess } from '../src/job.ts';
import { heapIo, type JobIo } from '../src/job-io.ts';
import { KERNEL_RESERVE, runKernelJob } from '../src/kernel-executor.ts';
import { parseProgressLine, runWasiJob } from '../src/wasm-executor.ts';
import { WasmModules } from '../src/wasm-modules.ts';
import { fixture } from './fixtures.ts';

const text = (s: string) => new TextEncoder().encode(s);
const sha = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

interface TestJob {
  kind?: 'wasi' | 'kernel';
  module?: Uint8Array;
  moduleHash?: string;
  inputs?: Job['inputs'];
  params?: JobSpec['params'];
  limits?: JobSpec['limits'];
  wasiFs?: boolean;
  entry?: string;
}

function wasiJob(name: string, overrides: TestJob = {}): Job {
  const module = overrides.module ?? fixture(name);
  const inputs = overrides.inputs ?? [];
  return {
    jobId: 1,
    module,
    inputs,
    spec: {
      kind: overrides.kind ?? 'wasi',
      taskId: `t-${name}`,
      entry: overrides.entry ?? (overrides.kind === 'kernel' ? 'flock_kernel' : '_start'),
      moduleHash: overrides.moduleHash ?? sha(module),
      wasiFs: overrides.wasiFs ?? true,
      inputs: inputs.map((i) => ({ name: i.name, contentType: i.contentType })),
      params: overrides.params ?? {},
      limits: overrides.limits ?? { ...DEFAULT_LIMITS },
    },
  };
}

/** Runs a WASI job on plain memory; throws what the executor throws, resolves its outcome. */
async function runWasmJob(job: Job, modules = new WasmModules(), io: JobIo = heapIo()): Promise<JobSuccess> {
  const outcome =
    job.spec.kind === 'kernel' ? await runKernelJob(job, io, modules) : await runWasiJob(job, io, modules);
  if (!outcome.ok) throw new ExecutorError(outcome.code, outcome.message, outcome.retryable);
  return outcome;
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

  it('returns files of /out subdirectories, also those made through a descriptor on one (openat)', async () => {
    const result = await runWasmJob(wasiJob('out-tree'));
    expect(result.outputs.map((o) => [o.name, new TextDecoder().decode(o.bytes)])).toEqual([
      ['stdout', 'done\n'],
      ['out/sub/deeper/at.txt', 'through openat\n'],
      ['out/sub/direct.txt', 'by path\n'],
    ]);
  });

  it('without wasi_fs there is no /out: the program reports it by its exit status', async () => {
    const result = await runWasmJob(wasiJob('wasi-echo', { wasiFs: false }));
    expect(result.summary['exit_code']).toBe('3');
  });

  it('a non-zero exit is a result: exit_code and the stderr tail in the summary', async () => {
    const result = await runWasmJob(wasiJob('exit-code'));
    expect(result.summary).toMatchObject({ exit_code: '7', stderr: 'something went wrong\n' });
    expect(result.outputs.map((o) => [o.name, o.bytes.byteLength])).toEqual([['stdout', 0]]);
  });

  it('a non-zero exit keeps stdout and /out files', async () => {
    const result = await runWasmJob(wasiJob('exit-with-files'));
    expect(result.summary).toMatchObject({ exit_code: '3', stderr: 'giving up with status 3\n' });
    expect(result.outputs.map((o) => [o.name, new TextDecoder().decode(o.bytes)])).toEqual([
      ['stdout', 'wrote a.txt\n'],
      ['out/a.txt', 'partial work\n'],
    ]);
  });

  it('a failed assert traps; the failure names the trap and carries the assert message', async () => {
    const failure = await failureOf(runWasmJob(wasiJob('assert-fail')));
    expect(failure).toEqual({
      code: 'EXECUTION_ERROR',
      message:
        'trap: unreachable; stderr: checking inputs | ' +
        'Assertion failed: argc == 42 && "argc must be 42" (fixtures/assert-fail.c: main: 8)',
    });
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
    const result = await runWasmJob(
      wasiJob('spin', { params: { args: ['300'] } }),
      new WasmModules(),
      heapIo({ onProgress: (p) => seen.push(p.pct) }),
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
      const result = await runWasmJob(
        wasiJob(variant, {
          kind: 'kernel',
          module,
          inputs: [{ name: 'x', contentType: 'application/octet-stream', bytes: new Uint8Array(xs.buffer) }],
        }),
      );
      expect(result.executor).toBe('wasm-kernel');
      const out = new Float32Array(result.outputs[0]!.bytes.slice().buffer);
      expect([...out]).toEqual([...xs].map(poly));
    });
  }

  it('a kernel error code becomes EXECUTION_ERROR', async () => {
    const job = wasiJob('kernel-poly-scalar', {
      kind: 'kernel',
      inputs: [{ name: 'x', contentType: '', bytes: new Uint8Array(6) }],
    });
    expect(await failureOf(runWasmJob(job))).toEqual({
      code: 'EXECUTION_ERROR',
      message: 'kernel returned error -1',
    });
  });

  it('a WASI command is not a kernel: its imports are refused', async () => {
    const job = wasiJob('empty', { kind: 'kernel' });
    const failure = await failureOf(runWasmJob(job));
    expect(failure.code).toBe('FORBIDDEN_IMPORT');
  });
});

describe("kernel ABI in place on the executor's bridge", () => {
  const poly = (x: number) => {
    let acc = 1;
    for (let k = 0; k < 16; k++) acc = Math.fround(Math.fround(acc * x) + 0.5);
    return acc;
  };

  /** An executor's bridge as the tab lays it out: in a shared Memory, after the kernel's reserve. */
  function bridgeMemory() {
    const config = { inboxBytes: 4096, outboxBytes: 4096, arenaBytes: 1 << 20 };
    const pages = Math.ceil((KERNEL_RESERVE + layoutFor(config).totalBytes) / 65_536);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const bridge = create(config, {
      buffer: memory.buffer as unknown as SharedArrayBuffer,
      byteOffset: KERNEL_RESERVE,
    });
    return { memory, bridge, transport: new RingExecutorTransport(bridge, ExecutorControl.create(), memory) };
  }

  it('the kernel reads its input block and writes its output block where they lie', async () => {
    const { memory, bridge, transport } = bridgeMemory();
    const xs = new Float32Array([0.5, -0.25, 1, 0]);
    const handle = bridge.arena.alloc(xs.byteLength, 7)!;
    const input = bridge.arena.bytes(handle);
    input.set(new Uint8Array(xs.buffer));
    const job = { ...wasiJob('kernel-poly-simd', { kind: 'kernel' }), jobId: 7 };
    job.inputs = [{ name: 'x', contentType: '', bytes: input }];
    const result = await runWasmJob(job, new WasmModules(), transport.io(job));
    expect(result.executor).toBe('wasm-kernel-arena');
    const out = result.outputs[0]!.bytes;
    // The output is a view of an arena block in the same memory: nothing was copied out.
    expect(out.buffer).toBe(memory.buffer);
    expect(out.byteOffset).toBeGreaterThan(KERNEL_RESERVE);
    expect([...new Float32Array(out.slice().buffer)]).toEqual([...xs].map(poly));
    // The kernel's own data area is zeroed for the next task.
    expect(new Uint8Array(memory.buffer, 0, KERNEL_RESERVE).every((b) => b === 0)).toBe(true);
    bridge.verifyGuards();
  });

  it('a kernel with private memory takes the copy path, even on a bridge', async () => {
    const { bridge, transport } = bridgeMemory();
    const xs = new Float32Array([0.5, 1]);
    const handle = bridge.arena.alloc(xs.byteLength, 3)!;
    bridge.arena.bytes(handle).set(new Uint8Array(xs.buffer));
    const job = { ...wasiJob('kernel-poly-private', { kind: 'kernel' }), jobId: 3 };
    job.inputs = [{ name: 'x', contentType: '', bytes: bridge.arena.bytes(handle) }];
    const result = await runWasmJob(job, new WasmModules(), transport.io(job));
    expect(result.executor).toBe('wasm-kernel');
    expect([...new Float32Array(result.outputs[0]!.bytes.slice().buffer)]).toEqual([...xs].map(poly));
  });
});

describe('module cache', () => {
  it('compiles a module once per executor; without its bytes an executor that lacks it says NEED_MODULE', async () => {
    const modules = new WasmModules();
    const compile = vi.spyOn(WebAssembly, 'compile');
    try {
      await runWasmJob(wasiJob('empty'), modules);
      const again = await runWasmJob({ ...wasiJob('empty'), module: undefined }, modules);
      expect(again.metrics['module_cached']).toBe('true');
      expect(compile).toHaveBeenCalledTimes(1);
      const elsewhere = await failureOf(
        runWasmJob({ ...wasiJob('empty'), module: undefined }, new WasmModules()),
      );
      expect(elsewhere.code).toBe('NEED_MODULE');
    } finally {
      compile.mockRestore();
    }
  });
});

describe('safe points', () => {
  it('a cooperating program learns of a cancel from sched_yield, writes its partial output, and stops', async () => {
    // The program runs synchronously: the request appears at its 50th safe point.
    let checks = 0;
    const io = heapIo({ stop: () => (++checks > 50 ? 'CANCELLED' : undefined) });
    const job = wasiJob('cooperative', { params: { args: ['100000'] } });
    const outcome = (await runWasiJob(job, io, new WasmModules())) as JobFailure;
    expect(outcome.ok).toBe(false);
    expect(outcome.code).toBe('CANCELLED');
    expect(outcome.message).toBe('cancelled; the program wound down and exited 0');
    const partial = outcome.partial!.outputs;
    expect(partial.map((o) => o.name)).toEqual(['stdout', 'out/partial.txt']);
    expect(new TextDecoder().decode(partial[1]!.bytes)).toMatch(/^stopped after \d+ steps\n$/);
  });
});

// Runs kernel-ABI modules (`module.kind = "wasm"`, abi "kernel"): no libc, no system calls, an
// entry `(in_ptr, in_len, out_ptr, out_cap, stop_ptr) -> i32` on bytes in linear memory.
//
// In place: the executor's bridge lives in a shared WebAssembly.Memory, after KERNEL_RESERVE
// bytes kept for a kernel's own data and stack. A kernel that imports shared memory and fits in
// the reserve is instantiated on that very memory: its input is the arena block the main thread
// wrote, its output an arena block the main thread reads, and `stop_ptr` an i32 the main thread
// sets (1 cancel, 2 timeout) that a long kernel may poll. No byte is copied. The reserve is
// zeroed after the job, so the next task sees nothing of it. Otherwise (private memory, a tab
// without SharedArrayBuffer) the input is copied into a fresh memory and the output back out.
import { countCopy } from './copy-meter.ts';
import { ExecutorError } from './executor-error.ts';
import { FuelMeter } from './fuel-meter.ts';
import type { Job, JobSuccess } from './job.ts';
import type { JobIo } from './job-io.ts';
import { checkInputSize, failure, memoryPages } from './wasm-executor.ts';
import { instantiate, type WasmModules } from './wasm-modules.ts';

const PAGE = 65_536;
/** Bytes at the start of an executor's shared memory kept for a kernel's data and stack. */
export const KERNEL_RESERVE = 2 << 20;

const align16 = (n: number) => Math.ceil(n / 16) * 16;

/** The output capacity of a kernel job: params.output_bytes, or the input length. */
export function kernelOutputCapacity(job: Job): number {
  const requested = job.spec.params['output_bytes'];
  const capacity = typeof requested === 'number' ? requested : (job.inputs[0]?.bytes.byteLength ?? 0);
  if (!Number.isInteger(capacity) || capacity < 0) {
    throw new ExecutorError('EXECUTION_ERROR', 'params.output_bytes must be a non-negative integer', false);
  }
  if (capacity > job.spec.limits.maxOutputBytes) {
    throw new ExecutorError(
      'OUTPUT_TOO_LARGE',
      `output_bytes ${capacity} is over the limit ${job.spec.limits.maxOutputBytes}`,
    );
  }
  return capacity;
}

export async function runKernelJob(job: Job, io: JobIo, modules: WasmModules): Promise<JobSuccess> {
  checkInputSize(job);
  const { module, info, hash } = await modules.load(job, 'kernel');
  const limit = job.spec.limits.memoryPages;
  const imported = info.imports.find((imp) => imp.kind === 'memory')?.memory;
  const input = job.inputs[0]?.bytes ?? new Uint8Array(0);
  const capacity = kernelOutputCapacity(job);
  const shared = io.memory;
  const inPlace =
    shared !== undefined &&
    imported?.shared === true &&
    imported.initial * PAGE <= KERNEL_RESERVE &&
    (imported.maximum === undefined || imported.maximum >= memoryPages(shared)) &&
    (job.inputs.length === 0 || input.buffer === shared.buffer);

  let memory: WebAssembly.Memory | undefined;
  let inPtr: number;
  let outPtr: number;
  let outRegion: Uint8Array | undefined;
  if (inPlace) {
    memory = shared;
    // The kernel can read the whole memory: nothing of earlier jobs may be left in it.
    io.scrub?.();
    outRegion = io.allocate(capacity);
    if (!outRegion) throw new ExecutorError('ARENA_FULL', `no room for a ${capacity}-byte output`, true);
    inPtr = job.inputs.length === 0 ? 0 : io.addressOf(input);
    outPtr = io.addressOf(outRegion);
  } else {
    if (imported && imported.initial > limit) {
      throw new ExecutorError(
        'MEMORY_LIMIT',
        `module needs ${imported.initial} initial pages, the limit is ${limit}`,
      );
    }
    if (imported?.shared && typeof SharedArrayBuffer !== 'function') {
      throw new ExecutorError(
        'UNSUPPORTED',
        'the kernel imports shared memory; this tab is not cross-origin isolated',
      );
    }
    if (imported) {
      const maximum = Math.min(limit, imported.maximum ?? limit);
      memory = new WebAssembly.Memory({ initial: imported.initial, maximum, shared: imported.shared });
    }
    inPtr = 0;
    outPtr = 0;
  }
  const instance = await instantiate(module, memory && imported ? { env: { memory } } : {});
  const exports = instance.exports as Record<string, unknown>;
  memory ??= exports['memory'] as WebAssembly.Memory | undefined;
  if (!(memory instanceof WebAssembly.Memory)) {
    throw new ExecutorError('EXECUTION_ERROR', 'a kernel must import env.memory or export memory', false);
  }
  const entry = exports[job.spec.entry || 'flock_kernel'];
  if (typeof entry !== 'function') {
    throw new ExecutorError('EXECUTION_ERROR', `the module exports no function "${job.spec.entry}"`, false);
  }
  if (!inPlace) {
    // The copy path: the input into the kernel's private memory, after its heap base.
    const heapBase = exports['__heap_base'];
    const base = heapBase instanceof WebAssembly.Global ? Number(heapBase.value) : memory.buffer.byteLength;
    inPtr = align16(base);
    outPtr = align16(inPtr + input.byteLength);
    const needed = Math.ceil((outPtr + capacity) / PAGE);
    const have = memoryPages(memory);
    if (needed > limit)
      throw new ExecutorError('MEMORY_LIMIT', `regions need ${needed} pages, the limit is ${limit}`, false);
    if (needed > have) memory.grow(needed - have);
    new Uint8Array(memory.buffer, inPtr, input.byteLength).set(input);
    countCopy('in:kernel-private-memory', input.byteLength);
  }
  const fuel = new FuelMeter(instance, job.spec.limits.fuel);
  let written: number;
  const kernelStarted = performance.now();
  try {
    written = Number(
      (entry as (a: number, b: number, c: number, d: number, e: number) => number)(
        inPtr,
        input.byteLength,
        outPtr,
        capacity,
        // The stop word lies in the shared memory: a kernel on its private memory gets none (-1).
        inPlace ? io.stopWordAddress : -1,
      ),
    );
  } catch (error) {
    if (fuel.exhausted()) {
      throw new ExecutorError(
        'FUEL_EXHAUSTED',
        `ran out of fuel: its budget of ${job.spec.limits.fuel} units is spent`,
      );
    }
    throw failure(job, memory, `trap: ${(error as Error).message ?? String(error)}`);
  } finally {
    // Whatever the kernel left in its data and stack is not the next task's to see.
    if (inPlace) new Uint8Array(memory.buffer, 0, KERNEL_RESERVE).fill(0);
  }
  const kernelMs = performance.now() - kernelStarted;
  if (written < 0) throw new ExecutorError('EXECUTION_ERROR', `kernel returned error ${written}`, false);
  if (written > capacity) {
    throw new ExecutorError(
      'OUTPUT_TOO_LARGE',
      `kernel wrote ${written} bytes into a ${capacity}-byte region`,
    );
  }
  if (!outRegion) {
    outRegion = io.allocate(written);
    if (!outRegion) throw new ExecutorError('ARENA_FULL', `no room for a ${written}-byte output`, true);
    outRegion.set(new Uint8Array(memory.buffer, outPtr, written));
    countCopy('out:kernel-private-memory', written);
  }
  const name = typeof job.spec.params['output_name'] === 'string' ? job.spec.params['output_name'] : 'out';
  const summary: Record<string, string> = { output_bytes: String(written), module_hash: hash };
  const used = fuel.used();
  if (used !== undefined) summary['fuel_used'] = String(used);
  return {
    ok: true,
    outputs: [{ name, contentType: 'application/octet-stream', bytes: outRegion.subarray(0, written) }],
    executor: inPlace ? 'wasm-kernel-arena' : 'wasm-kernel',
    summary,
    metrics: { memory_pages: String(memoryPages(memory)), kernel_ms: kernelMs.toFixed(3) },
  };
}

// The kernel ABI's zero-copy data path: a kernel that imports *shared* memory gets a
// WebAssembly.Memory whose buffer holds, after the module's own pages, a sab-bridge (rings +
// buddy arena). The main thread allocates the input and output blocks in that arena and writes
// the input there once; the executor Worker instantiates the kernel on the same memory and the
// kernel reads and writes the blocks in place; the main thread reads the output where it lies.
//
//   0 ............ initial pages of the module (its data, stack)   ← the kernel's own
//   initial·64Ki . sab-bridge header, rings, block table           ← packages/sab-bridge layout
//                  arena: [input block] [output block]              ← pointers passed to the kernel
import { type ArenaHandle, type Bridge, create, layoutFor } from '@flock/sab-bridge';
import { ExecutorError } from './executor-error.ts';
import type { WasmJob } from './job.ts';
import { inspectWasm } from './wasm-binary.ts';

const PAGE = 65_536;
const MIN_BLOCK = 256;

/** What the executor Worker needs to run a kernel in place (structured-cloneable: the memory is shared). */
export interface KernelArenaView {
  memory: WebAssembly.Memory;
  inAddress: number;
  inLength: number;
  outAddress: number;
  outCapacity: number;
}

/** The main thread's side of one in-place kernel job. */
export interface KernelArena {
  view: KernelArenaView;
  bridge: Bridge;
  output: ArenaHandle;
  /** Reads `written` output bytes from the arena (a copy that the result frame owns) and frees the blocks. */
  finish(written: number): Uint8Array;
}

const pow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(n, MIN_BLOCK)));

/** The output capacity of a kernel job: params.output_bytes, or the input length. */
export function kernelOutputCapacity(job: WasmJob): number {
  const requested = job.params['output_bytes'];
  const capacity = typeof requested === 'number' ? requested : (job.inputs[0]?.bytes.byteLength ?? 0);
  if (!Number.isInteger(capacity) || capacity < 0) {
    throw new ExecutorError('EXECUTION_ERROR', 'params.output_bytes must be a non-negative integer', false);
  }
  if (capacity > job.limits.maxOutputBytes) {
    throw new ExecutorError(
      'OUTPUT_TOO_LARGE',
      `output_bytes ${capacity} is over the limit ${job.limits.maxOutputBytes}`,
    );
  }
  return capacity;
}

let nextOwner = 1;

/**
 * Lays out the in-place arena of a kernel job, or returns undefined when the job takes the copy
 * path (a WASI job, a kernel with private memory, or a tab without SharedArrayBuffer).
 * Throws MEMORY_LIMIT when the module's pages plus the bridge pass the job's page limit.
 */
export function prepareKernelArena(job: WasmJob): KernelArena | undefined {
  if (job.kind !== 'wasm' || job.abi !== 'kernel' || typeof SharedArrayBuffer !== 'function')
    return undefined;
  const imported = inspectWasm(job.module).imports.find((i) => i.kind === 'memory')?.memory;
  if (!imported?.shared) return undefined;
  const input = job.inputs[0]?.bytes ?? new Uint8Array(0);
  const capacity = kernelOutputCapacity(job);
  const inBlock = pow2(input.byteLength);
  const outBlock = pow2(capacity);
  // Two power-of-two blocks always fit a power-of-two arena at least as large as their sum.
  const config = {
    inboxBytes: 64,
    outboxBytes: 64,
    arenaBytes: pow2(inBlock + outBlock),
    minBlockBytes: MIN_BLOCK,
  };
  const reserve = imported.initial * PAGE;
  const limit = Math.min(job.limits.memoryPages, imported.maximum ?? job.limits.memoryPages);
  const { totalBytes } = layoutFor(config);
  const pages = Math.ceil((reserve + totalBytes) / PAGE);
  if (pages > limit) {
    throw new ExecutorError(
      'MEMORY_LIMIT',
      `module and arena need ${pages} pages, the limit is ${limit}`,
      false,
    );
  }
  const memory = new WebAssembly.Memory({ initial: pages, maximum: limit, shared: true });
  const bridge = create(config, {
    buffer: memory.buffer as unknown as SharedArrayBuffer,
    byteOffset: reserve,
  });
  const owner = nextOwner++;
  if (nextOwner > 0x7fffffff) nextOwner = 1;
  const inHandle = bridge.arena.alloc(input.byteLength, owner);
  const outHandle = bridge.arena.alloc(capacity, owner);
  if (!inHandle || !outHandle) throw new ExecutorError('EXECUTION_ERROR', 'arena too small (bug)', false);
  // The one copy: from the frame's bytes into shared memory. From here on nothing is copied.
  bridge.arena.bytes(inHandle).set(input);
  return {
    view: {
      memory,
      inAddress: bridge.arena.address(inHandle),
      inLength: input.byteLength,
      outAddress: bridge.arena.address(outHandle),
      outCapacity: capacity,
    },
    bridge,
    output: outHandle,
    finish(written: number): Uint8Array {
      bridge.verifyGuards();
      const bytes = bridge.arena.bytes(outHandle).slice(0, written);
      bridge.arena.free(inHandle);
      bridge.arena.free(outHandle);
      bridge.close();
      return bytes;
    },
  };
}

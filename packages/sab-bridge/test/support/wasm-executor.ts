// An executor thread for wasm.test.ts: runs the kernel-ABI module on the bridge's own memory and
// answers each job record with a result or failure record. Only record headers cross the rings.
import { parentPort, workerData } from 'node:worker_threads';
import {
  assertBelowBridge,
  attach,
  BridgeError,
  handleOf,
  popRecord,
  pushRecord,
  sliceOf,
} from '../../src/index.ts';

interface Kernels {
  scale_f32(p: number, n: number, k: number): void;
  sum_f32(p: number, n: number): number;
  add_f32(a: number, b: number, out: number, n: number): void;
  __heap_base: WebAssembly.Global;
}

const { memory, kernels, byteOffset } = workerData as {
  memory: WebAssembly.Memory;
  kernels: WebAssembly.Module;
  byteOffset: number;
};
const bridge = attach(memory.buffer as SharedArrayBuffer, byteOffset);
const k = new WebAssembly.Instance(kernels, { env: { memory } }).exports as unknown as Kernels;
assertBelowBridge(bridge, k.__heap_base.value as number);
parentPort!.postMessage('ready');

for (;;) {
  const waited = bridge.inbox.waitForData(1000);
  if (waited === 'closed') break;
  const rec = popRecord(bridge.inbox);
  if (!rec) continue;
  const jobId = rec.job_id ?? 0;
  try {
    const [a, b] = (rec.slices ?? []).map(handleOf);
    const params = JSON.parse(rec.params ?? '{}') as { op: string; k?: number };
    if (params.op === 'scale-sum') {
      const n = a!.length / 4;
      k.scale_f32(bridge.arena.address(a!), n, params.k ?? 1);
      const sum = k.sum_f32(bridge.arena.address(a!), n);
      pushRecord(bridge.outbox, {
        kind: 'result',
        job_id: jobId,
        slices: [sliceOf('x', a!)],
        params: JSON.stringify({ sum }),
      });
    } else {
      // add: the executor allocates the output itself, in the same arena, for the same owner.
      const out = bridge.arena.alloc(a!.length, jobId);
      if (!out) throw new Error('arena full');
      k.add_f32(bridge.arena.address(a!), bridge.arena.address(b!), bridge.arena.address(out), a!.length / 4);
      pushRecord(bridge.outbox, { kind: 'result', job_id: jobId, slices: [sliceOf('out', out)] });
    }
  } catch (e) {
    const code = e instanceof BridgeError ? e.code : 'KERNEL_FAILED';
    pushRecord(bridge.outbox, {
      kind: 'failure',
      job_id: jobId,
      code,
      message: (e as Error).message,
      retryable: false,
    });
  }
}
